// The query engine's own routes (docs/trino.md "Nagare on a Trino cluster"):
//   GET  /api/v1/engine       {kind, table?, server?}: which engine answers flow queries
//   POST /api/v1/engine/sql   {sql} → {engine, columns, rows}: read-only SQL run on the
//                             configured Trino server (the lake table, the Kafka tables …)
// The SQL page's text goes to Trino as it is (Trino's dialect, its catalogs).
// Only reading statements pass (first keyword SELECT, WITH, SHOW, DESCRIBE,
// EXPLAIN, VALUES, TABLE): Nagare's viewers must not create or drop tables
// with Nagare's Trino user. That is a first line only — the Trino user Nagare
// is configured with should itself be read-only (docs/trino.md).
import type { IncomingMessage, ServerResponse } from "node:http";
import { errorAnswer, readJson } from "../../api/query.js";
import { sendJson, type RouteModule } from "../../api/server.js";
import type { Principal } from "../../api/auth.js";
import type { EngineConfig } from "./config.js";
import { TrinoClient, TrinoError } from "./trino-client.js";
import { trinoErrorAnswer } from "./trino.js";

const READ_FIRST = new Set(["select", "with", "show", "describe", "explain", "values", "table"]);

/** The first keyword of a statement, after comments and parentheses; "" if none. */
export function firstKeyword(sql: string): string {
  const s = sql.replace(/^(?:\s+|--[^\n]*(?:\n|$)|\/\*[\s\S]*?\*\/|\()*/, "");
  return /^[A-Za-z]+/.exec(s)?.[0]?.toLowerCase() ?? "";
}

/** Why `sql` may not run through Nagare on Trino, or null when it may. */
export function refuseStatement(sql: string): string | null {
  const k = firstKeyword(sql);
  if (!READ_FIRST.has(k))
    return `only reading statements run on the Trino engine (got ${k ? k.toUpperCase() : "nothing"})`;
  if (/;\s*\S/.test(sql.replace(/'(?:[^']|'')*'/g, "''"))) return "one statement at a time";
  return null;
}

export class EngineRoutes implements RouteModule {
  private readonly client: TrinoClient | null;
  constructor(
    private readonly config: EngineConfig,
    timeoutMs: number,
  ) {
    const t = config.trino;
    this.client =
      config.kind === "trino"
        ? new TrinoClient({
            server: t.server,
            user: t.user,
            password: t.password,
            catalog: t.catalog,
            schema: t.schema,
            timeoutMs,
          })
        : null;
  }

  handles(path: string): boolean {
    return path === "/api/v1/engine" || path === "/api/v1/engine/sql";
  }

  /** Run read-only SQL on the Trino engine. */
  async sql(text: string): Promise<{ status: number; body: unknown }> {
    if (!this.client) return { status: 409, body: { error: "query.engine.kind is duckdb: use /api/v1/sql" } };
    const why = refuseStatement(text);
    if (why) return { status: 400, body: { error: why } };
    try {
      const r = await this.client.query(text.replace(/;\s*$/, ""));
      return { status: 200, body: { engine: "trino", queryId: r.queryId, columns: r.columns, rows: r.rows } };
    } catch (err) {
      if (err instanceof TrinoError) return trinoErrorAnswer(err);
      throw err;
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
            ? { kind: "trino", server: t.server, table: `${t.catalog}.${t.schema}.${t.table}` }
            : { kind: "duckdb" },
        );
      }
      if (method !== "POST") return sendJson(res, 405, { error: "POST only" });
      const body = await readJson(req);
      if (typeof body.sql !== "string") return sendJson(res, 400, { error: "sql must be a string" });
      const a = await this.sql(body.sql);
      sendJson(res, a.status, a.body);
    } catch (err) {
      const a = errorAnswer(err);
      sendJson(res, a.status, a.body);
    }
  }
}
