// KafkaFlowSource: flows from a Kafka topic into the Pipeline, in a consumer
// group — the store/UI side of a split deployment (docs/kafka.md, "Consumer").
//
//   Kafka topic ─▶ @platformatic/kafka Consumer (group, manual commits)
//                    │ each message: FlowMessageDecoder (pmacct JSON | nagare binary) ─▶ FlowBatch rows
//                    ▼
//                 Pipeline.push(batch) ─▶ StoreWriter (appends) … ─▶ durability barrier (store flush)
//                    │
//                    └─▶ commit offsets that are behind the barrier
//
// At-least-once: an offset is committed only after every flow of the
// messages before it was pushed into the pipeline AND the barrier (in the
// app: a store flush that committed without error) resolved after that push.
// A crash between the store's COMMIT and the offset commit replays those
// messages: duplicates, bounded by one commit interval (commitIntervalMs)
// plus one barrier; never a loss. docs/kafka.md says it precisely.
//
// Malformed messages are counted by reason and skipped (the decoders never
// throw); the consumer itself never throws into the caller after start().
import { Consumer, type Message } from "@platformatic/kafka";
import { BatchPool, type FlowBatch } from "../collector/batch.js";
import { silentLogger, type Logger } from "../log.js";
import { binaryPreenriched } from "./binary.js";
import { describeBusError, SocketErrors, type BusError, type BusErrorKind } from "./errors.js";
import type { BatchSink, BusFormat, FlowMessageDecoder } from "./types.js";

/** Which decoder a message goes to: one format, or "auto" (a leading "{" is pmacct JSON, anything else nagare binary). */
export type ConsumerFormat = BusFormat | "auto";

export interface KafkaConsumerOptions {
  /** "host:port" bootstrap brokers. */
  brokers: string[];
  topic: string;
  /** Consumer group: consumers sharing it split the topic's partitions. */
  groupId: string;
  clientId?: string;
  format: ConsumerFormat;
  /** Decoders by format (at least the one `format` names; both for "auto"). */
  decoders: Partial<Record<BusFormat, FlowMessageDecoder>>;
  /** Where a group without a committed offset starts: the oldest retained message or only new ones. */
  startFrom?: "earliest" | "latest";
  /** Offsets are committed (after the barrier) at most this often. */
  commitIntervalMs?: number;
  /** Lag (high watermark − committed offset) is refreshed this often; 0 = only on refreshLag(). */
  lagIntervalMs?: number;
  /** Rows per FlowBatch handed to the pipeline. */
  batchRows?: number;
  /** Longest wait of one fetch when the topic is idle. */
  maxWaitMs?: number;
  sessionTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  /** Extra client options (TLS, SASL …) passed to the Consumer as they are. */
  connection?: Record<string, unknown>;
  /**
   * Receives each full or flushed batch (App: pipeline.push). The batch is
   * lent for the call. info.preenriched: every row of it comes from
   * nagare-binary messages whose producer had enriched them (the header flag,
   * docs/kafka.md): the App skips its own enrichment for this batch. A batch
   * never mixes flagged and unflagged rows.
   */
  push: (batch: FlowBatch, info: PushInfo) => void;
  /**
   * Resolves true once every row pushed before the call is durable (App:
   * store.flush() without a new flush error). false: offsets stay
   * uncommitted and the next round tries again. None: pushed = durable.
   */
  barrier?: () => Promise<boolean>;
  log?: Logger;
}

export interface PushInfo {
  preenriched: boolean;
}

/** One assigned partition's offsets, as the API and the UI show them. */
export interface PartitionLag {
  topic: string;
  partition: number;
  /** Next offset to decode (1 + the last message decoded); -1 before the first. */
  position: number;
  /** Offset committed for the group (-1: none yet). */
  committed: number;
  /** Log end offset at the last lag refresh. */
  highWatermark: number;
  /** highWatermark − committed (committed -1: − the log start). */
  lag: number;
}

export interface ConsumerStatus {
  topic: string;
  groupId: string;
  format: ConsumerFormat;
  memberId: string | null;
  /** Partitions of `topic` assigned to this member. */
  assigned: number[];
  partitions: PartitionLag[];
  /** Epoch ms of the last lag refresh (0: never). */
  lagUpdatedMs: number;
  metrics: Record<string, number>;
  malformed: Record<string, number>;
  /** The last broker error (join, fetch, commit, lag), classified (src/bus/errors.ts); null after a successful join. */
  lastError: BusError | null;
}

const key = (topic: string, partition: number): string => `${topic}:${partition}`;

export class KafkaFlowSource {
  readonly name = "kafka-consumer";
  readonly opts: Required<
    Pick<
      KafkaConsumerOptions,
      "startFrom" | "commitIntervalMs" | "lagIntervalMs" | "batchRows" | "maxWaitMs" | "clientId"
    >
  > &
    KafkaConsumerOptions;
  private readonly log: Logger;
  private consumer: Consumer | null = null;
  private stream: Awaited<ReturnType<Consumer["consume"]>> | null = null;
  private readonly pool: BatchPool;
  private current: FlowBatch | null = null;
  /** The rows of `current` (and of the next batch the sink hands out) come from pre-enriched messages. */
  private currentPre = false;
  private flushScheduled = false;
  /** First row of `current` not yet given a receive time (stampTimes). */
  private stampFrom = 0;
  /** Timestamp (epoch ms) of the message being decoded. */
  private messageTs = 0;
  /** Offsets (next to read) of messages decoded into `current`, not yet pushed. */
  private readonly decoded = new Map<string, bigint>();
  /** Offsets whose flows were pushed to the pipeline. */
  private readonly pushed = new Map<string, bigint>();
  /** Offsets committed by this member. */
  private readonly committedByUs = new Map<string, bigint>();
  /** Group offsets and log ends from the last lag refresh. */
  private readonly groupCommitted = new Map<string, bigint>();
  private readonly logEnd = new Map<string, bigint>();
  private readonly logStart = new Map<string, bigint>();
  private lagUpdatedMs = 0;
  private commitTimer: NodeJS.Timeout | null = null;
  private lagTimer: NodeJS.Timeout | null = null;
  private commitChain: Promise<void> = Promise.resolve();
  private stopping = false;
  private readonly sink: BatchSink;

  // Counters (metrics()).
  messages = 0;
  messageBytes = 0;
  flows = 0;
  batches = 0;
  malformed = 0;
  readonly malformedBy = new Map<string, number>();
  commits = 0;
  commitErrors = 0;
  /** Commit rounds skipped because the barrier said the store did not commit. */
  barrierFailures = 0;
  streamErrors = 0;
  lagErrors = 0;
  rebalances = 0;
  /** Batches (and their flows) pushed with preenriched: true. */
  batchesPreenriched = 0;
  flowsPreenriched = 0;
  /** Broker errors by cause (join, stream, commit, lag). */
  readonly errorsByKind: Record<BusErrorKind, number> = { tls: 0, auth: 0, network: 0, other: 0 };
  lastError: BusError | null = null;

  constructor(opts: KafkaConsumerOptions) {
    this.opts = {
      startFrom: "earliest",
      commitIntervalMs: 1000,
      lagIntervalMs: 5000,
      batchRows: 4096,
      maxWaitMs: 500,
      clientId: "nagare-consumer",
      ...opts,
    };
    this.log = opts.log ?? silentLogger;
    if (opts.format !== "auto" && !opts.decoders[opts.format])
      throw new Error(`kafka consumer: no decoder for format ${opts.format}`);
    if (opts.format === "auto" && (!opts.decoders["pmacct-json"] || !opts.decoders["nagare-binary"]))
      throw new Error('kafka consumer: format "auto" needs both decoders');
    this.pool = new BatchPool(this.opts.batchRows, 8);
    this.sink = {
      batch: (): FlowBatch => {
        let b = this.current;
        if (b && b.full) {
          this.stampTimes(b);
          this.pushCurrent();
          b = null;
        }
        if (!b) {
          b = this.current = this.pool.get();
          this.stampFrom = 0;
        }
        return b;
      },
    };
  }

  async start(): Promise<void> {
    const o = this.opts;
    const consumer = new Consumer({
      ...(o.connection ?? {}),
      clientId: o.clientId,
      groupId: o.groupId,
      bootstrapBrokers: o.brokers,
      sessionTimeout: o.sessionTimeoutMs ?? 10_000,
      heartbeatInterval: o.heartbeatIntervalMs ?? 1_000,
      maxWaitTime: o.maxWaitMs,
      autocommit: false,
    });
    this.consumer = consumer;
    this.socketErrors.watch(consumer);
    consumer.on("consumer:group:join", () => {
      this.rebalances++;
      this.forgetRevoked();
    });
    // The first stream is awaited once: a broker that answers is joined
    // before start() returns. A broker away at start (or later) is retried in
    // the background: the store and the UI keep running meanwhile.
    await this.openStream();
    this.commitTimer = setInterval(() => void this.commitNow(), o.commitIntervalMs);
    this.commitTimer.unref();
    if (o.lagIntervalMs > 0) {
      this.lagTimer = setInterval(() => void this.refreshLag().catch(() => undefined), o.lagIntervalMs);
      this.lagTimer.unref();
    }
  }

  /** Open the message stream (group join, fetch from the committed offsets); on failure, retry later. */
  private async openStream(): Promise<void> {
    const o = this.opts;
    const consumer = this.consumer;
    if (!consumer || this.stopping) return;
    let stream: Awaited<ReturnType<Consumer["consume"]>>;
    try {
      stream = await consumer.consume({
        topics: [o.topic],
        autocommit: false,
        mode: "committed",
        fallbackMode: o.startFrom,
        maxWaitTime: o.maxWaitMs,
        sessionTimeout: o.sessionTimeoutMs ?? 10_000,
        heartbeatInterval: o.heartbeatIntervalMs ?? 1_000,
      });
    } catch (err) {
      this.streamErrors++;
      const e = this.noteError(err);
      this.log.limited("kafka:consumer", "error", "kafka consumer cannot join (retrying)", {
        topic: o.topic,
        kind: e.kind,
        error: e.message,
      });
      this.scheduleReopen();
      return;
    }
    if (this.stopping) {
      await stream.close().catch(() => undefined);
      return;
    }
    this.stream = stream;
    this.lastError = null;
    stream.on("data", (m: Message) => this.onMessage(m));
    stream.on("error", (err: Error) => {
      this.streamErrors++;
      const e = this.noteError(err);
      this.log.limited("kafka:consumer", "error", "kafka consumer stream error (reopening)", {
        kind: e.kind,
        error: e.message,
      });
    });
    // A stream ends on a fetch error (broker gone, leader moved …): commit
    // what is durable (the new stream starts from the committed offsets, so
    // whatever is committed is not read twice), then open a new one.
    stream.once("close", () => {
      if (this.stream === stream) this.stream = null;
      if (!this.stopping) this.scheduleReopen();
    });
  }

  /** Classify, count and keep a broker error. */
  private noteError(err: unknown): BusError {
    const e = (this.lastError = describeBusError(err, Date.now(), this.socketErrors.recent()));
    this.errorsByKind[e.kind]++;
    return e;
  }

  /** TLS alerts after the handshake (a refused client certificate): ./errors.ts SocketErrors. */
  private readonly socketErrors = new SocketErrors();

  private reopenTimer: NodeJS.Timeout | null = null;
  /** Stream restarts after an error. */
  reopens = 0;

  private scheduleReopen(): void {
    if (this.reopenTimer || this.stopping) return;
    this.reopenTimer = setTimeout(() => {
      this.reopenTimer = null;
      this.reopens++;
      void this.commitNow().then(() => this.openStream());
    }, 1000);
  }

  /** Decode one message into the current batch; a full batch is pushed from inside the sink. */
  private onMessage(m: Message): void {
    if (this.stopping) return;
    // A fetch sent before a rebalance can answer after it: records of a
    // partition now another member's. That member reads them too, from the
    // group's committed offset; taking them here as well would store them twice.
    if (!this.owns(m.partition)) {
      this.staleDropped++;
      return;
    }
    const value = m.value;
    this.messages++;
    const k = key(m.topic, m.partition);
    if (!value || value.length === 0) {
      this.countMalformed("empty");
    } else {
      this.messageBytes += value.length;
      const dec = this.decoderFor(value);
      // Flagged and unflagged rows never share a batch: the flag is per batch downstream.
      const pre = dec.format === "nagare-binary" && binaryPreenriched(value);
      if (pre !== this.currentPre) {
        if (this.current) this.pushCurrent();
        this.currentPre = pre;
      }
      this.messageTs = Number(m.timestamp);
      const out = dec.decode(value, this.sink);
      if (this.current) this.stampTimes(this.current);
      if (out.ok) this.flows += out.flows;
      else this.countMalformed(out.reason);
    }
    // A malformed message is consumed too: committing past it is what "skipped" means.
    this.decoded.set(k, m.offset + 1n);
    if (!this.flushScheduled) {
      // One fetch delivers its messages back to back: they share a batch, pushed right after.
      this.flushScheduled = true;
      setImmediate(() => {
        this.flushScheduled = false;
        this.pushCurrent();
      });
    }
  }

  /**
   * Rows of the current message without a receive time (pmacct aggregates
   * without timestamp primitives carry none) get the Kafka message's
   * timestamp: the producer's create time, or the broker's append time.
   * Without it they would land at 1970, outside every query and retention.
   */
  private stampTimes(b: FlowBatch): void {
    const t = b.cols.time_received;
    const ts = this.messageTs;
    for (let i = this.stampFrom; i < b.length; i++) if (t[i] === 0) t[i] = ts;
    this.stampFrom = b.length;
  }

  private decoderFor(value: Buffer): FlowMessageDecoder {
    const d = this.opts.decoders;
    if (this.opts.format !== "auto") return d[this.opts.format]!;
    // pmacct writes JSON objects; the binary format never starts with "{" (its magic).
    return value[0] === 0x7b ? d["pmacct-json"]! : d["nagare-binary"]!;
  }

  private countMalformed(reason: string): void {
    this.malformed++;
    this.malformedBy.set(reason, (this.malformedBy.get(reason) ?? 0) + 1);
    this.log.limited(`kafka:malformed:${reason}`, "warn", "malformed kafka message skipped", { reason });
  }

  /** Hand the current batch (if any rows) to the pipeline; its messages' offsets become committable. */
  private pushCurrent(): void {
    const b = this.current;
    this.current = null;
    if (b) {
      if (b.length > 0) {
        this.batches++;
        if (this.currentPre) {
          this.batchesPreenriched++;
          this.flowsPreenriched += b.length;
        }
        try {
          this.opts.push(b, { preenriched: this.currentPre });
        } finally {
          b.release();
        }
      } else b.release();
    }
    for (const [k, off] of this.decoded) this.pushed.set(k, off);
    this.decoded.clear();
  }

  /** Partitions revoked by a rebalance: their offsets are another member's to commit now. */
  private forgetRevoked(): void {
    const mine = new Set(this.assigned().map((p) => key(this.opts.topic, p)));
    for (const m of [this.pushed, this.committedByUs, this.decoded])
      for (const k of [...m.keys()]) if (!mine.has(k)) m.delete(k);
  }

  private ownedRef: unknown = null;
  private readonly owned = new Set<number>();
  /** Records dropped because their partition was no longer assigned to this member. */
  staleDropped = 0;

  private owns(partition: number): boolean {
    const a = this.consumer?.assignments ?? null;
    if (a !== this.ownedRef) {
      this.ownedRef = a;
      this.owned.clear();
      for (const p of a?.find((x) => x.topic === this.opts.topic)?.partitions ?? []) this.owned.add(p);
    }
    return this.owned.has(partition);
  }

  /** Partitions of the topic assigned to this member. */
  assigned(): number[] {
    const a = this.consumer?.assignments?.find((x) => x.topic === this.opts.topic);
    return a ? [...a.partitions].sort((x, y) => x - y) : [];
  }

  /**
   * Push the current batch, wait for the barrier, commit the offsets pushed
   * before it. Rounds run one after the other (a slow barrier never overlaps
   * the next round). Resolves when this round is done; never rejects.
   */
  commitNow(): Promise<void> {
    this.commitChain = this.commitChain.then(() => this.commitRound());
    return this.commitChain;
  }

  private async commitRound(): Promise<void> {
    const consumer = this.consumer;
    if (!consumer) return;
    this.pushCurrent();
    const todo: { topic: string; partition: number; offset: bigint; leaderEpoch: number }[] = [];
    for (const [k, off] of this.pushed) {
      if (this.committedByUs.get(k) === off) continue;
      const i = k.lastIndexOf(":");
      todo.push({ topic: k.slice(0, i), partition: Number(k.slice(i + 1)), offset: off, leaderEpoch: -1 });
    }
    if (todo.length === 0) return;
    try {
      if (this.opts.barrier && !(await this.opts.barrier())) {
        this.barrierFailures++;
        return;
      }
      await consumer.commit({ offsets: todo });
      this.commits++;
      this.lastError = null;
      for (const t of todo) this.committedByUs.set(key(t.topic, t.partition), t.offset);
    } catch (err) {
      // A rebalance in progress or a broker away: the next round commits (higher) offsets again.
      this.commitErrors++;
      const e = this.noteError(err);
      this.log.limited("kafka:commit", "warn", "kafka offset commit failed", {
        kind: e.kind,
        error: e.message,
      });
    }
  }

  /** Re-read log ends and the group's committed offsets (the lag). */
  async refreshLag(): Promise<void> {
    const consumer = this.consumer;
    if (!consumer) return;
    const topic = this.opts.topic;
    try {
      const [ends, starts] = await Promise.all([
        consumer.listOffsets({ topics: [topic] }),
        consumer.listOffsets({ topics: [topic], timestamp: -2n }),
      ]);
      const assigned = this.assigned();
      const committed = assigned.length
        ? await consumer.listCommittedOffsets({ topics: [{ topic, partitions: assigned }] })
        : new Map<string, bigint[]>();
      this.logEnd.clear();
      this.logStart.clear();
      this.groupCommitted.clear();
      (ends.get(topic) ?? []).forEach((o, p) => this.logEnd.set(key(topic, p), o));
      (starts.get(topic) ?? []).forEach((o, p) => this.logStart.set(key(topic, p), o));
      const c = committed.get(topic) ?? [];
      for (const p of assigned) {
        const v = c[p];
        if (v !== undefined) this.groupCommitted.set(key(topic, p), v);
      }
      this.lagUpdatedMs = Date.now();
    } catch (err) {
      this.lagErrors++;
      const e = this.noteError(err);
      this.log.limited("kafka:lag", "warn", "kafka lag refresh failed", { kind: e.kind, error: e.message });
      throw err;
    }
  }

  /** Per assigned partition: position, committed offset, log end, lag (from the last refreshLag()). */
  partitions(): PartitionLag[] {
    const topic = this.opts.topic;
    return this.assigned().map((p) => {
      const k = key(topic, p);
      const end = this.logEnd.get(k) ?? -1n;
      const committed = this.groupCommitted.get(k) ?? -1n;
      const base = committed >= 0n ? committed : (this.logStart.get(k) ?? 0n);
      const pos = this.decoded.get(k) ?? this.pushed.get(k) ?? -1n;
      return {
        topic,
        partition: p,
        position: Number(pos),
        committed: Number(committed),
        highWatermark: Number(end),
        lag: end >= 0n ? Math.max(0, Number(end - base)) : 0,
      };
    });
  }

  /** Flat counters for /metrics (the lead's wiring) and tests. */
  metrics(): Record<string, number> {
    const parts = this.partitions();
    const m: Record<string, number> = {
      messages: this.messages,
      message_bytes: this.messageBytes,
      flows: this.flows,
      batches: this.batches,
      malformed: this.malformed,
      commits: this.commits,
      commit_errors: this.commitErrors,
      barrier_failures: this.barrierFailures,
      stream_errors: this.streamErrors,
      stream_reopens: this.reopens,
      lag_errors: this.lagErrors,
      rebalances: this.rebalances,
      stale_dropped: this.staleDropped,
      batches_preenriched: this.batchesPreenriched,
      flows_preenriched: this.flowsPreenriched,
      errors_tls: this.errorsByKind.tls,
      errors_auth: this.errorsByKind.auth,
      errors_network: this.errorsByKind.network,
      errors_other: this.errorsByKind.other,
      partitions_assigned: parts.length,
      lag: parts.reduce((s, p) => s + p.lag, 0),
    };
    for (const [r, n] of this.malformedBy) m[`malformed_${r}`] = n;
    return m;
  }

  status(): ConsumerStatus {
    return {
      topic: this.opts.topic,
      groupId: this.opts.groupId,
      format: this.opts.format,
      memberId: this.consumer?.memberId ?? null,
      assigned: this.assigned(),
      partitions: this.partitions(),
      lagUpdatedMs: this.lagUpdatedMs,
      metrics: this.metrics(),
      malformed: Object.fromEntries(this.malformedBy),
      lastError: this.lastError,
    };
  }

  /**
   * Stop fetching, push what was decoded, commit it behind the barrier, leave
   * the group (its partitions go to the other members at once).
   */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.commitTimer) clearInterval(this.commitTimer);
    if (this.lagTimer) clearInterval(this.lagTimer);
    if (this.reopenTimer) clearTimeout(this.reopenTimer);
    this.reopenTimer = null;
    this.commitTimer = this.lagTimer = null;
    const stream = this.stream;
    this.stream = null;
    if (stream) await stream.close().catch(() => undefined);
    await this.commitNow();
    const consumer = this.consumer;
    if (consumer) await new Promise<void>((done) => consumer.close(true, () => done()));
    this.consumer = null;
  }
}
