// GET /api/v1/kafka (RouteModule; viewer): the bus as this process sees it.
//
//   { mode, consumer: ConsumerStatus | null, producer: Record<string, number> | null,
//     producerLastError: BusError | null }
//
// consumer: topic, group, assigned partitions with position / committed
// offset / log end / lag, counters and malformed messages by reason
// (src/bus/consumer.ts). ?refresh=1 re-reads the lag from the broker first
// (otherwise it is at most bus.consumer.lagIntervalMs old). producer: the
// producer's metrics() when this process publishes; producerLastError: why
// its last produce failed (a TLS or SASL problem says so: src/bus/errors.ts),
// null once produces succeed.
import type { IncomingMessage, ServerResponse } from "node:http";
import { refuseUnlessGet, sendJson, type RouteModule } from "../api/server.js";
import type { Principal } from "../api/auth.js";
import type { KafkaFlowSource } from "./consumer.js";
import type { DeployMode } from "./consumer-config.js";
import type { BusError } from "./errors.js";

export class KafkaRoutes implements RouteModule {
  constructor(
    private readonly mode: DeployMode,
    private readonly consumer: KafkaFlowSource | null,
    private readonly producerMetrics: (() => Record<string, number>) | null,
    private readonly producerLastError: (() => BusError | null) | null = null,
  ) {}

  handles(path: string): boolean {
    return path === "/api/v1/kafka";
  }

  async handle(
    _who: Principal,
    method: string,
    url: URL,
    _req: IncomingMessage,
    res: ServerResponse,
  ): Promise<void> {
    if (refuseUnlessGet(method, res)) return;
    const c = this.consumer;
    if (c && url.searchParams.get("refresh") === "1") await c.refreshLag().catch(() => undefined);
    sendJson(res, 200, {
      mode: this.mode,
      consumer: c ? c.status() : null,
      producer: this.producerMetrics ? this.producerMetrics() : null,
      producerLastError: this.producerLastError ? this.producerLastError() : null,
    });
  }
}
