// The DOM-free half of dashboards: time ranges, flow widget queries and how
// their answers become charts, and which values a saved query gets on a
// dashboard. Kept apart so node tests (test/dashboard-core.test.ts) can run
// it against real answers; the pages (dashboards.ts, widgets.ts,
// timerange.ts) add the DOM.
import type { FlowWidgetSpec, ParamDef, ParamValue, Viz, Widget } from "./types.js";
import { PROTOCOLS, formatValue, timeZoneLabel } from "./viz/data.js";

export interface Result {
  columns: { name: string; type: string }[];
  rows: unknown[][];
}

/** The flow query API's answer (POST /api/v1/flows/query). */
export { PROTOCOLS };

export interface TimeRange {
  start: string;
  end: string;
}

const UNIT_MS: Record<string, number> = {
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/** Relative presets offered by the picker: label → start (end is "now"). */
export const PRESETS: [string, string][] = [
  ["now-15m", "last 15 minutes"],
  ["now-1h", "last hour"],
  ["now-6h", "last 6 hours"],
  ["now-24h", "last 24 hours"],
  ["now-7d", "last 7 days"],
  ["now-30d", "last 30 days"],
];

/**
 * "now", "now-6h", "now+5m", an ISO-8601 date or epoch milliseconds → epoch ms.
 * NaN when the text is none of those (callers show it as an error; they do not guess).
 */
export function resolveTime(s: string, now = Date.now()): number {
  const t = s.trim();
  const rel = /^now(?:\s*([+-])\s*(\d+)\s*([smhdw]))?$/.exec(t);
  if (rel) {
    if (!rel[1]) return now;
    const ms = Number(rel[2]) * UNIT_MS[rel[3]!]!;
    return rel[1] === "-" ? now - ms : now + ms;
  }
  if (/^\d{10,}$/.test(t)) return Number(t);
  if (t === "") return NaN;
  // A date-time without a zone is UTC, as the server reads it (src/content/params.ts):
  // the same URL must mean the same instant in every browser.
  const zoned =
    /^\d{4}-\d{2}-\d{2}[T ]\d/.test(t) && !/(Z|[+-]\d{2}:?\d{2})$/i.test(t) ? t.replace(" ", "T") + "Z" : t;
  return Date.parse(zoned);
}

/** Both ends resolved at the same instant, start < end; throws a readable error otherwise. */
export function resolveRange(r: TimeRange, now = Date.now()): { start: number; end: number } {
  const start = resolveTime(r.start, now);
  const end = resolveTime(r.end, now);
  if (!Number.isFinite(start)) throw new Error(`bad start time "${r.start}"`);
  if (!Number.isFinite(end)) throw new Error(`bad end time "${r.end}"`);
  if (end <= start) throw new Error("the time range ends before it starts");
  return { start, end };
}

/** "last 6 hours" for a preset, else "<local start> – <local end>". */
export function describeRange(r: TimeRange): string {
  if (r.end === "now") {
    const p = PRESETS.find(([v]) => v === r.start);
    if (p) return p[1];
    if (r.start.startsWith("now-")) return `last ${r.start.slice(4)}`;
  }
  const fmt = (s: string): string => {
    const t = resolveTime(s);
    return s.startsWith("now") || !Number.isFinite(t) ? s : new Date(t).toLocaleString();
  };
  return `${fmt(r.start)} – ${fmt(r.end)}`;
}

// ---------------------------------------------------------------------------
// Flow widgets

/** Dimensions a flow widget may group by, with how a value reads. */
export const FLOW_DIMS: Record<string, string> = {
  protocol: "Protocol",
  src_addr: "Source IP",
  dst_addr: "Destination IP",
  src_port: "Source port",
  dst_port: "Destination port",
  src_as: "Source AS",
  dst_as: "Destination AS",
  exporter_address: "Exporter",
  in_if: "Input interface",
  out_if: "Output interface",
  src_vlan: "Source VLAN",
  dst_vlan: "Destination VLAN",
  tos: "ToS",
};
export const FLOW_METRICS: FlowWidgetSpec["metric"][] = ["bps", "pps", "bytes", "packets", "flows"];
export const FLOW_CHARTS: FlowWidgetSpec["chart"][] = ["area", "lines", "table", "bar", "pie", "sankey"];
export const LIVE_DIMS = ["protocol", "dst_as", "src_as", "exporter", "in_if", "out_if"];

function dimLabel(dim: string, v: unknown): string {
  if (v === null || v === undefined) return "–";
  if (dim === "protocol") return PROTOCOLS[Number(v)] ?? String(v);
  if (dim === "src_as" || dim === "dst_as") return `AS${String(v)}`;
  return String(v);
}

/** The dashboard filter and the widget's own, both applied. */
export function combineFilters(...fs: (string | undefined)[]): string | undefined {
  const parts = fs.map((f) => f?.trim() ?? "").filter((f) => f !== "");
  if (parts.length === 0) return undefined;
  if (parts.length === 1) return parts[0];
  return parts.map((p) => `(${p})`).join(" and ");
}

/**
 * A flow widget's chart decides the query's shape: areas and lines are over
 * time; bars, pies and Sankey diagrams are totals over the range; a table
 * shows whichever shape the widget asks for.
 */
export function flowShape(spec: FlowWidgetSpec): "timeseries" | "table" {
  if (spec.chart === "area" || spec.chart === "lines") return "timeseries";
  if (spec.chart === "table") return spec.shape;
  return "table";
}

export function flowQueryBody(
  spec: FlowWidgetSpec,
  ctx: { range: TimeRange; filter: string },
  now = Date.now(),
): Record<string, unknown> {
  const { start, end } = resolveRange(ctx.range, now);
  return {
    start,
    end,
    resolution: "auto",
    dimensions: spec.dimensions,
    filter: combineFilters(ctx.filter, spec.filter),
    metric: spec.metric,
    topN: spec.topN ?? 10,
    shape: flowShape(spec),
  };
}

/** A timeseries answer summed over its buckets per group (bps/pps: the mean over the buckets). */
function totals(ans: FlowAnswer, metric: string): FlowAnswer {
  const iTime = ans.columns.findIndex((c) => c.name === "time_ms");
  const iValue = ans.columns.findIndex((c) => c.name === "value");
  const buckets = new Set(ans.rows.map((r) => Number(r[iTime])));
  const groups = new Map<string, unknown[]>();
  for (const r of ans.rows) {
    const rest = r.filter((_, i) => i !== iTime && i !== iValue);
    const k = JSON.stringify(rest);
    const g = groups.get(k);
    if (g) g[g.length - 1] = Number(g[g.length - 1]) + Number(r[iValue] ?? 0);
    else groups.set(k, [...rest, Number(r[iValue] ?? 0)]);
  }
  const rate = metric === "bps" || metric === "pps";
  const rows = [...groups.values()].map((g) =>
    rate ? [...g.slice(0, -1), Number(g[g.length - 1]) / Math.max(1, buckets.size)] : g,
  );
  const columns = ans.columns.filter((_, i) => i !== iTime && i !== iValue);
  return { ...ans, columns: [...columns, ans.columns[iValue]!], rows };
}

function formatOf(metric: string): "bps" | "bytes" | "number" {
  return metric === "bps" ? "bps" : metric === "bytes" ? "bytes" : "number";
}

export interface FlowAnswer extends Result {
  resolutionMs: number;
}

/**
 * The planner's answer (time_ms, <dims…>, other, value) turned into what a
 * chart wants: dimension values made readable ("tcp", "AS64500"), several
 * dimensions joined into one series key, the "other" row named so, and
 * time_ms as a TIMESTAMP column (epoch ms) so the chart treats it as a time axis.
 */
export function flowToViz(spec0: FlowWidgetSpec, ans0: FlowAnswer): { viz: Viz; result: Result } {
  // A widget saved with a shape that does not suit its chart (the server runs
  // shared widgets with their saved shape): totals drawn over time become
  // bars; a series drawn as totals is summed per group (rates averaged).
  let spec = spec0;
  let ans = ans0;
  const hasTime = ans0.columns.some((c) => c.name === "time_ms");
  if (!hasTime && (spec.chart === "area" || spec.chart === "lines")) spec = { ...spec, chart: "bar" };
  if (hasTime && spec.chart !== "area" && spec.chart !== "lines" && spec.chart !== "table")
    ans = totals(ans0, spec.metric);
  const names = ans.columns.map((c) => c.name);
  const col = (n: string): number => names.indexOf(n);
  const iTime = col("time_ms");
  const iOther = col("other");
  const iValue = col("value");
  const dims = spec.dimensions.filter((d) => col(d) >= 0);
  const isOther = (r: unknown[]): boolean => iOther >= 0 && r[iOther] === true;
  const label = (r: unknown[], d: string): string => (isOther(r) ? "other" : dimLabel(d, r[col(d)]));
  const key = (r: unknown[]): string =>
    isOther(r) ? "other" : dims.map((d) => label(r, d)).join(" / ") || "total";
  const value = (r: unknown[]): number => Number(r[iValue] ?? 0);
  const metric = spec.metric;
  const format = formatOf(metric);
  const timeCol = { name: "time", type: "TIMESTAMP_MS" };
  const valCol = { name: metric, type: "DOUBLE" };
  const base = { id: "flow", name: "" };
  const ts = iTime >= 0;

  switch (spec.chart) {
    case "area":
    case "lines":
      return {
        viz: {
          ...base,
          type: spec.chart === "area" ? "area" : "line",
          options: {
            x: "time",
            y: [metric],
            series: "series",
            fillGaps: true,
            stepMs: ans.resolutionMs,
            format,
          },
        },
        result: {
          columns: [timeCol, { name: "series", type: "VARCHAR" }, valCol],
          rows: ans.rows.map((r) => [Number(r[iTime]), key(r), value(r)]),
        },
      };
    case "sankey": {
      // Two ends are needed; with one dimension the flow goes from it to the total.
      const [a, b] = dims;
      return {
        viz: {
          ...base,
          type: "sankey",
          options: { source: "source", target: "target", value: metric, format },
        },
        result: {
          columns: [{ name: "source", type: "VARCHAR" }, { name: "target", type: "VARCHAR" }, valCol],
          // Target names get an arrow: the same AS on both sides must be two nodes, not a cycle.
          rows: ans.rows.map((r) => [a ? label(r, a) : "all", b ? `→ ${label(r, b)}` : "→ total", value(r)]),
        },
      };
    }
    case "pie":
    case "bar": {
      // Largest first and "other" last, as in the Explorer; the category axis is named by the dimensions.
      const name = dims.map((d) => FLOW_DIMS[d] ?? d).join(" / ") || "all";
      return {
        viz: {
          ...base,
          type: spec.chart,
          options:
            spec.chart === "pie" ? { label: name, value: metric, format } : { x: name, y: [metric], format },
        },
        result: {
          columns: [{ name, type: "VARCHAR" }, valCol],
          rows: byValue(ans.rows.map((r) => [key(r), value(r)])),
        },
      };
    }
    default: {
      // The grid shows cells as they are: values are formatted here (bytes, b/s) and times in local time.
      const rows = ans.rows.map((r) => [
        ...(ts ? [Number(r[iTime])] : []),
        ...(dims.length ? dims.map((d) => label(r, d)) : ["total"]),
        value(r),
      ]);
      const sorted = ts ? rows.sort((x, y) => Number(x[0]) - Number(y[0])) : byValue(rows);
      return {
        viz: { ...base, type: "table", options: { format } },
        result: {
          columns: [
            ...(ts ? [{ name: `time (${timeZoneLabel()})`, type: "VARCHAR" }] : []),
            ...(dims.length
              ? dims.map((d) => ({ name: FLOW_DIMS[d] ?? d, type: "VARCHAR" }))
              : [{ name: "all", type: "VARCHAR" }]),
            { name: metric, type: "VARCHAR" },
          ],
          rows: sorted.map((r) => [
            ...(ts ? [new Date(Number(r[0])).toLocaleString()] : []),
            ...r.slice(ts ? 1 : 0, -1),
            formatValue(r[r.length - 1], format),
          ]),
        },
      };
    }
  }
}

/** Rows whose last cell is the value: largest first, any "other" row last. */
function byValue(rows: unknown[][]): unknown[][] {
  const isOther = (r: unknown[]): number => Number(r.slice(0, -1).every((c) => c === "other"));
  return rows.sort((x, y) => isOther(x) - isOther(y) || Number(y[y.length - 1]) - Number(x[x.length - 1]));
}

// ---------------------------------------------------------------------------
// Layout

/** The first place (top to bottom, left to right) where a w×h widget overlaps no other. */
export function freeSlot(
  ws: Pick<Widget, "x" | "y" | "w" | "h">[],
  w: number,
  h: number,
): { x: number; y: number } {
  const free = (x: number, y: number): boolean =>
    ws.every((o) => x + w <= o.x || o.x + o.w <= x || y + h <= o.y || o.y + o.h <= y);
  for (let y = 0; ; y++) for (let x = 0; x + w <= 12; x++) if (free(x, y)) return { x, y };
}

// ---------------------------------------------------------------------------
// Viz widgets

/**
 * The values a saved query runs with on this dashboard. For each of the
 * query's parameters, the dashboard parameter named by the widget's paramMap
 * (or of the same name) gives the value; "$time" means the dashboard's time
 * range (for a daterange parameter), "$time.start"/"$time.end" one end of it
 * (for a date parameter). A daterange parameter with no dashboard parameter
 * follows the dashboard's time range; anything else unmapped keeps the
 * query's default (the server applies it).
 */
export function queryParamValues(
  defs: ParamDef[],
  w: Pick<Widget, "paramMap">,
  ctx: { range: TimeRange; params: Record<string, ParamValue> },
): Record<string, ParamValue> {
  const out: Record<string, ParamValue> = {};
  for (const d of defs) {
    const src = w.paramMap?.[d.name] ?? d.name;
    if (src === "$time") out[d.name] = { ...ctx.range };
    else if (src === "$time.start") out[d.name] = ctx.range.start;
    else if (src === "$time.end") out[d.name] = ctx.range.end;
    else if (src in ctx.params) out[d.name] = ctx.params[src]!;
    else if (d.type === "daterange") out[d.name] = { ...ctx.range };
  }
  return out;
}
