// The Trino query engine: the explorer's structured flow queries (POST
// /api/v1/flows/query) answered by a Trino/Presto cluster over the Hive table
// of the Parquet export instead of the embedded DuckDB (docs/trino.md "Nagare
// on a Trino cluster").
//
// Answers have the DuckDB runner's exact shape (src/api/query.ts
// FlowQueryRunner.run): {table, resolutionMs, startMs, endMs, columns, rows},
// column types named as DuckDB names them and values converted as
// JsonDuckDBValueConverter converts them (BIGINT/HUGEINT/UBIGINT → string,
// smaller integers → number, DOUBLE → number), so the UI and API clients
// cannot tell the engines apart. Time series are zero-filled here (see
// ./trino-sql.ts).
import type { DuckDBInstance } from "@duckdb/node-api";
import { FlowQueryRunner, type ApiAnswer } from "../../api/query.js";
import { FLOW_COLUMNS, type ColumnKind } from "../../schema.js";
import type { FlowQuery } from "../planner/index.js";
import type { ValuesQuery } from "../planner/values.js";
import { TrinoClient, TrinoError, type TrinoColumn, type TrinoServerConfig } from "./trino-client.js";
import { planTrinoFlowQuery, type LakeTable, type TrinoFlowPlan } from "./trino-sql.js";

const KIND = new Map<string, ColumnKind>(FLOW_COLUMNS.map((c) => [c.name, c.kind]));

/** DuckDB's type name of a dimension column in the DuckDB runner's answer. */
const DUCK_DIM_TYPE: Record<ColumnKind, string> = {
  time: "TIMESTAMP_MS",
  u8: "UTINYINT",
  u16: "USMALLINT",
  u32: "UINTEGER",
  u64: "UBIGINT",
  mac: "UBIGINT",
  ip: "VARCHAR",
  string: "VARCHAR",
};

type Conv = (v: unknown) => unknown;
const asString: Conv = (v) => (v === null || v === undefined ? null : String(v));
const asNumber: Conv = (v) => (v === null || v === undefined ? null : Number(v));
const asBool: Conv = (v) => (v === null || v === undefined ? null : Boolean(v));

/** Column name/type and value conversion of one Trino output column, as the DuckDB runner would give it. */
function columnOf(c: TrinoColumn): { name: string; type: string; conv: Conv } {
  if (c.name === "period") return { name: c.name, type: "VARCHAR", conv: asString };
  if (c.name === "time_ms") return { name: c.name, type: "BIGINT", conv: asString };
  if (c.name === "other") return { name: c.name, type: "BOOLEAN", conv: asBool };
  if (c.name === "value") {
    return c.type === "double"
      ? { name: c.name, type: "DOUBLE", conv: asNumber }
      : { name: c.name, type: "HUGEINT", conv: asString };
  }
  const kind = KIND.get(c.name) ?? "string";
  const type = DUCK_DIM_TYPE[kind];
  return { name: c.name, type, conv: /^(UTINYINT|USMALLINT|UINTEGER)$/.test(type) ? asNumber : asString };
}

/**
 * Zero-fill a time series answer (sorted rows → every bucket of the range for
 * every series seen, 0 where it had no flow), in the DuckDB plan's row order:
 * the SQL fill of src/query/planner/planner.ts, done on the client.
 */
export function fillTrinoSeries(
  fill: NonNullable<TrinoFlowPlan["fill"]>,
  columns: readonly string[],
  rows: readonly unknown[][],
  zero: unknown,
): unknown[][] {
  const ti = columns.indexOf("time_ms");
  const vi = columns.indexOf("value");
  const pi = fill.period ? columns.indexOf("period") : -1;
  const ri = fill.rest.map((r) => columns.indexOf(r));
  const keyOf = (row: readonly unknown[]): string =>
    JSON.stringify([pi >= 0 ? row[pi] : null, ...ri.map((i) => row[i])]);
  const byKey = new Map<string, Map<number, unknown[]>>();
  const series = new Map<string, unknown[]>();
  for (const row of rows) {
    const k = keyOf(row);
    const restKey = JSON.stringify(ri.map((i) => row[i]));
    if (!series.has(restKey))
      series.set(
        restKey,
        ri.map((i) => row[i]),
      );
    let m = byKey.get(k);
    if (!m) byKey.set(k, (m = new Map()));
    m.set(Number(row[ti]), row as unknown[]);
  }
  // Series = period × every rest tuple seen anywhere (the SQL's keys CTE); with no rest, the one series.
  const periods = fill.period ? ["current", "previous"] : [null];
  const rests = ri.length ? [...series.values()] : [[]];
  const out: unknown[][] = [];
  for (const p of periods) {
    for (const r of rests) {
      const k = JSON.stringify([p, ...r]);
      const m = byKey.get(k);
      for (let t = fill.startMs; t < fill.endMs; t += fill.stepMs) {
        const have = m?.get(t);
        if (have) {
          out.push(have);
          continue;
        }
        const row: unknown[] = new Array<unknown>(columns.length).fill(null);
        if (pi >= 0) row[pi] = p;
        row[ti] = String(t);
        ri.forEach((i, j) => (row[i] = r[j]));
        row[vi] = zero;
        out.push(row);
      }
    }
  }
  // The SQL's ORDER BY: period, time_ms, other, value DESC, dimensions (NULLs last).
  const oi = columns.indexOf("other");
  const dimIdx = fill.rest.filter((r) => r !== "other").map((r) => columns.indexOf(r));
  const cmpNullsLast = (a: unknown, b: unknown): number => {
    if (a === b) return 0;
    if (a === null) return 1;
    if (b === null) return -1;
    if (typeof a === "number" && typeof b === "number") return a - b;
    return String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0;
  };
  const val = (v: unknown): number => Number(v);
  out.sort(
    (a, b) =>
      (pi >= 0 ? cmpNullsLast(a[pi], b[pi]) : 0) ||
      Number(a[ti]) - Number(b[ti]) ||
      (oi >= 0 ? Number(a[oi]) - Number(b[oi]) : 0) ||
      val(b[vi]) - val(a[vi]) ||
      dimIdx.reduce((acc, i) => acc || cmpNullsLast(a[i], b[i]), 0),
  );
  return out;
}

export type TrinoEngineConfig = Omit<TrinoServerConfig, "catalog" | "schema"> & LakeTable;

/** Runs flow queries on Trino; answers as FlowQueryRunner.run does. */
export class TrinoQueryEngine {
  readonly client: TrinoClient;
  constructor(readonly config: TrinoEngineConfig) {
    this.client = new TrinoClient(config);
  }

  async run(q: FlowQuery): Promise<ApiAnswer> {
    const plan = planTrinoFlowQuery(q, this.config);
    const r = await this.client.query(plan.sql);
    const cols = r.columns.map(columnOf);
    let rows = r.rows.map((row) => row.map((v, i) => cols[i]!.conv(v)));
    const names = cols.map((c) => c.name);
    if (plan.fill) {
      const zero = cols.find((c) => c.name === "value")?.type === "DOUBLE" ? 0 : "0";
      rows = fillTrinoSeries(plan.fill, names, rows, zero);
    }
    return {
      status: 200,
      body: {
        table: plan.table,
        resolutionMs: plan.resolutionMs,
        startMs: plan.startMs,
        endMs: plan.endMs,
        engine: "trino",
        columns: cols.map(({ name, type }) => ({ name, type })),
        rows,
      },
    };
  }
}

/** A Trino failure as an API answer (502: the engine behind Nagare failed, not the request). */
export function trinoErrorAnswer(err: TrinoError): ApiAnswer {
  const status =
    err.errorName === "UNREACHABLE" || err.errorName === "CERTIFICATE" || err.errorName.startsWith("HTTP_")
      ? 502
      : 400;
  return { status, body: { error: `trino: ${err.message}`, code: err.errorName } };
}

/**
 * The FlowQueryRunner the API and dashboards use, with flow queries sent to
 * Trino. A subclass so every caller typed on FlowQueryRunner (query routes,
 * content routes) takes it unchanged; `values` (the filter box's value
 * completion) stays on the local store, which holds the recent flows that
 * completion is about.
 */
export class TrinoFlowQueryRunner extends FlowQueryRunner {
  readonly engine: TrinoQueryEngine;
  constructor(db: () => DuckDBInstance, timeoutMs: number, config: TrinoEngineConfig) {
    super(db, timeoutMs);
    this.engine = new TrinoQueryEngine({ ...config, timeoutMs });
  }

  override async run(q: FlowQuery): Promise<ApiAnswer> {
    try {
      return await this.engine.run(q);
    } catch (err) {
      if (err instanceof TrinoError) return trinoErrorAnswer(err);
      throw err;
    }
  }

  override async values(q: ValuesQuery): Promise<ApiAnswer> {
    return super.values(q);
  }

  /** Also closes the engine client's https Agent (query.engine.trino.ca). */
  override close(): void {
    super.close();
    this.engine.client.close();
  }
}
