// Rollups: narrow, append-only aggregates, one family ("set") per question.
//
// Why narrow: one wide rollup keyed by every low-cardinality dimension at
// once (exporter, both interfaces, both ASes, protocol, two port buckets)
// kept 87–99 % of the raw row count on realistic traffic, so it saved
// neither disk nor time (BENCHMARKS.md §6). A TopN by destination AS needs
// only (bucket, dst_as): ~2 k rows an hour instead of ~60 k.
//
// Why append-only, written when a bucket closes: the previous rollups were
// merged on every flush with INSERT … ON CONFLICT DO UPDATE on a primary key;
// the key's ART index was half the file, and probing it slowed every flush as
// the month grew. Now each flush aggregates its micro-batch into small
// in-memory "pending" tables (one per set, at the set's finest resolution);
// when a bucket closes (a row at least CLOSE_GRACE_MS newer has been
// committed), its rows are written ONCE, sorted, into the on-disk table, and
// the coarser resolutions are summed from the finer on-disk table. No
// primary key, no index, no update.
//
// Closed-until watermarks (nagare_rollup_state) say which buckets a table
// holds. A query reads a rollup only below its watermark and flows_raw above
// it (src/query/planner), so a flow is visible as soon as its micro-batch is
// committed to flows_raw, and a watermark read a moment ago is still correct
// (raw keeps the rows longer than any open bucket). After a crash the pending
// tables are rebuilt from flows_raw rows at or after the finest watermark:
// only the open buckets are read again, never the whole raw table.
import { FLOW_COLUMNS, type ColumnKind } from "../schema.js";
// A cycle (schema.ts imports this file for migration 3): SQL_TYPE is read only inside functions.
import { SQL_TYPE } from "./schema.js";

export type RollupRes = "1s" | "1m" | "1h" | "1d";
export const RES_MS: Record<RollupRes, number> = {
  "1s": 1000,
  "1m": 60_000,
  "1h": 3_600_000,
  "1d": 86_400_000,
};
/** DuckDB interval literal of each resolution. */
export const RES_INTERVAL: Record<RollupRes, string> = {
  "1s": "1 second",
  "1m": "1 minute",
  "1h": "1 hour",
  "1d": "1 day",
};

export interface RollupSet {
  name: string;
  /** Dimensions kept, in sort order (rows are written sorted by bucket then these). */
  dims: readonly string[];
  /** Resolutions kept, finest first. */
  res: readonly RollupRes[];
  /**
   * Keep, per closed bucket of the finest resolution, the TOPK_K largest
   * keys by each sum and the bound (see TopKTable): set only on sets with one
   * dimension, whose tables are too many rows to group at query time.
   */
  topK?: boolean;
}

/**
 * The sets. `minute` and `traffic` keep the names flows_1m, flows_1h and
 * flows_1d (the documented views); the others are <set>_<res>. Only totals
 * by exporter are kept per minute: per minute, interface, port or address
 * keys are nearly as many as the flows themselves, and a finer-than-hour
 * question on them is answered from flows_raw at about the same cost.
 */
export const ROLLUP_SETS: readonly RollupSet[] = [
  // flows_1m: per-minute totals by exporter (interfaces × protocols per minute are nearly as many rows as flows).
  { name: "minute", dims: ["exporter_address", "protocol", "ip_version"], res: ["1m"] },
  // flows_1s: per-second totals (by IP version only: ~2 rows a second), so a
  // per-second series of any ten minutes reads ~1 k rows instead of every flow
  // (35 k at 100 M flows a month). Kept as long as flows_raw.
  { name: "second", dims: ["ip_version"], res: ["1s"] },
  {
    name: "traffic",
    dims: ["exporter_address", "in_if", "out_if", "protocol", "ip_version"],
    res: ["1h", "1d"],
  },
  { name: "dst_as", dims: ["dst_as", "protocol", "ip_version"], res: ["1h", "1d"] },
  { name: "src_as", dims: ["src_as", "protocol", "ip_version"], res: ["1h", "1d"] },
  // Exact ports (no Kentik-style buckets): a TopN by port must give the same answer as nfdump.
  { name: "dst_port", dims: ["protocol", "dst_port"], res: ["1h", "1d"] },
  { name: "src_port", dims: ["protocol", "src_port"], res: ["1h", "1d"] },
  { name: "dst_addr", dims: ["dst_addr"], res: ["1d"], topK: true },
];

/** Sums kept by every rollup: sampling-corrected (× sampling rate, 0 counted as 1). */
export const ROLLUP_SUMS = ["bytes", "packets", "flows"] as const;

/** sampling_rate 0 means unknown: counted as 1 (see docs/collector.md "sampling"). */
export const SCALE_SQL = "greatest(sampling_rate, 1)";

export const ROLLUP_STATE_TABLE = "nagare_rollup_state";

/** A bucket closes once a committed row is at least this much newer than its end (receipt reordering across threads). */
export const CLOSE_GRACE_MS = 2000;

export function rollupTable(set: RollupSet, res: RollupRes): string {
  return set.name === "traffic" || set.name === "minute" || set.name === "second"
    ? `flows_${res}`
    : `${set.name}_${res}`;
}

export interface RollupTable {
  table: string;
  set: RollupSet;
  res: RollupRes;
  bucketMs: number;
}

/** Every rollup table, each set's finest resolution first. */
export const ROLLUP_TABLES: readonly RollupTable[] = ROLLUP_SETS.flatMap((set) =>
  set.res.map((res) => ({ table: rollupTable(set, res), set, res, bucketMs: RES_MS[res] })),
);

const KIND = new Map<string, ColumnKind>(FLOW_COLUMNS.map((c) => [c.name, c.kind]));
function dimType(d: string): string {
  const k = KIND.get(d);
  if (!k) throw new Error(`rollup dimension ${d} is not a schema column`);
  return SQL_TYPE[k];
}

/**
 * exporter_address: DuckDB 1.5.6 bit-packs a UHUGEINT with a handful of
 * values, and grouping a bit-packed UHUGEINT is ~60× slower than an RLE one
 * (BENCHMARKS.md §6). Rows are written sorted by it, so RLE is also small.
 */
function compression(d: string): string {
  return d === "exporter_address" ? " USING COMPRESSION rle" : "";
}

export function rollupTableDdl(t: RollupTable): string {
  const cols = [
    "  bucket TIMESTAMP NOT NULL",
    ...t.set.dims.map((d) => `  ${d} ${dimType(d)} NOT NULL${compression(d)}`),
    ...ROLLUP_SUMS.map((s) => `  ${s} UBIGINT NOT NULL`),
  ];
  return `CREATE TABLE ${t.table} (\n${cols.join(",\n")}\n)`;
}

export const ROLLUP_STATE_DDL = `CREATE TABLE ${ROLLUP_STATE_TABLE} (table_name VARCHAR PRIMARY KEY, closed_until TIMESTAMP NOT NULL)`;

/** The in-memory pending table of a set (same columns as its rollup tables, no constraints). */
export function pendingDdl(set: RollupSet, name: string): string {
  const cols = [
    "bucket TIMESTAMP",
    ...set.dims.map((d) => `${d} ${dimType(d)}`),
    ...ROLLUP_SUMS.map((s) => `${s} UBIGINT`),
  ];
  return `CREATE OR REPLACE TABLE ${name} (${cols.join(", ")})`;
}

/** The sum columns, from flow rows ("raw": scaled by sampling rate) or from rollup-shaped rows ("agg"). */
export const sumsSql = (from: "raw" | "agg"): string =>
  ROLLUP_SUMS.map((s) =>
    from === "raw" ? `sum(${s}::HUGEINT * ${SCALE_SQL})::UBIGINT AS ${s}` : `sum(${s})::UBIGINT AS ${s}`,
  ).join(", ");

/** Flow rows of `from` (a stage, or flows_raw with `where`) aggregated at the set's finest resolution. */
export function aggregateFlowsSql(set: RollupSet, from: string, where = ""): string {
  const res = set.res[0]!;
  return `SELECT time_bucket(INTERVAL '${RES_INTERVAL[res]}', time_received::TIMESTAMP) AS bucket, ${set.dims.join(", ")}, ${sumsSql("raw")}
FROM ${from}${where ? `\nWHERE ${where}` : ""}
GROUP BY ALL`;
}

/** Rows of `from` (rollup-shaped) re-aggregated to `res`, bucket in [fromMs, untilMs), sorted for compression. */
export function reaggregateSql(
  set: RollupSet,
  res: RollupRes,
  from: string,
  fromMs: number | null,
  untilMs: number,
): string {
  const lo = fromMs === null ? "" : `bucket >= epoch_ms(${fromMs}::BIGINT) AND `;
  return `SELECT time_bucket(INTERVAL '${RES_INTERVAL[res]}', bucket) AS bucket, ${set.dims.join(", ")}, ${sumsSql("agg")}
FROM ${from}
WHERE ${lo}bucket < epoch_ms(${untilMs}::BIGINT)
GROUP BY ALL
ORDER BY ALL`;
}

/** The closed-until watermark a table may advance to, given the newest committed receive time. */
export function closableUntil(bucketMs: number, newestMs: number): number {
  return Math.floor((newestMs - CLOSE_GRACE_MS) / bucketMs) * bucketMs;
}

// ---------------------------------------------------------------------------
// Top-K per closed bucket: an exact TopN over a month of dst_addr_1d without
// grouping its 27 M rows (a threshold algorithm, Fagin / TPUT style).
//
// When a bucket of a topK set's finest table closes, its TOPK_K largest keys
// by each sum go to <set>_top_<res> (bucket, metric, key, value) and the
// bucket's bound and total to <set>_bound_<res> (bucket, metric, bound,
// total, keys). bound = the K-th largest value (0 when the bucket has fewer
// than K keys, all of them listed): a key NOT listed for a bucket has at most
// `bound` there. The planner (src/query/planner/topk.ts) ranks from these
// lists and reads exact values only for the few (key, bucket) pairs a
// candidate is missing. Written in the same transaction as the bucket's rows;
// a late row into a closed bucket recomputes that bucket's lists, so the
// bound always holds for the rows the table has.

/**
 * Keys kept per bucket and metric. On the 100 M-flow benchmark month (Zipf
 * destinations) the 10th address by bytes has 9.8e12, the 30 daily 1000th
 * values sum to 2.6e11: the bound excludes every unlisted address ~40 times
 * over (with K = 100 it would be 1.7e12, still 5×).
 */
export const TOPK_K = 1000;

export interface TopKTable {
  set: RollupSet;
  res: RollupRes;
  /** The rollup table the lists are computed from. */
  source: string;
  /** The key column (the set's one dimension). */
  key: string;
  top: string;
  bound: string;
}

export const TOPK_TABLES: readonly TopKTable[] = ROLLUP_SETS.filter((s) => s.topK).map((set) => {
  if (set.dims.length !== 1) throw new Error(`topK set ${set.name} must have one dimension`);
  const res = set.res[0]!;
  return {
    set,
    res,
    source: rollupTable(set, res),
    key: set.dims[0]!,
    top: `${set.name}_top_${res}`,
    bound: `${set.name}_bound_${res}`,
  };
});

export function topKTablesDdl(t: TopKTable): string[] {
  return [
    `CREATE TABLE ${t.top} (\n  bucket TIMESTAMP NOT NULL,\n  metric VARCHAR NOT NULL,\n  ${t.key} ${dimType(t.key)} NOT NULL,\n  value UBIGINT NOT NULL\n)`,
    `CREATE TABLE ${t.bound} (\n  bucket TIMESTAMP NOT NULL,\n  metric VARCHAR NOT NULL,\n  bound UBIGINT NOT NULL,\n  total HUGEINT NOT NULL,\n  keys UBIGINT NOT NULL\n)`,
  ];
}

/**
 * Statements that (re)compute the lists of the buckets selected by
 * `buckets` (SQL: a subquery or list of bucket values, e.g.
 * "SELECT DISTINCT bucket FROM …") from t.source: the old lists of those
 * buckets are deleted first, so a bucket that got late rows is recomputed
 * whole. Run inside the transaction that wrote the bucket's rows.
 */
export function topKRefreshSql(t: TopKTable, buckets: string): string[] {
  // Summed per key: a bucket that got late rows holds more than one row for a key.
  const src = `SELECT bucket, ${t.key}, ${ROLLUP_SUMS.map((m) => `sum(${m})::UBIGINT AS ${m}`).join(", ")} FROM ${t.source} WHERE bucket IN (${buckets}) GROUP BY bucket, ${t.key}`;
  const ranked = ROLLUP_SUMS.map(
    (m) =>
      `SELECT bucket, '${m}' AS metric, ${t.key}, ${m} AS value FROM src QUALIFY row_number() OVER (PARTITION BY bucket ORDER BY ${m} DESC, ${t.key}) <= ${TOPK_K}`,
  ).join("\n  UNION ALL\n  ");
  const total = `CASE t.metric ${ROLLUP_SUMS.map((m) => `WHEN '${m}' THEN s.${m}`).join(" ")} END`;
  return [
    `DELETE FROM ${t.top} WHERE bucket IN (${buckets})`,
    `DELETE FROM ${t.bound} WHERE bucket IN (${buckets})`,
    `INSERT INTO ${t.top}\nWITH src AS (${src})\nSELECT * FROM (\n  ${ranked}\n)\nORDER BY bucket, metric, value DESC`,
    // Fewer than K keys in the bucket: every key is listed, an unlisted one has 0.
    `INSERT INTO ${t.bound}
WITH s AS (SELECT bucket, count(DISTINCT ${t.key}) AS n, ${ROLLUP_SUMS.map((m) => `sum(${m}) AS ${m}`).join(", ")} FROM ${t.source} WHERE bucket IN (${buckets}) GROUP BY bucket)
SELECT t.bucket, t.metric, CASE WHEN any_value(s.n) > ${TOPK_K} THEN min(t.value) ELSE 0 END, any_value(${total}), any_value(s.n)
FROM ${t.top} t JOIN s ON t.bucket = s.bucket
WHERE t.bucket IN (${buckets})
GROUP BY t.bucket, t.metric
ORDER BY t.bucket, t.metric`,
  ];
}
