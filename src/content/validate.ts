// Checks of request bodies for saved queries and dashboards. Every field is
// checked for type and size and copied into a fresh object (unknown keys are
// dropped), so what is stored and later served is exactly the contract's
// shape, whatever a client sent. Errors are ContentError(400) naming the field.
import { ParamError, resolveDate, validateParamDefs } from "./params.js";
import type { Dashboard, FlowWidgetSpec, SavedQuery, Viz, VizOptions, Widget, WidgetType } from "./types.js";
import { VIZ_TYPES } from "./types.js";

/** A content request the caller got wrong (or a missing object): its HTTP status and message. */
export class ContentError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export const ID_RE = /^[A-Za-z0-9_-]{1,64}$/;
const WIDGET_TYPES: readonly WidgetType[] = ["viz", "text", "flow", "live"];
const FLOW_METRICS = ["bytes", "packets", "flows", "bps", "pps"] as const;
const FLOW_CHARTS = ["area", "lines", "table", "sankey", "pie", "bar"] as const;
const FORMATS = ["number", "bytes", "bps", "percent"] as const;
/** Shortest scheduled refresh: a saved query must not turn into a load generator. */
export const MIN_SCHEDULE_SEC = 60;

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function bad(msg: string): never {
  throw new ContentError(400, msg);
}

function str(v: unknown, key: string, max: number, min = 0): string {
  if (typeof v !== "string") bad(`${key} must be a string`);
  if (v.length < min) bad(min === 1 ? `${key} must not be empty` : `${key} is too short`);
  if (v.length > max) bad(`${key} is longer than ${max} characters`);
  return v;
}

function int(v: unknown, key: string, min: number, max: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max)
    bad(`${key} must be an integer in ${min}-${max}`);
  return v;
}

function oneOf<T extends string>(v: unknown, key: string, allowed: readonly T[]): T {
  if (!allowed.includes(v as T)) bad(`${key} must be one of ${allowed.join(", ")}`);
  return v as T;
}

function id(v: unknown, key: string): string {
  if (typeof v !== "string" || !ID_RE.test(v)) bad(`${key} must be 1-64 characters of A-Z a-z 0-9 _ -`);
  return v;
}

export function tags(v: unknown): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.length > 50) bad("tags must be an array of at most 50 strings");
  const out = new Set<string>();
  for (const t of v) {
    const s = str(t, "tags[]", 50).trim();
    if (s) out.add(s);
  }
  return [...out];
}

function params(v: unknown): SavedQuery["params"] {
  try {
    return validateParamDefs(v);
  } catch (err) {
    if (err instanceof ParamError) bad(err.message);
    throw err;
  }
}

function vizOptions(v: unknown, key: string): VizOptions {
  if (v === undefined || v === null) return {};
  if (!isObj(v)) bad(`${key} must be an object`);
  const o: VizOptions = {};
  for (const k of ["x", "series", "value", "source", "target", "label"] as const) {
    if (v[k] !== undefined) o[k] = str(v[k], `${key}.${k}`, 200);
  }
  if (v.y !== undefined) {
    if (!Array.isArray(v.y) || v.y.length > 50) bad(`${key}.y must be an array of column names`);
    o.y = v.y.map((c) => str(c, `${key}.y[]`, 200));
  }
  if (v.fillGaps !== undefined) {
    if (typeof v.fillGaps !== "boolean") bad(`${key}.fillGaps must be true or false`);
    o.fillGaps = v.fillGaps;
  }
  if (v.stepMs !== undefined) o.stepMs = int(v.stepMs, `${key}.stepMs`, 1, 366 * 86_400_000);
  if (v.counterRow !== undefined) o.counterRow = int(v.counterRow, `${key}.counterRow`, 0, 1_000_000);
  if (v.format !== undefined) o.format = oneOf(v.format, `${key}.format`, FORMATS);
  return o;
}

function visualizations(v: unknown): Viz[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.length > 50) bad("visualizations must be an array of at most 50");
  const seen = new Set<string>();
  return v.map((z: unknown, i) => {
    const key = `visualizations[${i}]`;
    if (!isObj(z)) bad(`${key} must be an object`);
    const vid = id(z.id, `${key}.id`);
    if (seen.has(vid)) bad(`${key}.id ${vid} is used twice`);
    seen.add(vid);
    return {
      id: vid,
      type: oneOf(z.type, `${key}.type`, VIZ_TYPES),
      name: str(z.name ?? "", `${key}.name`, 200),
      options: vizOptions(z.options, `${key}.options`),
    };
  });
}

function schedule(v: unknown): SavedQuery["schedule"] {
  if (v === undefined || v === null) return null;
  if (!isObj(v)) bad("schedule must be null or {intervalSec}");
  return { intervalSec: int(v.intervalSec, "schedule.intervalSec", MIN_SCHEDULE_SEC, 7 * 86_400) };
}

/** The editable fields of a saved query. */
export type QueryFields = Pick<
  SavedQuery,
  "name" | "description" | "sql" | "tags" | "params" | "visualizations" | "schedule"
>;

/**
 * The editable fields from `body` over `base` (a PUT changes only the fields
 * it names; a POST has no base and needs name and sql).
 */
export function queryFields(body: Obj, base?: QueryFields): QueryFields {
  const has = (k: string): boolean => body[k] !== undefined;
  if (!base && (!has("name") || !has("sql"))) bad("name and sql are required");
  return {
    name: has("name") ? str(body.name, "name", 200, 1) : base!.name,
    description: has("description")
      ? str(body.description, "description", 10_000)
      : (base?.description ?? ""),
    sql: has("sql") ? str(body.sql, "sql", 100_000, 1) : base!.sql,
    tags: has("tags") ? tags(body.tags) : (base?.tags ?? []),
    params: has("params") ? params(body.params) : (base?.params ?? []),
    visualizations: has("visualizations")
      ? visualizations(body.visualizations)
      : (base?.visualizations ?? []),
    schedule: body.schedule !== undefined ? schedule(body.schedule) : (base?.schedule ?? null),
  };
}

function timeValue(v: unknown, key: string): string {
  const s = str(v, key, 64, 1);
  try {
    resolveDate(s, Date.now(), key);
  } catch (err) {
    if (err instanceof ParamError) bad(err.message);
    throw err;
  }
  return s;
}

function flowSpec(v: unknown, key: string): FlowWidgetSpec {
  if (!isObj(v)) bad(`${key} must be an object`);
  if (!Array.isArray(v.dimensions) || v.dimensions.length > 10)
    bad(`${key}.dimensions must be an array of at most 10`);
  const f: FlowWidgetSpec = {
    dimensions: v.dimensions.map((d) => str(d, `${key}.dimensions[]`, 64, 1)),
    metric: oneOf(v.metric, `${key}.metric`, FLOW_METRICS),
    shape: oneOf(v.shape, `${key}.shape`, ["timeseries", "table"] as const),
    chart: oneOf(v.chart, `${key}.chart`, FLOW_CHARTS),
  };
  if (v.topN !== undefined && v.topN !== null) f.topN = int(v.topN, `${key}.topN`, 1, 1000);
  if (v.filter !== undefined && v.filter !== null) f.filter = str(v.filter, `${key}.filter`, 10_000);
  if (v.anomaly !== undefined && v.anomaly !== null) {
    if (typeof v.anomaly !== "boolean") bad(`${key}.anomaly must be true or false`);
    if (v.anomaly) f.anomaly = true;
  }
  return f;
}

function widgets(v: unknown): Widget[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.length > 100) bad("widgets must be an array of at most 100");
  const seen = new Set<string>();
  return v.map((w: unknown, i) => {
    const key = `widgets[${i}]`;
    if (!isObj(w)) bad(`${key} must be an object`);
    const wid = id(w.id, `${key}.id`);
    if (seen.has(wid)) bad(`${key}.id ${wid} is used twice`);
    seen.add(wid);
    const out: Widget = {
      id: wid,
      type: oneOf(w.type, `${key}.type`, WIDGET_TYPES),
      title: str(w.title ?? "", `${key}.title`, 200),
      x: int(w.x, `${key}.x`, 0, 11),
      y: int(w.y, `${key}.y`, 0, 10_000),
      w: int(w.w, `${key}.w`, 1, 12),
      h: int(w.h, `${key}.h`, 1, 100),
    };
    if (out.x + out.w > 12) bad(`${key}: x + w must be at most 12 (the grid has 12 columns)`);
    if (out.type === "viz") {
      out.queryId = id(w.queryId, `${key}.queryId`);
      if (w.vizId !== undefined && w.vizId !== null) out.vizId = id(w.vizId, `${key}.vizId`);
      if (w.paramMap !== undefined && w.paramMap !== null) {
        if (!isObj(w.paramMap)) bad(`${key}.paramMap must be an object`);
        const m: Record<string, string> = {};
        for (const [k, val] of Object.entries(w.paramMap))
          m[str(k, `${key}.paramMap key`, 64, 1)] = str(val, `${key}.paramMap.${k}`, 64, 1);
        out.paramMap = m;
      }
    } else if (out.type === "text") {
      out.text = str(w.text ?? "", `${key}.text`, 20_000);
    } else if (out.type === "flow") {
      out.flow = flowSpec(w.flow, `${key}.flow`);
    } else {
      out.liveDim = str(w.liveDim ?? "protocol", `${key}.liveDim`, 64, 1);
    }
    return out;
  });
}

export type DashboardFields = Pick<
  Dashboard,
  "name" | "tags" | "timeRange" | "refreshSec" | "params" | "filter" | "widgets"
>;

export function dashboardFields(body: Obj, base?: DashboardFields): DashboardFields {
  const has = (k: string): boolean => body[k] !== undefined;
  if (!base && !has("name")) bad("name is required");
  let timeRange = base?.timeRange ?? { start: "now-6h", end: "now" };
  if (has("timeRange")) {
    const t = body.timeRange;
    if (!isObj(t)) bad("timeRange must be {start, end}");
    timeRange = { start: timeValue(t.start, "timeRange.start"), end: timeValue(t.end, "timeRange.end") };
  }
  return {
    name: has("name") ? str(body.name, "name", 200, 1) : base!.name,
    tags: has("tags") ? tags(body.tags) : (base?.tags ?? []),
    timeRange,
    refreshSec: has("refreshSec") ? int(body.refreshSec, "refreshSec", 0, 86_400) : (base?.refreshSec ?? 0),
    params: has("params") ? params(body.params) : (base?.params ?? []),
    filter: has("filter") ? str(body.filter, "filter", 10_000) : (base?.filter ?? ""),
    widgets: has("widgets") ? widgets(body.widgets) : (base?.widgets ?? []),
  };
}

/** baseVersion of a PUT: absent, or an integer. */
export function baseVersion(body: Obj): number | undefined {
  const v = body.baseVersion;
  if (v === undefined || v === null) return undefined;
  return int(v, "baseVersion", 1, Number.MAX_SAFE_INTEGER);
}
