// Filter completion popup for the explorer's nfdump filter box. What may come
// next is decided by src/query/filter/complete.ts (the grammar, no DOM, unit
// tested); where a column value is due, the values seen in the explorer's time
// range (among the flows the filter typed before it selects, when it is a
// plain "… and") come from GET /api/v1/flows/values (top by bytes). Keyboard: ↑/↓ pick,
// Tab takes the picked (or first) one, Enter takes the picked one (else it
// submits the form as before), Esc closes; a click takes one too.
import {
  applySuggestion,
  complete,
  valueSuggestion,
  type Completion,
  type Suggestion,
} from "../../src/query/filter/complete.js";
import { api } from "./api.js";
import { h } from "./dom.js";

interface ValuesAnswer {
  rows: [unknown, number][];
}

export interface CompletionOptions {
  /** The time range values are looked up in (epoch ms). */
  range: () => { start: number; end: number };
  /** Called after a suggestion was applied (the input's value changed). */
  onApply?: () => void;
}

export function attachCompletion(input: HTMLInputElement, opts: CompletionOptions): () => void {
  const box = h("ul", { class: "completion", id: "ex-completion", role: "listbox", hidden: true });
  input.setAttribute("autocomplete", "off");
  input.setAttribute("aria-autocomplete", "list");
  input.insertAdjacentElement("afterend", box);
  const wrap = input.parentElement;
  if (wrap) wrap.classList.add("completion-anchor");

  let current: Completion | null = null;
  let items: Suggestion[] = [];
  let active = -1;
  let seq = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const cache = new Map<string, Suggestion[]>();

  const close = (): void => {
    box.hidden = true;
    items = [];
    active = -1;
  };

  const draw = (): void => {
    if (!items.length || document.activeElement !== input) return close();
    box.replaceChildren(
      ...items.map((s, i) =>
        h(
          "li",
          {
            role: "option",
            class: `${s.kind}${i === active ? " active" : ""}`,
            "aria-selected": i === active ? "true" : "false",
            // mousedown, not click: the input must not lose focus (blur closes the popup).
            onmousedown: (e: Event) => {
              e.preventDefault();
              take(i);
            },
          },
          h("span", { class: "label" }, s.label),
          s.detail ? h("span", { class: "detail" }, s.detail) : null,
        ),
      ),
    );
    box.hidden = false;
    box.children[active]?.scrollIntoView({ block: "nearest" });
  };

  const take = (i: number): void => {
    const s = items[i];
    if (!s || !current) return;
    const r = applySuggestion(input.value, current, s);
    input.value = r.text;
    input.setSelectionRange(r.cursor, r.cursor);
    opts.onApply?.();
    update();
  };

  const values = async (column: string, prefix: string, filter: string | null): Promise<Suggestion[]> => {
    const { start, end } = opts.range();
    // Rounded to the minute so typing does not miss the cache on every keystroke.
    const key = `${column}|${prefix}|${filter ?? ""}|${Math.floor(start / 60_000)}|${Math.floor(end / 60_000)}`;
    const hit = cache.get(key);
    if (hit) return hit;
    const q = new URLSearchParams({
      column,
      prefix,
      start: String(Math.floor(start)),
      end: String(Math.ceil(end)),
      limit: "20",
    });
    if (filter) q.set("filter", filter);
    let r: ValuesAnswer;
    try {
      r = await api<ValuesAnswer>(`/api/v1/flows/values?${q.toString()}`);
    } catch (err) {
      // The filter typed so far may not be valid yet (a bad value): suggest over all flows instead.
      if (!filter) throw err;
      return values(column, prefix, null);
    }
    const out = r.rows.map(([v, bytes]) => valueSuggestion(column, v, Number(bytes)));
    cache.set(key, out);
    return out;
  };

  const update = (): void => {
    const c = complete(input.value, input.selectionStart ?? input.value.length);
    current = c;
    items = c.suggestions;
    active = -1;
    draw();
    const column = c.column;
    if (!column) return;
    const mine = ++seq;
    clearTimeout(timer);
    timer = setTimeout(() => {
      values(column, c.prefix, c.context).then(
        (vals) => {
          if (mine !== seq) return;
          // Values before operators: where a value is due it is what is most likely typed next.
          const seen = new Set(items.map((s) => s.label));
          const ops = items.filter((s) => s.kind === "operator");
          items = [
            ...items.filter((s) => s.kind !== "operator"),
            ...vals.filter((v) => !seen.has(v.label)),
            ...ops,
          ];
          draw();
        },
        () => undefined, // no suggestions is fine; the query itself reports errors
      );
    }, 120);
  };

  const onKey = (e: KeyboardEvent): void => {
    if (box.hidden || !items.length) {
      if (e.key === "ArrowDown" || (e.key === " " && e.ctrlKey)) {
        update();
        e.preventDefault();
      }
      return;
    }
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      const n = items.length;
      active = e.key === "ArrowDown" ? (active + 1) % n : (active - 1 + n) % n;
      draw();
      e.preventDefault();
    } else if (e.key === "Tab") {
      take(active >= 0 ? active : 0);
      e.preventDefault();
    } else if (e.key === "Enter" && active >= 0) {
      take(active);
      e.preventDefault();
    } else if (e.key === "Escape") {
      close();
      e.preventDefault();
    }
  };

  const onCaret = (): void => {
    if (document.activeElement === input) update();
  };
  input.addEventListener("input", update);
  input.addEventListener("focus", update);
  input.addEventListener("click", onCaret);
  input.addEventListener("keydown", onKey);
  input.addEventListener("keyup", (e) => {
    if (e.key === "ArrowLeft" || e.key === "ArrowRight" || e.key === "Home" || e.key === "End") onCaret();
  });
  input.addEventListener("blur", close);
  return () => {
    clearTimeout(timer);
    box.remove();
  };
}
