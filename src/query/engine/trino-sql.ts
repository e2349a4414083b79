// Structured flow query → one Trino statement over the Hive table of the
// Parquet export (src/store/export.ts: Hive layout date=/hour=, lake types).
//
// The same query as the DuckDB planner (src/query/planner/planner.ts) with the
// same answer shape, generated for the lake rather than rewritten from
// DuckDB's text, because the lake differs in ways a rewrite would get wrong:
//   - one table, every flow (no rollup tiers, no retention cut): the plan's
//     range, resolution and validation come from planFlowQuery over
//     flows_raw alone, so both engines bucket and align identically;
//   - ip columns are text ('' = absent): dimensions come out as they are
//     (nagare_ip's text), filters compare them as IPADDRESS (coalesced to ::
//     when absent, as the store's 0);
//   - time columns are TIMESTAMP(3) without zone: bounds are TIMESTAMP
//     literals and buckets are date_diff in milliseconds from the epoch, both
//     independent of the session time zone;
//   - the partition columns "date" and "hour" are varchar and only in the
//     directory names: the range is also written on them so Trino prunes
//     whole directories;
//   - Trino has no `&` operator and no GROUP BY output aliases;
//   - sums are DECIMAL(38,0) (DuckDB's HUGEINT; Trino sends decimals as
//     exact strings, bigints as JSON numbers that lose precision past 2^53).
// Values are inlined as literals (the REST protocol has no bind step without
// a PREPARE round trip): only numbers the planner validated, IP literals
// formatted from parsed bytes, and strings through trinoString reach the text.
//
// Zero fill of time series is not in the SQL (Trino's sequence() stops at
// 10 000 elements): the engine fills the sparse rows (./trino.ts, fillTrinoSeries).
import { FLOW_COLUMNS, type ColumnKind } from "../../schema.js";
import type { FilterNode, IpRange, NumTarget } from "../filter/ast.js";
import { parseFilter } from "../filter/parser.js";
import { planFlowQuery, type FlowQuery } from "../planner/index.js";
import { MAX_FILL_ROWS } from "../planner/planner.js";
import { defaultStoreConfig } from "../../store/config.js";
import { trinoIdent, trinoString } from "./trino-client.js";

/** Where the lake table lives on the Trino server. */
export interface LakeTable {
  catalog: string;
  schema: string;
  table: string;
}

export interface TrinoFlowPlan {
  sql: string;
  /** "catalog.schema.table" read. */
  table: string;
  startMs: number;
  endMs: number;
  resolutionMs: number;
  /** Dimension names (output columns, in order). */
  dims: string[];
  /** Timeseries: the engine zero-fills [startMs, endMs) by stepMs for every series (keys = period + rest). */
  fill?: { startMs: number; endMs: number; stepMs: number; period: boolean; rest: string[] };
}

const SECOND = 1000;

/** The lake keeps every hour the export wrote: no retention cut for the planner. */
const LAKE_RETENTION = { ...defaultStoreConfig().retention, rawDays: 1e6 };

/** A TIMESTAMP(3) literal of epoch ms (UTC wall time, as the export writes it). */
export function trinoTimestamp(ms: number): string {
  const iso = new Date(ms).toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ
  return `TIMESTAMP '${iso.slice(0, 10)} ${iso.slice(11, 23)}'`;
}

/** The 16 address bytes as an IPADDRESS literal (IPv4-mapped written dotted: Trino maps it back). */
function ipLiteral(b: Uint8Array): string {
  const mapped = b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
  if (mapped) return `IPADDRESS '${b[12]}.${b[13]}.${b[14]}.${b[15]}'`;
  const words: string[] = [];
  for (let i = 0; i < 16; i += 2) words.push(((b[i]! << 8) | b[i + 1]!).toString(16));
  return `IPADDRESS '${words.join(":")}'`;
}

/** An ip text column as IPADDRESS; absent ('') is :: like the store's 0. */
function ipColumn(c: string): string {
  return `coalesce(try_cast(nullif(${c}, '') AS IPADDRESS), IPADDRESS '::')`;
}

function num(v: number): string {
  if (!Number.isFinite(v)) throw new Error(`not a finite number: ${v}`);
  return String(v);
}

/** A `*` wildcard value as a LIKE pattern: `%`, `_` and `\` are literal, `*` matches any run. */
function likePattern(v: string): string {
  return v.replace(/[\\%_]/g, (ch) => `\\${ch}`).replace(/\*/g, "%");
}

/** The nfdump filter AST as a Trino boolean expression over the lake's columns (src/query/filter/sql.ts's semantics). */
export function trinoFilterSql(node: FilterNode): string {
  const duration = "date_diff('millisecond', time_flow_start, time_flow_end)";
  const target = (t: NumTarget): string => {
    if ("column" in t) return t.column;
    switch (t.derived) {
      case "duration":
        return duration;
      case "bps":
        return `(CASE WHEN ${duration} > 0 THEN floor(CAST(bytes AS DOUBLE) * 8000 / ${duration}) ELSE 0 END)`;
      case "pps":
        return `(CASE WHEN ${duration} > 0 THEN floor(CAST(packets AS DOUBLE) * 1000 / ${duration}) ELSE 0 END)`;
      case "bpp":
        return `(CASE WHEN packets > 0 THEN floor(CAST(bytes AS DOUBLE) / packets) ELSE 0 END)`;
    }
  };
  const join = (parts: string[], all = false): string =>
    parts.length === 1 ? parts[0]! : `(${parts.join(all ? " AND " : " OR ")})`;
  const range = (col: string, { lo, hi }: IpRange): string =>
    lo.every((b, k) => b === hi[k])
      ? `${ipColumn(col)} = ${ipLiteral(lo)}`
      : `${ipColumn(col)} BETWEEN ${ipLiteral(lo)} AND ${ipLiteral(hi)}`;
  const walk = (n: FilterNode): string => {
    switch (n.type) {
      case "any":
        return "TRUE";
      case "not":
        return `(NOT ${walk(n.expr)})`;
      case "and":
        return `(${walk(n.left)} AND ${walk(n.right)})`;
      case "or":
        return `(${walk(n.left)} OR ${walk(n.right)})`;
      case "cmp":
        return join(
          n.targets.map((t) => `${target(t)} ${n.op === "!=" ? "<>" : n.op} ${num(n.value)}`),
          n.all,
        );
      case "in":
        return join(
          n.targets.map((t) => `${target(t)} IN (${n.values.map(num).join(", ")})`),
          n.all,
        );
      case "ip":
        return join(
          n.columns.map((col) => join(n.ranges.map((r) => range(col, r)))),
          n.all,
        );
      case "str":
        return join(
          n.columns.map((col) =>
            join(
              n.values.map((v) =>
                v.includes("*")
                  ? `lower(${col}) LIKE ${trinoString(likePattern(v))} ESCAPE '\\'`
                  : `lower(${col}) = ${trinoString(v)}`,
              ),
            ),
          ),
          n.all,
        );
      case "flags":
        return `bitwise_and(tcp_flags, ${num(n.mask)}) = ${num(n.mask)}`;
      case "icmp":
        return `(protocol IN (1, 58) AND ${n.field} = ${num(n.value)})`;
    }
  };
  return walk(node);
}

/** Partition bounds of [lo, hi): the "date" values it touches (hours are pruned by the timestamp bound within a day). */
function partitionSql(lo: number, hi: number): string {
  const d0 = new Date(lo).toISOString().slice(0, 10);
  const d1 = new Date(hi - 1).toISOString().slice(0, 10);
  return `"date" BETWEEN '${d0}' AND '${d1}'`;
}

/** Plan `q` for Trino over `lake`; throws PlanError / FilterError as the DuckDB planner does. */
export function planTrinoFlowQuery(q: FlowQuery, lake: LakeTable, now: number = Date.now()): TrinoFlowPlan {
  // Validation, resolution and the aligned range: the DuckDB planner's, over flows_raw alone.
  const base = planFlowQuery(q, now, LAKE_RETENTION, new Map());
  const start = base.startMs;
  const end = base.endMs;
  const span = base.resolutionMs;
  const len = end - start;
  const dims = [...q.dimensions];
  const filterNode = q.filter === undefined || q.filter.trim() === "" ? null : parseFilter(q.filter);
  const filter = filterNode ? ` AND (${trinoFilterSql(filterNode)})` : "";
  const from = `${trinoIdent(lake.catalog)}.${trinoIdent(lake.schema)}.${trinoIdent(lake.table)}`;
  const cmp = q.comparePrevious === true;
  const series = q.shape === "timeseries";
  const counter = q.metric === "bps" ? "bytes" : q.metric === "pps" ? "packets" : q.metric;

  const part = (period: "current" | "previous", lo: number, hi: number): string => {
    const sel: string[] = [];
    if (cmp) sel.push(`'${period}' AS period`);
    if (series) {
      // Previous-period buckets move forward by the range length to line up with the current ones.
      const ms = `date_diff('millisecond', TIMESTAMP '1970-01-01 00:00:00.000', time_received)`;
      const shifted = period === "previous" ? `(${ms} + ${num(len)})` : ms;
      sel.push(`(${shifted} / ${num(span)}) * ${num(span)} AS time_ms`);
    }
    sel.push(...dims.map((d) => `${d} AS d_${d}`));
    const nKeys = sel.length;
    // Same scaling as the store's (SCALE_SQL in src/store/rollups.ts).
    sel.push(`sum(CAST(${counter} AS DECIMAL(38,0)) * greatest(sampling_rate, 1)) AS v`);
    const where = `time_received >= ${trinoTimestamp(lo)} AND time_received < ${trinoTimestamp(hi)} AND ${partitionSql(lo, hi)}${filter}`;
    const group = nKeys ? `\n  GROUP BY ${Array.from({ length: nKeys }, (_, i) => i + 1).join(", ")}` : "";
    return `  SELECT ${sel.join(", ")}\n  FROM ${from}\n  WHERE ${where}${group}`;
  };
  const parts = [part("current", start, end)];
  if (cmp) parts.push(part("previous", start - len, start));
  const baseCte = `base AS (\n${parts.join("\n  UNION ALL\n")}\n)`;

  const seconds = (series ? span : len) / SECOND;
  const value =
    q.metric === "bps"
      ? `CAST(sum(v) AS DOUBLE) * 8 / ${num(seconds)}`
      : q.metric === "pps"
        ? `CAST(sum(v) AS DOUBLE) / ${num(seconds)}`
        : `sum(v)`;
  const outKeys = [...(cmp ? ["period"] : []), ...(series ? ["time_ms"] : [])];
  let sql: string;
  let rest: string[];
  if (q.topN !== undefined) {
    const dcols = dims.map((d) => `d_${d}`);
    const top = `top AS (\n  SELECT ${dcols.join(", ")}, TRUE AS in_top FROM base${cmp ? " WHERE period = 'current'" : ""}\n  GROUP BY ${dcols.join(", ")}\n  ORDER BY sum(v) DESC, ${dcols.join(", ")}\n  LIMIT ${num(q.topN)}\n)`;
    const on = dcols.map((c) => `b.${c} IS NOT DISTINCT FROM k.${c}`).join(" AND ");
    const joined = `joined AS (\n  SELECT ${[
      ...outKeys.map((k) => `b.${k}`),
      ...dcols.map((c) => `CASE WHEN k.in_top THEN b.${c} END AS ${c}`),
      "k.in_top IS NULL AS other",
      "b.v",
    ].join(", ")}\n  FROM base b LEFT JOIN top k ON ${on}\n)`;
    const select = [...outKeys, ...dims.map((d) => `d_${d} AS ${d}`), "other", `${value} AS value`];
    const group = [...outKeys, ...dcols, "other"];
    sql = `WITH ${baseCte},\n${top},\n${joined},\nres AS (\n  SELECT ${select.join(", ")}\n  FROM joined\n  GROUP BY ${group.join(", ")}\n)`;
    rest = [...dims, "other"];
  } else {
    const select = [...outKeys, ...dims.map((d) => `d_${d} AS ${d}`), `${value} AS value`];
    const group = [...outKeys, ...dims.map((d) => `d_${d}`)];
    sql = `WITH ${baseCte},\nres AS (\n  SELECT ${select.join(", ")}\n  FROM base${group.length ? `\n  GROUP BY ${group.join(", ")}` : ""}\n)`;
    rest = [...dims];
  }
  const order = [...outKeys, ...(q.topN !== undefined ? ["other"] : []), "value DESC", ...dims].join(", ");
  sql += `\nSELECT * FROM res\nORDER BY ${order}`;
  const nBuckets = len / span;
  return {
    sql,
    table: `${lake.catalog}.${lake.schema}.${lake.table}`,
    startMs: start,
    endMs: end,
    resolutionMs: span,
    dims,
    ...(series && nBuckets <= MAX_FILL_ROWS
      ? { fill: { startMs: start, endMs: end, stepMs: span, period: cmp, rest } }
      : {}),
  };
}

/** The lake table's CREATE statement (external, partitioned like the export), for the docs and the script. */
export function lakeTableDdl(lake: LakeTable, location: string): string {
  const type = (k: ColumnKind): string =>
    k === "u8" || k === "u16"
      ? "INTEGER"
      : k === "u32" || k === "u64" || k === "mac"
        ? "BIGINT"
        : k === "time"
          ? "TIMESTAMP(3)"
          : "VARCHAR";
  const cols = FLOW_COLUMNS.map((c) => `  ${c.name} ${type(c.kind)}`);
  cols.push(`  "date" VARCHAR`, `  "hour" VARCHAR`);
  return `CREATE TABLE IF NOT EXISTS ${trinoIdent(lake.catalog)}.${trinoIdent(lake.schema)}.${trinoIdent(lake.table)} (\n${cols.join(",\n")}\n)\nWITH (format = 'PARQUET', external_location = ${trinoString(location)}, partitioned_by = ARRAY['date', 'hour'])`;
}
