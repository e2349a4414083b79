// The DDoS detector: per-second counters (counters.ts) in, attacks out.
//
// Every flow row adds its sampling-scaled bytes/packets/flows to its
// destination host, its /24 or /64 aggregate, its destination AS, exporter
// and input interface. When a second closes (closeUntil), every host and
// aggregate touched in it is compared with
//   - static thresholds: total pps/bps/flows and per vector (config, per
//     protected network), and
//   - its learned baseline for this hour of day (robust EWMA of pps and bps
//     over the seconds it received traffic): over k × baseline and over a
//     floor. Seconds over a threshold, and hosts under attack, are not
//     learned, and a learned second counts at most clip × the baseline, so an
//     attack (or a ramp) cannot teach the baseline that it is normal.
// A host or aggregate over a threshold starts an attack (or extends its
// ongoing one); an attack ends after quietSeconds without a second over.
// An aggregate whose excess is mostly one attacked host is that host's attack,
// not a carpet bombing, and is not reported twice.
//
// Fingerprints need per-flow detail (source ports, sources, ingress …) that
// per-second counters cannot hold for every host: a slot becomes "hot" when its
// open second reaches half of what would fire it, and from then on its flows
// also go into a detail accumulator (bounded: MAX_DETAILS at once, MAX_KEYS
// keys per map). An attack keeps its accumulator while it goes on.
import type { FlowBatch } from "../collector/batch.js";
import { formatIp } from "../collector/ip.js";
import { parsePrefix, type Prefix } from "../config/address.js";
import type { DetectConfig, Limit, ThresholdSet } from "./config.js";
import {
  C_CHARGEN,
  C_CLDAP,
  C_DNS,
  C_FRAG,
  C_ICMP,
  C_MEMCACHED,
  C_NTP,
  C_OTHER,
  C_SNMP,
  C_SSDP,
  C_SYN,
  C_TCP,
  C_UDP,
  classify,
  CounterTable,
  F_PINNED,
  hostKeyText,
  HOURS,
  isV4At,
  NCLASS,
  prefixKeyText,
  STRIDE,
  U32Index,
  v4At,
  v4Text,
  v6Key,
  v6KeyBytes,
} from "./counters.js";
import { mitigationText } from "./mitigation.js";
import {
  ATTACK_VECTORS,
  type Attack,
  type AttackVector,
  type Fingerprint,
  type SecondPoint,
  type TopEntry,
} from "./types.js";

/** evaluate(): over the baseline, but not for long enough yet. */
const PENDING: Firing = { trigger: "baseline", reason: "pending", vectors: [] };
/** Per learned second: the recent normal peak halves in about 700 seconds of traffic. */
const PEAK_DECAY = 0.999;
/** Detail accumulators at once, and keys per detail map. */
export const MAX_DETAILS = 256;
const MAX_KEYS = 2048;
/** Seconds of per-target history kept for the series before an attack starts. */
export const PRE_SECONDS = 60;
/** Points kept per attack series (pre-start included): an hour and a minute. */
export const MAX_SERIES = 3660;
const DAY_HOURS = 24;

interface Acc {
  b: number;
  p: number;
}

/** Per-flow detail of one hot host or aggregate (or an attack): what its traffic is made of. */
export class Details {
  firstMs = 0;
  bytes = 0;
  packets = 0;
  tcpPackets = 0;
  fragPackets = 0;
  readonly srcPorts = new Map<number, Acc>();
  readonly dstPorts = new Map<number, Acc>();
  readonly sources = new Map<number | string, Acc>();
  readonly srcAs = new Map<number, Acc>();
  readonly protocols = new Map<number, Acc>();
  readonly tcpFlags = new Map<number, Acc>();
  /** exporter index × 2^32 + ifIndex. */
  readonly ingress = new Map<number, Acc>();
  readonly sampling = new Set<number>();
  /** Destination hosts (aggregates only): host key → traffic. */
  readonly dsts = new Map<number | string, Acc>();

  add<K>(m: Map<K, Acc>, k: K, b: number, p: number): void {
    const e = m.get(k);
    if (e) {
      e.b += b;
      e.p += p;
    } else if (m.size < MAX_KEYS) m.set(k, { b, p });
  }
}

interface NetRule {
  prefix: Prefix;
  group: string;
  host: ThresholdSet;
  prefixThr: ThresholdSet;
}

/** One ongoing or ended attack with the detector's working state. */
export interface AttackRecord {
  attack: Attack;
  level: "host" | "prefix";
  table: CounterTable;
  slot: number;
  key: number | string;
  /** Cumulative bytes/packets per class over the attack's seconds over threshold. */
  cls: Float64Array;
  flows: number;
  seconds: number;
  detail: Details | null;
  series: SecondPoint[];
  lastEmitMs: number;
  lastEmitPeak: number;
  /** Vectors over their static threshold in any second so far. */
  fired: AttackVector[];
  /** Counters changed since the fingerprint was computed. */
  stale: boolean;
}

export interface DetectorHooks {
  started?(r: AttackRecord): void;
  updated?(r: AttackRecord): void;
  ended?(r: AttackRecord): void;
}

interface Firing {
  trigger: "static" | "baseline";
  reason: string;
  vectors: AttackVector[];
}

/** Packets (k=1) or bytes (k=0) of a vector from class counters at offset o (no closure: once per slot per second). */
function vectorOf(c: ArrayLike<number>, o: number, v: AttackVector, k: 0 | 1): number {
  const b = o + k;
  switch (v) {
    case "udp_flood":
      return Math.max(
        0,
        c[b + C_UDP * 2]! -
          c[b + C_DNS * 2]! -
          c[b + C_NTP * 2]! -
          c[b + C_SSDP * 2]! -
          c[b + C_MEMCACHED * 2]! -
          c[b + C_CLDAP * 2]! -
          c[b + C_CHARGEN * 2]! -
          c[b + C_SNMP * 2]!,
      );
    case "syn_flood":
      return c[b + C_SYN * 2]!;
    case "tcp_flood":
      return Math.max(0, c[b + C_TCP * 2]! - c[b + C_SYN * 2]!);
    case "icmp_flood":
      return c[b + C_ICMP * 2]!;
    case "fragment":
      return c[b + C_FRAG * 2]!;
    case "other":
      return c[b + C_OTHER * 2]!;
    case "dns_amplification":
      return c[b + C_DNS * 2]!;
    case "ntp_amplification":
      return c[b + C_NTP * 2]!;
    case "ssdp_amplification":
      return c[b + C_SSDP * 2]!;
    case "memcached_amplification":
      return c[b + C_MEMCACHED * 2]!;
    case "cldap_amplification":
      return c[b + C_CLDAP * 2]!;
    case "chargen_amplification":
      return c[b + C_CHARGEN * 2]!;
    case "snmp_amplification":
      return c[b + C_SNMP * 2]!;
  }
}

/** Vectors that make up a traffic mix: ≥ 30 % of packets or ≥ 50 % of bytes. */
export function vectorsOf(c: ArrayLike<number>, o: number): AttackVector[] {
  const bytes = c[o]!;
  const pk = c[o + 1]!;
  if (pk <= 0) return [];
  const out: { v: AttackVector; s: number }[] = [];
  for (const v of ATTACK_VECTORS) {
    const sp = vectorOf(c, o, v, 1) / pk;
    const sb = bytes > 0 ? vectorOf(c, o, v, 0) / bytes : 0;
    if (sp >= 0.3 || sb >= 0.5) out.push({ v, s: Math.max(sp, sb) });
  }
  out.sort((a, b) => b.s - a.s);
  return out.map((x) => x.v);
}

const FLAG_LETTERS: [number, string][] = [
  [0x01, "F"],
  [0x02, "S"],
  [0x04, "R"],
  [0x08, "P"],
  [0x10, "A"],
  [0x20, "U"],
];

function flagText(f: number): string {
  let s = "";
  for (const [bit, l] of FLAG_LETTERS) if (f & bit) s += l;
  return s || "none";
}

export interface DdosOptions {
  config: DetectConfig;
  hooks?: DetectorHooks;
  /** Wall clock (detectedMs); simulated in tests. */
  now?: () => number;
}

export class DdosDetector {
  readonly config: DetectConfig;
  readonly hosts: CounterTable;
  readonly prefixes: CounterTable;
  readonly ases: CounterTable;
  readonly exporters: CounterTable;
  readonly ifaces: CounterTable;
  hooks: DetectorHooks;
  private readonly now: () => number;
  private readonly nets: NetRule[];
  private readonly defaultThr: { host: ThresholdSet; prefix: ThresholdSet };
  /** Start (epoch ms) of the open second; 0 until the first flow or advance. */
  openMs = 0;
  readonly ongoing = new Map<string, AttackRecord>();
  private readonly details: (Details | null)[] = [];
  private readonly freeDetails: number[] = [];
  /** Exporter address text → index, and back. */
  private readonly exporterIdx = new Map<string, number>();
  readonly exporterNames: string[] = [];
  private readonly exporterV4 = new U32Index(64);
  /** Host slot → its aggregate's slot (−1 unknown), so a known host needs one lookup. */
  private hostPrefix: Int32Array = new Int32Array(1024).fill(-1);
  /** Last seconds of notable targets (for the series before an attack starts). */
  private readonly recent: { t: number; points: Map<string, SecondPoint> }[] = [];
  private attackSeq = 0;
  /** Seconds closed, flows counted, attacks started. */
  seconds = 0;
  flows = 0;
  attacksStarted = 0;
  /** Rows whose destination is outside every configured network. */
  untracked = 0;
  /** The last closed second's top destination ASes, exporters and interfaces by bps. */
  lastTop: { dstAs: TopEntry[]; exporters: TopEntry[]; interfaces: TopEntry[] } = {
    dstAs: [],
    exporters: [],
    interfaces: [],
  };
  private readonly cls = new Int8Array(3);
  /** Seconds the last-second top is still computed for after status() asked. */
  topWanted = 0;

  constructor(opts: DdosOptions) {
    const cfg = (this.config = opts.config);
    this.hooks = opts.hooks ?? {};
    this.now = opts.now ?? Date.now;
    this.hosts = new CounterTable({ max: cfg.maxHosts, baselines: true });
    this.prefixes = new CounterTable({ max: cfg.maxPrefixes, baselines: true });
    this.ases = new CounterTable({ max: 100_000, baselines: false });
    this.exporters = new CounterTable({ max: 65_536, baselines: false, initial: 64 });
    this.ifaces = new CounterTable({ max: 100_000, baselines: false });
    this.defaultThr = { host: cfg.thresholds.host, prefix: cfg.thresholds.prefix };
    this.nets = cfg.networks.map((n) => ({
      prefix: parsePrefix(n.prefix) as Prefix,
      group: n.group || n.prefix,
      host: merge(cfg.thresholds.host, n.thresholds?.host),
      prefixThr: merge(cfg.thresholds.prefix, n.thresholds?.prefix),
    }));
    // Most specific first, so the first match is the longest prefix.
    this.nets.sort((a, b) => b.prefix.bits - a.prefix.bits);
    const n = this.nets.length + 1;
    this.hosts.netHotPps = new Float32Array(n);
    this.hosts.netHotBps = new Float32Array(n);
    this.prefixes.netHotPps = new Float32Array(n);
    this.prefixes.netHotBps = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const h = this.thr(i, "host");
      const p = this.thr(i, "prefix");
      this.hosts.netHotPps[i] = staticHot(h, 1);
      this.hosts.netHotBps[i] = staticHot(h, 0);
      this.prefixes.netHotPps[i] = staticHot(p, 1);
      this.prefixes.netHotBps[i] = staticHot(p, 0);
    }
  }

  private thr(net: number, level: "host" | "prefix"): ThresholdSet {
    const n = net > 0 ? this.nets[net - 1] : undefined;
    if (!n) return level === "host" ? this.defaultThr.host : this.defaultThr.prefix;
    return level === "host" ? n.host : n.prefixThr;
  }

  private group(net: number): string {
    return net > 0 ? (this.nets[net - 1]?.group ?? "") : "";
  }

  /** Protected-network index + 1 of an address (0 = none; −1 = networks configured and none matches). */
  private netOf(ip: Uint8Array, o: number): number {
    if (this.nets.length === 0) return 0;
    for (let i = 0; i < this.nets.length; i++) if (containsAt(this.nets[i]!.prefix, ip, o)) return i + 1;
    return -1;
  }

  private exporterIndex(buf: Uint8Array, o: number): number {
    // IPv4 exporters (the usual case): a numeric index, no string per row.
    const v4 = isV4At(buf, o);
    if (v4) {
      const i = this.exporterV4.get(v4At(buf, o));
      if (i >= 0) return i;
    }
    const text = formatIp(buf, o);
    let i = this.exporterIdx.get(text);
    if (i === undefined) {
      if (this.exporterNames.length >= 65_535) return 65_535;
      i = this.exporterNames.length;
      this.exporterNames.push(text);
      this.exporterIdx.set(text, i);
    }
    if (v4) this.exporterV4.set(v4At(buf, o), i);
    return i;
  }

  /** Count one batch. Rows of a later second than the open one close the seconds in between first. */
  consume(batch: FlowBatch): void {
    const c = batch.cols;
    const { bytes, packets, flows, sampling_rate, protocol, tcp_flags, src_port, fragment } = c;
    const { dst_addr, dst_as, in_if, exporter_address, time_received } = c;
    const { time_flow_start, time_flow_end } = c;
    const spread = this.config.spreadFlows;
    const hosts = this.hosts;
    const prefixes = this.prefixes;
    const cls = this.cls;
    let lastExp = -1;
    let expIdx = 0;
    let lastAs = -1;
    let asSlot = -1;
    let lastExpIdx = -1;
    let expSlot = -1;
    for (let r = 0; r < batch.length; r++) {
      const tr = time_received[r]!;
      if (this.openMs === 0) this.openMs = Math.floor((tr || this.now()) / 1000) * 1000;
      if (tr >= this.openMs + 1000) this.closeUntil(Math.floor(tr / 1000) * 1000);
      const sec = this.openMs / 1000;
      let scale = Math.max(1, sampling_rate[r]!);
      if (spread) {
        // A flow record's packets were sent over its duration: its rate, not its total, belongs to this second.
        const st = time_flow_start[r]!;
        const dur = (time_flow_end[r]! - st) / 1000;
        if (st > 0 && dur > 1) scale /= dur < 3600 ? dur : 3600;
      }
      const b = bytes[r]! * scale;
      const p = packets[r]! * scale;
      const f = (flows[r]! || 1) * Math.max(1, sampling_rate[r]!);
      classify(protocol[r]!, tcp_flags[r]!, src_port[r]!, fragment[r]!, cls);
      const c1 = cls[0]!;
      const c2 = cls[1]!;
      const c3 = cls[2]!;
      this.flows++;
      const o = r * 16;
      if (lastExp < 0 || !sameIp(exporter_address, lastExp * 16, o)) {
        expIdx = this.exporterIndex(exporter_address, o);
        lastExp = r;
      }
      // Host, then its /24 or /64 aggregate (remembered per host slot, checked against reuse).
      let hs: number;
      let ps = -1;
      const hp = this.hostPrefix;
      if (isV4At(dst_addr, o)) {
        const v = v4At(dst_addr, o);
        hs = hosts.findNum(v);
        if (hs >= 0) {
          const q = hp[hs]!;
          if (q >= 0 && prefixes.num[q] === v >>> 8) ps = q;
          else ps = prefixes.findNum(v >>> 8);
        }
        if (hs < 0 || ps < 0) {
          const net = this.netOf(dst_addr, o);
          if (net < 0) this.untracked++;
          else {
            if (hs < 0) hs = hosts.slotNum(v, sec, net);
            if (ps < 0) ps = prefixes.slotNum(v >>> 8, sec, net);
          }
        }
      } else {
        const hk = v6Key(dst_addr, o, 8);
        hs = hosts.findStr(hk);
        if (hs >= 0) {
          const q = hp[hs]!;
          const qk = q >= 0 ? prefixes.str[q] : undefined;
          if (qk !== undefined && hk.startsWith(qk)) ps = q;
        }
        if (hs < 0 || ps < 0) {
          const pk = v6Key(dst_addr, o, 4);
          ps = prefixes.findStr(pk);
          if (hs < 0 || ps < 0) {
            const net = this.netOf(dst_addr, o);
            if (net < 0) this.untracked++;
            else {
              if (hs < 0) hs = hosts.slotStr(hk, sec, net);
              if (ps < 0) ps = prefixes.slotStr(pk, sec, net);
            }
          }
        }
      }
      if (hs >= 0) {
        if (hp.length < hosts.capacity) this.hostPrefix = growInt(hp, hosts.capacity);
        this.hostPrefix[hs] = ps;
        if (hosts.add(hs, sec, b, p, f, c1, c2, c3, -1)) this.detailRow(hosts, hs, batch, r, b, p, expIdx);
      }
      if (ps >= 0 && prefixes.add(ps, sec, b, p, f, c1, c2, c3, -1))
        this.detailRow(prefixes, ps, batch, r, b, p, expIdx);
      // AS, exporter, interface: consecutive rows often share them.
      const dAs = dst_as[r]!;
      if (dAs !== lastAs || asSlot < 0 || this.ases.num[asSlot] !== dAs) {
        lastAs = dAs;
        asSlot = this.ases.slotNum(dAs, sec, 0);
      }
      if (asSlot >= 0) this.ases.add(asSlot, sec, b, p, f, c1, c2, c3, -1);
      if (expIdx !== lastExpIdx || expSlot < 0 || this.exporters.num[expSlot] !== expIdx) {
        lastExpIdx = expIdx;
        expSlot = this.exporters.slotNum(expIdx, sec, 0);
      }
      if (expSlot >= 0) this.exporters.add(expSlot, sec, b, p, f, c1, c2, c3, -1);
      const inIf = in_if[r]!;
      const is =
        inIf < 65536 && expIdx < 65536
          ? this.ifaces.slotNum(((expIdx << 16) | inIf) >>> 0, sec, 0)
          : this.ifaces.slotStr(`${expIdx}:${inIf}`, sec, 0);
      if (is >= 0) this.ifaces.add(is, sec, b, p, f, c1, c2, c3, -1);
    }
  }

  /** A hot slot's row into its detail accumulator (created on first use; bounded). */
  private detailRow(
    t: CounterTable,
    s: number,
    batch: FlowBatch,
    r: number,
    b: number,
    p: number,
    expIdx: number,
  ): void {
    let di = t.detail[s]!;
    let d: Details | null | undefined;
    if (di < 0) {
      const fi = this.freeDetails.pop();
      if (fi !== undefined) di = fi;
      else if (this.details.length < MAX_DETAILS) {
        di = this.details.length;
        this.details.push(null);
      } else return;
      d = new Details();
      d.firstMs = batch.cols.time_received[r]! || this.now();
      this.details[di] = d;
      t.detail[s] = di;
    } else d = this.details[di];
    if (!d) return;
    const c = batch.cols;
    const proto = c.protocol[r]!;
    d.bytes += b;
    d.packets += p;
    if (c.fragment[r]) d.fragPackets += p;
    d.add(d.protocols, proto, b, p);
    if (proto === 6 || proto === 17) {
      d.add(d.srcPorts, c.src_port[r]!, b, p);
      d.add(d.dstPorts, c.dst_port[r]!, b, p);
    }
    if (proto === 6) {
      d.tcpPackets += p;
      d.add(d.tcpFlags, c.tcp_flags[r]! & 0x3f, b, p);
    }
    const o = r * 16;
    const src = c.src_addr;
    d.add(d.sources, isV4At(src, o) ? v4At(src, o) : v6Key(src, o, 8), b, p);
    d.add(d.srcAs, c.src_as[r]!, b, p);
    d.add(d.ingress, expIdx * 4294967296 + c.in_if[r]!, b, p);
    if (d.sampling.size < 16) d.sampling.add(c.sampling_rate[r]!);
    if (t === this.prefixes) {
      const dst = c.dst_addr;
      d.add(d.dsts, isV4At(dst, o) ? v4At(dst, o) : v6Key(dst, o, 8), b, p);
    }
  }

  private releaseDetail(t: CounterTable, s: number): void {
    const di = t.detail[s]!;
    if (di < 0) return;
    t.detail[s] = -1;
    this.details[di] = null;
    this.freeDetails.push(di);
  }

  /** Detail accumulators in use (hot slots and attacks). */
  get detailsInUse(): number {
    return this.details.length - this.freeDetails.length;
  }

  /**
   * Close every second before `ms` (epoch ms): the open one is evaluated, and
   * empty seconds in between only move attacks towards their end.
   */
  closeUntil(ms: number): void {
    const target = Math.floor(ms / 1000) * 1000;
    if (this.openMs === 0) {
      this.openMs = target;
      return;
    }
    if (this.openMs >= target) return;
    this.closeSecond();
    this.openMs += 1000;
    // Empty seconds: attacks with traffic gone still end on time.
    if (this.openMs < target) {
      if (target - this.openMs > PRE_SECONDS * 1000) {
        this.endQuiet(target - 1000);
        this.openMs = target;
      } else
        while (this.openMs < target) {
          this.seriesPoints(this.openMs, true);
          this.endQuiet(this.openMs);
          this.openMs += 1000;
        }
    }
  }

  private closeSecond(): void {
    const t = this.openMs;
    const hour = Math.floor(t / 3_600_000) % DAY_HOURS;
    this.seconds++;
    // Hosts first: their attacks explain (and suppress) their aggregate's.
    const attackedInPrefix = new Map<number | string, number>();
    const hosts = this.hosts;
    for (let i = 0; i < hosts.nTouched; i++) {
      const s = hosts.touched[i]!;
      const ev = this.evaluate(hosts, s, hour, "host");
      const fire = ev === PENDING ? null : ev;
      const pinned = (hosts.flags[s]! & F_PINNED) !== 0;
      if (fire) this.fired(hosts, s, "host", fire, t);
      else if (!pinned && ev !== PENDING) this.learn(hosts, s, hour);
      if (fire || pinned) {
        const k = hosts.keyOf(s);
        const pk = typeof k === "number" ? k >>> 8 : k.slice(0, 4);
        attackedInPrefix.set(pk, (attackedInPrefix.get(pk) ?? 0) + hosts.packetsOf(s));
      }
    }
    const prefixes = this.prefixes;
    for (let i = 0; i < prefixes.nTouched; i++) {
      const s = prefixes.touched[i]!;
      const explained = attackedInPrefix.get(prefixes.keyOf(s)) ?? 0;
      const mostlyHosts = explained >= 0.5 * prefixes.packetsOf(s);
      const ev = mostlyHosts ? null : this.evaluate(prefixes, s, hour, "prefix");
      const fire = ev === PENDING ? null : ev;
      const pinned = (prefixes.flags[s]! & F_PINNED) !== 0;
      if (fire && !pinned) {
        // One host carrying most of the aggregate (whose own baseline was not
        // learned yet): that host's attack, not a carpet bombing.
        const d = this.details[prefixes.detail[s]!];
        if (d && d.packets > 0) {
          let topK: number | string | null = null;
          let topP = 0;
          for (const [k, a] of d.dsts)
            if (a.p > topP) {
              topP = a.p;
              topK = k;
            }
          const hs =
            topK === null ? -1 : typeof topK === "number" ? hosts.findNum(topK) : hosts.findStr(topK);
          if (hs >= 0 && topP >= 0.5 * d.packets) {
            // One host's few records (an elephant flow) are no attack either.
            if (hosts.recordsOf(hs) >= this.config.minRecords && hosts.lastSec[hs] === t / 1000)
              this.fired(hosts, hs, "host", fire, t);
            continue;
          }
        }
      }
      if (fire) this.fired(prefixes, s, "prefix", fire, t);
      else if (!pinned && explained === 0 && ev !== PENDING) this.learn(prefixes, s, hour);
    }
    this.seriesPoints(t, false);
    this.recordRecent(t);
    this.endQuiet(t);
    // The AS/exporter/interface top only when someone looked at it recently (status API).
    if (this.topWanted > 0) {
      this.topWanted--;
      this.topOthers();
    }
    // Hot details of slots that did not become attacks start over next second.
    for (const tab of [hosts, prefixes]) {
      for (let i = 0; i < tab.nTouched; i++) {
        const s = tab.touched[i]!;
        if ((tab.flags[s]! & F_PINNED) === 0) this.releaseDetail(tab, s);
      }
      tab.resetSecond();
    }
    this.ases.resetSecond();
    this.exporters.resetSecond();
    this.ifaces.resetSecond();
  }

  /** Static thresholds, then the baseline; null when the second is normal. Also refreshes the hot marks. */
  private evaluate(t: CounterTable, s: number, hour: number, level: "host" | "prefix"): Firing | null {
    const cfg = this.config.baseline;
    const thr = this.thr(t.net[s]!, level);
    const o = s * STRIDE;
    const c = t.cnt;
    const pps = c[o + 1]!;
    const bps = c[o]! * 8;
    const fps = t.flowsOf(s);
    // Baseline bucket: this hour once learned, else all hours once learned.
    const bb = s * (HOURS + 1);
    // Once the detector itself has run minSamples seconds, a host with little
    // or no history is compared with what it has (the mean of its few seconds,
    // or nothing): a never-seen host receiving more than the floor is news.
    const warm = this.seconds > cfg.minSamples;
    const bi =
      t.baseN[bb + hour]! >= cfg.minSamples
        ? bb + hour
        : t.baseN[bb + HOURS]! >= cfg.minSamples || (warm && t.baseN[bb + HOURS]! > 0)
          ? bb + HOURS
          : warm
            ? -2
            : -1;
    const basePps = bi >= 0 ? t.basePps[bi]! : 0;
    const baseBps = bi >= 0 ? t.baseBps[bi]! : 0;
    // Next second's hot marks: half of what fires.
    const staticP = t.netHotPps[t.net[s]!]!;
    const staticB = t.netHotBps[t.net[s]!]!;
    const peakP = cfg.peakFactor * t.peakPps[s]!;
    const peakB = cfg.peakFactor * t.peakBps[s]!;
    if (cfg.enabled && bi !== -1) {
      t.hotPps[s] = Math.min(staticP, 0.5 * Math.max(cfg.k * basePps, cfg.floorPps, peakP));
      t.hotBps[s] = Math.min(staticB, 0.5 * Math.max(cfg.k * baseBps, cfg.floorBps, peakB));
    } else {
      t.hotPps[s] = staticP;
      t.hotBps[s] = staticB;
    }
    // Fast path (most slots, every second): below twice the hot marks nothing can fire,
    // as each mark is half of the lowest static limit or of the baseline's trigger level.
    if (pps <= 2 * t.hotPps[s]! && bps <= 2 * t.hotBps[s]! && thr.flowsPerSecond <= 0) return null;
    // A few flow records are never an attack, however many packets they stand
    // for once scaled by sampling (one sampled elephant flow).
    if (t.recordsOf(s) < this.config.minRecords) return null;
    const what = level;
    let fired: AttackVector[] | null = null;
    let reason = "";
    const limits = vectorLimits(thr);
    for (let i = 0; i < limits.length; i++) {
      const [v, l] = limits[i]!;
      const vp = l.pps > 0 ? vectorOf(c, o, v, 1) : 0;
      const vb = l.bps > 0 ? vectorOf(c, o, v, 0) * 8 : 0;
      if (l.pps > 0 && vp > l.pps) {
        (fired ??= []).push(v);
        reason ||= `static: ${v} pps ${fmt(vp)} > ${fmt(l.pps)} (${what} threshold)`;
      } else if (l.bps > 0 && vb > l.bps) {
        (fired ??= []).push(v);
        reason ||= `static: ${v} bps ${fmt(vb)} > ${fmt(l.bps)} (${what} threshold)`;
      }
    }
    if (!reason) {
      if (thr.pps > 0 && pps > thr.pps)
        reason = `static: pps ${fmt(pps)} > ${fmt(thr.pps)} (${what} threshold)`;
      else if (thr.bps > 0 && bps > thr.bps)
        reason = `static: bps ${fmt(bps)} > ${fmt(thr.bps)} (${what} threshold)`;
      else if (thr.flowsPerSecond > 0 && fps > thr.flowsPerSecond)
        reason = `static: flows/s ${fmt(fps)} > ${fmt(thr.flowsPerSecond)} (${what} threshold)`;
    }
    if (reason) return { trigger: "static", reason, vectors: mergeVectors(fired ?? [], vectorsOf(c, o)) };
    if (!cfg.enabled || bi === -1) return null;
    const hh = `${String(hour).padStart(2, "0")}:00 UTC`;
    const when =
      bi === -2
        ? "(no history)"
        : bi === bb + HOURS
          ? t.baseN[bi]! >= cfg.minSamples
            ? "over all hours"
            : `over its ${t.baseN[bi]} seconds seen`
          : `for ${hh}`;
    if (pps > cfg.floorPps && pps > cfg.k * basePps && pps > peakP)
      reason =
        basePps >= 1
          ? `baseline: pps ${fmt(pps)} is ${(pps / basePps).toFixed(1)}× usual ${fmt(basePps)} ${when}`
          : `baseline: pps ${fmt(pps)} over the floor ${fmt(cfg.floorPps)} ${when}`;
    else if (bps > cfg.floorBps && bps > cfg.k * baseBps && bps > peakB)
      reason =
        baseBps >= 1
          ? `baseline: bps ${fmt(bps)} is ${(bps / baseBps).toFixed(1)}× usual ${fmt(baseBps)} ${when}`
          : `baseline: bps ${fmt(bps)} over the floor ${fmt(cfg.floorBps)} ${when}`;
    if (!reason) return null;
    // Persistence: a baseline alert needs `seconds` consecutive seconds over
    // (one heavy-tailed second of sampled traffic is not an attack); the
    // seconds before are not learned either.
    const sec = this.openMs / 1000;
    if (t.runLast[s] !== sec - 1) t.runStart[s] = sec;
    t.runLast[s] = sec;
    if (sec - t.runStart[s]! + 1 < cfg.seconds) return PENDING;
    return { trigger: "baseline", reason, vectors: vectorsOf(c, o) };
  }

  /** Robust EWMA of a normal second into this hour's bucket and the all-hours one. */
  private learn(t: CounterTable, s: number, hour: number): void {
    const cfg = this.config.baseline;
    const pps = t.packetsOf(s);
    const bps = t.bytesOf(s) * 8;
    const bb = s * (HOURS + 1);
    // Recent normal peak: a decaying max, itself capped at k × the all-hours
    // baseline so a slow ramp cannot raise it without bound.
    const ready = t.baseN[bb + HOURS]! >= cfg.minSamples;
    const xp = ready ? Math.min(pps, cfg.k * t.basePps[bb + HOURS]!) : pps;
    const xb = ready ? Math.min(bps, cfg.k * t.baseBps[bb + HOURS]!) : bps;
    t.peakPps[s] = Math.max(xp, t.peakPps[s]! * PEAK_DECAY);
    t.peakBps[s] = Math.max(xb, t.peakBps[s]! * PEAK_DECAY);
    for (let j = 0; j < 2; j++) {
      const i = j === 0 ? bb + hour : bb + HOURS;
      const n = t.baseN[i]!;
      const bp = t.basePps[i]!;
      const bB = t.baseBps[i]!;
      // Warm-up: a plain mean of the first seconds; then EWMA with outliers clipped.
      const a = Math.max(cfg.alpha, 1 / (n + 1));
      const xp = n >= cfg.minSamples && bp > 0 ? Math.min(pps, cfg.clip * bp) : pps;
      const xb = n >= cfg.minSamples && bB > 0 ? Math.min(bps, cfg.clip * bB) : bps;
      t.basePps[i] = bp + a * (xp - bp);
      t.baseBps[i] = bB + a * (xb - bB);
      if (n < 255) t.baseN[i] = n + 1;
    }
  }

  private targetText(t: CounterTable, s: number, level: "host" | "prefix"): string {
    const k = t.keyOf(s);
    return level === "host" ? hostKeyText(k) : prefixKeyText(k);
  }

  /** A second over threshold: start an attack or extend the ongoing one. */
  private fired(t: CounterTable, s: number, level: "host" | "prefix", fire: Firing, sec: number): void {
    const prefix = this.targetText(t, s, level);
    const pps = t.packetsOf(s);
    const bps = t.bytesOf(s) * 8;
    const fps = t.flowsOf(s);
    let rec = this.ongoing.get(prefix);
    const o = s * STRIDE;
    if (!rec) {
      t.flags[s] = t.flags[s]! | F_PINNED;
      const di = t.detail[s]!;
      let detail = di >= 0 ? (this.details[di] ?? null) : null;
      if (!detail) {
        // Not hot before (a sudden attack after a quiet second): collect from now on.
        const fi = this.freeDetails.pop();
        const idx = fi ?? (this.details.length < MAX_DETAILS ? this.details.push(null) - 1 : -1);
        if (idx >= 0) {
          detail = new Details();
          detail.firstMs = sec;
          this.details[idx] = detail;
          t.detail[s] = idx;
        }
      }
      const net = t.net[s]!;
      // A baseline alert that waited for its run of seconds started at the run's first.
      const startMs =
        fire.trigger === "baseline" && t.runStart.length > s && t.runLast[s] === sec / 1000
          ? Math.min(sec, t.runStart[s]! * 1000)
          : sec;
      const id = `${sec.toString(36)}-${(++this.attackSeq).toString(36)}`;
      const attack: Attack = {
        id,
        target: { prefix, group: this.group(net) },
        state: "ongoing",
        startMs,
        lastMs: sec,
        endMs: null,
        peak: { bps, pps, flowsPerSecond: fps, atMs: sec },
        reason: fire.reason,
        trigger: fire.trigger,
        fingerprint: emptyFingerprint(),
        mitigation: { flowspec: "", rtbh: "" },
        firstSeenMs: detail && detail.firstMs > 0 ? Math.min(detail.firstMs, sec + 999) : sec,
        detectedMs: this.now(),
      };
      rec = {
        attack,
        level,
        table: t,
        slot: s,
        key: t.keyOf(s),
        cls: new Float64Array(NCLASS * 2),
        flows: 0,
        seconds: 0,
        detail,
        series: this.preSeries(prefix, startMs - PRE_SECONDS * 1000, sec),
        lastEmitMs: sec,
        lastEmitPeak: pps,
        fired: [],
        stale: true,
      };
      this.ongoing.set(prefix, rec);
      this.accumulate(rec, o, fire.vectors);
      this.attacksStarted++;
      this.refresh(rec);
      this.hooks.started?.(rec);
      return;
    }
    const a = rec.attack;
    a.lastMs = sec;
    if (pps > a.peak.pps || bps > a.peak.bps)
      a.peak = {
        bps: Math.max(bps, a.peak.bps),
        pps: Math.max(pps, a.peak.pps),
        flowsPerSecond: Math.max(fps, a.peak.flowsPerSecond),
        atMs: sec,
      };
    this.accumulate(rec, o, fire.vectors);
    // Updates: when the peak grew by 10 %, else every 10 s.
    if (a.peak.pps > rec.lastEmitPeak * 1.1 || sec - rec.lastEmitMs >= 10_000) {
      rec.lastEmitMs = sec;
      rec.lastEmitPeak = a.peak.pps;
      this.refresh(rec);
      this.hooks.updated?.(rec);
    }
  }

  private accumulate(rec: AttackRecord, o: number, fired: AttackVector[]): void {
    const c = rec.table.cnt;
    for (let k = 0; k < NCLASS * 2; k++) rec.cls[k] = rec.cls[k]! + c[o + k]!;
    rec.flows += c[o + NCLASS * 2]!;
    rec.seconds++;
    for (const v of fired) if (!rec.fired.includes(v)) rec.fired.push(v);
    rec.stale = true;
  }

  /**
   * Recompute an attack's fingerprint and mitigation text from its
   * accumulated counters and detail: at start, update and end events, and
   * when the API reads an ongoing attack (not every second: sorting the
   * detail maps is the costly part).
   */
  refresh(rec: AttackRecord): Attack {
    if (!rec.stale) return rec.attack;
    rec.stale = false;
    const fp = this.fingerprint(rec, rec.fired);
    rec.attack.fingerprint = fp;
    rec.attack.mitigation = mitigationText(rec.attack.target.prefix, fp);
    return rec.attack;
  }

  /** The fingerprint from the attack's cumulative class counters and detail. */
  private fingerprint(rec: AttackRecord, fired: AttackVector[]): Fingerprint {
    const fp = emptyFingerprint();
    fp.vectors = mergeVectors(fired, vectorsOf(rec.cls, 0));
    if (fp.vectors.length === 0) fp.vectors = ["other"];
    const pk = rec.cls[1]!;
    fp.packetSize = pk > 0 ? Math.round(rec.cls[0]! / pk) : 0;
    fp.fragmentShare = pk > 0 ? rec.cls[C_FRAG * 2 + 1]! / pk : 0;
    const d = rec.detail;
    if (!d) return fp;
    const dsecs = Math.max(1, (rec.attack.lastMs - Math.floor(d.firstMs / 1000) * 1000) / 1000 + 1);
    const top = <K>(m: Map<K, Acc>, name: (k: K) => string, n = 10): TopEntry[] =>
      [...m.entries()]
        .sort((x, y) => y[1].p - x[1].p)
        .slice(0, n)
        .map(([k, a]) => ({ key: name(k), bps: (a.b * 8) / dsecs, pps: a.p / dsecs }));
    fp.protocols = [...d.protocols.entries()].sort((x, y) => y[1].p - x[1].p).map(([k]) => k);
    fp.topSrcPorts = top(d.srcPorts, String);
    fp.topDstPorts = top(d.dstPorts, String);
    fp.topSources = top(d.sources, (k) => (typeof k === "number" ? v4Text(k) : formatIp(v6KeyBytes(k), 0)));
    fp.topSrcAs = top(d.srcAs, (k) => `AS${k}`);
    fp.ingress = [...d.ingress.entries()]
      .sort((x, y) => y[1].p - x[1].p)
      .slice(0, 10)
      .map(([k, a]) => ({
        exporter: this.exporterNames[Math.floor(k / 4294967296)] ?? "?",
        inIf: k % 4294967296,
        bps: (a.b * 8) / dsecs,
        pps: a.p / dsecs,
      }));
    if (d.tcpPackets > 0)
      for (const [f, a] of [...d.tcpFlags.entries()].sort((x, y) => y[1].p - x[1].p).slice(0, 8))
        fp.tcpFlags[flagText(f)] = a.p / d.tcpPackets;
    fp.samplingRates = [...d.sampling].sort((x, y) => x - y);
    return fp;
  }

  /** Per-second points of every ongoing attack's target for second t (zeros when untouched). */
  private seriesPoints(t: number, empty: boolean): void {
    for (const rec of this.ongoing.values()) {
      const tab = rec.table;
      const s = rec.slot;
      const touched = !empty && tab.lastSec[s] === t / 1000;
      rec.series.push({
        t,
        bps: touched ? tab.bytesOf(s) * 8 : 0,
        pps: touched ? tab.packetsOf(s) : 0,
        flowsPerSecond: touched ? tab.flowsOf(s) : 0,
      });
      if (rec.series.length > MAX_SERIES) rec.series.splice(PRE_SECONDS, 1);
    }
  }

  /** Remember the second's notable targets (≥ a tenth of the floor or the hot mark), for series before a start. */
  private recordRecent(t: number): void {
    const points = new Map<string, SecondPoint>();
    const mark = 0.1 * Math.min(this.config.baseline.floorPps, this.hosts.netHotPps[0]!);
    for (const [tab, level] of [
      [this.hosts, "host"],
      [this.prefixes, "prefix"],
    ] as const) {
      for (let i = 0; i < tab.nTouched && points.size < 2000; i++) {
        const s = tab.touched[i]!;
        const pps = tab.packetsOf(s);
        if (pps < mark) continue;
        points.set(this.targetText(tab, s, level), {
          t,
          bps: tab.bytesOf(s) * 8,
          pps,
          flowsPerSecond: tab.flowsOf(s),
        });
      }
    }
    this.recent.push({ t, points });
    if (this.recent.length > PRE_SECONDS) this.recent.shift();
  }

  /** Points of [from, to) from the recent ring (zeros where the target was not notable). */
  private preSeries(prefix: string, from: number, to: number): SecondPoint[] {
    const out: SecondPoint[] = [];
    for (let t = from; t < to; t += 1000) {
      const r = this.recent.find((x) => x.t === t);
      out.push(r?.points.get(prefix) ?? { t, bps: 0, pps: 0, flowsPerSecond: 0 });
    }
    return out;
  }

  /** End attacks quiet for quietSeconds as of second t. */
  private endQuiet(t: number): void {
    const quiet = this.config.quietSeconds * 1000;
    for (const [k, rec] of this.ongoing) {
      if (t - rec.attack.lastMs < quiet) continue;
      this.ongoing.delete(k);
      const tab = rec.table;
      // The slot may have been reused if it was evicted (never while pinned, but be safe).
      if (tab.keyOf(rec.slot) === rec.key) {
        tab.flags[rec.slot] = tab.flags[rec.slot]! & ~F_PINNED;
        this.releaseDetail(tab, rec.slot);
      }
      this.refresh(rec);
      rec.attack.state = "ended";
      rec.attack.endMs = rec.attack.lastMs + 1000;
      this.hooks.ended?.(rec);
    }
  }

  /** End every ongoing attack now (shutdown). */
  endAll(): AttackRecord[] {
    const out = [...this.ongoing.values()];
    for (const rec of out) {
      this.refresh(rec);
      rec.attack.state = "ended";
      rec.attack.endMs = rec.attack.lastMs + 1000;
    }
    this.ongoing.clear();
    return out;
  }

  /** The last second's top 10 by bps of the AS, exporter and interface tables (no sort, no per-slot allocation). */
  private topOthers(): void {
    const top = (tab: CounterTable, name: (k: number | string) => string): TopEntry[] => {
      const best = new Int32Array(10).fill(-1);
      const val = new Float64Array(10);
      for (let i = 0; i < tab.nTouched; i++) {
        const s = tab.touched[i]!;
        const b = tab.bytesOf(s);
        if (b <= val[9]! && best[9]! >= 0) continue;
        let j = 9;
        while (j > 0 && (best[j - 1]! < 0 || val[j - 1]! < b)) {
          best[j] = best[j - 1]!;
          val[j] = val[j - 1]!;
          j--;
        }
        best[j] = s;
        val[j] = b;
      }
      const out: TopEntry[] = [];
      for (let j = 0; j < 10 && best[j]! >= 0; j++) {
        const s = best[j]!;
        out.push({ key: name(tab.keyOf(s)), bps: tab.bytesOf(s) * 8, pps: tab.packetsOf(s) });
      }
      return out;
    };
    this.lastTop = {
      dstAs: top(this.ases, (k) => `AS${k}`),
      exporters: top(this.exporters, (k) => this.exporterNames[Number(k)] ?? String(k)),
      interfaces: top(this.ifaces, (k) =>
        typeof k === "number"
          ? `${this.exporterNames[k >>> 16] ?? "?"} if ${k & 0xffff}`
          : `${this.exporterNames[Number(k.split(":")[0])] ?? "?"} if ${k.split(":")[1]}`,
      ),
    };
  }

  /** Whether any host has a learned baseline bucket. */
  get baselineReady(): boolean {
    const h = this.hosts;
    const min = this.config.baseline.minSamples;
    for (let s = 0; s < Math.min(h.capacity, 4096); s++)
      if (h.baseN[s * (HOURS + 1) + HOURS]! >= min) return true;
    return false;
  }

  /** Bytes of the counter tables (typed arrays, indexes; IPv6 key strings estimated at 40 B). */
  get memoryBytes(): number {
    let b = this.hostPrefix.byteLength;
    for (const t of [this.hosts, this.prefixes, this.ases, this.exporters, this.ifaces])
      b += t.bytes + t.strIndex.size * 80;
    return b;
  }
}

/** prefixContains without a subarray: the address at offset `o` of `ip`. */
function containsAt(p: Prefix, ip: Uint8Array, o: number): boolean {
  const full = p.bits >> 3;
  for (let i = 0; i < full; i++) if (p.bytes[i] !== ip[o + i]) return false;
  const rest = p.bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((p.bytes[full]! ^ ip[o + full]!) & mask) === 0;
}

function growInt(a: Int32Array, n: number): Int32Array {
  const x = new Int32Array(n).fill(-1);
  x.set(a);
  return x;
}

function fmt(x: number): string {
  return x >= 1e9
    ? `${(x / 1e9).toFixed(2)}G`
    : x >= 1e6
      ? `${(x / 1e6).toFixed(2)}M`
      : x >= 1e3
        ? `${(x / 1e3).toFixed(1)}k`
        : x.toFixed(0);
}

const limitCache = new WeakMap<ThresholdSet, [AttackVector, Limit][]>();
/** The vectors of a threshold set that have a limit, computed once per set. */
function vectorLimits(t: ThresholdSet): [AttackVector, Limit][] {
  let l = limitCache.get(t);
  if (!l) {
    l = [];
    for (const v of ATTACK_VECTORS) {
      const x = t.vectors[v];
      if (x && (x.pps > 0 || x.bps > 0)) l.push([v, x]);
    }
    limitCache.set(t, l);
  }
  return l;
}

function sameIp(buf: Uint8Array, a: number, b: number): boolean {
  for (let i = 0; i < 16; i++) if (buf[a + i] !== buf[b + i]) return false;
  return true;
}

function merge(base: ThresholdSet, over: Partial<ThresholdSet> | undefined): ThresholdSet {
  if (!over) return base;
  return { ...base, ...over, vectors: { ...base.vectors, ...(over.vectors ?? {}) } };
}

/** Half of the lowest static pps (k=1) or bps (k=0) limit of a threshold set: the hot mark. */
function staticHot(t: ThresholdSet, k: 0 | 1): number {
  let m = Infinity;
  const tot = k ? t.pps : t.bps;
  if (tot > 0) m = tot;
  for (const l of Object.values(t.vectors)) {
    const x = k ? l.pps : l.bps;
    if (x > 0 && x < m) m = x;
  }
  return m / 2;
}

function mergeVectors(a: AttackVector[], b: AttackVector[]): AttackVector[] {
  const out = [...a];
  for (const v of b) if (!out.includes(v)) out.push(v);
  return out;
}

export function emptyFingerprint(): Fingerprint {
  return {
    vectors: [],
    protocols: [],
    topSrcPorts: [],
    topDstPorts: [],
    topSources: [],
    topSrcAs: [],
    ingress: [],
    packetSize: 0,
    tcpFlags: {},
    fragmentShare: 0,
    samplingRates: [],
  };
}
