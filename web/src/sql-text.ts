// The SQL text logic of the query editor, free of the DOM so node's test
// runner checks it (test/queries-text.test.ts): tokens for highlighting,
// completion candidates, {{ parameter }} placeholders and their definitions.
// The server's renderer (src/content/params.ts) is the authority on
// parameters; this only has to agree with it on which placeholders exist.
import type { ParamDef, ParamType, ParamValue } from "./types.js";

export const KEYWORDS = [
  "SELECT", "FROM", "WHERE", "GROUP", "BY", "ORDER", "HAVING", "LIMIT", "OFFSET", "AS", "AND", "OR",
  "NOT", "IN", "IS", "NULL", "LIKE", "ILIKE", "BETWEEN", "CASE", "WHEN", "THEN", "ELSE", "END",
  "DISTINCT", "JOIN", "LEFT", "RIGHT", "INNER", "OUTER", "FULL", "CROSS", "ON", "USING", "UNION",
  "ALL", "INTERSECT", "EXCEPT", "WITH", "ASC", "DESC", "NULLS", "FIRST", "LAST", "OVER", "PARTITION",
  "WINDOW", "ROWS", "RANGE", "INTERVAL", "CAST", "TRUE", "FALSE", "EXISTS", "QUALIFY", "FILTER",
  "TIMESTAMP", "DATE", "TIME", "VALUES", "LATERAL", "ANY", "SOME", "EXPLAIN", "DESCRIBE", "SUMMARIZE",
  "PIVOT", "UNPIVOT", "ASOF", "SEMI", "ANTI", "TRY_CAST", "RECURSIVE", "BIGINT", "INTEGER", "DOUBLE",
  "VARCHAR", "BOOLEAN", "HUGEINT", "UBIGINT",
]; // prettier-ignore

/** Used until duckdb_functions() answers, or if the sandbox refuses it. */
export const BASE_FUNCTIONS = [
  "count", "sum", "avg", "min", "max", "median", "quantile_cont", "quantile_disc", "approx_count_distinct",
  "approx_quantile", "arg_max", "arg_min", "any_value", "first", "last", "list", "string_agg", "stddev",
  "histogram", "coalesce", "nullif", "greatest", "least", "round", "floor", "ceil", "abs", "ln", "log10",
  "pow", "sqrt", "date_trunc", "date_part", "time_bucket", "epoch_ms", "epoch", "to_timestamp",
  "make_timestamp", "now", "current_timestamp", "strftime", "strptime", "lower", "upper", "length",
  "concat", "substr", "replace", "regexp_matches", "regexp_extract", "split_part", "starts_with",
  "contains", "lpad", "rpad", "trim", "row_number", "rank", "dense_rank", "lag", "lead", "ntile",
  "percent_rank", "cume_dist", "generate_series", "range", "unnest", "format", "printf", "hash",
]; // prettier-ignore

/** DuckDB's own function names, asked through the read-only SQL sandbox like any query. */
export const FUNCTIONS_SQL =
  "SELECT DISTINCT function_name FROM duckdb_functions() WHERE function_type IN ('scalar', 'aggregate', 'macro', 'table') AND NOT starts_with(function_name, '_') ORDER BY 1";

export interface ColumnInfo {
  name: string;
  type: string;
}

/** What completion needs of the schema (SchemaCache in editor.ts fills it from the API). */
export interface SchemaSnapshot {
  views: string[];
  columns: Map<string, ColumnInfo[]>;
  functions: string[];
}

// ---------------------------------------------------------------------------
// Tokens and highlighting

export type TokenType = "keyword" | "string" | "number" | "comment" | "param" | "ident" | "other";
export interface Token {
  type: TokenType;
  text: string;
}

const KEYWORD_SET = new Set(KEYWORDS);
// Order matters: comments and {{params}} before strings/operators. A string or
// block comment left open runs to the end of the text (it is being typed).
const TOKEN_RE =
  /(--[^\n]*|\/\*[\s\S]*?(?:\*\/|$))|(\{\{[^}]*\}\})|('(?:[^']|'')*'?|"(?:[^"]|"")*"?)|(\b\d+(?:\.\d+)?(?:[eE][+-]?\d+)?\b|\.\d+\b)|([A-Za-z_][A-Za-z0-9_$]*)|(\s+|.)/gy;

/** Splits SQL into highlighting tokens; their texts concatenate back to `sql`. */
export function tokenizeSql(sql: string): Token[] {
  const out: Token[] = [];
  TOKEN_RE.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = TOKEN_RE.exec(sql)) !== null) {
    const [text, comment, param, str, num, word] = m;
    const type: TokenType = comment
      ? "comment"
      : param
        ? "param"
        : str
          ? str.startsWith('"')
            ? "ident"
            : "string"
          : num
            ? "number"
            : word
              ? KEYWORD_SET.has(word.toUpperCase())
                ? "keyword"
                : "ident"
              : "other";
    // Merge runs of plain text to keep the DOM small.
    const last = out[out.length - 1];
    if (last && last.type === type && (type === "other" || type === "ident")) last.text += text;
    else out.push({ type, text });
    if (TOKEN_RE.lastIndex >= sql.length) break;
  }
  return out;
}

// ---------------------------------------------------------------------------
// Completion

export interface Completion {
  text: string;
  kind: "column" | "view" | "keyword" | "function";
  detail?: string;
}

/** The views named after FROM/JOIN in `sql`, with their aliases: alias → view. */
export function referencedViews(sql: string, views: string[]): Map<string, string> {
  const out = new Map<string, string>();
  const re = /\b(?:FROM|JOIN)\s+([A-Za-z_][A-Za-z0-9_]*)(?:\s+(?:AS\s+)?([A-Za-z_][A-Za-z0-9_]*))?/gi;
  for (const m of sql.matchAll(re)) {
    const view = m[1]!;
    if (!views.includes(view)) continue;
    out.set(view, view);
    const alias = m[2];
    if (alias && !KEYWORD_SET.has(alias.toUpperCase())) out.set(alias, view);
  }
  return out;
}

/**
 * What to offer at `cursor`: the word being typed and the candidates, best
 * first (prefix matches before infix ones; after `x.` only the columns of the
 * view or alias x; otherwise columns of the views the query reads, then
 * views, keywords and functions).
 */
export function completionsAt(
  sql: string,
  cursor: number,
  schema: SchemaSnapshot,
): { from: number; word: string; items: Completion[] } {
  const before = sql.slice(0, cursor);
  const wm = /([A-Za-z_][A-Za-z0-9_]*)?$/.exec(before)!;
  const word = wm[1] ?? "";
  const from = cursor - word.length;
  const qual = /([A-Za-z_][A-Za-z0-9_]*)\.$/.exec(before.slice(0, from))?.[1];
  const refs = referencedViews(sql, schema.views);
  let cands: Completion[] = [];
  const cols = (view: string): Completion[] =>
    (schema.columns.get(view) ?? []).map((c) => ({ text: c.name, kind: "column", detail: c.type }));
  if (qual) {
    const view = refs.get(qual) ?? (schema.views.includes(qual) ? qual : undefined);
    // An alias not declared yet ("SELECT f.| " before its FROM): every view's columns.
    cands = view ? cols(view) : schema.views.flatMap(cols);
  } else {
    const readViews = [...new Set(refs.values())];
    // Columns of the views this query reads, else of every view (the first FROM is often typed last).
    for (const v of readViews.length ? readViews : schema.views) cands.push(...cols(v));
    cands.push(...schema.views.map((v): Completion => ({ text: v, kind: "view" })));
    cands.push(...KEYWORDS.map((k): Completion => ({ text: k, kind: "keyword" })));
    cands.push(...schema.functions.map((f): Completion => ({ text: f, kind: "function" })));
  }
  const seen = new Set<string>();
  const lw = word.toLowerCase();
  const pre: Completion[] = [];
  const infix: Completion[] = [];
  for (const c of cands) {
    const key = `${c.kind}:${c.text}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const lt = c.text.toLowerCase();
    if (lt === lw) continue;
    if (lt.startsWith(lw)) pre.push(c);
    else if (lw.length >= 2 && lt.includes(lw)) infix.push(c);
  }
  return { from, word, items: [...pre, ...infix].slice(0, 50) };
}

/** Is `pos` inside a comment or a string (where completion would only get in the way)? */
export function inCommentOrString(sql: string, pos: number): boolean {
  const toks = tokenizeSql(sql.slice(0, pos));
  const last = toks[toks.length - 1];
  if (!last) return false;
  if (last.type === "comment") return !last.text.startsWith("/*") || !/\*\/$/.test(last.text);
  if (last.type === "string") return last.text.length < 2 || !last.text.endsWith("'");
  return false;
}

/** `SELECT count(*)` over a statement: its trailing ; dropped, a newline so a trailing -- comment stays closed. */
export function countSql(sql: string): string {
  return `SELECT count(*) AS n FROM (\n${sql.replace(/[\s;]+$/, "")}\n) AS counted`;
}

// ---------------------------------------------------------------------------
// Parameters

export const PARAM_TYPES: ParamType[] = ["text", "number", "list", "date", "daterange"];

// A placeholder, or what hides one: comments and quoted text. The server
// (src/content/params.ts) leaves placeholders in comments alone and refuses
// them inside quotes, so only bare ones are parameters.
const SCAN_RE =
  /--[^\n]*|\/\*[\s\S]*?(?:\*\/|$)|'(?:[^']|'')*'?|"(?:[^"]|"")*"?|\{\{\s*([A-Za-z_][A-Za-z0-9_]*)(\.(?:start|end))?\s*\}\}/g;

function placeholders(sql: string): { name: string; range: boolean }[] {
  const out: { name: string; range: boolean }[] = [];
  for (const m of sql.matchAll(SCAN_RE)) if (m[1]) out.push({ name: m[1], range: m[2] !== undefined });
  return out;
}

/** The parameter names of `sql` in order of first use: `{{ name }}`, `{{ name.start }}` and `{{ name.end }}` name `name`. */
export function extractParams(sql: string): string[] {
  const out: string[] = [];
  for (const p of placeholders(sql)) if (!out.includes(p.name)) out.push(p.name);
  return out;
}

/**
 * The definitions for the parameters `sql` uses now: existing definitions are
 * kept (in the text's order), names no longer in the text are dropped, and a
 * new name gets the type guessParamType reads from the text around it.
 */
export function syncParamDefs(
  sql: string,
  defs: ParamDef[],
  columnType?: (column: string) => string | undefined,
): ParamDef[] {
  return extractParams(sql).map((name) => {
    const have = defs.find((d) => d.name === name);
    return have ?? newParamDef(name, guessParamType(sql, name, columnType));
  });
}

export function newParamDef(name: string, type: ParamType): ParamDef {
  if (type === "daterange") return { name, type, default: { start: "now-24h", end: "now" } };
  if (type === "date") return { name, type, default: "now-1h" };
  if (type === "number") return { name, type };
  return { name, type, default: "" };
}

const NUMERIC_TYPE = /^(U?(TINY|SMALL|BIG|HUGE)?INT(EGER)?|FLOAT|DOUBLE|REAL|DECIMAL|NUMERIC)/i;
const TIME_TYPE = /^(TIMESTAMP|DATE)/i;

/**
 * A new parameter's type from how the text uses it: `{{ x.start }}` is a date
 * range; `col = {{ x }}` (or <, >=, IN (…), BETWEEN) takes the type of the
 * column when the schema knows it (numbers → number, timestamps → date);
 * after LIMIT / OFFSET a number. Otherwise text. Only a first guess: the
 * definitions editor changes it.
 */
export function guessParamType(
  sql: string,
  name: string,
  columnType?: (column: string) => string | undefined,
): ParamType {
  const uses = placeholders(sql).filter((p) => p.name === name);
  if (uses.some((p) => p.range)) return "daterange";
  const esc = name.replace(/[^A-Za-z0-9_]/g, "");
  const ph = `\\{\\{\\s*${esc}\\s*\\}\\}`;
  if (new RegExp(`\\b(?:LIMIT|OFFSET)\\s+${ph}`, "i").test(sql)) return "number";
  const cmp = new RegExp(
    `([A-Za-z_][A-Za-z0-9_]*)\\s*(?:=|==|<>|!=|<=|>=|<|>|\\s(?:NOT\\s+)?IN\\s*\\(|\\sBETWEEN)\\s*${ph}`,
    "gi",
  );
  for (const m of sql.matchAll(cmp)) {
    const t = columnType?.(m[1]!);
    if (!t) continue;
    if (NUMERIC_TYPE.test(t)) return "number";
    if (TIME_TYPE.test(t)) return "date";
    return "text";
  }
  return "text";
}

/** The value a parameter starts with: its default, else an empty value of its type. */
export function defaultValue(def: ParamDef): ParamValue {
  if (def.default !== undefined) return def.default;
  switch (def.type) {
    case "number":
      return 0;
    case "list":
      return def.multi ? [] : (def.options?.[0] ?? "");
    case "date":
      return "now";
    case "daterange":
      return { start: "now-24h", end: "now" };
    default:
      return "";
  }
}

/** Values for every definition: those given when of the right shape, else the default. */
export function initialValues(
  defs: ParamDef[],
  given: Record<string, ParamValue> = {},
): Record<string, ParamValue> {
  const out: Record<string, ParamValue> = {};
  for (const d of defs) {
    const v = given[d.name];
    const ok = v !== undefined && fits(d, v) ? v : defaultValue(d);
    // A number typed while the parameter was still text becomes a number.
    out[d.name] =
      d.type === "number" && typeof ok === "string" && Number.isFinite(Number(ok)) ? Number(ok) : ok;
  }
  return out;
}

function fits(d: ParamDef, v: ParamValue): boolean {
  if (d.type === "daterange") return typeof v === "object" && !Array.isArray(v);
  if (d.type === "list" && d.multi) return Array.isArray(v);
  if (d.type === "number")
    return typeof v === "number" || (typeof v === "string" && v.trim() !== "" && Number.isFinite(Number(v)));
  return typeof v === "string" || typeof v === "number";
}

/** Parses a default typed in the definitions editor into the value shape of the type. */
export function parseDefault(type: ParamType, text: string, multi = false): ParamValue | undefined {
  const t = text.trim();
  if (type === "daterange") {
    const [start, end] = t.split(/\s*(?:\.\.|,)\s*/);
    return start ? { start, end: end || "now" } : undefined;
  }
  if (t === "") return undefined;
  if (type === "number") return Number.isFinite(Number(t)) ? Number(t) : undefined;
  if (type === "list" && multi) return t.split(/\s*,\s*/).filter(Boolean);
  return t;
}

export function formatDefault(d: ParamDef): string {
  const v = d.default;
  if (v === undefined) return "";
  if (Array.isArray(v)) return v.join(", ");
  if (typeof v === "object") return `${v.start}..${v.end}`;
  return String(v);
}
