// Structured flow query → one parameterised DuckDB statement over the
// coarsest tables that can answer it (see docs/query.md). The range is cut
// into tiers: whole days from a 1-day rollup, the hours at its edges from the
// 1-hour one, and so on down to flows_raw for the edges no rollup covers and
// for everything after a rollup's closed-until watermark (the open buckets).
// Only names from fixed tables (schema columns, rollup tables, fixed bucket
// widths) reach the SQL text; every user value (times, filter values, N) is
// a `?` parameter.
//
// The statement is written through a PlanDialect (./dialect.ts): DuckDB's
// over the store here, Trino's over the Parquet lake for the Trino engine
// (src/query/engine/trino-sql.ts), so both engines answer one query shape.
import { FLOW_COLUMNS, type ColumnKind } from "../../schema.js";
import { defaultStoreConfig, type RetentionConfig } from "../../store/config.js";
import { ROLLUP_TABLES, ROLLUP_SETS, TOPK_K, TOPK_TABLES } from "../../store/rollups.js";
import { retentionDays } from "../../store/retention.js";
import { RAW_TABLE, rawTimeSql } from "../../store/schema.js";
import type { FilterNode, NumTarget } from "../filter/ast.js";
import { filterToSql, type FilterParam } from "../filter/sql.js";
import { duckdbStore, type PlanDialect } from "./dialect.js";
import { parseFilter } from "../filter/parser.js";
import { TOPK_MAX_PAIRS, topKMissingSql, topKSql, type TopKInput, type TopKPairs } from "./topk.js";

export type Resolution = "auto" | "second" | "minute" | "hour" | "day";
export type Metric = "bytes" | "packets" | "flows" | "bps" | "pps";

export interface FlowQuery {
  /** Epoch milliseconds or an ISO 8601 string; inclusive. */
  start: number | string;
  /** Epoch milliseconds or an ISO 8601 string; exclusive. */
  end: number | string;
  resolution: Resolution;
  /** Schema column names (not time columns); ip columns come out as text. */
  dimensions: readonly string[];
  /** nfdump filter text. */
  filter?: string;
  metric: Metric;
  /** Keep the N largest dimension tuples; the rest are summed into one "other" row per bucket. */
  topN?: number;
  shape: "timeseries" | "table";
  /** Also return the previous period (same length, just before), in a `period` column. */
  comparePrevious?: boolean;
}

export interface FlowPlan {
  sql: string;
  /** Values for the `?` placeholders in order; a bigint is an IP to bind as UHUGEINT (duckdbParams in src/query/filter). */
  params: unknown[];
  /** The tables read, coarsest first, joined by "+" (e.g. "dst_as_1d+dst_as_1h+flows_raw"). */
  table: string;
  tables: string[];
  /** The range actually answered (epoch ms): the asked one, aligned to the buckets or widened to what the tables still hold. */
  startMs: number;
  endMs: number;
  /** Bucket width of the series (timeseries) or granularity of the range (table). */
  resolutionMs: number;
  /**
   * A faster statement giving the same answer, to try first (./topk.ts: the
   * threshold TopN over per-day top-K lists); it returns NO row when it
   * cannot prove its answer exact, and then `sql` must run.
   */
  fast?: TopKFast;
  /**
   * Set when the statement returns a single series unfilled (sorted by
   * time_ms): the caller zero-fills it with fillSeries(). A range() join in
   * SQL costs ~1 ms of a ~5 ms per-second series; in JS it is 600 Map reads.
   */
  fill?: SeriesFill;
}

export interface SeriesFill {
  startMs: number;
  endMs: number;
  stepMs: number;
}

/**
 * Zero-fill a single series (FlowPlan.fill): one row per bucket of
 * [startMs, endMs), the statement's row where it has one, else `zeroAt(t)`
 * — what the SQL zero-fill returns, rows outside the range dropped as its
 * LEFT JOIN from range() drops them.
 */
export function fillSeries<R>(
  fill: SeriesFill,
  rows: readonly R[],
  timeOf: (r: R) => number,
  zeroAt: (t: number) => R,
): R[] {
  const at = new Map<number, R>();
  for (const r of rows) at.set(timeOf(r), r);
  const out: R[] = [];
  for (let t = fill.startMs; t < fill.endMs; t += fill.stepMs) out.push(at.get(t) ?? zeroAt(t));
  return out;
}

/**
 * The threshold TopN (./topk.ts), run by FlowQueryRunner: `answer()` first;
 * no row → `missing` (the candidates' (day, key) pairs the lists lack; no
 * row → the full plan), then `answer(pairs)`; no row again → the full plan.
 */
export interface TopKFast {
  answer: (pairs?: TopKPairs) => { sql: string; params: unknown[] };
  missing: { sql: string; params: unknown[] };
  maxPairs: number;
}

export type PlanErrorCode =
  | "unknown_dimension"
  | "unknown_metric"
  | "bad_range"
  | "bad_resolution"
  | "bad_shape"
  | "bad_topn"
  | "too_fine";

export class PlanError extends Error {
  constructor(
    readonly code: PlanErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "PlanError";
  }
}

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

const FIXED_RESOLUTION: Record<Exclude<Resolution, "auto">, number> = {
  second: SECOND,
  minute: MINUTE,
  hour: HOUR,
  day: DAY,
};

/**
 * Widths "auto" may pick: ratios of at most 2.5 between neighbours, so the
 * finest one giving ≤ MAX_POINTS buckets gives at least ~600 for any range
 * longer than a few seconds. Every width ≥ 1 minute is a whole number of
 * minutes, every width ≥ 1 hour a whole number of hours, so the rollups can
 * serve them.
 */
const AUTO_WIDTHS = [
  1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 604800,
].map((s) => s * SECOND);
export const MAX_POINTS = 1500;
/**
 * Most rows (buckets × series) a zero-filled time series may have; above it
 * the series comes back sparse (buckets without flows absent), so a fine
 * resolution over many dimension values cannot multiply into a huge answer.
 */
export const MAX_FILL_ROWS = 1_000_000;

/** A table that can serve part of a range. */
interface Tier {
  /** Its name in the plan (QueryPlan.table). */
  table: string;
  /** What the statement reads after FROM (flows_raw: the live view, src/store/live.ts). */
  from: string;
  /** Bucket width (0: flows_raw, per flow). */
  bucketMs: number;
  /** Time column. */
  time: string;
  /** Oldest time still held (epoch ms). */
  cutMs: number;
  /** Closed-until watermark: buckets before it are complete (rollups only; flows_raw: +∞). */
  watermarkMs: number;
  /** Metric sum expression. */
  sum: (m: "bytes" | "packets" | "flows") => string;
}

/** A part of the range served by one tier: [lo, hi). */
interface Segment {
  tier: Tier;
  lo: number;
  hi: number;
}

/** The tiers for columns `needed`, coarsest first, flows_raw last. */
function tiersFor(
  dialect: PlanDialect,
  needed: ReadonlySet<string>,
  now: number,
  retention: RetentionConfig,
  watermarks: ReadonlyMap<string, number>,
  width: number | null,
): Tier[] {
  const raw: Tier = {
    table: dialect.flowsLabel ?? dialect.flowsTable,
    from: dialect.flowsTable,
    bucketMs: 0,
    time: "time_received",
    cutMs: now - retention.rawDays * DAY,
    watermarkMs: Infinity,
    // Same scaling as the rollups' sums (src/store/rollups.ts).
    sum: (m) => dialect.flowsSum(m),
  };
  if (!dialect.rollups) return [raw];
  // Of the sets that keep every needed column, the one with the coarsest
  // table usable at this width (a table's bucket must divide the width);
  // ties go to the earlier set (ROLLUP_SETS order: smaller tables first).
  const usable = (ms: number): boolean => width === null || width % ms === 0;
  let set: (typeof ROLLUP_SETS)[number] | undefined;
  let best = 0;
  for (const st of ROLLUP_SETS) {
    if (![...needed].every((c) => st.dims.includes(c))) continue;
    const coarsest = Math.max(
      0,
      ...ROLLUP_TABLES.filter((t) => t.set === st && usable(t.bucketMs)).map((t) => t.bucketMs),
    );
    if (coarsest > best) {
      best = coarsest;
      set = st;
    }
  }
  if (!set) return [raw];
  const rollups = ROLLUP_TABLES.filter((t) => t.set === set && usable(t.bucketMs))
    .sort((x, y) => y.bucketMs - x.bucketMs)
    .map((t): Tier => ({
      table: t.table,
      from: t.table,
      bucketMs: t.bucketMs,
      time: "bucket",
      cutMs: now - retentionDays(retention, t.res) * DAY,
      // No watermark yet: nothing closed, the rollup holds nothing.
      watermarkMs: watermarks.get(t.table) ?? -Infinity,
      sum: (m) => `sum(${m})`,
    }));
  return [...rollups, raw];
}

/**
 * Cut [a, b) into segments: the coarsest tier takes the whole buckets it
 * holds (within its retention, before its watermark), the finer tiers the
 * edges left on either side. What no tier can hold is returned as `gaps`.
 */
function cover(a: number, b: number, tiers: readonly Tier[], out: Segment[], gaps: [number, number][]): void {
  if (a >= b) return;
  const [t, ...finer] = tiers;
  if (!t) {
    gaps.push([a, b]);
    return;
  }
  if (t.bucketMs === 0) {
    if (a < t.cutMs) gaps.push([a, Math.min(b, t.cutMs)]);
    if (Math.max(a, t.cutMs) < b) out.push({ tier: t, lo: Math.max(a, t.cutMs), hi: b });
    return;
  }
  const B = t.bucketMs;
  const lo = Math.max(Math.ceil(a / B) * B, Math.ceil(t.cutMs / B) * B);
  const hi = Math.min(Math.floor(b / B) * B, t.watermarkMs);
  if (lo >= hi) return cover(a, b, finer, out, gaps);
  cover(a, lo, finer, out, gaps);
  out.push({ tier: t, lo, hi });
  cover(hi, b, finer, out, gaps);
}

/**
 * The closed bucket of `dayTier` (its start, epoch ms) that segment `seg`
 * lies in, when the tier still holds it (top-K lists bound it: ./topk.ts);
 * else undefined.
 */
function closedDayOf(seg: Segment, dayTier: Tier): number | undefined {
  const B = dayTier.bucketMs;
  const d = Math.floor(seg.lo / B) * B;
  if (seg.hi > d + B || d + B > dayTier.watermarkMs || d < dayTier.cutMs) return undefined;
  return d;
}

const KIND = new Map<string, ColumnKind>(FLOW_COLUMNS.map((c) => [c.name, c.kind]));
const METRICS: readonly Metric[] = ["bytes", "packets", "flows", "bps", "pps"];

function toMs(v: unknown, what: string): number {
  const ms = typeof v === "number" ? v : typeof v === "string" ? Date.parse(v) : NaN;
  if (!Number.isFinite(ms)) {
    throw new PlanError("bad_range", `${what} ${JSON.stringify(v)} is not epoch milliseconds or an ISO date`);
  }
  return Math.floor(ms);
}

/** Columns a filter reads (from the parsed AST). */
export function filterColumns(node: FilterNode): Set<string> {
  const out = new Set<string>();
  const target = (t: NumTarget): void => {
    if ("column" in t) {
      out.add(t.column);
      return;
    }
    if (t.derived === "bpp") {
      out.add("bytes").add("packets");
      return;
    }
    out.add("time_flow_start").add("time_flow_end");
    if (t.derived === "bps") out.add("bytes");
    if (t.derived === "pps") out.add("packets");
  };
  const walk = (n: FilterNode): void => {
    switch (n.type) {
      case "any":
        return;
      case "not":
        return walk(n.expr);
      case "and":
      case "or":
        walk(n.left);
        return walk(n.right);
      case "cmp":
      case "in":
        return n.targets.forEach(target);
      case "ip":
      case "str":
        n.columns.forEach((c) => out.add(c));
        return;
      case "flags":
        out.add("tcp_flags");
        return;
      case "icmp":
        out.add("protocol").add(n.field);
        return;
    }
  };
  walk(node);
  return out;
}

function pickResolution(q: FlowQuery, spanMs: number): number | null {
  if (q.resolution === "auto") {
    // A table needs no buckets: the coarsest table covering the range exactly is chosen below.
    if (q.shape === "table") return null;
    return (
      AUTO_WIDTHS.find((w) => Math.ceil(spanMs / w) <= MAX_POINTS) ?? AUTO_WIDTHS[AUTO_WIDTHS.length - 1]!
    );
  }
  const w = (FIXED_RESOLUTION as Record<string, number | undefined>)[q.resolution];
  if (w === undefined) {
    throw new PlanError(
      "bad_resolution",
      `resolution ${JSON.stringify(q.resolution)} is not one of auto, second, minute, hour, day`,
    );
  }
  return w;
}

/** Plan `q`; `now` (epoch ms) decides which tables still hold the range. */
export function planFlowQuery(
  q: FlowQuery,
  now: number = Date.now(),
  retention: RetentionConfig = defaultStoreConfig().retention,
  /** Closed-until watermark (epoch ms) per rollup table (nagare_rollup_state); a table without one is not read. */
  watermarks: ReadonlyMap<string, number> = new Map(),
): FlowPlan {
  const { rest: _rest, ...plan } = planFlowQueryIn(duckdbStore, q, now, retention, watermarks);
  return plan;
}

/** A plan written in some engine's dialect. */
export interface DialectPlan extends FlowPlan {
  /** The series keys after period and time_ms (the dimensions, then "other" with topN): what an engine filling series itself (PlanDialect.fillInSql false) fills per. */
  rest: string[];
}

/** Plan `q` in `dialect` (planFlowQuery is the store's): same validation, range, tiers and statement shape for every engine. */
export function planFlowQueryIn(
  dialect: PlanDialect,
  q: FlowQuery,
  now: number,
  retention: RetentionConfig,
  watermarks: ReadonlyMap<string, number>,
): DialectPlan {
  // --- validation
  if (!METRICS.includes(q.metric)) {
    throw new PlanError(
      "unknown_metric",
      `metric ${JSON.stringify(q.metric)} is not one of ${METRICS.join(", ")}`,
    );
  }
  if (q.shape !== "timeseries" && q.shape !== "table") {
    throw new PlanError("bad_shape", `shape ${JSON.stringify(q.shape)} is not "timeseries" or "table"`);
  }
  const dims = [...q.dimensions];
  for (const d of dims) {
    const k = KIND.get(d);
    if (k === undefined || k === "time") {
      throw new PlanError(
        "unknown_dimension",
        k === "time"
          ? `dimension ${JSON.stringify(d)} is a time column; use the time series shape instead`
          : `unknown dimension ${JSON.stringify(d)} (not a flow column)`,
      );
    }
  }
  if (new Set(dims).size !== dims.length) throw new PlanError("unknown_dimension", "a dimension is repeated");
  if (q.topN !== undefined && (!Number.isInteger(q.topN) || q.topN < 1 || q.topN > 100_000)) {
    throw new PlanError("bad_topn", `topN ${String(q.topN)} must be an integer in 1-100000`);
  }
  if (q.topN !== undefined && dims.length === 0)
    throw new PlanError("bad_topn", "topN needs at least one dimension");
  let start = toMs(q.start, "start");
  let end = toMs(q.end, "end");
  if (end <= start)
    throw new PlanError("bad_range", `end (${new Date(end).toISOString()}) is not after start`);
  const width = pickResolution(q, end - start);

  const filterNode = q.filter === undefined || q.filter.trim() === "" ? null : parseFilter(q.filter);
  const needed = new Set(dims);
  if (filterNode) for (const c of filterColumns(filterNode)) needed.add(c);

  // --- tiers: the coarsest tables that hold every column and serve the width
  const tiers = tiersFor(dialect, needed, now, retention, watermarks, width);
  let span: number;
  if (width === null) {
    // Table shape, auto: the exact range; a start older than flows_raw holds
    // is widened down to the bucket of the finest rollup that still holds it.
    span = SECOND;
    const holder = [...tiers].reverse().find((t) => start >= t.cutMs);
    if (holder && holder.bucketMs !== 0) start = Math.floor(start / holder.bucketMs) * holder.bucketMs;
  } else {
    span = width;
    start = Math.floor(start / width) * width;
    end = Math.ceil(end / width) * width;
  }
  const len = end - start;
  const segs: { period: "current" | "previous"; seg: Segment }[] = [];
  const gaps: [number, number][] = [];
  const cur: Segment[] = [];
  cover(start, end, tiers, cur, gaps);
  segs.push(...cur.map((seg) => ({ period: "current" as const, seg })));
  if (q.comparePrevious) {
    const prev: Segment[] = [];
    cover(start - len, start, tiers, prev, gaps);
    segs.push(...prev.map((seg) => ({ period: "previous" as const, seg })));
  }
  if (gaps.length) {
    const oldest = tiers[0]!;
    throw new PlanError(
      "too_fine",
      `${width === null ? "this query" : `resolution ${width / SECOND}s`}${needed.size ? ` with ${[...needed].join(", ")}` : ""} needs ${tiers.map((t) => t.table).join(" or ")}; ${oldest.table} holds only the last ${Math.round((now - oldest.cutMs) / DAY)} days and the range starts before that (${new Date(gaps[0]![0]).toISOString()})`,
    );
  }
  const tables = [...new Set(segs.map((x) => x.seg.tier.table))].sort(
    (x, y) => tiers.findIndex((t) => t.table === x) - tiers.findIndex((t) => t.table === y),
  );

  // --- SQL
  const params: FilterParam[] = [];
  const p = (v: number): string => dialect.value(v, params);
  // Rollup tiers are the DuckDB store's tables (dialect.rollups): their bounds are DuckDB's.
  const ts = (v: number): string => `epoch_ms(${p(v)}::BIGINT)`;
  const counter = q.metric === "bps" ? "bytes" : q.metric === "pps" ? "packets" : q.metric;
  const cmp = q.comparePrevious === true;
  const series = q.shape === "timeseries";
  const keys = [...(cmp ? ["period"] : []), ...(series ? ["time_ms"] : []), ...dims.map((d) => `d_${d}`)];
  const parts: string[] = [];
  for (const { period, seg } of segs) {
    const t = seg.tier;
    const sel: string[] = [];
    if (cmp) sel.push(`'${period}' AS period`);
    if (series) {
      // Previous-period buckets are moved forward by the range length so they line up with the current ones.
      const ms = dialect.epochMs(t.time);
      const shifted = period === "previous" ? `(${ms} + ${dialect.bigint(len, params)})` : ms;
      sel.push(`${dialect.intDiv(shifted, String(span))} * ${span} AS time_ms`);
    }
    // String columns store NULL for "" (src/store/writer.ts, ChunkAppender): read back as "".
    sel.push(
      ...dims.map((d) => `${KIND.get(d) === "string" ? dialect.text(d) : d} AS d_${d}`),
      `${t.sum(counter)} AS v`,
    );
    // Parameters are pushed in text order: select list, time bounds, filter.
    const bound = (v: number): string => (t.bucketMs === 0 ? dialect.flowsTime(v, params) : ts(v));
    const prune = t.bucketMs === 0 && dialect.flowsPrune ? ` AND ${dialect.flowsPrune(seg.lo, seg.hi)}` : "";
    const where = `${t.time} >= ${bound(seg.lo)} AND ${t.time} < ${bound(seg.hi)}${prune}`;
    let filterSql = "";
    if (filterNode) {
      const f = filterToSql(filterNode, { dialect });
      filterSql = ` AND (${f.sql})`;
      params.push(...f.params);
    }
    parts.push(
      `  SELECT ${sel.join(", ")}\n  FROM ${t.from}\n  WHERE ${where}${filterSql}${keys.length ? `\n  GROUP BY ${dialect.groupBy(keys).join(", ")}` : ""}`,
    );
  }
  const base = `base AS (\n${parts.length ? parts.join("\n  UNION ALL\n") : `  SELECT ${[...(cmp ? ["NULL::VARCHAR AS period"] : []), ...(series ? ["NULL::BIGINT AS time_ms"] : []), ...dims.map((d) => `NULL AS d_${d}`), "NULL::HUGEINT AS v"].join(", ")} WHERE false`}\n)`;

  const seconds = (series ? span : len) / SECOND;
  const value =
    q.metric === "bps"
      ? `${dialect.toDouble("sum(v)")} * 8 / ${seconds}`
      : q.metric === "pps"
        ? `${dialect.toDouble("sum(v)")} / ${seconds}`
        : `sum(v)`;
  const render = (d: string, col: string): string => (KIND.get(d) === "ip" ? dialect.ipText(col) : col);
  const outKeys = [...(cmp ? ["period"] : []), ...(series ? ["time_ms"] : [])];

  let sql: string;
  let rest: string[];
  let fill: SeriesFill | undefined;
  if (q.topN !== undefined) {
    const dcols = dims.map((d) => `d_${d}`);
    const top = `top AS (\n  SELECT ${dcols.join(", ")}, TRUE AS in_top FROM base${cmp ? " WHERE period = 'current'" : ""}\n  GROUP BY ${dcols.join(", ")}\n  ORDER BY sum(v) DESC, ${dcols.join(", ")}\n  LIMIT ${p(q.topN)}\n)`;
    const on = dcols.map((c) => `b.${c} IS NOT DISTINCT FROM k.${c}`).join(" AND ");
    // Outside the top N the dimensions become NULL, so each bucket's rest sums into one "other" row.
    const joined = `joined AS (\n  SELECT ${[
      ...outKeys.map((k) => `b.${k}`),
      ...dcols.map((c) => `CASE WHEN k.in_top THEN b.${c} END AS ${c}`),
      "k.in_top IS NULL AS other",
      "b.v",
    ].join(", ")}\n  FROM base b LEFT JOIN top k ON ${on}\n)`;
    const select = [
      ...outKeys,
      ...dims.map((d) => `${render(d, `d_${d}`)} AS ${d}`),
      "other",
      `${value} AS value`,
    ];
    const group = [...outKeys, ...dcols, "other"];
    sql = `WITH ${base},\n${top},\n${joined},\nres AS (\n  SELECT ${select.join(", ")}\n  FROM joined\n  GROUP BY ${group.join(", ")}\n)`;
    rest = [...dims, "other"];
  } else {
    const select = [...outKeys, ...dims.map((d) => `${render(d, `d_${d}`)} AS ${d}`), `${value} AS value`];
    const group = [...outKeys, ...dims.map((d) => `d_${d}`)];
    sql = `WITH ${base},\nres AS (\n  SELECT ${select.join(", ")}\n  FROM base${group.length ? `\n  GROUP BY ${group.join(", ")}` : ""}\n)`;
    rest = [...dims];
  }
  // Ties in value are ordered by the dimensions' output text, so an answer is one fixed row order.
  const order = [...outKeys, ...(q.topN !== undefined ? ["other"] : []), "value DESC", ...dims].join(", ");
  if (!series || !dialect.fillInSql) {
    sql += `\nSELECT * FROM res\nORDER BY ${order}`;
  } else {
    // Zero-filled: every bucket of the range for every series (a series is a
    // period and a dimension tuple seen anywhere in the range), 0 where it had
    // no flow, so a chart draws no gap and no line across one. Without
    // dimensions the one series exists even when the range holds no flow.
    // Over MAX_FILL_ROWS (buckets × series, known only once res is computed)
    // the buckets CTE is empty and the sparse rows of res are returned instead.
    const nBuckets = (end - start) / span;
    const periods = cmp ? "(VALUES ('current'), ('previous')) p(period)" : null;
    const seen = rest.length ? `(SELECT DISTINCT ${rest.join(", ")} FROM res) s` : null;
    const keys = [periods, seen].filter((x) => x !== null);
    const keysSql = keys.length ? keys.join(" CROSS JOIN ") : "(SELECT 1) s(one)";
    const cols = [...(cmp ? ["period"] : []), "time_ms", ...rest];
    const on = [
      "r.time_ms = b.time_ms",
      ...[...(cmp ? ["period"] : []), ...rest].map((k) => `r.${k} IS NOT DISTINCT FROM k.${k}`),
    ].join(" AND ");
    const fillSelect = [
      ...(cmp ? ["k.period"] : []),
      "b.time_ms",
      ...rest.map((k) => `k.${k}`),
      "coalesce(r.value, 0) AS value",
    ];
    if (nBuckets > MAX_FILL_ROWS) {
      sql += `\nSELECT * FROM res\nORDER BY ${order}`;
    } else if (keys.length === 0) {
      // One series (no dimension, no previous period): its buckets are known
      // here, so the caller fills them (fill, fillSeries) — no keys/fill CTEs
      // and no range() join (a per-second series of ten minutes: 6 → 4 ms).
      sql += `\nSELECT time_ms, value FROM res\nORDER BY ${order}`;
      fill = { startMs: start, endMs: end, stepMs: span };
    } else {
      sql += [
        `,\nkeys AS (\n  SELECT * FROM ${keysSql}\n)`,
        `,\nfill AS (\n  SELECT (SELECT count(*) FROM keys) * ${p(nBuckets)}::BIGINT <= ${p(MAX_FILL_ROWS)}::BIGINT AS ok\n)`,
        `,\nbuckets AS (\n  SELECT range AS time_ms FROM range(${p(start)}::BIGINT, ${p(end)}::BIGINT, ${p(span)}::BIGINT)\n  WHERE (SELECT ok FROM fill)\n)`,
        `\nSELECT ${fillSelect.join(", ")}\nFROM buckets b CROSS JOIN keys k LEFT JOIN res r ON ${on}`,
        `\nUNION ALL\nSELECT ${cols.join(", ")}, value FROM res WHERE NOT (SELECT ok FROM fill)`,
        `\nORDER BY ${order}`,
      ].join("");
    }
  }
  // --- threshold TopN over the per-day top-K lists (./topk.ts)
  let fast: FlowPlan["fast"];
  const tk = TOPK_TABLES.find((t) => dims.length === 1 && t.key === dims[0] && tiers[0]?.table === t.source);
  const daySegs = segs.filter((x) => x.seg.tier.table === tk?.source);
  if (
    dialect.rollups &&
    tk &&
    q.topN !== undefined &&
    q.topN < TOPK_K &&
    !filterNode &&
    !cmp &&
    !series &&
    daySegs.length === 1
  ) {
    const day = daySegs[0]!.seg;
    const topN = q.topN;
    const input = (fp: unknown[]): TopKInput => {
      const fpush = (v: unknown): string => {
        fp.push(v);
        return "?";
      };
      return {
        key: tk.key,
        source: tk.source,
        top: tk.top,
        boundTable: tk.bound,
        lo: day.lo,
        hi: day.hi,
        edges: segs
          .filter((x) => x.seg !== day)
          .map(({ seg }) => ({
            day: closedDayOf(seg, day.tier),
            table: seg.tier.from,
            time: seg.tier.time,
            bound: (v: number) =>
              seg.tier.bucketMs === 0 ? rawTimeSql(fpush(v)) : `epoch_ms(${fpush(v)}::BIGINT)`,
            sum: seg.tier.sum(counter),
            lo: seg.lo,
            hi: seg.hi,
          })),
        counter,
        n: topN,
        value: (x) =>
          q.metric === "bps"
            ? `(${x})::HUGEINT::DOUBLE * 8 / ${seconds}`
            : q.metric === "pps"
              ? `(${x})::HUGEINT::DOUBLE / ${seconds}`
              : `(${x})::HUGEINT`,
        render: (c) => render(tk.key, c),
        p: fpush,
      };
    };
    const mp: unknown[] = [];
    const missingSql = topKMissingSql(input(mp));
    fast = {
      answer: (pairs) => {
        const fp: unknown[] = [];
        const s = topKSql(input(fp), pairs);
        return { sql: s, params: fp };
      },
      missing: { sql: missingSql, params: mp },
      maxPairs: TOPK_MAX_PAIRS,
    };
  }
  return {
    ...(fast ? { fast } : {}),
    ...(fill ? { fill } : {}),
    sql,
    params,
    table: tables.join("+") || RAW_TABLE,
    tables,
    startMs: start,
    endMs: end,
    resolutionMs: span,
    rest,
  };
}
