// Store tables, derived from the flow schema (src/schema.ts) — no column is
// listed by hand here except the rollup dimensions, which are a choice.
import { FLOW_COLUMNS, type ColumnKind } from "../schema.js";

/** DuckDB type of each schema kind. */
export const SQL_TYPE: Record<ColumnKind, string> = {
  time: "TIMESTAMP_MS",
  u8: "UTINYINT",
  u16: "USMALLINT",
  u32: "UINTEGER",
  u64: "UBIGINT",
  // 16 bytes, IPv4-mapped. BLOBs compare bytewise, so a net range is a
  // BETWEEN on two 16-byte bounds (the filter engine relies on it).
  ip: "BLOB",
  mac: "UBIGINT",
  string: "VARCHAR",
};

export const RAW_TABLE = "flows_raw";
/** Committed micro-batches land here first; one transaction moves them to flows_raw and the rollups. */
export const STAGE_TABLE = "flows_stage";
export const VERSION_TABLE = "nagare_schema_version";

/** Rollup dimensions kept as they are (low cardinality). */
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

export interface Rollup {
  table: string;
  /** DuckDB interval literal of the bucket width. */
  interval: string;
}
export const ROLLUPS: readonly Rollup[] = [
  { table: "flows_1m", interval: "1 minute" },
  { table: "flows_1h", interval: "1 hour" },
];

const kindOf = new Map<string, ColumnKind>(FLOW_COLUMNS.map((c) => [c.name, c.kind]));
function typeOf(name: string): string {
  const k = kindOf.get(name);
  if (!k) throw new Error(`rollup dimension ${name} is not a schema column`);
  return SQL_TYPE[k];
}

/** Columns of flows_raw / flows_stage, in schema order. */
export function flowColumnsDdl(): string {
  return FLOW_COLUMNS.map((c) => `  ${c.name} ${SQL_TYPE[c.kind]} NOT NULL`).join(",\n");
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

export function rollupDdl(table: string): string {
  const cols = [
    "  bucket TIMESTAMP NOT NULL",
    ...ROLLUP_DIMS.map((d) => `  ${d} ${typeOf(d)} NOT NULL`),
    "  src_port USMALLINT NOT NULL",
    "  dst_port USMALLINT NOT NULL",
    // HUGEINT: a sum of UBIGINT counters over an hour of a busy exporter can pass 2^64 once scaled.
    ...ROLLUP_SUMS.map((s) => `  ${s} HUGEINT NOT NULL`),
  ];
  return `CREATE TABLE ${table} (\n${cols.join(",\n")},\n  PRIMARY KEY (${ROLLUP_KEY.join(", ")})\n)`;
}

/** sampling_rate 0 means unknown: counted as 1 (see docs/collector.md "sampling"). */
export const SCALE_SQL = "greatest(sampling_rate, 1)";

/** Aggregate a staging table (by default flows_stage) into `r` and merge (the incremental step). */
export function rollupMergeSql(r: Rollup, from: string = STAGE_TABLE): string {
  const dims = ROLLUP_DIMS.join(", ");
  const update = ROLLUP_SUMS.map((s) => `${s} = ${r.table}.${s} + EXCLUDED.${s}`).join(", ");
  return `INSERT INTO ${r.table}
SELECT time_bucket(INTERVAL '${r.interval}', time_received::TIMESTAMP) AS bucket, ${dims},
  ${portBucketSql("src_port")} AS src_port, ${portBucketSql("dst_port")} AS dst_port,
  sum(bytes)::HUGEINT, sum(packets)::HUGEINT, sum(flows)::HUGEINT,
  sum(bytes::HUGEINT * ${SCALE_SQL}), sum(packets::HUGEINT * ${SCALE_SQL}), sum(flows::HUGEINT * ${SCALE_SQL})
FROM ${from}
GROUP BY ALL
ON CONFLICT DO UPDATE SET ${update}`;
}

export interface Migration {
  version: number;
  description: string;
  statements: readonly string[];
}

/** Versioned migrations; each runs once, in one transaction, in order. Never edit a released one: add the next. */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: "flows_raw, flows_stage, flows_1m, flows_1h",
    statements: [
      `CREATE TABLE ${RAW_TABLE} (\n${flowColumnsDdl()}\n)`,
      `CREATE TABLE ${STAGE_TABLE} (\n${flowColumnsDdl()}\n)`,
      ...ROLLUPS.map((r) => rollupDdl(r.table)),
    ],
  },
];
