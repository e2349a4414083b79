// Live: per-second traffic of the last 10 minutes from GET /api/v1/live (SSE),
// stacked by one dimension, and the TopN of the last second.
import { StackedChart, color } from "./chart.js";
import { h, si } from "./dom.js";

interface Counts {
  bytes: number;
  packets: number;
  flows: number;
}
interface Point {
  t: number;
  total: Counts;
  top: (Counts & { key: string })[];
}

const DIMS: [string, string][] = [
  ["protocol", "Protocol"],
  ["dst_as", "Destination AS"],
  ["src_as", "Source AS"],
  ["exporter", "Exporter"],
  ["in_if", "Input interface"],
  ["out_if", "Output interface"],
];
const METRICS: [string, string][] = [
  ["bps", "bits/s"],
  ["pps", "packets/s"],
  ["flows", "flows/s"],
];
const SERIES = 8;
const WINDOW = 600;

function metricOf(c: Counts, m: string): number {
  return m === "bps" ? c.bytes * 8 : m === "pps" ? c.packets : c.flows;
}

export function livePage(root: HTMLElement, params: URLSearchParams): () => void {
  let dim = params.get("dim") ?? "protocol";
  let metric = params.get("metric") ?? "bps";
  let points: Point[] = [];
  let es: EventSource | null = null;

  const status = h("span", { class: "muted", id: "live-status" }, "connecting…");
  const bps = h("b", { id: "live-bps" }, "–");
  const pps = h("b", { id: "live-pps" }, "–");
  const fps = h("b", { id: "live-flows" }, "–");
  const chartEl = h("div", { class: "chart", id: "live-chart" });
  const tbody = h("tbody", { id: "live-top" });
  const chart = new StackedChart(chartEl, (v) => si(v, metric === "bps" ? "b/s" : "/s"));

  const setUrl = (): void => {
    history.replaceState(null, "", `#/live?dim=${dim}&metric=${metric}`);
  };
  const dimSel = h(
    "select",
    {
      id: "live-dim",
      onchange: (e: Event) => {
        dim = (e.target as HTMLSelectElement).value;
        setUrl();
        connect();
      },
    },
    DIMS.map(([v, l]) => h("option", { value: v, selected: v === dim }, l)),
  );
  const metSel = h(
    "select",
    {
      id: "live-metric",
      onchange: (e: Event) => {
        metric = (e.target as HTMLSelectElement).value;
        setUrl();
        draw();
      },
    },
    METRICS.map(([v, l]) => h("option", { value: v, selected: v === metric }, l)),
  );

  root.append(
    h("h1", {}, "Live"),
    h(
      "div",
      { class: "toolbar" },
      h("label", {}, "Stack by ", dimSel),
      h("label", {}, "Metric ", metSel),
      status,
    ),
    h(
      "div",
      { class: "kpis" },
      h("div", {}, "bits/s ", bps),
      h("div", {}, "packets/s ", pps),
      h("div", {}, "flows/s ", fps),
    ),
    chartEl,
    h(
      "table",
      { class: "grid" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", {}, ""),
          h("th", {}, "key"),
          h("th", {}, "bits/s"),
          h("th", {}, "packets/s"),
          h("th", {}, "flows/s"),
          h("th", {}, "share"),
        ),
      ),
      tbody,
    ),
  );

  function draw(): void {
    if (points.length === 0) return;
    // The SERIES largest keys over the window, by the chosen metric; the rest is "other".
    const sums = new Map<string, number>();
    for (const p of points)
      for (const e of p.top) sums.set(e.key, (sums.get(e.key) ?? 0) + metricOf(e, metric));
    const keys = [...sums.entries()]
      .filter(([k]) => k !== "other")
      .sort((a, b) => b[1] - a[1])
      .slice(0, SERIES)
      .map(([k]) => k);
    const idx = new Map(keys.map((k, i) => [k, i]));
    const series = [...keys, "other"].map((label) => ({
      label,
      values: new Array<number>(points.length).fill(0),
    }));
    points.forEach((p, j) => {
      for (const e of p.top) {
        const i = idx.get(e.key) ?? keys.length;
        series[i]!.values[j]! += metricOf(e, metric);
      }
    });
    chart.set({ times: points.map((p) => p.t / 1000), series });

    const last = points[points.length - 1]!;
    bps.textContent = si(last.total.bytes * 8, "b/s");
    pps.textContent = si(last.total.packets, "p/s");
    fps.textContent = si(last.total.flows, "/s");
    const total = metricOf(last.total, metric) || 1;
    tbody.replaceChildren(
      ...last.top.map((e) => {
        const i = idx.get(e.key);
        return h(
          "tr",
          {},
          h(
            "td",
            {},
            h("span", { class: "swatch", style: `background:${i === undefined ? "#bbb" : color(i)}` }),
          ),
          h("td", {}, e.key),
          h("td", { class: "num" }, si(e.bytes * 8, "b/s")),
          h("td", { class: "num" }, si(e.packets, "p/s")),
          h("td", { class: "num" }, si(e.flows, "/s")),
          h("td", { class: "num" }, `${((metricOf(e, metric) / total) * 100).toFixed(1)} %`),
        );
      }),
    );
    status.textContent = `updated ${new Date(last.t + 1000).toLocaleTimeString()}`;
  }

  function connect(): void {
    es?.close();
    points = [];
    es = new EventSource(`/api/v1/live?dim=${encodeURIComponent(dim)}`);
    es.addEventListener("window", (ev) => {
      points = (JSON.parse((ev as MessageEvent<string>).data) as { points: Point[] }).points;
      draw();
    });
    es.addEventListener("second", (ev) => {
      points.push(JSON.parse((ev as MessageEvent<string>).data) as Point);
      if (points.length > WINDOW) points.splice(0, points.length - WINDOW);
      draw();
    });
    es.onerror = () => {
      status.textContent = "disconnected, retrying…";
    };
  }
  connect();
  return () => {
    es?.close();
    chart.destroy();
  };
}
