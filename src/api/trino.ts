// Trino/Presto client REST protocol over Nagare's SQL sandbox, so the Trino
// CLI, JDBC (DBeaver), re:dash's Presto and Trino data sources and the Python
// clients (trino, PyHive) read Nagare as if it were a Trino coordinator with
// one catalog "nagare" and one schema "default" (docs/trino.md).
//
// Protocol (https://trino.io/docs/current/develop/client-protocol.html):
//   POST   /v1/statement                      body = statement text → QueryResults
//   GET    /v1/statement/executing/ID/SLUG/N   the next page (N = page token; N-1 is resent on retry)
//   DELETE /v1/statement/executing/ID/SLUG/N   cancel
//   GET    /v1/info                           server version (open, as on Trino)
//   QueryResults = {id, infoUri, nextUri?, columns?, data?, stats: {state …}, error?, warnings,
//                   updateType?} — nextUri absent = the query is over.
//   Request headers X-Trino-* or X-Presto-* (answered in the family the client used):
//   User, Catalog, Schema, Session, Prepared-Statement (name=urlencoded sql, …),
//   Transaction-Id; response headers Set-Session, Clear-Session, Set-Catalog,
//   Set-Schema, Added-Prepare, Deallocated-Prepare, Started-Transaction-Id,
//   Clear-Transaction-Id.
//
// Results are read from a DuckDB cursor page by page (SqlService.open): the
// whole result is never held; a query not read on within idleTimeoutMs is
// closed. Every statement runs in the SQL sandbox (read-only, time and memory
// limits); its errors become Trino error objects (HTTP 200, state FAILED)
// with DuckDB's message and, for syntax errors, the line and column.
//
// Authentication: HTTP Basic with a Nagare user (UserStore) or "Bearer <API
// token>"; over TLS (clients send passwords only over HTTPS), with a
// self-signed certificate generated into <dataDir>/trino-tls when none is
// configured. Every role may query (reading is what a viewer does).
import { execFileSync } from "node:child_process";
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { join } from "node:path";
import type { DuckDBType, DuckDBValue } from "@duckdb/node-api";
import { formatListen, parseListen, type ListenAddress } from "../config/address.js";
import { silentLogger, type Logger } from "../log.js";
import { SqlError, type SqlCursor, type SqlService } from "../query/sql/index.js";
import { LoginLimiter, type Role, type UserStore } from "./auth.js";
import { checkBearer } from "./token.js";
import type { TrinoConfig } from "./trino-config.js";
import {
  CATALOG,
  SCHEMA,
  TrinoSqlError,
  infoTableSql,
  parseStatement,
  rewriteSql,
  type Param,
  type Statement,
  type ViewColumns,
} from "./trino-sql.js";
import { encodeRow, trinoColumns, trinoType, type TrinoColumn } from "./trino-types.js";

export interface TrinoServerOptions {
  config: TrinoConfig;
  sql: SqlService;
  users: UserStore;
  /** The API bearer token (read per request: it is known only at start). */
  token: () => string;
  /** Where a generated certificate is kept (<dataDir>/trino-tls). */
  dataDir: string;
  version?: string;
  log?: Logger;
}

/** A page ends after this much row JSON even below pageRows (Trino targets ~1 MB pages too). */
const PAGE_BYTES = 1024 * 1024;
/** Statement text larger than this is refused. */
const MAX_STATEMENT_BYTES = 1024 * 1024;
/** A verified Basic credential is trusted this long (scrypt per page would cost more than the page). */
const CREDENTIAL_CACHE_MS = 60_000;

interface Who {
  user: string;
  role: Role | "anonymous";
}

interface TrinoError {
  message: string;
  errorCode: number;
  errorName: string;
  errorType: "USER_ERROR" | "INTERNAL_ERROR" | "INSUFFICIENT_RESOURCES" | "EXTERNAL";
  errorLocation?: { lineNumber: number; columnNumber: number };
  failureInfo: { type: string; message: string; suppressed: never[]; stack: never[] };
}

interface Query {
  id: string;
  slug: string;
  /** Token of the next page to produce. */
  token: number;
  owner: string;
  cursor: SqlCursor;
  columns: TrinoColumn[];
  types: DuckDBType[];
  /** The last response text (token - 1), resent when a client retries it. */
  last: string;
  rows: number;
  started: number;
  busy: boolean;
  /** The cursor is closed; the entry stays until idle fires so a retried last page is answered. */
  closed: boolean;
  idle: NodeJS.Timeout | undefined;
}

type Family = "Trino" | "Presto";

/** Trino's standard error codes for what Nagare can fail with. */
const CODES: Record<string, [number, TrinoError["errorType"]]> = {
  GENERIC_USER_ERROR: [0, "USER_ERROR"],
  SYNTAX_ERROR: [1, "USER_ERROR"],
  USER_CANCELED: [3, "USER_ERROR"],
  PERMISSION_DENIED: [4, "USER_ERROR"],
  NOT_FOUND: [5, "USER_ERROR"],
  NOT_SUPPORTED: [13, "USER_ERROR"],
  TABLE_NOT_FOUND: [46, "USER_ERROR"],
  COLUMN_NOT_FOUND: [47, "USER_ERROR"],
  GENERIC_INTERNAL_ERROR: [65536, "INTERNAL_ERROR"],
  QUERY_QUEUE_FULL: [131074, "INSUFFICIENT_RESOURCES"],
  EXCEEDED_TIME_LIMIT: [131075, "INSUFFICIENT_RESOURCES"],
};

function trinoError(name: string, message: string, location?: TrinoError["errorLocation"]): TrinoError {
  const [errorCode, errorType] = CODES[name] ?? CODES.GENERIC_USER_ERROR!;
  return {
    message,
    errorCode,
    errorName: name,
    errorType,
    ...(location ? { errorLocation: location } : {}),
    failureInfo: { type: "io.nagare.SqlError", message, suppressed: [], stack: [] },
  };
}

/**
 * Where DuckDB points in the text: its message ends with "LINE n: <text>" and
 * a caret line under it; the shown text may be a window of the line.
 */
export function errorLocation(message: string, sql: string): TrinoError["errorLocation"] | undefined {
  const m = /\nLINE (\d+): (.*)\n(\s*)\^/.exec(message);
  if (!m) return undefined;
  const lineNumber = Number(m[1]);
  const shown = m[2]!;
  const caret = m[3]!.length - `LINE ${m[1]}: `.length;
  const line = sql.split("\n")[lineNumber - 1];
  if (line === undefined || caret < 0) return undefined;
  const window = shown.replace(/^\.\.\./, "").replace(/\.\.\.$/, "");
  const lead = shown.startsWith("...") ? 3 : 0;
  const at = line.indexOf(window);
  if (at < 0) return undefined;
  return { lineNumber, columnNumber: at + (caret - lead) + 1 };
}

/** A SqlError (or a statement Nagare does not serve) as a Trino error. */
export function toTrinoError(err: unknown, sql: string): TrinoError {
  if (err instanceof TrinoSqlError) return trinoError(err.errorName, err.message);
  if (err instanceof SqlError) {
    const msg = err.message.replace(/^Failed to extract statements: /, "");
    const first = msg.split("\n\nLINE ")[0]!.trim();
    switch (err.code) {
      case "invalid": {
        const name = /^Parser Error/.test(msg)
          ? "SYNTAX_ERROR"
          : /^Catalog Error: Table/.test(msg)
            ? "TABLE_NOT_FOUND"
            : /^Binder Error: Referenced column/.test(msg)
              ? "COLUMN_NOT_FOUND"
              : "GENERIC_USER_ERROR";
        return trinoError(name, first, errorLocation(msg, sql));
      }
      case "refused":
        return trinoError("PERMISSION_DENIED", first);
      case "timeout":
        return trinoError("EXCEEDED_TIME_LIMIT", first);
      case "cancelled":
        return trinoError("USER_CANCELED", first);
      default:
        return trinoError("GENERIC_INTERNAL_ERROR", first);
    }
  }
  return trinoError("GENERIC_INTERNAL_ERROR", err instanceof Error ? err.message : String(err));
}

/** X-Trino-Prepared-Statement: "name=urlencoded-sql,name2=…" (form encoding: '+' is a space). */
export function parsePreparedHeader(values: string[]): Map<string, string> {
  const out = new Map<string, string>();
  const dec = (s: string): string => decodeURIComponent(s.replace(/\+/g, " "));
  for (const v of values)
    for (const part of v.split(",")) {
      const eq = part.indexOf("=");
      if (eq <= 0) continue;
      try {
        out.set(dec(part.slice(0, eq).trim()).toLowerCase(), dec(part.slice(eq + 1).trim()));
      } catch {
        // A malformed entry is skipped; EXECUTE of it then says it is not prepared.
      }
    }
  return out;
}

/** Form encoding as Trino's own server uses in its response headers. */
function enc(s: string): string {
  return encodeURIComponent(s).replace(/%20/g, "+");
}

export class TrinoServer {
  readonly config: TrinoConfig;
  private readonly opts: TrinoServerOptions;
  private readonly log: Logger;
  private readonly queries = new Map<string, Query>();
  private readonly limiter = new LoginLimiter();
  private readonly verified = new Map<string, { user: string; role: Role; until: number }>();
  private servers: Server[] = [];
  private viewColumns: Promise<ViewColumns[]> | null = null;
  /** "host:port" of the HTTPS listener (real port when 0 was asked); "" before start. */
  address = "";
  port = 0;
  /** Of the plain-HTTP listener, when configured. */
  httpAddress = "";
  httpPort = 0;
  /** The certificate served (PEM file path). */
  certPath = "";

  constructor(opts: TrinoServerOptions) {
    this.opts = opts;
    this.config = opts.config;
    this.log = opts.log ?? silentLogger;
  }

  async start(): Promise<void> {
    const { cert, key } = this.tlsFiles();
    const tls = createHttpsServer({ cert: readFileSync(cert), key: readFileSync(key) }, (req, res) =>
      this.handle(req, res, true),
    );
    const a = await this.listen(tls, this.config.listen, "https");
    this.address = a.address;
    this.port = a.port;
    if (this.config.httpListen) {
      const plain = createHttpServer((req, res) => this.handle(req, res, false));
      const b = await this.listen(plain, this.config.httpListen, "http");
      this.httpAddress = b.address;
      this.httpPort = b.port;
    }
  }

  async stop(): Promise<void> {
    for (const q of [...this.queries.values()]) await this.drop(q);
    const servers = this.servers;
    this.servers = [];
    for (const s of servers) {
      s.closeAllConnections();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    }
  }

  /** Queries open now (for tests and metrics). */
  get openQueries(): number {
    let n = 0;
    for (const q of this.queries.values()) if (!q.closed) n++;
    return n;
  }

  private async listen(
    server: Server,
    text: string,
    what: string,
  ): Promise<{ address: string; port: number }> {
    const at = parseListen(text) as ListenAddress;
    server.headersTimeout = 10_000;
    server.requestTimeout = 120_000;
    server.keepAliveTimeout = 5_000;
    await new Promise<void>((resolve, reject) => {
      server.once("error", (err: NodeJS.ErrnoException) =>
        reject(
          new Error(`trino: cannot listen on ${what} ${text}: ${err.code ?? err.message}`, { cause: err }),
        ),
      );
      server.listen(at.port, at.host, () => resolve());
    });
    server.on("error", (err) => this.log.error("trino server error", { error: err.message }));
    this.servers.push(server);
    const a = server.address();
    return a && typeof a === "object"
      ? { address: formatListen(a.address, a.port), port: a.port }
      : { address: text, port: at.port };
  }

  /** The configured PEM pair, or a self-signed one made once with openssl in <dataDir>/trino-tls. */
  private tlsFiles(): { cert: string; key: string } {
    if (this.config.tlsCert) {
      this.certPath = this.config.tlsCert;
      return { cert: this.config.tlsCert, key: this.config.tlsKey };
    }
    const dir = join(this.opts.dataDir, "trino-tls");
    const cert = join(dir, "cert.pem");
    const key = join(dir, "key.pem");
    this.certPath = cert;
    if (existsSync(cert) && existsSync(key)) return { cert, key };
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    try {
      execFileSync(
        "openssl",
        [
          "req",
          "-x509",
          "-newkey",
          "ec",
          "-pkeyopt",
          "ec_paramgen_curve:prime256v1",
          "-nodes",
          "-days",
          "3650",
          "-subj",
          "/CN=nagare",
          "-addext",
          "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1",
          "-keyout",
          key,
          "-out",
          cert,
        ],
        { stdio: ["ignore", "ignore", "pipe"], timeout: 30_000 },
      );
    } catch (err) {
      throw new Error(
        `trino: no trino.tlsCert/tlsKey configured and generating a self-signed pair with openssl failed: ${String(err)}`,
        { cause: err },
      );
    }
    this.log.info("trino: generated a self-signed TLS certificate", { cert });
    return { cert, key };
  }

  private handle(req: IncomingMessage, res: ServerResponse, secure: boolean): void {
    this.route(req, res, secure).catch((err: unknown) => {
      this.log.limited("trino-handler", "error", "trino handler failed", { error: String(err) });
      if (!res.headersSent) this.sendText(res, 500, "internal error\n");
      else res.destroy();
    });
  }

  private async route(req: IncomingMessage, res: ServerResponse, secure: boolean): Promise<void> {
    const url = new URL(req.url ?? "/", "http://x");
    const path = url.pathname;
    const method = req.method ?? "GET";
    if (path === "/v1/info" && method === "GET") {
      return this.sendJsonText(
        res,
        200,
        JSON.stringify({
          nodeVersion: { version: this.opts.version ?? "nagare" },
          environment: "nagare",
          coordinator: true,
          starting: false,
          uptime: "0.00s",
        }),
        "Trino",
      );
    }
    const isStatement = path === "/v1/statement";
    const next = /^\/v1\/statement\/executing\/([^/]+)\/([^/]+)\/(\d+)$/.exec(path);
    if (!isStatement && !next) return this.sendText(res, 404, "not found\n");
    const family: Family = Object.keys(req.headers).some((h) => h.startsWith("x-presto-"))
      ? "Presto"
      : "Trino";
    const who = await this.authenticate(req, res, secure, family);
    if (!who) return;
    if (isStatement) {
      if (method !== "POST") {
        res.setHeader("Allow", "POST");
        return this.sendText(res, 405, "method not allowed\n");
      }
      return this.statement(
        req,
        res,
        who,
        family,
        `${secure ? "https" : "http"}://${req.headers.host ?? this.address}`,
      );
    }
    const [, id, slug, tokenText] = next!;
    const q = this.queries.get(id!);
    if (!q || q.slug !== slug || q.owner !== who.user) return this.sendText(res, 404, "query not found\n");
    if (method === "DELETE") {
      await this.drop(q);
      res.writeHead(204).end();
      return;
    }
    if (method !== "GET") {
      res.setHeader("Allow", "GET, DELETE");
      return this.sendText(res, 405, "method not allowed\n");
    }
    const token = Number(tokenText);
    if (token === q.token - 1) return this.sendJsonText(res, 200, q.last, family);
    if (token !== q.token || q.closed) return this.sendText(res, 410, "page token is gone\n");
    if (q.busy) {
      res.setHeader("Retry-After", "1");
      return this.sendText(res, 503, "page in progress\n");
    }
    const base = `${secure ? "https" : "http"}://${req.headers.host ?? this.address}`;
    return this.sendJsonText(res, 200, await this.page(q, base), family);
  }

  /** Who sent the request; writes 401/429 and returns null when unknown. */
  private async authenticate(
    req: IncomingMessage,
    res: ServerResponse,
    secure: boolean,
    family: Family,
  ): Promise<Who | null> {
    const h = req.headers.authorization;
    const headerUser = this.header(req, "user")[0] ?? "";
    if (h && checkBearer(h, this.opts.token())) return { user: "api-token", role: "admin" };
    const m = h ? /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(h) : null;
    if (m) {
      const addr = req.socket.remoteAddress ?? "?";
      const key = createHash("sha256").update(m[1]!).digest("hex");
      const cached = this.verified.get(key);
      if (cached && cached.until > Date.now()) return { user: cached.user, role: cached.role };
      if (this.limiter.blocked(addr)) {
        this.sendText(res, 429, "too many failed sign-ins; wait a minute\n");
        return null;
      }
      const text = Buffer.from(m[1]!, "base64").toString("utf8");
      const colon = text.indexOf(":");
      const u = colon > 0 ? await this.opts.users.verify(text.slice(0, colon), text.slice(colon + 1)) : null;
      if (u) {
        this.limiter.ok(addr);
        if (this.verified.size > 1000) this.verified.clear();
        this.verified.set(key, { user: u.name, role: u.role, until: Date.now() + CREDENTIAL_CACHE_MS });
        return { user: u.name, role: u.role };
      }
      this.limiter.fail(addr);
    } else if (!h && !secure && this.config.httpAnonymous) {
      return { user: headerUser || "anonymous", role: "anonymous" };
    }
    res.setHeader("WWW-Authenticate", ['Basic realm="nagare"', 'Bearer realm="nagare"']);
    this.sendText(
      res,
      401,
      `${family} endpoint of Nagare: wrong or missing credentials (a Nagare user and password, or Bearer <API token>)\n`,
    );
    return null;
  }

  /** Values of X-Trino-<name> or X-Presto-<name> (both families are read). */
  private header(req: IncomingMessage, name: string): string[] {
    const out: string[] = [];
    for (const f of ["trino", "presto"]) {
      const v = req.headers[`x-${f}-${name}`];
      if (typeof v === "string") out.push(v);
      else if (Array.isArray(v)) out.push(...v);
    }
    return out;
  }

  private async statement(
    req: IncomingMessage,
    res: ServerResponse,
    who: Who,
    family: Family,
    base: string,
  ): Promise<void> {
    const parts: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_STATEMENT_BYTES) return this.sendText(res, 413, "statement text too large\n");
      parts.push(chunk);
    }
    const text = Buffer.concat(parts).toString("utf8");
    const id = `${new Date().toISOString().slice(0, 10).replace(/-/g, "")}_nagare_${randomBytes(6).toString("hex")}`;
    const head = { id, infoUri: `${base}/ui/query.html?${id}` };
    const started = Date.now();
    const fail = (err: unknown, sql: string): void => {
      if (!(err instanceof SqlError) && !(err instanceof TrinoSqlError))
        this.log.limited("trino-query", "error", "trino query failed", { error: String(err) });
      const body = {
        ...head,
        stats: stats("FAILED", started, 0),
        error: toTrinoError(err, sql),
        warnings: [],
      };
      this.sendJsonText(res, 200, JSON.stringify(body), family);
    };
    let st: Statement;
    try {
      st = parseStatement(text, this.opts.sql.listViews());
    } catch (err) {
      return fail(err, text);
    }
    const pre = (name: string, value: string): void => {
      res.setHeader(`X-${family}-${name}`, value);
    };
    const finished = (updateType: string): void =>
      this.sendJsonText(
        res,
        200,
        // As Trino answers its data-definition statements: one boolean column "result" = true
        // (the JDBC driver's prepareStatement() insists on columns).
        JSON.stringify({
          ...head,
          columns: [
            { name: "result", type: "boolean", typeSignature: { rawType: "boolean", arguments: [] } },
          ],
          data: [[true]],
          stats: stats("FINISHED", started, 1),
          warnings: [],
          updateType,
        }),
        family,
      );
    let sql: string;
    let params: Param[] = [];
    switch (st.kind) {
      // Nagare is read-only: a transaction changes nothing, so it is acknowledged and forgotten.
      case "startTransaction":
        pre("Started-Transaction-Id", randomUUID());
        return finished("START TRANSACTION");
      case "commit":
        pre("Clear-Transaction-Id", "true");
        return finished("COMMIT");
      case "rollback":
        pre("Clear-Transaction-Id", "true");
        return finished("ROLLBACK");
      case "setSession":
        pre("Set-Session", `${st.name}=${enc(st.value)}`);
        return finished("SET SESSION");
      case "resetSession":
        pre("Clear-Session", st.name);
        return finished("RESET SESSION");
      case "use":
        if (
          (st.catalog ?? CATALOG) !== CATALOG ||
          (st.schema !== SCHEMA && st.schema !== "information_schema")
        )
          return fail(
            new TrinoSqlError(`Schema '${st.catalog ?? CATALOG}.${st.schema}' does not exist`, "NOT_FOUND"),
            text,
          );
        pre("Set-Catalog", CATALOG);
        pre("Set-Schema", st.schema);
        return finished("USE");
      case "prepare":
        // Kept by the client and sent back in X-Trino-Prepared-Statement.
        pre("Added-Prepare", `${enc(st.name)}=${enc(st.sql)}`);
        return finished("PREPARE");
      case "deallocate":
        pre("Deallocated-Prepare", enc(st.name));
        return finished("DEALLOCATE");
      case "execute": {
        const prepared = parsePreparedHeader(this.header(req, "prepared-statement")).get(st.name);
        if (prepared === undefined)
          return fail(new TrinoSqlError(`Prepared statement not found: ${st.name}`, "NOT_FOUND"), text);
        sql = prepared;
        params = st.params;
        break;
      }
      case "executeImmediate":
        sql = st.sql;
        params = st.params;
        break;
      case "query":
        sql = st.sql;
        break;
    }
    if (this.openQueries >= this.config.maxQueries)
      return fail(
        new TrinoSqlError(
          `too many open queries (trino.maxQueries = ${this.config.maxQueries})`,
          "NOT_SUPPORTED",
        ),
        sql,
      );
    let cursor: SqlCursor;
    // A client that leaves before its first page (its own time limit, a cancel
    // before it knew nextUri) cannot DELETE the query: stop it here.
    const runId = `trino-${id}`;
    const gone = (): void => void this.opts.sql.cancel(runId);
    res.once("close", gone);
    try {
      // A prepared statement may itself be SHOW/DESCRIBE (a client's PREPARE of whatever it was given).
      const inner = st.kind === "query" ? st : parseStatement(sql, this.opts.sql.listViews());
      if (inner.kind !== "query")
        throw new TrinoSqlError(`cannot EXECUTE a ${inner.kind} statement`, "NOT_SUPPORTED");
      sql = await this.rewrite(inner.sql);
      cursor = await this.opts.sql.open(sql, {
        params: params.map((p) => p.value),
        paramTypes: params.map((p) => p.type),
        id: runId,
      });
    } catch (err) {
      res.off("close", gone);
      return fail(err, sql);
    }
    const q: Query = {
      id,
      slug: randomBytes(12).toString("hex"),
      token: 0,
      owner: who.user,
      cursor,
      columns: trinoColumns(
        cursor.columns.map((c) => c.name),
        cursor.types,
      ),
      types: cursor.types,
      last: "",
      rows: 0,
      started,
      busy: false,
      closed: false,
      idle: undefined,
    };
    this.queries.set(id, q);
    const first = await this.page(q, base);
    res.off("close", gone);
    this.sendJsonText(res, 200, first, family);
  }

  /** The next page of q as response text; closes q after its last page or an error. */
  private async page(q: Query, base: string): Promise<string> {
    q.busy = true;
    clearTimeout(q.idle);
    const head = { id: q.id, infoUri: `${base}/ui/query.html?${q.id}` };
    try {
      const rows: string[] = [];
      let bytes = 0;
      while (rows.length < this.config.pageRows && bytes < PAGE_BYTES && !q.cursor.done) {
        const got: DuckDBValue[][] = await q.cursor.next(Math.min(1024, this.config.pageRows - rows.length));
        for (const r of got) {
          const t = encodeRow(q.types, r);
          bytes += t.length + 1;
          rows.push(t);
        }
      }
      q.rows += rows.length;
      const more = !q.cursor.done;
      q.token++;
      const body: Record<string, unknown> = {
        ...head,
        ...(more ? { nextUri: `${base}/v1/statement/executing/${q.id}/${q.slug}/${q.token}` } : {}),
        columns: q.columns,
        stats: stats(more ? "RUNNING" : "FINISHED", q.started, q.rows),
        warnings: [],
      };
      const json = JSON.stringify(body);
      const text = rows.length ? `${json.slice(0, -1)},"data":[${rows.join(",")}]}` : json;
      q.last = text;
      if (!more) await this.finish(q);
      q.idle = setTimeout(() => void this.drop(q), this.config.idleTimeoutMs);
      return text;
    } catch (err) {
      await this.drop(q);
      return JSON.stringify({
        ...head,
        stats: stats("FAILED", q.started, q.rows),
        error: toTrinoError(err, ""),
        warnings: [],
      });
    } finally {
      q.busy = false;
    }
  }

  /** Close q's cursor (its connection goes back to the pool); the entry stays for a retried last page. */
  private async finish(q: Query): Promise<void> {
    q.closed = true;
    await q.cursor.close();
  }

  private async drop(q: Query): Promise<void> {
    clearTimeout(q.idle);
    this.queries.delete(q.id);
    await this.finish(q);
  }

  /** Trino names (information_schema, nagare.default.v) → the sandbox's SQL. */
  private async rewrite(sql: string): Promise<string> {
    const views = this.opts.sql.listViews();
    if (!/information_schema|system\s*\.\s*jdbc/i.test(sql)) return rewriteSql(sql, views, () => "");
    const cols = await this.describeViews();
    return rewriteSql(sql, views, (t) => infoTableSql(t, cols));
  }

  /** Columns and Trino types of every view, read once (LIMIT 0 through the sandbox). */
  private describeViews(): Promise<ViewColumns[]> {
    this.viewColumns ??= (async () => {
      const out: ViewColumns[] = [];
      for (const view of this.opts.sql.listViews()) {
        const c = await this.opts.sql.open(`SELECT * FROM ${view} LIMIT 0`);
        try {
          out.push({
            view,
            columns: c.columns.map((col, i) => ({ name: col.name, type: trinoType(c.types[i]!).name })),
          });
        } finally {
          await c.close();
        }
      }
      return out;
    })().catch((err: unknown) => {
      this.viewColumns = null;
      throw err;
    });
    return this.viewColumns;
  }

  private sendJsonText(res: ServerResponse, status: number, text: string, _family: Family): void {
    if (res.writableEnded) return;
    res.writeHead(status, {
      "Content-Type": "application/json; charset=utf-8",
      "Content-Length": Buffer.byteLength(text),
      "Cache-Control": "no-store",
      "X-Content-Type-Options": "nosniff",
    });
    res.end(text);
  }

  private sendText(res: ServerResponse, status: number, text: string): void {
    if (res.writableEnded) return;
    res.writeHead(status, {
      "Content-Type": "text/plain; charset=utf-8",
      "Content-Length": Buffer.byteLength(text),
      "Cache-Control": "no-store",
    });
    res.end(text);
  }
}

/** Trino's StatementStats (clients read state; the counters are what Nagare knows). */
function stats(
  state: "RUNNING" | "FINISHED" | "FAILED",
  started: number,
  rows: number,
): Record<string, unknown> {
  const elapsed = Date.now() - started;
  return {
    state,
    queued: false,
    scheduled: true,
    nodes: 1,
    totalSplits: 0,
    queuedSplits: 0,
    runningSplits: 0,
    completedSplits: 0,
    cpuTimeMillis: 0,
    wallTimeMillis: elapsed,
    queuedTimeMillis: 0,
    elapsedTimeMillis: elapsed,
    processedRows: rows,
    processedBytes: 0,
    physicalInputBytes: 0,
    physicalWrittenBytes: 0,
    peakMemoryBytes: 0,
    spilledBytes: 0,
  };
}
