// Query parameters: `{{ name }}` placeholders in saved SQL, rendered into SQL
// literals on the server. This is the injection-proof core of saved queries:
// a value never reaches the SQL text except as a literal this file built.
//
//   placeholder = "{{" *space name [ "." ( "start" / "end" ) ] *space "}}"
//   name        = ( ALPHA / "_" ) *( ALPHA / DIGIT / "_" )
//
// Rendering per type (docs/dashboards.md, "Parameters"):
//   text      → '…' with every ' doubled (a standard SQL string: DuckDB reads
//               no backslash escapes in it, so doubling is the only escape)
//   number    → a finite JS number, printed by JS; negative ones in
//               parentheses so "x-{{n}}" cannot turn into a "--" comment
//   list      → one of the def's options as a text literal; multi: several,
//               comma-separated (write `IN ({{ name }})`)
//   date      → TIMESTAMP 'YYYY-MM-DD HH:MM:SS.mmm' (UTC, like the store's
//               time columns) of an ISO-8601 date or "now", "now-24h", …
//   daterange → {{ name.start }} and {{ name.end }}, each a date
//
// Why the template is lexed and not just searched-and-replaced: a literal
// dropped INSIDE the author's own quotes ('{{ x }}') or comment (-- {{ x }}
// then a newline in the value) would escape them. A placeholder inside a
// string, quoted identifier or dollar-quoted string is refused; one in a
// comment is left as it is (the comment is ignored anyway). A placeholder
// glued to a word (E{{ x }}, making an escape string E'…') is refused too.
import type { ParamDef, ParamType, ParamValue } from "./types.js";

/** A parameter problem the caller made: answered with 400 and this message. */
export class ParamError extends Error {
  readonly status = 400;
}

export const PARAM_TYPES: readonly ParamType[] = ["text", "number", "list", "date", "daterange"];
export const PARAM_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
/** Longest text value accepted (a parameter is a value, not a document). */
export const MAX_TEXT = 10_000;
const MAX_OPTIONS = 1000;

const PLACEHOLDER_RE = /^\{\{\s*([A-Za-z_][A-Za-z0-9_]*)(?:\.(start|end))?\s*\}\}/;

/** One placeholder found in the SQL text: where it is and what it names. */
export interface Placeholder {
  start: number;
  end: number;
  name: string;
  part: "start" | "end" | null;
}

/**
 * The placeholders of `sql` that are to be rendered (outside strings and
 * comments), in order. Throws ParamError for one inside a quoted string or
 * identifier, or glued to a preceding word character.
 */
export function findPlaceholders(sql: string): Placeholder[] {
  const out: Placeholder[] = [];
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i]!;
    if (c === "'" || c === '"') {
      // '…' string or "…" identifier; a doubled quote stays inside. E'…'
      // (an escape string) also takes \' as a quote that stays inside.
      const escapes = c === "'" && /(^|[^A-Za-z0-9_$])[Ee]$/.test(sql.slice(Math.max(0, i - 2), i));
      let j = i + 1;
      for (;;) {
        if (j >= n) break;
        if (escapes && sql[j] === "\\") j += 2;
        else if (sql[j] === c) {
          if (sql[j + 1] === c) j += 2;
          else break;
        } else j++;
      }
      refuseInside(sql.slice(i, j + 1), c === "'" ? "a quoted string" : "a quoted identifier");
      i = j + 1;
      continue;
    }
    if (c === "-" && sql[i + 1] === "-") {
      const j = sql.indexOf("\n", i);
      i = j < 0 ? n : j + 1;
      continue;
    }
    if (c === "/" && sql[i + 1] === "*") {
      // DuckDB block comments do not nest.
      const j = sql.indexOf("*/", i + 2);
      i = j < 0 ? n : j + 2;
      continue;
    }
    if (c === "$") {
      // $$…$$ or $tag$…$tag$ (PostgreSQL-style dollar quoting, which DuckDB reads).
      const m = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i));
      const prev = i > 0 ? sql[i - 1]! : " ";
      if (m && !/[A-Za-z0-9_]/.test(prev)) {
        const tag = m[0];
        const j = sql.indexOf(tag, i + tag.length);
        const end = j < 0 ? n : j + tag.length;
        refuseInside(sql.slice(i, end), "a dollar-quoted string");
        i = end;
        continue;
      }
    }
    if (c === "{" && sql[i + 1] === "{") {
      const m = PLACEHOLDER_RE.exec(sql.slice(i));
      if (!m)
        throw new ParamError(`malformed placeholder at offset ${i}: write {{ name }} or {{ name.start }}`);
      const prev = i > 0 ? sql[i - 1]! : " ";
      if (/[A-Za-z0-9_$]/.test(prev))
        throw new ParamError(
          `placeholder {{ ${m[1]!} }} is glued to the word before it: put a space between`,
        );
      out.push({ start: i, end: i + m[0].length, name: m[1]!, part: (m[2] as "start" | "end") ?? null });
      i += m[0].length;
      continue;
    }
    i++;
  }
  return out;
}

function refuseInside(quoted: string, what: string): void {
  const m = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)/.exec(quoted);
  if (m)
    throw new ParamError(
      `placeholder {{ ${m[1]!} }} is inside ${what}: write it without quotes, the value is quoted when rendered`,
    );
}

/** Names of the parameters `sql` uses (each once, in order of first use). */
export function paramNames(sql: string): string[] {
  return [...new Set(findPlaceholders(sql).map((p) => p.name))];
}

/** `'…'` with quotes doubled: the only escape in a standard SQL string. */
export function sqlString(s: string): string {
  if (s.includes("\u0000")) throw new ParamError("a text value cannot contain a NUL character");
  return `'${s.replace(/'/g, "''")}'`;
}

const REL_RE = /^now(?:\s*([+-])\s*(\d{1,6})\s*(s|m|h|d|w))?$/;
const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3600_000, d: 86_400_000, w: 604_800_000 };
/** ISO-8601 dates Date.parse reads the same everywhere: date, date-time, optional zone. */
const ISO_RE = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/;

/**
 * A date value as epoch milliseconds: "now", "now-24h", "now+1d" (s m h d w)
 * or ISO-8601 (without a zone it is UTC, like the store). Throws ParamError.
 */
export function resolveDate(v: unknown, nowMs: number, what = "date"): number {
  if (typeof v !== "string") throw new ParamError(`${what} must be an ISO-8601 string or now-N(s|m|h|d|w)`);
  const t = v.trim();
  const rel = REL_RE.exec(t);
  if (rel) {
    if (!rel[1]) return nowMs;
    const d = Number(rel[2]) * UNIT_MS[rel[3]!]!;
    return rel[1] === "-" ? nowMs - d : nowMs + d;
  }
  if (ISO_RE.test(t)) {
    // A date-time without a zone is UTC here (Date.parse would take local time).
    const zoned = /T|\s/.test(t) && !/(Z|[+-]\d{2}:?\d{2})$/.test(t) ? t.replace(" ", "T") + "Z" : t;
    const ms = Date.parse(zoned);
    if (Number.isFinite(ms)) return ms;
  }
  throw new ParamError(
    `${what}: ${JSON.stringify(v.slice(0, 60))} is not an ISO-8601 date or now-N(s|m|h|d|w)`,
  );
}

/** TIMESTAMP literal of epoch ms, UTC (the store's time columns are UTC TIMESTAMPs). */
export function timestampLiteral(ms: number): string {
  const iso = new Date(ms).toISOString(); // 2024-01-02T03:04:05.678Z
  if (!/^\d{4}-/.test(iso)) throw new ParamError("date out of range (years 0000-9999)");
  return `TIMESTAMP '${iso.slice(0, 10)} ${iso.slice(11, 23)}'`;
}

function renderNumber(v: unknown, name: string): string {
  let x: number;
  if (typeof v === "number") x = v;
  else if (typeof v === "string" && /^\s*-?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/.test(v)) x = Number(v);
  else throw new ParamError(`parameter ${name} must be a number`);
  if (!Number.isFinite(x)) throw new ParamError(`parameter ${name} must be a finite number`);
  const s = String(x);
  return x < 0 || Object.is(x, -0) ? `(${s})` : s;
}

function renderList(v: unknown, def: ParamDef): string {
  const options = def.options ?? [];
  const one = (x: unknown): string => {
    if (typeof x !== "string" && typeof x !== "number")
      throw new ParamError(`parameter ${def.name} must be one of its options`);
    const s = String(x);
    if (!options.includes(s))
      throw new ParamError(
        `parameter ${def.name}: ${JSON.stringify(s.slice(0, 60))} is not one of its options`,
      );
    return sqlString(s);
  };
  if (Array.isArray(v)) {
    if (!def.multi) throw new ParamError(`parameter ${def.name} takes one value, not a list`);
    if (v.length === 0) throw new ParamError(`parameter ${def.name} needs at least one value`);
    return v.map(one).join(", ");
  }
  return one(v);
}

function isRange(v: unknown): v is { start: unknown; end: unknown } {
  return typeof v === "object" && v !== null && !Array.isArray(v) && "start" in v && "end" in v;
}

/** A date range is used as {{ name.start }} / {{ name.end }}, any other type as {{ name }}. */
function checkPart(def: ParamDef, part: "start" | "end" | null): void {
  if (def.type === "daterange" && !part)
    throw new ParamError(
      `parameter ${def.name} is a date range: use {{ ${def.name}.start }} and {{ ${def.name}.end }}`,
    );
  if (def.type !== "daterange" && part)
    throw new ParamError(`parameter ${def.name} is not a date range: .${part} does not apply`);
}

/** The literal for one placeholder. */
function renderOne(def: ParamDef, part: "start" | "end" | null, v: unknown, nowMs: number): string {
  checkPart(def, part);
  if (def.type === "daterange") {
    if (!isRange(v) || !part) throw new ParamError(`parameter ${def.name} must be {start, end}`);
    return timestampLiteral(resolveDate(v[part], nowMs, `parameter ${def.name}.${part}`));
  }
  switch (def.type) {
    case "text":
      if (typeof v !== "string") throw new ParamError(`parameter ${def.name} must be a string`);
      if (v.length > MAX_TEXT)
        throw new ParamError(`parameter ${def.name} is longer than ${MAX_TEXT} characters`);
      return sqlString(v);
    case "number":
      return renderNumber(v, def.name);
    case "list":
      return renderList(v, def);
    case "date":
      return timestampLiteral(resolveDate(v, nowMs, `parameter ${def.name}`));
  }
}

/**
 * Render `sql` with `values` (by name; a missing one takes its def's default).
 * Every placeholder needs a def; a def's value is checked even when its
 * placeholder appears several times. Throws ParamError (→ 400) naming the
 * parameter. Values for names the SQL does not use are ignored.
 */
export function renderSql(
  sql: string,
  defs: readonly ParamDef[],
  values: Record<string, unknown> = {},
  nowMs = Date.now(),
): string {
  const holders = findPlaceholders(sql);
  if (holders.length === 0) return sql;
  const byName = new Map(defs.map((d) => [d.name, d]));
  const rendered = new Map<string, string>();
  let out = "";
  let at = 0;
  for (const h of holders) {
    const def = byName.get(h.name);
    if (!def) throw new ParamError(`unknown parameter ${h.name}: it has no definition`);
    const key = `${h.name}.${h.part ?? ""}`;
    let lit = rendered.get(key);
    if (lit === undefined) {
      checkPart(def, h.part);
      const v = Object.hasOwn(values, h.name) ? values[h.name] : def.default;
      if (v === undefined || v === null)
        throw new ParamError(`parameter ${h.name} has no value and no default`);
      lit = renderOne(def, h.part, v, nowMs);
      rendered.set(key, lit);
    }
    // Spaces around: a literal never fuses with the text next to it.
    out += sql.slice(at, h.start) + " " + lit + " ";
    at = h.end;
  }
  return out + sql.slice(at);
}

/**
 * Check parameter definitions from a request body: names, types, list
 * options, defaults (a default must render). Returns them cleaned (only known
 * keys). Throws ParamError.
 */
export function validateParamDefs(raw: unknown): ParamDef[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) throw new ParamError("params must be an array of parameter definitions");
  if (raw.length > 100) throw new ParamError("at most 100 parameters");
  const seen = new Set<string>();
  return raw.map((d: unknown, i) => {
    if (typeof d !== "object" || d === null || Array.isArray(d))
      throw new ParamError(`params[${i}] must be an object`);
    const r = d as Record<string, unknown>;
    if (typeof r.name !== "string" || !PARAM_NAME_RE.test(r.name))
      throw new ParamError(`params[${i}].name must match ${PARAM_NAME_RE.source}`);
    if (seen.has(r.name)) throw new ParamError(`parameter ${r.name} is defined twice`);
    seen.add(r.name);
    if (!PARAM_TYPES.includes(r.type as ParamType))
      throw new ParamError(`parameter ${r.name}: type must be one of ${PARAM_TYPES.join(", ")}`);
    const def: ParamDef = { name: r.name, type: r.type as ParamType };
    if (r.label !== undefined) {
      if (typeof r.label !== "string" || r.label.length > 200)
        throw new ParamError(`parameter ${r.name}: label must be a string`);
      def.label = r.label;
    }
    if (r.multi !== undefined) {
      if (typeof r.multi !== "boolean")
        throw new ParamError(`parameter ${r.name}: multi must be true or false`);
      def.multi = r.multi;
    }
    if (r.options !== undefined) {
      if (
        !Array.isArray(r.options) ||
        r.options.length > MAX_OPTIONS ||
        !r.options.every((o) => typeof o === "string" && o.length <= 1000)
      )
        throw new ParamError(`parameter ${r.name}: options must be at most ${MAX_OPTIONS} strings`);
      def.options = r.options as string[];
    }
    if (def.type === "list" && !def.options?.length)
      throw new ParamError(`parameter ${r.name}: a list needs options`);
    if (r.default !== undefined && r.default !== null) {
      // The default must be a value the renderer accepts.
      const probe =
        def.type === "daterange" ? `{{ ${def.name}.start }} {{ ${def.name}.end }}` : `{{ ${def.name} }}`;
      renderSql(probe, [def], { [def.name]: r.default });
      def.default = r.default as ParamValue;
    }
    return def;
  });
}
