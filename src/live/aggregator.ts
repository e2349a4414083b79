// LiveAggregator: per-second bps / pps / flows for the last 10 minutes, in
// total and stacked by one dimension at a time (protocol, src/dst AS,
// exporter, in/out interface), for the live view (GET /api/v1/live, SSE).
//
// A pipeline consumer like RateMeter, but keyed: during the current second
// every dimension has a Map key → counters (bounded by maxKeys; keys beyond
// it are summed into "other"). When the second closes, each map is cut to its
// top N keys by bytes plus one "other" entry and frozen in a ring of closed
// seconds. Memory is therefore bounded by seconds × dimensions × (N + 1)
// entries however many distinct ASes or interfaces the traffic has.
//
// Counters are scaled by the record's sampling rate (0 = unknown counts as 1),
// as the store's *_scaled sums are, so live and explorer numbers agree.
// Seconds are wall-clock seconds of arrival at this consumer: a live view
// shows what the collector receives now, whatever the exporter's clock says.
import type { FlowBatch } from "../collector/batch.js";
import { formatIp } from "../collector/ip.js";
import type { FlowConsumer } from "../pipeline/index.js";

export const LIVE_DIMENSIONS = ["protocol", "dst_as", "src_as", "exporter", "in_if", "out_if"] as const;
export type LiveDimension = (typeof LIVE_DIMENSIONS)[number];

export function isLiveDimension(s: string): s is LiveDimension {
  return (LIVE_DIMENSIONS as readonly string[]).includes(s);
}

/** One key's (or the total's) traffic in one second, already scaled by sampling. */
export interface LiveCounts {
  bytes: number;
  packets: number;
  flows: number;
}

export interface LiveEntry extends LiveCounts {
  key: string;
}

/** One closed second for one dimension: bps/pps/flows per second are bytes*8, packets, flows. */
export interface LivePoint {
  /** Start of the second, epoch ms. */
  t: number;
  total: LiveCounts;
  /** Top keys by bytes, largest first, then "other" (when anything was left out). */
  top: LiveEntry[];
}

interface Second {
  t: number;
  total: LiveCounts;
  dims: Map<string, LiveCounts>[];
}

/**
 * A numeric-keyed map of the open second, plus what went past maxKeys. Keys
 * stay numbers while the second is open (no string built and hashed per flow
 * and dimension: that was most of this consumer's cost); they become the
 * LiveEntry keys ("tcp", "AS15169", "192.0.2.1 if 3") once, when it closes.
 */
interface NumDim {
  m: Map<number, LiveCounts>;
  over: LiveCounts | null;
}

/** The open second: per dimension, numbers as keys; interfaces per exporter key. */
interface OpenSecond {
  t: number;
  total: LiveCounts;
  proto: NumDim;
  dstAs: NumDim;
  srcAs: NumDim;
  exp: Map<string, LiveCounts>;
  expOver: LiveCounts | null;
  inIf: Map<string, NumDim>;
  outIf: Map<string, NumDim>;
  /** Distinct (exporter, ifIndex) keys so far, for the maxKeys bound across exporters. */
  inKeys: number;
  outKeys: number;
}

const numDim = (): NumDim => ({ m: new Map(), over: null });

/** Key for the remainder beyond the top N (or beyond maxKeys during the second). */
export const OTHER = "other";

const PROTOCOLS: Record<number, string> = {
  1: "icmp",
  2: "igmp",
  6: "tcp",
  17: "udp",
  41: "ipv6",
  47: "gre",
  50: "esp",
  51: "ah",
  58: "icmp6",
  89: "ospf",
  103: "pim",
  132: "sctp",
};

export function protocolName(p: number): string {
  return PROTOCOLS[p] ?? String(p);
}

export interface LiveOptions {
  /** Seconds kept (the window). */
  seconds?: number;
  /** Keys kept per dimension per closed second (plus "other"). */
  topN?: number;
  /** Distinct keys tracked per dimension during the open second. */
  maxKeys?: number;
  now?: () => number;
}

export class LiveAggregator implements FlowConsumer {
  readonly name = "live";
  readonly seconds: number;
  readonly topN: number;
  readonly maxKeys: number;
  private readonly now: () => number;
  /** Closed seconds, oldest first (at most `seconds`). */
  private readonly ring: Second[] = [];
  private open: OpenSecond;
  private timer: NodeJS.Timeout | null = null;
  private readonly listeners = new Set<(s: Second) => void>();
  /** Last sampling rate seen per exporter (0 = unknown), for the exporters page. */
  readonly sampling = new Map<string, number>();

  constructor(opts: LiveOptions = {}) {
    this.seconds = opts.seconds ?? 600;
    this.topN = opts.topN ?? 20;
    this.maxKeys = opts.maxKeys ?? 10_000;
    this.now = opts.now ?? Date.now;
    this.open = this.fresh(Math.floor(this.now() / 1000) * 1000);
  }

  private fresh(t: number): OpenSecond {
    return {
      t,
      total: { bytes: 0, packets: 0, flows: 0 },
      proto: numDim(),
      dstAs: numDim(),
      srcAs: numDim(),
      exp: new Map(),
      expOver: null,
      inIf: new Map(),
      outIf: new Map(),
      inKeys: 0,
      outKeys: 0,
    };
  }

  /** The open second with string keys, in LIVE_DIMENSIONS order (what close() cuts). */
  private keyed(o: OpenSecond): Second {
    const num = (d: NumDim, name: (k: number) => string): Map<string, LiveCounts> => {
      const out = new Map<string, LiveCounts>();
      for (const [k, c] of d.m) out.set(name(k), c);
      if (d.over) out.set(OTHER, d.over);
      return out;
    };
    const ifs = (per: Map<string, NumDim>): Map<string, LiveCounts> => {
      const out = new Map<string, LiveCounts>();
      let over: LiveCounts | null = null;
      for (const [exp, d] of per) {
        for (const [k, c] of d.m) out.set(`${exp} if ${k}`, c);
        if (d.over) over = sumInto(over, d.over);
      }
      if (over) out.set(OTHER, over);
      return out;
    };
    const exp = new Map(o.exp);
    if (o.expOver) exp.set(OTHER, o.expOver);
    // Same order as LIVE_DIMENSIONS: protocol, dst_as, src_as, exporter, in_if, out_if.
    const dims = [
      num(o.proto, protocolName),
      num(o.dstAs, (k) => `AS${k}`),
      num(o.srcAs, (k) => `AS${k}`),
      exp,
      ifs(o.inIf),
      ifs(o.outIf),
    ];
    return { t: o.t, total: o.total, dims };
  }

  async start(): Promise<void> {
    // Tick a little after each second boundary so the closed second is complete.
    const schedule = (): void => {
      const ms = 1000 - (this.now() % 1000) + 20;
      this.timer = setTimeout(() => {
        this.tick();
        schedule();
      }, ms);
      this.timer.unref();
    };
    schedule();
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.listeners.clear();
  }

  /** Called every second boundary: close the open second (and any missed empty ones). */
  tick(): void {
    const nowSec = Math.floor(this.now() / 1000) * 1000;
    while (this.open.t < nowSec) {
      const closed = this.close(this.keyed(this.open));
      this.ring.push(closed);
      if (this.ring.length > this.seconds) this.ring.shift();
      // A gap longer than the window: start over at the window's beginning.
      const next = Math.max(this.open.t + 1000, nowSec - this.seconds * 1000);
      this.open = this.fresh(next);
      for (const l of this.listeners) l(closed);
    }
  }

  /** Cut every dimension's map to its top N by bytes; the rest becomes OTHER. */
  private close(s: Second): Second {
    const dims = s.dims.map((m) => {
      if (m.size <= this.topN) return m;
      const sorted = [...m.entries()].sort((a, b) => b[1].bytes - a[1].bytes);
      const out = new Map<string, LiveCounts>();
      const other: LiveCounts = { bytes: 0, packets: 0, flows: 0 };
      for (const [k, c] of sorted) {
        if (out.size < this.topN && k !== OTHER) out.set(k, c);
        else {
          other.bytes += c.bytes;
          other.packets += c.packets;
          other.flows += c.flows;
        }
      }
      out.set(OTHER, other);
      return out;
    });
    return { t: s.t, total: s.total, dims };
  }

  consume(batch: FlowBatch): void {
    const c = batch.cols;
    const { bytes, packets, flows, sampling_rate, protocol, src_as, dst_as, in_if, out_if } = c;
    const exp = c.exporter_address;
    const s = this.open;
    const max = this.maxKeys;
    // Batches usually come from one exporter: format its address only when it changes.
    let lastExp = -1;
    let expKey = "";
    let expCounts: LiveCounts | null = null;
    let ins: NumDim = numDim();
    let outs: NumDim = numDim();
    let lastRate = -1;
    for (let r = 0; r < batch.length; r++) {
      const scale = Math.max(1, sampling_rate[r]!);
      const b = bytes[r]! * scale;
      const p = packets[r]! * scale;
      const f = (flows[r] || 1) * scale;
      s.total.bytes += b;
      s.total.packets += p;
      s.total.flows += f;
      if (lastExp < 0 || !sameIp(exp, lastExp * 16, r * 16)) {
        expKey = formatIp(exp, r * 16);
        lastExp = r;
        lastRate = -1;
        expCounts = s.exp.get(expKey) ?? null;
        if (!expCounts) {
          // Bounded: past maxKeys distinct keys this second, new keys go to OTHER.
          if (s.exp.size < max) s.exp.set(expKey, (expCounts = zero()));
          else expCounts = s.expOver ??= zero();
        }
        ins = perExporter(s.inIf, expKey);
        outs = perExporter(s.outIf, expKey);
      }
      if (sampling_rate[r] !== lastRate) {
        lastRate = sampling_rate[r]!;
        if (this.sampling.size < max || this.sampling.has(expKey)) this.sampling.set(expKey, lastRate);
      }
      addNum(s.proto, protocol[r]!, b, p, f, s.proto.m.size < max);
      addNum(s.dstAs, dst_as[r]!, b, p, f, s.dstAs.m.size < max);
      addNum(s.srcAs, src_as[r]!, b, p, f, s.srcAs.m.size < max);
      const e = expCounts!;
      e.bytes += b;
      e.packets += p;
      e.flows += f;
      if (addNum(ins, in_if[r]!, b, p, f, s.inKeys < max)) s.inKeys++;
      if (addNum(outs, out_if[r]!, b, p, f, s.outKeys < max)) s.outKeys++;
    }
  }

  /** One closed second as seen by one dimension. */
  point(s: Second, dim: LiveDimension): LivePoint {
    const m = s.dims[LIVE_DIMENSIONS.indexOf(dim)]!;
    const top: LiveEntry[] = [];
    let other: LiveEntry | null = null;
    for (const [key, c] of m) {
      if (key === OTHER) other = { key, ...c };
      else top.push({ key, ...c });
    }
    top.sort((a, b) => b.bytes - a.bytes);
    if (other) top.push(other);
    return { t: s.t, total: { ...s.total }, top };
  }

  /** The closed seconds of the window, oldest first, for one dimension (zeros are seconds without flows). */
  window(dim: LiveDimension): LivePoint[] {
    return this.ring.map((s) => this.point(s, dim));
  }

  /** Call `fn` with each second as it closes; returns the unsubscribe function. */
  subscribe(dim: LiveDimension, fn: (p: LivePoint) => void): () => void {
    const l = (s: Second): void => fn(this.point(s, dim));
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  /** Number of live subscribers (SSE clients). */
  get subscribers(): number {
    return this.listeners.size;
  }
}

const zero = (): LiveCounts => ({ bytes: 0, packets: 0, flows: 0 });

function sumInto(into: LiveCounts | null, c: LiveCounts): LiveCounts {
  const o = into ?? zero();
  o.bytes += c.bytes;
  o.packets += c.packets;
  o.flows += c.flows;
  return o;
}

function perExporter(per: Map<string, NumDim>, exp: string): NumDim {
  let d = per.get(exp);
  if (!d) per.set(exp, (d = numDim()));
  return d;
}

/** Count one flow under `key`; a new key only while `room` (else OTHER). True when a key was added. */
function addNum(d: NumDim, key: number, b: number, p: number, f: number, room: boolean): boolean {
  let e = d.m.get(key);
  let added = false;
  if (!e) {
    if (room) {
      d.m.set(key, (e = zero()));
      added = true;
    } else e = d.over ??= zero();
  }
  e.bytes += b;
  e.packets += p;
  e.flows += f;
  return added;
}

function sameIp(buf: Uint8Array, a: number, b: number): boolean {
  for (let i = 0; i < 16; i++) if (buf[a + i] !== buf[b + i]) return false;
  return true;
}
