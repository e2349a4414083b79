// User SQL on a Trino/Presto server (query.engine.kind trino; docs/trino.md
// "The whole UI on Trino"): what POST /api/v1/sql, the views of the editor's
// schema browser, the CSV/JSON downloads, saved queries, dashboards' SQL
// widgets and SQL alerts run on, in place of the embedded DuckDB sandbox
// (src/query/sql/service.ts). Same contract (./sql-engine.ts), same errors
// (src/query/sql/errors.ts), so none of those callers knows which engine
// answered.
//
// Guarantees, and where they come from:
// - Read-only, on our side: one statement, whose first keyword is SELECT,
//   WITH, SHOW, DESCRIBE, EXPLAIN (of one of those), VALUES or TABLE; anything
//   else is refused (403) before Trino sees it. A first line only: the Trino
//   user Nagare connects as should itself be read-only (docs/trino.md).
// - Time limit, twice: Trino's session property query_max_execution_time
//   (the coordinator kills the query even if Nagare is gone) and a client
//   timer that aborts the request in flight and DELETEs nextUri.
// - Cancel (DELETE /api/v1/sql/ID) does the same DELETE.
// - Paging: a page reads the result forward to offset + limit + 1 rows, then
//   DELETEs the query (Trino stops producing); a next page runs the statement
//   again, as the DuckDB sandbox does (use ORDER BY for stable pages). A
//   download (scan) reads one run forward page by page, never holding more
//   than one Trino page.
// - Values as the DuckDB sandbox's JSON conversion gives them
//   (JsonDuckDBValueConverter): 64-bit integers and decimals as strings,
//   smaller integers and doubles as numbers, timestamps in DuckDB's text
//   ("2024-05-01 10:00:00.12"), rows as objects, maps as [{key, value}];
//   column types named as DuckDB names them (bigint → BIGINT, timestamp(3) →
//   TIMESTAMP_MS …), so the grid, the charts' numeric/time axes and the
//   completion treat both engines alike.
import { randomUUID } from "node:crypto";
import type { Json } from "@duckdb/node-api";
import {
  SqlCancelledError,
  SqlError,
  SqlInvalidError,
  SqlRefusedError,
  SqlTimeoutError,
  type SqlColumn,
  type SqlConfig,
  type SqlPage,
  type SqlQueryOptions,
} from "../sql/index.js";
import type { TrinoEngineSection } from "./config.js";
import type { EngineInfo, SqlBlock, SqlEngine } from "./sql-engine.js";
import {
  TrinoClient,
  TrinoError,
  trinoIdent,
  type TrinoColumn,
  type TrinoStatement,
} from "./trino-client.js";

// ---------------------------------------------------------------- read-only check

const READ_FIRST = ["SELECT", "WITH", "SHOW", "DESCRIBE", "EXPLAIN", "VALUES", "TABLE"];

/**
 * `sql` with comments replaced by spaces and string literals and quoted
 * identifiers by "#", all of the same length: keywords and semicolons inside
 * them do not count, and offsets still point into the original text.
 */
function blanked(sql: string): string {
  return sql.replace(/'(?:[^']|'')*'?|"(?:[^"]|"")*"?|--[^\n]*|\/\*[\s\S]*?(?:\*\/|$)/g, (m) =>
    m.replace(/[^\n]/g, m.startsWith("-") || m.startsWith("/") ? " " : "#"),
  );
}

/** The first keyword at `from` in blanked text, after whitespace and "(". */
function keywordAt(b: string, from = 0): { word: string; end: number } {
  const m = /^[\s(]*([A-Za-z_]+)/.exec(b.slice(from));
  return m ? { word: m[1]!.toUpperCase(), end: from + m[0].length } : { word: "", end: from };
}

/**
 * The text to send to Trino for `sql` (a trailing ";" removed: Trino's REST
 * API takes one statement without it), or SqlRefusedError / SqlInvalidError.
 *
 *   statement = [comments] read [";"]
 *   read      = SELECT … | WITH … | SHOW … | DESCRIBE … | VALUES … | TABLE …
 *             | EXPLAIN [ANALYZE] [VERBOSE] ["(" options ")"] read
 *
 * EXPLAIN is followed into its statement: EXPLAIN ANALYZE runs it.
 */
export function readOnlyStatement(sql: string): string {
  const b = blanked(sql);
  const end = /;?\s*$/.exec(b)!.index;
  const body = b.slice(0, end);
  const statements = body.split(";").filter((s) => s.trim() !== "").length;
  if (body.includes(";"))
    throw new SqlRefusedError(`${statements} statements: only one statement may be run at a time`);
  let k = keywordAt(body);
  if (k.word === "") throw new SqlInvalidError("nothing to run: no SQL statement");
  while (k.word === "EXPLAIN") {
    let at = k.end;
    for (;;) {
      const opt = /^\s*(ANALYZE|VERBOSE)\b/i.exec(body.slice(at));
      if (!opt) break;
      at += opt[0].length;
    }
    const paren = /^\s*\([^)]*\)/.exec(body.slice(at));
    if (paren) at += paren[0].length;
    k = keywordAt(body, at);
    if (k.word === "") throw new SqlInvalidError("EXPLAIN of nothing");
  }
  if (!READ_FIRST.includes(k.word))
    throw new SqlRefusedError(
      `${k.word} statement refused: only reading statements (${READ_FIRST.join(", ")}) run on the Trino engine`,
    );
  return sql.slice(0, end);
}

// ---------------------------------------------------------------- types and values

interface TypeArg {
  /** A row field's name. */
  name?: string;
  type?: TrinoType;
  /** A numeric argument: decimal(p,s), varchar(n), timestamp(p). */
  n?: number;
}

export interface TrinoType {
  /** Lower case: "bigint", "decimal", "timestamp", "array", "row" … */
  base: string;
  args: TypeArg[];
  /** After the arguments: "with time zone". */
  suffix: string;
}

/** Split at commas outside parentheses and double quotes. */
function splitTop(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '"') quoted = !quoted;
    else if (quoted) continue;
    else if (c === "(") depth++;
    else if (c === ")") depth--;
    else if (c === "," && depth === 0) {
      out.push(s.slice(start, i));
      start = i + 1;
    }
  }
  out.push(s.slice(start));
  return out.map((x) => x.trim()).filter((x) => x !== "");
}

/**
 * Parse a Trino type as the protocol writes it: "bigint", "decimal(38,0)",
 * "timestamp(3) with time zone", "array(varchar)", "map(varchar, bigint)",
 * "row(a bigint, \"b c\" varchar)".
 */
export function parseTrinoType(text: string): TrinoType {
  const s = text.trim();
  const open = s.indexOf("(");
  if (open < 0) return { base: s.toLowerCase(), args: [], suffix: "" };
  let depth = 0;
  let close = s.length;
  for (let i = open; i < s.length; i++) {
    if (s[i] === "(") depth++;
    else if (s[i] === ")" && --depth === 0) {
      close = i;
      break;
    }
  }
  const base = s.slice(0, open).trim().toLowerCase();
  const suffix = s
    .slice(close + 1)
    .trim()
    .toLowerCase();
  const args = splitTop(s.slice(open + 1, close)).map((a): TypeArg => {
    if (/^-?\d+$/.test(a)) return { n: Number(a) };
    if (base === "row") {
      const q = /^"((?:[^"]|"")*)"\s+(.+)$/s.exec(a);
      if (q) return { name: q[1]!.replace(/""/g, '"'), type: parseTrinoType(q[2]!) };
      const w = /^([A-Za-z_][\w]*)\s+(\S.*)$/s.exec(a);
      if (w) return { name: w[1], type: parseTrinoType(w[2]!) };
    }
    return { type: parseTrinoType(a) };
  });
  return { base, args, suffix };
}

/** The name DuckDB gives the same type, as the UI and API clients know them from the DuckDB engine. */
export function duckTypeName(t: TrinoType): string {
  const n0 = t.args[0]?.n;
  const tz = t.suffix.includes("time zone");
  switch (t.base) {
    case "boolean":
      return "BOOLEAN";
    case "tinyint":
      return "TINYINT";
    case "smallint":
      return "SMALLINT";
    case "integer":
    case "int":
      return "INTEGER";
    case "bigint":
      return "BIGINT";
    case "real":
      return "FLOAT";
    case "double":
      return "DOUBLE";
    case "decimal":
      return `DECIMAL(${n0 ?? 38},${t.args[1]?.n ?? 0})`;
    case "varchar":
    case "char":
      return "VARCHAR";
    case "varbinary":
      return "BLOB";
    case "date":
      return "DATE";
    case "time":
      return tz ? "TIME WITH TIME ZONE" : "TIME";
    case "timestamp":
      if (tz) return "TIMESTAMP WITH TIME ZONE";
      return n0 === 0 ? "TIMESTAMP_S" : n0 === 3 ? "TIMESTAMP_MS" : n0 === 9 ? "TIMESTAMP_NS" : "TIMESTAMP";
    case "uuid":
      return "UUID";
    case "json":
      return "JSON";
    case "unknown":
      return '"NULL"';
    case "array":
      return `${duckTypeName(t.args[0]?.type ?? parseTrinoType("unknown"))}[]`;
    case "map":
      return `MAP(${t.args.map((a) => duckTypeName(a.type ?? parseTrinoType("unknown"))).join(", ")})`;
    case "row":
      return `STRUCT(${t.args
        .map(
          (a, i) =>
            `${trinoIdent(a.name ?? `field${i}`)} ${duckTypeName(a.type ?? parseTrinoType("unknown"))}`,
        )
        .join(", ")})`;
    default:
      // ipaddress, interval day to second, hyperloglog …: Trino's own name.
      return (t.base + (t.args.length ? `(${t.args.map((a) => a.n ?? "").join(",")})` : "")).toUpperCase();
  }
}

type Conv = (v: unknown) => Json;

/** "2024-05-01 10:00:00.120 UTC" → "2024-05-01 10:00:00.12+00" (DuckDB's text: no trailing zeros). */
function duckTime(v: unknown): Json {
  const s = String(v);
  const m = /^(.*\d\d:\d\d:\d\d)(?:\.(\d*?)0*)?( UTC)?$/.exec(s);
  if (!m) return s;
  return `${m[1]}${m[2] ? `.${m[2]}` : ""}${m[3] ? "+00" : ""}`;
}

/** Trino's JSON value of type `t` → what JsonDuckDBValueConverter gives for DuckDB's twin type. */
export function converter(t: TrinoType): Conv {
  const nul =
    (f: (v: unknown) => Json): Conv =>
    (v) =>
      v === null || v === undefined ? null : f(v);
  switch (t.base) {
    case "boolean":
      return nul((v) => Boolean(v));
    case "tinyint":
    case "smallint":
    case "integer":
    case "int":
      return nul((v) => Number(v));
    case "real":
    case "double":
      // Non-finite values arrive as "NaN" / "Infinity", as DuckDB's converter writes them too.
      return nul((v) => (typeof v === "number" ? v : String(v)));
    case "time":
    case "timestamp":
      return nul(duckTime);
    case "array": {
      const e = converter(t.args[0]?.type ?? parseTrinoType("unknown"));
      return nul((v) => (Array.isArray(v) ? v.map(e) : String(v)));
    }
    case "map": {
      const k = converter(t.args[0]?.type ?? parseTrinoType("varchar"));
      const val = converter(t.args[1]?.type ?? parseTrinoType("unknown"));
      return nul((v) =>
        typeof v === "object"
          ? Object.entries(v as Record<string, unknown>).map(([a, b]) => ({ key: k(a), value: val(b) }))
          : String(v),
      );
    }
    case "row": {
      const fields = t.args.map((a, i) => ({
        name: a.name ?? `field${i}`,
        conv: converter(a.type ?? parseTrinoType("unknown")),
      }));
      return nul((v) =>
        Array.isArray(v) ? Object.fromEntries(fields.map((f, i) => [f.name, f.conv(v[i])])) : String(v),
      );
    }
    case "unknown":
      return () => null;
    default:
      // bigint, decimal, varchar, date, uuid, varbinary (base64) …: text, exact.
      return nul((v) => (typeof v === "object" ? (v as Json) : String(v as string | number)));
  }
}

interface Mapped {
  columns: SqlColumn[];
  convert: (row: unknown[]) => Json[];
}

function mapColumns(cols: TrinoColumn[]): Mapped {
  const types = cols.map((c) => parseTrinoType(c.type));
  const convs = types.map(converter);
  return {
    columns: cols.map((c, i) => ({ name: c.name, type: duckTypeName(types[i]!) })),
    convert: (row) => convs.map((f, i) => f(row[i])),
  };
}

// ---------------------------------------------------------------- errors

/** A Trino error with its position: the API answers line, column and offset too. */
export class EngineSqlError extends SqlError {
  constructor(
    code: "invalid" | "refused" | "unavailable",
    status: number,
    message: string,
    /** Extra fields of the API's error body: {line, column, offset, trinoError}. */
    readonly detail: Record<string, unknown>,
  ) {
    super(code, status, message);
    this.name = "EngineSqlError";
  }
}

/** 1-based line and column → offset into `sql`. */
function offsetOf(sql: string, line: number, column: number): number {
  const lines = sql.split("\n");
  let off = 0;
  for (let i = 0; i < line - 1 && i < lines.length; i++) off += lines[i]!.length + 1;
  return Math.min(sql.length, off + Math.max(0, column - 1));
}

/** A Trino failure as the SQL service's typed error. */
export function sqlErrorOf(err: TrinoError, sql: string): SqlError {
  const detail: Record<string, unknown> = { trinoError: err.errorName };
  if (err.queryId) detail.queryId = err.queryId;
  let message = `trino: ${err.message}`;
  const loc = err.location;
  if (loc) {
    detail.line = loc.lineNumber;
    detail.column = loc.columnNumber;
    detail.offset = offsetOf(sql, loc.lineNumber, loc.columnNumber);
    // Trino's messages mostly start with "line L:C: "; say it when this one does not.
    if (!/^line \d+:\d+/.test(err.message))
      message = `trino: line ${loc.lineNumber}:${loc.columnNumber}: ${err.message}`;
  }
  const name = err.errorName;
  if (name === "UNREACHABLE" || name === "BAD_RESPONSE" || name === "CERTIFICATE" || name.startsWith("HTTP_"))
    return new EngineSqlError("unavailable", 502, message, detail);
  if (name === "PERMISSION_DENIED" || name === "ACCESS_DENIED")
    return new EngineSqlError("refused", 403, message, detail);
  if (err.errorType === "INTERNAL_ERROR" || err.errorType === "EXTERNAL")
    return new EngineSqlError("unavailable", 502, message, detail);
  return new EngineSqlError("invalid", 400, message, detail);
}

// ---------------------------------------------------------------- the service

export interface TrinoSqlServiceOptions {
  trino: TrinoEngineSection;
  /** query.sql: timeoutMs (time limit) and maxRows (largest page) apply as on DuckDB. */
  sql: Pick<SqlConfig, "timeoutMs" | "maxRows">;
}

interface Running {
  st: TrinoStatement;
  cancelled: boolean;
  timedOut: boolean;
}

/** How long the list of tables is reused (the schema browser asks on every page load). */
const VIEWS_TTL_MS = 30_000;

/** A time limit as a Trino Duration. */
function trinoDuration(ms: number): string {
  return `${Math.max(1, Math.ceil(ms))}ms`;
}

/** "Trino http://host:8080 (hive.nagare)": where user SQL runs, for the SQL page. */
export function engineLabel(t: TrinoEngineSection): string {
  const product = (t as { protocol?: string }).protocol === "presto" ? "Presto" : "Trino";
  return `${product} ${t.server} (${t.catalog}.${t.schema})`;
}

export class TrinoSqlService implements SqlEngine {
  readonly client: TrinoClient;
  readonly info: EngineInfo;
  private readonly running = new Map<string, Running>();
  private views: { at: number; value: Promise<string[]> } | null = null;

  constructor(private readonly opts: TrinoSqlServiceOptions) {
    const t = opts.trino;
    // The section's server, user, password, catalog, schema, protocol and ca are the client's options.
    this.client = new TrinoClient({ ...t, timeoutMs: opts.sql.timeoutMs });
    this.info = { kind: "trino", label: engineLabel(t) };
  }

  /** Ids of the queries running now. */
  runningIds(): string[] {
    return [...this.running.keys()];
  }

  cancel(id: string): boolean {
    const r = this.running.get(id);
    if (!r) return false;
    r.cancelled = true;
    void r.st.cancel();
    return true;
  }

  /** Cancel every running query (app stop). */
  stop(): Promise<void> {
    for (const id of [...this.running.keys()]) this.cancel(id);
    this.client.close();
    return Promise.resolve();
  }

  /**
   * Start `text` (already checked) under `id` with the time limit: the
   * session property for Trino and a timer here. `done` must be called.
   */
  private begin(
    text: string,
    id: string,
    timeoutMs: number,
  ): { run: Running; fail: (err: unknown) => SqlError; done: () => void } {
    const st = this.client.statement(text, {
      session: { query_max_execution_time: trinoDuration(timeoutMs) },
    });
    const run: Running = { st, cancelled: false, timedOut: false };
    this.running.set(id, run);
    const timer = setTimeout(() => {
      run.timedOut = true;
      void st.cancel();
    }, timeoutMs);
    const fail = (err: unknown): SqlError => {
      if (run.cancelled) return new SqlCancelledError(id);
      if (run.timedOut) return new SqlTimeoutError(timeoutMs);
      if (err instanceof TrinoError) {
        if (err.errorName === "EXCEEDED_TIME_LIMIT") {
          const e = new SqlTimeoutError(timeoutMs);
          e.message += ` (trino: ${err.message})`;
          return e;
        }
        if (err.errorName === "USER_CANCELED") return new SqlCancelledError(id);
        return sqlErrorOf(err, text);
      }
      if (err instanceof SqlError) return err;
      return new EngineSqlError("unavailable", 502, `trino: ${String(err)}`, {});
    };
    const done = (): void => {
      clearTimeout(timer);
      if (this.running.get(id) === run) this.running.delete(id);
    };
    return { run, fail, done };
  }

  async query(sql: string, opts: SqlQueryOptions = {}): Promise<SqlPage> {
    const id = opts.id ?? randomUUID();
    if (this.running.has(id)) throw new SqlInvalidError(`a query with id ${id} is already running`);
    const offset = opts.offset ?? 0;
    if (!Number.isInteger(offset) || offset < 0) throw new SqlInvalidError("offset must be an integer ≥ 0");
    const max = this.opts.sql.maxRows;
    const limit = Math.min(opts.limit ?? max, max);
    if (!Number.isInteger(limit) || limit < 1) throw new SqlInvalidError("limit must be an integer ≥ 1");
    const timeoutMs = Math.min(opts.timeoutMs ?? this.opts.sql.timeoutMs, this.opts.sql.timeoutMs);
    const text = readOnlyStatement(sql);
    const { run, fail, done } = this.begin(text, id, timeoutMs);
    try {
      let mapped: Mapped | null = null;
      const rows: Json[][] = [];
      let skip = offset;
      let more = false;
      // Leaving the loop early (one row past the page) DELETEs the query: Trino stops producing.
      for await (const p of run.st.pages()) {
        mapped ??= mapColumns(p.columns);
        for (const row of p.rows) {
          if (skip > 0) {
            skip--;
            continue;
          }
          if (rows.length === limit) {
            more = true;
            break;
          }
          rows.push(mapped.convert(row));
        }
        if (more || run.cancelled || run.timedOut) break;
      }
      if (run.cancelled || run.timedOut) throw new Error("stopped");
      return {
        id,
        columns: mapped?.columns ?? [],
        rows,
        offset,
        nextOffset: more ? offset + rows.length : null,
      };
    } catch (err) {
      throw fail(err);
    } finally {
      done();
    }
  }

  /** The whole result of one run, one Trino page at a time (downloads). */
  async *scan(sql: string): AsyncGenerator<SqlBlock> {
    const text = readOnlyStatement(sql);
    const timeoutMs = this.opts.sql.timeoutMs;
    const { run, fail, done } = this.begin(text, `scan-${randomUUID()}`, timeoutMs);
    try {
      let mapped: Mapped | null = null;
      for await (const p of run.st.pages()) {
        mapped ??= mapColumns(p.columns);
        if (run.cancelled || run.timedOut) break;
        yield { columns: mapped.columns, rows: p.rows.map(mapped.convert) };
      }
      if (run.cancelled || run.timedOut) throw new Error("stopped");
    } catch (err) {
      throw fail(err);
    } finally {
      done();
    }
  }

  /** Run a metadata statement of ours (SHOW TABLES, DESCRIBE) to its end. */
  private async all(text: string): Promise<Json[][]> {
    const rows: Json[][] = [];
    for await (const b of this.scan(text)) rows.push(...b.rows);
    return rows;
  }

  /** The tables of the configured catalog.schema (SHOW TABLES on the engine), sorted. */
  listViews(): Promise<string[]> {
    const now = Date.now();
    if (this.views && now - this.views.at < VIEWS_TTL_MS) return this.views.value;
    const value = this.all("SHOW TABLES").then((rows) => rows.map((r) => String(r[0])).sort());
    this.views = { at: now, value };
    value.catch(() => {
      if (this.views?.value === value) this.views = null;
    });
    return value;
  }

  /** A table's columns from DESCRIBE, types named as DuckDB names them; null for a table SHOW TABLES does not list. */
  async listColumns(view: string): Promise<SqlColumn[] | null> {
    if (!(await this.listViews()).includes(view)) return null;
    const rows = await this.all(`DESCRIBE ${trinoIdent(view)}`);
    return rows.map((r) => ({ name: String(r[0]), type: duckTypeName(parseTrinoType(String(r[1]))) }));
  }
}
