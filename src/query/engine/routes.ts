// The query engine's own routes (docs/trino.md "Nagare on a Trino cluster"):
//   GET  /api/v1/engine       {kind, label, table?, server?}: which engine answers flow
//                             queries and user SQL (label: what the SQL page shows)
//   POST /api/v1/engine/sql   {sql} → {engine, queryId, columns, rows}: read-only SQL run on
//                             the configured Trino server (the lake table, the Kafka tables …),
//                             the whole result STREAMED: Trino's pages are written to the
//                             response as they arrive (TrinoClient.statement), never held
//                             whole; a failure after the first rows ends the body with
//                             "error" (the status was already 200). For paged answers use
//                             POST /api/v1/sql, which runs on the same engine (App.sqlEngine).
// The SQL page's text goes to Trino as it is (Trino's dialect, its catalogs).
// Only one reading statement passes (SELECT, WITH, SHOW, DESCRIBE, EXPLAIN,
// VALUES, TABLE; ./trino-sql-service.ts readOnlyStatement): Nagare's viewers must not create or drop tables
// with Nagare's Trino user. That is a first line only — the Trino user Nagare
// is configured with should itself be read-only (docs/trino.md).
import { once } from "node:events";
import type { IncomingMessage, ServerResponse } from "node:http";
import { errorAnswer, readJson } from "../../api/query.js";
import { sendJson, type RouteModule } from "../../api/server.js";
import type { Principal } from "../../api/auth.js";
import type { EngineConfig } from "./config.js";
import { TrinoClient, TrinoError, type TrinoColumn } from "./trino-client.js";
import { trinoErrorAnswer } from "./trino.js";
import { engineLabel, readOnlyStatement } from "./trino-sql-service.js";
import { SqlError } from "../sql/index.js";

/** Why `sql` may not run through Nagare on Trino, or null when it may (./trino-sql-service.ts readOnlyStatement). */
export function refuseStatement(sql: string): string | null {
  try {
    readOnlyStatement(sql);
    return null;
  } catch (err) {
    if (err instanceof SqlError) return err.message;
    throw err;
  }
}

export class EngineRoutes implements RouteModule {
  private readonly client: TrinoClient | null;
  constructor(
    private readonly config: EngineConfig,
    /** query.sql.timeoutMs: the most one statement may run, streaming included. */
    private readonly timeoutMs: number,
  ) {
    this.client = config.kind === "trino" ? new TrinoClient({ ...config.trino, timeoutMs }) : null;
  }

  handles(path: string): boolean {
    return path === "/api/v1/engine" || path === "/api/v1/engine/sql";
  }

  /** Close the engine client's kept-alive connections (app stop). */
  close(): void {
    this.client?.close();
  }

  /**
   * Run read-only SQL on the Trino engine and stream the answer into `res`:
   * {"engine","queryId","columns","rows":[…]} with the rows written page by
   * page as Trino sends them (waiting for the client to drain), so memory
   * holds one Trino page whatever the result size. Errors before the first
   * page (syntax, unknown table, authentication, certificate) answer a plain
   * status as before; a failure mid-stream closes the JSON with "error".
   * The time limit is Trino's query_max_execution_time plus a timer here; a
   * client that leaves cancels the query (DELETE nextUri).
   */
  async streamSql(text: string, res: ServerResponse): Promise<void> {
    if (!this.client) return sendJson(res, 409, { error: "query.engine.kind is duckdb: use /api/v1/sql" });
    const why = refuseStatement(text);
    if (why) return sendJson(res, 400, { error: why });
    const st = this.client.statement(text.replace(/;\s*$/, ""), {
      session: { query_max_execution_time: `${Math.max(1, Math.ceil(this.timeoutMs))}ms` },
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      void st.cancel();
    }, this.timeoutMs);
    const left = (): void => {
      if (!res.writableFinished) void st.cancel();
    };
    res.once("close", left);
    const pages = st.pages();
    const failure = (err: unknown): { status: number; body: unknown } => {
      if (timedOut)
        return {
          status: 408,
          body: { error: `trino query timed out after ${this.timeoutMs} ms`, code: "TIMEOUT" },
        };
      if (err instanceof TrinoError) return trinoErrorAnswer(err);
      return { status: 502, body: { error: `trino: ${String(err)}` } };
    };
    try {
      let first: IteratorResult<{ columns: TrinoColumn[]; rows: unknown[][] }>;
      try {
        first = await pages.next();
      } catch (err) {
        const a = failure(err);
        return sendJson(res, a.status, a.body);
      }
      const head = first.done ? { columns: [] as TrinoColumn[], rows: [] as unknown[][] } : first.value;
      res.writeHead(200, { "Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store" });
      let n = 0;
      const write = async (rows: unknown[][]): Promise<boolean> => {
        if (rows.length === 0) return true;
        const chunk = rows.map((r, i) => (n + i > 0 ? "," : "") + JSON.stringify(r)).join("");
        n += rows.length;
        if (res.write(chunk)) return true;
        // Backpressure: wait for the client to read, or for it to leave.
        await Promise.race([once(res, "drain"), once(res, "close")]);
        return !res.destroyed;
      };
      res.write(
        `{"engine":"trino","queryId":${JSON.stringify(st.queryId)},"columns":${JSON.stringify(head.columns)},"rows":[`,
      );
      let error: unknown = null;
      try {
        if (await write(head.rows)) {
          for (let p = await pages.next(); !p.done; p = await pages.next()) {
            if (!(await write(p.value.rows))) break;
          }
        }
      } catch (err) {
        error = err;
      }
      if (res.destroyed) return;
      const tailObj =
        error === null ? "" : `,"error":${JSON.stringify((failure(error).body as { error: string }).error)}`;
      res.end(`]${tailObj}}\n`);
    } finally {
      clearTimeout(timer);
      res.off("close", left);
      await pages.return(undefined).catch(() => undefined);
    }
  }

  async handle(
    _who: Principal,
    method: string,
    url: URL,
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<void> {
    try {
      if (url.pathname === "/api/v1/engine") {
        if (method !== "GET") return sendJson(res, 405, { error: "GET only" });
        const t = this.config.trino;
        return sendJson(
          res,
          200,
          this.config.kind === "trino"
            ? {
                kind: "trino",
                server: t.server,
                table: `${t.catalog}.${t.schema}.${t.table}`,
                // What the SQL page shows: user SQL runs there too (docs/trino.md "The whole UI on Trino").
                label: engineLabel(t),
              }
            : { kind: "duckdb", label: "DuckDB (embedded store)" },
        );
      }
      if (method !== "POST") return sendJson(res, 405, { error: "POST only" });
      const body = await readJson(req);
      if (typeof body.sql !== "string") return sendJson(res, 400, { error: "sql must be a string" });
      await this.streamSql(body.sql, res);
    } catch (err) {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const a = errorAnswer(err);
      sendJson(res, a.status, a.body);
    }
  }
}
