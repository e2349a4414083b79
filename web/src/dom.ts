// A tiny element builder: h("div", {class: "x", onclick: fn}, child, "text").
type Attrs = Record<string, string | number | boolean | null | undefined | EventListener>;
type Child = Node | string | number | null | undefined | false | Child[];

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (typeof v === "function") el.addEventListener(k.replace(/^on/, ""), v);
    else if (k === "value" && "value" in el) (el as HTMLInputElement).value = String(v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

function append(el: HTMLElement, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

export { PROTOCOLS } from "./viz/data.js";

const UNITS = ["", "k", "M", "G", "T", "P"];
/** 1234567 → "1.23 M" (SI, like nfdump). */
export function si(n: number, unit = ""): string {
  let i = 0;
  let v = Math.abs(n);
  while (v >= 1000 && i < UNITS.length - 1) {
    v /= 1000;
    i++;
  }
  const s = v >= 100 || i === 0 ? v.toFixed(0) : v.toFixed(v >= 10 ? 1 : 2);
  return `${n < 0 ? "-" : ""}${s} ${UNITS[i]}${unit}`.trim();
}

/** The browser's time zone and UTC offset, e.g. "Europe/Paris (UTC+01:00)". */
export function timeZoneLabel(at = new Date()): string {
  const tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const off = -at.getTimezoneOffset();
  const sign = off >= 0 ? "+" : "-";
  const a = Math.abs(off);
  return `${tz} (UTC${sign}${String(Math.floor(a / 60)).padStart(2, "0")}:${String(a % 60).padStart(2, "0")})`;
}
