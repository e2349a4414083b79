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
import { readFileSync } from "node:fs";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";

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
  /**
   * Header family: "trino" (X-Trino-*, Trino 351+) or "presto" (X-Presto-*,
   * PrestoSQL ≤ 350 and PrestoDB, which ignore X-Trino-User and refuse the query).
   */
  protocol?: "trino" | "presto";
  /**
   * PEM file of the CA(s) to trust for an https:// server (a private CA, or
   * the server's self-signed certificate itself) instead of Node's bundled
   * public CAs; "" = those. Read when the client is made.
   */
  ca?: string;
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
    /** Where in the statement Trino found the error (1-based), when it says. */
    readonly location?: { lineNumber: number; columnNumber: number },
    /** Trino's errorType: USER_ERROR, INTERNAL_ERROR, INSUFFICIENT_RESOURCES, EXTERNAL. */
    readonly errorType?: string,
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
  error?: {
    message?: string;
    errorName?: string;
    errorType?: string;
    errorLocation?: { lineNumber: number; columnNumber: number };
  };
}

/** The TrinoError of a QueryResults that carries an error object. */
function failure(queryId: string, e: NonNullable<QueryResults["error"]>): TrinoError {
  return new TrinoError(
    e.message ?? "query failed",
    e.errorName ?? "QUERY_FAILED",
    queryId,
    e.errorLocation,
    e.errorType,
  );
}

/**
 * JSON.parse of a QueryResults body with 64-bit integers kept exact: Trino
 * writes bigint values as JSON numbers, which JSON.parse would round past
 * 2^53 (a byte counter of 9007199254740993 would come back as …992). Integer
 * literals of 16 or more digits outside strings are quoted first (strings
 * are matched whole, so a digit run inside one is never touched); callers
 * already read bigint values with String()/Number().
 */
export function parseExact(text: string): unknown {
  return JSON.parse(
    text.replace(/"(?:[^"\\]|\\.)*"|(?<![\d.eE+-])-?\d{16,}(?![\d.eE])/g, (m) =>
      m.startsWith('"') ? m : `"${m}"`,
    ),
  );
}

const RETRY_STATUS = new Set([429, 502, 503, 504]);

/** Node's certificate verification failures (X509_V_ERR_* names as node reports them). */
const CERT_CODES =
  /^(?:ERR_TLS_|ERR_SSL_|SELF_SIGNED_CERT|DEPTH_ZERO_SELF_SIGNED_CERT|UNABLE_TO_|CERT_|HOSTNAME_MISMATCH)/;

/** The first error of a cause chain with a TLS code (fetch wraps it: TypeError "fetch failed" → cause). */
function tlsCause(err: unknown): { message: string; code: string } | null {
  for (let e = err, depth = 0; typeof e === "object" && e !== null && depth < 5; depth++) {
    const x = e as { message?: unknown; code?: unknown; cause?: unknown };
    if (typeof x.code === "string" && CERT_CODES.test(x.code))
      return { message: String(x.message), code: x.code };
    e = x.cause;
  }
  return null;
}

/** An answer read whole (QueryResults pages are small: one page of rows). */
interface Answer {
  status: number;
  text: string;
}

/**
 * One request with node:https and our own CA: Node 20's fetch takes no CA
 * option (its `dispatcher` needs undici's Agent, which is not a dependency),
 * so a server with a private CA is asked through https.request with an Agent
 * holding the CA (kept alive: the nextUri requests reuse the connection).
 */
function requestWithCa(
  agent: HttpsAgent,
  url: string,
  method: string,
  headers: Record<string, string>,
  body: string | undefined,
  signal: AbortSignal | undefined,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { method, headers, agent, ...(signal ? { signal } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }),
      );
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}

export class TrinoClient {
  /** With cfg.ca: the https Agent trusting it (requestWithCa); null = fetch with Node's CAs. */
  private readonly agent: HttpsAgent | null = null;

  constructor(private readonly cfg: TrinoServerConfig) {
    if (!/^https?:\/\//.test(cfg.server))
      throw new Error(`trino server ${JSON.stringify(cfg.server)} is not an http(s) URL`);
    if (cfg.ca && cfg.server.startsWith("https://"))
      this.agent = new HttpsAgent({ ca: readFileSync(cfg.ca), keepAlive: true, maxSockets: 16 });
  }

  /** Close the kept-alive connections (requestWithCa's Agent). */
  close(): void {
    this.agent?.destroy();
  }

  /** One HTTP exchange, the answer read whole. */
  private async send(
    method: string,
    url: string,
    headers: Record<string, string>,
    body: string | undefined,
    signal: AbortSignal | undefined,
  ): Promise<Answer> {
    if (this.agent) return requestWithCa(this.agent, url, method, headers, body, signal);
    const res = await fetch(url, {
      method,
      headers,
      ...(body !== undefined ? { body } : {}),
      ...(signal ? { signal } : {}),
    });
    return { status: res.status, text: await res.text() };
  }

  private headers(): Record<string, string> {
    const x = this.cfg.protocol === "presto" ? "X-Presto" : "X-Trino";
    const h: Record<string, string> = {
      [`${x}-User`]: this.cfg.user,
      [`${x}-Source`]: this.cfg.source ?? "nagare",
      "Content-Type": "text/plain; charset=utf-8",
    };
    if (this.cfg.catalog) h[`${x}-Catalog`] = this.cfg.catalog;
    if (this.cfg.schema) h[`${x}-Schema`] = this.cfg.schema;
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
    /** Further request headers (X-Trino-Session …). */
    extra?: Record<string, string>,
  ): Promise<QueryResults | null> {
    for (let attempt = 0; ; attempt++) {
      let res: Answer;
      try {
        res = await this.send(
          method,
          url,
          extra ? { ...this.headers(), ...extra } : this.headers(),
          body,
          signal,
        );
      } catch (err) {
        if (signal?.aborted) throw new TrinoError(`trino query timed out`, "TIMEOUT");
        const tls = tlsCause(err);
        if (tls)
          // A wrong or missing CA shows as such, not as "fetch failed".
          throw new TrinoError(
            `trino server ${this.cfg.server}: TLS certificate not accepted: ${tls.message} [${tls.code}]; ` +
              `check query.engine.trino.ca (the PEM file of the CA that signed the server's certificate)`,
            "CERTIFICATE",
          );
        throw new TrinoError(
          `trino server ${this.cfg.server} unreachable: ${(err as Error).message}`,
          "UNREACHABLE",
        );
      }
      if (method === "DELETE") return null;
      if (RETRY_STATUS.has(res.status) && attempt < 20) {
        // The coordinator is busy or restarting: same URI again after a short wait.
        await new Promise((r) => setTimeout(r, 50 * (attempt + 1)));
        continue;
      }
      const text = res.text;
      if (res.status === 401 || res.status === 403) {
        // Our credentials, not the user's SQL: say which keys to check.
        throw new TrinoError(
          `trino server ${this.cfg.server} refused authentication as user ${JSON.stringify(this.cfg.user)} ` +
            `(HTTP ${res.status}${this.cfg.password ? "" : ", no password sent"}): ${text.trim().slice(0, 200)}; ` +
            `check query.engine.trino.user / query.engine.trino.password`,
          `HTTP_${res.status}`,
        );
      }
      if (res.status !== 200) {
        throw new TrinoError(
          `trino answered HTTP ${res.status}: ${text.slice(0, 300)}`,
          `HTTP_${res.status}`,
        );
      }
      try {
        return parseExact(text) as QueryResults;
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
        if (r.error) throw failure(r.id, r.error);
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

  /**
   * Start `sql` and read it forward page by page (nextUri), without holding
   * the result: the SQL page's paging and the streamed downloads
   * (./trino-sql-service.ts). Leaving the loop over pages() early (break,
   * throw) or cancel() sends DELETE nextUri, so Trino stops the query instead
   * of keeping its result for a client that left. No time limit of its own:
   * the caller sets one (session property and a timer calling cancel()).
   */
  statement(sql: string, opts: TrinoStatementOptions = {}): TrinoStatement {
    const ac = new AbortController();
    const family = this.cfg.protocol === "presto" ? "X-Presto" : "X-Trino";
    const session = Object.entries(opts.session ?? {});
    const extra = session.length
      ? { [`${family}-Session`]: session.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join(",") }
      : undefined;
    const url = `${this.cfg.server.replace(/\/+$/, "")}/v1/statement`;
    let next: string | undefined;
    let queryId = "";
    let stopping: Promise<void> | null = null;
    const cancel = (): Promise<void> =>
      (stopping ??= (async () => {
        ac.abort();
        const uri = next;
        next = undefined;
        if (uri) await this.call("DELETE", uri).catch(() => undefined);
      })());
    const call = this.call.bind(this);
    async function* pages(): AsyncGenerator<{ columns: TrinoColumn[]; rows: unknown[][] }> {
      let columns: TrinoColumn[] | undefined;
      let yielded = false;
      try {
        let r = await call("POST", url, sql, ac.signal, extra);
        for (;;) {
          if (!r) throw new TrinoError("trino answered nothing", "BAD_RESPONSE");
          queryId = r.id;
          if (r.error) {
            next = undefined;
            throw failure(r.id, r.error);
          }
          if (r.columns && !columns) columns = r.columns.map((c) => ({ name: c.name, type: c.type }));
          next = r.nextUri;
          if (r.data?.length) {
            yielded = true;
            yield { columns: columns ?? [], rows: r.data };
          }
          if (!next) break;
          r = await call("GET", next, undefined, ac.signal);
        }
        // An empty result still has its columns.
        if (!yielded) yield { columns: columns ?? [], rows: [] };
      } finally {
        if (next) await cancel();
      }
    }
    return {
      get queryId() {
        return queryId;
      },
      pages,
      cancel,
    };
  }
}

export interface TrinoStatementOptions {
  /** Session properties for X-Trino-Session, e.g. {query_max_execution_time: "30s"}. */
  session?: Record<string, string>;
}

/** One statement started with TrinoClient.statement(). */
export interface TrinoStatement {
  /** Trino's query id ("" before the first answer). */
  readonly queryId: string;
  /** The data pages in order, each with the columns; one empty page for an empty result. Call once. */
  pages(): AsyncGenerator<{ columns: TrinoColumn[]; rows: unknown[][] }>;
  /** Abort the request in flight and DELETE nextUri. Idempotent. */
  cancel(): Promise<void>;
}

/** A string as a Trino SQL literal. */
export function trinoString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

/** A name as a quoted Trino identifier (catalog, schema, table, column). */
export function trinoIdent(s: string): string {
  return `"${s.replace(/"/g, '""')}"`;
}
