// The Kafka part of the Exporters page (GET /api/v1/kafka, src/bus/consumer-routes.ts):
// this process's mode, and when it consumes, the topic, group and per
// partition offsets and lag; when it produces, the producer's counters.
// Hidden when the route is absent (a build without the bus).
import { api, ApiError } from "./api.js";
import { h } from "./dom.js";

interface PartitionLag {
  partition: number;
  position: number;
  committed: number;
  highWatermark: number;
  lag: number;
}

interface KafkaState {
  mode: string;
  consumer: {
    topic: string;
    groupId: string;
    format: string;
    assigned: number[];
    partitions: PartitionLag[];
    lagUpdatedMs: number;
    metrics: Record<string, number>;
    malformed: Record<string, number>;
    lastError: BusError | null;
  } | null;
  producer: Record<string, number> | null;
  producerLastError: BusError | null;
}

/** Why the last produce or fetch failed (src/bus/errors.ts): tls, auth, network or other. */
interface BusError {
  kind: string;
  message: string;
  atMs: number;
}

function errorLine(id: string, who: string, e: BusError): HTMLElement {
  return h(
    "p",
    { id, class: "error" },
    `${who} error (${e.kind}, ${new Date(e.atMs).toISOString().slice(11, 19)}Z): ${e.message}`,
  );
}

/** Appends the section to root; returns its stop function. */
export function kafkaSection(root: HTMLElement): () => void {
  const box = h("section", { id: "kafka" });
  root.append(box);
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  async function poll(): Promise<void> {
    try {
      const s = await api<KafkaState>("/api/v1/kafka");
      const parts: HTMLElement[] = [h("h2", {}, "Kafka"), h("p", { class: "muted" }, `mode: ${s.mode}`)];
      const c = s.consumer;
      if (c) {
        const m = c.metrics;
        const bad = Object.entries(c.malformed);
        parts.push(
          h(
            "p",
            {},
            `consuming ${c.topic} (group ${c.groupId}, ${c.format}): ${m.messages ?? 0} messages, ` +
              `${m.flows ?? 0} flows, total lag ${m.lag ?? 0}` +
              (bad.length ? `, malformed: ${bad.map(([k, n]) => `${k} ${n}`).join(", ")}` : ""),
          ),
          h(
            "table",
            { class: "grid" },
            h(
              "thead",
              {},
              h(
                "tr",
                {},
                ["partition", "position", "committed", "log end", "lag"].map((t) => h("th", {}, t)),
              ),
            ),
            h(
              "tbody",
              { id: "kafka-partitions" },
              c.partitions.map((p) =>
                h(
                  "tr",
                  { "data-partition": p.partition },
                  h("td", { class: "num" }, p.partition),
                  h("td", { class: "num" }, p.position < 0 ? "–" : p.position),
                  h("td", { class: "num" }, p.committed < 0 ? "none" : p.committed),
                  h("td", { class: "num" }, p.highWatermark < 0 ? "…" : p.highWatermark),
                  h("td", { class: "num" }, p.lag),
                ),
              ),
            ),
          ),
        );
        if (c.lastError) parts.push(errorLine("kafka-consumer-error", "consumer", c.lastError));
      }
      if (s.producerLastError) parts.push(errorLine("kafka-producer-error", "producer", s.producerLastError));
      if (s.producer) {
        parts.push(
          h(
            "p",
            { id: "kafka-producer" },
            "producing: " +
              Object.entries(s.producer)
                .map(([k, v]) => `${k} ${v}`)
                .join(", "),
          ),
        );
      }
      box.replaceChildren(...(c || s.producer || s.mode !== "all" ? parts : []));
    } catch (err) {
      box.replaceChildren(
        ...(err instanceof ApiError && err.status === 404
          ? []
          : [h("h2", {}, "Kafka"), h("p", { class: "muted" }, `error: ${(err as Error).message}`)]),
      );
    }
    if (!stopped) timer = setTimeout(() => void poll(), 5000);
  }
  timer = setTimeout(() => void poll(), 0);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
