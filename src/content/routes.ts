// HTTP handlers of saved queries, dashboards and share links (docs/api.md,
// "Saved queries and dashboards"; docs/dashboards.md).
//
//   /api/v1/queries[/:id[/fork|/versions[/:v[/restore]]|/run|/results/latest|/results.csv]]
//   /api/v1/dashboards[/:id[/versions[/:v[/restore]]|/share|/shares[/:token]|/widgets/:wid/run]]
//   /api/v1/sql/render
//   /api/v1/share/:token[/widgets/:wid/run]      (no session: the token is the credential)
//
// Roles are checked before these run (auth-http.ts: GET and the run/render
// POSTs are viewer, other writes editor). SQL runs through the one SQL engine (SqlEngine)
// (sandbox, time limit, paging) and flow widgets through the FlowQueryRunner,
// so nothing here can do more than POST /api/v1/sql or /api/v1/flows/query.
import type { IncomingMessage, ServerResponse } from "node:http";
import {
  errorAnswer,
  readJson,
  streamDownload,
  type ApiAnswer,
  type FlowQueryRunner,
  type QueryCaller,
} from "../api/query.js";
import type { FlowQuery } from "../query/planner/index.js";
import type { SqlEngine } from "../query/engine/sql-engine.js";
import { ParamError, renderSql, resolveDate, validateParamDefs } from "./params.js";
import { MAX_RESULT_ROWS, type Scheduler } from "./schedule.js";
import type { ContentStore } from "./store.js";
import type { Dashboard, ParamDef, SavedQuery, Widget } from "./types.js";
import { ContentError, baseVersion } from "./validate.js";

export interface ContentRoutesOptions {
  store: ContentStore;
  /** Without them (store disabled) running answers 503; editing still works. */
  sql?: SqlEngine;
  flows?: FlowQueryRunner;
  scheduler?: Scheduler;
  /**
   * The live view's SSE stream (src/live/sse.ts) for a dimension; lets a
   * share link's live widgets stream without a session. Absent: they answer 404.
   */
  live?: (dim: string, res: ServerResponse) => void;
}

type Obj = Record<string, unknown>;

const SEG = "([A-Za-z0-9_-]{1,64})";
const Q_RE = new RegExp(`^/api/v1/queries/${SEG}(?:/(.+))?$`);
const D_RE = new RegExp(`^/api/v1/dashboards/${SEG}(?:/(.+))?$`);
const SHARE_RE = new RegExp(`^/api/v1/share/${SEG}(?:/widgets/${SEG}/run)?$`);
/** GET: the live stream of a shared dashboard's live widget, in that widget's dimension only. */
const SHARE_LIVE_RE = new RegExp(`^/api/v1/share/${SEG}/widgets/${SEG}/live$`);

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function optInt(body: Obj, key: string, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > max)
    throw new ContentError(400, `${key} must be an integer ≥ 0`);
  return v;
}

function paramValues(v: unknown): Obj {
  if (v === undefined || v === null) return {};
  if (!isObj(v)) throw new ContentError(400, "params must be an object of name → value");
  return v;
}

function send(res: ServerResponse, a: ApiAnswer): void {
  if (res.writableEnded) return;
  const body = JSON.stringify(a.body) + "\n";
  res.writeHead(a.status, {
    "Content-Type": "application/json; charset=utf-8",
    "Content-Length": Buffer.byteLength(body),
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
  });
  res.end(body);
}

function toAnswer(err: unknown): ApiAnswer {
  if (err instanceof ContentError || err instanceof ParamError)
    return { status: err.status, body: { error: err.message } };
  return errorAnswer(err);
}

function versionNumber(s: string): number {
  const v = Number(s);
  if (!/^\d{1,9}$/.test(s) || v < 1) throw new ContentError(400, "a version is an integer ≥ 1");
  return v;
}

/** A query as a share link shows it: everything but the SQL text. */
function withoutSql(q: SavedQuery): Omit<SavedQuery, "sql"> {
  const { sql: _sql, ...rest } = q;
  return rest;
}

export class ContentRoutes {
  readonly store: ContentStore;
  private readonly sql?: SqlEngine;
  private readonly flows?: FlowQueryRunner;
  private readonly scheduler?: Scheduler;
  private readonly live?: (dim: string, res: ServerResponse) => void;

  constructor(opts: ContentRoutesOptions) {
    this.store = opts.store;
    this.sql = opts.sql;
    this.flows = opts.flows;
    this.scheduler = opts.scheduler;
    this.live = opts.live;
  }

  /** Whether `path` is one of the signed-in content routes. */
  static handles(path: string): boolean {
    return (
      path === "/api/v1/queries" ||
      path.startsWith("/api/v1/queries/") ||
      path === "/api/v1/dashboards" ||
      path.startsWith("/api/v1/dashboards/") ||
      path === "/api/v1/sql/render"
    );
  }

  /** Whether `path` is a share-link route (answered without a session). */
  static isShare(path: string): boolean {
    return path === "/api/v1/share" || path.startsWith("/api/v1/share/");
  }

  /** Answer a signed-in content request (the caller's role was checked already). */
  async handle(
    who: QueryCaller,
    method: string,
    url: URL,
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<void> {
    try {
      if (
        (url.pathname.endsWith("/results.csv") || url.pathname.endsWith("/results.json")) &&
        method === "GET"
      ) {
        const m = Q_RE.exec(url.pathname);
        if (m && (m[2] === "results.csv" || m[2] === "results.json"))
          return await this.download(m[1]!, url, res, m[2] === "results.csv" ? "csv" : "json");
      }
      send(res, await this.answer(who, method, url, req));
    } catch (err) {
      send(res, toAnswer(err));
    }
  }

  private async answer(who: QueryCaller, method: string, url: URL, req: IncomingMessage): Promise<ApiAnswer> {
    const path = url.pathname;
    const s = this.store;
    const ok = (body: unknown, status = 200): ApiAnswer => ({ status, body });
    const wrong: ApiAnswer = { status: 405, body: { error: "method not allowed" } };

    if (path === "/api/v1/sql/render") {
      if (method !== "POST") return wrong;
      const b = await readJson(req);
      if (typeof b.sql !== "string") throw new ContentError(400, "sql must be a string");
      return ok({ sql: renderSql(b.sql, validateParamDefs(b.paramDefs), paramValues(b.params)) });
    }

    if (path === "/api/v1/queries") {
      if (method === "GET")
        return ok(s.listQueries(url.searchParams.get("q") ?? "", url.searchParams.get("tag") ?? ""));
      if (method === "POST") return ok(s.createQuery(await readJson(req), who.user), 201);
      return wrong;
    }
    if (path === "/api/v1/dashboards") {
      if (method === "GET")
        return ok(s.listDashboards(url.searchParams.get("q") ?? "", url.searchParams.get("tag") ?? ""));
      if (method === "POST") return ok(s.createDashboard(await readJson(req), who.user), 201);
      return wrong;
    }

    const q = Q_RE.exec(path);
    if (q) {
      const id = q[1]!;
      const rest = q[2] ?? "";
      if (rest === "") {
        if (method === "GET") return ok(s.getQuery(id));
        if (method === "PUT") {
          const b = await readJson(req);
          return ok(s.updateQuery(id, b, who.user, baseVersion(b)));
        }
        if (method === "DELETE") {
          s.deleteQuery(id);
          return ok({ deleted: true });
        }
        return wrong;
      }
      if (rest === "fork") return method === "POST" ? ok(s.forkQuery(id, who.user), 201) : wrong;
      if (rest === "versions") return method === "GET" ? ok(s.queryVersions(id)) : wrong;
      const v = /^versions\/([^/]+)(\/restore)?$/.exec(rest);
      if (v && !v[2]) return method === "GET" ? ok(s.queryVersion(id, versionNumber(v[1]!))) : wrong;
      if (v && v[2])
        return method === "POST" ? ok(s.restoreQuery(id, versionNumber(v[1]!), who.user)) : wrong;
      if (rest === "run") {
        if (method !== "POST") return wrong;
        return this.runQuery(s.getQuery(id), await readJson(req));
      }
      if (rest === "results/latest") {
        if (method !== "GET") return wrong;
        s.getQuery(id);
        const r = this.scheduler?.result(id);
        return r ? ok(r) : { status: 404, body: { error: `query ${id} has no scheduled result yet` } };
      }
      return { status: 404, body: { error: "not found" } };
    }

    const d = D_RE.exec(path);
    if (d) {
      const id = d[1]!;
      const rest = d[2] ?? "";
      if (rest === "") {
        if (method === "GET") return ok(s.getDashboard(id));
        if (method === "PUT") {
          const b = await readJson(req);
          return ok(s.updateDashboard(id, b, who.user, baseVersion(b)));
        }
        if (method === "DELETE") {
          s.deleteDashboard(id);
          return ok({ deleted: true });
        }
        return wrong;
      }
      if (rest === "versions") return method === "GET" ? ok(s.dashboardVersions(id)) : wrong;
      const v = /^versions\/([^/]+)(\/restore)?$/.exec(rest);
      if (v && !v[2]) return method === "GET" ? ok(s.dashboardVersion(id, versionNumber(v[1]!))) : wrong;
      if (v && v[2])
        return method === "POST" ? ok(s.restoreDashboard(id, versionNumber(v[1]!), who.user)) : wrong;
      if (rest === "share") {
        if (method !== "POST") return wrong;
        const link = s.createShare(id, who.user);
        return ok({ token: link.token, url: `/#/share/${link.token}` }, 201);
      }
      if (rest === "shares") return method === "GET" ? ok(s.listShares(id)) : wrong;
      const sh = /^shares\/([A-Za-z0-9_-]{1,64})$/.exec(rest);
      if (sh) return method === "DELETE" ? ok(s.revokeShare(id, sh[1]!)) : wrong;
      const w = /^widgets\/([A-Za-z0-9_-]{1,64})\/run$/.exec(rest);
      if (w) {
        if (method !== "POST") return wrong;
        return this.runWidget(s.getDashboard(id), w[1]!, await readJson(req));
      }
      return { status: 404, body: { error: "not found" } };
    }
    return { status: 404, body: { error: "not found" } };
  }

  /**
   * A share-link request: no session, the token in the path is the only
   * credential, and it reaches its own dashboard and nothing else, read-only.
   */
  async handleShare(method: string, url: URL, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const live = SHARE_LIVE_RE.exec(url.pathname);
    if (live) return this.shareLive(method, live[1]!, live[2]!, res);
    try {
      send(res, await this.shareAnswer(method, url.pathname, req));
    } catch (err) {
      send(res, toAnswer(err));
    }
  }

  /**
   * A shared dashboard's live widget: the same per-second stream as
   * GET /api/v1/live, for that widget's own dimension only (the token gives
   * the dashboard's data, nothing chosen by the caller). The stream ends
   * within a second of the link being revoked.
   */
  private shareLive(method: string, token: string, wid: string, res: ServerResponse): void {
    if (method !== "GET") return send(res, { status: 405, body: { error: "GET only" } });
    const found = this.store.share(token);
    if (!found)
      return send(res, { status: 404, body: { error: "no such share link (revoked or never made)" } });
    const w = found.dashboard.widgets.find((x) => x.id === wid);
    if (!w || w.type !== "live")
      return send(res, { status: 404, body: { error: `no live widget ${wid} here` } });
    if (!this.live) return send(res, { status: 404, body: { error: "the live view is not running" } });
    this.live(w.liveDim ?? "protocol", res);
    const check = setInterval(() => {
      if (!this.store.share(token)) res.destroy();
    }, 1000);
    check.unref();
    res.on("close", () => clearInterval(check));
  }

  private async shareAnswer(method: string, path: string, req: IncomingMessage): Promise<ApiAnswer> {
    const m = SHARE_RE.exec(path);
    const readOnly = {
      error:
        "share links are read-only: GET /api/v1/share/TOKEN and POST /api/v1/share/TOKEN/widgets/ID/run only",
    };
    if (!m) return { status: 403, body: readOnly };
    const wid = m[2];
    if (wid === undefined ? method !== "GET" && method !== "HEAD" : method !== "POST")
      return { status: 405, body: readOnly };
    const found = this.store.share(m[1]!);
    if (!found) return { status: 404, body: { error: "no such share link (revoked or never made)" } };
    const d = found.dashboard;
    if (wid !== undefined) return this.runWidget(d, wid, await readJson(req, 64 * 1024));
    const queries: Record<string, Omit<SavedQuery, "sql">> = {};
    for (const w of d.widgets) {
      if (w.type !== "viz" || !w.queryId) continue;
      const q = this.store.queries.current(w.queryId);
      if (q) queries[q.id] = withoutSql(q);
    }
    return { status: 200, body: { dashboard: d, queries } };
  }

  private needSql(): SqlEngine {
    if (!this.sql) throw new ContentError(503, "the store is disabled (--no-store): queries cannot run");
    return this.sql;
  }

  /** POST /api/v1/queries/:id/run: render with the body's params, run one page. */
  private async runQuery(q: SavedQuery, body: Obj): Promise<ApiAnswer> {
    const text = renderSql(q.sql, q.params, paramValues(body.params));
    const id = body.id;
    if (id !== undefined && (typeof id !== "string" || !/^[A-Za-z0-9_.-]{1,64}$/.test(id)))
      throw new ContentError(400, "id must be 1-64 characters of A-Z a-z 0-9 _ . -");
    const page = await this.needSql().query(text, {
      offset: optInt(body, "offset"),
      limit: optInt(body, "limit"),
      id,
    });
    return {
      status: 200,
      body: { id: page.id, columns: page.columns, rows: page.rows, nextOffset: page.nextOffset, sql: text },
    };
  }

  /** GET /api/v1/queries/:id/results.csv?params=JSON: the whole result, streamed. */
  /** The saved query's whole result, streamed as CSV or a JSON array (src/api/query.ts streamDownload). */
  private async download(id: string, url: URL, res: ServerResponse, format: "csv" | "json"): Promise<void> {
    const q = this.store.getQuery(id);
    let values: unknown = {};
    const raw = url.searchParams.get("params");
    if (raw) {
      try {
        values = JSON.parse(raw);
      } catch {
        throw new ContentError(400, "params must be JSON");
      }
    }
    const text = renderSql(q.sql, q.params, paramValues(values));
    await streamDownload(this.needSql(), text, res, format);
  }

  /**
   * Run one widget of dashboard `d`. Viz widget: its saved query, each query
   * parameter taking the dashboard parameter paramMap names (or the same
   * name), a date range defaulting to the dashboard's time range; flow
   * widget: a flow query over the time range and the dashboard + widget
   * filters. body: {params?, start?, end?, filter?, offset?, limit?}.
   */
  private async runWidget(d: Dashboard, wid: string, body: Obj): Promise<ApiAnswer> {
    const w: Widget | undefined = d.widgets.find((x) => x.id === wid);
    if (!w) throw new ContentError(404, `dashboard ${d.id} has no widget ${wid}`);
    const start = body.start ?? d.timeRange.start;
    const end = body.end ?? d.timeRange.end;
    if (w.type === "viz") {
      const q = this.store.queries.current(w.queryId ?? "");
      if (!q) throw new ContentError(404, `widget ${wid}: its query ${w.queryId ?? ""} no longer exists`);
      const dashValues = dashboardValues(d.params, paramValues(body.params));
      const values: Obj = {};
      for (const p of q.params) {
        const from = w.paramMap?.[p.name] ?? p.name;
        if (Object.hasOwn(dashValues, from)) values[p.name] = dashValues[from];
        else if (p.type === "daterange") values[p.name] = { start, end };
      }
      const text = renderSql(q.sql, q.params, values);
      const page = await this.needSql().query(text, {
        offset: optInt(body, "offset"),
        limit: optInt(body, "limit", MAX_RESULT_ROWS) ?? MAX_RESULT_ROWS,
      });
      return { status: 200, body: { columns: page.columns, rows: page.rows, nextOffset: page.nextOffset } };
    }
    if (w.type === "flow" && w.flow) {
      if (!this.flows)
        throw new ContentError(503, "the store is disabled (--no-store): flow widgets cannot run");
      const now = Date.now();
      const filter = typeof body.filter === "string" ? body.filter : d.filter;
      const filters = [filter, w.flow.filter ?? ""].filter((f) => f.trim() !== "");
      const fq: FlowQuery = {
        start: resolveDate(start, now, "start"),
        end: resolveDate(end, now, "end"),
        resolution: "auto",
        dimensions: w.flow.dimensions,
        metric: w.flow.metric,
        topN: w.flow.topN,
        shape: w.flow.shape,
        filter: filters.length ? filters.map((f) => `(${f})`).join(" and ") : undefined,
      };
      return this.flows.run(fq);
    }
    if (w.type === "live")
      throw new ContentError(400, `widget ${wid} is a live widget: it streams from GET /api/v1/live`);
    throw new ContentError(400, `widget ${wid} is a text widget: nothing to run`);
  }
}

/** The dashboard's parameter values: each def's default, overridden by the request's values for known names. */
function dashboardValues(defs: readonly ParamDef[], given: Obj): Obj {
  const out: Obj = {};
  for (const p of defs) {
    if (Object.hasOwn(given, p.name)) out[p.name] = given[p.name];
    else if (p.default !== undefined) out[p.name] = p.default;
  }
  return out;
}
