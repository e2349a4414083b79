// One saved query (#/queries/<id>[?v=<version>]) or a new one (#/queries/new):
// the SQL editor with its schema browser and parameters, Run / Cancel, the
// result as a virtualized grid paged from the server, visualization tabs, and
// the saved query's life: save (every save is a new version), fork, delete,
// versions (view, restore), scheduled refresh, CSV / JSON download, "Add to
// dashboard".
//
// Results never load whole: the first request fetches one chunk (the charts
// draw from it), the grid asks the server for further pages as it scrolls,
// and the row count comes from a count(*) over the same rendered SQL, so a
// 200,000-row result costs the browser one chunk plus the rows on screen.
import "./queries.css";
import { ApiError, api, onUnauthorized, session } from "./api.js";
import { h } from "./dom.js";
import { countSql } from "./sql-text.js";
import { SchemaCache, schemaBrowser, sqlEditor, type SqlEditor } from "./editor.js";
import {
  guessParamType,
  initialValues,
  newParamDef,
  paramDefsEditor,
  paramsForm,
  syncParamDefs,
} from "./params.js";
import { virtualGrid, type VirtualGrid } from "./grid.js";
import type {
  Dashboard,
  DashboardSummary,
  LatestResult,
  ParamDef,
  ParamValue,
  SavedQuery,
  VersionInfo,
  Viz,
  VizOptions,
  VizType,
  Widget,
} from "./types.js";
import { isNumericType } from "./viz/data.js";
import { VIZ_TYPES, guessViz, renderViz } from "./viz/index.js";

interface Column {
  name: string;
  type: string;
}
interface RunAnswer {
  id: string;
  columns: Column[];
  rows: unknown[][];
  nextOffset: number | null;
  sql?: string;
}
interface Result {
  columns: Column[];
  /** The first chunk: what the charts draw and the grid's first pages. */
  rows: unknown[][];
  /** Total rows; null while counting or when the count failed (then more = true). */
  total: number | null;
  more: boolean;
  /** The SQL that ran, parameters rendered: later pages and the count run it. */
  sql: string | null;
  /** Set when the result came from the saved query's run endpoint (CSV from results.csv). */
  savedRun: boolean;
  elapsedMs: number;
  note?: string;
}

/** Rows of the first request (the server caps it at query.sql.maxRows, 10,000 by default). */
const FIRST_CHUNK = 10_000;
const PAGE = 500;

/** Which options each visualization type uses (src: web/src/viz/data.ts). */
const VIZ_FIELDS: Record<VizType, (keyof VizOptions)[]> = {
  table: [],
  line: ["x", "y", "series", "format", "fillGaps", "stepMs"],
  area: ["x", "y", "series", "format", "fillGaps", "stepMs"],
  bar: ["x", "y", "series", "format", "fillGaps", "stepMs"],
  stackedbar: ["x", "y", "series", "format", "fillGaps", "stepMs"],
  scatter: ["x", "y", "series", "format"],
  pie: ["label", "value", "format"],
  heatmap: ["x", "series", "value", "format", "fillGaps", "stepMs"],
  counter: ["value", "counterRow", "label", "format"],
  sankey: ["source", "target", "value", "format"],
};
const FIELD_LABEL: Record<keyof VizOptions, string> = {
  x: "X axis",
  y: "Y columns",
  series: "Series (group by)",
  value: "Value",
  source: "Source",
  target: "Target",
  label: "Label",
  fillGaps: "Fill time gaps with 0",
  stepMs: "Step (ms, empty: detect)",
  counterRow: "Row",
  format: "Format",
};

/** An id the server accepts for cancel (A-Z a-z 0-9 _ . -); getRandomValues works without https. */
function randomId(prefix: string, bytes = 9): string {
  const b = crypto.getRandomValues(new Uint8Array(bytes));
  return prefix + [...b].map((x) => x.toString(36).padStart(2, "0")).join("");
}

class RunError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly offset: number | null,
    readonly code: string | null,
  ) {
    super(message);
  }
}

/** POST that keeps the error body's extra fields (offset, code), which api() drops. */
async function post<T>(path: string, body: unknown, signal?: AbortSignal): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json", "Content-Type": "application/json" };
  if (session.me?.csrf) headers["X-CSRF-Token"] = session.me.csrf;
  const res = await fetch(path, {
    method: "POST",
    headers,
    body: JSON.stringify(body),
    credentials: "same-origin",
    signal,
  });
  const text = await res.text();
  let data: Record<string, unknown> = {};
  try {
    data = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    data = { error: text };
  }
  if (!res.ok) {
    if (res.status === 401) onUnauthorized();
    throw new RunError(
      res.status,
      typeof data.error === "string" ? data.error : `HTTP ${res.status}`,
      typeof data.offset === "number" ? data.offset : null,
      typeof data.code === "string" ? data.code : null,
    );
  }
  return data as T;
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

interface Draft {
  name: string;
  description: string;
  tags: string[];
  sql: string;
  params: ParamDef[];
  visualizations: Viz[];
  schedule: { intervalSec: number } | null;
}

const EMPTY: Draft = {
  name: "New query",
  description: "",
  tags: [],
  sql: "SELECT protocol, sum(bytes) AS bytes\nFROM flows\nWHERE time_received >= now() - INTERVAL 1 HOUR\nGROUP BY protocol\nORDER BY bytes DESC",
  params: [],
  visualizations: [],
  schedule: null,
};

function draftOf(q: SavedQuery): Draft {
  return {
    name: q.name,
    description: q.description,
    tags: [...q.tags],
    sql: q.sql,
    params: q.params.map((p) => ({ ...p })),
    visualizations: q.visualizations.map((v) => ({ ...v, options: { ...v.options } })),
    schedule: q.schedule ? { ...q.schedule } : null,
  };
}

export function queryPage(root: HTMLElement, id: string | null, params: URLSearchParams): () => void {
  const role = session.me?.role ?? "viewer";
  const canEdit = role !== "viewer";
  const versionParam = params.get("v");
  const viewingVersion = versionParam && /^\d+$/.test(versionParam) ? Number(versionParam) : null;
  /** Editable metadata: an editor on the current version. */
  const editable = canEdit && viewingVersion === null;

  let saved: SavedQuery | null = null;
  let latestVersion: number | null = null;
  let draft: Draft = { ...EMPTY, tags: [], params: [], visualizations: [] };
  let values: Record<string, ParamValue> = {};
  let result: Result | null = null;
  let running: { id: string; started: number; timer: ReturnType<typeof setInterval> } | null = null;
  let activeTab = "table";
  let disposed = false;
  let grid: VirtualGrid | null = null;
  let vizDispose: (() => void) | null = null;
  let editor: SqlEditor | null = null;
  const schema = new SchemaCache();

  // ------------------------------------------------------------------ elements
  const nameIn = h("input", {
    id: "q-name",
    class: "q-title",
    value: "",
    "aria-label": "name",
    disabled: !editable,
  });
  const tagsIn = h("input", {
    id: "q-tags",
    placeholder: "tags, comma separated",
    size: 24,
    "aria-label": "tags",
    disabled: !editable,
  });
  const descIn = h("textarea", {
    id: "q-description",
    rows: 1,
    placeholder: "description",
    "aria-label": "description",
    disabled: !editable,
  });
  const act = (idName: string, label: string, fn: () => void, title = ""): HTMLButtonElement =>
    h(
      "button",
      {
        id: idName,
        type: "button",
        // Disabled for viewers; a viewer who re-enables it by hand gets the server's 403 shown.
        disabled: !canEdit,
        title: canEdit ? title : "editors only",
        onclick: fn,
      },
      label,
    );
  const saveBtn = act("q-save", "Save", () => void save(), "Ctrl-S");
  const forkBtn = act("q-fork", "Fork", () => void fork());
  const deleteBtn = act("q-delete", "Delete", () => askDelete());
  const addDashBtn = act("q-add-to-dashboard", "Add to dashboard", () => void openAddToDashboard());
  const versionsBtn = h(
    "button",
    { id: "q-versions", type: "button", onclick: () => void toggleVersions() },
    "Versions",
  );
  const message = h("p", { id: "q-message", class: "q-message", role: "status" });
  const banner = h("div", { id: "q-banner", class: "q-banner", hidden: true });
  const schemaEl = h("aside", { id: "q-schema", class: "q-schema" });
  const editorEl = h("div", { class: "q-editor-wrap" });
  const paramsEl = h("div", { id: "q-params", class: "q-params" });
  const defsToggle = h(
    "button",
    { type: "button", id: "q-param-settings", class: "link", hidden: true },
    "parameter settings",
  );
  const defsEl = h("div", { id: "q-param-defs", hidden: true });
  const runBtn = h(
    "button",
    { id: "q-run", type: "button", class: "primary", title: "Ctrl-Enter", onclick: () => void run() },
    "Run",
  );
  const cancelBtn = h(
    "button",
    { id: "q-cancel", type: "button", disabled: true, onclick: () => void cancel() },
    "Cancel",
  );
  const status = h("span", { id: "q-status", class: "muted" });
  // Which engine runs this SQL (DuckDB, or Trino with query.engine.kind trino: its dialect then).
  const engineEl = h("span", { id: "q-engine", class: "muted", title: "the engine that runs this SQL" });
  api<{ kind: string; label?: string }>("/api/v1/engine").then(
    (e) => (engineEl.textContent = `engine: ${e.label ?? e.kind}`),
    () => undefined,
  );
  const scheduleIn = h("input", {
    id: "q-schedule",
    type: "number",
    min: 1,
    step: 1,
    size: 4,
    placeholder: "never",
    disabled: !editable,
    title: "refresh every N minutes (empty: never)",
  });
  const scheduleInfo = h("span", { id: "q-schedule-info", class: "muted" });
  const errorEl = h("pre", { id: "q-error", class: "error q-error", hidden: true });
  const tabsEl = h("div", { class: "q-tabs", id: "q-tabs", role: "tablist" });
  const csvLink = h(
    "a",
    { id: "q-download-csv", class: "button disabled", download: "query.csv", "aria-disabled": "true" },
    "CSV",
  );
  const jsonBtn = h(
    "button",
    { id: "q-download-json", class: "button", type: "button", disabled: true, onclick: () => downloadJson() },
    "JSON",
  );
  const vizOptsEl = h("div", { id: "q-viz-options", class: "q-viz-options", hidden: true });
  const resultsEl = h("div", { id: "q-results", class: "q-results" });
  const vizEl = h("div", { id: "q-viz", class: "q-viz", hidden: true });
  const versionsEl = h("aside", { id: "q-versions-panel", class: "q-side", hidden: true });
  const dashEl = h("div", { id: "q-add-dash-panel", class: "q-popover", hidden: true });

  root.replaceChildren(
    h(
      "div",
      { class: "q-head" },
      nameIn,
      tagsIn,
      h("span", { class: "spacer" }),
      saveBtn,
      forkBtn,
      deleteBtn,
      versionsBtn,
      addDashBtn,
    ),
    dashEl,
    descIn,
    banner,
    message,
    h(
      "div",
      { class: "q-body" },
      schemaEl,
      h(
        "section",
        { class: "q-main" },
        editorEl,
        h("div", { class: "q-params-row" }, paramsEl, defsToggle),
        defsEl,
        h(
          "div",
          { class: "toolbar q-runbar" },
          runBtn,
          cancelBtn,
          status,
          h("span", { class: "spacer" }),
          engineEl,
          h("label", {}, "Refresh every ", scheduleIn, " min"),
          scheduleInfo,
        ),
        errorEl,
        h("div", { class: "q-tabbar" }, tabsEl, h("span", { class: "spacer" }), csvLink, jsonBtn),
        vizOptsEl,
        resultsEl,
        vizEl,
      ),
      versionsEl,
    ),
  );

  // ------------------------------------------------------------------ state → UI
  const say = (text: string, kind: "ok" | "error" | "" = ""): void => {
    message.textContent = text;
    message.className = `q-message ${kind}`;
  };
  const sayError = (e: unknown): void => {
    const status = e instanceof ApiError || e instanceof RunError ? ` (${e.status})` : "";
    say(`${errText(e)}${status}`, "error");
  };

  const readMeta = (): void => {
    draft.name = nameIn.value.trim();
    draft.description = descIn.value;
    draft.tags = tagsIn.value
      .split(",")
      .map((t) => t.trim())
      .filter(Boolean);
    const min = Number(scheduleIn.value);
    draft.schedule = scheduleIn.value.trim() && min > 0 ? { intervalSec: Math.round(min * 60) } : null;
  };
  for (const el of [nameIn, tagsIn, descIn, scheduleIn]) el.addEventListener("input", readMeta);

  /** Has the text or its parameters changed since the save? Then Run sends the text, not the saved id. */
  const sqlDirty = (): boolean =>
    !saved || draft.sql !== saved.sql || JSON.stringify(draft.params) !== JSON.stringify(saved.params);

  const drawMeta = (): void => {
    nameIn.value = draft.name;
    tagsIn.value = draft.tags.join(", ");
    descIn.value = draft.description;
    scheduleIn.value = draft.schedule ? String(Math.max(1, Math.round(draft.schedule.intervalSec / 60))) : "";
    const isNew = !saved;
    saveBtn.hidden = viewingVersion !== null;
    forkBtn.hidden = isNew;
    deleteBtn.hidden = isNew;
    versionsBtn.hidden = isNew;
    document.title = `${draft.name || "Query"} – Nagare`;
  };

  const drawParams = (): void => {
    values = initialValues(draft.params, values);
    paramsForm(paramsEl, draft.params, values, (v) => (values = v), { onSubmit: () => void run() });
    defsToggle.hidden = draft.params.length === 0;
    paramDefsEditor(
      defsEl,
      draft.params,
      (defs) => {
        for (const d of defs) {
          const old = draft.params.find((x) => x.name === d.name);
          if (old && old.type !== d.type) guessed.delete(d.name);
        }
        // Rebuild the value form only when its fields change: rebuilding it on
        // every change (a blur of a settings field) swallowed the click that
        // caused the blur when it landed on a value field.
        const shape = (ds: ParamDef[]): string =>
          JSON.stringify(ds.map((d) => [d.name, d.type, d.label, d.options, d.multi]));
        const rebuild = shape(defs) !== shape(draft.params);
        draft.params = defs;
        values = initialValues(defs, values);
        if (rebuild)
          paramsForm(paramsEl, draft.params, values, (v) => (values = v), { onSubmit: () => void run() });
      },
      !editable,
    );
  };
  defsToggle.addEventListener("click", () => (defsEl.hidden = !defsEl.hidden));

  /** A column's type in any view (the views share their column names). */
  const columnType = (col: string): string | undefined => {
    for (const cols of schema.columns.values()) {
      const c = cols.find((x) => x.name === col);
      if (c) return c.type;
    }
    return undefined;
  };
  /** Parameters whose type was guessed here and not chosen by hand: guessed again as the text changes. */
  const guessed = new Set<string>();

  const onSqlChange = (sql: string): void => {
    draft.sql = sql;
    const before = draft.params;
    let next = syncParamDefs(sql, before, columnType);
    for (const d of next) if (!before.includes(d)) guessed.add(d.name);
    next = next.map((d) => {
      if (!guessed.has(d.name)) return d;
      const t = guessParamType(sql, d.name, columnType);
      return t === d.type ? d : newParamDef(d.name, t);
    });
    if (JSON.stringify(next) !== JSON.stringify(before)) {
      draft.params = next;
      drawParams();
    }
  };

  // ------------------------------------------------------------------ tabs, grid, visualizations
  const drawTabs = (): void => {
    const tab = (key: string, label: string, extra: Record<string, string> = {}): HTMLButtonElement =>
      h(
        "button",
        {
          type: "button",
          role: "tab",
          class: `q-tab${activeTab === key ? " active" : ""}`,
          "aria-selected": activeTab === key ? "true" : "false",
          "data-tab": key,
          onclick: () => {
            activeTab = key;
            drawTabs();
            drawActive();
          },
          ...extra,
        },
        label,
      );
    tabsEl.replaceChildren(
      tab("table", "Results", { id: "q-tab-table" }),
      ...draft.visualizations.map((v) => tab(v.id, v.name || v.type, { "data-viz-id": v.id })),
      h(
        "button",
        {
          type: "button",
          id: "q-add-viz",
          class: "q-tab add",
          disabled: !editable,
          title: editable ? "add a visualization of this result" : "editors only",
          onclick: () => addViz(),
        },
        "+ Visualization",
      ),
    );
  };

  const drawActive = (): void => {
    vizDispose?.();
    vizDispose = null;
    const viz = draft.visualizations.find((v) => v.id === activeTab);
    if (!viz) {
      activeTab = "table";
      resultsEl.hidden = false;
      vizEl.hidden = true;
      vizOptsEl.hidden = true;
      return;
    }
    resultsEl.hidden = true;
    vizEl.hidden = false;
    drawVizOptions(viz);
    drawViz(viz);
  };

  const drawViz = (viz: Viz): void => {
    vizDispose?.();
    vizDispose = null;
    if (!result) {
      vizEl.replaceChildren(h("p", { class: "muted" }, "Run the query to draw this visualization."));
      return;
    }
    const target = h("div", { class: "q-viz-canvas" });
    const note =
      result.more || (result.total !== null && result.total > result.rows.length)
        ? h("p", { class: "muted" }, `Drawn from the first ${result.rows.length.toLocaleString()} rows.`)
        : null;
    vizEl.replaceChildren(target, ...(note ? [note] : []));
    try {
      vizDispose = renderViz(target, viz, { columns: result.columns, rows: result.rows }, { height: 380 });
    } catch (e) {
      target.replaceChildren(h("p", { class: "error" }, `cannot draw: ${errText(e)}`));
    }
  };

  const addViz = (): void => {
    if (!editable) return;
    const base: Viz = result
      ? guessViz({ columns: result.columns, rows: result.rows })
      : { id: "", type: "line", name: "", options: {} };
    // guessViz falls back to a table; the grid is already that, so offer a chart first.
    const type: VizType = base.type === "table" ? "bar" : base.type;
    const viz: Viz = {
      ...base,
      id: randomId("v", 5),
      type,
      name: vizTypeName(type),
      options: { ...base.options },
    };
    draft.visualizations.push(viz);
    activeTab = viz.id;
    drawTabs();
    drawActive();
  };

  const drawVizOptions = (viz: Viz): void => {
    vizOptsEl.hidden = false;
    const cols = result?.columns ?? [];
    const dis = !editable;
    const redraw = (): void => {
      drawTabs();
      drawViz(viz);
    };
    const colSelect = (key: "x" | "series" | "value" | "source" | "target" | "label"): HTMLSelectElement => {
      const sel = h(
        "select",
        { "data-opt": key, id: `q-viz-${key}`, disabled: dis },
        h("option", { value: "" }, "(auto)"),
        cols.map((c) => h("option", { value: c.name, selected: viz.options[key] === c.name }, c.name)),
      );
      if (viz.options[key] && !cols.some((c) => c.name === viz.options[key]))
        sel.append(
          h("option", { value: viz.options[key], selected: true }, `${viz.options[key]} (not in result)`),
        );
      sel.addEventListener("change", () => {
        if (sel.value) viz.options[key] = sel.value;
        else delete viz.options[key];
        redraw();
      });
      return sel;
    };
    const fields: HTMLElement[] = [];
    const typeSel = h(
      "select",
      { id: "q-viz-type", disabled: dis },
      VIZ_TYPES.map((t: VizType) => h("option", { value: t, selected: t === viz.type }, vizTypeName(t))),
    );
    typeSel.addEventListener("change", () => {
      const wasDefaultName = viz.name === vizTypeName(viz.type);
      viz.type = typeSel.value as VizType;
      if (wasDefaultName) viz.name = vizTypeName(viz.type);
      drawVizOptions(viz);
      redraw();
    });
    const nameI = h("input", { id: "q-viz-name", value: viz.name, size: 14, disabled: dis });
    nameI.addEventListener("change", () => {
      viz.name = nameI.value.trim();
      drawTabs();
    });
    fields.push(h("label", {}, "Type", typeSel), h("label", {}, "Name", nameI));
    for (const key of VIZ_FIELDS[viz.type]) {
      const label = FIELD_LABEL[key];
      if (
        key === "x" ||
        key === "series" ||
        key === "value" ||
        key === "source" ||
        key === "target" ||
        key === "label"
      ) {
        fields.push(h("label", {}, label, colSelect(key)));
      } else if (key === "y") {
        const chosen = viz.options.y ?? [];
        // Numbers only (what a y axis can draw), plus any chosen before the result changed.
        const ycols = cols.filter((c) => isNumericType(c.type) || chosen.includes(c.name));
        const boxes = ycols.map((c) => {
          const cb = h("input", {
            type: "checkbox",
            value: c.name,
            checked: chosen.includes(c.name),
            disabled: dis,
          });
          cb.addEventListener("change", () => {
            const y = boxes.filter((b) => b.checked).map((b) => b.value);
            if (y.length) viz.options.y = y;
            else delete viz.options.y;
            redraw();
          });
          return cb;
        });
        fields.push(
          h(
            "fieldset",
            { id: "q-viz-y", class: "q-viz-y" },
            h("legend", {}, `${label} (none: every number)`),
            ycols.map((c, i) => h("label", { class: "chip" }, boxes[i]!, c.name)),
          ),
        );
      } else if (key === "format") {
        const sel = h(
          "select",
          { id: "q-viz-format", disabled: dis },
          ["number", "bytes", "bps", "percent"].map((f) =>
            h("option", { value: f, selected: (viz.options.format ?? "number") === f }, f),
          ),
        );
        sel.addEventListener("change", () => {
          viz.options.format = sel.value as VizOptions["format"];
          redraw();
        });
        fields.push(h("label", {}, label, sel));
      } else if (key === "fillGaps") {
        const cb = h("input", {
          id: "q-viz-fillgaps",
          type: "checkbox",
          checked: viz.options.fillGaps ?? true,
          disabled: dis,
        });
        cb.addEventListener("change", () => {
          viz.options.fillGaps = cb.checked;
          redraw();
        });
        fields.push(h("label", { class: "chip" }, cb, label));
      } else if (key === "stepMs" || key === "counterRow") {
        const inp = h("input", {
          id: `q-viz-${key.toLowerCase()}`,
          type: "number",
          min: 0,
          size: 8,
          value: viz.options[key] ?? "",
          disabled: dis,
        });
        inp.addEventListener("change", () => {
          const n = Number(inp.value);
          if (inp.value.trim() !== "" && Number.isFinite(n) && n >= 0) viz.options[key] = n;
          else delete viz.options[key];
          redraw();
        });
        fields.push(h("label", {}, label, inp));
      }
    }
    const del = h(
      "button",
      {
        type: "button",
        id: "q-viz-delete",
        class: "link danger",
        disabled: dis,
        onclick: () => {
          draft.visualizations = draft.visualizations.filter((v) => v !== viz);
          activeTab = "table";
          drawTabs();
          drawActive();
        },
      },
      "remove visualization",
    );
    vizOptsEl.replaceChildren(...fields, del);
  };

  const drawStatus = (r: Result): void => {
    const count =
      r.total !== null
        ? `${r.total.toLocaleString()} rows`
        : `${r.rows.length.toLocaleString()}+ rows (counting…)`;
    status.textContent = `${count} · ${(r.elapsedMs / 1000).toFixed(2)} s${r.note ? ` · ${r.note}` : ""}`;
    status.className = "muted";
  };

  const drawResult = (): void => {
    grid?.dispose();
    grid = null;
    if (!result) {
      resultsEl.replaceChildren();
      return;
    }
    const r = result;
    drawStatus(r);
    jsonBtn.disabled = false;
    if (r.columns.length === 0) {
      resultsEl.replaceChildren(h("p", { class: "muted" }, "No columns."));
      return;
    }
    resultsEl.replaceChildren();
    grid = virtualGrid(resultsEl, {
      columns: r.columns,
      rowCount: r.total ?? r.rows.length,
      pageSize: PAGE,
      fetchPage: (offset, limit, signal) => fetchRows(r, offset, limit, signal),
    });
  };

  /** The count arrived: the grid grows to the whole result (it pages the rest from the server). */
  const countKnown = (r: Result): void => {
    if (result !== r || disposed) return;
    drawStatus(r);
    if (grid && r.total !== null) grid.resize(r.total);
  };

  /** Rows [offset, offset+limit) of the result: from the first chunk, else one more run of the rendered SQL. */
  const fetchRows = async (
    r: Result,
    offset: number,
    limit: number,
    signal?: AbortSignal,
  ): Promise<unknown[][]> => {
    if (offset + limit <= r.rows.length || (!r.more && r.total === r.rows.length))
      return r.rows.slice(offset, offset + limit);
    if (r.sql === null) return r.rows.slice(offset, offset + limit);
    const page = await post<RunAnswer>(
      "/api/v1/sql",
      { sql: r.sql, offset, limit, id: randomId("ui-page-") },
      signal,
    );
    return page.rows;
  };

  // ------------------------------------------------------------------ run / cancel
  const showRunError = (e: unknown): void => {
    let text = errText(e);
    if (e instanceof RunError) {
      if (e.code === "cancelled") text = "Cancelled.";
      if (e.offset !== null) {
        text += `\n(at offset ${e.offset})`;
        // Only meaningful for the text as typed (no parameters rendered in between).
        if (editor && draft.params.length === 0) editor.input.setSelectionRange(e.offset, e.offset + 1);
      }
    }
    errorEl.textContent = text;
    errorEl.hidden = false;
  };

  const renderSql = async (): Promise<string> => {
    if (draft.params.length === 0) return draft.sql;
    const r = await post<{ sql: string }>("/api/v1/sql/render", {
      sql: draft.sql,
      params: values,
      paramDefs: draft.params,
    });
    return r.sql;
  };

  const run = async (): Promise<void> => {
    if (running) return;
    const runId = randomId("ui-");
    const started = performance.now();
    running = {
      id: runId,
      started,
      timer: setInterval(() => {
        status.textContent = `running… ${((performance.now() - started) / 1000).toFixed(1)} s`;
      }, 100),
    };
    runBtn.disabled = true;
    cancelBtn.disabled = false;
    errorEl.hidden = true;
    status.textContent = "running…";
    status.className = "muted running";
    const useSaved = saved !== null && viewingVersion === null && !sqlDirty();
    try {
      let first: RunAnswer;
      if (useSaved) {
        first = await post<RunAnswer>(`/api/v1/queries/${encodeURIComponent(saved!.id)}/run`, {
          params: values,
          offset: 0,
          limit: FIRST_CHUNK,
          id: runId,
        });
      } else {
        const body: Record<string, unknown> = { sql: draft.sql, offset: 0, limit: FIRST_CHUNK, id: runId };
        if (draft.params.length) {
          body.params = values;
          body.paramDefs = draft.params;
        }
        first = await post<RunAnswer>("/api/v1/sql", body);
      }
      if (disposed) return;
      const r: Result = {
        columns: first.columns,
        rows: first.rows,
        total: first.nextOffset === null ? first.rows.length : null,
        more: first.nextOffset !== null,
        sql: first.sql ?? (draft.params.length === 0 && !useSaved ? draft.sql : null),
        savedRun: useSaved,
        elapsedMs: performance.now() - started,
      };
      result = r;
      drawResult();
      drawActive();
      void completeResult(r);
    } catch (e) {
      if (disposed) return;
      status.textContent = `failed after ${((performance.now() - started) / 1000).toFixed(2)} s`;
      status.className = "error";
      showRunError(e);
    } finally {
      if (running?.id === runId) {
        clearInterval(running.timer);
        running = null;
      }
      runBtn.disabled = false;
      cancelBtn.disabled = true;
    }
  };

  /** After the first chunk: the rendered SQL (for paging and CSV) and the row count. */
  const completeResult = async (r: Result): Promise<void> => {
    try {
      r.sql ??= r.savedRun && saved ? await renderSavedSql() : await renderSql();
    } catch {
      r.sql = null;
    }
    updateCsv(r);
    if (r.total !== null || r.sql === null) {
      if (r.total === null) r.note = "row count unavailable";
      countKnown(r);
      return;
    }
    try {
      const c = await post<RunAnswer>("/api/v1/sql", { sql: countSql(r.sql), id: randomId("ui-count-") });
      r.total = Number(c.rows[0]?.[0] ?? r.rows.length);
      r.more = false;
    } catch {
      // Not countable as a subquery (SUMMARIZE, DESCRIBE …): show what is loaded.
      r.total = r.rows.length;
      r.note = "count unavailable: showing the first rows";
    }
    countKnown(r);
  };

  /** The saved query's text rendered with the current values (its run answered without "sql"). */
  const renderSavedSql = async (): Promise<string> => {
    if (!saved || saved.params.length === 0) return saved?.sql ?? draft.sql;
    const x = await post<{ sql: string }>("/api/v1/sql/render", {
      sql: saved.sql,
      params: values,
      paramDefs: saved.params,
    });
    return x.sql;
  };

  const cancel = async (): Promise<void> => {
    if (!running) return;
    const runId = running.id;
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        await api(`/api/v1/sql/${encodeURIComponent(runId)}`, { method: "DELETE" });
        return;
      } catch (e) {
        // 404: not registered yet (body still in flight) or already finished.
        if (!(e instanceof ApiError && e.status === 404) || running?.id !== runId) return;
        await new Promise((res) => setTimeout(res, 150));
      }
    }
  };

  // ------------------------------------------------------------------ downloads
  /** The whole result's download URL (streamed by the server, page by page), or "" before a run. */
  let jsonHref = "";
  const updateCsv = (r: Result): void => {
    const href = (ext: "csv" | "json"): string => {
      if (r.savedRun && saved) {
        const p = Object.keys(values).length ? `?params=${encodeURIComponent(JSON.stringify(values))}` : "";
        return `/api/v1/queries/${encodeURIComponent(saved.id)}/results.${ext}${p}`;
      }
      return r.sql !== null ? `/api/v1/sql.${ext}?q=${encodeURIComponent(r.sql)}` : "";
    };
    jsonHref = href("json");
    if (href("csv")) {
      csvLink.href = href("csv");
      csvLink.classList.remove("disabled");
      csvLink.removeAttribute("aria-disabled");
      csvLink.download = `${fileName()}.csv`;
    }
  };
  const fileName = (): string => (draft.name || "query").replace(/[^\w.-]+/g, "_").slice(0, 60) || "query";
  // The whole result as a JSON array, streamed by the server (not just the rows this page loaded).
  const downloadJson = (): void => {
    if (!result || !jsonHref) return;
    const a = h("a", { href: jsonHref, download: `${fileName()}.json` });
    document.body.append(a);
    a.click();
    a.remove();
  };

  // ------------------------------------------------------------------ save / fork / delete
  const body = (): Draft => {
    readMeta();
    return {
      name: draft.name || "Untitled query",
      description: draft.description,
      tags: draft.tags,
      sql: draft.sql,
      params: draft.params,
      visualizations: draft.visualizations,
      schedule: draft.schedule,
    };
  };

  const save = async (): Promise<boolean> => {
    say("saving…");
    try {
      let q: SavedQuery;
      if (!saved) {
        q = await api<SavedQuery>("/api/v1/queries", { method: "POST", body: body() });
        // Keep the page (and its result) while the URL names the new query.
        history.replaceState(null, "", `#/queries/${encodeURIComponent(q.id)}`);
      } else {
        q = await api<SavedQuery>(`/api/v1/queries/${encodeURIComponent(saved.id)}`, {
          method: "PUT",
          body: { ...body(), baseVersion: saved.version },
        });
      }
      saved = q;
      latestVersion = q.version;
      draft = draftOf(q);
      drawMeta();
      drawTabs();
      say(`Saved: version ${q.version}.`, "ok");
      if (!versionsEl.hidden) void loadVersions();
      return true;
    } catch (e) {
      if (e instanceof ApiError && e.status === 409)
        say(
          `${e.message} (409): someone saved this query after you opened it. Fork to keep your text, or reload to see theirs.`,
          "error",
        );
      else sayError(e);
      return false;
    }
  };

  const fork = async (): Promise<void> => {
    if (!saved) return;
    try {
      const q = await api<SavedQuery>(`/api/v1/queries/${encodeURIComponent(saved.id)}/fork`, {
        method: "POST",
      });
      location.hash = `#/queries/${encodeURIComponent(q.id)}`;
    } catch (e) {
      sayError(e);
    }
  };

  const askDelete = (): void => {
    if (!saved) return;
    const q = saved;
    const yes = h(
      "button",
      {
        type: "button",
        id: "q-delete-confirm",
        class: "danger",
        onclick: () => {
          api(`/api/v1/queries/${encodeURIComponent(q.id)}`, { method: "DELETE" }).then(
            () => (location.hash = "#/queries"),
            (e: unknown) => sayError(e),
          );
        },
      },
      "Delete",
    );
    message.className = "q-message";
    message.replaceChildren(
      `Delete "${q.name}" and all its versions? `,
      yes,
      " ",
      h("button", { type: "button", onclick: () => say("") }, "Keep it"),
    );
  };

  // ------------------------------------------------------------------ versions
  const loadVersions = async (): Promise<void> => {
    if (!saved) return;
    const qid = saved.id;
    versionsEl.replaceChildren(h("h3", {}, "Versions"), h("p", { class: "muted" }, "loading…"));
    try {
      const list = await api<VersionInfo[]>(`/api/v1/queries/${encodeURIComponent(qid)}/versions`);
      const shown = viewingVersion ?? saved.version;
      versionsEl.replaceChildren(
        h("h3", {}, "Versions"),
        h(
          "ol",
          { class: "q-version-list", id: "q-version-list", reversed: true },
          list.map((v) =>
            h(
              "li",
              { "data-version": v.version, class: v.version === shown ? "current" : "" },
              h("a", { href: `#/queries/${encodeURIComponent(qid)}?v=${v.version}` }, `v${v.version}`),
              " ",
              h("span", {}, v.name),
              h("br", {}),
              h("small", { class: "muted" }, `${new Date(v.updatedAt).toLocaleString()} · ${v.updatedBy}`),
              v.version !== latestVersion && canEdit
                ? h(
                    "button",
                    {
                      type: "button",
                      class: "link",
                      "data-restore": v.version,
                      onclick: () => void restore(v.version),
                    },
                    "restore",
                  )
                : null,
            ),
          ),
        ),
      );
    } catch (e) {
      versionsEl.replaceChildren(h("h3", {}, "Versions"), h("p", { class: "error" }, errText(e)));
    }
  };
  const toggleVersions = async (): Promise<void> => {
    versionsEl.hidden = !versionsEl.hidden;
    if (!versionsEl.hidden) await loadVersions();
  };
  const restore = async (v: number): Promise<void> => {
    if (!saved) return;
    try {
      const q = await api<SavedQuery>(
        `/api/v1/queries/${encodeURIComponent(saved.id)}/versions/${v}/restore`,
        {
          method: "POST",
        },
      );
      if (viewingVersion !== null) location.hash = `#/queries/${encodeURIComponent(q.id)}`;
      else {
        saved = q;
        latestVersion = q.version;
        draft = draftOf(q);
        if (editor) editor.value = draft.sql;
        drawAll();
        say(`Restored version ${v} as version ${q.version}.`, "ok");
        void loadVersions();
      }
    } catch (e) {
      sayError(e);
    }
  };

  // ------------------------------------------------------------------ add to dashboard
  const openAddToDashboard = async (): Promise<void> => {
    if (!dashEl.hidden) {
      dashEl.hidden = true;
      return;
    }
    dashEl.hidden = false;
    dashEl.replaceChildren(h("p", { class: "muted" }, "loading dashboards…"));
    let list: DashboardSummary[];
    try {
      list = await api<DashboardSummary[]>("/api/v1/dashboards");
    } catch (e) {
      dashEl.replaceChildren(h("p", { class: "error" }, errText(e)));
      return;
    }
    const dashSel = h(
      "select",
      { id: "q-dashboard-select" },
      list.map((d) => h("option", { value: d.id }, d.name)),
    );
    const vizSel = h(
      "select",
      { id: "q-dashboard-viz" },
      draft.visualizations.map((v) =>
        h("option", { value: v.id, selected: v.id === activeTab }, v.name || v.type),
      ),
      h("option", { value: "" }, "a new table"),
    );
    const go = h(
      "button",
      {
        type: "button",
        id: "q-add-dash-go",
        class: "primary",
        onclick: () => void addToDashboard(dashSel.value, vizSel.value),
      },
      "Add",
    );
    dashEl.replaceChildren(
      h("label", {}, "Dashboard ", dashSel),
      h("label", {}, "Visualization ", vizSel),
      go,
      h("button", { type: "button", class: "link", onclick: () => (dashEl.hidden = true) }, "close"),
    );
  };

  const addToDashboard = async (dashId: string, vizId: string): Promise<void> => {
    if (!dashId) return say("Choose a dashboard.", "error");
    let viz = draft.visualizations.find((v) => v.id === vizId);
    if (!viz) {
      viz = { id: randomId("v", 5), type: "table", name: "Table", options: {} };
      draft.visualizations.push(viz);
    }
    const vid = viz.id;
    // The widget names a saved query and visualization: save first (a no-op version if unchanged is avoided).
    const unsaved =
      !saved ||
      sqlDirty() ||
      JSON.stringify(body()) !== JSON.stringify({ ...draftOf(saved), name: saved.name || "Untitled query" });
    if (unsaved && !(await save())) return;
    const q = saved!;
    try {
      const d = await api<Dashboard>(`/api/v1/dashboards/${encodeURIComponent(dashId)}`);
      const bottom = d.widgets.reduce((m, w) => Math.max(m, w.y + w.h), 0);
      const widget: Widget = {
        id: randomId("w", 5),
        type: "viz",
        title: `${q.name}${viz.name && draft.visualizations.length > 1 ? ` – ${viz.name}` : ""}`,
        x: 0,
        y: bottom,
        w: 6,
        h: 4,
        queryId: q.id,
        vizId: vid,
        // Each query parameter follows the dashboard parameter of the same name, added if missing.
        paramMap: Object.fromEntries(q.params.map((p) => [p.name, p.name])),
      };
      const dparams = [...d.params];
      for (const p of q.params) if (!dparams.some((x) => x.name === p.name)) dparams.push({ ...p });
      await api<Dashboard>(`/api/v1/dashboards/${encodeURIComponent(d.id)}`, {
        method: "PUT",
        body: { widgets: [...d.widgets, widget], params: dparams, baseVersion: d.version },
      });
      dashEl.hidden = true;
      message.className = "q-message ok";
      message.replaceChildren(
        "Added to ",
        h("a", { href: `#/dashboards/${encodeURIComponent(d.id)}`, id: "q-dashboard-link" }, d.name),
        ".",
      );
    } catch (e) {
      sayError(e);
    }
  };

  // ------------------------------------------------------------------ load
  const drawAll = (): void => {
    drawMeta();
    drawParams();
    drawTabs();
    drawActive();
    drawResult();
  };

  const keys = (e: KeyboardEvent): void => {
    if ((e.ctrlKey || e.metaKey) && e.key === "s") {
      e.preventDefault();
      if (editable) void save();
    }
  };
  document.addEventListener("keydown", keys);

  const start = (): void => {
    editor = sqlEditor(editorEl, {
      value: draft.sql,
      schema,
      onChange: onSqlChange,
      onRun: () => void run(),
      // Viewers may run any read-only SQL (the server allows it), but an old version is shown as it was.
      readOnly: viewingVersion !== null,
    });
    schemaBrowser(schemaEl, schema, (name) => editor?.insert(name));
    draft.params = syncParamDefs(draft.sql, draft.params, columnType);
    drawAll();
    // Types guessed before the column types were known are guessed again once they are.
    void schema.load().then(() => {
      if (!disposed && guessed.size) onSqlChange(draft.sql);
    });
    if (!editable) {
      banner.hidden = false;
      banner.replaceChildren(
        viewingVersion !== null
          ? h(
              "span",
              {},
              `Viewing version ${viewingVersion}${latestVersion !== null ? ` of ${latestVersion}` : ""} (read-only). `,
              canEdit && viewingVersion !== latestVersion
                ? h(
                    "button",
                    { type: "button", id: "q-restore", onclick: () => void restore(viewingVersion) },
                    "Restore this version",
                  )
                : null,
              " ",
              h("a", { href: `#/queries/${encodeURIComponent(id ?? "")}` }, "back to the latest"),
            )
          : "Read-only: viewers can run queries and download results, not change them.",
      );
    }
  };

  const showLatest = async (q: SavedQuery): Promise<void> => {
    if (!q.schedule) return;
    try {
      const l = await api<LatestResult>(`/api/v1/queries/${encodeURIComponent(q.id)}/results/latest`);
      if (disposed) return;
      scheduleInfo.textContent = ` last refresh ${new Date(l.ranAt).toLocaleString()}${l.error ? `: ${l.error}` : ""}`;
      if (!result && !l.error) {
        // Open with the scheduled result, as re:dash does, instead of running on every visit.
        result = {
          columns: l.columns,
          rows: l.rows,
          total: l.rows.length,
          more: false,
          sql: null,
          savedRun: true,
          elapsedMs: 0,
          note: `scheduled result of ${new Date(l.ranAt).toLocaleTimeString()}`,
        };
        drawResult();
        drawActive();
        updateCsv(result);
      }
    } catch {
      scheduleInfo.textContent = " not refreshed yet";
    }
  };

  if (id === null) {
    start();
  } else {
    root.classList.add("loading");
    const base = `/api/v1/queries/${encodeURIComponent(id)}`;
    Promise.all([
      api<SavedQuery>(base),
      viewingVersion !== null ? api<SavedQuery>(`${base}/versions/${viewingVersion}`) : null,
    ]).then(
      ([cur, old]) => {
        if (disposed) return;
        root.classList.remove("loading");
        latestVersion = cur.version;
        saved = old ?? cur;
        draft = draftOf(saved);
        start();
        void showLatest(cur);
      },
      (e: unknown) => {
        if (disposed) return;
        root.replaceChildren(
          h("p", { class: "error", id: "q-load-error" }, `Query ${id}: ${errText(e)}`),
          h("a", { href: "#/queries" }, "all queries"),
        );
      },
    );
  }

  return () => {
    disposed = true;
    document.removeEventListener("keydown", keys);
    if (running) {
      clearInterval(running.timer);
      void cancel();
    }
    grid?.dispose();
    vizDispose?.();
    editor?.dispose();
  };
}

export function vizTypeName(t: VizType): string {
  return (
    {
      table: "Table",
      line: "Line",
      area: "Area",
      bar: "Bar",
      stackedbar: "Stacked bar",
      pie: "Pie",
      scatter: "Scatter",
      heatmap: "Heatmap",
      counter: "Counter",
      sankey: "Sankey",
    } satisfies Record<VizType, string>
  )[t];
}
