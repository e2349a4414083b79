// Dashboard widgets: one .widget element per Widget, drawing one of
//   viz  — a saved query run with the dashboard's parameters (POST
//          /api/v1/queries/:id/run) and drawn by renderViz with one of the
//          query's visualizations;
//   flow — a structured flow query (POST /api/v1/flows/query) over the
//          dashboard's time range and nfdump filter, drawn by renderViz;
//   text — plain text with a little markdown, built as DOM nodes (user text
//          is never parsed as HTML);
//   live — the per-second live chart (SSE /api/v1/live), as the Live page.
// On a shared link (#/share/<token>) viz and flow widgets run through
// /api/v1/share/<token>/widgets/<id>/run instead: the server runs the widget
// as saved, so the link can run nothing else.
//
// Every widget element carries data-state="loading|ready|error": the e2e test
// waits on it and the dashboard marks "nagare:dashboard-drawn" when all are ready.
import { flowOverlay } from "./anomaly.js";
import { api } from "./api.js";
import { StackedChart } from "./chart.js";
import {
  combineFilters,
  flowQueryBody,
  flowToViz,
  queryParamValues,
  resolveRange,
  type FlowAnswer,
  type Result,
  type TimeRange,
} from "./dashboard-core.js";
import { h, si } from "./dom.js";
import type { ParamDef, ParamValue, SavedQuery, Viz, Widget } from "./types.js";

export {
  FLOW_CHARTS,
  FLOW_DIMS,
  FLOW_METRICS,
  LIVE_DIMS,
  combineFilters,
  flowShape,
  freeSlot,
  type Result,
} from "./dashboard-core.js";
import { renderViz } from "./viz/index.js";

/** What every widget of one dashboard shares; the dashboard mutates it and calls refresh(). */
export interface DashboardContext {
  range: TimeRange;
  filter: string;
  /** Dashboard parameter values by dashboard parameter name. */
  params: Record<string, ParamValue>;
  paramDefs: ParamDef[];
  /** Set on a shared link: widgets run through the share API only. */
  shareToken?: string;
  /** Saved queries known up front (the share API sends them, without SQL); others are fetched. */
  queries: Map<string, Omit<SavedQuery, "sql"> | Promise<Omit<SavedQuery, "sql">>>;
}

export type WidgetState = "loading" | "ready" | "error";

export interface WidgetView {
  el: HTMLElement;
  /** The header, where the dashboard puts its edit controls. */
  head: HTMLElement;
  widget: Widget;
  refresh(): Promise<void>;
  /** Draws the last result again at the element's current size (no query). */
  redraw(): void;
  dispose(): void;
}

/** Rows a chart widget asks for: enough for any chart, bounded for the browser. */
const VIZ_LIMIT = 10_000;

// ---------------------------------------------------------------------------
// Flow widgets

function getQuery(ctx: DashboardContext, id: string): Promise<Omit<SavedQuery, "sql">> {
  let q = ctx.queries.get(id);
  if (!q) {
    if (ctx.shareToken) return Promise.reject(new Error(`query ${id} is not part of this shared dashboard`));
    q = api<SavedQuery>(`/api/v1/queries/${encodeURIComponent(id)}`);
    // A failed fetch is not cached: the next refresh tries again.
    q.catch(() => ctx.queries.delete(id));
    ctx.queries.set(id, q);
  }
  return Promise.resolve(q);
}

function shareRun<T>(ctx: DashboardContext, w: Widget, body: Record<string, unknown>): Promise<T> {
  return api<T>(
    `/api/v1/share/${encodeURIComponent(ctx.shareToken!)}/widgets/${encodeURIComponent(w.id)}/run`,
    { method: "POST", body },
  );
}

// ---------------------------------------------------------------------------
// Text widgets: a minimal markdown — "#"…"###" headings, "- " list items,
// **bold**, [text](http…) links — built node by node so the text stays text.

function inline(text: string): (Node | string)[] {
  const out: (Node | string)[] = [];
  const re = /\*\*([^*]+)\*\*|\[([^\]]+)\]\(([^)\s]+)\)/g;
  let last = 0;
  for (const m of text.matchAll(re)) {
    if (m.index > last) out.push(text.slice(last, m.index));
    if (m[1] !== undefined) out.push(h("strong", {}, m[1]));
    else {
      const href = m[3]!;
      // Only web links and in-app routes: a javascript: or data: URL stays plain text.
      if (/^(https?:\/\/|#\/|\/)/i.test(href))
        out.push(
          h("a", { href, rel: "noopener noreferrer", target: href.startsWith("#") ? null : "_blank" }, m[2]!),
        );
      else out.push(m[0]);
    }
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

export function renderText(text: string): HTMLElement {
  const root = h("div", { class: "w-text" });
  let list: HTMLUListElement | null = null;
  let para: string[] = [];
  const flush = (): void => {
    if (para.length) root.append(h("p", {}, inline(para.join(" "))));
    para = [];
  };
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trimEnd();
    const head = /^(#{1,3})\s+(.*)$/.exec(line);
    const item = /^\s*[-*]\s+(.*)$/.exec(line);
    if (head) {
      flush();
      list = null;
      const tag = (["h2", "h3", "h4"] as const)[head[1]!.length - 1]!;
      root.append(h(tag, {}, inline(head[2]!)));
    } else if (item) {
      flush();
      if (!list) root.append((list = h("ul", {})));
      list.append(h("li", {}, inline(item[1]!)));
    } else if (line.trim() === "") {
      flush();
      list = null;
    } else {
      list = null;
      para.push(line.trim());
    }
  }
  flush();
  return root;
}

// ---------------------------------------------------------------------------
// Live widgets: the Live page's stacked per-second chart.

interface LiveCounts {
  bytes: number;
  packets: number;
  flows: number;
}
interface LivePoint {
  t: number;
  total: LiveCounts;
  top: (LiveCounts & { key: string })[];
}

function liveWidget(
  body: HTMLElement,
  /** The SSE URL (/api/v1/live?dim=… or a share link's widget stream). */
  url: string,
  height: number,
  ready: () => void,
  fail: (m: string) => void,
): () => void {
  const chartEl = h("div", { class: "w-live" });
  const status = h("div", { class: "muted w-live-status" }, "connecting…");
  body.replaceChildren(status, chartEl);
  // The plot fills the widget: its height minus the status line (the legend is hidden in CSS).
  const chart = new StackedChart(chartEl, (v) => si(v, "b/s"), undefined, Math.max(120, height - 34));
  let points: LivePoint[] = [];
  const draw = (): void => {
    if (points.length === 0) return;
    const sums = new Map<string, number>();
    for (const p of points) for (const e of p.top) sums.set(e.key, (sums.get(e.key) ?? 0) + e.bytes);
    const keys = [...sums.entries()]
      .filter(([k]) => k !== "other")
      .sort((a, b) => b[1] - a[1])
      .slice(0, 8)
      .map(([k]) => k);
    const idx = new Map(keys.map((k, i) => [k, i]));
    const series = [...keys, "other"].map((label) => ({
      label,
      values: new Array<number>(points.length).fill(0),
    }));
    points.forEach((p, j) => {
      for (const e of p.top) series[idx.get(e.key) ?? keys.length]!.values[j]! += e.bytes * 8;
    });
    chart.set({ times: points.map((p) => p.t / 1000), series });
    const last = points[points.length - 1]!;
    status.textContent = `${si(last.total.bytes * 8, "b/s")} · ${si(last.total.packets, "p/s")} · ${si(last.total.flows, "flows/s")}`;
  };
  const es = new EventSource(url);
  es.addEventListener("window", (ev) => {
    points = (JSON.parse((ev as MessageEvent<string>).data) as { points: LivePoint[] }).points;
    draw();
    ready();
  });
  es.addEventListener("second", (ev) => {
    points.push(JSON.parse((ev as MessageEvent<string>).data) as LivePoint);
    if (points.length > 600) points.splice(0, points.length - 600);
    draw();
  });
  es.onerror = () => {
    // EventSource reconnects by itself; before the first window it is an error worth showing.
    if (points.length === 0) fail("live view unreachable");
    status.textContent = "disconnected, retrying…";
  };
  return () => {
    es.close();
    chart.destroy();
  };
}

// ---------------------------------------------------------------------------

/**
 * Builds one widget's element and draws it. `onState` hears every state
 * change (the dashboard counts ready widgets). The element is placed on the
 * 12-column grid by its x/y/w/h; placeWidget() moves it.
 */
export function createWidget(
  w: Widget,
  ctx: DashboardContext,
  onState: (state: WidgetState) => void = () => undefined,
): WidgetView {
  const title = h("span", { class: "w-title" }, w.title || "(untitled)");
  const head = h("div", { class: "w-head" }, title);
  const body = h("div", { class: "w-body" });
  const el = h("section", { class: `widget wt-${w.type}`, "data-widget-id": w.id }, head, body);
  placeWidget(el, w);
  let disposeDraw: (() => void) | null = null;
  let seq = 0;
  let disposed = false;

  const setState = (s: WidgetState, message?: string): void => {
    el.dataset.state = s;
    el.title = s === "error" ? (message ?? "") : "";
    onState(s);
  };
  const showError = (message: string): void => {
    disposeDraw?.();
    disposeDraw = null;
    body.replaceChildren(h("p", { class: "error w-error" }, message));
    setState("error", message);
  };
  /** The body's drawable height: the grid cell minus the header. */
  const bodyHeight = (): number => Math.max(80, body.clientHeight || w.h * 80 - 40);

  let last: { viz: Viz; result: Result } | null = null;
  const draw = (viz: Viz, result: Result): void => {
    last = { viz, result };
    disposeDraw?.();
    const holder = h("div", { class: "w-viz" });
    body.replaceChildren(holder);
    // The anomaly score under a flow chart over time (issue 6; not on share links: the
    // score API needs a session).
    const spec = w.type === "flow" ? w.flow : undefined;
    const overlay =
      !!spec?.anomaly &&
      (viz.type === "area" || viz.type === "line") &&
      !ctx.shareToken &&
      result.rows.length > 0;
    // A pie is as tall as it is wide; keep room beside it for its legend in a narrow widget.
    const full =
      viz.type === "pie" ? Math.min(bodyHeight(), Math.max(140, body.clientWidth * 0.55)) : bodyHeight();
    const height = overlay ? Math.round(full * 0.58) : full;
    const disposeViz = renderViz(holder, viz, result, { height: height - 8 });
    if (!overlay || !spec) {
      disposeDraw = disposeViz;
      return;
    }
    // Series labels largest first, and the chart's time span (its x range).
    const sums = new Map<string, number>();
    let t0 = Infinity;
    let t1 = -Infinity;
    for (const r of result.rows) {
      const t = Number(r[0]);
      t0 = Math.min(t0, t);
      t1 = Math.max(t1, t);
      sums.set(String(r[1]), (sums.get(String(r[1])) ?? 0) + Number(r[2] ?? 0));
    }
    const labels = [...sums.entries()].sort((a, b) => b[1] - a[1]).map(([k]) => k);
    const ov = h("div", { class: "w-anomaly" });
    body.append(ov);
    const { start, end } = resolveRange(ctx.range);
    const disposeOv = flowOverlay(ov, {
      dimensions: spec.dimensions,
      filter: combineFilters(ctx.filter, spec.filter) ?? "",
      labels,
      start,
      end,
      frame: {
        xRange: [t0 / 1000, t1 / 1000],
        width: Math.max(200, holder.clientWidth || 600),
        height: Math.max(100, full - height - 36),
        axisSize: 72,
        legend: false,
      },
    });
    disposeDraw = () => {
      disposeViz();
      disposeOv();
    };
  };

  const run = async (): Promise<void> => {
    if (w.type === "text") {
      body.replaceChildren(renderText(w.text ?? ""));
      setState("ready");
      return;
    }
    if (w.type === "live") {
      if (disposeDraw) return; // the stream keeps itself current
      setState("loading");
      disposeDraw = liveWidget(
        body,
        // A share link streams through its token (that widget's dimension only), no session needed.
        ctx.shareToken
          ? `/api/v1/share/${encodeURIComponent(ctx.shareToken)}/widgets/${encodeURIComponent(w.id)}/live`
          : `/api/v1/live?dim=${encodeURIComponent(w.liveDim ?? "protocol")}`,
        bodyHeight(),
        () => {
          if (el.dataset.state !== "ready") setState("ready");
        },
        (m) => {
          if (el.dataset.state !== "error") setState("error", m);
        },
      );
      return;
    }
    const my = ++seq;
    setState("loading");
    try {
      let viz: Viz;
      let result: Result;
      if (w.type === "flow") {
        if (!w.flow) throw new Error("this flow widget has no query");
        const spec = w.flow;
        const ans = ctx.shareToken
          ? await shareRun<FlowAnswer>(ctx, w, {
              params: ctx.params,
              start: ctx.range.start,
              end: ctx.range.end,
              filter: ctx.filter,
            })
          : await api<FlowAnswer>("/api/v1/flows/query", { method: "POST", body: flowQueryBody(spec, ctx) });
        ({ viz, result } = flowToViz(spec, ans));
      } else {
        if (!w.queryId) throw new Error("this widget has no saved query");
        const q = await getQuery(ctx, w.queryId);
        const v = q.visualizations.find((x) => x.id === w.vizId) ?? q.visualizations[0];
        viz = v ?? { id: "table", type: "table", name: "Table", options: {} };
        // A shared link sends the dashboard's values; the server maps them as below.
        result = ctx.shareToken
          ? await shareRun<Result>(ctx, w, {
              params: ctx.params,
              start: ctx.range.start,
              end: ctx.range.end,
              limit: VIZ_LIMIT,
            })
          : await api<Result>(`/api/v1/queries/${encodeURIComponent(w.queryId)}/run`, {
              method: "POST",
              body: { params: queryParamValues(q.params, w, ctx), limit: VIZ_LIMIT },
            });
      }
      if (disposed || my !== seq) return;
      draw(viz, result);
      setState("ready");
    } catch (err) {
      if (disposed || my !== seq) return;
      showError((err as Error).message);
    }
  };

  return {
    el,
    head,
    widget: w,
    refresh: run,
    redraw() {
      if (last && el.dataset.state === "ready") draw(last.viz, last.result);
    },
    dispose() {
      disposed = true;
      disposeDraw?.();
      disposeDraw = null;
    },
  };
}

/** Puts a widget element on the 12-column grid (1-based CSS lines from 0-based units). */
export function placeWidget(el: HTMLElement, w: Pick<Widget, "x" | "y" | "w" | "h">): void {
  el.style.gridColumn = `${w.x + 1} / span ${w.w}`;
  el.style.gridRow = `${w.y + 1} / span ${w.h}`;
}
