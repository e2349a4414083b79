// Explorer: a flow query (POST /api/v1/flows/query, src/query/planner) drawn
// as a stacked area, lines, a grid of small charts, a Sankey diagram or only a
// table, with the previous period overlaid (dashed) and the 95th percentile.
// The whole state lives in the URL hash
// (#/explorer?range=1h&dims=protocol&filter=…&metric=bps&top=10&chart=lines&prev=1&p95=1),
// so a view can be shared; clicking a table row, a legend entry, a chart
// series or a Sankey link adds that group to the filter (drill-down).
import uPlot from "uplot";
import { api } from "./api.js";
import { color } from "./chart.js";
import { drawOverlay } from "./anomaly.js";
import { attachCompletion } from "./completion.js";
import { PROTOCOLS, h, si, timeZoneLabel } from "./dom.js";
import "./explorer.css";
import { percentile95 } from "../../src/query/planner/percentile.js";

/** Dimensions offered, with the nfdump filter primitive that selects one value (drill-down). */
const DIMS: Record<string, { label: string; filter: (v: string) => string }> = {
  protocol: { label: "Protocol", filter: (v) => `proto ${v}` },
  src_addr: { label: "Source IP", filter: (v) => `src ip ${v}` },
  dst_addr: { label: "Destination IP", filter: (v) => `dst ip ${v}` },
  src_port: { label: "Source port", filter: (v) => `src port ${v}` },
  dst_port: { label: "Destination port", filter: (v) => `dst port ${v}` },
  src_as: { label: "Source AS", filter: (v) => `src as ${v}` },
  dst_as: { label: "Destination AS", filter: (v) => `dst as ${v}` },
  in_if: { label: "Input interface", filter: (v) => `in if ${v}` },
  out_if: { label: "Output interface", filter: (v) => `out if ${v}` },
  src_vlan: { label: "Source VLAN", filter: (v) => `src vlan ${v}` },
  dst_vlan: { label: "Destination VLAN", filter: (v) => `dst vlan ${v}` },
  tos: { label: "ToS", filter: (v) => `tos ${v}` },
  // Enrichment (docs/enrichment.md): text values, quoted for the filter.
  exporter_name: { label: "Exporter name", filter: (v) => `exporter name ${quoted(v)}` },
  exporter_site: { label: "Exporter site", filter: (v) => `exporter site ${quoted(v)}` },
  exporter_role: { label: "Exporter role", filter: (v) => `exporter role ${quoted(v)}` },
  in_if_name: { label: "Input interface name", filter: (v) => `in if name ${quoted(v)}` },
  out_if_name: { label: "Output interface name", filter: (v) => `out if name ${quoted(v)}` },
  in_if_connectivity: { label: "Input connectivity", filter: (v) => `in if connectivity ${quoted(v)}` },
  out_if_connectivity: { label: "Output connectivity", filter: (v) => `out if connectivity ${quoted(v)}` },
  in_if_provider: { label: "Input provider", filter: (v) => `in if provider ${quoted(v)}` },
  out_if_provider: { label: "Output provider", filter: (v) => `out if provider ${quoted(v)}` },
  in_if_boundary: { label: "Input boundary", filter: (v) => `in if boundary ${quoted(v)}` },
  out_if_boundary: { label: "Output boundary", filter: (v) => `out if boundary ${quoted(v)}` },
  src_net_name: { label: "Source network", filter: (v) => `src net name ${quoted(v)}` },
  dst_net_name: { label: "Destination network", filter: (v) => `dst net name ${quoted(v)}` },
  src_net_role: { label: "Source network role", filter: (v) => `src net role ${quoted(v)}` },
  dst_net_role: { label: "Destination network role", filter: (v) => `dst net role ${quoted(v)}` },
  src_country: { label: "Source country", filter: (v) => `src country ${quoted(v)}` },
  dst_country: { label: "Destination country", filter: (v) => `dst country ${quoted(v)}` },
  src_as_name: { label: "Source AS name", filter: (v) => `src as name ${quoted(v)}` },
  dst_as_name: { label: "Destination AS name", filter: (v) => `dst as name ${quoted(v)}` },
};

/** A text value as a filter string literal (src/query/filter/lexer.ts: \" and \\ escapes). */
function quoted(v: string): string {
  return `"${v.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}
const RANGES: Record<string, number> = {
  "5m": 300,
  "15m": 900,
  "1h": 3600,
  "6h": 21600,
  "24h": 86400,
  "7d": 604800,
  "30d": 2592000,
};
const METRICS: Record<string, string> = {
  bps: "bits/s",
  pps: "packets/s",
  bytes: "bytes",
  packets: "packets",
  flows: "flows",
};
const CHARTS: Record<string, string> = {
  area: "stacked area",
  lines: "lines",
  grid: "grid",
  sankey: "Sankey",
  table: "table only",
};

export interface ExplorerState {
  range: string;
  from: string;
  to: string;
  dims: string[];
  filter: string;
  metric: string;
  top: number;
  chart: string;
  /** Overlay the previous period (same length, just before). */
  prev: boolean;
  /** Draw the 95th percentile line(s). */
  p95: boolean;
  /** Draw the anomaly score ("異常度") under the chart (web/src/anomaly.ts). */
  anomaly: boolean;
}

export function readState(p: URLSearchParams): ExplorerState {
  const dims = (p.get("dims") ?? "protocol").split(",").filter((d) => d in DIMS);
  const range = p.get("range") ?? "15m";
  return {
    range: range in RANGES || range === "custom" ? range : "15m",
    from: p.get("from") ?? "",
    to: p.get("to") ?? "",
    dims: dims.length ? dims : ["protocol"],
    filter: p.get("filter") ?? "",
    metric: (p.get("metric") ?? "bps") in METRICS ? (p.get("metric") ?? "bps") : "bps",
    top: Math.min(50, Math.max(1, Number(p.get("top")) || 10)),
    chart: (p.get("chart") ?? "area") in CHARTS ? (p.get("chart") ?? "area") : "area",
    prev: p.get("prev") === "1",
    p95: p.get("p95") === "1",
    anomaly: p.get("anomaly") === "1",
  };
}

export function stateUrl(s: ExplorerState): string {
  const p = new URLSearchParams();
  p.set("range", s.range);
  if (s.range === "custom") {
    p.set("from", s.from);
    p.set("to", s.to);
  }
  p.set("dims", s.dims.join(","));
  if (s.filter) p.set("filter", s.filter);
  p.set("metric", s.metric);
  p.set("top", String(s.top));
  if (s.chart !== "area") p.set("chart", s.chart);
  if (s.prev) p.set("prev", "1");
  if (s.p95) p.set("p95", "1");
  if (s.anomaly) p.set("anomaly", "1");
  return `#/explorer?${p.toString()}`;
}

/** The state's time range in epoch ms (absolute inputs are the browser's local time). */
export function stateRange(s: ExplorerState, now = Date.now()): { start: number; end: number } {
  if (s.range === "custom") return { start: new Date(s.from).getTime(), end: new Date(s.to).getTime() };
  return { start: now - (RANGES[s.range] ?? 900) * 1000, end: now };
}

interface QueryResult {
  resolutionMs: number;
  columns: { name: string }[];
  rows: unknown[][];
}

/** The API answers rows as arrays in column order; name them. */
function objects(r: QueryResult): Record<string, unknown>[] {
  const names = r.columns.map((c) => c.name);
  return r.rows.map((row) => Object.fromEntries(names.map((n, i) => [n, row[i]])));
}

function label(dim: string, v: unknown): string {
  if (v === null || v === undefined) return "–";
  if (dim === "protocol") return PROTOCOLS[Number(v)] ?? String(v);
  if (dim === "src_as" || dim === "dst_as") return `AS${String(v)}`;
  return String(v);
}

/** One line of a uPlot chart. */
interface Line {
  label: string;
  values: (number | null)[];
  color: string;
  fill?: boolean;
  dash?: number[];
  width?: number;
  /** Shown in the legend/tooltip instead of the drawn value (stacked charts draw cumulative sums). */
  raw?: number[];
  /** Series key for drill-down; overlays (previous period, 95th) have none. */
  pick?: string;
}

/** Local-time tick labels: seconds for spans under an hour, minutes under two days, else dates. */
function timeLabels(vals: number[]): string[] {
  const span = vals.length > 1 ? vals[vals.length - 1]! - vals[0]! : 0;
  return vals.map((v) => {
    const d = new Date(v * 1000);
    if (span < 3600)
      return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
    if (span < 2 * 86400) return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    return d.toLocaleDateString([], { month: "short", day: "numeric", hour: "2-digit" });
  });
}

/** Tick steps of the time axis (seconds): never below a second, on round minutes, hours and days. */
const TIME_INCRS = [
  1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800,
];

function plot(
  el: HTMLElement,
  times: number[],
  lines: Line[],
  fmt: (v: number) => string,
  o: {
    height: number;
    stacked: boolean;
    legend: boolean;
    compact?: boolean;
    onPick?: (key: string) => void;
    /** Cursor sync key (the anomaly score chart under it shares it). */
    sync?: string;
  },
): uPlot {
  const opts: uPlot.Options = {
    width: Math.max(260, el.clientWidth || 900),
    height: o.height,
    cursor: { drag: { x: false, y: false }, sync: o.sync ? { key: o.sync } : undefined },
    legend: { show: o.legend },
    scales: { y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.05 : 1] } },
    axes: [
      // The zone is named on the axis: times are the browser's, not UTC.
      o.compact
        ? { values: (_u, vals) => timeLabels(vals), space: 70, incrs: TIME_INCRS }
        : {
            values: (_u, vals) => timeLabels(vals),
            space: 90,
            incrs: TIME_INCRS,
            label: `time (${timeZoneLabel()})`,
            labelSize: 18,
          },
      { size: 80, values: (_u, vals) => vals.map((v) => fmt(v)) },
    ],
    series: [
      {
        value: (_u, v) => (v == null ? "" : `${new Date(v * 1000).toLocaleString()}`),
      },
      ...lines.map((l) => ({
        label: l.label,
        stroke: l.color,
        fill: l.fill ? l.color : undefined,
        dash: l.dash,
        width: l.width ?? 1,
        points: { show: false },
        value: (_u: uPlot, v: number | null, _si: number, idx: number | null) =>
          idx === null ? "" : fmt(l.raw ? (l.raw[idx] ?? 0) : (v ?? 0)),
      })),
    ],
  };
  const u = new uPlot(opts, [times, ...lines.map((l) => l.values)] as uPlot.AlignedData, el);
  const pick = o.onPick;
  if (pick) {
    u.over.style.cursor = "pointer";
    u.over.addEventListener("click", () => {
      const idx = u.cursor.idx;
      if (idx == null || u.cursor.top == null) return;
      const y = u.posToVal(u.cursor.top, "y");
      let hit: string | null = null;
      let best = Infinity;
      lines.forEach((l, k) => {
        if (!l.pick || u.series[k + 1]?.show === false) return;
        const v = l.values[idx] ?? 0;
        if (o.stacked) {
          // Bands are listed topmost first: the last whose cumulative top is ≥ y is the band under the pointer.
          if (v >= y) hit = l.pick;
        } else if (Math.abs(v - y) < best) {
          best = Math.abs(v - y);
          hit = l.pick;
        }
      });
      if (hit !== null) pick(hit);
    });
    // A legend entry drills down too (instead of uPlot's show/hide toggle).
    u.root.querySelectorAll<HTMLElement>(".u-legend tr.u-series").forEach((tr, i) => {
      const key = lines[i - 1]?.pick;
      if (i === 0 || key === undefined) return;
      tr.classList.add("pickable");
      tr.title = "click to add to the filter";
      tr.addEventListener(
        "click",
        (e) => {
          e.stopPropagation();
          pick(key);
        },
        true,
      );
    });
  }
  return u;
}

const SVG = "http://www.w3.org/2000/svg";
function svg(tag: string, attrs: Record<string, string | number>, text?: string): SVGElement {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

/**
 * Sankey of two dimensions: left nodes are the first dimension's values,
 * right nodes the second's, each link a row of the TopN table (its width the
 * metric). Nodes are stacked largest first; "other" is left out.
 */
function sankey(
  el: HTMLElement,
  rows: Record<string, unknown>[],
  dims: [string, string],
  fmt: (v: number) => string,
  onPick: (values: Record<string, unknown>) => void,
): void {
  const links = rows.filter((r) => !r.other && Number(r.value) > 0);
  const W = Math.max(500, el.clientWidth || 900);
  const H = Math.max(240, Math.min(640, 40 + links.length * 18));
  const root = svg("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}`, class: "sankey" });
  if (!links.length) {
    el.append(h("p", { class: "muted" }, "no flows between the two dimensions in this range"));
    return;
  }
  const side = (d: string): { key: string; raw: unknown; total: number; y: number; cur: number }[] => {
    const m = new Map<string, { key: string; raw: unknown; total: number; y: number; cur: number }>();
    for (const r of links) {
      const k = label(d, r[d]);
      const n = m.get(k) ?? { key: k, raw: r[d], total: 0, y: 0, cur: 0 };
      n.total += Number(r.value);
      m.set(k, n);
    }
    return [...m.values()].sort((a, b) => b.total - a.total);
  };
  const left = side(dims[0]);
  const right = side(dims[1]);
  const total = links.reduce((s, r) => s + Number(r.value), 0);
  const pad = 6;
  const top = 10;
  const scale = (H - 2 * top - pad * Math.max(left.length, right.length)) / total;
  const place = (nodes: typeof left): void => {
    let y = top;
    for (const n of nodes) {
      n.y = n.cur = y;
      y += n.total * scale + pad;
    }
  };
  place(left);
  place(right);
  const nodeW = 12;
  const labelW = Math.min(220, W * 0.25);
  const x0 = labelW;
  const x1 = W - labelW;
  const li = new Map(left.map((n, i) => [n.key, i]));
  const byKey = (nodes: typeof left, k: string): (typeof left)[number] => nodes.find((n) => n.key === k)!;
  const sorted = [...links].sort((a, b) => Number(b.value) - Number(a.value));
  for (const r of sorted) {
    const a = byKey(left, label(dims[0], r[dims[0]]));
    const b = byKey(right, label(dims[1], r[dims[1]]));
    const t = Math.max(1, Number(r.value) * scale);
    const ya = a.cur + t / 2;
    const yb = b.cur + t / 2;
    a.cur += Number(r.value) * scale;
    b.cur += Number(r.value) * scale;
    const xm = (x0 + nodeW + x1) / 2;
    const path = svg("path", {
      d: `M${x0 + nodeW},${ya} C${xm},${ya} ${xm},${yb} ${x1},${yb}`,
      stroke: color(li.get(a.key) ?? 0),
      "stroke-width": t,
      fill: "none",
      class: "link",
    });
    path.append(svg("title", {}, `${a.key} → ${b.key}: ${fmt(Number(r.value))}`));
    path.addEventListener("click", () => onPick({ [dims[0]]: r[dims[0]], [dims[1]]: r[dims[1]] }));
    root.append(path);
  }
  const node = (n: (typeof left)[number], x: number, c: string, d: string, anchor: "end" | "start"): void => {
    const rect = svg("rect", {
      x,
      y: n.y,
      width: nodeW,
      height: Math.max(1, n.total * scale),
      fill: c,
      class: "node",
    });
    rect.append(svg("title", {}, `${n.key}: ${fmt(n.total)}`));
    rect.addEventListener("click", () => onPick({ [d]: n.raw }));
    const tx = anchor === "end" ? x - 6 : x + nodeW + 6;
    const text = svg(
      "text",
      { x: tx, y: n.y + (n.total * scale) / 2, "text-anchor": anchor, "dominant-baseline": "middle" },
      `${n.key} (${fmt(n.total)})`,
    );
    text.addEventListener("click", () => onPick({ [d]: n.raw }));
    root.append(rect, text);
  };
  left.forEach((n, i) => node(n, x0, color(i), dims[0], "end"));
  right.forEach((n) => node(n, x1, "#8a8f98", dims[1], "start"));
  el.append(root);
}

export function explorerPage(root: HTMLElement, params: URLSearchParams): () => void {
  const st = readState(params);
  const go = (s: ExplorerState): void => {
    location.hash = stateUrl(s);
  };

  const rangeSel = h(
    "select",
    { id: "ex-range" },
    [...Object.keys(RANGES), "custom"].map((r) =>
      h("option", { value: r, selected: r === st.range }, r === "custom" ? "absolute…" : `last ${r}`),
    ),
  );
  // Absolute inputs start at the shown relative range, so switching to "absolute…" edits what is on screen.
  const local = (ms: number): string => {
    const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
    return d.toISOString().slice(0, 16);
  };
  const { start: initStart, end: initEnd } = stateRange(st);
  const fromIn = h("input", {
    id: "ex-from",
    type: "datetime-local",
    value: st.from || (Number.isFinite(initStart) ? local(initStart) : ""),
  });
  const toIn = h("input", {
    id: "ex-to",
    type: "datetime-local",
    value: st.to || (Number.isFinite(initEnd) ? local(initEnd) : ""),
  });
  const absolute = h(
    "span",
    { class: "absolute", hidden: st.range !== "custom" },
    "from ",
    fromIn,
    " to ",
    toIn,
  );
  rangeSel.addEventListener("change", () => {
    absolute.hidden = rangeSel.value !== "custom";
  });
  const dimBoxes = Object.entries(DIMS).map(([k, d]) =>
    h(
      "label",
      { class: "chip" },
      h("input", { type: "checkbox", value: k, checked: st.dims.includes(k), "data-dim": k }),
      d.label,
    ),
  );
  const filterIn = h("input", {
    id: "ex-filter",
    type: "text",
    value: st.filter,
    placeholder: "nfdump filter, e.g. proto tcp and dst port 443 (Tab completes)",
    size: 60,
    spellcheck: "false",
  });
  const metricSel = h(
    "select",
    { id: "ex-metric" },
    Object.entries(METRICS).map(([k, l]) => h("option", { value: k, selected: k === st.metric }, l)),
  );
  const chartSel = h(
    "select",
    { id: "ex-chart-type" },
    Object.entries(CHARTS).map(([k, l]) => h("option", { value: k, selected: k === st.chart }, l)),
  );
  const prevBox = h("input", { id: "ex-prev", type: "checkbox", checked: st.prev });
  const p95Box = h("input", { id: "ex-p95", type: "checkbox", checked: st.p95 });
  const anomalyBox = h("input", { id: "ex-anomaly-toggle", type: "checkbox", checked: st.anomaly });
  const topIn = h("input", { id: "ex-top", type: "number", min: 1, max: 50, value: st.top });
  const status = h("p", { class: "muted", id: "ex-status" }, "running…");
  const chartEl = h("div", { class: `chart chart-${st.chart}`, id: "ex-chart" });
  const anomalyEl = h("div", { class: "anomaly-overlay", id: "ex-anomaly", hidden: !st.anomaly });
  const tbody = h("tbody", { id: "ex-rows" });
  const thead = h("thead", {});
  const tfoot = h("tfoot", { id: "ex-total" });

  const collect = (): ExplorerState => ({
    range: rangeSel.value,
    from: fromIn.value,
    to: toIn.value,
    dims: dimBoxes
      .map((l) => l.querySelector("input")!)
      .filter((i) => i.checked)
      .map((i) => i.value),
    filter: filterIn.value.trim(),
    metric: metricSel.value,
    top: Number(topIn.value) || 10,
    chart: chartSel.value,
    prev: prevBox.checked,
    p95: p95Box.checked,
    anomaly: anomalyBox.checked,
  });

  const drill = (values: Record<string, unknown>): void => {
    const parts = st.dims
      .filter((d) => d in values)
      .map((d) => (values[d] === null || values[d] === undefined ? null : DIMS[d]!.filter(String(values[d]))))
      .filter((x): x is string => x !== null);
    if (!parts.length) return;
    const add = parts.join(" and ");
    go({ ...st, filter: st.filter ? `(${st.filter}) and ${add}` : add });
  };

  const form = h(
    "form",
    {
      class: "toolbar wrap",
      id: "ex-form",
      onsubmit: (e: Event) => {
        e.preventDefault();
        go(collect());
      },
    },
    h("label", {}, "Time ", rangeSel),
    absolute,
    h("span", { class: "muted", id: "ex-tz" }, `time zone: ${timeZoneLabel()}`),
    h("div", { class: "dims" }, "Dimensions: ", dimBoxes),
    h("label", { class: "ex-filter" }, "Filter ", filterIn),
    h("label", {}, "Metric ", metricSel),
    h("label", {}, "Top ", topIn),
    h("label", {}, "Chart ", chartSel),
    h("label", { class: "chip" }, prevBox, "previous period"),
    h("label", { class: "chip" }, p95Box, "95th percentile"),
    h(
      "label",
      {
        class: "chip",
        title:
          "anomaly score (異常度) of the total traffic, or of each AS when stacked by source or destination AS",
      },
      anomalyBox,
      "anomaly score",
    ),
    h("button", { type: "submit", id: "ex-run" }, "Run"),
  );
  root.append(
    h("h1", {}, "Explorer"),
    form,
    status,
    chartEl,
    anomalyEl,
    h("table", { class: "grid clickable", id: "ex-table" }, thead, tbody, tfoot),
  );
  const detach = attachCompletion(filterIn, {
    range: () => {
      const r = stateRange(collect());
      return Number.isFinite(r.start) && Number.isFinite(r.end) && r.end > r.start ? r : stateRange(st);
    },
  });

  const rate = st.metric === "bps" || st.metric === "pps";
  const unit = st.metric === "bps" ? "b/s" : st.metric === "pps" ? "p/s" : "";
  const fmt = (v: number): string => si(v, unit);
  const plots: uPlot[] = [];

  const { start, end } = stateRange(st);
  const base = {
    start,
    end,
    dimensions: st.dims,
    filter: st.filter || undefined,
    metric: st.metric,
    topN: st.top,
    resolution: "auto",
    comparePrevious: st.prev || undefined,
  };

  void (async () => {
    if (!Number.isFinite(start) || !Number.isFinite(end) || end <= start) {
      status.textContent = "error: pick a valid absolute range (from before to)";
      return;
    }
    try {
      const t0 = performance.now();
      const [ts, table] = await Promise.all([
        api<QueryResult>("/api/v1/flows/query", { method: "POST", body: { ...base, shape: "timeseries" } }),
        api<QueryResult>("/api/v1/flows/query", { method: "POST", body: { ...base, shape: "table" } }),
      ]);
      const keyOf = (r: Record<string, unknown>): string =>
        r.other ? "other" : st.dims.map((d) => label(d, r[d])).join(" / ");
      const cur = (r: Record<string, unknown>): boolean => !st.prev || r.period === "current";

      // Table: one row per group over the range, largest first, "other" last.
      const allTable = objects(table);
      const rows = allTable
        .filter(cur)
        .sort(
          (a, b) => Number(Boolean(a.other)) - Number(Boolean(b.other)) || Number(b.value) - Number(a.value),
        );
      const prevTable = new Map<string, number>();
      for (const r of allTable) if (!cur(r)) prevTable.set(keyOf(r), Number(r.value));
      const order = rows.map(keyOf);

      // Time series: one series per group, current and (shifted onto the current range) previous.
      const step = ts.resolutionMs;
      const first = Math.floor(start / step) * step;
      const n = Math.min(5000, Math.max(1, Math.ceil((end - first) / step)));
      const times = Array.from({ length: n }, (_, i) => (first + i * step) / 1000);
      const byKey = new Map<string, number[]>();
      const prevByKey = new Map<string, number[]>();
      const seriesValues = new Map<string, Record<string, unknown>>();
      for (const r of objects(ts)) {
        const k = keyOf(r);
        const m = cur(r) ? byKey : prevByKey;
        let vals = m.get(k);
        if (!vals) m.set(k, (vals = new Array<number>(n).fill(0)));
        if (!r.other && cur(r)) seriesValues.set(k, r);
        const i = Math.round((Number(r.time_ms) - first) / step);
        if (i >= 0 && i < n) vals[i]! += Number(r.value);
      }
      const rank = (k: string): number => (order.includes(k) ? order.indexOf(k) : 1e9);
      const keys = [...byKey.keys()].sort((a, b) => rank(a) - rank(b));
      const colorOf = (k: string): string => color(Math.max(0, order.indexOf(k)));
      const sum = (m: Map<string, number[]>): number[] => {
        const t = new Array<number>(n).fill(0);
        for (const v of m.values()) v.forEach((x, i) => (t[i]! += x));
        return t;
      };
      const totalSeries = sum(byKey);
      const prevTotal = sum(prevByKey);
      const p95Of = (v: number[]): ReturnType<typeof percentile95> => percentile95(v, times, step, rate);
      const p95 = new Map(keys.map((k) => [k, p95Of(byKey.get(k)!)]));
      const p95Total = p95Of(totalSeries);
      const pick = (k: string): void => {
        const v = seriesValues.get(k);
        if (v) drill(v);
      };
      const flat = (v: number): number[] => new Array<number>(n).fill(v);

      // --- table
      const total = rows.reduce((s, r) => s + Number(r.value), 0);
      const prevSum = [...prevTable.values()].reduce((s, v) => s + v, 0);
      const change = (now: number, before: number | undefined): string =>
        before === undefined || before === 0 ? "–" : `${(((now - before) / before) * 100).toFixed(1)} %`;
      thead.replaceChildren(
        h(
          "tr",
          {},
          h("th", {}, ""),
          st.dims.map((d) => h("th", {}, DIMS[d]!.label)),
          h("th", {}, METRICS[st.metric]!),
          h("th", {}, "share"),
          h("th", { title: "95th percentile of the series (see docs/ui.md)" }, "95th"),
          st.prev ? [h("th", {}, "previous"), h("th", {}, "change")] : null,
        ),
      );
      tbody.replaceChildren(
        ...rows.map((r) => {
          const k = keyOf(r);
          return h(
            "tr",
            {
              title: r.other ? "" : "click to add to the filter",
              onclick: () => (r.other ? undefined : drill(r)),
            },
            h("td", {}, h("span", { class: "swatch", style: `background:${colorOf(k)}` })),
            st.dims.map((d) => h("td", {}, r.other ? "other" : label(d, r[d]))),
            h("td", { class: "num" }, fmt(Number(r.value))),
            h("td", { class: "num" }, `${((Number(r.value) / (total || 1)) * 100).toFixed(1)} %`),
            h("td", { class: "num p95" }, p95.has(k) ? fmt(p95.get(k)!.value) : "–"),
            st.prev
              ? [
                  h("td", { class: "num" }, prevTable.has(k) ? fmt(prevTable.get(k)!) : "–"),
                  h("td", { class: "num" }, change(Number(r.value), prevTable.get(k))),
                ]
              : null,
          );
        }),
      );
      tfoot.replaceChildren(
        h(
          "tr",
          {},
          h("td", {}, ""),
          h("td", { colspan: st.dims.length }, "total"),
          h("td", { class: "num" }, fmt(total)),
          h("td", { class: "num" }, "100 %"),
          h("td", { class: "num p95", id: "ex-p95-total" }, fmt(p95Total.value)),
          st.prev
            ? [h("td", { class: "num" }, fmt(prevSum)), h("td", { class: "num" }, change(total, prevSum))]
            : null,
        ),
      );

      // --- chart
      const p95Label = (v: number): string => `95th ${fmt(v)}`;
      chartEl.replaceChildren();
      if (st.chart === "area") {
        // Stacked: each series drawn as the cumulative sum of itself and those below, topmost first.
        const cum: number[][] = [];
        let prev = new Array<number>(n).fill(0);
        for (const k of keys) {
          const c = byKey.get(k)!.map((v, i) => v + prev[i]!);
          cum.push(c);
          prev = c;
        }
        const lines: Line[] = keys
          .map((k, i) => ({
            label: k,
            values: cum[i]!,
            raw: byKey.get(k)!,
            color: colorOf(k),
            fill: true,
            pick: k === "other" ? undefined : k,
          }))
          .reverse();
        if (st.prev)
          lines.push({
            label: "previous period (total)",
            values: prevTotal,
            color: "#333",
            dash: [6, 4],
            width: 1.5,
          });
        if (st.p95)
          lines.push({
            label: p95Label(p95Total.value),
            values: flat(p95Total.value),
            color: "#b00020",
            dash: [2, 3],
            width: 1.5,
          });
        plots.push(
          plot(chartEl, times, lines, fmt, {
            height: 320,
            stacked: true,
            legend: true,
            onPick: pick,
            sync: "explorer",
          }),
        );
      } else if (st.chart === "lines") {
        const lines: Line[] = keys.map((k) => ({
          label: k,
          values: byKey.get(k)!,
          color: colorOf(k),
          width: 1.5,
          pick: k === "other" ? undefined : k,
        }));
        if (st.prev)
          for (const k of keys)
            if (prevByKey.has(k))
              lines.push({
                label: `${k} (previous)`,
                values: prevByKey.get(k)!,
                color: colorOf(k),
                dash: [6, 4],
              });
        if (st.p95)
          for (const k of keys)
            lines.push({
              label: `${k} ${p95Label(p95.get(k)!.value)}`,
              values: flat(p95.get(k)!.value),
              color: colorOf(k),
              dash: [2, 3],
            });
        plots.push(
          plot(chartEl, times, lines, fmt, {
            height: 320,
            stacked: false,
            legend: true,
            onPick: pick,
            sync: "explorer",
          }),
        );
      } else if (st.chart === "grid") {
        const grid = h("div", { class: "ex-grid" });
        chartEl.append(grid);
        for (const k of keys.slice(0, 50)) {
          const cell = h("div", { class: "ex-cell" });
          const title = h(
            "h4",
            {
              class: k === "other" ? "" : "pickable",
              title: k === "other" ? "" : "click to add to the filter",
            },
            h("span", { class: "swatch", style: `background:${colorOf(k)}` }),
            ` ${k}`,
            h("span", { class: "muted" }, ` · 95th ${fmt(p95.get(k)!.value)}`),
          );
          if (k !== "other") title.addEventListener("click", () => pick(k));
          const area = h("div", {});
          cell.append(title, area);
          grid.append(cell);
          const lines: Line[] = [
            {
              label: k,
              values: byKey.get(k)!,
              color: colorOf(k),
              fill: true,
              pick: k === "other" ? undefined : k,
            },
          ];
          if (st.prev && prevByKey.has(k))
            lines.push({ label: "previous", values: prevByKey.get(k)!, color: "#333", dash: [6, 4] });
          if (st.p95)
            lines.push({ label: "95th", values: flat(p95.get(k)!.value), color: "#b00020", dash: [2, 3] });
          plots.push(
            plot(area, times, lines, fmt, {
              height: 150,
              stacked: false,
              legend: false,
              compact: true,
              onPick: pick,
            }),
          );
        }
      } else if (st.chart === "sankey") {
        if (st.dims.length !== 2) {
          chartEl.append(
            h(
              "p",
              { class: "error", id: "ex-sankey-error" },
              "Sankey needs exactly 2 dimensions (e.g. Source AS and Destination AS).",
            ),
          );
        } else {
          sankey(chartEl, rows, [st.dims[0]!, st.dims[1]!], fmt, drill);
        }
      } else {
        chartEl.hidden = true;
      }

      if (st.anomaly) {
        // The score of what the chart shows: per AS when stacked by one AS dimension (its top
        // groups), else the total — only when unfiltered, since a filtered total is not scored.
        const dim = st.dims.length === 1 ? st.dims[0]! : "";
        const perAs = dim === "src_as" || dim === "dst_as";
        if (st.chart !== "area" && st.chart !== "lines") {
          anomalyEl.replaceChildren(
            h("p", { class: "muted" }, "the anomaly score is drawn under the stacked area and lines charts"),
          );
        } else if (!perAs && st.filter) {
          anomalyEl.replaceChildren(
            h(
              "p",
              { class: "muted", id: "ex-anomaly-note" },
              "anomaly scores exist for the total traffic and per source/destination AS, exporter and interface: " +
                "clear the filter for the total, or stack by one AS dimension",
            ),
          );
        } else {
          const keys = perAs
            ? rows
                .filter((r) => !r.other && r[dim] !== null && r[dim] !== undefined)
                .slice(0, 5)
                .map((r) => ({ key: String(r[dim]), label: keyOf(r), color: colorOf(keyOf(r)) }))
            : [{ key: "", label: "total traffic", color: "#333" }];
          plots.push(
            ...(await drawOverlay(anomalyEl, {
              series: perAs ? (dim as "src_as" | "dst_as") : "total",
              keys,
              start,
              end,
              frame: {
                xRange: [times[0]!, times[times.length - 1]!],
                width: Math.max(260, chartEl.clientWidth || 900),
                syncKey: "explorer",
                axisSize: 80,
              },
            })),
          );
        }
      }

      const how = p95Total.fiveMinute
        ? `95th over ${p95Total.samples} 5-minute averages`
        : `95th over ${p95Total.samples} ${step / 1000} s buckets`;
      status.textContent =
        `${rows.length} group(s), ${ts.rows.length} points at ${step / 1000} s resolution, ${how}, ` +
        `${new Date(start).toLocaleString()} – ${new Date(end).toLocaleString()} (${timeZoneLabel()}), ${Math.round(performance.now() - t0)} ms`;
    } catch (err) {
      status.textContent = `error: ${(err as Error).message}`;
    }
  })();
  return () => {
    detach();
    for (const p of plots) p.destroy();
  };
}
