// /api/v1/anomalies* (RouteModule; roles were checked before handle() is
// called: all GET, viewer).
//
//   GET /api/v1/anomalies?limit=N&series=&key=                 AnomalyEvent[] newest first
//   GET /api/v1/anomalies/series?series=dst_as&key=15169&start=&end=
//                                                              {series, key, stepMs, points: AnomalyPoint[]}
//   GET /api/v1/anomalies/top?start=&end=&limit=               [{series, key, maxScore}] highest first
//   GET /api/v1/anomalies/status                               series tracked, memory, counters
//
// start/end: epoch ms or an ISO 8601 date; default the last 24 hours (series)
// or the last hour (top).
import type { IncomingMessage, ServerResponse } from "node:http";
import { refuseUnlessGet, sendJson, type RouteModule } from "../api/server.js";
import type { Principal } from "../api/auth.js";
import type { AnomalyService } from "./anomaly-service.js";
import { ANOMALY_SERIES } from "./types.js";

class BadRequest extends Error {}

function time(url: URL, name: string, dflt: number): number {
  const v = url.searchParams.get(name);
  if (v === null || v === "") return dflt;
  const n = /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : Date.parse(v);
  if (!Number.isFinite(n)) throw new BadRequest(`${name}: "${v}" is neither epoch ms nor an ISO 8601 date`);
  return n;
}

function limit(url: URL, dflt: number, max: number): number {
  const v = url.searchParams.get("limit");
  if (v === null || v === "") return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > max)
    throw new BadRequest(`limit: "${v}" must be an integer in 1-${max}`);
  return n;
}

function seriesParam(url: URL, required: boolean): string | undefined {
  const s = url.searchParams.get("series");
  if (s === null || s === "") {
    if (required) throw new BadRequest(`series is required (one of ${ANOMALY_SERIES.join(", ")})`);
    return undefined;
  }
  if (!(ANOMALY_SERIES as readonly string[]).includes(s))
    throw new BadRequest(`series: "${s}" must be one of ${ANOMALY_SERIES.join(", ")}`);
  return s;
}

export class AnomalyRoutes implements RouteModule {
  constructor(
    private readonly svc: AnomalyService,
    private readonly now: () => number = Date.now,
  ) {}

  handles(path: string): boolean {
    return path === "/api/v1/anomalies" || path.startsWith("/api/v1/anomalies/");
  }

  async handle(
    _who: Principal,
    method: string,
    url: URL,
    _req: IncomingMessage,
    res: ServerResponse,
  ): Promise<void> {
    if (refuseUnlessGet(method, res)) return;
    try {
      const path = url.pathname;
      const now = this.now();
      if (path === "/api/v1/anomalies") {
        const series = seriesParam(url, false);
        const key = url.searchParams.get("key") ?? undefined;
        sendJson(res, 200, this.svc.listEvents({ limit: limit(url, 100, 10_000), series, key }));
        return;
      }
      if (path === "/api/v1/anomalies/series") {
        const series = seriesParam(url, true)!;
        const key = url.searchParams.get("key") ?? "";
        if (series !== "total" && key === "") throw new BadRequest("key is required for this series");
        const end = time(url, "end", now);
        const start = time(url, "start", end - 86_400_000);
        if (end <= start) throw new BadRequest("end must be after start");
        const points = await this.svc.points(series, key, start, end);
        sendJson(res, 200, { series, key, stepMs: this.svc.stepMs, points });
        return;
      }
      if (path === "/api/v1/anomalies/top") {
        const end = time(url, "end", now);
        const start = time(url, "start", end - 3_600_000);
        if (end <= start) throw new BadRequest("end must be after start");
        sendJson(res, 200, await this.svc.top(start, end, limit(url, 20, 1000)));
        return;
      }
      if (path === "/api/v1/anomalies/status") {
        sendJson(res, 200, this.svc.status());
        return;
      }
      sendJson(res, 404, { error: "not found" });
    } catch (err) {
      if (err instanceof BadRequest) sendJson(res, 400, { error: err.message });
      else sendJson(res, 500, { error: String(err instanceof Error ? err.message : err) });
    }
  }
}
