// Time ranges as dashboards, saved-query parameters and the URL keep them:
// strings, either ISO-8601 ("2026-11-27T08:00:00Z") or relative to the
// moment of the query ("now", "now-15m", "now-24h", "now-7d"). Keeping the
// relative form (not the epoch it resolved to) is what lets a dashboard on a
// NOC wall slide forward on every refresh and a shared link show "the last
// hour" to whoever opens it later.
import { PRESETS, describeRange, resolveTime, type TimeRange } from "./dashboard-core.js";
import { h, timeZoneLabel } from "./dom.js";

export { PRESETS, describeRange, resolveRange, resolveTime, type TimeRange } from "./dashboard-core.js";

/** A datetime-local input's value (local wall time, minutes) for epoch ms. */
function toLocalInput(ms: number): string {
  if (!Number.isFinite(ms)) return "";
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 16);
}

export interface TimeRangePicker {
  /** Show another value (no onChange). */
  set(v: TimeRange): void;
  readonly value: TimeRange;
}

/**
 * A select of relative presets plus "absolute…", which opens two
 * datetime-local inputs (browser time zone, shown beside them). The select
 * gets `opts.id` so tests and labels can reach it; its option values are the
 * preset starts ("now-1h"), "absolute" and, for a relative range not in the
 * list, that range's start.
 */
export function timeRangePicker(
  el: HTMLElement,
  value: TimeRange,
  onChange: (v: TimeRange) => void,
  opts: { id?: string } = {},
): TimeRangePicker {
  let cur: TimeRange = { ...value };
  const sel = h("select", { id: opts.id, class: "tr-select", title: "time range" });
  const from = h("input", { type: "datetime-local", class: "tr-from", "aria-label": "from" });
  const to = h("input", { type: "datetime-local", class: "tr-to", "aria-label": "to" });
  const err = h("span", { class: "error tr-error" });
  const apply = h("button", { type: "button", class: "tr-apply" }, "Apply");
  const abs = h("span", { class: "tr-absolute" }, "from ", from, " to ", to, " ", apply, " ", err);
  const tz = h(
    "span",
    { class: "muted tr-tz", title: "times are shown in this browser's time zone" },
    timeZoneLabel(),
  );

  const fill = (): void => {
    const isPreset = cur.end === "now" && cur.start.startsWith("now");
    const options: [string, string][] = [...PRESETS];
    if (isPreset && !options.some(([v]) => v === cur.start)) options.push([cur.start, describeRange(cur)]);
    options.push(["absolute", "absolute…"]);
    sel.replaceChildren(...options.map(([v, l]) => h("option", { value: v }, l)));
    sel.value = isPreset ? cur.start : "absolute";
    abs.hidden = isPreset;
    const now = Date.now();
    from.value = toLocalInput(resolveTime(cur.start, now));
    to.value = toLocalInput(resolveTime(cur.end, now));
    err.textContent = "";
  };

  sel.addEventListener("change", () => {
    if (sel.value === "absolute") {
      // Open the inputs on the range currently shown; the user applies.
      abs.hidden = false;
      from.focus();
      return;
    }
    cur = { start: sel.value, end: "now" };
    fill();
    onChange({ ...cur });
  });
  apply.addEventListener("click", () => {
    // datetime-local is local wall time: Date parses "YYYY-MM-DDTHH:MM" as local.
    const s = new Date(from.value).getTime();
    const e = new Date(to.value).getTime();
    if (!Number.isFinite(s) || !Number.isFinite(e)) {
      err.textContent = "pick both dates";
      return;
    }
    if (e <= s) {
      err.textContent = "the end must be after the start";
      return;
    }
    cur = { start: new Date(s).toISOString(), end: new Date(e).toISOString() };
    fill();
    onChange({ ...cur });
  });

  fill();
  el.append(h("span", { class: "timerange" }, sel, " ", abs, " ", tz));
  return {
    set(v: TimeRange) {
      cur = { ...v };
      fill();
    },
    get value() {
      return { ...cur };
    },
  };
}
