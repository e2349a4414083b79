// Versioned schema migrations: nagare_schema_version holds one row per
// applied migration; each pending migration runs in its own transaction, so a
// crash mid-migration leaves the previous version intact.
import type { DuckDBConnection } from "@duckdb/node-api";
import { FLOW_COLUMNS } from "../schema.js";
import { MIGRATIONS, RAW_TABLE, SQL_TYPE, STAGE_TABLE, VERSION_TABLE } from "./schema.js";

export async function schemaVersion(conn: DuckDBConnection): Promise<number> {
  const r = await conn.runAndReadAll(`SELECT coalesce(max(version), 0) FROM ${VERSION_TABLE}`);
  return Number(r.getRowsJS()[0]?.[0] ?? 0);
}

/** Bring the database to the latest version (or to `upTo`, for tests); returns the versions applied. */
export async function migrate(conn: DuckDBConnection, upTo = Infinity): Promise<number[]> {
  await conn.run(
    `CREATE TABLE IF NOT EXISTS ${VERSION_TABLE} (version INTEGER PRIMARY KEY, description VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL DEFAULT current_timestamp)`,
  );
  const current = await schemaVersion(conn);
  const applied: number[] = [];
  for (const m of MIGRATIONS) {
    if (m.version <= current || m.version > upTo) continue;
    await conn.run("BEGIN TRANSACTION");
    try {
      const statements = typeof m.statements === "function" ? await m.statements(conn) : m.statements;
      for (const s of statements) await conn.run(s);
      await conn.run(`INSERT INTO ${VERSION_TABLE} (version, description) VALUES (${m.version}, $1)`, [
        m.description,
      ]);
      await conn.run("COMMIT");
    } catch (err) {
      await conn.run("ROLLBACK").catch(() => {});
      throw err;
    }
    applied.push(m.version);
  }
  // Write the new schema into the database file now, not only into the WAL:
  // DuckDB 1.5.6 cannot replay migration 2's ALTER … USING <function> from a
  // WAL ("Failure while replaying WAL file: … GetDefaultDatabase with no
  // default database set"), so a crash (kill -9, power loss) before the first
  // automatic checkpoint would leave a store that never opens again
  // (test/restart.test.ts, kill -9 case).
  if (applied.length) await conn.run("CHECKPOINT");
  return applied;
}

/**
 * A column added to src/schema.ts after a database was created is added to
 * flows_raw and flows_stage here (at the end; rows written before read it as
 * NULL), so adding a schema column needs no hand-written migration. Returns
 * the "table.column" names added.
 */
export async function addMissingColumns(conn: DuckDBConnection): Promise<string[]> {
  const added: string[] = [];
  for (const table of [RAW_TABLE, STAGE_TABLE]) {
    const have = new Set(
      (await conn.runAndReadAll("SELECT column_name FROM duckdb_columns() WHERE table_name = $1", [table]))
        .getRowsJS()
        .map((r) => String(r[0])),
    );
    for (const c of FLOW_COLUMNS) {
      if (have.has(c.name)) continue;
      await conn.run(`ALTER TABLE ${table} ADD COLUMN ${c.name} ${SQL_TYPE[c.kind]}`);
      added.push(`${table}.${c.name}`);
    }
  }
  return added;
}
