// The query engine's own routes (docs/trino.md "Nagare on a Trino cluster"):
//   GET  /api/v1/engine       {kind, label, table?, server?}: which engine answers flow
//                             queries and user SQL (label: what the SQL page shows)
//   POST /api/v1/engine/sql   {sql} → {engine, columns, rows}: read-only SQL run on the
//                             configured Trino server (the lake table, the Kafka tables …)
// The SQL page's text goes to Trino as it is (Trino's dialect, its catalogs).
// Only one reading statement passes (SELECT, WITH, SHOW, DESCRIBE, EXPLAIN,
// VALUES, TABLE; ./trino-sql-service.ts readOnlyStatement): Nagare's viewers must not create or drop tables
// with Nagare's Trino user. That is a first line only — the Trino user Nagare
// is configured with should itself be read-only (docs/trino.md).
import type { IncomingMessage, ServerResponse } from "node:http";
import { errorAnswer, readJson } from "../../api/query.js";
import { sendJson, type RouteModule } from "../../api/server.js";
import type { Principal } from "../../api/auth.js";
import type { EngineConfig } from "./config.js";
import { TrinoClient, TrinoError } from "./trino-client.js";
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
            protocol: t.protocol,
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
      const a = await this.sql(body.sql);
      sendJson(res, a.status, a.body);
    } catch (err) {
      const a = errorAnswer(err);
      sendJson(res, a.status, a.body);
    }
  }
}
