// HTTP API: /healthz, /metrics (Prometheus), /api/v1/* and the web UI (/).
//
// Authentication: /api/v1/* needs "Authorization: Bearer <token>" or, with
// sign-in configured (auth), a session cookie; roles and CSRF are checked in
// auth-http.ts. The UI's static files (web/dist) are open: they hold no data.
// /metrics is open on a loopback bind (the default 127.0.0.1:8080) so a local
// Prometheus or curl works as is; on any other bind it needs the token too,
// unless http.publicMetrics is set. /healthz is always open and says nothing
// beyond "ok".
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { formatListen, isLoopback, type ListenAddress } from "../config/address.js";
import type { CounterStore } from "../collector/counters.js";
import type { CollectorStats } from "../collector/stats.js";
import { silentLogger, type Logger } from "../log.js";
import type { RateMeter } from "../pipeline/rate.js";
import { interfacesRoute, renderInterfaceMetrics } from "./interfaces.js";
import { queryRoute, streamDownload, type QueryRoutes } from "./query.js";
import { renderMetrics, type ExtraMetrics } from "./metrics.js";
import { checkBearer } from "./token.js";
import type { HttpAuth } from "./auth-http.js";
import type { Principal } from "./auth.js";
import type { LiveAggregator } from "../live/aggregator.js";
import { liveStream } from "../live/sse.js";
import { serveStatic } from "./static.js";
import { ContentRoutes } from "../content/routes.js";

export interface HttpApiOptions {
  listen: ListenAddress;
  token: string;
  publicMetrics?: boolean;
  stats: CollectorStats;
  extra?: () => ExtraMetrics;
  rates?: RateMeter;
  /** Interface counter series (sFlow): /api/v1/interfaces and per-interface gauges in /metrics. */
  counters?: CounterStore;
  /** Interfaces exported as /metrics gauges (collector.counters.metricsMaxSeries). */
  countersMetricsMax?: number;
  log?: Logger;
  /** The SQL service and flow query runner: /api/v1/sql, /api/v1/views, /api/v1/flows/query. */
  query?: QueryRoutes;
  /** Sign-in, sessions and roles; without it only the bearer token is accepted (as admin). */
  auth?: HttpAuth;
  /** The live view's per-second aggregates: GET /api/v1/live (SSE). */
  live?: LiveAggregator;
  /** Directory of the built web UI (index.html, app.js, app.css); none: no UI. */
  webDir?: string;
  /** Saved queries, dashboards, share links: /api/v1/queries*, /api/v1/dashboards*, /api/v1/sql/render, /api/v1/share/*. */
  content?: ContentRoutes;
  /**
   * Further signed-in route groups (detection, alerts …), asked in order after
   * the built-in ones: the first whose handles(path) is true answers. The
   * caller's role was checked already (GET viewer, writes editor; see
   * auth-http.ts requiredRole).
   */
  modules?: RouteModule[];
}

/** A group of signed-in /api routes owned by one component. */
export interface RouteModule {
  handles(path: string): boolean;
  handle(who: Principal, method: string, url: URL, req: IncomingMessage, res: ServerResponse): Promise<void>;
}

export class HttpApi {
  private readonly opts: HttpApiOptions;
  private readonly log: Logger;
  private server: Server | null = null;
  /** "host:port" actually bound (real port when 0 was asked). */
  address = "";
  port = 0;

  constructor(opts: HttpApiOptions) {
    this.opts = opts;
    this.log = opts.log ?? silentLogger;
  }

  /** Whether /metrics requires the token with this configuration. */
  get metricsNeedToken(): boolean {
    return !this.opts.publicMetrics && !isLoopback(this.opts.listen.host);
  }

  async start(): Promise<void> {
    const server = createServer((req, res) => this.handle(req, res));
    server.headersTimeout = 10_000;
    server.requestTimeout = 30_000;
    server.keepAliveTimeout = 5_000;
    await new Promise<void>((resolve, reject) => {
      server.once("error", (err: NodeJS.ErrnoException) =>
        reject(
          new Error(`cannot listen on http ${this.opts.listen.text}: ${err.code ?? err.message}`, {
            cause: err,
          }),
        ),
      );
      server.listen(this.opts.listen.port, this.opts.listen.host, () => resolve());
    });
    server.on("error", (err) => this.log.error("http server error", { error: err.message }));
    const a = server.address();
    if (a && typeof a === "object") {
      this.port = a.port;
      this.address = formatListen(a.address, a.port);
    }
    this.server = server;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    try {
      this.route(req, res);
    } catch (err) {
      this.log.limited("http-handler", "error", "http handler failed", { error: String(err) });
      if (!res.headersSent) send(res, 500, "text/plain", "internal error\n");
      else res.destroy();
    }
  }

  private route(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? "/", "http://x");
    const path = url.pathname;
    const q = this.opts.query;
    const auth = this.opts.auth;
    const method = req.method ?? "GET";
    let who: Principal | null = null;
    if (path.startsWith("/api/")) {
      // Share links: no session; the token in the path is the credential and
      // reaches its own dashboard only, read-only (src/content/routes.ts).
      const content = this.opts.content;
      if (content && ContentRoutes.isShare(path)) {
        this.async(res, content.handleShare(method, url, req, res));
        return;
      }
      if (auth && path === "/api/v1/auth/login" && method === "POST") {
        this.async(res, auth.login(req, res, this.reply(res)));
        return;
      }
      who = this.principal(req, res, method, path);
      if (!who) return;
      if (auth && (path.startsWith("/api/v1/auth/") || path.startsWith("/api/v1/users"))) {
        const principal = who;
        this.async(
          res,
          auth.route(principal, method, path, req, res, this.reply(res)).then((done) => {
            if (!done && !res.writableEnded) sendJson(res, 404, { error: "not found" });
          }),
        );
        return;
      }
      if (path === "/api/v1/live" && method === "GET" && this.opts.live) {
        return liveStream(this.opts.live, url.searchParams.get("dim") ?? "protocol", res);
      }
      if (content && ContentRoutes.handles(path)) {
        this.async(res, content.handle(who, method, url, req, res));
        return;
      }
      const principal = who;
      const mod = this.opts.modules?.find((m) => m.handles(path));
      if (mod) {
        this.async(res, mod.handle(principal, method, url, req, res));
        return;
      }
    }
    if (q && path.startsWith("/api/v1/") && (method === "POST" || method === "GET" || method === "DELETE")) {
      // Routed asynchronously; a path that is not a query path falls through below.
      if ((path === "/api/v1/sql.csv" || path === "/api/v1/sql.json") && method === "GET") {
        const text = url.searchParams.get("q");
        if (!text) return sendJson(res, 400, { error: "q (the SQL) is required" });
        streamDownload(q.sql, text, res, path.endsWith(".csv") ? "csv" : "json").catch((err: unknown) => {
          this.log.limited("http-query", "error", "csv stream failed", { error: String(err) });
          res.destroy();
        });
        return;
      }
      if (
        path === "/api/v1/sql" ||
        path.startsWith("/api/v1/sql/") ||
        path === "/api/v1/flows/query" ||
        path === "/api/v1/flows/values" ||
        path.startsWith("/api/v1/views")
      ) {
        queryRoute(q, method, path, req, who ?? undefined).then(
          (a) => {
            if (res.writableEnded) return;
            if (a) sendJson(res, a.status, a.body);
            else sendJson(res, 405, { error: "method not allowed" });
          },
          (err: unknown) => {
            this.log.limited("http-query", "error", "query handler failed", { error: String(err) });
            if (!res.headersSent) sendJson(res, 500, { error: "internal error" });
            else res.destroy();
          },
        );
        return;
      }
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.setHeader("Allow", "GET, HEAD");
      return send(res, 405, "text/plain", "method not allowed\n");
    }
    if (path === "/healthz") return send(res, 200, "text/plain", "ok\n");
    if (path === "/metrics") {
      if (this.metricsNeedToken && !this.principal(req, res, "GET", path)) return;
      let body = renderMetrics(this.opts.stats, this.opts.extra?.() ?? {});
      if (this.opts.counters)
        body += renderInterfaceMetrics(this.opts.counters, this.opts.countersMetricsMax ?? 1000);
      return send(res, 200, "text/plain; version=0.0.4; charset=utf-8", body);
    }
    if (path.startsWith("/api/")) {
      if (path === "/api/v1/exporters") {
        const sampling = this.opts.live?.sampling;
        const list = [...this.opts.stats.exporters.values()]
          .sort((a, b) => a.exporter.localeCompare(b.exporter))
          .map((s) => {
            const j = s.toJSON();
            // Last sampling rate seen in this exporter's flows (0 = unknown), from the live view.
            const rate = sampling?.get(s.exporter);
            return rate === undefined ? j : { ...j, samplingRate: rate };
          });
        return sendJson(res, 200, list);
      }
      if (path === "/api/v1/rates" && this.opts.rates) {
        const n = Math.min(600, Math.max(1, Number(url.searchParams.get("seconds")) || 60));
        return sendJson(res, 200, this.opts.rates.series(n));
      }
      if (this.opts.counters && path.startsWith("/api/v1/interfaces")) {
        const a = interfacesRoute(this.opts.counters, path, url.searchParams);
        if (a) return sendJson(res, a.status, a.body);
      }
      return sendJson(res, 404, { error: "not found" });
    }
    if (this.opts.webDir && serveStatic(this.opts.webDir, path, res)) return;
    send(res, 404, "text/plain", "not found\n");
  }

  /** Who the request is from, checked for the route (401/403 written when refused). */
  private principal(
    req: IncomingMessage,
    res: ServerResponse,
    method: string,
    path: string,
  ): Principal | null {
    const reply = this.reply(res);
    if (this.opts.auth) return this.opts.auth.authorize(req, this.opts.token, method, path, reply);
    if (checkBearer(req.headers.authorization, this.opts.token))
      return { user: "api-token", role: "admin", via: "token" };
    res.setHeader("WWW-Authenticate", 'Bearer realm="nagare"');
    sendJson(res, 401, { error: "missing or wrong bearer token (see dataDir/api-token)" });
    return null;
  }

  private reply(res: ServerResponse) {
    return (status: number, body: unknown, headers?: Record<string, string>): void => {
      if (res.writableEnded) return;
      for (const [k, v] of Object.entries(headers ?? {})) res.setHeader(k, v);
      sendJson(res, status, body);
    };
  }

  private async(res: ServerResponse, p: Promise<unknown>): void {
    p.catch((err: unknown) => {
      this.log.limited("http-auth", "error", "auth handler failed", { error: String(err) });
      if (!res.headersSent) sendJson(res, 500, { error: "internal error" });
      else res.destroy();
    });
  }
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, {
    "Content-Type": type,
    "Content-Length": Buffer.byteLength(body),
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
  });
  res.end(res.req.method === "HEAD" ? undefined : body);
}

/** A read-only route module's answer to a method other than GET/HEAD: 405 with Allow. True when it refused. */
export function refuseUnlessGet(method: string, res: ServerResponse): boolean {
  if (method === "GET" || method === "HEAD") return false;
  res.setHeader("Allow", "GET");
  sendJson(res, 405, { error: "method not allowed" });
  return true;
}

/** A JSON answer (no-store, nosniff; no body for HEAD): shared by every route module. */
export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  send(res, status, "application/json; charset=utf-8", JSON.stringify(value) + "\n");
}
