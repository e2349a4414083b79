// Store tables, derived from the flow schema (src/schema.ts) — no column is
// listed by hand here except the rollup dimensions, which are a choice.
import type { DuckDBConnection } from "@duckdb/node-api";
import { FLOW_COLUMNS, type ColumnKind } from "../schema.js";
import {
  RES_MS,
  ROLLUP_SETS,
  ROLLUP_STATE_DDL,
  ROLLUP_STATE_TABLE,
  ROLLUP_TABLES,
  SCALE_SQL,
  aggregateFlowsSql,
  reaggregateSql,
  rollupTable,
  rollupTableDdl,
  TOPK_TABLES,
  topKRefreshSql,
  topKTablesDdl,
  type RollupRes,
} from "./rollups.js";

export { SCALE_SQL };

/** DuckDB type of each schema kind. */
export const SQL_TYPE: Record<ColumnKind, string> = {
  time: "TIMESTAMP_MS",
  u8: "UTINYINT",
  u16: "USMALLINT",
  u32: "UINTEGER",
  u64: "UBIGINT",
  // The 16 address bytes (IPv4-mapped) as one unsigned 128-bit integer, most
  // significant byte first: numeric order is the bytewise order, so a net is
  // still `col BETWEEN lo AND hi`. Versus a 16-byte BLOB: ~2.6 B/row stored
  // instead of ~6.8, GROUP BY twice as fast, and a vector is filled by one
  // byte-reversing copy (DuckDB's uhugeint is {u64 lower; u64 upper} little
  // endian = the big-endian bytes reversed) instead of a native call per value.
  ip: "UHUGEINT",
  mac: "UBIGINT",
  string: "VARCHAR",
};

export const RAW_TABLE = "flows_raw";
/** flows_raw's column holding the sequence number of the stage a row was copied from (0: rows written otherwise; src/store/live.ts). */
export const RAW_SEQ_COLUMN = "seq";

/**
 * A point in time (epoch ms: a number, or SQL such as "?" or "$from") as a
 * value comparable with flows_raw.time_received (TIMESTAMP_MS). Comparing
 * the column with a plain TIMESTAMP (epoch_ms(x)) makes DuckDB cast the
 * COLUMN, which disables zone-map pruning: one hour of a 100 M-flow month was
 * a full scan (1.4 s) instead of 3 ms.
 */
export function rawTimeSql(ms: number | string): string {
  return `epoch_ms(${ms}::BIGINT)::TIMESTAMP_MS`;
}
/** Committed micro-batches land here first; one transaction moves them to flows_raw and the rollups. */
export const STAGE_TABLE = "flows_stage";
export const VERSION_TABLE = "nagare_schema_version";

/** Dimensions of the wide rollups of versions 1–2 (migrations 1–2 and 3 only; frozen). */
export const ROLLUP_DIMS = [
  "exporter_address",
  "in_if",
  "out_if",
  "src_as",
  "dst_as",
  "protocol",
  "ip_version",
] as const;

/**
 * Ports in the rollups: < 1024 (well-known) kept; 1024–49151 (IANA
 * registered) → 1024; ≥ 49152 (dynamic/ephemeral) → 49152. Same idea as
 * Kentik's port buckets: service ports stay exact, client ports collapse.
 */
export const PORT_REGISTERED = 1024;
export const PORT_EPHEMERAL = 49152;
export function portBucket(port: number): number {
  return port < 1024 ? port : port < 49152 ? PORT_REGISTERED : PORT_EPHEMERAL;
}
export function portBucketSql(col: string): string {
  return `(CASE WHEN ${col} < 1024 THEN ${col} WHEN ${col} < 49152 THEN ${PORT_REGISTERED} ELSE ${PORT_EPHEMERAL} END)::USMALLINT`;
}

/** The wide rollups of versions 1–2 (replaced by src/store/rollups.ts in migration 3; frozen). */
export interface Rollup {
  table: string;
  /** DuckDB interval literal of the bucket width. */
  interval: string;
}
export const ROLLUPS: readonly Rollup[] = [
  { table: "flows_1m", interval: "1 minute" },
  { table: "flows_1h", interval: "1 hour" },
];

/** The types migration 1 created (ip was a 16-byte BLOB until migration 2). Frozen: never edit. */
const SQL_TYPE_V1: Record<ColumnKind, string> = { ...SQL_TYPE, ip: "BLOB" };

/**
 * A 16-byte BLOB address as UHUGEINT (migration 2). DuckDB 1.5 casts a
 * '0x…' string to UBIGINT but not to UHUGEINT, so the two 8-byte halves are
 * cast separately and joined.
 */
export function blobToIpSql(col: string): string {
  const half = (from: number): string => `('0x' || substr(hex(${col}), ${from}, 16))::UBIGINT::UHUGEINT`;
  return `((${half(1)} << 64) | ${half(17)})`;
}

const kindOf = new Map<string, ColumnKind>(FLOW_COLUMNS.map((c) => [c.name, c.kind]));
function typeOf(name: string, types: Record<ColumnKind, string>): string {
  const k = kindOf.get(name);
  if (!k) throw new Error(`rollup dimension ${name} is not a schema column`);
  return types[k];
}

/**
 * Columns of flows_raw / flows_stage, in schema order. Every column is NOT
 * NULL but, with `nullableStrings` (today's tables, migration 5), the string
 * columns: the writer stores "" as NULL there (src/store/writer.ts,
 * ChunkAppender.validity) and readers coalesce.
 */
export function flowColumnsDdl(
  types: Record<ColumnKind, string> = SQL_TYPE,
  opts: { nullableStrings?: boolean } = {},
): string {
  return FLOW_COLUMNS.map(
    (c) => `  ${c.name} ${types[c.kind]}${opts.nullableStrings && c.kind === "string" ? "" : " NOT NULL"}`,
  ).join(",\n");
}

export const ROLLUP_KEY = ["bucket", ...ROLLUP_DIMS, "src_port", "dst_port"] as const;
export const ROLLUP_SUMS = [
  "bytes",
  "packets",
  "flows",
  "bytes_scaled",
  "packets_scaled",
  "flows_scaled",
] as const;

/**
 * Pinned compression of a rollup column. exporter_address is a UHUGEINT with
 * a handful of values: DuckDB 1.5.6 picks BitPacking for it, and grouping
 * by a bit-packed UHUGEINT is ~60× slower than by an RLE one (8.7 M rows:
 * 3.3 s against 53 ms, same data; it was the whole 3.5 s of the month
 * benchmark's exporter/interface TopN — BENCHMARKS.md §6). RLE costs a few
 * more bytes per row when the rows are not in exporter order.
 */
function compressionOf(dim: string, types: Record<ColumnKind, string>): string {
  return dim === "exporter_address" && types === SQL_TYPE ? " USING COMPRESSION rle" : "";
}

export function rollupDdl(table: string, types: Record<ColumnKind, string> = SQL_TYPE): string {
  const cols = [
    "  bucket TIMESTAMP NOT NULL",
    ...ROLLUP_DIMS.map((d) => `  ${d} ${typeOf(d, types)} NOT NULL${compressionOf(d, types)}`),
    "  src_port USMALLINT NOT NULL",
    "  dst_port USMALLINT NOT NULL",
    // HUGEINT: a sum of UBIGINT counters over an hour of a busy exporter can pass 2^64 once scaled.
    ...ROLLUP_SUMS.map((s) => `  ${s} HUGEINT NOT NULL`),
  ];
  return `CREATE TABLE ${table} (\n${cols.join(",\n")},\n  PRIMARY KEY (${ROLLUP_KEY.join(", ")})\n)`;
}

/** A staging table (by default flows_stage) aggregated to `r`'s rows, in the rollup table's column order. */
export function rollupSelectSql(r: Rollup, from: string = STAGE_TABLE): string {
  const dims = ROLLUP_DIMS.join(", ");
  return `SELECT time_bucket(INTERVAL '${r.interval}', time_received::TIMESTAMP) AS bucket, ${dims},
  ${portBucketSql("src_port")} AS src_port, ${portBucketSql("dst_port")} AS dst_port,
  sum(bytes)::HUGEINT AS bytes, sum(packets)::HUGEINT AS packets, sum(flows)::HUGEINT AS flows,
  sum(bytes::HUGEINT * ${SCALE_SQL}) AS bytes_scaled, sum(packets::HUGEINT * ${SCALE_SQL}) AS packets_scaled,
  sum(flows::HUGEINT * ${SCALE_SQL}) AS flows_scaled
FROM ${from}
GROUP BY ALL`;
}

function onConflict(r: Rollup): string {
  return `ON CONFLICT DO UPDATE SET ${ROLLUP_SUMS.map((s) => `${s} = ${r.table}.${s} + EXCLUDED.${s}`).join(", ")}`;
}

/** Aggregate a staging table (by default flows_stage) into `r` and merge (the incremental step). */
export function rollupMergeSql(r: Rollup, from: string = STAGE_TABLE): string {
  return `INSERT INTO ${r.table}\n${rollupSelectSql(r, from)}\n${onConflict(r)}`;
}

/**
 * Merge into `r` an aggregate `agg` that is already at a finer rollup's
 * granularity (rollupSelectSql of a rollup whose interval divides r's):
 * sums of sums, port buckets unchanged (bucketing is idempotent). The stage
 * is scanned and grouped once per flush, not once per rollup.
 */
export function rollupReaggregateSql(r: Rollup, agg: string): string {
  const sums = ROLLUP_SUMS.map((s) => `sum(${s})::HUGEINT AS ${s}`).join(", ");
  return `INSERT INTO ${r.table}
SELECT time_bucket(INTERVAL '${r.interval}', bucket) AS bucket, ${ROLLUP_DIMS.join(", ")}, src_port, dst_port, ${sums}
FROM ${agg}
GROUP BY ALL
${onConflict(r)}`;
}

export interface Migration {
  version: number;
  description: string;
  /** SQL run in the migration's transaction; a function when it depends on what the database holds. */
  statements: readonly string[] | ((conn: DuckDBConnection) => Promise<readonly string[]>);
}

/** Tables whose ip columns migration 2 converts (the rollups by copy: their primary key forbids ALTER TYPE). */
const V2_ALTER_TABLES = [RAW_TABLE, STAGE_TABLE];

/**
 * Migration 2: every ip column still stored as BLOB becomes UHUGEINT, values
 * converted in place. flows_raw and flows_stage take ALTER COLUMN … USING
 * (NOT NULL kept); DuckDB refuses to change the type of a primary-key column,
 * so each rollup is renamed, recreated with the current DDL and refilled.
 * Which columns are BLOB is read from the catalog (columns added after
 * version 1 by addMissingColumns already had the type of their day).
 */
async function ipToUhugeint(conn: DuckDBConnection): Promise<string[]> {
  const ipCols = new Set<string>(FLOW_COLUMNS.filter((c) => c.kind === "ip").map((c) => c.name));
  const rows = (
    await conn.runAndReadAll(
      "SELECT table_name, column_name, data_type FROM duckdb_columns() WHERE database_name = current_database() AND schema_name = 'main' ORDER BY table_name, column_index",
    )
  ).getRowsJS() as [string, string, string][];
  const out: string[] = [];
  for (const t of V2_ALTER_TABLES) {
    for (const [table, col, type] of rows) {
      if (table === t && type === "BLOB" && ipCols.has(col))
        out.push(`ALTER TABLE ${t} ALTER COLUMN ${col} SET DATA TYPE UHUGEINT USING ${blobToIpSql(col)}`);
    }
  }
  for (const r of ROLLUPS) {
    const cols = rows.filter(([table]) => table === r.table);
    if (!cols.some(([, col, type]) => type === "BLOB" && ipCols.has(col))) continue;
    const old = `${r.table}_v1`;
    const select = cols.map(([, col, type]) => (type === "BLOB" && ipCols.has(col) ? blobToIpSql(col) : col));
    out.push(
      `ALTER TABLE ${r.table} RENAME TO ${old}`,
      rollupDdl(r.table),
      `INSERT INTO ${r.table} (${cols.map(([, col]) => col).join(", ")}) SELECT ${select.join(", ")} FROM ${old}`,
      `DROP TABLE ${old}`,
    );
  }
  return out;
}

/** Versioned migrations; each runs once, in one transaction, in order. Never edit a released one: add the next. */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: "flows_raw, flows_stage, flows_1m, flows_1h",
    statements: [
      `CREATE TABLE ${RAW_TABLE} (\n${flowColumnsDdl(SQL_TYPE_V1)}\n)`,
      `CREATE TABLE ${STAGE_TABLE} (\n${flowColumnsDdl(SQL_TYPE_V1)}\n)`,
      ...ROLLUPS.map((r) => rollupDdl(r.table, SQL_TYPE_V1)),
    ],
  },
  {
    version: 2,
    description: "ip columns BLOB → UHUGEINT",
    statements: ipToUhugeint,
  },
  {
    version: 3,
    description: "narrow append-only rollups (src/store/rollups.ts) replace the wide flows_1m / flows_1h",
    statements: narrowRollups,
  },
  {
    version: 4,
    description:
      "flows_1s (per-second totals); top-K lists and bounds per closed day of dst_addr_1d (exact TopN by address without a full scan)",
    statements: migration4,
  },
  {
    version: 5,
    description: 'string columns of flows_raw / flows_stage nullable: "" is stored as NULL (ingest cost)',
    statements: migration5,
  },
  {
    version: 6,
    description:
      "flows_raw.seq: the stage a row was copied from, so readers can take a committing stage's rows from memory (src/store/live.ts)",
    statements: [
      `ALTER TABLE ${RAW_TABLE} ADD COLUMN IF NOT EXISTS ${RAW_SEQ_COLUMN} BIGINT DEFAULT 0`,
      `ALTER TABLE ${RAW_TABLE} ALTER COLUMN ${RAW_SEQ_COLUMN} SET NOT NULL`,
    ],
  },
];

/**
 * Migration 5: the string columns of flows_raw and flows_stage lose NOT
 * NULL. An empty VARCHAR costs DuckDB string statistics on every append
 * and copy, a NULL almost nothing (src/store/writer.ts, ChunkAppender),
 * which matters once ~30 mostly-empty enrichment columns exist. Rows
 * already stored keep their ""; readers treat NULL and "" alike.
 */
async function migration5(conn: DuckDBConnection): Promise<string[]> {
  const strings = new Set<string>(FLOW_COLUMNS.filter((c) => c.kind === "string").map((c) => c.name));
  const rows = (
    await conn.runAndReadAll(
      `SELECT table_name, column_name FROM duckdb_columns() WHERE database_name = current_database() AND schema_name = 'main' AND NOT is_nullable AND table_name IN ('${RAW_TABLE}', '${STAGE_TABLE}')`,
    )
  ).getRowsJS() as [string, string][];
  return rows
    .filter(([, col]) => strings.has(col))
    .map(([table, col]) => `ALTER TABLE ${table} ALTER COLUMN ${col} DROP NOT NULL`);
}

/**
 * Migration 4:
 * - flows_1s (the "second" set of src/store/rollups.ts): per-second totals,
 *   filled from flows_raw up to its newest second and its watermark set
 *   there (the writer rebuilds the rest into pending at start, as after any
 *   restart). Skipped when migration 3 (which creates every current rollup
 *   table) already made it.
 * - the <set>_top_<res> / <set>_bound_<res> tables (TOPK_TABLES), filled
 *   for every bucket the source table already holds (all closed: rollup
 *   tables only get closed buckets). On a 100 M-flow month (30 days of
 *   dst_addr_1d, 27 M rows) this is one window pass over the table, seconds.
 */
async function migration4(conn: DuckDBConnection): Promise<string[]> {
  const out: string[] = [];
  const exists = async (t: string): Promise<boolean> =>
    (
      await conn.runAndReadAll(
        `SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = 'main' AND table_name = '${t}'`,
      )
    ).getRowsJS()[0]?.[0] !== 0n;
  for (const t of ROLLUP_TABLES.filter((x) => x.res === "1s")) {
    if (await exists(t.table)) continue;
    out.push(rollupTableDdl(t));
    const max = (
      await conn.runAndReadAll(`SELECT epoch_ms(max(time_received)) FROM ${RAW_TABLE}`)
    ).getRowsJS()[0]?.[0];
    if (max === null || max === undefined) continue;
    const w = Math.floor(Number(max) / t.bucketMs) * t.bucketMs;
    out.push(
      `INSERT INTO ${t.table} ${aggregateFlowsSql(t.set, RAW_TABLE, `time_received < ${rawTimeSql(w)}`)}\nORDER BY ALL`,
      `INSERT OR REPLACE INTO ${ROLLUP_STATE_TABLE} VALUES ('${t.table}', epoch_ms(${w}::BIGINT))`,
    );
  }
  for (const t of TOPK_TABLES) {
    out.push(...topKTablesDdl(t), ...topKRefreshSql(t, `SELECT DISTINCT bucket FROM ${t.source}`));
  }
  return out;
}

/**
 * Migration 3: the wide flows_1m / flows_1h (primary key, merged per flush)
 * become the narrow append-only sets of src/store/rollups.ts. With T the
 * newest receive time the store holds, every table is filled with its
 * buckets before W = T floored to its resolution and its watermark set to W;
 * what is newer is rebuilt from flows_raw into the writer's pending tables
 * at start, like after any restart.
 * - flows_1m / flows_1h (traffic) and dst_as / src_as at 1 h come from the
 *   old rollups (sums of their sampling-corrected *_scaled columns), so
 *   their history is kept as far back as it went;
 * - dst_port / src_port / dst_addr come from flows_raw (the old rollups held
 *   port buckets only, no addresses): their history starts at the oldest raw
 *   row still kept;
 * - the 1-day tables are summed from the 1-hour ones.
 */
async function narrowRollups(conn: DuckDBConnection): Promise<string[]> {
  const one = async (sql: string): Promise<number | null> => {
    const v = (await conn.runAndReadAll(sql)).getRowsJS()[0]?.[0];
    return v === null || v === undefined ? null : Number(v);
  };
  const rawMax = await one(`SELECT epoch_ms(max(time_received)) FROM ${RAW_TABLE}`);
  const oldMax = await one(`SELECT epoch_ms(max(bucket)) + 60000 FROM flows_1m`);
  const t = Math.max(rawMax ?? -Infinity, oldMax ?? -Infinity);
  const out: string[] = [
    `ALTER TABLE flows_1m RENAME TO flows_1m_v2`,
    `ALTER TABLE flows_1h RENAME TO flows_1h_v2`,
  ];
  out.push(...ROLLUP_TABLES.map(rollupTableDdl), ROLLUP_STATE_DDL);
  if (Number.isFinite(t)) {
    const w = (r: RollupRes): number => Math.floor(t / RES_MS[r]) * RES_MS[r];
    const scaled = "sum(bytes_scaled)::UBIGINT, sum(packets_scaled)::UBIGINT, sum(flows_scaled)::UBIGINT";
    for (const set of ROLLUP_SETS) {
      for (const res of set.res) {
        const table = rollupTable(set, res);
        const dims = set.dims.join(", ");
        let fill: string;
        const fromOld = res === "1m" ? "flows_1m_v2" : res === "1h" ? "flows_1h_v2" : null;
        const oldHas = set.name === "traffic" || set.name === "dst_as" || set.name === "src_as";
        if (fromOld && oldHas) {
          fill = `SELECT bucket, ${dims}, ${scaled} FROM ${fromOld} WHERE bucket < epoch_ms(${w(res)}::BIGINT) GROUP BY ALL ORDER BY ALL`;
        } else if (res === set.res[0]) {
          fill = `${aggregateFlowsSql(set, RAW_TABLE, `time_received < ${rawTimeSql(w(res))}`)}\nORDER BY ALL`;
        } else {
          const finer = rollupTable(set, set.res[set.res.indexOf(res) - 1]!);
          fill = reaggregateSql(set, res, finer, null, w(res));
        }
        out.push(
          `INSERT INTO ${table} ${fill}`,
          `INSERT INTO ${ROLLUP_STATE_TABLE} VALUES ('${table}', epoch_ms(${w(res)}::BIGINT))`,
        );
      }
    }
  }
  out.push(`DROP TABLE flows_1m_v2`, `DROP TABLE flows_1h_v2`);
  return out;
}
