// What the flow query SQL of ./planner.ts spells differently per engine. The
// planner builds one statement shape (per-segment sums in `base`, TopN with
// "other", rates, ordering) for every engine; a PlanDialect supplies the
// pieces that differ: how values reach the text, the flows table and its time
// bounds, exact sums, epoch and bucket arithmetic, casts, how addresses come
// out, GROUP BY keys, and whether series are zero-filled in SQL. The filter
// part is the FilterDialect it extends (src/query/filter/sql.ts).
//
// duckdbStore is the store's (src/store/schema.ts); the Trino engine's lives
// with its lake table mapping in src/query/engine/trino-sql.ts.
import { SCALE_SQL } from "../../store/rollups.js";
import { LIVE_VIEW } from "../../store/live.js";
import { RAW_TABLE, rawTimeSql } from "../../store/schema.js";
import { duckdbFilter, type FilterDialect, type FilterParam } from "../filter/sql.js";

export interface PlanDialect extends FilterDialect {
  /**
   * The engine has the store's rollup tables and per-day top-K lists
   * (src/store/rollups.ts, read with DuckDB's own SQL); without them every
   * query reads the flows table alone.
   */
  rollups: boolean;
  /** The flows table as written after FROM (the store: flows_live, flows_raw with the rows not yet durable). */
  flowsTable: string;
  /** Its name in plans (QueryPlan.table), if not flowsTable. */
  flowsLabel?: string;
  /** A bound on the flows table's time_received for epoch milliseconds `ms`. */
  flowsTime(ms: number, params: FilterParam[]): string;
  /** More predicates selecting [lo, hi) of the flows table (partition pruning), if the layout has any. */
  flowsPrune?(lo: number, hi: number): string;
  /** Sum of a counter column over flows, scaled by sampling as the store's rollups are, in an exact type that cannot overflow. */
  flowsSum(counter: string): string;
  /** Epoch milliseconds (an integer) of a time column, independent of the session time zone. */
  epochMs(col: string): string;
  /** A BIGINT value (milliseconds). */
  bigint(v: number, params: FilterParam[]): string;
  /** Integer division of non-negative integers. */
  intDiv(a: string, b: string): string;
  /** An exact number as DOUBLE. */
  toDouble(x: string): string;
  /** An ip column of the statement as its output text. */
  ipText(col: string): string;
  /** GROUP BY items for the first `names.length` select-list items, which carry the output aliases `names`. */
  groupBy(names: readonly string[]): string[];
  /** Zero-fill time series in the statement; otherwise the engine fills the sparse rows (DialectPlan.rest). */
  fillInSql: boolean;
}

/** DuckDB over the store: `?` parameters, TIMESTAMP_MS time columns, HUGEINT sums, SQL zero fill. */
export const duckdbStore: PlanDialect = {
  ...duckdbFilter,
  durationMs: (start, end) => `(epoch_ms(${end}) - epoch_ms(${start}))`,
  rollups: true,
  // Rows are visible in flows_live before their durable commit into flows_raw (src/store/live.ts).
  flowsTable: LIVE_VIEW,
  flowsLabel: RAW_TABLE,
  // flows_raw's time_received is TIMESTAMP_MS: bound it with TIMESTAMP_MS values, or the column is cast and nothing is pruned.
  flowsTime: (ms, params) => rawTimeSql(duckdbFilter.value(ms, params)),
  flowsSum: (m) => `sum(${m}::HUGEINT * ${SCALE_SQL})`,
  epochMs: (col) => `epoch_ms(${col})`,
  bigint: (v, params) => `${duckdbFilter.value(v, params)}::BIGINT`,
  intDiv: (a, b) => `(${a} // ${b})`,
  toDouble: (x) => `${x}::DOUBLE`,
  // Addresses are UHUGEINT in the store; nagare_ip is the store's macro writing them as text.
  ipText: (col) => `nagare_ip(${col})`,
  groupBy: (names) => [...names],
  fillInSql: true,
};
