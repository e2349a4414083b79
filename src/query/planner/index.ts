// Structured flow query planner. See docs/query.md.
export {
  MAX_POINTS,
  PlanError,
  filterColumns,
  planFlowQuery,
  type FlowPlan,
  type FlowQuery,
  type Metric,
  type PlanErrorCode,
  type Resolution,
  type TopKFast,
} from "./planner.js";
export { type TopKPairs } from "./topk.js";
