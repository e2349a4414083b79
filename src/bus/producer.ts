// KafkaProducer: a pipeline consumer publishing decoded flows to a Kafka topic
// in pmacct JSON or nagare-binary (src/bus/types.ts, docs/kafka.md).
//
// consume() runs on the UDP receive path, so it never blocks and never awaits:
// it encodes the batch (synchronously; the batch is recycled when it returns)
// and appends the messages to a bounded in-memory buffer. A single send loop
// drains the buffer in produce requests of at most batchMessages / batchBytes,
// lingering lingerMs for more. When a produce fails (broker down, leader
// moving, timeout) the same messages go back to the head of the buffer and are
// re-sent after an exponential backoff: order is kept and nothing is lost as
// long as the outage fits in bufferBytes. Beyond that, NEW messages are
// dropped and counted (dropped_*{reason="buffer_full"}): memory stays bounded
// and the oldest data, already waiting, goes out first when the broker returns.
//
// Delivery is at-least-once: a produce that timed out may have been written
// by the broker and is sent again (docs/kafka.md, "Delivery semantics").
import { readFileSync } from "node:fs";
import type { ConnectionOptions as TlsOptions } from "node:tls";
import { Producer, type SASLOptions } from "@platformatic/kafka";
import type { FlowBatch } from "../collector/batch.js";
import { silentLogger, type Logger } from "../log.js";
import type { FlowConsumer } from "../pipeline/index.js";
import { NagareBinaryEncoder } from "./binary.js";
import { describeBusError, SocketErrors, type BusError, type BusErrorKind } from "./errors.js";
import { parseBroker, type BusConfig } from "./config.js";
import { PmacctHistory } from "./history.js";
import { PmacctJsonEncoder } from "./pmacct.js";
import type { BusMessage, FlowEncoder } from "./types.js";

/** Per-message bookkeeping on top of key and value (Kafka's record overhead is ~70 bytes). */
const MESSAGE_OVERHEAD = 64;

interface Queued {
  msg: BusMessage;
  size: number;
  flows: number;
}

export interface KafkaProducerOptions {
  log?: Logger;
  /** Clock for pmacct time bins (tests). */
  now?: () => number;
  /**
   * The flows reaching this producer were enriched in this process (the
   * pipeline runs enrichment first): nagare-binary messages say so in their
   * header, and a store-mode consumer does not enrich them again.
   */
  enriched?: boolean;
}

/** TLS and SASL options of @platformatic/kafka from the bus section (files read now: errors surface at start). */
export function connectionOptions(cfg: BusConfig): { tls?: TlsOptions; sasl?: SASLOptions } {
  const out: { tls?: TlsOptions; sasl?: SASLOptions } = {};
  if (cfg.tls.enabled) {
    const t: TlsOptions = { rejectUnauthorized: !cfg.tls.insecure };
    if (cfg.tls.ca) t.ca = readFileSync(cfg.tls.ca);
    if (cfg.tls.cert) t.cert = readFileSync(cfg.tls.cert);
    if (cfg.tls.key) t.key = readFileSync(cfg.tls.key);
    if (cfg.tls.serverName) t.servername = cfg.tls.serverName;
    out.tls = t;
  }
  if (cfg.sasl.mechanism !== "none") {
    const mechanism = (
      { plain: "PLAIN", "scram-sha-256": "SCRAM-SHA-256", "scram-sha-512": "SCRAM-SHA-512" } as const
    )[cfg.sasl.mechanism];
    out.sasl = { mechanism, username: cfg.sasl.username, password: cfg.sasl.password };
  }
  return out;
}

export class KafkaProducer implements FlowConsumer {
  readonly name = "kafka-producer";
  private readonly cfg: BusConfig;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly encoder: FlowEncoder | null;
  private readonly history: PmacctHistory | null;
  private client: Producer<Buffer, Buffer, string, string> | null = null;
  /** TLS alerts after the handshake (a refused client certificate): ./errors.ts SocketErrors. */
  private readonly socketErrors = new SocketErrors();
  private readonly queue: Queued[] = [];
  /** Bytes of every buffered message, including those of the produce in flight. */
  private bufferBytes = 0;
  private sending = false;
  private timer: NodeJS.Timeout | null = null;
  private purgeTimer: NodeJS.Timeout | null = null;
  private backoffMs = 0;
  private stopped = false;
  private started = false;

  // Counters (metrics()).
  producedMessages = 0;
  producedFlows = 0;
  retriedMessages = 0;
  sendErrors = 0;
  droppedMessages = 0;
  droppedFlows = 0;
  droppedOnStop = 0;
  maxBufferBytes = 0;
  /** Failed produce requests by cause (src/bus/errors.ts): a wrong CA counts under tls, a wrong password under auth. */
  readonly errorsByKind: Record<BusErrorKind, number> = { tls: 0, auth: 0, network: 0, other: 0 };
  /** The last failure, described (GET /api/v1/kafka); null once a produce succeeds again. */
  lastError: BusError | null = null;

  constructor(cfg: BusConfig, opts: KafkaProducerOptions = {}) {
    this.cfg = cfg;
    this.log = opts.log ?? silentLogger;
    this.now = opts.now ?? Date.now;
    const p = cfg.producer;
    const common = { partitionKey: p.partitionKey };
    if (p.format === "pmacct-json") {
      const pm = {
        ...common,
        ...(p.pmacct.fields.length ? { fields: p.pmacct.fields } : {}),
        ...(p.pmacct.writerId ? { writerId: p.pmacct.writerId } : {}),
      };
      this.history =
        p.pmacct.historySeconds > 0
          ? new PmacctHistory({ ...pm, binSeconds: p.pmacct.historySeconds, maxEntries: p.pmacct.maxEntries })
          : null;
      this.encoder = this.history ? null : new PmacctJsonEncoder(pm);
    } else {
      this.history = null;
      this.encoder = new NagareBinaryEncoder({
        ...common,
        maxFlowsPerMessage: p.maxFlowsPerMessage,
        enriched: opts.enriched ?? false,
      });
    }
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const p = this.cfg.producer;
    this.client = new Producer<Buffer, Buffer, string, string>({
      clientId: this.cfg.clientId,
      bootstrapBrokers: this.cfg.brokers.map(parseBroker),
      acks: p.acks,
      compression: p.compression,
      // Our send loop retries (with the bounded buffer); the client's own
      // retries would hold a produce for a long time with no bound we control.
      retries: 1,
      retryDelay: 100,
      timeout: p.requestTimeoutMs,
      connectTimeout: Math.min(p.requestTimeoutMs, 5000),
      requestTimeout: p.requestTimeoutMs,
      autocreateTopics: false,
      ...connectionOptions(this.cfg),
    });
    this.socketErrors.watch(this.client);
    if (this.history) {
      this.purgeTimer = setInterval(() => this.purge(), this.cfg.producer.pmacct.refreshSeconds * 1000);
      this.purgeTimer.unref();
    }
  }

  consume(batch: FlowBatch): void {
    if (this.stopped || batch.length === 0) return;
    if (this.history) {
      if (this.history.add(batch)) this.purge(); // table full: purge early (bounded memory)
      return;
    }
    this.enqueue(this.encoder!.encode(batch));
  }

  /** pmacct time bins: publish the aggregates now (kafka_refresh_time). */
  purge(): void {
    if (!this.history || this.history.size === 0) return;
    const msgs = this.history.purge(this.now());
    // One aggregate per message: produced_flows counts aggregates here.
    this.enqueue(msgs);
  }

  private enqueue(msgs: BusMessage[]): void {
    const limit = this.cfg.producer.bufferBytes;
    for (const msg of msgs) {
      const size = msg.value.length + (msg.key?.length ?? 0) + MESSAGE_OVERHEAD;
      const f = msg.flows ?? 1;
      if (this.bufferBytes + size > limit) {
        this.droppedMessages++;
        this.droppedFlows += f;
        continue;
      }
      this.queue.push({ msg, size, flows: f });
      this.bufferBytes += size;
    }
    if (this.bufferBytes > this.maxBufferBytes) this.maxBufferBytes = this.bufferBytes;
    this.schedule();
  }

  private schedule(): void {
    if (this.sending || this.timer || this.queue.length === 0 || !this.client) return;
    const p = this.cfg.producer;
    const full = this.queue.length >= p.batchMessages || this.bufferBytes >= p.batchBytes;
    const delay = this.backoffMs > 0 ? this.backoffMs : full ? 0 : p.lingerMs;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.sendOnce();
    }, delay);
  }

  private async sendOnce(): Promise<void> {
    if (this.sending || !this.client || this.queue.length === 0) return;
    this.sending = true;
    const p = this.cfg.producer;
    let n = 0;
    let bytes = 0;
    while (
      n < this.queue.length &&
      n < p.batchMessages &&
      (n === 0 || bytes + this.queue[n]!.size <= p.batchBytes)
    ) {
      bytes += this.queue[n]!.size;
      n++;
    }
    const taken = this.queue.slice(0, n);
    try {
      await this.client.send({
        messages: taken.map((q) => ({
          topic: this.cfg.topic,
          ...(q.msg.key ? { key: q.msg.key } : {}),
          value: q.msg.value,
        })),
      });
      this.queue.splice(0, n);
      for (const q of taken) {
        this.bufferBytes -= q.size;
        this.producedFlows += q.flows;
      }
      this.producedMessages += n;
      this.backoffMs = 0;
      this.lastError = null;
    } catch (err) {
      // The messages stay at the head of the buffer, re-sent after the backoff.
      this.sendErrors++;
      const e = (this.lastError = describeBusError(err, Date.now(), this.socketErrors.recent()));
      this.errorsByKind[e.kind]++;
      this.retriedMessages += n;
      this.backoffMs = Math.min(this.backoffMs ? this.backoffMs * 2 : p.retryBackoffMs, p.retryMaxMs);
      this.log.limited("kafka-producer:send", "warn", "kafka produce failed, will retry", {
        messages: n,
        buffered: this.queue.length,
        bufferBytes: this.bufferBytes,
        retryInMs: this.backoffMs,
        kind: e.kind,
        error: e.message,
      });
    } finally {
      this.sending = false;
    }
    if (!this.stopped || this.draining) this.schedule();
  }

  private draining = false;

  /** Purge time bins, send what is buffered (up to requestTimeoutMs more), then close. What is left is counted as dropped. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    if (this.purgeTimer) clearInterval(this.purgeTimer);
    this.purge();
    this.stopped = true;
    this.draining = true;
    const deadline = Date.now() + this.cfg.producer.requestTimeoutMs;
    while (this.queue.length > 0 && this.client && Date.now() < deadline) {
      if (this.timer) {
        clearTimeout(this.timer);
        this.timer = null;
      }
      if (!this.sending) await this.sendOnce();
      else await new Promise((r) => setTimeout(r, 20));
      if (this.queue.length > 0 && this.backoffMs > 0)
        await new Promise((r) => setTimeout(r, Math.min(this.backoffMs, 500)));
    }
    this.draining = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.droppedOnStop += this.queue.length;
    this.queue.length = 0;
    this.bufferBytes = 0;
    await this.client?.close().catch(() => undefined);
    this.client = null;
  }

  /**
   * Counters and gauges for /metrics, rendered as nagare_kafka_producer_<name>
   * (docs/kafka.md, "Metrics"). dropped_*_buffer_full: refused because the
   * buffer was full; dropped_messages_shutdown: still buffered when stop() gave up.
   */
  metrics(): Record<string, number> {
    return {
      produced_messages: this.producedMessages,
      produced_flows: this.producedFlows,
      retried_messages: this.retriedMessages,
      produce_errors: this.sendErrors,
      produce_errors_tls: this.errorsByKind.tls,
      produce_errors_auth: this.errorsByKind.auth,
      produce_errors_network: this.errorsByKind.network,
      produce_errors_other: this.errorsByKind.other,
      dropped_messages_buffer_full: this.droppedMessages,
      dropped_flows_buffer_full: this.droppedFlows,
      dropped_messages_shutdown: this.droppedOnStop,
      buffer_bytes: this.bufferBytes,
      buffer_messages: this.queue.length,
      buffer_bytes_limit: this.cfg.producer.bufferBytes,
      buffer_bytes_max: this.maxBufferBytes,
      history_entries: this.history?.size ?? 0,
    };
  }
}
