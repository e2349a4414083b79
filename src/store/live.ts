// Visibility before durability (issue 4: a flow visible to SQL within a
// second of its receipt, at 100 k flows/s).
//
// Why: a row became visible at the COMMIT that copied its stage into
// flows_raw, and DuckDB runs its automatic checkpoint inside a COMMIT once
// the WAL passes checkpoint_threshold — at 100 k flows/s every one or two
// commits. Such a COMMIT takes 150–1100 ms and blocks every other write to
// the file meanwhile, so rows queued behind it: p99 3.3–5.1 s from receipt
// to visibility (BENCHMARKS.md §6 "Freshness").
//
// What: readers do not read flows_raw; they read the view flows_live (in the
// store's in-memory database, which the writer's stages live in):
//
//   flows_live = flows_raw WHERE seq NOT BETWEEN <the stages in flows_hot>
//                UNION ALL
//                flows_hot
//
// flows_hot is a view over the writer's in-memory stages: the current one
// (from the moment it becomes current; each publish step, every half
// interval, flushes its appender into its table, which makes the rows
// visible) and those waiting for their durable copy, each stage's rows
// tagged with the stage's sequence number. The durable copy into flows_raw
// follows on its own connection and tags each row with the same number
// (flows_raw.seq). The writer redefines flows_hot and flows_live together,
// in one transaction of the in-memory database, with the numbers as
// literals (defineHot): a stage is read from memory exactly while it is in
// flows_hot, and from flows_raw only after it left. Redefining them is an
// in-memory catalog change, which no checkpoint of the file delays.
//
// Commit window. DuckDB 1.5.6 does not make a COMMIT visible at once: an
// INSERT … SELECT of more than a row group (122 880 rows) writes its row
// groups straight to the file, and a reader that starts while the COMMIT
// runs reads those row groups half-published — before the rest of the
// transaction, and with statistics that do not cover their rows. The first
// version decided "stage or flows_raw" by a mark in the file
// (nagare_hot_mark, the newest stage copied) updated in the same
// transaction, and a stage was counted twice (up to 1.5 M rows too many at
// 100 k flows/s; reproduced with two plain tables and no Nagare code). The
// stage numbers as a range on flows_raw.seq fixed the double count while
// readers rarely met the window, but a loaded machine showed the range
// skipped by those row groups' statistics (a stage counted twice again) and
// a GROUP BY failing on them ("Perfect hash aggregate … statistics …
// corrupt"). So the copy is made of statements under a row group each
// (src/store/layout.ts): its rows go through the transaction's local
// storage and the COMMIT publishes them atomically, through the WAL (at
// 100 k flows/s: p99 visible 412–621 ms, 14.8–19.1 µs per flow; BENCHMARKS.md
// §6 "Freshness"). The range stays: whatever a reader's file snapshot
// shows of a committing stage, its rows are read from flows_hot only, and
// it costs nothing (older row groups' seq statistics rule it out). The
// mark remains to continue the numbering after a restart.
//
// Two databases, two snapshots: a statement's transaction in the in-memory
// database and its transaction in the file start when it first touches
// each, both while the statement is bound (microseconds apart). A stage
// leaves flows_hot only RETIRE_AFTER_MS after the COMMIT that made it
// durable, and its rows are deleted only after that: a reader whose
// in-memory snapshot no longer lists the stage started its file snapshot,
// too, long after the COMMIT, and finds the rows in flows_raw.
//
// Durability is not changed by this: a row is safe from kill -9 from its
// file COMMIT, as before (docs/store.md "Durability"); it is only *visible*
// earlier.
import type { DuckDBConnection } from "@duckdb/node-api";
import { FLOW_COLUMNS } from "../schema.js";
import { RAW_SEQ_COLUMN, RAW_TABLE, SQL_TYPE } from "./schema.js";

/** The in-memory database of the store's instance: the writer's stages, the rollups' pending tables, the views below. */
export const LIVE_DB = "nagare_stage";
/** What every reader reads instead of flows_raw (the planner's flows table, the `flows` view of user SQL). */
export const LIVE_VIEW = `${LIVE_DB}.main.flows_live`;
/** The published stages' rows, each with its stage's `seq`. */
export const HOT_VIEW = `${LIVE_DB}.main.flows_hot`;
/** An empty table of flows_raw's columns and types: flows_hot's first branch, so the view's types never depend on a stage. */
export const HOT_NONE = `${LIVE_DB}.main.hot_none`;
/** In the store's file: the newest stage sequence number copied into flows_raw (written in the same transaction); the writer continues from it after a restart. */
export const HOT_MARK_TABLE = "nagare_hot_mark";
/** How long a durable stage stays in flows_hot after its COMMIT (see the header). */
export const RETIRE_AFTER_MS = 1000;

/** flows_raw's columns in schema order: the column list of both branches of flows_live. */
export const LIVE_COLUMNS = FLOW_COLUMNS.map((c) => c.name).join(", ");

function quoteIdent(s: string): string {
  return `"${s.replace(/"/g, '""')}"`;
}

/**
 * flows_live over the file `db` (its catalog name) while a writer runs.
 * `hotSeqs`: the stages in flows_hot; their rows are read there only, never
 * from flows_raw (see the header, "Commit window").
 */
function liveViewSql(db: string, hotSeqs: readonly number[]): string {
  const keep = hotRawFilter(hotSeqs);
  return `CREATE OR REPLACE VIEW ${LIVE_VIEW} AS
SELECT ${LIVE_COLUMNS} FROM ${quoteIdent(db)}.main.${RAW_TABLE}${keep ? ` WHERE ${keep}` : ""}
UNION ALL
SELECT ${LIVE_COLUMNS} FROM ${HOT_VIEW}`;
}

/**
 * The condition on flows_raw that leaves out the stages `seqs` ("" for
 * none): a range, `seq < lo OR seq > hi`, with the numbers between that
 * are not listed (a stage whose flows_hot definition failed) let back in.
 * A range, not `NOT IN (…)`: DuckDB skips a range filter on every row group
 * whose seq statistics lie outside it (measured on the 100 M-flow store: a
 * `count(*)` 0.9 ms either way; with `NOT IN` of four numbers, 149 ms).
 */
export function hotRawFilter(seqs: readonly number[]): string {
  if (seqs.length === 0) return "";
  const set = new Set(seqs.map((s) => Math.trunc(s)));
  const lo = Math.min(...set);
  const hi = Math.max(...set);
  const gaps: number[] = [];
  for (let s = lo + 1; s < hi; s++) if (!set.has(s)) gaps.push(s);
  const c = RAW_SEQ_COLUMN;
  return `(${c} < ${lo} OR ${c} > ${hi}${gaps.length ? ` OR ${c} IN (${gaps.join(", ")})` : ""})`;
}

/**
 * flows_hot over `stages` and flows_live with their numbers, in one
 * transaction of the in-memory database: a reader binds both definitions
 * from one snapshot, so a stage is read from flows_hot exactly when
 * flows_live keeps its rows out of flows_raw.
 */
export async function defineHot(
  conn: DuckDBConnection,
  db: string,
  stages: readonly HotStage[],
): Promise<void> {
  await conn.run("BEGIN TRANSACTION");
  try {
    await conn.run(hotViewSql(stages));
    await conn.run(
      liveViewSql(
        db,
        stages.map((s) => s.seq),
      ),
    );
    await conn.run("COMMIT");
  } catch (err) {
    await conn.run("ROLLBACK").catch(() => {});
    throw err;
  }
}

/** hot_none's DDL: every column of flows_raw (strings nullable, as stored) and seq. */
export function hotNoneSql(): string {
  const cols = FLOW_COLUMNS.map((c) => `  ${c.name} ${SQL_TYPE[c.kind]}`);
  return `CREATE OR REPLACE TABLE ${HOT_NONE} (\n${cols.join(",\n")},\n  seq BIGINT\n)`;
}

/** A published stage as a branch of flows_hot. */
export interface HotStage {
  /** The stage table, fully qualified. */
  table: string;
  /** Its select list in LIVE_COLUMNS order (absent columns as typed constants). */
  select: string;
  seq: number;
}

/** flows_hot over the published stages (none: hot_none alone, empty). */
export function hotViewSql(stages: readonly HotStage[]): string {
  const parts = [
    `SELECT ${LIVE_COLUMNS}, seq FROM ${HOT_NONE}`,
    ...stages.map((s) => `SELECT ${s.select}, ${Math.trunc(s.seq)}::BIGINT AS seq FROM ${s.table}`),
  ];
  return `CREATE OR REPLACE VIEW ${HOT_VIEW} AS\n${parts.join("\nUNION ALL\n")}`;
}

/**
 * The select list of a stage holding the columns `active` (indexes into
 * FLOW_COLUMNS): absent columns become constants of flows_raw's type (NULL
 * for strings, which store "" as NULL; 0 for numbers, which are NOT NULL), so
 * every branch of flows_hot has exactly hot_none's types.
 */
export function hotSelect(active: readonly boolean[]): string {
  return FLOW_COLUMNS.map((c, i) =>
    active[i] ? c.name : `CAST(${c.kind === "string" ? "NULL" : "0"} AS ${SQL_TYPE[c.kind]}) AS ${c.name}`,
  ).join(", ");
}

/**
 * Make sure flows_live exists on the instance of `conn` (the planner and the
 * SQL service read it): with a StoreWriter it already does (start() defines
 * it over the stages); a store opened without one (a benchmark reusing a
 * file, a test) gets flows_live over flows_raw alone. Call it before the
 * SQL service locks the instance (the in-memory ATTACH).
 */
export async function ensureLiveView(conn: DuckDBConnection): Promise<void> {
  const attached = (
    await conn.runAndReadAll(`SELECT count(*) FROM duckdb_databases() WHERE database_name = '${LIVE_DB}'`)
  ).getRowsJS()[0]?.[0];
  if (Number(attached) === 0) await conn.run(`ATTACH IF NOT EXISTS ':memory:' AS ${LIVE_DB}`);
  const views = (
    await conn.runAndReadAll(
      `SELECT count(*) FROM duckdb_views() WHERE database_name = '${LIVE_DB}' AND view_name = 'flows_live'`,
    )
  ).getRowsJS()[0]?.[0];
  if (Number(views) > 0) return;
  const db = (await conn.runAndReadAll("SELECT current_database()")).getRowsJS()[0]![0] as string;
  const seq = (
    await conn.runAndReadAll(
      `SELECT count(*) FROM duckdb_columns() WHERE database_name = current_database() AND table_name = '${RAW_TABLE}' AND column_name = '${RAW_SEQ_COLUMN}'`,
    )
  ).getRowsJS()[0]?.[0];
  // flows_raw as it is: a file of an older version may lack columns added since (a writer adds them at
  // start: src/store/migrate.ts addMissingColumns), and one from before migration 6 has no seq.
  const except = Number(seq) > 0 ? ` EXCLUDE (${RAW_SEQ_COLUMN})` : "";
  await conn.run(
    `CREATE VIEW IF NOT EXISTS ${LIVE_VIEW} AS SELECT *${except} FROM ${quoteIdent(db)}.main.${RAW_TABLE}`,
  );
}
