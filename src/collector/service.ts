// CollectorService: the running collector around the decoder.
//
//   receive thread: UDP sockets ──copy──▶ DatagramRing (SharedArrayBuffer)
//   main thread:    ring ──▶ FlowDecoder.decode ──rows──▶ RecordSink ──batch──▶ onBatch (pipeline)
//                                                          ▲ BatchPool (batches recycled)
//
// The receive thread (ThreadedUdpListener, udp-worker.ts) only drains the
// sockets into the ring, so the kernel buffer empties even while this thread
// decodes or a consumer runs; node:dgram's per-datagram cost (about as much as
// decoding) runs there in parallel. Queues: the kernel socket buffer (its
// overflows are read back as kernel drops) and the ring (queue drops). With
// `receiveThread: false` sockets and decoding share this thread, one callback
// per datagram (the design before; kept for comparison). Timers: flush the partial
// batch every 100 ms (downstream sees flows within a second even at a trickle),
// decoder.tick every second (template/pending expiry), templates saved every
// 60 s and at stop, kernel drop counters read every 5 s.
import { parsePrefix, prefixContains, type Prefix } from "../config/address.js";
import { silentLogger, type Logger } from "../log.js";
import { BatchPool, type FlowBatch } from "./batch.js";
import { parseIp } from "./ip.js";
import type { CollectorStats } from "./stats.js";
import { RecordSink, type InterfaceCounters, type OptionsRecord, type PacketSource } from "./types.js";
import { ThreadedUdpListener, UdpListener, type BoundSocket, type ListenSpec } from "./udp.js";

/** What the service needs of the decoder (FlowDecoder implements it). */
export interface Decoder {
  decode(data: Uint8Array, src: PacketSource, sink: RecordSink): number;
  tick(nowMs: number): void;
  saveTemplates(): Promise<void>;
  loadTemplates(): Promise<void>;
  /** Per-exporter sampling override; used to apply prefix overrides ("10.0.0.0/8": rate). */
  setSamplingOverride?(exporter: string, rate: number): void;
}

export interface CollectorServiceOptions {
  listen: ListenSpec[];
  receiveBufferBytes: number;
  stats: CollectorStats;
  decoder: Decoder;
  onBatch: (batch: FlowBatch) => void;
  onOptions?: (rec: OptionsRecord) => void;
  /** sFlow interface counters (the counter time-series store). */
  onCounters?: (rec: InterfaceCounters) => void;
  log?: Logger;
  /**
   * Configured sampling overrides (collector.sampling.exporters). The decoder
   * matches exact addresses itself; keys that are prefixes ("10.0.0.0/8") are
   * resolved here, once per exporter when it is first heard, and handed to
   * decoder.setSamplingOverride (exact keys win, then the longest prefix).
   */
  samplingExporters?: Readonly<Record<string, number>>;
  /**
   * Receive on a separate thread (default true): the sockets live in a
   * worker that copies datagrams into a shared ring, and this thread decodes
   * them in batches (see ThreadedUdpListener). false: sockets and decoding on
   * this thread, one callback per datagram.
   */
  receiveThread?: boolean;
  batchCapacity?: number;
  flushIntervalMs?: number;
  tickIntervalMs?: number;
  saveIntervalMs?: number;
  dropsIntervalMs?: number;
}

interface ExporterEntry {
  exporter: string;
  ip: Uint8Array;
  lastMs: number;
  /** Handed to every decode() from this exporter; only receivedMs changes (no object per datagram). */
  src: PacketSource;
}

export class CollectorService {
  private readonly opts: CollectorServiceOptions;
  private readonly log: Logger;
  private readonly stats: CollectorStats;
  private readonly decoder: Decoder;
  private readonly sink: RecordSink;
  /** Recycled FlowBatches: onBatch gets a batch that is reused once it returns, unless retained. */
  readonly batchPool: BatchPool;
  private readonly listener: UdpListener | ThreadedUdpListener;
  private readonly exporters = new Map<string, ExporterEntry>();
  private readonly prefixes: { prefix: Prefix; rate: number }[] = [];
  private timers: NodeJS.Timeout[] = [];
  private running = false;
  /** Exceptions caught in the message handler (each one is a bug; the datagram is lost). */
  handlerErrors = 0;

  constructor(opts: CollectorServiceOptions) {
    this.opts = opts;
    this.log = opts.log ?? silentLogger;
    this.stats = opts.stats;
    this.decoder = opts.decoder;
    this.batchPool = new BatchPool(opts.batchCapacity ?? 2048);
    this.sink = new RecordSink(
      (b) => this.deliver(b),
      (rec) => {
        try {
          opts.onOptions?.(rec);
        } catch (err) {
          this.log.limited("options-consumer", "error", "options consumer failed", { error: String(err) });
        }
      },
      this.batchPool.capacity,
      (rec) => {
        try {
          opts.onCounters?.(rec);
        } catch (err) {
          this.log.limited("counters-consumer", "error", "counters consumer failed", { error: String(err) });
        }
      },
      this.batchPool,
    );
    this.listener =
      (opts.receiveThread ?? true)
        ? new ThreadedUdpListener({
            listen: opts.listen,
            receiveBufferBytes: opts.receiveBufferBytes,
            log: this.log,
            maxSources: this.stats.maxExporters * 2,
            onDatagram: (data, address, receivedMs) => this.onDatagram(data, address, receivedMs),
          })
        : new UdpListener({
            listen: opts.listen,
            receiveBufferBytes: opts.receiveBufferBytes,
            log: this.log,
            onMessage: (msg, rinfo) => this.onDatagram(msg, rinfo.address, Date.now()),
          });
    for (const [key, rate] of Object.entries(opts.samplingExporters ?? {})) {
      if (!key.includes("/")) continue;
      const p = parsePrefix(key);
      if (typeof p !== "string") this.prefixes.push({ prefix: p, rate });
    }
    this.prefixes.sort((a, b) => b.prefix.bits - a.prefix.bits); // longest first
    if (this.prefixes.length && !this.decoder.setSamplingOverride) {
      this.log.warn(
        "sampling overrides by prefix are not supported by this decoder; only exact addresses apply",
      );
    }
  }

  get bound(): readonly BoundSocket[] {
    return this.listener.bound;
  }

  get isRunning(): boolean {
    return this.running;
  }

  async start(): Promise<void> {
    try {
      await this.decoder.loadTemplates();
    } catch (err) {
      this.log.warn("saved templates not loaded", { error: String(err) });
    }
    await this.listener.start();
    this.running = true;
    const every = (ms: number, fn: () => void): void => {
      const t = setInterval(() => {
        try {
          fn();
        } catch (err) {
          this.log.limited("service-timer", "error", "collector timer failed", { error: String(err) });
        }
      }, ms);
      t.unref();
      this.timers.push(t);
    };
    every(this.opts.flushIntervalMs ?? 100, () => this.sink.flush());
    every(this.opts.tickIntervalMs ?? 1000, () => this.decoder.tick(Date.now()));
    every(this.opts.saveIntervalMs ?? 60_000, () => void this.save());
    every(this.opts.dropsIntervalMs ?? 5000, () => this.readDrops());
  }

  /** Close the sockets, hand on the last rows, save templates. Safe to call twice. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.readDrops();
    await this.listener.stop();
    this.sink.flush();
    await this.save();
  }

  /** Hand on rows decoded so far (tests, shutdown). */
  flush(): void {
    this.sink.flush();
  }

  /** Most recent datagram time from any exporter not in `exclude` (0 = none). */
  lastHeardMs(exclude?: ReadonlySet<string>): number {
    let last = 0;
    for (const e of this.exporters.values()) {
      if (e.lastMs > last && !exclude?.has(e.exporter)) last = e.lastMs;
    }
    return last;
  }

  readDrops(): void {
    const d = this.listener.readKernelDrops();
    if (d !== null) this.stats.kernelDrops = d;
    // The receive ring is the one user-space queue (nagare_collector_queue_drops_total).
    this.stats.queueDrops = this.ringDrops;
  }

  private async save(): Promise<void> {
    try {
      await this.decoder.saveTemplates();
    } catch (err) {
      this.log.limited("template-save", "warn", "templates not saved", { error: String(err) });
    }
  }

  private deliver(batch: FlowBatch): void {
    try {
      this.opts.onBatch(batch);
    } catch (err) {
      this.log.limited("on-batch", "error", "batch consumer failed", { error: String(err) });
    }
  }

  /** Datagrams lost between the receive thread and the decoder (ring full); 0 without a receive thread. */
  get ringDrops(): number {
    return this.listener instanceof ThreadedUdpListener ? this.listener.ringDrops : 0;
  }

  private onDatagram(msg: Uint8Array, address: string, now: number): void {
    // Nothing may escape: an exception here would kill the process (an
    // 'error' on the socket) for every exporter because of one datagram.
    try {
      const e = this.exporter(address);
      e.lastMs = now;
      e.src.receivedMs = now;
      this.decoder.decode(msg, e.src, this.sink);
    } catch (err) {
      this.handlerErrors++;
      this.log.limited("handler", "error", "unexpected error decoding a datagram", {
        exporter: address,
        error: err instanceof Error ? (err.stack ?? err.message) : String(err),
      });
    }
  }

  /** Exporter text + 16-byte address, parsed once per source address. */
  private exporter(address: string): ExporterEntry {
    let e = this.exporters.get(address);
    if (e) return e;
    // Keep the cache bounded like the stats table (spoofed sources).
    if (this.exporters.size >= this.stats.maxExporters * 2) this.exporters.clear();
    const text = address.startsWith("::ffff:") && address.includes(".") ? address.slice(7) : address;
    const ip = parseIp(text) ?? new Uint8Array(16);
    e = { exporter: text, ip, lastMs: 0, src: { exporter: text, exporterIp: ip, receivedMs: 0 } };
    this.exporters.set(address, e);
    this.resolveSampling(text, ip);
    return e;
  }

  private resolveSampling(exporter: string, ip: Uint8Array): void {
    const map = this.opts.samplingExporters;
    if (!map || this.prefixes.length === 0 || Object.hasOwn(map, exporter)) return;
    const hit = this.prefixes.find((p) => prefixContains(p.prefix, ip));
    if (hit) this.decoder.setSamplingOverride?.(exporter, hit.rate);
  }
}
