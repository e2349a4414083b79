// Anomaly scores in the UI: the score chart ("異常度") drawn under a traffic
// chart on the same time axis, with the anomaly events shaded — the plot
// operators used to make by hand in R (traffic on top, score below) — and the
// #/anomalies page (events, the series worth a look, one series in detail:
// observed traffic, what was expected, and the score).
//
// The data comes from the anomaly service (src/detect/anomaly-routes.ts):
//   GET /api/v1/anomalies?limit=&series=&key=        → AnomalyEvent[]
//   GET /api/v1/anomalies/series?series=&key=&start=&end= → {series,key,stepMs,points}
//   GET /api/v1/anomalies/top?start=&end=&limit=     → [{series,key,maxScore}]
// A server without anomaly detection answers 404: the helpers say so in the
// page instead of failing.
import uPlot from "uplot";
import { ApiError, api } from "./api.js";
import { color } from "./chart.js";
import "./detect.css";
import { h, si, timeZoneLabel } from "./dom.js";
import { ANOMALY_SERIES, type AnomalyEvent, type AnomalyPoint, type AnomalySeriesKind } from "./types.js";

/** Score at or above which a point is anomalous (the model's default threshold, docs/detection.md). */
export const SCORE_THRESHOLD = 1;

export interface AnomalySeriesAnswer {
  series: AnomalySeriesKind;
  key: string;
  stepMs: number;
  points: AnomalyPoint[];
}

export interface TopSeries {
  series: AnomalySeriesKind;
  key: string;
  maxScore: number;
}

/** Thrown (as an ApiError 404) when the server has no anomaly detection. */
export function isMissing(e: unknown): boolean {
  return e instanceof ApiError && e.status === 404;
}

export const MISSING_TEXT =
  "Anomaly scores are not available on this server (detection is off, or this version has no /api/v1/anomalies).";

export function fetchSeries(
  series: AnomalySeriesKind,
  key: string,
  start: number,
  end: number,
): Promise<AnomalySeriesAnswer> {
  const p = new URLSearchParams({ series, key, start: String(start), end: String(end) });
  return api<AnomalySeriesAnswer>(`/api/v1/anomalies/series?${p.toString()}`);
}

export function fetchEvents(
  o: { series?: string; key?: string; limit?: number } = {},
): Promise<AnomalyEvent[]> {
  const p = new URLSearchParams({ limit: String(o.limit ?? 200) });
  if (o.series) p.set("series", o.series);
  if (o.key !== undefined && o.series) p.set("key", o.key);
  return api<AnomalyEvent[]>(`/api/v1/anomalies?${p.toString()}`);
}

/** "dst_as 15169" → "dst AS15169"; total → "total traffic". */
export function seriesLabel(series: string, key: string): string {
  if (series === "total") return "total traffic";
  if (series === "src_as" || series === "dst_as") return `${series === "src_as" ? "src" : "dst"} AS${key}`;
  if (series === "interface") return `interface ${key}`;
  return `${series} ${key}`;
}

/** Events that overlap [startMs, endMs]. */
export function overlapping(events: AnomalyEvent[], startMs: number, endMs: number): AnomalyEvent[] {
  return events.filter((e) => e.startMs <= endMs && (e.endMs ?? Infinity) >= startMs);
}

/** Local-time tick labels by tick step: seconds only when ticks are under a minute apart, dates from a day. */
function timeLabels(vals: number[]): string[] {
  const step = vals.length > 1 ? vals[1]! - vals[0]! : 60;
  return vals.map((v) => {
    const d = new Date(v * 1000);
    if (step < 60) return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
    if (step < 86400) return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    return d.toLocaleDateString([], { month: "short", day: "numeric", hour: "2-digit" });
  });
}

/**
 * Shade the events' spans (start → end, or → the right edge while ongoing)
 * behind everything else of the plot: drawn in drawClear, before grid and series.
 */
function shadeEvents(events: AnomalyEvent[]): (u: uPlot) => void {
  return (u) => {
    const ctx = u.ctx;
    const { left, top, width, height } = u.bbox;
    ctx.save();
    ctx.fillStyle = "rgba(225, 87, 89, 0.16)";
    for (const e of events) {
      const a = Math.max(left, u.valToPos(e.startMs / 1000, "x", true));
      const endSec = e.endMs === null ? (u.scales.x?.max ?? 0) : e.endMs / 1000;
      // At least 2 px so a one-step event stays visible on a long range.
      const b = Math.min(left + width, Math.max(a + 2, u.valToPos(endSec, "x", true)));
      if (b > left && a < left + width) ctx.fillRect(a, top, b - a, height);
    }
    ctx.restore();
  };
}

/** One timeline (epoch seconds) for several point lists; a missing step is null (a gap). */
function align(lists: AnomalyPoint[][], pick: (p: AnomalyPoint) => number): [number[], (number | null)[][]] {
  const ts = [...new Set(lists.flatMap((l) => l.map((p) => p.t)))].sort((a, b) => a - b);
  const idx = new Map(ts.map((t, i) => [t, i]));
  const cols = lists.map((l) => {
    const v = new Array<number | null>(ts.length).fill(null);
    for (const p of l) v[idx.get(p.t)!] = pick(p);
    return v;
  });
  return [ts.map((t) => t / 1000), cols];
}

export interface ChartFrame {
  /** The x range to show (epoch seconds): the traffic chart's, so both charts line up. */
  xRange: [number, number];
  width: number;
  /** Cursor sync key shared with the traffic chart above. */
  syncKey?: string;
  height?: number;
  /** Y axis width in px: the traffic chart's (80 in the explorer), so the plot areas line up. */
  axisSize?: number;
  /** Y axis label; give both charts one (or neither), else their plot areas do not line up. */
  yLabel?: string;
  /** uPlot's legend under the chart (default shown; a small dashboard widget has no room). */
  legend?: boolean;
}

/**
 * The anomaly score chart ("異常度"): one line per series, the threshold as a
 * dashed line, events shaded. Returns the plot (destroy() it with the page).
 */
export function drawScoreChart(
  el: HTMLElement,
  lines: { label: string; points: AnomalyPoint[]; color?: string }[],
  events: AnomalyEvent[],
  f: ChartFrame,
): uPlot {
  const [times, cols] = align(
    lines.map((l) => l.points),
    (p) => p.score,
  );
  const [x0, x1] = f.xRange;
  const maxScore = Math.max(SCORE_THRESHOLD, ...cols.flat().map((v) => v ?? 0));
  const opts: uPlot.Options = {
    width: f.width,
    height: f.height ?? 150,
    legend: { show: f.legend ?? true },
    cursor: { drag: { x: false, y: false }, sync: f.syncKey ? { key: f.syncKey } : undefined },
    scales: {
      x: { time: true, range: () => [x0, x1] },
      y: { range: () => [0, maxScore * 1.1] },
    },
    axes: [
      { values: (_u, vals) => timeLabels(vals), space: 90 },
      {
        size: f.axisSize ?? 80,
        label: f.yLabel,
        labelSize: f.yLabel ? 18 : undefined,
        values: (_u, vals) => vals.map((v) => v.toFixed(v < 10 ? 1 : 0)),
      },
    ],
    series: [
      { value: (_u, v) => (v == null ? "" : new Date(v * 1000).toLocaleString()) },
      ...lines.map((l, i) => ({
        label: `score ${l.label}`,
        stroke: l.color ?? color(i),
        width: 1.5,
        spanGaps: false,
        points: { show: times.length < 3 },
        value: (_u: uPlot, v: number | null) => (v == null ? "–" : v.toFixed(2)),
      })),
      {
        label: `threshold ${SCORE_THRESHOLD}`,
        stroke: "#b00020",
        dash: [4, 4],
        width: 1,
        points: { show: false },
      },
    ],
    hooks: { drawClear: [shadeEvents(events)] },
  };
  // The threshold spans the whole range: two points at the edges, on their own x values.
  const xs = [...new Set([x0, ...times, x1])].sort((a, b) => a - b);
  const at = new Map(times.map((t, i) => [t, i]));
  const data: uPlot.AlignedData = [
    xs,
    ...cols.map((c) => xs.map((x) => (at.has(x) ? c[at.get(x)!]! : null))),
    xs.map(() => SCORE_THRESHOLD),
  ];
  const u = new uPlot(opts, data, el);
  el.dataset.points = String(times.length);
  el.dataset.events = String(events.length);
  return u;
}

/** Observed traffic and what was expected, events shaded: the upper half of the R-style plot. */
export function drawTrafficChart(
  el: HTMLElement,
  points: AnomalyPoint[],
  events: AnomalyEvent[],
  f: ChartFrame,
): uPlot {
  // A model may add a band (lower/upper) to its points; drawn when present.
  type Banded = AnomalyPoint & { lower?: number; upper?: number };
  const pts = [...points].sort((a, b) => a.t - b.t) as Banded[];
  const banded = pts.some((p) => typeof p.lower === "number" && typeof p.upper === "number");
  const times = pts.map((p) => p.t / 1000);
  const series: uPlot.Series[] = [
    { value: (_u, v) => (v == null ? "" : new Date(v * 1000).toLocaleString()) },
    {
      label: "observed",
      stroke: color(0),
      fill: "rgba(78, 121, 167, 0.15)",
      width: 1.5,
      points: { show: times.length < 3 },
      value: (_u, v) => (v == null ? "–" : si(v, "b/s")),
    },
    {
      label: "expected",
      stroke: "#555",
      dash: [6, 4],
      width: 1.5,
      points: { show: false },
      value: (_u, v) => (v == null ? "–" : si(v, "b/s")),
    },
  ];
  const data: (number | null)[][] = [pts.map((p) => p.value), pts.map((p) => p.expected)];
  if (banded) {
    series.push(
      { label: "expected low", stroke: "#aaa", width: 1, points: { show: false } },
      { label: "expected high", stroke: "#aaa", width: 1, points: { show: false } },
    );
    data.push(
      pts.map((p) => p.lower ?? null),
      pts.map((p) => p.upper ?? null),
    );
  }
  const [x0, x1] = f.xRange;
  const opts: uPlot.Options = {
    width: f.width,
    height: f.height ?? 260,
    cursor: { drag: { x: false, y: false }, sync: f.syncKey ? { key: f.syncKey } : undefined },
    scales: {
      x: { time: true, range: () => [x0, x1] },
      y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.05 : 1] },
    },
    axes: [
      {
        values: (_u, vals) => timeLabels(vals),
        space: 90,
        label: `time (${timeZoneLabel()})`,
        labelSize: 18,
      },
      {
        size: f.axisSize ?? 80,
        label: f.yLabel,
        labelSize: f.yLabel ? 18 : undefined,
        values: (_u, vals) => vals.map((v) => si(v, "b/s")),
      },
    ],
    series,
    bands: banded ? [{ series: [4, 3], fill: "rgba(120, 120, 120, 0.12)" }] : undefined,
    hooks: { drawClear: [shadeEvents(events)] },
  };
  const u = new uPlot(opts, [times, ...data] as uPlot.AlignedData, el);
  el.dataset.points = String(times.length);
  return u;
}

/** The x range (epoch seconds) of a uPlot chart's data, or of a fallback. */
export function plotRange(u: uPlot | undefined, fallback: [number, number]): [number, number] {
  const t = u?.data[0];
  return t && t.length > 1 ? [t[0]!, t[t.length - 1]!] : fallback;
}

/**
 * The explorer's overlay: scores of `keys` of one series kind (or the total)
 * under the traffic chart. Draws into `el` (emptied first); returns the plots
 * to destroy. A note explains an empty or missing answer.
 */
export async function drawOverlay(
  el: HTMLElement,
  o: {
    series: AnomalySeriesKind;
    keys: { key: string; label: string; color: string }[];
    start: number;
    end: number;
    frame: ChartFrame;
  },
): Promise<uPlot[]> {
  el.replaceChildren(h("p", { class: "muted" }, "loading anomaly scores…"));
  el.dataset.state = "loading";
  try {
    const [answers, events] = await Promise.all([
      Promise.all(o.keys.map((k) => fetchSeries(o.series, k.key, o.start, o.end))),
      fetchEvents({ series: o.series, limit: 500 }),
    ]);
    const keys = new Set(o.keys.map((k) => k.key));
    const shown = overlapping(
      events.filter((e) => e.series === o.series && keys.has(e.key)),
      o.start,
      o.end,
    );
    const n = answers.reduce((s, a) => s + a.points.length, 0);
    const title = h(
      "div",
      { class: "anomaly-title" },
      h("strong", {}, "異常度"),
      ` anomaly score of ${o.keys.map((k) => k.label).join(", ")}`,
      h(
        "span",
        { class: "muted", id: "ex-anomaly-note" },
        ` · ${n} scored point(s), ${shown.length} event(s) shaded` +
          (answers[0] ? ` · step ${Math.round(answers[0].stepMs / 1000)} s` : ""),
      ),
    );
    const area = h("div", { class: "anomaly-plot" });
    el.replaceChildren(title, area);
    const u = drawScoreChart(
      area,
      answers.map((a, i) => ({ label: o.keys[i]!.label, points: a.points, color: o.keys[i]!.color })),
      shown,
      o.frame,
    );
    el.dataset.state = "ready";
    if (!n)
      area.append(
        h(
          "p",
          { class: "muted" },
          "no scores yet in this range (the model scores each step once it has closed)",
        ),
      );
    return [u];
  } catch (e) {
    el.dataset.state = isMissing(e) ? "missing" : "error";
    el.replaceChildren(
      h(
        "p",
        { class: isMissing(e) ? "muted" : "error" },
        isMissing(e) ? MISSING_TEXT : `error: ${(e as Error).message}`,
      ),
    );
    return [];
  }
}

/**
 * Which scored series a flow chart matches: stacked by source or destination
 * AS alone, the per-AS scores of its groups; any other grouping without a
 * filter adds up to the total traffic, which is scored; a filtered total is not.
 */
export function scoredTarget(dimensions: string[], filter: string): AnomalySeriesKind | null {
  const dim = dimensions.length === 1 ? dimensions[0]! : "";
  if (dim === "src_as" || dim === "dst_as") return dim;
  return filter.trim() ? null : "total";
}

/**
 * The overlay of a dashboard flow widget (area or lines): the score chart in
 * `el` under the widget's chart, for the top `labels` of the chart ("AS64512"
 * → key 64512) or the total. Returns a dispose function.
 */
export function flowOverlay(
  el: HTMLElement,
  o: {
    dimensions: string[];
    filter: string;
    /** The chart's series labels, largest first ("other" is skipped). */
    labels: string[];
    start: number;
    end: number;
    frame: ChartFrame;
  },
): () => void {
  let plots: uPlot[] = [];
  let disposed = false;
  const series = scoredTarget(o.dimensions, o.filter);
  if (!series) {
    el.replaceChildren(
      h(
        "p",
        { class: "muted" },
        "no anomaly score for a filtered total (stack by one AS dimension, or no filter)",
      ),
    );
    el.dataset.state = "ready";
    return () => undefined;
  }
  const keys =
    series === "total"
      ? [{ key: "", label: "total traffic", color: "#333" }]
      : o.labels
          .map((l, i) => ({ m: /^AS(\d+)$/.exec(l), l, i }))
          .filter((x) => x.m)
          .slice(0, 5)
          .map((x) => ({ key: x.m![1]!, label: x.l, color: color(x.i) }));
  void drawOverlay(el, { series, keys, start: o.start, end: o.end, frame: o.frame }).then((p) => {
    if (disposed) for (const u of p) u.destroy();
    else plots = p;
  });
  return () => {
    disposed = true;
    for (const u of plots) u.destroy();
    plots = [];
  };
}

// ---- #/anomalies -------------------------------------------------------------------

const RANGES: Record<string, number> = { "1h": 3600, "6h": 21600, "24h": 86400, "7d": 604800 };

/**
 * #/anomalies?range=24h[&series=dst_as&key=15169]: the anomaly events (newest
 * first), the series with the highest scores in the range, and one series —
 * the one picked, else total traffic — drawn as traffic + expected above and
 * the score below, on one time axis.
 */
export function anomaliesPage(root: HTMLElement, params: URLSearchParams): () => void {
  const range = params.get("range") && params.get("range")! in RANGES ? params.get("range")! : "24h";
  const seriesParam = params.get("series") ?? "total";
  const series = (ANOMALY_SERIES as readonly string[]).includes(seriesParam)
    ? (seriesParam as AnomalySeriesKind)
    : "total";
  const key = series === "total" ? "" : (params.get("key") ?? "");
  const url = (p: Record<string, string>): string => {
    const q = new URLSearchParams({ range, ...p });
    if (q.get("series") === "total") q.delete("key");
    return `#/anomalies?${q.toString()}`;
  };
  // An event link centres its own span; else the range ends now.
  const evStart = Number(params.get("start"));
  const evEnd = Number(params.get("end"));
  const end = evEnd > 0 ? evEnd : Date.now();
  const start = evStart > 0 ? evStart : end - RANGES[range]! * 1000;

  const status = h("p", { class: "muted", id: "an-status" }, "loading…");
  const eventsBody = h("tbody", { id: "an-events" });
  const topBody = h("tbody", { id: "an-top" });
  const traffic = h("div", { class: "anomaly-traffic", id: "an-traffic" });
  const score = h("div", { class: "anomaly-score", id: "an-score" });
  const rangeSel = h(
    "select",
    { id: "an-range", onchange: () => (location.hash = url({ range: rangeSel.value, series, key })) },
    Object.keys(RANGES).map((r) => h("option", { value: r, selected: r === range }, `last ${r}`)),
  );
  root.append(
    h(
      "div",
      { class: "toolbar" },
      h("h1", {}, "Anomalies"),
      h("label", {}, "Time ", rangeSel),
      h("span", { class: "muted" }, `time zone: ${timeZoneLabel()}`),
    ),
    status,
    h("h2", { id: "an-selected" }, seriesLabel(series, key)),
    traffic,
    h(
      "div",
      { class: "anomaly-score-title" },
      h("strong", {}, "異常度"),
      " anomaly score (dashed: threshold)",
    ),
    score,
    h(
      "div",
      { class: "anomaly-lists" },
      h(
        "section",
        {},
        h("h2", {}, "Events"),
        h(
          "table",
          { class: "grid clickable" },
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              ["series", "kind", "start", "end", "peak score"].map((t) => h("th", {}, t)),
            ),
          ),
          eventsBody,
        ),
      ),
      h(
        "section",
        {},
        h("h2", {}, `Top series (last ${range})`),
        h(
          "table",
          { class: "grid clickable" },
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              ["series", "max score"].map((t) => h("th", {}, t)),
            ),
          ),
          topBody,
        ),
      ),
    ),
  );

  const plots: uPlot[] = [];
  let stopped = false;
  const missing = (): void => {
    status.textContent = MISSING_TEXT;
    status.id = "an-status";
    root.dataset.state = "missing";
  };

  void (async () => {
    try {
      const [events, top, answer] = await Promise.all([
        fetchEvents({ limit: 200 }),
        api<TopSeries[]>(`/api/v1/anomalies/top?start=${start}&end=${end}&limit=20`),
        fetchSeries(series, key, start, end),
      ]);
      if (stopped) return;
      eventsBody.replaceChildren(
        ...events.map((e) => {
          // An event opens its series around the event: an hour before it, an hour after its end.
          const a = e.startMs - 3_600_000;
          const b = Math.min(Date.now(), (e.endMs ?? Date.now()) + 3_600_000);
          const href = url({ series: e.series, key: e.key, start: String(a), end: String(b) });
          return h(
            "tr",
            { "data-event-id": e.id, onclick: () => (location.hash = href) },
            h("td", {}, h("a", { href }, seriesLabel(e.series, e.key))),
            h("td", {}, e.kind),
            h("td", {}, new Date(e.startMs).toLocaleString()),
            h(
              "td",
              {},
              e.endMs === null
                ? h("span", { class: "badge triggered" }, "ongoing")
                : new Date(e.endMs).toLocaleString(),
            ),
            h("td", { class: "num" }, e.peakScore.toFixed(2)),
          );
        }),
      );
      if (!events.length)
        eventsBody.append(
          h("tr", {}, h("td", { colspan: 5, class: "muted", id: "an-events-empty" }, "no anomaly events")),
        );
      topBody.replaceChildren(
        ...top.map((t) => {
          const href = url({ series: t.series, key: t.key });
          return h(
            "tr",
            {
              "data-series": t.series,
              "data-key": t.key,
              class: t.series === series && t.key === key ? "selected" : "",
              onclick: () => (location.hash = href),
            },
            h("td", {}, h("a", { href }, seriesLabel(t.series, t.key))),
            h("td", { class: "num" }, t.maxScore.toFixed(2)),
          );
        }),
      );
      if (!top.length)
        topBody.append(
          h("tr", {}, h("td", { colspan: 2, class: "muted" }, "no scored series in this range yet")),
        );

      const mine = overlapping(
        events.filter((e) => e.series === series && e.key === key),
        start,
        end,
      );
      const width = Math.max(400, traffic.clientWidth || 900);
      const frame: ChartFrame = { xRange: [start / 1000, end / 1000], width, syncKey: "anomalies" };
      traffic.replaceChildren();
      score.replaceChildren();
      plots.push(drawTrafficChart(traffic, answer.points, mine, { ...frame, yLabel: "bits/s" }));
      plots.push(
        drawScoreChart(score, [{ label: seriesLabel(series, key), points: answer.points }], mine, {
          ...frame,
          yLabel: "異常度 score",
        }),
      );
      status.textContent =
        `${answer.points.length} point(s) at ${Math.round(answer.stepMs / 1000)} s steps, ` +
        `${mine.length} event(s) shaded, ${new Date(start).toLocaleString()} – ${new Date(end).toLocaleString()}`;
      root.dataset.state = "ready";
    } catch (e) {
      if (stopped) return;
      if (isMissing(e)) missing();
      else {
        status.textContent = `error: ${(e as Error).message}`;
        status.className = "error";
        root.dataset.state = "error";
      }
    }
  })();
  return () => {
    stopped = true;
    for (const p of plots) p.destroy();
  };
}
