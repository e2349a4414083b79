// Query parameters ({{ name }} in the SQL text, re:dash style): finding them in
// the text, the form that sets their values, and the editor of their
// definitions (type, label, default, list options). Values are sent as JSON to
// the server, which renders them safely into the SQL (quotes doubled, numbers
// validated, list values checked against the options, dates parsed); nothing
// here builds SQL.
import { h } from "./dom.js";
import { PARAM_TYPES, formatDefault, initialValues, parseDefault } from "./sql-text.js";
import type { ParamDef, ParamType, ParamValue } from "./types.js";

// The DOM-free half lives in sql-text.ts; the contract names these here too.
export {
  PARAM_TYPES,
  defaultValue,
  extractParams,
  formatDefault,
  guessParamType,
  initialValues,
  newParamDef,
  parseDefault,
  syncParamDefs,
} from "./sql-text.js";

/**
 * The value inputs, one per definition, each with id `q-param-<name>` (a date
 * range: `q-param-<name>` is the start, `q-param-<name>-end` the end). Dates
 * are typed as text because relative values ("now-24h") are valid. onChange
 * gets the whole value map after each edit; onSubmit (Enter in a field) runs.
 * Returns a function that reads the current values.
 */
export function paramsForm(
  el: HTMLElement,
  defs: ParamDef[],
  values: Record<string, ParamValue>,
  onChange: (values: Record<string, ParamValue>) => void,
  opts: { onSubmit?: () => void; idPrefix?: string } = {},
): () => Record<string, ParamValue> {
  const prefix = opts.idPrefix ?? "q-param-";
  const cur = initialValues(defs, values);
  const changed = (): void => onChange({ ...cur });
  const keys = (e: KeyboardEvent): void => {
    if (e.key === "Enter" && opts.onSubmit) {
      e.preventDefault();
      opts.onSubmit();
    }
  };
  const fields = defs.map((d) => {
    const id = `${prefix}${d.name}`;
    const label = d.label || d.name;
    const v = cur[d.name]!;
    let input: HTMLElement;
    if (d.type === "daterange") {
      const r = typeof v === "object" && !Array.isArray(v) ? v : { start: "now-24h", end: "now" };
      const start = h("input", { id, type: "text", value: r.start, size: 14, title: "ISO date or now-24h" });
      const end = h("input", { id: `${id}-end`, type: "text", value: r.end, size: 14 });
      const upd = (): void => {
        cur[d.name] = { start: start.value.trim(), end: end.value.trim() };
        changed();
      };
      start.addEventListener("change", upd);
      end.addEventListener("change", upd);
      start.addEventListener("keydown", keys);
      end.addEventListener("keydown", keys);
      input = h("span", { class: "q-range" }, start, " – ", end);
    } else if (d.type === "list") {
      const chosen = Array.isArray(v) ? v : [String(v)];
      const sel = h(
        "select",
        { id, multiple: d.multi ?? false },
        (d.options ?? []).map((o) => h("option", { value: o, selected: chosen.includes(o) }, o)),
      );
      sel.addEventListener("change", () => {
        const picked = [...sel.selectedOptions].map((o) => o.value);
        cur[d.name] = d.multi ? picked : (picked[0] ?? "");
        changed();
      });
      input = sel;
    } else {
      const inp = h("input", {
        id,
        type: d.type === "number" ? "number" : "text",
        step: d.type === "number" ? "any" : null,
        value: Array.isArray(v) ? v.join(",") : typeof v === "object" ? "" : String(v),
        size: d.type === "date" ? 20 : 16,
        placeholder: d.type === "date" ? "2026-11-27T00:00Z or now-24h" : "",
      });
      inp.addEventListener("input", () => {
        // A number stays a JS number; an unfinished one ("-") stays text and the server names it.
        cur[d.name] =
          d.type === "number" && inp.value.trim() !== "" && Number.isFinite(Number(inp.value))
            ? Number(inp.value)
            : inp.value;
        changed();
      });
      inp.addEventListener("keydown", keys);
      input = inp;
    }
    return h("label", { class: "q-param", "data-param": d.name }, h("span", {}, label), input);
  });
  el.replaceChildren(...fields);
  return () => ({ ...cur });
}

/**
 * The definitions editor: per parameter its type, label, default and (list)
 * options and multi-select. onChange gets the new definitions after each edit.
 */
export function paramDefsEditor(
  el: HTMLElement,
  defs: ParamDef[],
  onChange: (defs: ParamDef[]) => void,
  readOnly = false,
): void {
  const cur = defs.map((d) => ({ ...d }));
  const emit = (): void => onChange(cur.map((d) => ({ ...d })));
  if (cur.length === 0) {
    el.replaceChildren(h("p", { class: "muted" }, "No parameters: write {{ name }} in the SQL to add one."));
    return;
  }
  const rows = cur.map((d, i) => {
    const type = h(
      "select",
      { "data-def": "type", disabled: readOnly },
      PARAM_TYPES.map((t) => h("option", { value: t, selected: t === d.type }, t)),
    );
    const label = h("input", {
      "data-def": "label",
      value: d.label ?? "",
      placeholder: d.name,
      disabled: readOnly,
    });
    const def = h("input", {
      "data-def": "default",
      value: formatDefault(d),
      placeholder: placeholderFor(d.type),
      disabled: readOnly,
    });
    const options = h("input", {
      "data-def": "options",
      value: (d.options ?? []).join(", "),
      placeholder: "a, b, c",
      disabled: readOnly || d.type !== "list",
    });
    const multi = h("input", {
      "data-def": "multi",
      type: "checkbox",
      checked: d.multi ?? false,
      disabled: readOnly || d.type !== "list",
    });
    const update = (): void => {
      const t = type.value as ParamType;
      const next: ParamDef = { name: d.name, type: t };
      if (label.value.trim()) next.label = label.value.trim();
      if (t === "list") {
        next.options = options.value
          .split(",")
          .map((s) => s.trim())
          .filter(Boolean);
        if (multi.checked) next.multi = true;
      }
      const dv = parseDefault(t, def.value, next.multi);
      if (dv !== undefined) next.default = dv;
      cur[i] = next;
      options.disabled = readOnly || t !== "list";
      multi.disabled = readOnly || t !== "list";
      def.placeholder = placeholderFor(t);
      emit();
    };
    for (const x of [type, label, def, options, multi]) x.addEventListener("change", update);
    return h(
      "tr",
      { "data-param-def": d.name },
      h("td", {}, h("code", {}, d.name)),
      h("td", {}, type),
      h("td", {}, label),
      h("td", {}, def),
      h("td", {}, options),
      h("td", {}, multi),
    );
  });
  el.replaceChildren(
    h(
      "table",
      { class: "grid q-defs" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["name", "type", "label", "default", "options (list)", "multi"].map((c) => h("th", {}, c)),
        ),
      ),
      h("tbody", {}, rows),
    ),
  );
}

function placeholderFor(t: ParamType): string {
  if (t === "daterange") return "now-24h..now";
  if (t === "date") return "now-1h or 2026-11-27T00:00Z";
  if (t === "number") return "0";
  return "";
}
