// Issue 5 content types: saved queries, visualizations, dashboards, share
// links. This file is the server half of the shared contract; web/src/types.ts
// is a copy for the browser bundle (DOM-free) — keep the two in sync.

export type ParamType = "text" | "number" | "list" | "date" | "daterange";

/** A date value: ISO-8601 string or relative "now", "now-24h", "now-7d". */
export type ParamValue = string | number | string[] | { start: string; end: string };

export interface ParamDef {
  name: string;
  type: ParamType;
  label?: string;
  default?: ParamValue;
  options?: string[];
  multi?: boolean;
}

export type VizType =
  "table" | "line" | "area" | "bar" | "stackedbar" | "pie" | "scatter" | "heatmap" | "counter" | "sankey";

export interface VizOptions {
  x?: string;
  y?: string[];
  series?: string;
  value?: string;
  source?: string;
  target?: string;
  label?: string;
  fillGaps?: boolean;
  stepMs?: number;
  counterRow?: number;
  format?: "number" | "bytes" | "bps" | "percent";
}

export interface Viz {
  id: string;
  type: VizType;
  name: string;
  options: VizOptions;
}

export interface SavedQuery {
  id: string;
  name: string;
  description: string;
  sql: string;
  tags: string[];
  params: ParamDef[];
  visualizations: Viz[];
  schedule: { intervalSec: number } | null;
  version: number;
  createdBy: string;
  createdAt: string;
  updatedBy: string;
  updatedAt: string;
  forkedFrom: string | null;
}

/** GET /api/v1/queries list entry. */
export interface SavedQuerySummary {
  id: string;
  name: string;
  description: string;
  tags: string[];
  version: number;
  updatedAt: string;
  updatedBy: string;
}

/** GET /api/v1/queries/:id/versions entry (newest first). */
export interface VersionInfo {
  version: number;
  updatedAt: string;
  updatedBy: string;
  name: string;
}

export type WidgetType = "viz" | "text" | "flow" | "live";

export interface FlowWidgetSpec {
  dimensions: string[];
  metric: "bytes" | "packets" | "flows" | "bps" | "pps";
  topN?: number;
  shape: "timeseries" | "table";
  chart: "area" | "lines" | "table" | "sankey" | "pie" | "bar";
  filter?: string;
  /** Draw the anomaly score ("異常度") under an area or lines chart (issue 6, web/src/anomaly.ts). */
  anomaly?: boolean;
}

export interface Widget {
  id: string;
  type: WidgetType;
  title: string;
  /** Grid units, 12 columns. */
  x: number;
  y: number;
  w: number;
  h: number;
  /** viz: the saved query and which of its visualizations. */
  queryId?: string;
  vizId?: string;
  /** viz: dashboard param name per query param. */
  paramMap?: Record<string, string>;
  /** text: plain text / minimal markdown (escaped, never innerHTML of user text). */
  text?: string;
  /** flow: a structured flow query over the dashboard's time range + filter. */
  flow?: FlowWidgetSpec;
  /** live: the live per-second chart stacked by this dimension. */
  liveDim?: string;
}

export interface Dashboard {
  id: string;
  name: string;
  tags: string[];
  timeRange: { start: string; end: string };
  refreshSec: number;
  params: ParamDef[];
  filter: string;
  widgets: Widget[];
  version: number;
  createdBy: string;
  updatedAt: string;
  updatedBy: string;
}

/** GET /api/v1/dashboards list entry. */
export interface DashboardSummary {
  id: string;
  name: string;
  tags: string[];
  version: number;
  updatedAt: string;
  updatedBy: string;
}

export interface ShareLink {
  token: string;
  dashboardId: string;
  createdBy: string;
  createdAt: string;
  revoked: boolean;
}

/** GET /api/v1/queries/:id/results/latest */
export interface LatestResult {
  ranAt: string;
  columns: { name: string; type: string }[];
  rows: unknown[][];
  error: string | null;
}

/** GET /api/v1/share/:token — queries carry no sql. */
export interface SharedDashboard {
  dashboard: Dashboard;
  queries: Record<string, Omit<SavedQuery, "sql">>;
}

/** Every visualization type, in the order the UI offers them. */
export const VIZ_TYPES: readonly VizType[] = [
  "table",
  "line",
  "area",
  "bar",
  "stackedbar",
  "pie",
  "scatter",
  "heatmap",
  "counter",
  "sankey",
];
