// Visualizations of a SQL result: renderViz(el, viz, result) draws one of
// VIZ_TYPES and returns its dispose function. The x/y charts (line, area,
// bar, stacked bar, scatter) are uPlot; pie and Sankey are SVG; heatmap is a
// canvas; counter is text; table is the virtualized grid over the rows in
// memory. The data shaping (pivot, gap filling, layout, formatting) is in
// data.ts and tested in node; this file only draws and wires events.
//
// What re:dash users complain about and how it is handled here: time axes
// are put on a regular grid and missing steps drawn as 0 (or as a break,
// never a line across a gap); times are shown in the browser's zone and the
// zone with its UTC offset is written on the axis; every series, slice, bar,
// band, cell and row is clickable for drill-down (opts.onClick gets the row).
import uPlot from "uplot";
import "./viz.css";
import { VIZ_TYPES, type Viz, type VizOptions, type VizType } from "../types.js";
import { color } from "../chart.js";
import { h } from "../dom.js";
import { memoryGrid } from "../grid.js";
import {
  buildHeatmap,
  buildPie,
  buildScatter,
  buildSeries,
  counterValue,
  formatFullTime,
  formatTick,
  formatValue,
  guessVizType,
  layoutSankey,
  linkPath,
  pointRow,
  rowObject,
  sankeyLinks,
  stack,
  timeZoneLabel,
  type QueryResult,
  type SeriesData,
} from "./data.js";

export type { QueryResult } from "./data.js";

export { VIZ_TYPES };

export const VIZ_LABELS: Record<VizType, string> = {
  table: "Table",
  line: "Line",
  area: "Area (stacked)",
  bar: "Bar",
  stackedbar: "Stacked bar",
  pie: "Pie",
  scatter: "Scatter",
  heatmap: "Heatmap",
  counter: "Counter",
  sankey: "Sankey",
};

export interface RenderOptions {
  /** Drill-down: the result row (or a synthetic one for filled gaps / "Other") behind what was clicked. */
  onClick?: (row: Record<string, unknown>) => void;
  /** Total height in px (default 300). */
  height?: number;
}

function newId(): string {
  return Math.random().toString(36).slice(2, 10);
}

/** The default visualization: time column → line, one row of one number → counter, else table. */
export function guessViz(result: QueryResult): Viz {
  const g = guessVizType(result);
  return { id: newId(), type: g.type, name: VIZ_LABELS[g.type], options: g.options };
}

/** Draws viz into el (replacing its content); returns a function that removes it and frees everything. */
export function renderViz(
  el: HTMLElement,
  viz: Viz,
  result: QueryResult,
  opts: RenderOptions = {},
): () => void {
  const root = h("div", { class: `viz viz-${viz.type}`, "data-viz-type": viz.type });
  el.replaceChildren(root);
  const height = opts.height ?? 300;
  const done = (): void => root.remove();
  if (result.rows.length === 0 && viz.type !== "table") {
    root.append(h("div", { class: "viz-empty muted" }, "No rows"));
    return done;
  }
  try {
    let dispose: () => void;
    switch (viz.type) {
      case "table":
        dispose = tableViz(root, result, opts, height);
        break;
      case "pie":
        dispose = pieViz(root, viz.options, result, opts, height);
        break;
      case "counter":
        dispose = counterViz(root, viz, result, opts, height);
        break;
      case "heatmap":
        dispose = heatmapViz(root, viz.options, result, opts, height);
        break;
      case "sankey":
        dispose = sankeyViz(root, viz.options, result, opts, height);
        break;
      default:
        dispose = xyViz(root, viz.type, viz.options, result, opts, height);
    }
    return () => {
      dispose();
      done();
    };
  } catch (e) {
    root.replaceChildren(
      h(
        "div",
        { class: "viz-error error" },
        `Cannot draw ${viz.type}: ${e instanceof Error ? e.message : String(e)}`,
      ),
    );
    return done;
  }
}

// ------------------------------------------------------------------ helpers

/** Calls fn (once per frame at most) when el's width changes. */
function onWidth(el: HTMLElement, fn: (w: number) => void): () => void {
  if (typeof ResizeObserver !== "function") return () => {};
  let last = el.clientWidth;
  let raf = 0;
  const ro = new ResizeObserver(() => {
    const w = el.clientWidth;
    if (w === last || w === 0) return;
    last = w;
    if (!raf)
      raf = requestAnimationFrame(() => {
        raf = 0;
        fn(last);
      });
  });
  ro.observe(el);
  return () => {
    ro.disconnect();
    if (raf) cancelAnimationFrame(raf);
  };
}

const SVG = "http://www.w3.org/2000/svg";
function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number> = {},
  title?: string,
): SVGElementTagNameMap[K] {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (title) {
    const t = document.createElementNS(SVG, "title");
    t.textContent = title;
    e.append(t);
  }
  return e;
}

function alpha(hex: string, a: number): string {
  return `${hex}${Math.round(a * 255)
    .toString(16)
    .padStart(2, "0")}`;
}

/**
 * Legend entries with totals. A rate (bps) summed over time means nothing,
 * so rates show their average and peak instead.
 */
function legendBox(
  items: { label: string; color: string; values: readonly (number | null)[]; total: number }[],
  o: VizOptions,
  onToggle?: (i: number, shown: boolean) => void,
): HTMLElement {
  const fmt = (v: number): string => formatValue(v, o.format);
  const box = h("div", { class: "viz-legend" });
  items.forEach((it, i) => {
    let stat: string;
    if (o.format === "bps") {
      const vs = it.values.filter((v): v is number => v !== null);
      const avg = vs.length ? vs.reduce((a, v) => a + v, 0) / vs.length : 0;
      stat = `avg ${fmt(avg)} · max ${fmt(vs.length ? Math.max(...vs) : 0)}`;
    } else stat = fmt(it.total);
    const item = h(
      "span",
      { class: "viz-legend-item", title: `${it.label}: ${stat}`, "data-series": it.label },
      h("span", { class: "swatch", style: `background:${it.color}` }),
      h("span", { class: "viz-legend-label" }, it.label),
      h("span", { class: "viz-legend-total" }, stat),
    );
    if (onToggle)
      item.addEventListener("click", () => {
        const off = item.classList.toggle("off");
        onToggle(i, !off);
      });
    box.append(item);
  });
  return box;
}

// ------------------------------------------------------- x/y charts (uPlot)

function xyViz(
  root: HTMLElement,
  type: VizType,
  o: VizOptions,
  result: QueryResult,
  opts: RenderOptions,
  height: number,
): () => void {
  const data: SeriesData =
    type === "scatter"
      ? buildScatter(result, o)
      : buildSeries(result, o, 20, type === "bar" || type === "stackedbar");
  if (data.series.length === 0 || data.x.length === 0) {
    root.append(h("div", { class: "viz-empty muted" }, "Nothing to plot: no numeric column"));
    return () => {};
  }
  const fmt = (v: number): string => formatValue(v, o.format);
  const stacked = type === "area" || type === "stackedbar";
  const isBar = type === "bar" || type === "stackedbar";
  const n = data.series.length;
  const isTime = data.xKind === "time";
  const xs = isTime ? data.x.map((v) => v / 1000) : data.x;
  const tz = timeZoneLabel(data.x[0]);
  // The width of one x slot in scale units (bars are sized from it).
  let slot = 1;
  if (isTime) slot = data.stepMs ? data.stepMs / 1000 : minGap(xs);
  else if (data.xKind === "number") slot = minGap(xs);
  // Hidden (legend-toggled) series are left out of the stack, so the bands above close up.
  const hidden = new Set<number>();
  const restack = (): number[][] =>
    stack(data.series.map((s, i) => (hidden.has(i) ? { ...s, values: s.values.map(() => 0) } : s)));
  let cum = stacked ? restack() : null;
  // Stacked: drawn topmost band first so each fill only covers its own band.
  const order = data.series.map((_, i) => (stacked ? n - 1 - i : i));
  const ys = order.map((i) => (cum ? cum[i]! : data.series[i]!.values));
  const grouped = type === "bar" && n > 1;
  const barsFor = (k: number): uPlot.Series.PathBuilder => {
    if (!grouped) return uPlot.paths.bars!({ size: [0.7, 80] });
    const w = (slot * 0.8) / n;
    return uPlot.paths.bars!({
      disp: {
        x0: {
          unit: 1 as uPlot.Series.BarsPathBuilderFacetUnit,
          values: (u) => (u.data[0] as number[]).map((x) => x - slot * 0.4 + k * w),
        },
        size: { unit: 1 as uPlot.Series.BarsPathBuilderFacetUnit, values: () => [w * 0.92] },
      },
    });
  };

  const xLabel = (i: number): string => {
    const v = data.x[i];
    if (v === undefined) return "";
    if (isTime) return formatFullTime(v);
    if (data.xKind === "category") return data.categories[v] ?? "";
    return formatValue(v);
  };

  const plotEl = h("div", { class: "viz-plot" });
  const readout = h("div", { class: "viz-readout muted" });
  const idle = isTime ? `Times in ${tz}` : "";
  readout.textContent = idle;
  const legend = legendBox(
    data.series.map((s, i) => ({ label: s.label, color: color(i), values: s.values, total: s.total })),
    o,
    (i, shown) => {
      if (shown) hidden.delete(i);
      else hidden.add(i);
      if (stacked) {
        cum = restack();
        plot.setData([xs, ...order.map((k) => cum![k]!)]);
      }
      plot.setSeries(order.indexOf(i) + 1, { show: shown });
    },
  );
  root.append(plotEl, readout, legend);

  const catSplits = (u: uPlot): number[] => {
    const every = Math.max(
      1,
      Math.ceil(data.categories.length / Math.max(1, u.bbox.width / devicePixelRatio / 70)),
    );
    return data.categories.map((_, i) => i).filter((i) => i % every === 0);
  };
  const opt: uPlot.Options = {
    width: Math.max(200, root.clientWidth || 600),
    height: Math.max(120, height - 60),
    legend: { show: false },
    cursor: { drag: { x: false, y: false }, points: { show: !isBar } },
    scales: {
      x: {
        time: isTime,
        range:
          data.xKind === "category"
            ? () => [-0.5, data.categories.length - 0.5]
            : isBar
              ? (_u, min, max) => [min - slot / 2, max + slot / 2]
              : undefined,
      },
      y: {
        range: (_u, min, max) =>
          type === "scatter"
            ? [min - (max - min) * 0.05, max + (max - min) * 0.05 || 1]
            : [Math.min(0, min), max > 0 ? max * 1.05 : 1],
      },
    },
    axes: [
      {
        label: isTime ? `${data.xColumn} — ${tz}` : data.xColumn,
        labelSize: 20,
        ...(data.xKind === "category"
          ? {
              splits: catSplits,
              values: (_u: uPlot, vals: number[]) =>
                vals.map((v) => truncate(data.categories[Math.round(v)] ?? "", 16)),
            }
          : isTime
            ? {
                values: (_u: uPlot, vals: number[]) =>
                  vals.map((v) => formatTick(v * 1000, ((vals[1] ?? v + 1) - (vals[0] ?? v)) * 1000)),
              }
            : { values: (_u: uPlot, vals: number[]) => vals.map((v) => formatValue(v)) }),
      },
      {
        size: 72,
        label: data.seriesColumn ? undefined : n === 1 ? data.series[0]!.label : undefined,
        values: (_u, vals) => vals.map((v) => fmt(v)),
      },
    ],
    series: [
      {},
      ...order.map((i, k): uPlot.Series => {
        const c = color(i);
        const base: uPlot.Series = { label: data.series[i]!.label, stroke: c, spanGaps: false };
        if (type === "scatter")
          return {
            ...base,
            width: 0,
            paths: () => null,
            points: { show: true, size: 6, stroke: c, fill: alpha(c, 0.6) },
          };
        if (isBar) return { ...base, width: 0, fill: c, paths: barsFor(k), points: { show: false } };
        if (type === "area") return { ...base, width: 1, fill: alpha(c, 0.85), points: { show: false } };
        return { ...base, width: 1.5, points: { show: xs.length <= 60, size: 5 } };
      }),
    ],
    hooks: {
      setCursor: [
        (u) => {
          const idx = u.cursor.idx;
          if (idx == null) {
            readout.textContent = idle;
            return;
          }
          const parts = data.series
            .map((s, i) => ({ s, i }))
            .filter(({ s }) => s.values[idx] !== null)
            .slice(0, 8)
            .map(({ s }) => `${s.label} ${fmt(s.values[idx] ?? 0)}`);
          readout.textContent = `${xLabel(idx)}: ${parts.join(" · ")}`;
        },
      ],
    },
  };
  const aligned: uPlot.AlignedData = [xs, ...ys];
  const plot = new uPlot(opt, aligned, plotEl);

  const pick = (u: uPlot): number => {
    const idx = u.cursor.idx;
    const top = u.cursor.top ?? 0;
    const left = u.cursor.left ?? 0;
    if (idx == null) return -1;
    if (cum) {
      const y = u.posToVal(top, "y");
      for (let i = 0; i < n; i++)
        if ((cum[i]![idx] ?? 0) >= y && u.series[order.indexOf(i) + 1]?.show !== false) return i;
      return -1;
    }
    if (grouped) {
      const off = (u.posToVal(left, "x") - (xs[idx] ?? 0)) / slot + 0.4;
      const k = Math.floor(off / (0.8 / n));
      return k >= 0 && k < n ? k : -1;
    }
    let best = -1;
    let bestD = Infinity;
    data.series.forEach((s, i) => {
      const v = s.values[idx];
      if (v === null || v === undefined || u.series[order.indexOf(i) + 1]?.show === false) return;
      const d = Math.abs(u.valToPos(v, "y") - top);
      if (d < bestD) {
        bestD = d;
        best = i;
      }
    });
    return best;
  };
  const click = (): void => {
    const idx = plot.cursor.idx;
    const s = pick(plot);
    if (idx == null || s < 0 || !opts.onClick) return;
    opts.onClick(pointRow(result, data, s, idx));
  };
  if (opts.onClick) {
    plot.over.addEventListener("click", click);
    plot.over.style.cursor = "pointer";
  }
  const stop = onWidth(root, (w) =>
    plot.setSize({ width: Math.max(200, w), height: Math.max(120, height - 60) }),
  );
  return () => {
    stop();
    plot.destroy();
  };
}

function minGap(xs: readonly number[]): number {
  let g = Infinity;
  for (let i = 1; i < xs.length; i++) {
    const d = xs[i]! - xs[i - 1]!;
    if (d > 0 && d < g) g = d;
  }
  return Number.isFinite(g) ? g : 1;
}

function truncate(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

// -------------------------------------------------------------------- table

function tableViz(root: HTMLElement, result: QueryResult, opts: RenderOptions, height: number): () => void {
  const g = memoryGrid(root, result.columns, result.rows, {
    height: Math.max(120, height - 24),
    onRowClick: opts.onClick ? (row) => opts.onClick!(row) : undefined,
  });
  return () => g.dispose();
}

// ---------------------------------------------------------------------- pie

function pieViz(
  root: HTMLElement,
  o: VizOptions,
  result: QueryResult,
  opts: RenderOptions,
  height: number,
): () => void {
  const { slices, total } = buildPie(result, o);
  if (total <= 0) {
    root.append(h("div", { class: "viz-empty muted" }, "Nothing to plot: no positive values"));
    return () => {};
  }
  const size = Math.max(120, Math.min(height - 10, 420));
  const r = size / 2 - 4;
  const c = size / 2;
  const chart = svg("svg", {
    width: size,
    height: size,
    viewBox: `0 0 ${size} ${size}`,
    class: "viz-pie-svg",
  });
  let a0 = -Math.PI / 2;
  slices.forEach((s, i) => {
    const frac = s.value / total;
    const a1 = a0 + frac * 2 * Math.PI;
    const tip = `${s.label}: ${formatValue(s.value, o.format)} (${(frac * 100).toFixed(1)} %)`;
    let shape: SVGElement;
    if (frac >= 0.9999) shape = svg("circle", { cx: c, cy: c, r }, tip);
    else {
      const large = a1 - a0 > Math.PI ? 1 : 0;
      const p = (a: number): string =>
        `${(c + r * Math.cos(a)).toFixed(2)},${(c + r * Math.sin(a)).toFixed(2)}`;
      shape = svg("path", { d: `M${c},${c}L${p(a0)}A${r},${r} 0 ${large} 1 ${p(a1)}Z` }, tip);
    }
    shape.setAttribute("fill", color(i));
    shape.setAttribute("class", "viz-slice");
    shape.setAttribute("data-label", s.label);
    if (opts.onClick) {
      const click = opts.onClick;
      shape.addEventListener("click", () =>
        click(s.row >= 0 ? rowObject(result, s.row) : { label: s.label, value: s.value }),
      );
    }
    chart.append(shape);
    a0 = a1;
  });
  const legend = legendBox(
    slices.map((s, i) => ({
      label: `${s.label} (${((s.value / total) * 100).toFixed(1)} %)`,
      color: color(i),
      values: [s.value],
      total: s.value,
    })),
    { ...o, format: o.format === "bps" ? "number" : o.format },
  );
  legend.prepend(
    h("span", { class: "viz-legend-item viz-legend-sum" }, `Total ${formatValue(total, o.format)}`),
  );
  root.append(h("div", { class: "viz-pie" }, chart, legend));
  return () => {};
}

// ------------------------------------------------------------------ counter

function counterViz(
  root: HTMLElement,
  viz: Viz,
  result: QueryResult,
  opts: RenderOptions,
  height: number,
): () => void {
  const c = counterValue(result, viz.options);
  const text = c.value === null ? String(c.raw ?? "—") : formatValue(c.value, viz.options.format);
  const box = h(
    "div",
    {
      class: "viz-counter",
      style: `min-height:${Math.min(height, 200)}px`,
      title: `${c.column} = ${String(c.raw)}`,
    },
    h("div", { class: "viz-counter-value" }, text),
    h("div", { class: "viz-counter-label muted" }, viz.options.label ?? c.column),
  );
  if (opts.onClick) {
    const click = opts.onClick;
    box.classList.add("clickable");
    box.addEventListener("click", () => click(rowObject(result, c.row)));
  }
  root.append(box);
  return () => {};
}

// ------------------------------------------------------------------ heatmap

/** Light to dark blue: readable on the light UI, 0 stays almost white. */
function heat(t: number): string {
  const a = [247, 251, 255];
  const b = [8, 48, 107];
  const m = (i: number): number => Math.round(a[i]! + (b[i]! - a[i]!) * Math.max(0, Math.min(1, t)));
  return `rgb(${m(0)},${m(1)},${m(2)})`;
}

function heatmapViz(
  root: HTMLElement,
  o: VizOptions,
  result: QueryResult,
  opts: RenderOptions,
  height: number,
): () => void {
  const d = buildHeatmap(result, o);
  if (!d.seriesColumn || d.series.length === 0) {
    root.append(h("div", { class: "viz-empty muted" }, "Heatmap needs x, a row column (series) and a value"));
    return () => {};
  }
  const isTime = d.xKind === "time";
  const span = (d.x[d.x.length - 1] ?? 0) - (d.x[0] ?? 0);
  const canvas = h("canvas", { class: "viz-heat-canvas" });
  const readout = h("div", { class: "viz-readout muted" });
  const idle = `${d.seriesColumn} by ${d.xColumn}${isTime ? ` — ${timeZoneLabel(d.x[0])}` : ""} · max ${formatValue(d.max, o.format)}`;
  readout.textContent = idle;
  const scale = h(
    "div",
    { class: "viz-heat-scale" },
    h("span", {}, "0"),
    h("span", { class: "viz-heat-ramp" }),
    h("span", {}, formatValue(d.max, o.format)),
  );
  root.append(canvas, readout, scale);
  const left = 120;
  const bottom = 22;
  let geom = { cw: 1, ch: 1 };
  let labelEvery = 1;
  const labelX = (i: number): string => {
    const v = d.x[i] ?? 0;
    return isTime
      ? formatTick(v, Math.max(1, labelEvery) * d.stepMs || span)
      : d.xKind === "category"
        ? (d.categories[v] ?? "")
        : formatValue(v);
  };
  const draw = (): void => {
    const width = Math.max(200, root.clientWidth || 600);
    const hgt = Math.max(100, height - 40);
    const dpr = devicePixelRatio || 1;
    canvas.width = width * dpr;
    canvas.height = hgt * dpr;
    canvas.style.width = `${width}px`;
    canvas.style.height = `${hgt}px`;
    const ctx = canvas.getContext("2d");
    if (!ctx) return;
    ctx.scale(dpr, dpr);
    ctx.clearRect(0, 0, width, hgt);
    const nx = d.x.length;
    const ny = d.series.length;
    const cw = (width - left) / nx;
    const ch = (hgt - bottom) / ny;
    geom = { cw, ch };
    d.series.forEach((s, r) => {
      s.values.forEach((v, i) => {
        ctx.fillStyle = heat(d.max > 0 ? (v ?? 0) / d.max : 0);
        ctx.fillRect(left + i * cw, r * ch, Math.ceil(cw), Math.ceil(ch));
      });
    });
    ctx.fillStyle = "#222";
    ctx.font = "12px system-ui, sans-serif";
    ctx.textBaseline = "middle";
    const everyY = Math.max(1, Math.ceil(14 / ch));
    d.series.forEach((s, r) => {
      if (r % everyY === 0) ctx.fillText(truncate(s.label, 16), 4, r * ch + ch / 2, left - 8);
    });
    ctx.textBaseline = "top";
    const everyX = Math.max(1, Math.ceil(80 / cw));
    labelEvery = everyX;
    for (let i = 0; i < nx; i += everyX)
      ctx.fillText(truncate(labelX(i), 14), left + i * cw, hgt - bottom + 4);
  };
  const at = (ev: MouseEvent): { r: number; i: number } | null => {
    const rect = canvas.getBoundingClientRect();
    const x = ev.clientX - rect.left - left;
    const y = ev.clientY - rect.top;
    const i = Math.floor(x / geom.cw);
    const r = Math.floor(y / geom.ch);
    if (x < 0 || i >= d.x.length || r < 0 || r >= d.series.length) return null;
    return { r, i };
  };
  canvas.addEventListener("mousemove", (ev) => {
    const p = at(ev);
    if (!p) {
      readout.textContent = idle;
      return;
    }
    const s = d.series[p.r]!;
    readout.textContent = `${s.label} · ${labelX(p.i)}: ${formatValue(s.values[p.i] ?? 0, o.format)}`;
  });
  if (opts.onClick) {
    const click = opts.onClick;
    canvas.style.cursor = "pointer";
    canvas.addEventListener("click", (ev) => {
      const p = at(ev);
      if (p) click(pointRow(result, d, p.r, p.i));
    });
  }
  draw();
  return onWidth(root, draw);
}

// ------------------------------------------------------------------- sankey

function sankeyViz(
  root: HTMLElement,
  o: VizOptions,
  result: QueryResult,
  opts: RenderOptions,
  height: number,
): () => void {
  const links = sankeyLinks(result, o);
  if (links.length === 0) {
    root.append(
      h(
        "div",
        { class: "viz-empty muted" },
        "Sankey needs source/target (or text columns) and a positive value",
      ),
    );
    return () => {};
  }
  const box = h("div", { class: "viz-sankey" });
  root.append(box);
  const nodeWidth = 12;
  const labelRoom = 110;
  const draw = (): void => {
    const width = Math.max(240, root.clientWidth || 600);
    const hgt = Math.max(120, height - 10);
    const lay = layoutSankey(links, {
      width: width - 2 * labelRoom,
      height: hgt,
      nodeWidth,
      maxNodesPerColumn: Math.max(3, Math.floor(hgt / 18)),
    });
    const s = svg("svg", { width, height: hgt, viewBox: `0 0 ${width} ${hgt}` });
    const g = svg("g", { transform: `translate(${labelRoom},0)` });
    s.append(g);
    for (const l of lay.links) {
      const src = lay.nodes[l.source]!;
      const dst = lay.nodes[l.target]!;
      const p = svg(
        "path",
        {
          d: linkPath(l, lay.nodes, nodeWidth),
          class: "viz-link",
          stroke: color(lay.nodes.indexOf(src)),
          "stroke-width": Math.max(1, l.width),
          fill: "none",
        },
        `${src.label} → ${dst.label}: ${formatValue(l.value, o.format)}`,
      );
      if (opts.onClick) {
        const click = opts.onClick;
        p.addEventListener("click", () =>
          click(
            l.row >= 0 ? rowObject(result, l.row) : { source: src.label, target: dst.label, value: l.value },
          ),
        );
      }
      g.append(p);
    }
    lay.nodes.forEach((n, i) => {
      g.append(
        svg(
          "rect",
          { x: n.x, y: n.y, width: nodeWidth, height: Math.max(1, n.h), fill: color(i), class: "viz-node" },
          `${n.label}: ${formatValue(n.value, o.format)}`,
        ),
      );
      const last = n.column === lay.columns - 1 && lay.columns > 1;
      const t = svg("text", {
        x: last ? n.x + nodeWidth + 4 : n.x - 4,
        y: n.y + n.h / 2,
        "text-anchor": last ? "start" : "end",
        "dominant-baseline": "middle",
        class: "viz-node-label",
      });
      t.textContent = `${truncate(n.label, 14)} ${formatValue(n.value, o.format)}`;
      if (n.h >= 9 || lay.nodes.length < 12) g.append(t);
    });
    box.replaceChildren(s);
  };
  draw();
  return onWidth(root, draw);
}
