// Structured flow query → one Trino statement over the Hive table of the
// Parquet export (src/store/export.ts: Hive layout date=/hour=, lake types).
//
// The same query as the DuckDB planner (src/query/planner/planner.ts) with the
// same answer shape, written by the planner itself through the Trino
// dialect below rather than rewritten from DuckDB's text, because the lake
// differs in ways a rewrite would get wrong:
//   - one table, every flow (no rollup tiers, no retention cut): the plan's
//     range, resolution and validation are the planner's over the flows
//     alone, so both engines bucket and align identically;
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
//
// The statement and the filter walk are shared (planFlowQueryIn,
// src/query/filter/sql.ts): this file supplies only the Trino dialect and the
// lake table's mapping.
import { FLOW_COLUMNS, type ColumnKind } from "../../schema.js";
import type { FilterNode } from "../filter/ast.js";
import { filterToSql, type FilterDialect, type FilterParam, type IpColumnSql } from "../filter/sql.js";
import type { PlanDialect } from "../planner/dialect.js";
import { MAX_FILL_ROWS, planFlowQueryIn, type FlowQuery } from "../planner/planner.js";
import { defaultStoreConfig } from "../../store/config.js";
import { SCALE_SQL } from "../../store/rollups.js";
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

/** A value inlined as a literal: only numbers, parsed addresses and quoted strings reach the text. */
function literal(v: FilterParam): string {
  if (typeof v === "number") return num(v);
  if (typeof v === "string") return trinoString(v);
  if (v instanceof Uint8Array) return ipLiteral(v);
  throw new Error(`no Trino literal for ${typeof v}`);
}

/** ip columns are text in the lake: compared as IPADDRESS, which orders like the store's bytes. */
const lakeIp: IpColumnSql = {
  ipEquals: (c, b, p) => `${ipColumn(c)} = ${p(b)}`,
  ipInRange: (c, lo, hi, p) => `${ipColumn(c)} BETWEEN ${p(lo)} AND ${p(hi)}`,
};

/** The nfdump filter over the lake's columns (src/query/filter/sql.ts's walk) in Trino's spelling. */
const trinoFilter: FilterDialect = {
  value: (v) => literal(v),
  ip: lakeIp,
  notEqual: "<>",
  // Trino has no `&` operator.
  bitAnd: (a, b) => `bitwise_and(${a}, ${b})`,
  // The export writes absent strings as ''.
  text: (col) => col,
  durationMs: (start, end) => `date_diff('millisecond', ${start}, ${end})`,
};

const EPOCH = "TIMESTAMP '1970-01-01 00:00:00.000'";

/** Trino over the lake table `lake` (its columns: lakeTableDdl). */
export function trinoDialect(lake: LakeTable): PlanDialect {
  return {
    ...trinoFilter,
    // The lake is the flows alone (no rollups, no top-K lists).
    rollups: false,
    flowsTable: `${trinoIdent(lake.catalog)}.${trinoIdent(lake.schema)}.${trinoIdent(lake.table)}`,
    flowsTime: (ms) => trinoTimestamp(ms),
    flowsPrune: partitionSql,
    // DECIMAL(38,0) as DuckDB's HUGEINT: Trino sends decimals as exact strings, bigints as JSON numbers that lose precision past 2^53.
    flowsSum: (m) => `sum(CAST(${m} AS DECIMAL(38,0)) * ${SCALE_SQL})`,
    epochMs: (col) => `date_diff('millisecond', ${EPOCH}, ${col})`,
    bigint: (v) => num(v),
    intDiv: (a, b) => `(${a} / ${b})`,
    toDouble: (x) => `CAST(${x} AS DOUBLE)`,
    // Addresses are already text (nagare_ip's) in the lake.
    ipText: (col) => col,
    // No GROUP BY output aliases in Trino: the select-list positions.
    groupBy: (names) => names.map((_, i) => String(i + 1)),
    fillInSql: false,
  };
}

/** The nfdump filter AST as a Trino boolean expression over the lake's columns. */
export function trinoFilterSql(node: FilterNode): string {
  return filterToSql(node, { dialect: trinoFilter }).sql;
}

/** Partition bounds of [lo, hi): the "date" values it touches (hours are pruned by the timestamp bound within a day). */
function partitionSql(lo: number, hi: number): string {
  const d0 = new Date(lo).toISOString().slice(0, 10);
  const d1 = new Date(hi - 1).toISOString().slice(0, 10);
  return `"date" BETWEEN '${d0}' AND '${d1}'`;
}

/** Plan `q` for Trino over `lake`; throws PlanError / FilterError as the DuckDB planner does. */
export function planTrinoFlowQuery(q: FlowQuery, lake: LakeTable, now: number = Date.now()): TrinoFlowPlan {
  // Validation, resolution, the aligned range and the statement: the DuckDB planner's, over the flows alone.
  const plan = planFlowQueryIn(trinoDialect(lake), q, now, LAKE_RETENTION, new Map());
  const { startMs, endMs, resolutionMs } = plan;
  const series = q.shape === "timeseries";
  return {
    sql: plan.sql,
    table: `${lake.catalog}.${lake.schema}.${lake.table}`,
    startMs,
    endMs,
    resolutionMs,
    dims: [...q.dimensions],
    ...(series && (endMs - startMs) / resolutionMs <= MAX_FILL_ROWS
      ? {
          fill: {
            startMs,
            endMs,
            stepMs: resolutionMs,
            period: q.comparePrevious === true,
            rest: plan.rest,
          },
        }
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
