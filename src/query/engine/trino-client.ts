// A Trino/Presto REST client of our own, for the query engine that runs
// Nagare's flow queries on a Trino cluster (./trino.ts, docs/trino.md).
//
// Protocol (https://trino.io/docs/current/develop/client-protocol.html):
//   POST {server}/v1/statement   body = SQL text, headers X-Trino-User, -Catalog, -Schema, -Source
//   → QueryResults {id, nextUri?, columns?, data?, stats.state, error?}
//   GET nextUri until it is absent; columns arrive with (or before) the first
//   data page, data pages are arrays of rows in column order. A failed query
//   answers HTTP 200 with `error` (message, errorName, errorType,
//   errorLocation); HTTP 429/502/503/504 mean "try the same URI again".
//   DELETE nextUri cancels.
// Values in `data` are JSON: booleans, numbers for integer/real types (bigint
// included: JSON numbers beyond 2^53 lose precision, so callers that need
// exact sums ask for DECIMAL, which arrives as a string), strings for
// varchar, decimal, date/time and timestamp types.
import { Buffer } from "node:buffer";

export interface TrinoServerConfig {
  /** Base URL, e.g. http://127.0.0.1:8080 or https://trino.example:8443 */
  server: string;
  user: string;
  /** HTTP Basic password (Trino refuses passwords over plain HTTP); "" = none. */
  password?: string;
  catalog?: string;
  schema?: string;
  /** X-Trino-Source: shows in Trino's UI and query log. */
  source?: string;
  /** Whole-query timeout (ms). */
  timeoutMs?: number;
}

export interface TrinoColumn {
  name: string;
  /** Trino's type signature text, e.g. "bigint", "decimal(38,0)", "varchar". */
  type: string;
}

export interface TrinoResult {
  queryId: string;
  columns: TrinoColumn[];
  rows: unknown[][];
}

/** A query Trino refused or failed (its error object), or a transport failure. */
export class TrinoError extends Error {
  constructor(
    message: string,
    /** Trino's errorName (SYNTAX_ERROR, TABLE_NOT_FOUND …) or "HTTP_<status>" / "UNREACHABLE" / "TIMEOUT". */
    readonly errorName: string,
    readonly queryId?: string,
  ) {
    super(message);
    this.name = "TrinoError";
  }
}

interface QueryResults {
  id: string;
  nextUri?: string;
  columns?: { name: string; type: string }[];
  data?: unknown[][];
  stats?: { state?: string };
  error?: { message?: string; errorName?: string; errorType?: string };
}

const RETRY_STATUS = new Set([429, 502, 503, 504]);

export class TrinoClient {
  constructor(private readonly cfg: TrinoServerConfig) {
    if (!/^https?:\/\//.test(cfg.server))
      throw new Error(`trino server ${JSON.stringify(cfg.server)} is not an http(s) URL`);
  }

  private headers(): Record<string, string> {
    const h: Record<string, string> = {
      "X-Trino-User": this.cfg.user,
      "X-Trino-Source": this.cfg.source ?? "nagare",
      "Content-Type": "text/plain; charset=utf-8",
    };
    if (this.cfg.catalog) h["X-Trino-Catalog"] = this.cfg.catalog;
    if (this.cfg.schema) h["X-Trino-Schema"] = this.cfg.schema;
    if (this.cfg.password) {
      h.Authorization = `Basic ${Buffer.from(`${this.cfg.user}:${this.cfg.password}`).toString("base64")}`;
    }
    return h;
  }

  private async call(
    method: "POST" | "GET" | "DELETE",
    url: string,
    body?: string,
    signal?: AbortSignal,
  ): Promise<QueryResults | null> {
    for (let attempt = 0; ; attempt++) {
      let res: Response;
      try {
        res = await fetch(url, {
          method,
          headers: this.headers(),
          ...(body !== undefined ? { body } : {}),
          ...(signal ? { signal } : {}),
        });
      } catch (err) {
        if (signal?.aborted) throw new TrinoError(`trino query timed out`, "TIMEOUT");
        throw new TrinoError(
          `trino server ${this.cfg.server} unreachable: ${(err as Error).message}`,
          "UNREACHABLE",
        );
      }
      if (method === "DELETE") return null;
      if (RETRY_STATUS.has(res.status) && attempt < 20) {
        // The coordinator is busy or restarting: same URI again after a short wait.
        await res.body?.cancel();
        await new Promise((r) => setTimeout(r, 50 * (attempt + 1)));
        continue;
      }
      const text = await res.text();
      if (res.status !== 200) {
        throw new TrinoError(
          `trino answered HTTP ${res.status}: ${text.slice(0, 300)}`,
          `HTTP_${res.status}`,
        );
      }
      try {
        return JSON.parse(text) as QueryResults;
      } catch {
        throw new TrinoError(`trino answered a body that is not JSON: ${text.slice(0, 200)}`, "BAD_RESPONSE");
      }
    }
  }

  /** Run `sql` and read every page. */
  async query(sql: string): Promise<TrinoResult> {
    const timeoutMs = this.cfg.timeoutMs ?? 60_000;
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), timeoutMs);
    let next: string | undefined;
    try {
      let r = await this.call("POST", `${this.cfg.server.replace(/\/+$/, "")}/v1/statement`, sql, ac.signal);
      let columns: TrinoColumn[] | undefined;
      const rows: unknown[][] = [];
      for (;;) {
        if (!r) throw new TrinoError("trino answered nothing", "BAD_RESPONSE");
        if (r.error) {
          throw new TrinoError(r.error.message ?? "query failed", r.error.errorName ?? "QUERY_FAILED", r.id);
        }
        if (r.columns && !columns) columns = r.columns.map((c) => ({ name: c.name, type: c.type }));
        if (r.data) for (const row of r.data) rows.push(row);
        next = r.nextUri;
        if (!next) return { queryId: r.id, columns: columns ?? [], rows };
        r = await this.call("GET", next, undefined, ac.signal);
      }
    } catch (err) {
      if (ac.signal.aborted && next) {
        // Tell the coordinator to stop the query we gave up on.
        await this.call("DELETE", next).catch(() => undefined);
        throw new TrinoError(`trino query timed out after ${timeoutMs} ms`, "TIMEOUT");
      }
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** A string as a Trino SQL literal. */
export function trinoString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

/** A name as a quoted Trino identifier (catalog, schema, table, column). */
export function trinoIdent(s: string): string {
  return `"${s.replace(/"/g, '""')}"`;
}
