// The query endpoints: POST /api/v1/sql, DELETE /api/v1/sql/:id (cancel),
// GET /api/v1/views[/:name/columns], POST /api/v1/flows/query, GET /api/v1/flows/values. JSON in, JSON out; errors are {error: message}
// with the typed error's HTTP status (src/query/sql/errors.ts).
import type { IncomingMessage, ServerResponse } from "node:http";
import {
  JsonDuckDBValueConverter,
  type DuckDBConnection,
  type DuckDBInstance,
  type DuckDBPreparedStatement,
} from "@duckdb/node-api";
import { FilterError, duckdbParams } from "../query/filter/index.js";
import {
  PlanError,
  fillSeries,
  planFlowQuery,
  type FlowQuery,
  type SeriesFill,
} from "../query/planner/index.js";
import { ROLLUP_STATE_TABLE } from "../store/rollups.js";
import type { SecondTotals } from "../query/seconds.js";
import { planValues, type ValuesQuery } from "../query/planner/values.js";
import { SqlError, SqlTimeoutError, type SqlPage } from "../query/sql/index.js";
import { MACROS } from "../query/sql/macros.js";
import { ensureLiveView } from "../store/live.js";
import type { SqlEngine } from "../query/engine/sql-engine.js";
import { ParamError, renderSql, validateParamDefs } from "../content/params.js";
import type { RetentionConfig } from "../store/config.js";

/** Request bodies larger than this are refused with 413 (a query is text, not data). */
export const MAX_BODY_BYTES = 1024 * 1024;

export interface ApiAnswer {
  status: number;
  body: unknown;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Read the whole body up to `limit` bytes and parse it as a JSON object. */
export async function readJson(
  req: IncomingMessage,
  limit = MAX_BODY_BYTES,
): Promise<Record<string, unknown>> {
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > limit)
    throw new HttpError(413, `body larger than ${limit} bytes`);
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new HttpError(413, `body larger than ${limit} bytes`);
    parts.push(chunk);
  }
  let v: unknown;
  try {
    v = JSON.parse(Buffer.concat(parts).toString("utf8"));
  } catch {
    throw new HttpError(400, "body is not valid JSON");
  }
  if (typeof v !== "object" || v === null || Array.isArray(v))
    throw new HttpError(400, "body must be a JSON object");
  return v as Record<string, unknown>;
}

function optInt(body: Record<string, unknown>, key: string): number | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0)
    throw new HttpError(400, `${key} must be an integer ≥ 0`);
  return v;
}

/** Map any error of the query layer to its HTTP answer. */
export function errorAnswer(err: unknown): ApiAnswer {
  if (err instanceof SqlError) {
    // An engine's extra fields (Trino's error position: line, column, offset; src/query/engine/trino-sql-service.ts).
    const detail = (err as { detail?: Record<string, unknown> }).detail;
    return { status: err.status, body: { error: err.message, code: err.code, ...detail } };
  }
  if (err instanceof HttpError) return { status: err.status, body: { error: err.message } };
  if (err instanceof ParamError) return { status: err.status, body: { error: err.message } };
  if (err instanceof FilterError) {
    return {
      status: 400,
      body: { error: err.message, offset: err.offset, token: err.token, expected: err.expected },
    };
  }
  if (err instanceof PlanError) return { status: 400, body: { error: err.message, code: err.code } };
  throw err;
}

/**
 * Runs planned flow queries. The planner's statements read the store's tables
 * directly and need the nagare_ip macro; this connection gets the same TEMP
 * macros as the SQL service's sandbox connections, on the same locked
 * instance (no file or network access). One query at a time per connection,
 * FLOW_QUERY_CONNECTIONS connections; more run queued.
 */
export class FlowQueryRunner {
  /**
   * A few connections, each running one statement at a time (its own queue):
   * a dashboard's widgets plan and run side by side instead of waiting for
   * each other (with one connection, 8 widgets took the sum of their times).
   */
  private readonly pool: { conn: Promise<DuckDBConnection> | null; queue: Promise<unknown>; load: number }[];

  /** The last watermarks read by SQL, and when (performance.now()); see watermarks(). */
  private wmCache: { at: number; value: Promise<Map<string, number>> } | null = null;

  constructor(
    private readonly db: () => DuckDBInstance,
    private readonly timeoutMs: number,
    private readonly retention?: RetentionConfig,
    poolSize = FLOW_QUERY_CONNECTIONS,
    /**
     * The writer's own closed-until watermarks (StoreWriter.rollupWatermarks,
     * same process): then none is read by SQL. They are set after the
     * COMMIT that closed the buckets, so they never run ahead of the tables.
     */
    private readonly watermarkSource?: () => ReadonlyMap<string, number>,
    /** Per-second totals in memory (src/query/seconds.ts): the unfiltered per-second series without a statement. */
    private readonly seconds?: SecondTotals,
  ) {
    this.pool = Array.from({ length: Math.max(1, poolSize) }, () => ({
      conn: null,
      queue: Promise.resolve(),
      load: 0,
    }));
  }

  /** Run `fn` on the least busy connection, after the statements already queued on it. */
  private onConnection<T>(fn: (conn: DuckDBConnection) => Promise<T>): Promise<T> {
    const slot = this.pool.reduce((a, b) => (b.load < a.load ? b : a));
    slot.conn ??= (async () => {
      const c = await this.db().connect();
      for (const m of MACROS) await c.run(m);
      // The planner reads flows_live (src/store/live.ts); a store opened without a writer gets it over flows_raw.
      await ensureLiveView(c);
      return c;
    })();
    const conn = slot.conn;
    slot.load++;
    const task = slot.queue.then(async () => fn(await conn));
    slot.queue = task
      .catch(() => undefined)
      .finally(() => {
        slot.load--;
      });
    return task;
  }

  async run(q: FlowQuery): Promise<ApiAnswer> {
    const wm = await this.watermarks();
    const plan = planFlowQuery(q, Date.now(), this.retention, wm);
    const head = {
      table: plan.table,
      resolutionMs: plan.resolutionMs,
      startMs: plan.startMs,
      endMs: plan.endMs,
    };
    if (
      this.seconds &&
      plan.fill &&
      plan.table === "flows_1s" &&
      plan.resolutionMs === 1000 &&
      q.dimensions.length === 0 &&
      !q.filter?.trim() &&
      !q.comparePrevious
    ) {
      // Whole window below flows_1s's watermark, no filter: the in-memory totals (src/query/seconds.ts).
      await this.seconds.catchUp(wm.get("flows_1s")).catch(() => undefined);
      const rows = this.seconds.answer(plan.startMs, plan.endMs, q.metric);
      if (rows) {
        const type = q.metric === "bps" || q.metric === "pps" ? "DOUBLE" : "HUGEINT";
        const columns = [
          { name: "time_ms", type: "BIGINT" },
          { name: "value", type },
        ];
        return { status: 200, body: { ...head, columns, rows } };
      }
    }
    const fast = plan.fast;
    if (fast) {
      // The threshold TopN (src/query/planner/topk.ts): an answer only when it is provably exact.
      const first = fast.answer();
      const a = await this.exec(first.sql, first.params, head);
      if (answerRows(a) > 0) return a;
      const m = await this.exec(fast.missing.sql, fast.missing.params, {});
      const rows = (m.body as { rows: unknown[][] }).rows;
      if (rows.length > 0 && rows.length <= fast.maxPairs) {
        const pairs = new Map<number, bigint[]>();
        for (const [day, k] of rows) {
          const d = Number(day);
          const list = pairs.get(d) ?? [];
          list.push(BigInt(String(k)));
          pairs.set(d, list);
        }
        const second = fast.answer(pairs);
        const b = await this.exec(second.sql, second.params, head);
        if (answerRows(b) > 0) return b;
      }
    }
    return this.exec(plan.sql, plan.params, head, plan.fill);
  }

  /**
   * The rollups' closed-until watermarks (src/store/rollups.ts): from the
   * writer when it is in this process, else read by SQL at most once per
   * WATERMARK_TTL_MS. An old watermark is still right: it only moves forward,
   * and the planner reads flows_raw from it on — flows_raw keeps rows days
   * past any watermark — so an answer planned with a watermark a second old
   * is the same, read from more raw rows. Not re-reading saves a statement
   * (and a wait behind the pool's queue) per query.
   */
  async watermarks(): Promise<Map<string, number>> {
    if (this.watermarkSource) return new Map(this.watermarkSource());
    const now = performance.now();
    if (this.wmCache && now - this.wmCache.at < WATERMARK_TTL_MS) return this.wmCache.value;
    const value = this.onConnection(async (conn) => {
      const r = await conn.runAndReadAll(
        `SELECT table_name, epoch_ms(closed_until) FROM ${ROLLUP_STATE_TABLE}`,
      );
      return new Map(r.getRowsJS().map(([t, ms]) => [String(t), Number(ms)]));
    });
    this.wmCache = { at: now, value };
    value.catch(() => {
      if (this.wmCache?.value === value) this.wmCache = null;
    });
    return value;
  }

  /** GET /api/v1/flows/values: the top values of one column (src/query/planner/values.ts). */
  async values(q: ValuesQuery): Promise<ApiAnswer> {
    const plan = planValues(q, Date.now(), this.retention, await this.watermarks());
    return this.exec(plan.sql, plan.params, { table: plan.table, column: q.column });
  }

  private exec(
    sql: string,
    params: unknown[],
    head: Record<string, unknown>,
    fill?: SeriesFill,
  ): Promise<ApiAnswer> {
    return this.onConnection(async (conn) => {
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        conn.interrupt();
      }, this.timeoutMs);
      try {
        const bound = duckdbParams(params);
        const stmt = await prepared(conn, sql);
        stmt.bind(bound.values, bound.types);
        const r = await stmt.run();
        const types = r.columnTypes();
        const columns = r.columnNames().map((name, i) => ({ name, type: String(types[i]) }));
        let rows: unknown[][] = await r.convertRows(JsonDuckDBValueConverter);
        if (fill) {
          // [time_ms, value]: BIGINT and HUGEINT convert to strings, DOUBLE (bps, pps) to numbers.
          const zero = /DOUBLE|FLOAT/.test(columns[1]?.type ?? "") ? 0 : "0";
          rows = fillSeries(
            fill,
            rows,
            (row) => Number(row[0]),
            (t) => [String(t), zero],
          );
        }
        return { status: 200, body: { ...head, columns, rows } };
      } catch (err) {
        if (timedOut) throw new SqlTimeoutError(this.timeoutMs);
        throw err;
      } finally {
        clearTimeout(timer);
      }
    });
  }

  close(): void {
    this.seconds?.close();
    for (const slot of this.pool) {
      const c = slot.conn;
      slot.conn = null;
      void c?.then((conn) => conn.closeSync()).catch(() => undefined);
    }
  }
}

/**
 * Prepared statements kept per connection, by SQL text (the planner's text
 * depends only on the query's shape; values are parameters), least recently
 * used dropped past PREPARED_PER_CONNECTION: a repeated dashboard query
 * skips DuckDB's parse, bind and plan (~1 ms of a 5 ms per-second series).
 * A statement runs on its own connection, one at a time, so a cached one is
 * never bound twice at once.
 */
const PREPARED = new WeakMap<DuckDBConnection, Map<string, DuckDBPreparedStatement>>();
const PREPARED_PER_CONNECTION = 64;

async function prepared(conn: DuckDBConnection, sql: string): Promise<DuckDBPreparedStatement> {
  let m = PREPARED.get(conn);
  if (!m) PREPARED.set(conn, (m = new Map()));
  const hit = m.get(sql);
  if (hit) {
    m.delete(sql);
    m.set(sql, hit);
    return hit;
  }
  const stmt = await conn.prepare(sql);
  m.set(sql, stmt);
  if (m.size > PREPARED_PER_CONNECTION) {
    const [oldest, old] = m.entries().next().value as [string, DuckDBPreparedStatement];
    m.delete(oldest);
    old.destroySync();
  }
  return stmt;
}

function answerRows(a: ApiAnswer): number {
  return (a.body as { rows: unknown[] }).rows.length;
}

/** How long a FlowQueryRunner without a watermark source reuses the watermarks it read. */
export const WATERMARK_TTL_MS = 1000;

/** Connections of a FlowQueryRunner (statements run side by side, each on DuckDB's threads). */
export const FLOW_QUERY_CONNECTIONS = 4;

export interface QueryRoutes {
  /** The engine of user SQL: the DuckDB sandbox (SqlService) or Trino (query.engine.kind trino). */
  sql: SqlEngine;
  flows: FlowQueryRunner;
}

/** A client-chosen query id: short, no characters that need escaping in a URL path. */
const QUERY_ID_RE = /^[A-Za-z0-9_.-]{1,64}$/;
/** Who started each running SQL query (by id): only they, or an admin, may cancel it. */
const queryOwners = new Map<string, string>();

/** The id of a POST /api/v1/sql: body.id, else the X-Query-Id header, else undefined (the service picks one). */
function queryId(body: Record<string, unknown>, req: IncomingMessage): string | undefined {
  const v = body.id ?? req.headers["x-query-id"];
  if (v === undefined) return undefined;
  if (typeof v !== "string" || !QUERY_ID_RE.test(v))
    throw new HttpError(400, "id must be 1-64 characters of A-Z a-z 0-9 _ . -");
  return v;
}

/** The caller of a query route, for cancel rights; undefined = not known (treated as admin, e.g. tests). */
export interface QueryCaller {
  user: string;
  role: string;
}

/** Route a /api/v1 query request; null when the path is not one of ours. */
export async function queryRoute(
  q: QueryRoutes,
  method: string,
  path: string,
  req: IncomingMessage,
  who?: QueryCaller,
): Promise<ApiAnswer | null> {
  try {
    if (path === "/api/v1/sql" && method === "POST") {
      const body = await readJson(req);
      if (typeof body.sql !== "string") throw new HttpError(400, "sql must be a string");
      // Optional {{ name }} parameters, rendered as literals (src/content/params.ts).
      let text = body.sql;
      if (body.params !== undefined || body.paramDefs !== undefined) {
        const values = body.params ?? {};
        if (typeof values !== "object" || values === null || Array.isArray(values))
          throw new HttpError(400, "params must be an object of name → value");
        text = renderSql(text, validateParamDefs(body.paramDefs), values as Record<string, unknown>);
      }
      const id = queryId(body, req);
      if (id !== undefined && queryOwners.has(id))
        throw new HttpError(409, `a query with id ${id} is already running`);
      if (id !== undefined && who) queryOwners.set(id, who.user);
      try {
        const page = await q.sql.query(text, {
          offset: optInt(body, "offset"),
          limit: optInt(body, "limit"),
          id,
          // A shorter time limit than query.sql.timeoutMs (never a longer one: the engine caps it).
          timeoutMs: optInt(body, "timeoutMs"),
        });
        return {
          status: 200,
          body: { id: page.id, columns: page.columns, rows: page.rows, nextOffset: page.nextOffset },
        };
      } finally {
        if (id !== undefined && queryOwners.get(id) === who?.user) queryOwners.delete(id);
      }
    }
    // Cancel a running query: DELETE /api/v1/sql/ID or POST /api/v1/sql/ID/cancel.
    const c = /^\/api\/v1\/sql\/([^/]+)(\/cancel)?$/.exec(path);
    if (c && ((method === "DELETE" && !c[2]) || (method === "POST" && c[2]))) {
      const id = decodeURIComponent(c[1]!);
      const owner = queryOwners.get(id);
      if (who && who.role !== "admin" && owner !== undefined && owner !== who.user)
        return { status: 403, body: { error: `query ${id} was started by another user` } };
      if (!q.sql.cancel(id)) return { status: 404, body: { error: `no running query ${id}` } };
      return { status: 200, body: { id, cancelled: true } };
    }
    if (path === "/api/v1/views" && method === "GET") return { status: 200, body: await q.sql.listViews() };
    const m = /^\/api\/v1\/views\/([A-Za-z0-9_]+)\/columns$/.exec(path);
    if (m && method === "GET") {
      const cols = await q.sql.listColumns(m[1]!);
      return cols ? { status: 200, body: cols } : { status: 404, body: { error: `no view ${m[1]}` } };
    }
    if (path === "/api/v1/flows/query" && method === "POST") {
      const body = await readJson(req);
      return await q.flows.run(body as unknown as FlowQuery);
    }
    if (path === "/api/v1/flows/values" && method === "GET") {
      const u = new URL(req.url ?? "/", "http://x").searchParams;
      const time = (k: string): number | string => {
        const v = u.get(k);
        if (v === null) throw new HttpError(400, `${k} is required`);
        return /^\d+$/.test(v) ? Number(v) : v;
      };
      const limit = u.get("limit");
      return await q.flows.values({
        column: u.get("column") ?? "",
        prefix: u.get("prefix") ?? undefined,
        start: time("start"),
        end: time("end"),
        limit: limit === null ? undefined : Number(limit),
        filter: u.get("filter") ?? undefined,
      });
    }
    return null;
  } catch (err) {
    return errorAnswer(err);
  }
}

function csvCell(v: unknown): string {
  if (v === null || v === undefined) return "";
  const t = typeof v === "object" ? JSON.stringify(v) : String(v as string | number | boolean);
  return /[",\n\r]/.test(t) ? `"${t.replace(/"/g, '""')}"` : t;
}

/**
 * GET /api/v1/sql.csv?q=SQL: the whole result as CSV, streamed page by page
 * (each page is one run of the query with the next offset, so memory stays at
 * one page; add ORDER BY for a stable result). An error before the first byte
 * answers as JSON with its status; after it, the connection is cut, so a
 * truncated download cannot pass for a complete one.
 */
export async function streamCsv(sql: SqlEngine, text: string, res: ServerResponse): Promise<void> {
  return streamDownload(sql, text, res, "csv");
}

/**
 * The whole result of `text` as a download, streamed page by page (each page
 * runs the query again at the next offset, as GET /api/v1/sql.csv does):
 * CSV with a header line, or a JSON array of objects (one per row, keys the
 * column names). Memory stays at one page whatever the size. An error before
 * the first byte answers with its JSON error and status; a later one cuts the
 * connection, so a truncated file cannot pass for a complete one.
 */
export async function streamDownload(
  sql: SqlEngine,
  text: string,
  res: ServerResponse,
  format: "csv" | "json",
): Promise<void> {
  let first = true;
  let names: string[] = [];
  let rowsOut = 0;
  // An engine that reads one run forward (Trino: nextUri) streams it; else pages at growing offsets.
  const blocks = sql.scan ? sql.scan(text) : offsetPages(sql, text);
  for (;;) {
    let page;
    try {
      const r = await blocks.next();
      if (r.done) break;
      page = r.value;
    } catch (err) {
      if (!first) {
        res.destroy();
        return;
      }
      const a = errorAnswer(err);
      const body = JSON.stringify(a.body) + "\n";
      res.writeHead(a.status, {
        "Content-Type": "application/json; charset=utf-8",
        "Cache-Control": "no-store",
      });
      res.end(body);
      return;
    }
    if (first) {
      res.writeHead(200, {
        "Content-Type": format === "csv" ? "text/csv; charset=utf-8" : "application/json; charset=utf-8",
        "Content-Disposition": `attachment; filename="nagare.${format}"`,
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
      });
      names = page.columns.map((c) => c.name);
      res.write(format === "csv" ? names.map(csvCell).join(",") + "\n" : "[");
      first = false;
    }
    let chunk: string;
    if (format === "csv") {
      const lines = page.rows.map((r) => r.map(csvCell).join(",")).join("\n");
      chunk = lines ? lines + "\n" : "";
    } else {
      chunk = page.rows
        .map(
          (r) =>
            (rowsOut++ ? ",\n" : "\n") + JSON.stringify(Object.fromEntries(names.map((n, i) => [n, r[i]]))),
        )
        .join("");
    }
    if (chunk && !res.write(chunk)) {
      await new Promise<void>((resolve) => {
        res.once("drain", resolve);
        res.once("close", resolve);
      });
    }
    if (res.destroyed) {
      await blocks.return(undefined);
      return;
    }
  }
  res.end(format === "json" ? "\n]\n" : undefined);
}

/** A result page by page, each page one run of the query at the next offset. */
async function* offsetPages(sql: SqlEngine, text: string): AsyncGenerator<SqlPage> {
  let offset: number | null = 0;
  while (offset !== null) {
    const page = await sql.query(text, { offset });
    yield page;
    offset = page.nextOffset;
  }
}
