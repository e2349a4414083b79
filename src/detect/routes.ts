// /api/v1/attacks* and /api/v1/detect/status (RouteModule; roles were checked
// before handle() is called: these are all GET, viewer).
//
//   GET /api/v1/attacks?state=ongoing|ended&limit=N   Attack[] newest first
//   GET /api/v1/attacks/stream                        SSE: event attack, data {type, attack}
//   GET /api/v1/attacks/:id                           Attack
//   GET /api/v1/attacks/:id/series                    {target, points: SecondPoint[]}
//   GET /api/v1/detect/status                         counters, thresholds, baselineReady …
import type { IncomingMessage, ServerResponse } from "node:http";
import { refuseUnlessGet, sendJson, type RouteModule } from "../api/server.js";
import type { Principal } from "../api/auth.js";
import type { DetectService } from "./service.js";

/** Concurrent attack streams allowed. */
export const MAX_ATTACK_STREAMS = 100;

export class DetectRoutes implements RouteModule {
  private readonly svc: DetectService;
  private streams = 0;

  constructor(svc: DetectService) {
    this.svc = svc;
  }

  handles(path: string): boolean {
    return (
      path === "/api/v1/attacks" || path.startsWith("/api/v1/attacks/") || path === "/api/v1/detect/status"
    );
  }

  async handle(
    _who: Principal,
    method: string,
    url: URL,
    _req: IncomingMessage,
    res: ServerResponse,
  ): Promise<void> {
    if (refuseUnlessGet(method, res)) return;
    const path = url.pathname;
    if (path === "/api/v1/detect/status") return sendJson(res, 200, this.svc.status());
    if (path === "/api/v1/attacks") {
      const state = url.searchParams.get("state");
      if (state !== null && state !== "ongoing" && state !== "ended")
        return sendJson(res, 400, { error: "state must be ongoing or ended" });
      const limitText = url.searchParams.get("limit");
      const limit = limitText === null ? 100 : Number(limitText);
      if (!Number.isInteger(limit) || limit < 1 || limit > 10_000)
        return sendJson(res, 400, { error: "limit must be an integer in 1-10000" });
      return sendJson(res, 200, this.svc.attacks(state ?? undefined, limit));
    }
    if (path === "/api/v1/attacks/stream") return this.stream(res);
    const m = /^\/api\/v1\/attacks\/([A-Za-z0-9-]{1,64})(\/series)?$/.exec(path);
    if (!m) return sendJson(res, 404, { error: "not found" });
    const id = m[1]!;
    if (m[2]) {
      const s = this.svc.series(id);
      return s ? sendJson(res, 200, s) : sendJson(res, 404, { error: `no attack ${id}` });
    }
    const a = this.svc.get(id);
    return a ? sendJson(res, 200, a) : sendJson(res, 404, { error: `no attack ${id}` });
  }

  /** SSE of attack events: "event: attack" with {type, attack}; the ongoing ones first as "started". */
  private stream(res: ServerResponse): void {
    if (this.streams >= MAX_ATTACK_STREAMS) {
      res.setHeader("Retry-After", "10");
      return sendJson(res, 503, { error: "too many attack streams" });
    }
    this.streams++;
    res.writeHead(200, {
      "Content-Type": "text/event-stream; charset=utf-8",
      "Cache-Control": "no-store",
      "X-Content-Type-Options": "nosniff",
      "X-Accel-Buffering": "no",
    });
    res.req.socket.setTimeout(0);
    // A comment line: the headers go out now, not with the first attack.
    res.write(": attacks\n\n");
    const send = (data: unknown): void => {
      res.write(`event: attack\ndata: ${JSON.stringify(data)}\n\n`);
    };
    for (const a of this.svc.attacks("ongoing")) send({ type: "attack_started", attack: a });
    const off = this.svc.events.on((e) => {
      if (e.type !== "attack_started" && e.type !== "attack_updated" && e.type !== "attack_ended") return;
      if (res.writableLength > 1024 * 1024) {
        off();
        res.destroy();
        return;
      }
      send(e);
    });
    res.on("close", () => {
      off();
      this.streams--;
    });
  }
}
