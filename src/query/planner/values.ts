// Value suggestions for one flow column (GET /api/v1/flows/values, the
// explorer's filter completion): the most frequent values by bytes over a time
// range, optionally only those whose text starts with a prefix.
//
// The statement is the planner's own table query of that single column
// (planFlowQuery: the coarsest tables that hold the column and the range,
// bytes scaled by sampling, ip columns rendered as text), wrapped to keep the
// values matching the prefix and the first `limit` of them. So suggestions
// come from exactly the tables and sums a flow query would use. As in the
// planner, only names from fixed tables reach the SQL text; times, prefix and
// limit are `?` parameters.
import { FLOW_COLUMNS, type ColumnKind } from "../../schema.js";
import { PROTOCOL_NAMES } from "../filter/complete.js";
import { PlanError, planFlowQuery, type FlowQuery } from "./planner.js";

export interface ValuesQuery {
  /** A schema column (not a time or MAC column). */
  column: string;
  /** Only values whose text form starts with this (case-insensitive); protocol also matches names ("tc" → 6). */
  prefix?: string;
  /** Epoch milliseconds or an ISO 8601 string; inclusive. */
  start: number | string;
  /** Epoch milliseconds or an ISO 8601 string; exclusive. */
  end: number | string;
  /** At most this many values (1-1000, default 20). */
  limit?: number;
  /** nfdump filter: only values of the flows it selects. */
  filter?: string;
}

export interface ValuesPlan {
  sql: string;
  /** Values for the `?` placeholders in order (duckdbParams binds them). */
  params: unknown[];
  /** The table(s) read, as the planner names them. */
  table: string;
}

export const DEFAULT_VALUES_LIMIT = 20;
export const MAX_VALUES_LIMIT = 1000;

const KIND = new Map<string, ColumnKind>(FLOW_COLUMNS.map((c) => [c.name, c.kind]));

/** planFlowQuery's arguments after the query (now, retention, …), passed through unchanged. */
type PlanArgs = Parameters<typeof planFlowQuery> extends [FlowQuery, ...infer R] ? R : never;

/** Plan the values query; the arguments after `q` are planFlowQuery's (now, retention …). */
export function planValues(q: ValuesQuery, ...args: PlanArgs): ValuesPlan {
  const kind = KIND.get(q.column);
  if (kind === undefined || kind === "time" || kind === "mac") {
    throw new PlanError(
      "unknown_dimension",
      kind === undefined
        ? `unknown column ${JSON.stringify(q.column)} (not a flow column)`
        : `column ${JSON.stringify(q.column)} has no value suggestions (${kind} column)`,
    );
  }
  const limit = q.limit ?? DEFAULT_VALUES_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_VALUES_LIMIT)
    throw new PlanError("bad_topn", `limit ${String(limit)} must be an integer in 1-${MAX_VALUES_LIMIT}`);

  const plan = planFlowQuery(
    {
      start: q.start,
      end: q.end,
      dimensions: [q.column],
      metric: "bytes",
      shape: "table",
      resolution: "auto",
      filter: q.filter,
    },
    ...args,
  );
  // The planner's result has the column (ip columns already as text) and value.
  const c = q.column;
  const params: unknown[] = [...plan.params];
  let where = "";
  const prefix = (q.prefix ?? "").trim().toLowerCase();
  if (prefix !== "") {
    const named =
      c === "protocol" || c === "inner_protocol"
        ? Object.entries(PROTOCOL_NAMES)
            .filter(([n]) => n.startsWith(prefix))
            .map(([, v]) => v)
        : [];
    // starts_with compares text exactly: no LIKE, so % and _ in the prefix are plain characters.
    where = `\nWHERE starts_with(lower(CAST(${c} AS VARCHAR)), ?)${named.map(() => ` OR ${c} = ?`).join("")}`;
    params.push(prefix, ...named);
  }
  params.push(limit);
  const sql =
    `SELECT ${c} AS value, value::DOUBLE AS bytes\nFROM (\n${plan.sql}\n) planned${where}\n` +
    `ORDER BY bytes DESC, ${c}\nLIMIT ?`;
  return { sql, params, table: plan.table };
}
