// A virtualized results grid: re:dash freezes on big results because it
// renders every row; this one keeps only the rows in view (plus a little
// overscan) as absolutely positioned divs inside a tall body, reuses them as
// you scroll, and asks the server for pages of pageSize rows as they come
// into view. Pages live in a small LRU; fetches for pages that scrolled away
// before they arrived are aborted. 200,000 rows stay at ~60 DOM rows.
//
// Browsers cap an element's height (~16–33 M px), so past MAX_BODY_PX the body
// is scaled: the scroll position maps proportionally to a first row, and rows
// are drawn relative to it.
import { h } from "./dom.js";

export interface GridColumn {
  name: string;
  type: string;
}

export interface VirtualGridOptions {
  columns: GridColumn[];
  rowCount: number;
  /** Rows [offset, offset+limit). The signal is aborted when the page is no longer wanted. */
  fetchPage(offset: number, limit: number, signal?: AbortSignal): Promise<unknown[][]>;
  pageSize?: number;
  /** Pages kept in memory (LRU). Default 16. */
  cachePages?: number;
  rowHeight?: number;
  /** Viewport height in px (default: the element's height, else 400). */
  height?: number;
  onRowClick?: (row: Record<string, unknown>, index: number) => void;
  /** Cell text (default: numbers as they come, NULL for null, JSON for lists/structs). */
  format?: (value: unknown, column: GridColumn) => string;
}

export interface VirtualGrid {
  dispose(): void;
  /** Drop cached pages and fetch again (e.g. the query was re-run). */
  refresh(rowCount?: number): void;
  /**
   * The same result, now known to have `rowCount` rows (its count came in):
   * the rows already shown stay (no flash of "…"); only a partial last page
   * is fetched again, as it may hold more rows now.
   */
  resize(rowCount: number): void;
  /** Rows currently in the DOM (for tests and the status line). */
  readonly domRows: number;
}

const MAX_BODY_PX = 8_000_000;
const OVERSCAN = 8;
const MAX_IN_FLIGHT = 2;
let gridSeq = 0;
const NUMERIC =
  /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT|FLOAT|DOUBLE|DECIMAL)/i;

export function defaultCellText(v: unknown): string {
  if (v === null || v === undefined) return "NULL";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

export function virtualGrid(el: HTMLElement, opts: VirtualGridOptions): VirtualGrid {
  const pageSize = Math.max(1, opts.pageSize ?? 500);
  const cacheMax = Math.max(2, opts.cachePages ?? 16);
  const rowH = opts.rowHeight ?? 24;
  const cols = opts.columns;
  const fmt = opts.format ?? ((v: unknown) => defaultCellText(v));
  const numeric = cols.map((c) => NUMERIC.test(c.type));
  let rowCount = Math.max(0, opts.rowCount);
  let disposed = false;
  let generation = 0;

  // Column widths: from the header text, numbers narrower; user-resizable.
  const widths = cols.map((c, i) => Math.min(320, Math.max(numeric[i] ? 90 : 120, c.name.length * 8 + 28)));
  const root = h("div", { class: "vgrid" });
  const status = h("div", { class: "vgrid-status muted" });
  const viewport = h("div", { class: "vgrid-viewport", tabindex: 0 });
  const header = h("div", { class: "vgrid-row vgrid-header", role: "row" });
  const body = h("div", { class: "vgrid-body" });
  viewport.append(header, body);
  root.append(viewport, status);
  el.replaceChildren(root);
  viewport.style.height = `${opts.height ?? (el.clientHeight > 100 ? el.clientHeight - 24 : 400)}px`;

  let resized = false;
  const measure = document.createElement("canvas").getContext("2d") ?? {
    font: "",
    measureText: (t: string) => ({ width: t.length * 8.5 }),
  };
  /**
   * From each page that arrives: widen columns to fit the data (capped at
   * 360 px; never narrowed, so nothing jumps back), until the user drags one.
   */
  const autoSize = (rows: unknown[][]): void => {
    if (resized || rows.length === 0) return;
    let changed = false;
    const step = Math.max(1, Math.floor(rows.length / 200));
    // Measure the longest text of each column (by length) in the cells' own font.
    const probe = pool[0]?.firstElementChild ?? header.firstElementChild;
    if (probe) measure.font = getComputedStyle(probe).font;
    cols.forEach((c, i) => {
      let longest = `${c.name}   `;
      for (let r = 0; r < rows.length; r += step) {
        const t = fmt(rows[r]![i], c);
        if (t.length > longest.length) longest = t;
      }
      const w = Math.min(
        360,
        Math.max(numeric[i] ? 90 : 80, Math.ceil(measure.measureText(longest).width) + 26),
      );
      if (w > widths[i]!) {
        widths[i] = w;
        changed = true;
      }
    });
    if (changed) applyWidths();
  };
  // Widths live in one per-grid style rule per column: a resize rewrites a
  // few bytes of CSS instead of touching every cell. Cells are inline-blocks
  // of fixed width, cheaper to lay out than a CSS grid on every scroll frame.
  const gid = `vg${++gridSeq}`;
  root.classList.add(gid);
  const sheet = document.createElement("style");
  root.prepend(sheet);
  const applyWidths = (): void => {
    const total = widths.reduce((a, w) => a + w, 0);
    sheet.textContent =
      widths.map((w, i) => `.${gid} .c${i}{width:${w}px}`).join("") +
      `.${gid} .vgrid-row,.${gid} .vgrid-body{width:max(${total}px,100%)}`;
  };
  applyWidths();

  cols.forEach((c, i) => {
    const grip = h("span", { class: "vgrid-resize", title: "drag to resize" });
    const cell = h(
      "div",
      { class: `vgrid-cell c${i}${numeric[i] ? " num" : ""}`, title: `${c.name} (${c.type})` },
      // DuckDB TIMESTAMP text carries no zone; the store's times are UTC: say so.
      /^TIMESTAMP(_S|_MS|_NS)?$/i.test(c.type.trim()) ? `${c.name} (UTC)` : c.name,
      grip,
    );
    grip.addEventListener("pointerdown", (ev: PointerEvent) => {
      ev.preventDefault();
      ev.stopPropagation();
      const x0 = ev.clientX;
      const w0 = widths[i]!;
      grip.setPointerCapture(ev.pointerId);
      const move = (e: PointerEvent): void => {
        resized = true;
        widths[i] = Math.max(40, w0 + e.clientX - x0);
        applyWidths();
      };
      const up = (): void => {
        grip.removeEventListener("pointermove", move);
        grip.removeEventListener("pointerup", up);
      };
      grip.addEventListener("pointermove", move);
      grip.addEventListener("pointerup", up);
    });
    header.append(cell);
  });

  // ---- pages: LRU cache, in-flight fetches, a queue of wanted pages.
  const cache = new Map<number, unknown[][]>();
  const inFlight = new Map<number, AbortController>();
  const failed = new Map<number, string>();
  let wanted: number[] = [];

  const touch = (p: number): unknown[][] | undefined => {
    const rows = cache.get(p);
    if (rows) {
      cache.delete(p);
      cache.set(p, rows);
    }
    return rows;
  };

  const pump = (): void => {
    // Abort fetches nobody wants any more (scrolled past).
    for (const [p, ac] of inFlight)
      if (!wanted.includes(p)) {
        ac.abort();
        inFlight.delete(p);
      }
    for (const p of wanted) {
      if (inFlight.size >= MAX_IN_FLIGHT) break;
      if (cache.has(p) || inFlight.has(p) || failed.has(p)) continue;
      const ac = new AbortController();
      inFlight.set(p, ac);
      const gen = generation;
      const offset = p * pageSize;
      opts
        .fetchPage(offset, Math.min(pageSize, rowCount - offset), ac.signal)
        .then(
          (rows) => {
            if (disposed || gen !== generation || ac.signal.aborted) return;
            cache.set(p, rows);
            autoSize(rows);
            while (cache.size > cacheMax) cache.delete(cache.keys().next().value!);
          },
          (e: unknown) => {
            if (disposed || gen !== generation || ac.signal.aborted) return;
            failed.set(p, e instanceof Error ? e.message : String(e));
          },
        )
        .finally(() => {
          if (inFlight.get(p) === ac) inFlight.delete(p);
          if (!disposed && gen === generation) schedule();
        });
    }
  };

  // ---- rows: a pool of divs, one per visible row, reused on scroll.
  const pool: HTMLDivElement[] = [];
  const rowEl = (k: number): HTMLDivElement => {
    let r = pool[k];
    if (!r) {
      r = document.createElement("div");
      r.className = "vgrid-row";
      for (let i = 0; i < cols.length; i++) {
        const c = document.createElement("div");
        c.className = `vgrid-cell c${i}${numeric[i] ? " num" : ""}`;
        r.append(c);
      }
      pool[k] = r;
      body.append(r);
    }
    return r;
  };

  const totalPx = (): number => Math.min(rowCount * rowH, MAX_BODY_PX);
  let first = 0;
  let raf = 0;

  const render = (): void => {
    raf = 0;
    if (disposed) return;
    const viewH = viewport.clientHeight || 400;
    // Layout reads first (before any write below), so the frame lays out once.
    const headH = header.offsetHeight || rowH;
    const visible = Math.ceil(viewH / rowH) + 1;
    const scrollTop = viewport.scrollTop;
    const maxScroll = Math.max(1, totalPx() + headH - viewH);
    // Unscaled: row = scrollTop / rowH. Scaled: proportional to the scroll fraction.
    const scaled = rowCount * rowH > MAX_BODY_PX;
    // Scaled: at the bottom the last `fit` rows must fill the view exactly.
    const fit = Math.max(1, Math.floor((viewH - headH) / rowH));
    first = scaled
      ? Math.floor((Math.min(scrollTop, maxScroll) / maxScroll) * Math.max(0, rowCount - fit))
      : Math.min(Math.floor(scrollTop / rowH), Math.max(0, rowCount - 1));
    const start = Math.max(0, first - OVERSCAN);
    const end = Math.min(rowCount, first + visible + OVERSCAN);
    // Where row `first` sits in the body, in px.
    const anchor = scaled ? scrollTop : first * rowH;
    const pages = new Set<number>();
    for (let i = start; i < end; i++) pages.add(Math.floor(i / pageSize));
    // Prefetch the next page in the scroll direction, visible pages first.
    const lastPage = Math.floor(Math.max(0, end - 1) / pageSize);
    wanted = [...pages];
    if ((lastPage + 1) * pageSize < rowCount) wanted.push(lastPage + 1);
    let k = 0;
    for (let i = start; i < end; i++, k++) {
      const r = rowEl(k);
      r.style.display = "";
      r.style.transform = `translateY(${anchor + (i - first) * rowH}px)`;
      r.dataset.row = String(i);
      const page = Math.floor(i / pageSize);
      const rows = touch(page);
      const data = rows?.[i - page * pageSize];
      r.classList.toggle("loading", !data);
      const cells = r.children;
      for (let c = 0; c < cols.length; c++) {
        const cell = cells[c] as HTMLElement;
        const text = data ? fmt(data[c], cols[c]!) : c === 0 ? (failed.has(page) ? "error" : "…") : "";
        if (cell.textContent !== text) cell.textContent = text;
        cell.classList.toggle("null", !!data && (data[c] === null || data[c] === undefined));
      }
    }
    for (; k < pool.length; k++) pool[k]!.style.display = "none";
    pump();
    const loaded = [...cache.keys()].reduce((a, p) => a + (cache.get(p)?.length ?? 0), 0);
    const err = [...failed.values()][0];
    // For tests and scripts: what the status line says, as attributes.
    root.dataset.rowCount = String(rowCount);
    root.dataset.loaded = String(loaded);
    root.dataset.domRows = String(end - start);
    status.textContent =
      `${rowCount.toLocaleString()} rows · ${loaded.toLocaleString()} loaded` +
      (rowCount
        ? ` · showing ${(first + 1).toLocaleString()}–${Math.min(rowCount, first + fit).toLocaleString()}`
        : "") +
      (inFlight.size ? " · loading…" : "") +
      (err ? ` · error: ${err}` : "");
  };

  const schedule = (): void => {
    if (!raf && !disposed) raf = requestAnimationFrame(render);
  };
  const sizeBody = (): void => {
    body.style.height = `${totalPx()}px`;
  };
  sizeBody();

  viewport.addEventListener("scroll", schedule, { passive: true });
  const ro = typeof ResizeObserver === "function" ? new ResizeObserver(schedule) : null;
  ro?.observe(viewport);
  if (opts.onRowClick) {
    const click = opts.onRowClick;
    body.classList.add("clickable");
    body.addEventListener("click", (ev) => {
      const r = (ev.target as HTMLElement).closest<HTMLElement>(".vgrid-row");
      const i = Number(r?.dataset.row ?? -1);
      if (i < 0) return;
      const page = cache.get(Math.floor(i / pageSize));
      const data = page?.[i % pageSize];
      if (!data) return;
      const o: Record<string, unknown> = {};
      cols.forEach((c, j) => (o[c.name] = data[j]));
      click(o, i);
    });
  }
  render();

  return {
    dispose(): void {
      disposed = true;
      if (raf) cancelAnimationFrame(raf);
      for (const ac of inFlight.values()) ac.abort();
      inFlight.clear();
      cache.clear();
      ro?.disconnect();
      root.remove();
    },
    refresh(n?: number): void {
      generation++;
      for (const ac of inFlight.values()) ac.abort();
      inFlight.clear();
      cache.clear();
      failed.clear();
      if (n !== undefined) rowCount = Math.max(0, n);
      sizeBody();
      schedule();
    },
    resize(n: number): void {
      rowCount = Math.max(0, n);
      // Fetches asked with the old count may come back short: ask again.
      for (const ac of inFlight.values()) ac.abort();
      inFlight.clear();
      for (const [p, rows] of [...cache]) {
        if (rows.length < Math.min(pageSize, rowCount - p * pageSize)) cache.delete(p);
      }
      sizeBody();
      schedule();
    },
    get domRows(): number {
      return pool.filter((r) => r.style.display !== "none").length;
    },
  };
}

/** A grid over rows already in memory (the table visualization). */
export function memoryGrid(
  el: HTMLElement,
  columns: GridColumn[],
  rows: unknown[][],
  extra: Omit<VirtualGridOptions, "columns" | "rowCount" | "fetchPage"> = {},
): VirtualGrid {
  return virtualGrid(el, {
    ...extra,
    columns,
    rowCount: rows.length,
    fetchPage: (offset, limit) => Promise.resolve(rows.slice(offset, offset + limit)),
  });
}
