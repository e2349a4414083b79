// Structured flow query planner. See docs/query.md.
export {
  MAX_POINTS,
  PlanError,
  filterColumns,
  fillSeries,
  planFlowQuery,
  planFlowQueryIn,
  type DialectPlan,
  type FlowPlan,
  type FlowQuery,
  type Metric,
  type PlanErrorCode,
  type Resolution,
  type SeriesFill,
  type TopKFast,
} from "./planner.js";
export { type TopKPairs } from "./topk.js";
export { duckdbStore, type PlanDialect } from "./dialect.js";
