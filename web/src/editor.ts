// The SQL editor: a plain <textarea> (so the browser keeps undo, selection,
// IME and accessibility) over a <pre> that shows the same text highlighted.
// The textarea's text is transparent and both scroll together, so the
// highlighting is what is seen and the textarea is what is edited. No editor
// library: the bundle stays small and nothing is fetched at run time.
//
// Completion (views, their columns, SQL keywords, DuckDB functions) comes from
// GET /api/v1/views, /api/v1/views/:name/columns and duckdb_functions()
// through the SQL sandbox; it pops up while a word is typed, and on Ctrl-Space.
import { api } from "./api.js";
import { h } from "./dom.js";
import {
  BASE_FUNCTIONS,
  FUNCTIONS_SQL,
  completionsAt,
  inCommentOrString,
  tokenizeSql,
  type ColumnInfo,
  type Completion,
} from "./sql-text.js";

export { KEYWORDS, completionsAt, tokenizeSql } from "./sql-text.js";
export type { ColumnInfo } from "./sql-text.js";

/** The schema the editor completes from, fetched lazily once per page. */
export class SchemaCache {
  views: string[] = [];
  columns = new Map<string, ColumnInfo[]>();
  functions: string[] = BASE_FUNCTIONS;
  private loading: Promise<void> | null = null;

  load(): Promise<void> {
    this.loading ??= (async () => {
      this.views = await api<string[]>("/api/v1/views").catch(() => []);
      await Promise.all(this.views.map((v) => this.columnsOf(v)));
      // The real function list of this DuckDB, through the same read-only sandbox as any query.
      const r = await api<{ rows: unknown[][] }>("/api/v1/sql", {
        method: "POST",
        body: {
          sql: FUNCTIONS_SQL,
          limit: 5000,
        },
      }).catch(() => null);
      const names = r?.rows.map((x) => String(x[0])).filter((n) => /^[a-z][a-z0-9_]*$/.test(n));
      if (names && names.length > 20) this.functions = names;
    })();
    return this.loading;
  }

  async columnsOf(view: string): Promise<ColumnInfo[]> {
    const have = this.columns.get(view);
    if (have) return have;
    const cols = await api<ColumnInfo[]>(`/api/v1/views/${encodeURIComponent(view)}/columns`).catch(() => []);
    this.columns.set(view, cols);
    return cols;
  }
}

function highlight(pre: HTMLElement, sql: string): void {
  const frag = document.createDocumentFragment();
  for (const t of tokenizeSql(sql)) {
    if (t.type === "other" || t.type === "ident") frag.append(t.text);
    else frag.append(h("span", { class: `tok-${t.type}` }, t.text));
  }
  // A trailing newline would not give the <pre> its last empty line; the textarea has it.
  frag.append("\n ");
  pre.replaceChildren(frag);
}

// ---------------------------------------------------------------------------
// The editor

export interface SqlEditor {
  /** The textarea (id q-editor unless given another). */
  input: HTMLTextAreaElement;
  get value(): string;
  set value(v: string);
  /** Inserts at the cursor (replacing the selection), as if typed: undo works. */
  insert(text: string): void;
  focus(): void;
  dispose(): void;
}

export function sqlEditor(
  el: HTMLElement,
  opts: {
    value: string;
    schema: SchemaCache;
    onChange?: (sql: string) => void;
    onRun?: () => void;
    readOnly?: boolean;
    id?: string;
  },
): SqlEditor {
  const pre = h("pre", { class: "sql-hl", "aria-hidden": "true" });
  const ta = h("textarea", {
    id: opts.id ?? "q-editor",
    class: "sql-input",
    spellcheck: "false",
    autocomplete: "off",
    autocapitalize: "off",
    wrap: "off",
    "aria-label": "SQL",
    readonly: opts.readOnly ?? false,
  });
  ta.value = opts.value;
  const popup = h("ul", { class: "sql-complete", id: "q-complete", role: "listbox", hidden: true });
  const box = h("div", { class: "sql-editor" }, pre, ta, popup);
  el.replaceChildren(box);

  let items: Completion[] = [];
  let from = 0;
  let active = 0;
  /** Enter accepts only a choice the user made (arrows, Ctrl-Space): else it would eat newlines. */
  let chosen = false;

  const sync = (): void => {
    pre.scrollTop = ta.scrollTop;
    pre.scrollLeft = ta.scrollLeft;
  };
  const changed = (): void => {
    highlight(pre, ta.value);
    sync();
    opts.onChange?.(ta.value);
  };

  /** Replaces [start, end) with text through the browser's editing (undoable), or directly if unsupported. */
  const replace = (start: number, end: number, text: string): void => {
    ta.focus();
    ta.setSelectionRange(start, end);
    // execCommand is deprecated but is the only way to keep the textarea's undo stack.
    if (!document.execCommand("insertText", false, text)) {
      ta.setRangeText(text, start, end, "end");
      changed();
    }
  };

  const close = (): void => {
    popup.hidden = true;
    items = [];
  };
  const accept = (i: number): void => {
    const c = items[i];
    if (!c) return;
    close();
    const text = c.kind === "function" ? `${c.text}(` : c.text;
    replace(from, ta.selectionStart, text);
  };
  const drawPopup = (): void => {
    popup.replaceChildren(
      ...items.map((c, i) =>
        h(
          "li",
          {
            class: `${i === active ? "active " : ""}kind-${c.kind}`,
            role: "option",
            "data-completion": c.text,
            // mousedown, not click: keep the textarea's focus and selection.
            onmousedown: (e: Event) => {
              e.preventDefault();
              accept(i);
            },
          },
          h("span", {}, c.text),
          h("small", {}, c.detail ?? c.kind),
        ),
      ),
    );
    popup.querySelector(".active")?.scrollIntoView({ block: "nearest" });
  };
  const open = (force: boolean): void => {
    if (ta.readOnly) return;
    const r = completionsAt(ta.value, ta.selectionStart, opts.schema);
    const afterDot = /\.$/.test(ta.value.slice(0, r.from));
    if (
      !r.items.length ||
      (!force && ((r.word.length < 2 && !afterDot) || inCommentOrString(ta.value, r.from)))
    ) {
      close();
      return;
    }
    items = r.items;
    from = r.from;
    active = 0;
    chosen = force;
    drawPopup();
    // Place it under the caret: monospace, so line and column give the position.
    const before = ta.value.slice(0, r.from);
    const line = before.split("\n").length - 1;
    const col = before.length - before.lastIndexOf("\n") - 1;
    const cs = getComputedStyle(ta);
    const lh = parseFloat(cs.lineHeight) || 18;
    const cw = charWidth(ta);
    popup.style.top = `${(line + 1) * lh + parseFloat(cs.paddingTop) - ta.scrollTop + 2}px`;
    popup.style.left = `${Math.max(0, col * cw + parseFloat(cs.paddingLeft) - ta.scrollLeft)}px`;
    popup.hidden = false;
  };

  const indent = (out: boolean): void => {
    const v = ta.value;
    const s = ta.selectionStart;
    const e = ta.selectionEnd;
    if (!out && s === e) return replace(s, e, "  ");
    // Whole lines of the selection (or the caret's line) are shifted.
    const ls = v.lastIndexOf("\n", s - 1) + 1;
    const le = e > s && v[e - 1] === "\n" ? e - 1 : (v.indexOf("\n", e) + 1 || v.length + 1) - 1;
    const lines = v.slice(ls, le).split("\n");
    const shifted = lines.map((l) => (out ? l.replace(/^ {1,2}|^\t/, "") : `  ${l}`));
    const text = shifted.join("\n");
    replace(ls, le, text);
    const d0 = shifted[0]!.length - lines[0]!.length;
    ta.setSelectionRange(Math.max(ls, s + d0), ls + text.length);
  };

  ta.addEventListener("input", (e) => {
    changed();
    const ie = e as InputEvent;
    // Pop up while a word (or "alias.") is typed; a deletion only refreshes an open list.
    if (ie.inputType === "insertText" && ie.data && /[A-Za-z0-9_.]$/.test(ie.data)) open(false);
    else if (!popup.hidden && ie.inputType?.startsWith("delete")) open(false);
    else close();
  });
  ta.addEventListener("scroll", sync);
  ta.addEventListener("blur", () => setTimeout(close, 100));
  ta.addEventListener("click", close);
  ta.addEventListener("keydown", (e) => {
    const mod = e.ctrlKey || e.metaKey;
    if (!popup.hidden && items.length) {
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        active = (active + (e.key === "ArrowDown" ? 1 : items.length - 1)) % items.length;
        chosen = true;
        drawPopup();
        return;
      }
      if ((e.key === "Enter" && !mod && chosen) || e.key === "Tab") {
        e.preventDefault();
        accept(active);
        return;
      }
      if (e.key === "Escape") {
        e.preventDefault();
        close();
        return;
      }
    }
    if (mod && e.key === "Enter") {
      e.preventDefault();
      close();
      opts.onRun?.();
    } else if (mod && (e.key === " " || e.code === "Space")) {
      e.preventDefault();
      open(true);
    } else if (e.key === "Tab" && !mod && !e.altKey && !ta.readOnly) {
      e.preventDefault();
      indent(e.shiftKey);
    }
  });

  highlight(pre, ta.value);
  void opts.schema.load();

  return {
    input: ta,
    get value() {
      return ta.value;
    },
    set value(v: string) {
      ta.value = v;
      highlight(pre, v);
      sync();
    },
    insert(text: string) {
      if (ta.readOnly) return;
      // From outside (schema browser) a click must not wipe a selection the user forgot: insert after it.
      const at = document.activeElement === ta ? ta.selectionStart : ta.selectionEnd;
      replace(at, ta.selectionEnd, text);
    },
    focus: () => ta.focus(),
    dispose: () => close(),
  };
}

let cachedCharWidth = 0;
function charWidth(ta: HTMLTextAreaElement): number {
  if (cachedCharWidth) return cachedCharWidth;
  const probe = h("span", {}, "x".repeat(100));
  const cs = getComputedStyle(ta);
  probe.style.font = cs.font;
  probe.style.position = "absolute";
  probe.style.visibility = "hidden";
  probe.style.whiteSpace = "pre";
  document.body.append(probe);
  cachedCharWidth = probe.getBoundingClientRect().width / 100 || 8;
  probe.remove();
  return cachedCharWidth;
}

// ---------------------------------------------------------------------------
// Schema browser

/** The side panel: views, each opening to its columns (name and type); clicking a name inserts it. */
export function schemaBrowser(el: HTMLElement, schema: SchemaCache, onPick: (name: string) => void): void {
  const filter = h("input", { type: "search", placeholder: "filter columns", id: "q-schema-filter" });
  const list = h("div", { class: "schema-list" });
  el.replaceChildren(h("h3", {}, "Schema"), filter, list);
  const draw = (): void => {
    const f = filter.value.trim().toLowerCase();
    list.replaceChildren(
      ...schema.views.map((v) => {
        const cols = (schema.columns.get(v) ?? []).filter((c) => !f || c.name.includes(f));
        const d = h(
          "details",
          { "data-view": v, open: f !== "" || v === schema.views[0] },
          h(
            "summary",
            {},
            h(
              "button",
              {
                type: "button",
                class: "link",
                title: "insert the view name",
                onclick: (e: Event) => {
                  e.preventDefault();
                  onPick(v);
                },
              },
              v,
            ),
            h("small", { class: "muted" }, ` ${(schema.columns.get(v) ?? []).length}`),
          ),
          h(
            "ul",
            {},
            cols.map((c) =>
              h(
                "li",
                {},
                h(
                  "button",
                  { type: "button", class: "link", "data-column": c.name, onclick: () => onPick(c.name) },
                  c.name,
                ),
                h("small", { class: "muted" }, ` ${c.type.toLowerCase()}`),
              ),
            ),
          ),
        );
        return d;
      }),
    );
  };
  filter.addEventListener("input", draw);
  list.append(h("p", { class: "muted" }, "loading…"));
  void schema.load().then(draw);
}
