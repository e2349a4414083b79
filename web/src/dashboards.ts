// Dashboards: the list (#/dashboards) and one dashboard (#/dashboards/<id>).
// A dashboard is a 12-column grid of widgets (web/src/widgets.ts) sharing one
// time range, parameter values and nfdump filter. What a viewer changes
// (time, parameters, filter, refresh, full screen) lives in the URL
//   #/dashboards/<id>?start=now-1h&end=now&p_<name>=…&filter=…&refresh=30&fullscreen=1
// so a view can be bookmarked or sent; what an editor saves (PUT with the
// version it started from, 409 when someone saved in between) becomes the
// dashboard's defaults. The same view, without the edit and share controls,
// draws a shared link (web/src/share.ts).
import "./dashboards.css";
import { ApiError, api, session } from "./api.js";
import { h } from "./dom.js";
import { paramDefsEditor, paramsForm, initialValues, PARAM_TYPES } from "./params.js";
import { timeRangePicker, type TimeRange } from "./timerange.js";
import type {
  Dashboard,
  DashboardSummary,
  FlowWidgetSpec,
  ParamDef,
  ParamType,
  ParamValue,
  SavedQuery,
  SavedQuerySummary,
  ShareLink,
  Widget,
  WidgetType,
} from "./types.js";
import {
  FLOW_CHARTS,
  FLOW_DIMS,
  FLOW_METRICS,
  LIVE_DIMS,
  createWidget,
  flowShape,
  freeSlot,
  placeWidget,
  type DashboardContext,
  type WidgetView,
} from "./widgets.js";

const REFRESH: [number, string][] = [
  [0, "off"],
  [10, "10 s"],
  [30, "30 s"],
  [60, "1 min"],
  [300, "5 min"],
];
const COLS = 12;

const canEdit = (): boolean => session.me !== null && session.me.role !== "viewer";
const newId = (): string => `w${Math.random().toString(36).slice(2, 10)}`;

// ---------------------------------------------------------------------------
// The list

export function dashboardsListPage(root: HTMLElement): () => void {
  const search = h("input", { id: "d-search", type: "search", placeholder: "search name or tag", size: 30 });
  const tbody = h("tbody", { id: "d-list" });
  const status = h("p", { class: "muted" }, "loading…");
  let all: DashboardSummary[] = [];
  const show = (): void => {
    const q = search.value.trim().toLowerCase();
    const rows = all.filter(
      (d) => !q || d.name.toLowerCase().includes(q) || d.tags.some((t) => t.toLowerCase().includes(q)),
    );
    tbody.replaceChildren(
      ...rows.map((d) =>
        h(
          "tr",
          { "data-dashboard-id": d.id },
          h("td", {}, h("a", { href: `#/dashboards/${encodeURIComponent(d.id)}` }, d.name)),
          h(
            "td",
            {},
            d.tags.map((t) => h("span", { class: "tag" }, t)),
          ),
          h("td", {}, new Date(d.updatedAt).toLocaleString()),
          h("td", {}, d.updatedBy),
          h(
            "td",
            {},
            canEdit() && d.id !== "overview"
              ? h(
                  "button",
                  {
                    class: "d-delete",
                    onclick: () => {
                      if (!confirm(`Delete dashboard "${d.name}"?`)) return;
                      api(`/api/v1/dashboards/${encodeURIComponent(d.id)}`, { method: "DELETE" }).then(
                        load,
                        (e: unknown) => {
                          status.textContent = `error: ${(e as Error).message}`;
                        },
                      );
                    },
                  },
                  "Delete",
                )
              : null,
          ),
        ),
      ),
    );
    status.textContent = `${rows.length} of ${all.length} dashboard(s)`;
  };
  const load = (): void => {
    api<DashboardSummary[]>("/api/v1/dashboards").then(
      (list) => {
        all = list.sort((a, b) => a.name.localeCompare(b.name));
        show();
      },
      (e: unknown) => {
        status.textContent = `error: ${(e as Error).message}`;
      },
    );
  };
  search.addEventListener("input", show);

  const newName = h("input", { id: "d-new-name", placeholder: "new dashboard name", required: true });
  const create = h(
    "form",
    {
      class: "toolbar",
      onsubmit: (e: Event) => {
        e.preventDefault();
        const name = newName.value.trim();
        if (!name) return;
        api<Dashboard>("/api/v1/dashboards", {
          method: "POST",
          body: {
            name,
            timeRange: { start: "now-6h", end: "now" },
            refreshSec: 60,
            widgets: [],
            params: [],
            filter: "",
            tags: [],
          },
        }).then(
          (d) => {
            location.hash = `#/dashboards/${encodeURIComponent(d.id)}?edit=1`;
          },
          (err: unknown) => {
            status.textContent = `error: ${(err as Error).message}`;
          },
        );
      },
    },
    newName,
    h("button", { type: "submit", id: "d-new" }, "New dashboard"),
  );
  root.append(
    h("h1", {}, "Dashboards"),
    h("div", { class: "toolbar" }, search, canEdit() ? create : null),
    status,
    h(
      "table",
      { class: "grid d-list" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["name", "tags", "updated", "by", ""].map((c) => h("th", {}, c)),
        ),
      ),
      tbody,
    ),
  );
  load();
  return () => undefined;
}

// ---------------------------------------------------------------------------
// URL state

/** p_<name> values: a list or a date range travels as JSON, anything else as its text. */
function encodeParam(v: ParamValue): string {
  return typeof v === "object" ? JSON.stringify(v) : String(v);
}
function decodeParam(def: ParamDef, s: string): ParamValue {
  if (s.startsWith("[") || s.startsWith("{")) {
    try {
      return JSON.parse(s) as ParamValue;
    } catch {
      return s;
    }
  }
  return def.type === "number" && s.trim() !== "" && Number.isFinite(Number(s)) ? Number(s) : s;
}

export interface ViewState {
  range: TimeRange;
  params: Record<string, ParamValue>;
  filter: string;
  refreshSec: number;
  fullscreen: boolean;
}

export function readViewState(d: Dashboard, p: URLSearchParams): ViewState {
  const given: Record<string, ParamValue> = {};
  for (const def of d.params) {
    const s = p.get(`p_${def.name}`);
    if (s !== null) given[def.name] = decodeParam(def, s);
  }
  const refresh = p.get("refresh");
  return {
    range: { start: p.get("start") ?? d.timeRange.start, end: p.get("end") ?? d.timeRange.end },
    params: initialValues(d.params, given),
    filter: p.get("filter") ?? d.filter,
    refreshSec: refresh !== null && Number.isFinite(Number(refresh)) ? Number(refresh) : d.refreshSec,
    fullscreen: p.get("fullscreen") === "1",
  };
}

/** Only what differs from the dashboard's saved defaults goes in the URL. */
export function viewStateQuery(d: Dashboard, s: ViewState): string {
  const p = new URLSearchParams();
  if (s.range.start !== d.timeRange.start || s.range.end !== d.timeRange.end) {
    p.set("start", s.range.start);
    p.set("end", s.range.end);
  }
  const defaults = initialValues(d.params, {});
  for (const def of d.params) {
    const v = s.params[def.name];
    if (v !== undefined && encodeParam(v) !== encodeParam(defaults[def.name]!))
      p.set(`p_${def.name}`, encodeParam(v));
  }
  if (s.filter !== d.filter) p.set("filter", s.filter);
  if (s.refreshSec !== d.refreshSec) p.set("refresh", String(s.refreshSec));
  if (s.fullscreen) p.set("fullscreen", "1");
  const q = p.toString();
  return q ? `?${q}` : "";
}

// ---------------------------------------------------------------------------
// One dashboard

export function dashboardPage(root: HTMLElement, id: string, params: URLSearchParams): () => void {
  let dispose: () => void = () => undefined;
  let gone = false;
  const status = h("p", { class: "muted" }, "loading…");
  root.append(status);
  api<Dashboard>(`/api/v1/dashboards/${encodeURIComponent(id)}`).then(
    (d) => {
      if (gone) return;
      status.remove();
      dispose = mountDashboard(root, d, {
        hashBase: `#/dashboards/${encodeURIComponent(d.id)}`,
        params,
        editable: canEdit(),
        startEditing: params.get("edit") === "1" && canEdit(),
      });
    },
    (e: unknown) => {
      status.className = "error";
      status.textContent =
        e instanceof ApiError && e.status === 404
          ? `No dashboard "${id}".`
          : `error: ${(e as Error).message}`;
    },
  );
  return () => {
    gone = true;
    dispose();
  };
}

export interface MountOptions {
  /** Where the URL state is written: "#/dashboards/<id>" or "#/share/<token>". */
  hashBase: string;
  params: URLSearchParams;
  editable: boolean;
  startEditing?: boolean;
  /** A shared link: widgets run through the share API; no edit or share controls. */
  share?: { token: string; queries: Record<string, Omit<SavedQuery, "sql">> };
}

/** Draws a dashboard into root; returns the cleanup. */
export function mountDashboard(root: HTMLElement, initial: Dashboard, opts: MountOptions): () => void {
  let dash: Dashboard = structuredClone(initial);
  let draft: Dashboard = structuredClone(initial);
  let editing = false;
  const view = readViewState(dash, opts.params);
  const ctx: DashboardContext = {
    range: view.range,
    filter: view.filter,
    params: view.params,
    paramDefs: dash.params,
    shareToken: opts.share?.token,
    queries: new Map(Object.entries(opts.share?.queries ?? {})),
  };
  let views: WidgetView[] = [];
  let timer: ReturnType<typeof setInterval> | null = null;
  let drawnMarked = false;
  performance.mark("nagare:dashboard-start");

  const grid = h("div", { class: "d-grid", id: "d-grid", "data-state": "loading" });
  const title = h("h1", { id: "d-title" }, dash.name);
  const toolbar = h("div", { class: "toolbar wrap d-toolbar", id: "d-toolbar" });
  const paramsEl = h("span", { class: "d-params", id: "d-params" });
  const editbar = h("div", { class: "d-editbar", id: "d-editbar", hidden: true });
  const panel = h("div", { class: "d-panel", id: "d-panel", hidden: true });
  const message = h("span", { class: "muted", id: "d-message" });
  const nocHint = h("div", { class: "d-noc-hint" }, "Esc leaves full screen");
  root.append(title, toolbar, editbar, panel, grid, nocHint);
  root.classList.add("d-page");

  const setUrl = (): void => {
    const q = viewStateQuery(dash, { ...view, range: ctx.range, params: ctx.params, filter: ctx.filter });
    // replaceState: no hashchange, so the page is not drawn again.
    history.replaceState(null, "", `${opts.hashBase}${q}`);
  };

  // --- readiness: every widget ready once → the load test's mark.
  const checkDrawn = (): void => {
    if (views.length && views.every((v) => v.el.dataset.state === "ready")) {
      grid.dataset.state = "ready";
      if (!drawnMarked) {
        drawnMarked = true;
        performance.mark("nagare:dashboard-drawn");
        performance.measure("nagare:dashboard", "nagare:dashboard-start", "nagare:dashboard-drawn");
      }
    } else if (views.some((v) => v.el.dataset.state === "error")) grid.dataset.state = "error";
    else grid.dataset.state = "loading";
  };

  // --- the grid
  const rowsUsed = (ws: Widget[]): number => ws.reduce((m, w) => Math.max(m, w.y + w.h), 1);
  const fitRows = (): void => {
    // Full screen: the rows share the window's height, so a wall shows the whole dashboard.
    if (view.fullscreen) {
      const rows = rowsUsed(current().widgets);
      const gap = 8;
      const px = Math.max(40, Math.floor((window.innerHeight - 16 - gap * (rows - 1)) / rows));
      grid.style.setProperty("--row-h", `${px}px`);
    } else grid.style.removeProperty("--row-h");
  };
  const current = (): Dashboard => (editing ? draft : dash);

  const build = (): void => {
    for (const v of views) v.dispose();
    fitRows();
    const ws = current().widgets;
    views = ws.map((w) => createWidget(w, ctx, checkDrawn));
    grid.replaceChildren(...views.map((v) => v.el));
    if (ws.length === 0)
      grid.append(
        h(
          "p",
          { class: "muted d-empty" },
          opts.editable ? "No widgets yet: Edit, then Add widget." : "This dashboard has no widgets.",
        ),
      );
    if (editing) for (const v of views) decorate(v);
    for (const v of views) void v.refresh();
    checkDrawn();
    if (ws.length === 0) {
      grid.dataset.state = "ready";
      if (!drawnMarked) {
        drawnMarked = true;
        performance.mark("nagare:dashboard-drawn");
      }
    }
  };
  const refreshAll = (): void => {
    for (const v of views) if (v.widget.type !== "text" && v.widget.type !== "live") void v.refresh();
  };

  // --- toolbar: time, parameters, filter, refresh, full screen, edit, share
  const timeEl = h("span", { class: "d-time" });
  timeRangePicker(
    timeEl,
    ctx.range,
    (r) => {
      ctx.range = r;
      setUrl();
      refreshAll();
    },
    { id: "d-time" },
  );
  let paramTimer: ReturnType<typeof setTimeout> | null = null;
  const drawParams = (): void => {
    paramsEl.replaceChildren();
    if (!current().params.length) return;
    paramsForm(
      paramsEl,
      current().params,
      ctx.params,
      (vals) => {
        ctx.params = vals;
        setUrl();
        // Typing in a text field: run once the user pauses.
        if (paramTimer) clearTimeout(paramTimer);
        paramTimer = setTimeout(refreshAll, 500);
      },
      { idPrefix: "d-param-", onSubmit: refreshAll },
    );
  };
  const filterIn = h("input", {
    id: "d-filter",
    type: "text",
    value: ctx.filter,
    size: 36,
    placeholder: "nfdump filter for every flow widget",
  });
  filterIn.addEventListener("change", () => {
    ctx.filter = filterIn.value.trim();
    setUrl();
    refreshAll();
  });
  const refreshSel = h(
    "select",
    { id: "d-refresh", title: "auto-refresh" },
    [
      ...REFRESH,
      ...(REFRESH.some(([s]) => s === view.refreshSec)
        ? []
        : [[view.refreshSec, `${view.refreshSec} s`] as [number, string]]),
    ].map(([s, l]) => h("option", { value: s, selected: s === view.refreshSec }, l)),
  );
  const schedule = (): void => {
    if (timer) clearInterval(timer);
    timer = view.refreshSec > 0 ? setInterval(refreshAll, view.refreshSec * 1000) : null;
  };
  refreshSel.addEventListener("change", () => {
    view.refreshSec = Number(refreshSel.value);
    setUrl();
    schedule();
  });

  const setFullscreen = (on: boolean): void => {
    view.fullscreen = on;
    document.body.classList.toggle("noc", on);
    setUrl();
    fitRows();
    // Sizes changed: draw the last results again at the new size.
    requestAnimationFrame(() => {
      for (const v of views) v.redraw();
    });
    if (!on && document.fullscreenElement) void document.exitFullscreen().catch(() => undefined);
  };
  const fsBtn = h(
    "button",
    {
      id: "d-fullscreen",
      title: "full-screen NOC mode (Esc leaves)",
      onclick: () => {
        setFullscreen(true);
        // Also the browser's own full screen when allowed (a click is a user gesture).
        document.documentElement.requestFullscreen?.().catch(() => undefined);
      },
    },
    "Full screen",
  );
  const onKey = (e: KeyboardEvent): void => {
    if (e.key === "Escape" && view.fullscreen) setFullscreen(false);
  };
  const onFsChange = (): void => {
    // Esc in the browser's full screen leaves it without a keydown reaching the page.
    if (!document.fullscreenElement && view.fullscreen) setFullscreen(false);
  };
  let resizeTimer: ReturnType<typeof setTimeout> | null = null;
  const onResize = (): void => {
    if (resizeTimer) clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      fitRows();
      for (const v of views) v.redraw();
    }, 200);
  };
  document.addEventListener("keydown", onKey);
  document.addEventListener("fullscreenchange", onFsChange);
  window.addEventListener("resize", onResize);

  const editBtn = h("button", { id: "d-edit", onclick: () => startEdit() }, "Edit");
  const shareBtn = h("button", { id: "d-share", onclick: () => openShare() }, "Share");
  const reloadBtn = h(
    "button",
    { id: "d-reload", title: "run every widget now", onclick: refreshAll },
    "Refresh",
  );
  toolbar.append(
    h(
      "span",
      { class: "toolbar wrap" },
      h("label", {}, "Time ", timeEl),
      paramsEl,
      h("label", {}, "Filter ", filterIn),
      h("label", {}, "Auto-refresh ", refreshSel),
      reloadBtn,
      fsBtn,
      opts.editable ? editBtn : null,
      opts.editable && !opts.share ? shareBtn : null,
      message,
    ),
  );

  // --- edit mode
  const nameIn = h("input", { id: "d-name", size: 30 });
  const tagsIn = h("input", { id: "d-tags", size: 24, placeholder: "tags, comma separated" });
  const defsEl = h("div", { class: "d-defs" });
  const newParamName = h("input", { id: "d-new-param", placeholder: "parameter name", size: 14 });
  const newParamType = h(
    "select",
    { id: "d-new-param-type" },
    PARAM_TYPES.map((t) => h("option", { value: t }, t)),
  );
  const drawDefs = (): void => {
    paramDefsEditor(defsEl, draft.params, (defs) => {
      draft.params = defs;
      ctx.paramDefs = defs;
      ctx.params = initialValues(defs, ctx.params);
      drawParams();
    });
    if (!draft.params.length) defsEl.replaceChildren(h("p", { class: "muted" }, "No dashboard parameters."));
    else
      for (const tr of defsEl.querySelectorAll<HTMLTableRowElement>("tr[data-param-def]")) {
        const name = tr.dataset.paramDef!;
        tr.append(
          h(
            "td",
            {},
            h(
              "button",
              {
                type: "button",
                class: "d-param-remove",
                onclick: () => {
                  draft.params = draft.params.filter((p) => p.name !== name);
                  paramsChanged();
                },
              },
              "Remove",
            ),
          ),
        );
      }
  };
  const paramsChanged = (): void => {
    ctx.paramDefs = draft.params;
    ctx.params = initialValues(draft.params, ctx.params);
    drawDefs();
    drawParams();
  };
  editbar.append(
    h(
      "div",
      { class: "toolbar wrap" },
      h("label", {}, "Name ", nameIn),
      h("label", {}, "Tags ", tagsIn),
      h("button", { id: "d-add-widget", onclick: () => openWidgetForm(null) }, "Add widget"),
      h("button", { id: "d-save", class: "primary", onclick: () => save() }, "Save"),
      h("button", { id: "d-cancel", onclick: () => stopEdit() }, "Cancel"),
      h(
        "span",
        { class: "muted" },
        "Saving keeps the current time range, filter and refresh as the defaults. Drag a widget by its title; resize from its corner.",
      ),
    ),
    h(
      "details",
      { class: "d-params-edit" },
      h("summary", {}, "Dashboard parameters"),
      defsEl,
      h(
        "div",
        { class: "toolbar" },
        newParamName,
        newParamType,
        h(
          "button",
          {
            type: "button",
            id: "d-add-param",
            onclick: () => {
              const name = newParamName.value.trim();
              if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name) || draft.params.some((p) => p.name === name)) {
                message.textContent = "a parameter needs a new name of letters, digits and _";
                return;
              }
              draft.params = [...draft.params, { name, type: newParamType.value as ParamType }];
              newParamName.value = "";
              paramsChanged();
            },
          },
          "Add parameter",
        ),
      ),
    ),
  );

  function startEdit(): void {
    draft = structuredClone(dash);
    editing = true;
    nameIn.value = draft.name;
    tagsIn.value = draft.tags.join(", ");
    editbar.hidden = false;
    editBtn.hidden = true;
    root.classList.add("editing");
    drawDefs();
    build();
  }
  function stopEdit(): void {
    editing = false;
    editbar.hidden = true;
    panel.hidden = true;
    editBtn.hidden = false;
    root.classList.remove("editing");
    ctx.paramDefs = dash.params;
    ctx.params = initialValues(dash.params, ctx.params);
    drawParams();
    build();
  }
  function save(): void {
    const body = {
      name: nameIn.value.trim() || draft.name,
      tags: tagsIn.value
        .split(",")
        .map((t) => t.trim())
        .filter(Boolean),
      timeRange: ctx.range,
      refreshSec: view.refreshSec,
      params: draft.params,
      filter: ctx.filter,
      widgets: draft.widgets,
      baseVersion: dash.version,
    };
    message.textContent = "saving…";
    api<Dashboard>(`/api/v1/dashboards/${encodeURIComponent(dash.id)}`, { method: "PUT", body }).then(
      (d) => {
        dash = d;
        title.textContent = d.name;
        message.textContent = `saved (version ${d.version})`;
        stopEdit();
        setUrl();
      },
      (e: unknown) => {
        message.textContent =
          e instanceof ApiError && e.status === 409
            ? "not saved: someone saved this dashboard meanwhile; reload to see their version"
            : `not saved: ${(e as Error).message}`;
        message.className = "error";
      },
    );
  }

  /** Edit chrome on one widget: x/y/w/h inputs, edit, remove, drag to move, corner to resize. */
  function decorate(v: WidgetView): void {
    const w = v.widget;
    const num = (key: "x" | "y" | "w" | "h", min: number, max: number): HTMLInputElement => {
      const inp = h("input", {
        type: "number",
        min,
        max,
        value: w[key],
        class: `w-${key}`,
        title: key,
        "aria-label": key,
      });
      inp.addEventListener("change", () => {
        const n = Math.round(Number(inp.value));
        if (!Number.isFinite(n)) return;
        w[key] = Math.min(max, Math.max(min, n));
        if (w.x + w.w > COLS) w.x = COLS - w.w;
        place(v);
      });
      return inp;
    };
    const inputs = {
      x: num("x", 0, COLS - 1),
      y: num("y", 0, 200),
      w: num("w", 1, COLS),
      h: num("h", 1, 24),
    };
    const place = (vv: WidgetView): void => {
      placeWidget(vv.el, w);
      for (const k of ["x", "y", "w", "h"] as const) inputs[k].value = String(w[k]);
      vv.redraw();
    };
    v.head.append(
      h(
        "span",
        { class: "w-edit" },
        inputs.x,
        inputs.y,
        inputs.w,
        inputs.h,
        h(
          "button",
          { type: "button", class: "w-config", title: "edit widget", onclick: () => openWidgetForm(w) },
          "✎",
        ),
        h(
          "button",
          {
            type: "button",
            class: "w-remove",
            title: "remove widget",
            onclick: () => {
              draft.widgets = draft.widgets.filter((x) => x !== w);
              build();
            },
          },
          "✕",
        ),
      ),
    );
    // Drag: whole grid cells, from the header (not its inputs); resize from the corner.
    const handle = h("div", { class: "w-resize", title: "drag to resize" });
    v.el.append(handle);
    const drag = (e: PointerEvent, mode: "move" | "size"): void => {
      if (e.button !== 0) return;
      e.preventDefault();
      const rect = grid.getBoundingClientRect();
      const colW = (rect.width + 8) / COLS;
      const rowH = (parseFloat(getComputedStyle(grid).gridAutoRows) || 80) + 8;
      const sx = e.clientX;
      const sy = e.clientY;
      const orig = { ...w };
      const move = (ev: PointerEvent): void => {
        const dx = Math.round((ev.clientX - sx) / colW);
        const dy = Math.round((ev.clientY - sy) / rowH);
        if (mode === "move") {
          w.x = Math.min(COLS - w.w, Math.max(0, orig.x + dx));
          w.y = Math.max(0, orig.y + dy);
        } else {
          w.w = Math.min(COLS - w.x, Math.max(1, orig.w + dx));
          w.h = Math.max(1, orig.h + dy);
        }
        placeWidget(v.el, w);
      };
      const up = (): void => {
        window.removeEventListener("pointermove", move);
        window.removeEventListener("pointerup", up);
        v.el.classList.remove("dragging");
        place(v);
      };
      v.el.classList.add("dragging");
      window.addEventListener("pointermove", move);
      window.addEventListener("pointerup", up);
    };
    v.head.addEventListener("pointerdown", (e) => {
      if ((e.target as HTMLElement).closest("input,button,select")) return;
      drag(e, "move");
    });
    handle.addEventListener("pointerdown", (e) => drag(e, "size"));
  }

  /** The add / edit widget form (in the panel above the grid). */
  function openWidgetForm(existing: Widget | null): void {
    const w: Widget = existing
      ? structuredClone(existing)
      : { id: newId(), type: "flow", title: "", ...freeSlot(draft.widgets, 6, 4), w: 6, h: 4 };
    const typeSel = h(
      "select",
      { id: "d-w-type", disabled: existing !== null },
      (["flow", "viz", "text", "live"] as WidgetType[]).map((t) =>
        h(
          "option",
          { value: t, selected: t === w.type },
          { flow: "Flow chart", viz: "Saved query visualization", text: "Text", live: "Live traffic" }[t],
        ),
      ),
    );
    const titleIn = h("input", { id: "d-w-title", value: w.title, size: 30, placeholder: "title" });
    const fields = h("div", { class: "d-w-fields" });
    const err = h("span", { class: "error" });
    let collect: () => Partial<Widget> | string = () => ({});

    const flowFields = (): void => {
      const spec: FlowWidgetSpec = w.flow ?? {
        dimensions: ["protocol"],
        metric: "bps",
        topN: 10,
        shape: "timeseries",
        chart: "area",
      };
      const dims = Object.entries(FLOW_DIMS).map(([k, l]) =>
        h(
          "label",
          { class: "chip" },
          h("input", { type: "checkbox", value: k, checked: spec.dimensions.includes(k), "data-dim": k }),
          l,
        ),
      );
      const metric = h(
        "select",
        { id: "d-w-metric" },
        FLOW_METRICS.map((m) => h("option", { value: m, selected: m === spec.metric }, m)),
      );
      const chart = h(
        "select",
        { id: "d-w-chart" },
        FLOW_CHARTS.map((c) => h("option", { value: c, selected: c === spec.chart }, c)),
      );
      const shape = h(
        "select",
        { id: "d-w-shape", title: "for a table: totals or over time" },
        h("option", { value: "table", selected: spec.shape === "table" }, "totals"),
        h("option", { value: "timeseries", selected: spec.shape === "timeseries" }, "over time"),
      );
      const top = h("input", { id: "d-w-top", type: "number", min: 1, max: 50, value: spec.topN ?? 10 });
      const filter = h("input", {
        id: "d-w-filter",
        size: 36,
        value: spec.filter ?? "",
        placeholder: "extra nfdump filter (optional)",
      });
      const anomaly = h("input", { id: "d-w-anomaly", type: "checkbox", checked: spec.anomaly === true });
      fields.replaceChildren(
        h("div", { class: "dims" }, "Dimensions: ", dims),
        h("label", {}, "Metric ", metric),
        h("label", {}, "Chart ", chart),
        h("label", {}, "Table rows ", shape),
        h("label", {}, "Top ", top),
        h("label", {}, "Filter ", filter),
        h(
          "label",
          { class: "chip", title: "area and lines charts: the anomaly score (異常度) under the chart" },
          anomaly,
          "anomaly score",
        ),
      );
      collect = () => {
        const d = dims
          .map((l) => l.querySelector("input")!)
          .filter((i) => i.checked)
          .map((i) => i.value);
        if (chart.value === "sankey" && d.length < 2)
          return "a Sankey diagram needs two dimensions (from → to)";
        const f: FlowWidgetSpec = {
          dimensions: d,
          metric: metric.value as FlowWidgetSpec["metric"],
          topN: Math.min(50, Math.max(1, Number(top.value) || 10)),
          shape: shape.value as FlowWidgetSpec["shape"],
          chart: chart.value as FlowWidgetSpec["chart"],
        };
        if (filter.value.trim()) f.filter = filter.value.trim();
        if (anomaly.checked) f.anomaly = true;
        // Saved consistent with the chart: the server runs a shared widget with this shape.
        f.shape = flowShape(f);
        return { flow: f };
      };
    };

    const vizFields = (): void => {
      const qSel = h("select", { id: "d-w-query" }, h("option", { value: "" }, "loading queries…"));
      const vSel = h("select", { id: "d-w-viz" });
      const mapEl = h("div", { class: "d-w-map" });
      let query: SavedQuery | null = null;
      const mapSels = new Map<string, HTMLSelectElement>();
      const loadQuery = (id: string): void => {
        query = null;
        vSel.replaceChildren();
        mapEl.replaceChildren();
        mapSels.clear();
        if (!id) return;
        api<SavedQuery>(`/api/v1/queries/${encodeURIComponent(id)}`).then(
          (q) => {
            query = q;
            ctx.queries.set(q.id, q);
            vSel.replaceChildren(
              ...(q.visualizations.length
                ? q.visualizations.map((v) =>
                    h(
                      "option",
                      { value: v.id, selected: v.id === w.vizId },
                      `${v.name || v.type} (${v.type})`,
                    ),
                  )
                : [h("option", { value: "" }, "table (the query has no visualization)")]),
            );
            if (!titleIn.value) titleIn.value = q.name;
            // Each query parameter takes a dashboard parameter, the dashboard's time, or its own default.
            const choices: [string, string][] = [
              ["", "query default"],
              ["$time", "dashboard time range"],
              ["$time.start", "dashboard time start"],
              ["$time.end", "dashboard time end"],
              ...draft.params.map((p) => [p.name, `dashboard parameter ${p.name}`] as [string, string]),
            ];
            for (const p of q.params) {
              const pre =
                w.paramMap?.[p.name] ??
                (draft.params.some((d) => d.name === p.name)
                  ? p.name
                  : p.type === "daterange"
                    ? "$time"
                    : "");
              const sel = h(
                "select",
                { "data-map": p.name },
                choices.map(([v, l]) => h("option", { value: v, selected: v === pre }, l)),
              );
              mapSels.set(p.name, sel);
              mapEl.append(h("label", {}, h("code", {}, p.name), ` (${p.type}) ← `, sel));
            }
          },
          (e: unknown) => {
            err.textContent = (e as Error).message;
          },
        );
      };
      api<SavedQuerySummary[]>("/api/v1/queries").then(
        (list) => {
          qSel.replaceChildren(
            h("option", { value: "" }, "pick a saved query…"),
            ...list.map((q) => h("option", { value: q.id, selected: q.id === w.queryId }, q.name)),
          );
          if (w.queryId) loadQuery(w.queryId);
        },
        (e: unknown) => {
          err.textContent = (e as Error).message;
        },
      );
      qSel.addEventListener("change", () => loadQuery(qSel.value));
      fields.replaceChildren(h("label", {}, "Query ", qSel), h("label", {}, "Visualization ", vSel), mapEl);
      collect = () => {
        if (!query) return "pick a saved query";
        const paramMap: Record<string, string> = {};
        for (const [k, sel] of mapSels) if (sel.value) paramMap[k] = sel.value;
        return { queryId: query.id, vizId: vSel.value || undefined, paramMap };
      };
    };

    const textFields = (): void => {
      const ta = h("textarea", { id: "d-w-text", rows: 6, cols: 60 });
      ta.value = w.text ?? "";
      fields.replaceChildren(
        ta,
        h(
          "p",
          { class: "muted" },
          "# heading, **bold**, [link](https://…), - list item. Shown as text, never as HTML.",
        ),
      );
      collect = () => ({ text: ta.value });
    };

    const liveFields = (): void => {
      const sel = h(
        "select",
        { id: "d-w-live-dim" },
        LIVE_DIMS.map((d) => h("option", { value: d, selected: d === (w.liveDim ?? "protocol") }, d)),
      );
      fields.replaceChildren(h("label", {}, "Stack by ", sel));
      collect = () => ({ liveDim: sel.value });
    };

    const drawFields = (): void => {
      err.textContent = "";
      const t = typeSel.value as WidgetType;
      if (t === "flow") flowFields();
      else if (t === "viz") vizFields();
      else if (t === "text") textFields();
      else liveFields();
    };
    typeSel.addEventListener("change", drawFields);
    drawFields();

    const ok = h(
      "button",
      {
        type: "button",
        id: "d-w-ok",
        class: "primary",
        onclick: () => {
          const got = collect();
          if (typeof got === "string") {
            err.textContent = got;
            return;
          }
          const t = typeSel.value as WidgetType;
          const next: Widget = {
            id: w.id,
            type: t,
            title: titleIn.value.trim(),
            x: w.x,
            y: w.y,
            w: w.w,
            h: w.h,
            ...got,
          };
          if (!existing && (t === "text" || t === "live")) {
            // Text is short; live is wide: find them a place of their own size.
            if (t === "text") next.h = 2;
            if (t === "live") next.w = COLS;
            Object.assign(next, freeSlot(draft.widgets, next.w, next.h));
          }
          draft.widgets = existing
            ? draft.widgets.map((x) => (x === existing ? next : x))
            : [...draft.widgets, next];
          panel.hidden = true;
          build();
        },
      },
      existing ? "Apply" : "Add",
    );
    panel.replaceChildren(
      h("h2", {}, existing ? "Edit widget" : "Add widget"),
      h(
        "div",
        { class: "toolbar wrap" },
        h("label", {}, "Type ", typeSel),
        h("label", {}, "Title ", titleIn),
      ),
      fields,
      h(
        "div",
        { class: "toolbar" },
        ok,
        h("button", { type: "button", id: "d-w-cancel", onclick: () => (panel.hidden = true) }, "Cancel"),
        err,
      ),
    );
    panel.hidden = false;
    titleIn.focus();
  }

  /** Share links: create (the URL is shown to copy), list, revoke. */
  function openShare(): void {
    const list = h("tbody", { id: "d-share-list" });
    const urlOut = h("input", { id: "d-share-url", readonly: true, size: 60 });
    const err = h("span", { class: "error" });
    const base = `/api/v1/dashboards/${encodeURIComponent(dash.id)}`;
    const fullUrl = (token: string): string => `${location.origin}${location.pathname}#/share/${token}`;
    const load = (): void => {
      api<ShareLink[]>(`${base}/shares`).then(
        (links) => {
          list.replaceChildren(
            ...links.map((l) =>
              h(
                "tr",
                { "data-token": l.token, class: l.revoked ? "revoked" : "" },
                h(
                  "td",
                  {},
                  l.revoked
                    ? h("s", {}, fullUrl(l.token))
                    : h(
                        "a",
                        { href: `#/share/${l.token}`, target: "_blank", rel: "noopener" },
                        fullUrl(l.token),
                      ),
                ),
                h("td", {}, new Date(l.createdAt).toLocaleString()),
                h("td", {}, l.createdBy),
                h(
                  "td",
                  {},
                  l.revoked
                    ? "revoked"
                    : h(
                        "button",
                        {
                          type: "button",
                          class: "d-share-revoke",
                          onclick: () => {
                            api(`${base}/shares/${encodeURIComponent(l.token)}`, { method: "DELETE" }).then(
                              load,
                              (e: unknown) => {
                                err.textContent = (e as Error).message;
                              },
                            );
                          },
                        },
                        "Revoke",
                      ),
                ),
              ),
            ),
          );
        },
        (e: unknown) => {
          err.textContent = (e as Error).message;
        },
      );
    };
    const create = (): void => {
      api<{ token: string; url: string }>(`${base}/share`, { method: "POST" }).then(
        (r) => {
          urlOut.value = fullUrl(r.token);
          urlOut.select();
          load();
        },
        (e: unknown) => {
          err.textContent = (e as Error).message;
        },
      );
    };
    panel.replaceChildren(
      h("h2", {}, "Share"),
      h(
        "p",
        { class: "muted" },
        "This link opens the dashboard read-only, without signing in, until it is revoked. Anyone with the link can see it.",
      ),
      h(
        "div",
        { class: "toolbar" },
        h(
          "button",
          { type: "button", id: "d-share-create", class: "primary", onclick: create },
          "Create another link",
        ),
        urlOut,
        h("button", { type: "button", onclick: () => (panel.hidden = true) }, "Close"),
        err,
      ),
      h(
        "table",
        { class: "grid" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["link", "created", "by", ""].map((c) => h("th", {}, c)),
          ),
        ),
        list,
      ),
    );
    panel.hidden = false;
    // The Share button gives a link at once (the list below shows the older ones, to revoke).
    create();
  }

  // --- go
  drawParams();
  document.body.classList.toggle("noc", view.fullscreen);
  build();
  schedule();
  if (opts.startEditing && opts.editable) startEdit();

  return () => {
    if (timer) clearInterval(timer);
    if (paramTimer) clearTimeout(paramTimer);
    if (resizeTimer) clearTimeout(resizeTimer);
    document.removeEventListener("keydown", onKey);
    document.removeEventListener("fullscreenchange", onFsChange);
    window.removeEventListener("resize", onResize);
    document.body.classList.remove("noc");
    for (const v of views) v.dispose();
  };
}
