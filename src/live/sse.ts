// GET /api/v1/live?dim=protocol: the live aggregator as Server-Sent Events.
//
//   event: window   data: {dim, seconds, points: LivePoint[]}   once, on connect (the last 10 minutes)
//   event: second   data: LivePoint                              each second as it closes
//
// SSE rather than WebSocket: one direction is all the live view needs, it is
// plain HTTP (the session cookie and the same auth checks apply), and the
// browser's EventSource reconnects by itself.
import type { ServerResponse } from "node:http";
import { LIVE_DIMENSIONS, isLiveDimension, type LiveAggregator } from "./aggregator.js";

/** Concurrent streams allowed (each costs one JSON encode per second). */
export const MAX_LIVE_STREAMS = 100;

export function liveStream(agg: LiveAggregator, dim: string, res: ServerResponse): void {
  if (!isLiveDimension(dim)) {
    res.writeHead(400, { "Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store" });
    res.end(JSON.stringify({ error: `dim must be one of ${LIVE_DIMENSIONS.join(", ")}` }) + "\n");
    return;
  }
  if (agg.subscribers >= MAX_LIVE_STREAMS) {
    res.writeHead(503, { "Content-Type": "application/json; charset=utf-8", "Retry-After": "10" });
    res.end(JSON.stringify({ error: "too many live streams" }) + "\n");
    return;
  }
  res.writeHead(200, {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    // Proxies (nginx) must not buffer the stream.
    "X-Accel-Buffering": "no",
  });
  // The server's request timeout would cut a long-lived stream.
  res.req.socket.setTimeout(0);
  const send = (event: string, data: unknown): void => {
    res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  };
  send("window", { dim, seconds: agg.seconds, points: agg.window(dim) });
  const off = agg.subscribe(dim, (p) => {
    // A client that does not read: drop it rather than buffer without bound.
    if (res.writableLength > 1024 * 1024) {
      off();
      res.destroy();
      return;
    }
    send("second", p);
  });
  res.on("close", off);
}
