// The data half of the visualizations: everything that turns a SQL result
// ({columns, rows} as /api/v1/sql answers it) into what a chart draws —
// column detection, long → wide pivot, time-axis gap filling, pie slices,
// Sankey layout, number and time formatting. No DOM here on purpose: the file
// is also compiled by the root tsconfig and tested in node
// (test/viz-data.test.ts), and the drawing code (index.ts) stays thin.
//
// Values arrive as DuckDB's JSON conversion makes them: DOUBLE/INTEGER as JS
// numbers, BIGINT/HUGEINT/DECIMAL as strings, TIMESTAMP as
// "2024-01-01 10:00:00[.fff]" (UTC, no zone), TIMESTAMPTZ with "+00", DATE as
// "2024-01-02". Everything numeric therefore goes through toNumber().
import type { VizOptions } from "../types.js";

export interface Column {
  name: string;
  type: string;
}
export interface QueryResult {
  columns: Column[];
  rows: unknown[][];
}
export type Format = NonNullable<VizOptions["format"]>;

// ---------------------------------------------------------------- columns

const NUMERIC =
  /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT|FLOAT|DOUBLE|REAL|DECIMAL|INT|INT\d|NUMERIC|BIGNUM)/i;

export function isNumericType(type: string): boolean {
  return NUMERIC.test(type.trim());
}

/**
 * A time axis: DuckDB TIMESTAMP… and DATE columns, or epoch-millisecond integers
 * named like the store's time_ms (time_ms, bucket_ms, ts_ms …).
 */
export function isTimeColumn(col: Column): boolean {
  const t = col.type.trim().toUpperCase();
  if (t.startsWith("TIMESTAMP") || t === "DATE") return true;
  return isNumericType(t) && /(^|_)(time|ts|bucket|start|end)_ms$|^time_ms$/i.test(col.name);
}

/** A JSON-converted DuckDB value as a finite number, or null. */
export function toNumber(v: unknown): number | null {
  if (typeof v === "number") return Number.isFinite(v) ? v : null;
  if (typeof v === "bigint") return Number(v);
  if (typeof v === "string" && v.trim() !== "") {
    const n = Number(v);
    return Number.isFinite(n) ? n : null;
  }
  if (typeof v === "boolean") return v ? 1 : 0;
  return null;
}

const TS =
  /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/;

/**
 * Epoch ms of a time value. Zone-less TIMESTAMP text is UTC: the store keeps
 * UTC, and reading it as local time is exactly re:dash's time-zone confusion.
 */
export function toMs(v: unknown, type = ""): number | null {
  if (typeof v === "number" || typeof v === "bigint") {
    const n = Number(v);
    if (!Number.isFinite(n)) return null;
    // TIMESTAMP_S style epoch seconds are converted; everything else is ms.
    return /^TIMESTAMP_S$/i.test(type) ? n * 1000 : n;
  }
  if (typeof v !== "string") return null;
  const m = TS.exec(v.trim());
  if (!m) {
    if (/^-?\d+(\.\d+)?$/.test(v.trim())) return toMs(Number(v), type);
    const p = Date.parse(v);
    return Number.isFinite(p) ? p : null;
  }
  const frac = m[7] ? Number(`0.${m[7]}`) * 1000 : 0;
  let ms = Date.UTC(
    Number(m[1]),
    Number(m[2]) - 1,
    Number(m[3]),
    Number(m[4] ?? 0),
    Number(m[5] ?? 0),
    Number(m[6] ?? 0),
  );
  ms += Math.round(frac);
  const z = m[8];
  if (z && z !== "Z") {
    const sign = z.startsWith("-") ? -1 : 1;
    const digits = z.slice(1).replace(":", "");
    const off = Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4) || 0);
    ms -= sign * off * 60_000;
  }
  return ms;
}

function indexOf(result: QueryResult, name: string | undefined): number {
  if (!name) return -1;
  return result.columns.findIndex((c) => c.name === name);
}

function firstIndex(result: QueryResult, pred: (c: Column, i: number) => boolean): number {
  return result.columns.findIndex(pred);
}

// ------------------------------------------------------------- formatting

const PREFIX = ["", "k", "M", "G", "T", "P", "E"];

/** 1234567 → "1.23 M" + unit (SI, powers of 1000 like nfdump). */
export function formatSI(n: number, unit = ""): string {
  let i = 0;
  let v = Math.abs(n);
  while (v >= 999.5 && i < PREFIX.length - 1) {
    v /= 1000;
    i++;
  }
  let s: string;
  if (i === 0 && !Number.isInteger(v)) s = v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
  else s = v >= 100 || i === 0 ? v.toFixed(0) : v.toFixed(v >= 10 ? 1 : 2);
  return `${n < 0 ? "-" : ""}${s} ${PREFIX[i]}${unit}`.trim();
}

/**
 * A value in the viz's format: bytes → "1.5 GB", bps → "120 Mb/s", number →
 * SI-shortened, percent → a ratio shown ×100 (0.25 → "25.0 %", like re:dash).
 */
export function formatValue(v: unknown, format: Format = "number"): string {
  const n = toNumber(v);
  if (n === null) return v === null || v === undefined ? "" : String(v);
  switch (format) {
    case "bytes":
      return formatSI(n, "B");
    case "bps":
      return formatSI(n, "b/s");
    case "percent":
      return `${(n * 100).toFixed(Math.abs(n) >= 0.1 ? 1 : 2)} %`;
    default:
      return Math.abs(n) < 1000 && Number.isInteger(n) ? String(n) : formatSI(n);
  }
}

/** The time zone and its UTC offset at that instant, e.g. "Europe/Paris (UTC+01:00)". */
export function timeZoneLabel(atMs = Date.now(), timeZone?: string): string {
  const dtf = new Intl.DateTimeFormat("en-US", { timeZone, timeZoneName: "longOffset" });
  const name = dtf.resolvedOptions().timeZone;
  const part = dtf.formatToParts(new Date(atMs)).find((p) => p.type === "timeZoneName")?.value ?? "GMT";
  const off = part === "GMT" ? "+00:00" : part.replace(/^GMT/, "");
  return `${name} (UTC${off})`;
}

/**
 * A time tick/label in the browser's zone (or timeZone): seconds shown when
 * the axis spans under an hour, minutes under two days, else the date
 * (with hours when the step is under a day).
 */
export function formatTime(ms: number, spanMs: number, timeZone?: string, stepMs = 0): string {
  const d = new Date(ms);
  const o: Intl.DateTimeFormatOptions = { timeZone, hourCycle: "h23" };
  if (spanMs < 3_600_000) Object.assign(o, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  else if (spanMs < 2 * 86_400_000) Object.assign(o, { hour: "2-digit", minute: "2-digit" });
  else if (stepMs && stepMs < 86_400_000)
    Object.assign(o, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
  else Object.assign(o, { year: "numeric", month: "short", day: "numeric" });
  return new Intl.DateTimeFormat(undefined, o).format(d);
}

/**
 * An axis tick in the browser's zone (or timeZone), as precise as the
 * distance between ticks needs: seconds under a minute, hours:minutes under
 * a day, the day under four weeks, else the month.
 */
export function formatTick(ms: number, tickStepMs: number, timeZone?: string): string {
  const o: Intl.DateTimeFormatOptions = { timeZone, hourCycle: "h23" };
  if (tickStepMs < 60_000) Object.assign(o, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  else if (tickStepMs < 86_400_000) Object.assign(o, { hour: "2-digit", minute: "2-digit" });
  else if (tickStepMs < 28 * 86_400_000) Object.assign(o, { month: "short", day: "numeric" });
  else Object.assign(o, { year: "numeric", month: "short" });
  return new Intl.DateTimeFormat(undefined, o).format(new Date(ms));
}

/** A point's full time in the browser's zone (or timeZone), e.g. "Jan 1, 2024, 01:00:00". */
export function formatFullTime(ms: number, timeZone?: string): string {
  return new Intl.DateTimeFormat(undefined, {
    timeZone,
    hourCycle: "h23",
    year: "numeric",
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  }).format(new Date(ms));
}

// ------------------------------------------------------------ time steps

/** The smallest positive distance between sorted distinct times (0 for < 2 points). */
export function detectStep(times: readonly number[]): number {
  const s = [...new Set(times)].sort((a, b) => a - b);
  let step = 0;
  for (let i = 1; i < s.length; i++) {
    const d = s[i]! - s[i - 1]!;
    if (d > 0 && (step === 0 || d < step)) step = d;
  }
  return step;
}

/** More grid points than this and gap filling is skipped (an odd step would explode the arrays). */
export const MAX_FILLED_POINTS = 100_000;

/**
 * The regular time grid from the first to the last time, one point per step,
 * or null when there is no usable step or the grid would be too large.
 */
export function timeGrid(times: readonly number[], stepMs: number): number[] | null {
  if (times.length === 0 || !(stepMs > 0)) return null;
  let lo = Infinity;
  let hi = -Infinity;
  for (const t of times) {
    if (t < lo) lo = t;
    if (t > hi) hi = t;
  }
  const n = Math.round((hi - lo) / stepMs) + 1;
  if (n > MAX_FILLED_POINTS) return null;
  const grid = new Array<number>(n);
  for (let i = 0; i < n; i++) grid[i] = lo + i * stepMs;
  return grid;
}

// ------------------------------------------------------ series (x/y charts)

export interface Series {
  label: string;
  /** One per x; null = no data (a break in the line, never a line across it). */
  values: (number | null)[];
  total: number;
  /** The result row behind each point (-1: filled gap or merged "Other"). */
  rows: number[];
}

export interface SeriesData {
  xKind: "time" | "number" | "category";
  xColumn: string;
  seriesColumn: string | null;
  /** Epoch ms (time), the value (number) or the category index (category). */
  x: number[];
  /** Category labels (category x only). */
  categories: string[];
  series: Series[];
  /** The step of the time grid (0 when not gridded). */
  stepMs: number;
}

export const OTHER = "Other";

/** Which columns a chart uses: x, optional series (long format), y. */
export function resolveXY(result: QueryResult, opts: VizOptions): { x: number; series: number; y: number[] } {
  const cols = result.columns;
  let x = indexOf(result, opts.x);
  if (x < 0) x = firstIndex(result, isTimeColumn);
  if (x < 0) x = firstIndex(result, (c) => !isNumericType(c.type));
  if (x < 0) x = 0;
  const series = indexOf(result, opts.series);
  let y = (opts.y ?? []).map((n) => indexOf(result, n)).filter((i) => i >= 0 && i !== x && i !== series);
  if (y.length === 0 && opts.value) y = [indexOf(result, opts.value)].filter((i) => i >= 0);
  if (y.length === 0) {
    y = cols.map((_, i) => i).filter((i) => i !== x && i !== series && isNumericType(cols[i]!.type));
    if (series >= 0) y = y.slice(0, 1);
  }
  return { x, series, y };
}

/**
 * Result rows → one value array per series over a shared, sorted x.
 * Long format (options.series: one row per x and series key) is pivoted to
 * wide; rows that share an x and series are summed. Time axes are put on a
 * regular grid (stepMs or the smallest step seen): missing steps become 0
 * when fillGaps (the default) and null otherwise, so a line never runs across
 * missing data. At most maxSeries series: the smallest are summed in "Other".
 */
export function buildSeries(
  result: QueryResult,
  opts: VizOptions,
  maxSeries = 20,
  /** Bars: a numeric x (a port, an AS) is a label, not a position on a linear axis. */
  numbersAsCategories = false,
): SeriesData {
  const { x: xi, series: si, y: yis } = resolveXY(result, opts);
  const { xCol, xKind, categories, xOf } = xAccessor(result, xi, numbersAsCategories);
  // Accumulate per series key: x → [sum, firstRow].
  const acc = new Map<string, Map<number, [number, number]>>();
  const allX = new Set<number>();
  result.rows.forEach((row, r) => {
    const xv = xOf(row);
    if (xv === null) return;
    allX.add(xv);
    const sv = si >= 0 ? (row[si] === null || row[si] === undefined ? "NULL" : String(row[si])) : null;
    for (const yi of yis) {
      const yv = toNumber(row[yi]);
      if (yv === null) continue;
      const yName = result.columns[yi]!.name;
      const key = sv === null ? yName : yis.length > 1 ? `${sv} · ${yName}` : sv;
      let m = acc.get(key);
      if (!m) acc.set(key, (m = new Map()));
      const cur = m.get(xv);
      if (cur) cur[0] += yv;
      else m.set(xv, [yv, r]);
    }
  });
  let xs = [...allX].sort((a, b) => a - b);
  let stepMs = 0;
  if (xKind === "time") {
    const step = opts.stepMs && opts.stepMs > 0 ? opts.stepMs : detectStep(xs);
    const grid = timeGrid(xs, step);
    if (grid) {
      xs = grid;
      stepMs = step;
    }
  }
  const fill = opts.fillGaps === false ? null : 0;
  const pos = new Map<number, number>();
  xs.forEach((v, i) => pos.set(v, i));
  const place = (v: number): number => {
    const p = pos.get(v);
    if (p !== undefined) return p;
    // Off-grid time (irregular data): nearest grid point.
    return stepMs ? Math.min(xs.length - 1, Math.max(0, Math.round((v - xs[0]!) / stepMs))) : -1;
  };
  let series: Series[] = [];
  for (const [label, m] of acc) {
    const values = new Array<number | null>(xs.length).fill(fill);
    const rows = new Array<number>(xs.length).fill(-1);
    let total = 0;
    for (const [xv, [sum, r]] of m) {
      const p = place(xv);
      if (p < 0) continue;
      values[p] = (values[p] ?? 0) + sum;
      if (rows[p] === -1) rows[p] = r;
      total += sum;
    }
    series.push({ label, values, total, rows });
  }
  // Wide format keeps the column order; long format ranks keys by size.
  if (si >= 0) series.sort((a, b) => Math.abs(b.total) - Math.abs(a.total) || a.label.localeCompare(b.label));
  if (series.length > maxSeries) {
    const keep = series.slice(0, maxSeries - 1);
    const rest = series.slice(maxSeries - 1);
    const values = new Array<number | null>(xs.length).fill(fill);
    let total = 0;
    for (const s of rest) {
      s.values.forEach((v, i) => {
        if (v !== null) values[i] = (values[i] ?? 0) + v;
      });
      total += s.total;
    }
    series = [...keep, { label: OTHER, values, total, rows: new Array<number>(xs.length).fill(-1) }];
  }
  return {
    xKind,
    xColumn: xCol?.name ?? "",
    seriesColumn: si >= 0 ? result.columns[si]!.name : null,
    x: xs,
    categories,
    series,
    stepMs,
  };
}

/** How x values of column xi are read: epoch ms, number, or category index (first-seen order). */
function xAccessor(result: QueryResult, xi: number, numbersAsCategories = false) {
  const xCol = result.columns[xi];
  const xKind: SeriesData["xKind"] = !xCol
    ? "category"
    : isTimeColumn(xCol)
      ? "time"
      : isNumericType(xCol.type) && !numbersAsCategories
        ? "number"
        : "category";
  const catIndex = new Map<string, number>();
  const categories: string[] = [];
  const xOf = (row: unknown[]): number | null => {
    const v = row[xi];
    if (xKind === "time") return toMs(v, xCol?.type);
    if (xKind === "number") return toNumber(v);
    const k = v === null || v === undefined ? "NULL" : String(v);
    let i = catIndex.get(k);
    if (i === undefined) {
      i = categories.length;
      catIndex.set(k, i);
      categories.push(k);
    }
    return i;
  };
  return { xCol, xKind, categories, xOf };
}

/**
 * Scatter points: no pivot, no summing, no gap filling — one point per row,
 * sorted by x (uPlot wants ascending x; equal x values are fine). With a
 * series column each key is its own series, null where the row is another's.
 */
export function buildScatter(result: QueryResult, opts: VizOptions, maxSeries = 20): SeriesData {
  const { x: xi, series: si, y: yis } = resolveXY(result, opts);
  const { xCol, xKind, categories, xOf } = xAccessor(result, xi);
  const pts: [number, number][] = [];
  result.rows.forEach((row, r) => {
    const xv = xOf(row);
    if (xv !== null) pts.push([xv, r]);
  });
  pts.sort((a, b) => a[0] - b[0]);
  const keyOf = (row: unknown[], yName: string): string => {
    if (si < 0) return yName;
    const sv = row[si] === null || row[si] === undefined ? "NULL" : String(row[si]);
    return yis.length > 1 ? `${sv} · ${yName}` : sv;
  };
  const by = new Map<string, Series>();
  pts.forEach(([, r], i) => {
    const row = result.rows[r]!;
    for (const yi of yis) {
      const v = toNumber(row[yi]);
      if (v === null) continue;
      const key = keyOf(row, result.columns[yi]!.name);
      let s = by.get(key);
      if (!s) {
        if (by.size >= maxSeries) continue;
        s = {
          label: key,
          values: new Array<number | null>(pts.length).fill(null),
          total: 0,
          rows: new Array<number>(pts.length).fill(-1),
        };
        by.set(key, s);
      }
      s.values[i] = v;
      s.rows[i] = r;
      s.total += v;
    }
  });
  return {
    xKind,
    xColumn: xCol?.name ?? "",
    seriesColumn: si >= 0 ? result.columns[si]!.name : null,
    x: pts.map((p) => p[0]),
    categories,
    series: [...by.values()],
    stepMs: 0,
  };
}

/** Running sums from the first series up (stacked charts draw these; legends keep the raw values). */
export function stack(series: readonly Series[]): number[][] {
  const out: number[][] = [];
  let prev: number[] | null = null;
  for (const s of series) {
    const c = s.values.map((v, i) => (v ?? 0) + (prev ? prev[i]! : 0));
    out.push(c);
    prev = c;
  }
  return out;
}

/** A result row as {column: value} (what onClick gets for drill-down). */
export function rowObject(result: QueryResult, r: number): Record<string, unknown> {
  const row = result.rows[r] ?? [];
  const o: Record<string, unknown> = {};
  result.columns.forEach((c, i) => (o[c.name] = row[i]));
  return o;
}

/**
 * The row behind point i of series s: the result row when there is one,
 * else a synthetic one (filled gap, "Other") with x, series and value.
 */
export function pointRow(
  result: QueryResult,
  data: SeriesData,
  s: number,
  i: number,
): Record<string, unknown> {
  const ser = data.series[s];
  const r = ser?.rows[i] ?? -1;
  if (r >= 0) return rowObject(result, r);
  const o: Record<string, unknown> = {};
  const xv = data.x[i];
  o[data.xColumn] =
    data.xKind === "category"
      ? data.categories[xv ?? 0]
      : data.xKind === "time"
        ? new Date(xv ?? 0).toISOString()
        : xv;
  if (data.seriesColumn) o[data.seriesColumn] = ser?.label;
  o.value = ser?.values[i] ?? null;
  return o;
}

// -------------------------------------------------------------------- pie

export interface Slice {
  label: string;
  value: number;
  /** Result row, -1 for "Other". */
  row: number;
}

/** Label and value columns of a pie / counter. */
export function resolveLabelValue(result: QueryResult, opts: VizOptions): { label: number; value: number } {
  let label = indexOf(result, opts.label ?? opts.source ?? opts.x ?? opts.series);
  if (label < 0) label = firstIndex(result, (c) => !isNumericType(c.type));
  let value = indexOf(result, opts.value ?? opts.y?.[0]);
  if (value < 0) value = firstIndex(result, (c, i) => i !== label && isNumericType(c.type));
  return { label, value };
}

/** Slices by value, largest first; beyond maxSlices the rest is one "Other" slice. Non-positive values are left out. */
export function buildPie(
  result: QueryResult,
  opts: VizOptions,
  maxSlices = 10,
): { slices: Slice[]; total: number } {
  const { label, value } = resolveLabelValue(result, opts);
  const by = new Map<string, Slice>();
  result.rows.forEach((row, r) => {
    const v = value >= 0 ? toNumber(row[value]) : null;
    if (v === null || v <= 0) return;
    const l = label >= 0 ? String(row[label] ?? "NULL") : `row ${r + 1}`;
    const s = by.get(l);
    if (s) s.value += v;
    else by.set(l, { label: l, value: v, row: r });
  });
  let slices = [...by.values()].sort((a, b) => b.value - a.value);
  if (slices.length > maxSlices) {
    const rest = slices.slice(maxSlices - 1).reduce((a, s) => a + s.value, 0);
    slices = [...slices.slice(0, maxSlices - 1), { label: OTHER, value: rest, row: -1 }];
  }
  return { slices, total: slices.reduce((a, s) => a + s.value, 0) };
}

/** The counter's number: column value (or y[0], or the first numeric) of row counterRow (default 0). */
export function counterValue(
  result: QueryResult,
  opts: VizOptions,
): { value: number | null; raw: unknown; column: string; row: number } {
  let c = indexOf(result, opts.value ?? opts.y?.[0]);
  if (c < 0) c = firstIndex(result, (col) => isNumericType(col.type));
  if (c < 0) c = 0;
  const row = Math.max(0, Math.min(result.rows.length - 1, opts.counterRow ?? 0));
  const raw = result.rows[row]?.[c] ?? null;
  return { value: toNumber(raw), raw, column: result.columns[c]?.name ?? "", row };
}

// --------------------------------------------------------------- heatmap

/**
 * Heatmap cells: x (time or category) by a row category (series, source,
 * or the first text column that is not x), cell = summed value. Reuses the
 * series pivot, so time gaps are filled with 0 cells.
 */
export function buildHeatmap(
  result: QueryResult,
  opts: VizOptions,
  maxRows = 50,
): SeriesData & { max: number } {
  const { x } = resolveXY(result, opts);
  let rowCol = opts.series ?? opts.source;
  if (!rowCol || indexOf(result, rowCol) < 0)
    rowCol = result.columns.find((c, i) => i !== x && !isNumericType(c.type) && !isTimeColumn(c))?.name;
  const value = opts.value ?? opts.y?.[0];
  const data = buildSeries(
    result,
    { ...opts, x: result.columns[x]?.name, series: rowCol, y: value ? [value] : undefined },
    maxRows,
  );
  let max = 0;
  for (const s of data.series) for (const v of s.values) if (v !== null && v > max) max = v;
  return { ...data, max };
}

// ---------------------------------------------------------------- sankey

export interface SankeyNode {
  key: string;
  label: string;
  column: number;
  value: number;
  x: number;
  y: number;
  h: number;
}
export interface SankeyLink {
  source: number;
  target: number;
  value: number;
  /** Top of the band at the source / target node, and its thickness. */
  sy: number;
  ty: number;
  width: number;
  /** A result row behind the link (-1 when merged). */
  row: number;
}
export interface SankeyLayout {
  nodes: SankeyNode[];
  links: SankeyLink[];
  columns: number;
}
export interface RawLink {
  source: string;
  target: string;
  value: number;
  row: number;
  /** Display labels (default: the keys). */
  sourceLabel?: string;
  targetLabel?: string;
}

/**
 * Links from a result. With options.source/target: one link per row, nodes
 * by name (a→b, b→c gives three columns); a cycle (including a→a, common
 * with flows: the same AS on both sides) would have no column order, so the
 * graph is then drawn two-column, sources left and targets right. Without
 * them, the text columns in order form the path (col1 → col2 → col3) and
 * each column's values are distinct nodes, like the explorer's dimension
 * Sankey. The value is options.value / y[0] / the first numeric column.
 */
export function sankeyLinks(result: QueryResult, opts: VizOptions): RawLink[] {
  let vi = indexOf(result, opts.value ?? opts.y?.[0]);
  if (vi < 0) vi = firstIndex(result, (c) => isNumericType(c.type));
  const si = indexOf(result, opts.source);
  const ti = indexOf(result, opts.target);
  const str = (v: unknown): string => (v === null || v === undefined ? "NULL" : String(v));
  const links: RawLink[] = [];
  if (si >= 0 && ti >= 0) {
    result.rows.forEach((row, r) => {
      const v = vi >= 0 ? toNumber(row[vi]) : 1;
      if (v === null || v <= 0) return;
      links.push({ source: str(row[si]), target: str(row[ti]), value: v, row: r });
    });
    if (hasCycle(links))
      return links.map((l) => ({
        ...l,
        source: `s\u0000${l.source}`,
        target: `t\u0000${l.target}`,
        sourceLabel: l.source,
        targetLabel: l.target,
      }));
    return links;
  }
  const path = result.columns
    .map((c, i) => i)
    .filter((i) => i !== vi && !isNumericType(result.columns[i]!.type));
  result.rows.forEach((row, r) => {
    const v = vi >= 0 ? toNumber(row[vi]) : 1;
    if (v === null || v <= 0) return;
    for (let k = 0; k + 1 < path.length; k++) {
      const a = str(row[path[k]!]);
      const b = str(row[path[k + 1]!]);
      links.push({
        source: `${k}\u0000${a}`,
        target: `${k + 1}\u0000${b}`,
        value: v,
        row: r,
        sourceLabel: a,
        targetLabel: b,
      });
    }
  });
  return links;
}

function hasCycle(links: readonly RawLink[]): boolean {
  const out = new Map<string, string[]>();
  for (const l of links) {
    if (l.source === l.target) return true;
    let a = out.get(l.source);
    if (!a) out.set(l.source, (a = []));
    a.push(l.target);
  }
  const state = new Map<string, 1 | 2>(); // 1 on stack, 2 done
  for (const start of out.keys()) {
    if (state.has(start)) continue;
    // Iterative DFS: flow graphs can be deep enough to overflow recursion.
    const stackN: [string, number][] = [[start, 0]];
    state.set(start, 1);
    while (stackN.length) {
      const top = stackN[stackN.length - 1]!;
      const next = out.get(top[0])?.[top[1]++];
      if (next === undefined) {
        state.set(top[0], 2);
        stackN.pop();
      } else if (state.get(next) === 1) return true;
      else if (!state.has(next)) {
        state.set(next, 1);
        stackN.push([next, 0]);
      }
    }
  }
  return false;
}

export interface SankeyOptions {
  width: number;
  height: number;
  nodeWidth?: number;
  nodePad?: number;
  /** Per column, the largest nodes kept; the rest become one "Other" node. */
  maxNodesPerColumn?: number;
}

/**
 * Column layout: a node's column is the longest path to it from a node with
 * no inputs (links must form a DAG: sankeyLinks guarantees it); in each
 * column nodes are stacked largest first, heights proportional to
 * max(in, out) with one scale for all columns so equal values get equal
 * heights; link bands are stacked at both ends in the order of the other
 * end's position, so bands do not cross at the nodes.
 */
export function layoutSankey(raw: readonly RawLink[], o: SankeyOptions): SankeyLayout {
  const nodeWidth = o.nodeWidth ?? 12;
  const pad = o.nodePad ?? 8;
  const maxPer = o.maxNodesPerColumn ?? 15;
  const labels = new Map<string, string>();
  for (const l of raw) {
    labels.set(l.source, l.sourceLabel ?? l.source);
    labels.set(l.target, l.targetLabel ?? l.target);
  }
  // Depth by longest path (Kahn's order).
  const depth = longestPathDepth(raw);
  // Node values, to pick the largest per column.
  const vin = new Map<string, number>();
  const vout = new Map<string, number>();
  for (const l of raw) {
    vout.set(l.source, (vout.get(l.source) ?? 0) + l.value);
    vin.set(l.target, (vin.get(l.target) ?? 0) + l.value);
  }
  const nodeValue = (k: string): number => Math.max(vin.get(k) ?? 0, vout.get(k) ?? 0);
  const byCol = new Map<number, string[]>();
  for (const k of labels.keys()) {
    const c = depth.get(k) ?? 0;
    let a = byCol.get(c);
    if (!a) byCol.set(c, (a = []));
    a.push(k);
  }
  const rename = new Map<string, string>();
  for (const [c, keys] of byCol) {
    keys.sort((a, b) => nodeValue(b) - nodeValue(a) || a.localeCompare(b));
    if (keys.length > maxPer) {
      const other = `\u0001other\u0000${c}`;
      for (const k of keys.slice(maxPer - 1)) rename.set(k, other);
      labels.set(other, OTHER);
      depth.set(other, c);
    }
  }
  const nk = (k: string): string => rename.get(k) ?? k;
  // Aggregate links after merging.
  const agg = new Map<string, RawLink>();
  for (const l of raw) {
    const s = nk(l.source);
    const t = nk(l.target);
    const key = `${s}\u0002${t}`;
    const cur = agg.get(key);
    if (cur) {
      cur.value += l.value;
      cur.row = -1;
    } else agg.set(key, { source: s, target: t, value: l.value, row: l.row });
  }
  const links = [...agg.values()];
  const nodeKeys = [...new Set(links.flatMap((l) => [l.source, l.target]))];
  const index = new Map(nodeKeys.map((k, i) => [k, i]));
  const nodes: SankeyNode[] = nodeKeys.map((k) => ({
    key: k,
    label: labels.get(k) ?? k,
    column: depth.get(k) ?? 0,
    value: 0,
    x: 0,
    y: 0,
    h: 0,
  }));
  const inSum = new Array<number>(nodes.length).fill(0);
  const outSum = new Array<number>(nodes.length).fill(0);
  for (const l of links) {
    outSum[index.get(l.source)!]! += l.value;
    inSum[index.get(l.target)!]! += l.value;
  }
  nodes.forEach((n, i) => (n.value = Math.max(inSum[i]!, outSum[i]!)));
  // Compact column numbers (merging may leave none empty, but depth can skip).
  const colIds = [...new Set(nodes.map((n) => n.column))].sort((a, b) => a - b);
  const colOf = new Map(colIds.map((c, i) => [c, i]));
  for (const n of nodes) n.column = colOf.get(n.column)!;
  const ncol = colIds.length;
  const cols: SankeyNode[][] = Array.from({ length: ncol }, () => []);
  for (const n of nodes) cols[n.column]!.push(n);
  let k = Infinity;
  for (const col of cols) {
    col.sort((a, b) => b.value - a.value || a.label.localeCompare(b.label));
    const sum = col.reduce((a, n) => a + n.value, 0);
    const room = o.height - pad * (col.length - 1);
    if (sum > 0) k = Math.min(k, Math.max(room, 1) / sum);
  }
  if (!Number.isFinite(k)) k = 0;
  const step = ncol > 1 ? (o.width - nodeWidth) / (ncol - 1) : 0;
  for (const col of cols) {
    const used = col.reduce((a, n) => a + n.value * k, 0) + pad * (col.length - 1);
    let y = Math.max(0, (o.height - used) / 2);
    for (const n of col) {
      n.x = n.column * step;
      n.y = y;
      n.h = n.value * k;
      y += n.h + pad;
    }
  }
  const out: SankeyLink[] = links.map((l) => ({
    source: index.get(l.source)!,
    target: index.get(l.target)!,
    value: l.value,
    sy: 0,
    ty: 0,
    width: l.value * k,
    row: l.row,
  }));
  const outBy = nodes.map(() => [] as SankeyLink[]);
  const inBy = nodes.map(() => [] as SankeyLink[]);
  for (const l of out) {
    outBy[l.source]!.push(l);
    inBy[l.target]!.push(l);
  }
  nodes.forEach((n, i) => {
    let y = n.y;
    for (const l of outBy[i]!.sort((a, b) => nodes[a.target]!.y - nodes[b.target]!.y)) {
      l.sy = y;
      y += l.width;
    }
    y = n.y;
    for (const l of inBy[i]!.sort((a, b) => nodes[a.source]!.y - nodes[b.source]!.y)) {
      l.ty = y;
      y += l.width;
    }
  });
  return { nodes, links: out, columns: ncol };
}

function longestPathDepth(links: readonly RawLink[]): Map<string, number> {
  const indeg = new Map<string, number>();
  const out = new Map<string, string[]>();
  for (const l of links) {
    if (!indeg.has(l.source)) indeg.set(l.source, 0);
    indeg.set(l.target, (indeg.get(l.target) ?? 0) + 1);
    let a = out.get(l.source);
    if (!a) out.set(l.source, (a = []));
    a.push(l.target);
  }
  const depth = new Map<string, number>();
  const queue: string[] = [];
  for (const [k, d] of indeg)
    if (d === 0) {
      queue.push(k);
      depth.set(k, 0);
    }
  for (let q = 0; q < queue.length; q++) {
    const k = queue[q]!;
    for (const t of out.get(k) ?? []) {
      depth.set(t, Math.max(depth.get(t) ?? 0, depth.get(k)! + 1));
      const d = indeg.get(t)! - 1;
      indeg.set(t, d);
      if (d === 0) queue.push(t);
    }
  }
  // Nodes left on a cycle (callers avoid it): column 0.
  for (const k of indeg.keys()) if (!depth.has(k)) depth.set(k, 0);
  return depth;
}

/** SVG path of a link band's centre line (drawn with stroke-width = width). */
export function linkPath(l: SankeyLink, nodes: readonly SankeyNode[], nodeWidth: number): string {
  const s = nodes[l.source]!;
  const t = nodes[l.target]!;
  const x0 = s.x + nodeWidth;
  const x1 = t.x;
  const y0 = l.sy + l.width / 2;
  const y1 = l.ty + l.width / 2;
  const xm = (x0 + x1) / 2;
  const r = (n: number): string => n.toFixed(1);
  return `M${r(x0)},${r(y0)}C${r(xm)},${r(y0)} ${r(xm)},${r(y1)} ${r(x1)},${r(y1)}`;
}

// ----------------------------------------------------------------- guess

export type GuessedViz = { type: "line" | "counter" | "table"; options: VizOptions };

/**
 * The default visualization of a result: a time column with numbers → line
 * (long format: one text column becomes the series); one row of one number
 * → counter; anything else → table.
 */
export function guessVizType(result: QueryResult): GuessedViz {
  const cols = result.columns;
  const numeric = cols.filter((c) => isNumericType(c.type) && !isTimeColumn(c));
  if (result.rows.length === 1 && numeric.length === 1 && cols.length <= 2)
    return { type: "counter", options: { value: numeric[0]!.name } };
  const time = cols.find(isTimeColumn);
  if (time && numeric.length > 0 && result.rows.length > 1) {
    const text = cols.filter((c) => c !== time && !isNumericType(c.type) && !isTimeColumn(c));
    if (text.length === 1)
      return { type: "line", options: { x: time.name, series: text[0]!.name, y: [numeric[0]!.name] } };
    if (text.length === 0) return { type: "line", options: { x: time.name, y: numeric.map((c) => c.name) } };
  }
  return { type: "table", options: {} };
}

/** Protocol numbers shown by name (IANA keywords, lower case as nfdump prints them). */
export const PROTOCOLS: Record<number, string> = {
  1: "icmp",
  2: "igmp",
  6: "tcp",
  17: "udp",
  47: "gre",
  50: "esp",
  58: "icmp6",
  89: "ospf",
  132: "sctp",
};
