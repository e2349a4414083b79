// HTTP routes of alerts (docs/alerts.md, "API"); a RouteModule for HttpApi.
//
//   GET    /api/v1/alerts/rules               → AlertRule[]
//   POST   /api/v1/alerts/rules               → 201 AlertRule
//   GET    /api/v1/alerts/rules/:id           → AlertRule (query rules: lastResult, lastError)
//   PUT    /api/v1/alerts/rules/:id           → AlertRule (fields left out keep their value)
//   DELETE /api/v1/alerts/rules/:id           → 204
//   POST   /api/v1/alerts/rules/:id/test      → NotificationRecord[]
//   POST   /api/v1/alerts/rules/:id/silence   {minutes} → AlertRule
//   GET    /api/v1/alerts/history?ruleId=&limit=  → NotificationRecord[] newest first
//
// Roles were checked before handle() runs (GET viewer, writes editor).
import type { IncomingMessage, ServerResponse } from "node:http";
import { errorAnswer, readJson } from "../api/query.js";
import type { Principal } from "../api/auth.js";
import { sendJson, type RouteModule } from "../api/server.js";
import type { AlertService } from "./service.js";
import { AlertError } from "./store.js";

const RULE_RE = /^\/api\/v1\/alerts\/rules\/([A-Za-z0-9_-]{1,64})(?:\/(test|silence))?$/;

function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.writableEnded) return;
  if (status === 204) {
    res.writeHead(204, { "Cache-Control": "no-store" });
    res.end();
    return;
  }
  sendJson(res, status, body);
}

export class AlertRoutes implements RouteModule {
  constructor(private readonly service: AlertService) {}

  handles(path: string): boolean {
    return path === "/api/v1/alerts" || path.startsWith("/api/v1/alerts/");
  }

  async handle(
    who: Principal,
    method: string,
    url: URL,
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<void> {
    try {
      const a = await this.route(who, method, url, req);
      send(res, a.status, a.body);
    } catch (err) {
      if (err instanceof AlertError) return send(res, err.status, { error: err.message });
      const a = errorAnswer(err);
      send(res, a.status, a.body);
    }
  }

  private async route(
    who: Principal,
    method: string,
    url: URL,
    req: IncomingMessage,
  ): Promise<{ status: number; body: unknown }> {
    const s = this.service;
    const path = url.pathname;
    if (path === "/api/v1/alerts/history") {
      if (method !== "GET") return notAllowed();
      const limitText = url.searchParams.get("limit");
      const limit = limitText === null ? 100 : Number(limitText);
      if (!Number.isInteger(limit) || limit < 1 || limit > 10_000)
        throw new AlertError(400, "limit must be an integer in 1-10000");
      return { status: 200, body: s.history(url.searchParams.get("ruleId") ?? "", limit) };
    }
    if (path === "/api/v1/alerts/rules") {
      if (method === "GET") return { status: 200, body: s.list() };
      if (method === "POST") return { status: 201, body: s.create(await readJson(req), who.user) };
      return notAllowed();
    }
    const m = RULE_RE.exec(path);
    if (!m) throw new AlertError(404, "not found");
    const id = m[1]!;
    switch (m[2]) {
      case "test":
        if (method !== "POST") return notAllowed();
        return { status: 200, body: await s.test(id) };
      case "silence": {
        if (method !== "POST") return notAllowed();
        const body = await readJson(req);
        return { status: 200, body: s.silence(id, body.minutes) };
      }
      default:
        if (method === "GET") return { status: 200, body: s.get(id) };
        if (method === "PUT") return { status: 200, body: s.update(id, await readJson(req)) };
        if (method === "DELETE") {
          s.delete(id);
          return { status: 204, body: null };
        }
        return notAllowed();
    }
  }
}

function notAllowed(): { status: number; body: unknown } {
  return { status: 405, body: { error: "method not allowed" } };
}
