// Explorer: a flow query (POST /api/v1/flows/query, src/query/planner) drawn
// as a stacked area + a TopN table. The whole state lives in the URL hash
// (#/explorer?range=1h&dims=protocol&filter=…&metric=bps&top=10), so a view
// can be shared; clicking a table row or a chart band adds that group to the
// filter (drill-down).
import { api } from "./api.js";
import { StackedChart, color } from "./chart.js";
import { PROTOCOLS, h, si, timeZoneLabel } from "./dom.js";

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
};
const RANGES: Record<string, number> = {
  "5m": 300,
  "15m": 900,
  "1h": 3600,
  "6h": 21600,
  "24h": 86400,
  "7d": 604800,
};
const METRICS: Record<string, string> = {
  bps: "bits/s",
  pps: "packets/s",
  bytes: "bytes",
  packets: "packets",
  flows: "flows",
};

export interface ExplorerState {
  range: string;
  from: string;
  to: string;
  dims: string[];
  filter: string;
  metric: string;
  top: number;
}

export function readState(p: URLSearchParams): ExplorerState {
  const dims = (p.get("dims") ?? "protocol").split(",").filter((d) => d in DIMS);
  return {
    range: p.get("range") ?? "15m",
    from: p.get("from") ?? "",
    to: p.get("to") ?? "",
    dims: dims.length ? dims : ["protocol"],
    filter: p.get("filter") ?? "",
    metric: (p.get("metric") ?? "bps") in METRICS ? (p.get("metric") ?? "bps") : "bps",
    top: Math.min(50, Math.max(1, Number(p.get("top")) || 10)),
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
  return `#/explorer?${p.toString()}`;
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
  const fromIn = h("input", { id: "ex-from", type: "datetime-local", value: st.from });
  const toIn = h("input", { id: "ex-to", type: "datetime-local", value: st.to });
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
    placeholder: "nfdump filter, e.g. proto tcp and dst port 443",
    size: 50,
  });
  const metricSel = h(
    "select",
    { id: "ex-metric" },
    Object.entries(METRICS).map(([k, l]) => h("option", { value: k, selected: k === st.metric }, l)),
  );
  const topIn = h("input", { id: "ex-top", type: "number", min: 1, max: 50, value: st.top });
  const status = h("p", { class: "muted", id: "ex-status" }, "running…");
  const chartEl = h("div", { class: "chart", id: "ex-chart" });
  const tbody = h("tbody", { id: "ex-rows" });
  const thead = h("thead", {});

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
  });

  const drill = (values: Record<string, unknown>): void => {
    const parts = st.dims
      .map((d) => (values[d] === null || values[d] === undefined ? null : DIMS[d]!.filter(String(values[d]))))
      .filter((x): x is string => x !== null);
    if (!parts.length) return;
    const add = parts.join(" and ");
    go({ ...st, filter: st.filter ? `(${st.filter}) and ${add}` : add });
  };

  root.append(
    h("h1", {}, "Explorer"),
    h(
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
      h("label", {}, "from ", fromIn),
      h("label", {}, "to ", toIn),
      h("span", { class: "muted", id: "ex-tz" }, `time zone: ${timeZoneLabel()}`),
      h("div", { class: "dims" }, "Dimensions: ", dimBoxes),
      h("label", {}, "Filter ", filterIn),
      h("label", {}, "Metric ", metricSel),
      h("label", {}, "Top ", topIn),
      h("button", { type: "submit", id: "ex-run" }, "Run"),
    ),
    status,
    chartEl,
    h("table", { class: "grid clickable" }, thead, tbody),
  );

  const unit = st.metric === "bps" ? "b/s" : st.metric === "pps" ? "p/s" : "";
  let seriesValues = new Map<string, Record<string, unknown>>();
  const chart = new StackedChart(
    chartEl,
    (v) => si(v, unit),
    (lab) => {
      const v = seriesValues.get(lab);
      if (v) drill(v);
    },
  );

  let end = Date.now();
  let start = end - (RANGES[st.range] ?? 900) * 1000;
  if (st.range === "custom") {
    start = new Date(st.from).getTime();
    end = new Date(st.to).getTime();
  }
  const base = {
    start,
    end,
    dimensions: st.dims,
    filter: st.filter || undefined,
    metric: st.metric,
    topN: st.top,
    resolution: "auto",
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
      // Table: one row per group over the range, largest first, "other" last.
      const rows = objects(table).sort(
        (a, b) => Number(Boolean(a.other)) - Number(Boolean(b.other)) || Number(b.value) - Number(a.value),
      );
      const total = rows.reduce((s, r) => s + Number(r.value), 0) || 1;
      const order = rows.map(keyOf);
      thead.replaceChildren(
        h(
          "tr",
          {},
          h("th", {}, ""),
          st.dims.map((d) => h("th", {}, DIMS[d]!.label)),
          h("th", {}, METRICS[st.metric]!),
          h("th", {}, "share"),
        ),
      );
      tbody.replaceChildren(
        ...rows.map((r, i) =>
          h(
            "tr",
            {
              title: r.other ? "" : "click to add to the filter",
              onclick: () => (r.other ? undefined : drill(r)),
            },
            h("td", {}, h("span", { class: "swatch", style: `background:${color(i)}` })),
            st.dims.map((d) => h("td", {}, r.other ? "other" : label(d, r[d]))),
            h("td", { class: "num" }, si(Number(r.value), unit)),
            h("td", { class: "num" }, `${((Number(r.value) / total) * 100).toFixed(1)} %`),
          ),
        ),
      );
      // Time series: one band per group, zero-filled between buckets (the API omits empty ones).
      const step = ts.resolutionMs;
      const first = Math.floor(start / step) * step;
      const n = Math.min(5000, Math.max(1, Math.ceil((end - first) / step)));
      const times = Array.from({ length: n }, (_, i) => (first + i * step) / 1000);
      const byKey = new Map<string, number[]>();
      seriesValues = new Map();
      for (const r of objects(ts)) {
        const k = keyOf(r);
        let vals = byKey.get(k);
        if (!vals) {
          byKey.set(k, (vals = new Array<number>(n).fill(0)));
          if (!r.other) seriesValues.set(k, r);
        }
        const i = Math.round((Number(r.time_ms) - first) / step);
        if (i >= 0 && i < n) vals[i]! += Number(r.value);
      }
      const keys = [...byKey.keys()].sort((a, b) => {
        const ia = order.indexOf(a);
        const ib = order.indexOf(b);
        return (ia < 0 ? 1e9 : ia) - (ib < 0 ? 1e9 : ib);
      });
      chart.set({ times, series: keys.map((k) => ({ label: k, values: byKey.get(k)! })) });
      status.textContent =
        `${rows.length} group(s), ${ts.rows.length} points at ${step / 1000} s resolution, ` +
        `${new Date(start).toLocaleString()} – ${new Date(end).toLocaleString()} (${timeZoneLabel()}), ${Math.round(performance.now() - t0)} ms`;
    } catch (err) {
      status.textContent = `error: ${(err as Error).message}`;
    }
  })();
  return () => chart.destroy();
}
