// Interface counters as time series: one series per (sFlow agent, ifIndex),
// fed by the decoder's counter samples (RecordSink.counters), read by the API
// (/api/v1/interfaces) and /metrics.
//
//   counter sample ──▶ CounterStore.add ──▶ Series (latest values + ring of points)
//
// sFlow counters are the agent's running totals (sflow_version_5.txt,
// if_counters: octets are unsigned hyper, packets/errors/discards unsigned
// int), so a rate is the difference between two samples divided by the time
// between them. The interval clock is the agent's uptime from the datagram
// header (ms, the agent's own clock: exact even when datagrams queue or are
// replayed), falling back to receive time when the uptime cannot be used.
//
// A counter that goes backwards is either a wrap or a reset:
//   - wrap: 32-bit counters (and 64-bit octet fields that agents fill from
//     32-bit ifInOctets) wrap at 2^32, true 64-bit ones at 2^64. A wrap is
//     accepted only when the wrapped difference is plausible for the
//     interface speed over the interval (≤ 2 × line rate; without a speed,
//     less than half the counter range), else it is a reset;
//   - reset: agent restart (uptime went backwards), data source restart
//     (sample sequence went backwards) or a cleared counter. The point is
//     stored without rates ("a counter going backwards is a reset, not a
//     huge negative") and counted.
// A sample with the same sequence and uptime as the previous one is a
// duplicate (a datagram sent twice); a slightly older one arrived late. Both
// are counted and ignored.
//
// Memory is bounded three ways: points older than the retention window are
// dropped; at most `maxSeries` series (the least recently updated is evicted,
// counted); at most `maxPoints` points over all series (the least recently
// updated series lose their oldest points first, counted). Points live in one
// Float64Array ring per series (POINT_FIELDS numbers each), not in objects.
import { formatIp, parseIp } from "./ip.js";
import type { InterfaceCounters } from "./types.js";

export interface CounterStoreOptions {
  /** Points older than this (receive time) are dropped. */
  retentionSeconds: number;
  /** Series kept; beyond, the least recently updated is evicted. */
  maxSeries: number;
  /** Points kept over all series. */
  maxPoints: number;
  now?: () => number;
}

export const COUNTER_DEFAULTS = { retentionSeconds: 3600, maxSeries: 100_000, maxPoints: 500_000 };

/** The twelve running counters of if_counters kept per point, in storage order. */
export const COUNTER_NAMES = [
  "inOctets",
  "inUcastPkts",
  "inMulticastPkts",
  "inBroadcastPkts",
  "inDiscards",
  "inErrors",
  "outOctets",
  "outUcastPkts",
  "outMulticastPkts",
  "outBroadcastPkts",
  "outDiscards",
  "outErrors",
] as const;
export type CounterName = (typeof COUNTER_NAMES)[number];
const NC = COUNTER_NAMES.length;
/** Octets are unsigned hyper on the wire (64-bit), everything else unsigned int (32-bit). */
const WIDTH: readonly number[] = COUNTER_NAMES.map((n) => (n.endsWith("Octets") ? 64 : 32));
const IS_OCTETS: readonly boolean[] = COUNTER_NAMES.map((n) => n.endsWith("Octets"));

// Point layout in the ring: time, uptime, speed, status, 12 counters, interval, 12 rates.
const P_T = 0;
const P_UPTIME = 1;
const P_SPEED = 2;
const P_STATUS = 3;
const P_COUNTERS = 4;
const P_INTERVAL = P_COUNTERS + NC;
const P_RATES = P_INTERVAL + 1;
export const POINT_FIELDS = P_RATES + NC;

const TWO32 = 4294967296;
const TWO64 = 18446744073709551616;
/** Smallest frame on the wire (bytes): bounds a plausible packet-counter wrap. */
const MIN_FRAME = 64;
/** Uptime wraps at 2^32 ms (49.7 days); a drop from this close to the top is a wrap, not a restart. */
const UPTIME_WRAP_WINDOW = 86_400_000;
/** A sample at most this many sequence numbers behind the last one arrived late (reordered). */
const LATE_WINDOW = 64;
/** How often (receive time) the whole store is swept for expired points and series. */
const SWEEP_MS = 10_000;

export interface CounterRates {
  /** Seconds the rates are averaged over (agent uptime difference, else receive time). */
  intervalSeconds: number;
  inOctetsPerSecond: number;
  outOctetsPerSecond: number;
  /** rate × 8 / ifSpeed × 100; null when the speed is unknown (0). */
  inUtilizationPercent: number | null;
  outUtilizationPercent: number | null;
  /** Unicast + multicast + broadcast. */
  inPacketsPerSecond: number;
  outPacketsPerSecond: number;
  inUcastPktsPerSecond: number;
  inMulticastPktsPerSecond: number;
  inBroadcastPktsPerSecond: number;
  outUcastPktsPerSecond: number;
  outMulticastPktsPerSecond: number;
  outBroadcastPktsPerSecond: number;
  inErrorsPerSecond: number;
  outErrorsPerSecond: number;
  inDiscardsPerSecond: number;
  outDiscardsPerSecond: number;
}

export interface CounterPoint extends Record<CounterName, number> {
  /** Receive time, ms since epoch. */
  t: number;
  /** Agent uptime (ms), null when unknown. */
  uptimeMs: number | null;
  ifSpeed: number;
  ifStatus: number;
  /** Rates over the interval ending at this point; null for the first point and after a reset. */
  rates: CounterRates | null;
}

export interface SeriesSummary {
  agent: string;
  ifIndex: number;
  subAgentId: number;
  /** UDP source of the last sample. */
  exporter: string;
  ifType: number;
  ifSpeed: number;
  ifDirection: number;
  ifStatus: number;
  adminUp: boolean;
  operUp: boolean;
  firstSeenMs: number;
  lastSeenMs: number;
  /** Counter samples accepted into this series. */
  samples: number;
  /** Points currently kept. */
  points: number;
  resets: number;
  wraps: number;
  latest: Record<CounterName, number>;
  rates: CounterRates | null;
  ethernet?: InterfaceCounters["ethernet"];
}

export interface CounterStoreStats {
  series: number;
  points: number;
  /** Counter samples offered (with or without generic counters). */
  samples: number;
  /** Samples without a generic interface record for an unknown series (nothing to keep). */
  ignored: number;
  duplicates: number;
  late: number;
  resets: number;
  wraps: number;
  /** Series evicted by maxSeries / maxPoints, or expired by the retention window. */
  seriesEvicted: number;
  seriesExpired: number;
  /** Points dropped by the maxPoints budget (not by age). */
  pointsEvicted: number;
}

class Series {
  readonly key: string;
  readonly agent: string;
  readonly ifIndex: number;
  subAgentId = 0;
  exporter = "";
  ifType = 0;
  ifDirection = 0;
  firstSeenMs = 0;
  lastSeenMs = 0;
  lastSeq = 0;
  samples = 0;
  resets = 0;
  wraps = 0;
  ethernet: InterfaceCounters["ethernet"];
  /** Ring of points: `count` points from `head`, capacity `cap`. */
  ring: Float64Array;
  head = 0;
  count = 0;
  cap: number;

  constructor(key: string, agent: string, ifIndex: number) {
    this.key = key;
    this.agent = agent;
    this.ifIndex = ifIndex;
    this.cap = 4;
    this.ring = new Float64Array(this.cap * POINT_FIELDS);
  }

  /** Offset of the i-th oldest point. */
  at(i: number): number {
    return ((this.head + i) % this.cap) * POINT_FIELDS;
  }

  /** Offset of the newest point (count > 0). */
  last(): number {
    return this.at(this.count - 1);
  }

  /** Room for one more point: grow (doubling) when full. Returns the new point's offset. */
  push(): number {
    if (this.count === this.cap) this.resize(this.cap * 2);
    const o = this.at(this.count);
    this.count++;
    return o;
  }

  dropOldest(): void {
    this.head = (this.head + 1) % this.cap;
    this.count--;
  }

  /** Drop points received before `cutoff`; returns how many. */
  expire(cutoff: number): number {
    let n = 0;
    while (this.count > 0 && this.ring[this.at(0) + P_T]! < cutoff) {
      this.dropOldest();
      n++;
    }
    // Shrink a mostly empty ring so a burst does not pin memory for an hour.
    if (this.cap > 16 && this.count * 4 < this.cap) this.resize(Math.max(4, this.cap / 2));
    return n;
  }

  /** Move the points, oldest first, into a new ring of `cap` points (cap >= count). */
  private resize(cap: number): void {
    const ring = new Float64Array(cap * POINT_FIELDS);
    for (let i = 0; i < this.count; i++) {
      const o = this.at(i);
      ring.set(this.ring.subarray(o, o + POINT_FIELDS), i * POINT_FIELDS);
    }
    this.ring = ring;
    this.cap = cap;
    this.head = 0;
  }
}

/**
 * Difference between two readings of a running counter of `width` bits, or
 * -1 when it went backwards and no wrap is plausible (a reset). `max` is the
 * largest difference the interface can produce in the interval (Infinity =
 * unknown: then a wrap must be less than half the counter's range).
 */
export function counterDelta(cur: number, prev: number, width: number, max: number): number {
  if (cur >= prev) return cur - prev;
  // Backwards. A 64-bit field holding 32-bit values wraps at 2^32, too.
  if (prev < TWO32 && cur < TWO32) {
    const d = cur + TWO32 - prev;
    if (Number.isFinite(max) ? d <= max : d < TWO32 / 2) return d;
  }
  if (width === 64 && prev >= TWO64 / 2) {
    const d = cur + TWO64 - prev;
    if (Number.isFinite(max) ? d <= max : d < TWO64 / 2) return d;
  }
  return -1;
}

export class CounterStore {
  readonly retentionSeconds: number;
  readonly maxSeries: number;
  readonly maxPoints: number;
  private readonly now: () => number;
  /** Insertion order = update order (updated series are re-inserted): first = least recently updated. */
  private readonly series = new Map<string, Series>();
  private totalPoints = 0;
  private lastSweep = 0;
  private readonly deltas = new Float64Array(NC);
  readonly stats: CounterStoreStats = {
    series: 0,
    points: 0,
    samples: 0,
    ignored: 0,
    duplicates: 0,
    late: 0,
    resets: 0,
    wraps: 0,
    seriesEvicted: 0,
    seriesExpired: 0,
    pointsEvicted: 0,
  };

  constructor(opts: Partial<CounterStoreOptions> = {}) {
    this.retentionSeconds = opts.retentionSeconds ?? COUNTER_DEFAULTS.retentionSeconds;
    this.maxSeries = Math.max(1, opts.maxSeries ?? COUNTER_DEFAULTS.maxSeries);
    this.maxPoints = Math.max(2, opts.maxPoints ?? COUNTER_DEFAULTS.maxPoints);
    this.now = opts.now ?? Date.now;
  }

  get size(): number {
    return this.series.size;
  }

  /** The RecordSink callback: one counter sample. Never throws on odd input. */
  readonly add = (rec: InterfaceCounters): void => {
    this.stats.samples++;
    const t = rec.receivedMs;
    if (t - this.lastSweep >= SWEEP_MS) this.sweep(t);
    const key = seriesKey(rec.agent, rec.ifIndex);
    let s = this.series.get(key);
    const g = rec.generic;
    if (!g) {
      // Ethernet-only sample: attach to the interface's series when there is one.
      if (s && rec.ethernet) s.ethernet = rec.ethernet;
      else this.stats.ignored++;
      return;
    }

    let rates = false;
    let dt = 0;
    if (s) {
      const lo = s.last();
      const r = s.ring;
      const prevUp = r[lo + P_UPTIME]!;
      const up = rec.uptimeMs ?? -1;
      const dseq = (rec.sequence - s.lastSeq) >>> 0;
      const sameAgentClock = prevUp >= 0 && up >= 0 && rec.subAgentId === s.subAgentId;
      if (dseq === 0 && (!sameAgentClock || up === prevUp)) {
        this.stats.duplicates++;
        return;
      }
      const seqBack = dseq > 0x80000000;
      let upBack = false;
      let dUp = 0;
      if (sameAgentClock) {
        if (up >= prevUp) dUp = up - prevUp;
        else if (prevUp >= TWO32 - UPTIME_WRAP_WINDOW && up < UPTIME_WRAP_WINDOW) dUp = up + TWO32 - prevUp;
        else upBack = true;
      }
      if (seqBack && TWO32 - dseq <= LATE_WINDOW && (!sameAgentClock || (upBack && prevUp - up < 600_000))) {
        this.stats.late++;
        return;
      }
      this.series.delete(key); // re-inserted below: most recently updated last
      if (seqBack || upBack) {
        s.resets++;
        this.stats.resets++;
      } else {
        dt = sameAgentClock ? dUp / 1000 : (t - r[lo + P_T]!) / 1000;
        // Largest plausible differences (for telling wraps from resets): twice line rate.
        const speed = g.ifSpeed > 0 ? g.ifSpeed : r[lo + P_SPEED]!;
        const maxOctets = speed > 0 && dt > 0 ? (speed / 8) * dt * 2 : Infinity;
        const maxPackets = speed > 0 && dt > 0 ? (speed / 8 / MIN_FRAME) * dt * 2 : Infinity;
        let reset = false;
        let wrapped = false;
        for (let k = 0; k < NC; k++) {
          const cur = counterValue(g, k);
          const prev = r[lo + P_COUNTERS + k]!;
          const d = counterDelta(cur, prev, WIDTH[k]!, IS_OCTETS[k] ? maxOctets : maxPackets);
          if (d < 0) {
            reset = true;
            break;
          }
          if (cur < prev) wrapped = true;
          this.deltas[k] = d;
        }
        if (reset) {
          s.resets++;
          this.stats.resets++;
        } else {
          if (wrapped) {
            s.wraps++;
            this.stats.wraps++;
          }
          rates = dt > 0;
        }
      }
    } else {
      s = new Series(key, rec.agent, rec.ifIndex);
      s.firstSeenMs = t;
      while (this.series.size >= this.maxSeries) this.evictOldestSeries();
    }
    this.series.set(key, s);

    s.subAgentId = rec.subAgentId;
    s.exporter = rec.exporter;
    s.ifType = g.ifType;
    s.ifDirection = g.ifDirection;
    s.lastSeenMs = t;
    s.lastSeq = rec.sequence;
    s.samples++;
    if (rec.ethernet) s.ethernet = rec.ethernet;

    const o = s.push();
    this.totalPoints++;
    const r = s.ring;
    r[o + P_T] = t;
    r[o + P_UPTIME] = rec.uptimeMs ?? -1;
    r[o + P_SPEED] = g.ifSpeed;
    r[o + P_STATUS] = g.ifStatus;
    for (let k = 0; k < NC; k++) r[o + P_COUNTERS + k] = counterValue(g, k);
    r[o + P_INTERVAL] = rates ? dt : 0;
    for (let k = 0; k < NC; k++) r[o + P_RATES + k] = rates ? this.deltas[k]! / dt : 0;

    while (this.totalPoints > this.maxPoints && this.evictOldestPoint(s));
    s.expire(t - this.retentionSeconds * 1000);
  };

  /** Drop expired points and series whose newest point is older than the retention window. */
  sweep(now = this.now()): void {
    this.lastSweep = now;
    const cutoff = now - this.retentionSeconds * 1000;
    for (const s of this.series.values()) {
      this.totalPoints -= s.expire(cutoff);
      if (s.count === 0) {
        this.series.delete(s.key);
        this.stats.seriesExpired++;
      }
    }
  }

  private evictOldestSeries(): void {
    const first = this.series.values().next();
    if (first.done) return;
    const s = first.value;
    this.series.delete(s.key);
    this.totalPoints -= s.count;
    this.stats.seriesEvicted++;
  }

  /** Over the point budget: the least recently updated series gives up its oldest point. */
  private evictOldestPoint(current: Series): boolean {
    const first = this.series.values().next();
    if (first.done) return false;
    const s = first.value;
    if (s === current && s.count <= 1) return false; // only the new point left: nothing else to take
    s.dropOldest();
    this.totalPoints--;
    this.stats.pointsEvicted++;
    if (s.count === 0) {
      this.series.delete(s.key);
      this.stats.seriesEvicted++;
    }
    return true;
  }

  /** Store-wide numbers for /metrics. */
  snapshot(): CounterStoreStats {
    return { ...this.stats, series: this.series.size, points: this.totalPoints };
  }

  /** Find a series by agent (any IPv4/IPv6 spelling) and ifIndex. */
  get(agent: string, ifIndex: number): Series | undefined {
    const s = this.series.get(seriesKey(agent, ifIndex));
    if (s) return s;
    const ip = parseIp(agent);
    return ip ? this.series.get(seriesKey(formatIp(ip, 0), ifIndex)) : undefined;
  }

  /** Series summaries sorted by agent then ifIndex (optionally one agent), at most `limit`. */
  list(opts: { agent?: string; limit?: number } = {}): { total: number; series: SeriesSummary[] } {
    this.sweep();
    let all = [...this.series.values()];
    if (opts.agent !== undefined) {
      const ip = parseIp(opts.agent);
      const want = ip ? formatIp(ip, 0) : opts.agent;
      all = all.filter((s) => s.agent === want);
    }
    all.sort((a, b) => (a.agent === b.agent ? a.ifIndex - b.ifIndex : a.agent < b.agent ? -1 : 1));
    const limit = opts.limit ?? all.length;
    return { total: all.length, series: all.slice(0, limit).map((s) => this.summary(s)) };
  }

  summary(s: Series): SeriesSummary {
    const o = s.last();
    const r = s.ring;
    const speed = r[o + P_SPEED]!;
    const status = r[o + P_STATUS]!;
    const out: SeriesSummary = {
      agent: s.agent,
      ifIndex: s.ifIndex,
      subAgentId: s.subAgentId,
      exporter: s.exporter,
      ifType: s.ifType,
      ifSpeed: speed,
      ifDirection: s.ifDirection,
      ifStatus: status,
      adminUp: (status & 1) !== 0,
      operUp: (status & 2) !== 0,
      firstSeenMs: s.firstSeenMs,
      lastSeenMs: s.lastSeenMs,
      samples: s.samples,
      points: s.count,
      resets: s.resets,
      wraps: s.wraps,
      latest: counters(r, o),
      rates: rates(r, o),
    };
    if (s.ethernet) out.ethernet = s.ethernet;
    return out;
  }

  /** The series' points, oldest first, received at or after `sinceMs`. */
  points(s: Series, sinceMs = 0): CounterPoint[] {
    const out: CounterPoint[] = [];
    const r = s.ring;
    for (let i = 0; i < s.count; i++) {
      const o = s.at(i);
      if (r[o + P_T]! < sinceMs) continue;
      const up = r[o + P_UPTIME]!;
      out.push({
        t: r[o + P_T]!,
        uptimeMs: up >= 0 ? up : null,
        ifSpeed: r[o + P_SPEED]!,
        ifStatus: r[o + P_STATUS]!,
        ...counters(r, o),
        rates: rates(r, o),
      });
    }
    return out;
  }

  /** The most recently updated series with rates, newest first, at most `n` (bounded /metrics). */
  latestRates(
    n: number,
  ): { agent: string; ifIndex: number; inOctetsPerSecond: number; outOctetsPerSecond: number }[] {
    const out: { agent: string; ifIndex: number; inOctetsPerSecond: number; outOctetsPerSecond: number }[] =
      [];
    const all = [...this.series.values()];
    for (let i = all.length - 1; i >= 0 && out.length < n; i--) {
      const s = all[i]!;
      const o = s.last();
      if (s.ring[o + P_INTERVAL]! <= 0) continue;
      out.push({
        agent: s.agent,
        ifIndex: s.ifIndex,
        inOctetsPerSecond: s.ring[o + P_RATES]!,
        outOctetsPerSecond: s.ring[o + P_RATES + 6]!,
      });
    }
    return out;
  }
}

export type { Series as CounterSeries };

function seriesKey(agent: string, ifIndex: number): string {
  return `${agent}|${ifIndex}`;
}

function counterValue(g: NonNullable<InterfaceCounters["generic"]>, k: number): number {
  switch (k) {
    case 0:
      return g.inOctets;
    case 1:
      return g.inUcastPkts;
    case 2:
      return g.inMulticastPkts;
    case 3:
      return g.inBroadcastPkts;
    case 4:
      return g.inDiscards;
    case 5:
      return g.inErrors;
    case 6:
      return g.outOctets;
    case 7:
      return g.outUcastPkts;
    case 8:
      return g.outMulticastPkts;
    case 9:
      return g.outBroadcastPkts;
    case 10:
      return g.outDiscards;
    default:
      return g.outErrors;
  }
}

function counters(r: Float64Array, o: number): Record<CounterName, number> {
  const out = {} as Record<CounterName, number>;
  for (let k = 0; k < NC; k++) out[COUNTER_NAMES[k]!] = r[o + P_COUNTERS + k]!;
  return out;
}

function rates(r: Float64Array, o: number): CounterRates | null {
  const dt = r[o + P_INTERVAL]!;
  if (dt <= 0) return null;
  const q = (k: number): number => r[o + P_RATES + k]!;
  const speed = r[o + P_SPEED]!;
  const util = (bytesPerSecond: number): number | null =>
    speed > 0 ? ((bytesPerSecond * 8) / speed) * 100 : null;
  return {
    intervalSeconds: dt,
    inOctetsPerSecond: q(0),
    outOctetsPerSecond: q(6),
    inUtilizationPercent: util(q(0)),
    outUtilizationPercent: util(q(6)),
    inPacketsPerSecond: q(1) + q(2) + q(3),
    outPacketsPerSecond: q(7) + q(8) + q(9),
    inUcastPktsPerSecond: q(1),
    inMulticastPktsPerSecond: q(2),
    inBroadcastPktsPerSecond: q(3),
    outUcastPktsPerSecond: q(7),
    outMulticastPktsPerSecond: q(8),
    outBroadcastPktsPerSecond: q(9),
    inErrorsPerSecond: q(5),
    outErrorsPerSecond: q(11),
    inDiscardsPerSecond: q(4),
    outDiscardsPerSecond: q(10),
  };
}
