// The traffic model of `nagare gen`, the demo and the benchmarks.
//
// Shaped like the edge of an access/hosting ISP (AS 64500) seen by a few
// border routers: a few thousand remote ASes (content networks and transit,
// Zipf-weighted: a handful carry most of the traffic) send to a few hundred
// customer prefixes (Zipf-weighted too), and inside each customer prefix a
// few hosts get most flows. The protocol mix is today's (TCP/UDP 443
// dominating, DNS, NTP, ICMP, high-port UDP), 80 % of flows are downloads,
// packet counts are heavy-tailed, and the flow rate follows a daily cycle
// (trough before dawn, peak around 21:00, flatter at weekends). Attacks (UDP
// amplification from reflectors, SYN floods) towards one target can be laid
// on top for a time window.
//
// Everything is drawn from one seeded PRNG, so a seed and a time range give
// the same flows every time (tests, and a benchmark that writes 30 days into
// the store and sends the very same flows to nfcapd as IPFIX).
//
// Speed: a FlowSchedule fills ONE reusable Flow object per call (no
// allocation per flow) and writeFlowRow() copies it into FlowBatch columns, so
// the history writer generates well over a million flows per second.
import type { FlowBatch } from "../collector/batch.js";
import { formatIp, parseIp } from "../collector/ip.js";

/** Small, fast, seedable PRNG (mulberry32). Deterministic across platforms. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    const a = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Uniform 32-bit unsigned integer. */
  u32(): number {
    const a = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}

/** The demo's historical closure form of Rng (test/fuzz uses it). */
export function mulberry32(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.next();
}

/**
 * Walker/Vose alias table: O(1) draws from a fixed discrete distribution
 * (a binary search over a CDF would cost ~12 steps for 3000 ASes).
 */
export class AliasTable {
  readonly n: number;
  private readonly prob: Float64Array;
  private readonly alias: Uint32Array;
  constructor(weights: ArrayLike<number>) {
    const n = weights.length;
    this.n = n;
    this.prob = new Float64Array(n);
    this.alias = new Uint32Array(n);
    let sum = 0;
    for (let i = 0; i < n; i++) sum += weights[i]!;
    const scaled = new Float64Array(n);
    const small: number[] = [];
    const large: number[] = [];
    for (let i = 0; i < n; i++) {
      scaled[i] = (weights[i]! * n) / sum;
      (scaled[i]! < 1 ? small : large).push(i);
    }
    while (small.length && large.length) {
      const s = small.pop()!;
      const l = large.pop()!;
      this.prob[s] = scaled[s]!;
      this.alias[s] = l;
      scaled[l] = scaled[l]! + scaled[s]! - 1;
      (scaled[l]! < 1 ? small : large).push(l);
    }
    for (const i of large) this.prob[i] = 1;
    for (const i of small) this.prob[i] = 1;
  }
  /** Draw an index from one uniform: its integer part picks the column, the fraction the side. */
  draw(rng: Rng): number {
    const u = rng.next() * this.n;
    const i = Math.floor(u);
    return u - i < this.prob[i]! ? i : this.alias[i]!;
  }
}

/** Zipf weights 1/rank^s for ranks 1…n. */
export function zipfWeights(n: number, s: number): Float64Array {
  const w = new Float64Array(n);
  for (let i = 0; i < n; i++) w[i] = 1 / Math.pow(i + 1, s);
  return w;
}

/**
 * One generated flow. A FlowSchedule rewrites the same object on every call:
 * copy it (cloneFlow) to keep it. Addresses are in the schema's 16-byte form
 * (IPv4-mapped for IPv4). ICMP carries type << 8 | code in dstPort, as
 * NetFlow v9/IPFIX exporters do.
 */
export interface Flow {
  startMs: number;
  endMs: number;
  /** Index into model.exporters. */
  exporter: number;
  v6: boolean;
  src: Uint8Array;
  dst: Uint8Array;
  /** IPv4 next hop as a host-order uint32 (0 for IPv6 flows). */
  nextHop: number;
  srcPort: number;
  dstPort: number;
  protocol: number;
  tcpFlags: number;
  tos: number;
  ttl: number;
  srcAs: number;
  dstAs: number;
  srcMask: number;
  dstMask: number;
  inIf: number;
  outIf: number;
  bytes: number;
  packets: number;
  samplingRate: number;
  /** 0 regular traffic, else 1 + index of the attack kind in ATTACK_KINDS. */
  attack: number;
}

export function newFlow(): Flow {
  return {
    startMs: 0,
    endMs: 0,
    exporter: 0,
    v6: false,
    src: new Uint8Array(16),
    dst: new Uint8Array(16),
    nextHop: 0,
    srcPort: 0,
    dstPort: 0,
    protocol: 0,
    tcpFlags: 0,
    tos: 0,
    ttl: 0,
    srcAs: 0,
    dstAs: 0,
    srcMask: 0,
    dstMask: 0,
    inIf: 0,
    outIf: 0,
    bytes: 0,
    packets: 0,
    samplingRate: 0,
    attack: 0,
  };
}

export function cloneFlow(f: Flow): Flow {
  return { ...f, src: f.src.slice(), dst: f.dst.slice() };
}

/** A router exporting flows: its address, observation domain / source id and interfaces. */
export interface ExporterModel {
  address: string;
  /** 16-byte schema form of `address`. */
  ip: Uint8Array;
  /** NetFlow v9 source id / IPFIX observation domain / sFlow sub-agent (1, 2, 3 …). */
  domain: number;
  samplingRate: number;
  /** ifIndexes of the transit/peering uplinks and of the customer ports. */
  uplinks: number[];
  customerPorts: number[];
}

interface RemoteAs {
  asn: number;
  v4: number; // network, host order
  v4Len: number;
  /** Addresses in the IPv4 prefix. */
  v4Span: number;
  v6: Uint8Array; // 16 bytes, /32
  uplink: number; // index into exporter.uplinks
}

interface Customer {
  asn: number;
  v4: number;
  v6: Uint8Array; // /48
  exporter: number;
  port: number; // ifIndex
}

interface App {
  protocol: number;
  port: number;
  weight: number;
  /** Mean packets per flow and mean packet size towards the customer. */
  pkts: number;
  size: number;
}

// The protocol/port mix (weights in % of flows). Exported for bench/entropy.ts.
export const APPS: readonly App[] = [
  { protocol: 6, port: 443, weight: 42, pkts: 40, size: 1200 },
  { protocol: 17, port: 443, weight: 18, pkts: 60, size: 1250 }, // QUIC
  { protocol: 6, port: 80, weight: 6, pkts: 20, size: 900 },
  { protocol: 17, port: 53, weight: 10, pkts: 1, size: 120 },
  { protocol: 17, port: 123, weight: 2, pkts: 1, size: 76 },
  { protocol: 6, port: 22, weight: 2, pkts: 30, size: 200 },
  { protocol: 1, port: 0, weight: 4, pkts: 2, size: 84 },
  { protocol: 6, port: 25, weight: 1, pkts: 15, size: 600 },
  { protocol: 6, port: 993, weight: 1, pkts: 12, size: 500 },
  { protocol: 17, port: 0, weight: 10, pkts: 25, size: 700 }, // high-port UDP (games, p2p, VPN)
  { protocol: 6, port: 0, weight: 4, pkts: 15, size: 800 }, // high-port TCP
];

// Well-known content networks first (their real public allocations), so the
// top of a TopN looks familiar; the rest of the remote ASes are synthetic.
const FAMOUS: { asn: number; v4: string; len: number; v6: string }[] = [
  { asn: 15169, v4: "142.250.0.0", len: 15, v6: "2a00:1450::" },
  { asn: 2906, v4: "45.57.0.0", len: 17, v6: "2a00:86c0::" },
  { asn: 16509, v4: "52.0.0.0", len: 11, v6: "2600:1f00::" },
  { asn: 13335, v4: "104.16.0.0", len: 13, v6: "2606:4700::" },
  { asn: 32934, v4: "157.240.0.0", len: 16, v6: "2a03:2880::" },
  { asn: 8075, v4: "20.0.0.0", len: 11, v6: "2603:1000::" },
  { asn: 20940, v4: "23.0.0.0", len: 12, v6: "2a02:26f0::" },
  { asn: 714, v4: "17.0.0.0", len: 8, v6: "2a01:b740::" },
  { asn: 3320, v4: "80.128.0.0", len: 11, v6: "2003::" },
  { asn: 174, v4: "38.0.0.0", len: 8, v6: "2001:550::" },
  { asn: 3356, v4: "4.0.0.0", len: 9, v6: "2001:1900::" },
  { asn: 1299, v4: "62.115.0.0", len: 16, v6: "2001:2000::" },
];

/** Our own AS (the routers'). Customers have private ASNs 64512…, then 4200000000…. */
export const LOCAL_AS = 64500;
/** Customer IPv4 space: /22 per customer from 100.64.0.0/10 (RFC 6598); IPv6 2001:db8:N::/48. */
const CUSTOMER_V4_BASE = (100 << 24) | (64 << 16);
const CUSTOMER_V4_LEN = 22;
const CUSTOMER_V6_LEN = 48;
export const HOSTS_PER_CUSTOMER = 1022;

/**
 * Attack kinds. Amplification (reflector source port, large responses): dns,
 * ntp, memcached, ssdp, cldap; floods: syn (TCP SYN), udp (random high ports,
 * 1200-byte packets), v6 (the same UDP flood to an IPv6 host: an IPv4 target
 * becomes the same host number in its customer's IPv6 /48), and carpet (DNS
 * reflection spread over random hosts of the target's /24, or /64 for IPv6).
 */
export const ATTACK_KINDS = [
  "dns",
  "ntp",
  "memcached",
  "ssdp",
  "cldap",
  "syn",
  "udp",
  "carpet",
  "v6",
] as const;
export type AttackKind = (typeof ATTACK_KINDS)[number];
/** Reflector source port and typical response packet size of each amplification kind. */
const AMPLIFICATION: Record<"dns" | "ntp" | "memcached" | "ssdp" | "cldap", { port: number; size: number }> =
  {
    dns: { port: 53, size: 1400 },
    ntp: { port: 123, size: 468 },
    memcached: { port: 11211, size: 1428 },
    ssdp: { port: 1900, size: 320 },
    cldap: { port: 389, size: 1472 },
  };

/** An attack towards `target` during [startMs, startMs + durationMs), at `rate` flows/s on top of the traffic. */
export interface Attack {
  kind: AttackKind;
  /** IPv4 or IPv6 address; default: the busiest customer's busiest host. */
  target?: string;
  startMs: number;
  durationMs: number;
  rate: number;
}

/** Attacks repeating forever: one of `kinds` (in turn) every `everyMs`, the first at `firstMs`. */
export interface PeriodicAttacks {
  firstMs: number;
  everyMs: number;
  durationMs: number;
  rate: number;
  kinds: readonly AttackKind[];
  target?: string;
}

export interface ModelOptions {
  seed?: number;
  /** Remote (source-side) ASes. Default 3000. */
  remoteAses?: number;
  /** Customer prefixes (destination side), at most 4096. Default 500. */
  customers?: number;
  /** Exporters (routers). Default 3. */
  exporters?: number;
  /** Address of the first exporter; the next ones count up. Default 192.0.2.1. */
  exporterAddress?: string;
  /** Packet sampling rate of every exporter (1 = unsampled). Default 1000. */
  samplingRate?: number;
  /** Share of IPv6 flows. Default 0.3. */
  v6Share?: number;
  /** Zipf exponent of the AS, customer and host popularity. Default 1.1. */
  zipf?: number;
  /** Local time of the daily cycle: minutes east of UTC. Default 0 (UTC). */
  tzOffsetMinutes?: number;
}

const DAY_MS = 86_400_000;

/** The traffic model: its ASes, customers, exporters and the per-flow draws. */
export class TrafficModel {
  readonly seed: number;
  readonly exporters: ExporterModel[];
  readonly remotes: RemoteAs[] = [];
  readonly customers: Customer[] = [];
  readonly v6Share: number;
  /** Zipf exponent of the remote ASes and hosts (customers: 0.9 of it). */
  readonly zipf: number;
  readonly tzOffsetMs: number;
  private readonly remoteTable: AliasTable;
  private readonly customerTable: AliasTable;
  private readonly hostTable: AliasTable;
  private readonly appTable: AliasTable;
  readonly rng: Rng;

  constructor(opts: ModelOptions = {}) {
    this.seed = opts.seed ?? 1;
    const nRemote = Math.max(FAMOUS.length, opts.remoteAses ?? 3000);
    const nCust = Math.min(4096, Math.max(1, opts.customers ?? 500));
    const nExp = Math.max(1, opts.exporters ?? 3);
    const s = opts.zipf ?? 1.1;
    this.zipf = s;
    this.v6Share = opts.v6Share ?? 0.3;
    this.tzOffsetMs = (opts.tzOffsetMinutes ?? 0) * 60_000;
    // The topology comes from its own stream so it depends on the seed only,
    // not on how many flows were drawn before.
    const topo = new Rng(this.seed ^ 0x5eed1234);
    const base = parseIp(opts.exporterAddress ?? "192.0.2.1");
    if (!base) throw new Error(`invalid exporter address ${opts.exporterAddress}`);
    const rate = opts.samplingRate ?? 1000;
    this.exporters = [];
    for (let e = 0; e < nExp; e++) {
      const ip = base.slice();
      ip[15] = (ip[15]! + e) & 0xff;
      this.exporters.push({
        address: ipText(ip),
        ip,
        domain: e + 1,
        samplingRate: rate,
        uplinks: [1, 2, 3, 4],
        customerPorts: Array.from({ length: 32 }, (_, k) => 10 + k),
      });
    }
    const used = new Set<number>();
    for (const f of FAMOUS) {
      used.add(f.asn);
      this.remotes.push({
        asn: f.asn,
        v4: v4Number(f.v4),
        v4Len: f.len,
        v4Span: 2 ** (32 - f.len),
        v6: parseIp(f.v6)!,
        uplink: this.remotes.length % 4,
      });
    }
    while (this.remotes.length < nRemote) {
      // Mostly 16-bit public ASNs, a quarter 32-bit (exercises 4-byte AS fields).
      const asn = topo.next() < 0.75 ? 1000 + topo.int(60000) : 131072 + topo.int(270000);
      if (used.has(asn) || asn === 23456 || (asn >= 64496 && asn <= 65535)) continue;
      used.add(asn);
      const len = 16 + topo.int(7);
      let first = 1 + topo.int(222);
      while ([10, 100, 127, 169, 172, 192, 198, 203].includes(first)) first = 1 + topo.int(222);
      const net = ((first << 24) | (topo.int(1 << 24) & ~((1 << (32 - len)) - 1) & 0xffffff)) >>> 0;
      const v6 = new Uint8Array(16);
      v6[0] = 0x2a;
      v6[1] = topo.int(16);
      v6[2] = topo.int(256);
      v6[3] = topo.int(256);
      this.remotes.push({ asn, v4: net, v4Len: len, v4Span: 2 ** (32 - len), v6, uplink: topo.int(4) });
    }
    for (let i = 0; i < nCust; i++) {
      const v6 = parseIp("2001:db8::")!;
      v6[4] = i >> 8;
      v6[5] = i & 0xff;
      this.customers.push({
        asn: i < 1000 ? 64512 + i : 4_200_000_000 + i,
        v4: (CUSTOMER_V4_BASE + i * 1024) >>> 0,
        v6,
        exporter: i % nExp,
        port: 10 + (Math.floor(i / nExp) % 32),
      });
    }
    this.remoteTable = new AliasTable(zipfWeights(nRemote, s));
    this.customerTable = new AliasTable(zipfWeights(nCust, s * 0.9));
    this.hostTable = new AliasTable(zipfWeights(HOSTS_PER_CUSTOMER, s));
    this.appTable = new AliasTable(APPS.map((a) => a.weight));
    this.rng = new Rng(this.seed);
  }

  /** Flow-rate multiplier of the daily cycle at `ms` (mean about 1 over a week). */
  dailyWeight(ms: number): number {
    const local = ms + this.tzOffsetMs;
    const h = (((local % DAY_MS) + DAY_MS) % DAY_MS) / 3_600_000;
    const dow = (Math.floor(local / DAY_MS) + 4) % 7; // 1970-01-01 was a Thursday; 0 = Sunday
    const weekend = dow === 0 || dow === 6;
    // Evening peak at 21:00, trough around 09:00 on weekdays; weekends are flatter and peak earlier.
    const c = 0.5 + 0.5 * Math.cos((2 * Math.PI * (h - (weekend ? 20 : 21))) / 24);
    return weekend ? (0.5 + 0.6 * c) / 0.8 : (0.3 + 0.7 * c) / 0.65;
  }

  /** The default attack target: the busiest customer's busiest host (IPv4). */
  defaultTarget(): string {
    const c = this.customers[0]!;
    return ipText(v4Mapped((c.v4 + hostIndex(0, 0)) >>> 0));
  }

  /** Fill `f` with one regular flow ending at `endMs`. */
  regular(f: Flow, endMs: number): void {
    const r = this.rng;
    const v6 = r.next() < this.v6Share;
    const ri = this.remoteTable.draw(r);
    const remote = this.remotes[ri]!;
    const ci = this.customerTable.draw(r);
    const cust = this.customers[ci]!;
    const app = APPS[this.appTable.draw(r)]!;
    const download = r.next() < 0.8;
    const exp = this.exporters[cust.exporter]!;
    const ephemeral = 32768 + r.int(28232);
    const icmp = app.protocol === 1;
    const servicePort = app.port || (icmp ? 0 : 1024 + r.int(31000));
    // Heavy-tailed packet counts: a few elephants, many mice.
    const packets = Math.max(
      1,
      Math.round(app.pkts * -Math.log(1 - r.next() * 0.9999) * (download ? 1 : 0.5)),
    );
    const size = download ? app.size * (0.7 + 0.3 * r.next()) : Math.min(app.size, 60 + 40 * r.next());
    const duration = packets === 1 ? 0 : r.int(Math.min(120_000, packets * 500));
    // Addresses: remote host uniform in its prefix, customer host Zipf in its /22 (or /64 of the /48).
    const remoteBuf = download ? f.src : f.dst;
    const localBuf = download ? f.dst : f.src;
    const host = hostIndex(ci, this.hostTable.draw(r));
    if (v6) {
      const rv = remote.v6;
      const cv = cust.v6;
      for (let k = 0; k < 4; k++) remoteBuf[k] = rv[k]!;
      randomTail(remoteBuf, r);
      for (let k = 0; k < 14; k++) localBuf[k] = cv[k]!;
      localBuf[14] = host >> 8;
      localBuf[15] = host & 0xff;
    } else {
      writeV4(remoteBuf, (remote.v4 + 1 + r.int(remote.v4Span - 2)) >>> 0);
      writeV4(localBuf, (cust.v4 + host) >>> 0);
    }
    const uplink = exp.uplinks[remote.uplink]!;
    const remoteMask = v6 ? 32 : remote.v4Len;
    const localMask = v6 ? CUSTOMER_V6_LEN : CUSTOMER_V4_LEN;
    f.v6 = v6;
    f.exporter = cust.exporter;
    f.samplingRate = exp.samplingRate;
    f.protocol = icmp ? (v6 ? 58 : 1) : app.protocol;
    if (icmp) {
      // Echo request / reply (ICMPv6 128/129).
      const req = r.next() < 0.5;
      f.srcPort = 0;
      f.dstPort = (v6 ? (req ? 128 : 129) : req ? 8 : 0) << 8;
    } else {
      f.srcPort = download ? servicePort : ephemeral;
      f.dstPort = download ? ephemeral : servicePort;
    }
    f.tos = r.next() < 0.9 ? 0 : 0xb8;
    f.tcpFlags = app.protocol === 6 ? (packets > 2 ? 0x1b : 0x02) : 0;
    f.ttl = download ? 40 + r.int(20) : 63;
    f.packets = packets;
    f.bytes = Math.round(packets * size);
    f.srcAs = download ? remote.asn : cust.asn;
    f.dstAs = download ? cust.asn : remote.asn;
    f.srcMask = download ? remoteMask : localMask;
    f.dstMask = download ? localMask : remoteMask;
    f.inIf = download ? uplink : cust.port;
    f.outIf = download ? cust.port : uplink;
    // Next hop: the customer's address on its port, or the uplink's peer.
    f.nextHop = v6 ? 0 : download ? (cust.v4 + 1) >>> 0 : (0xcb007100 + uplink) >>> 0;
    f.endMs = endMs;
    f.startMs = endMs - duration;
    f.attack = 0;
  }

  /** Fill `f` with one attack flow of `kind` towards `target` (16-byte form), ending at `endMs`. */
  attackFlow(f: Flow, kind: AttackKind, target: Uint8Array, endMs: number): void {
    const r = this.rng;
    const remote = this.remotes[r.int(this.remotes.length)]!; // reflectors/spoofed sources: everywhere
    f.dst.set(target);
    if (kind === "v6" && isV4Mapped(target)) {
      // The same host number in the customer's IPv6 /48 (or in 2001:db8:ffff::/48).
      const c = this.customerOf(target);
      const host = c ? (v4Number(ipText(target)) - c.v4) >>> 0 : (target[14]! << 8) | target[15]!;
      f.dst.set(c ? c.v6 : V6_FALLBACK);
      f.dst[14] = (host >> 8) & 0xff;
      f.dst[15] = host & 0xff;
    }
    const v6 = !isV4Mapped(f.dst);
    if (kind === "carpet") {
      // Random host of the /24 (IPv4) or of the /64 (IPv6).
      if (v6) for (let k = 8; k < 16; k++) f.dst[k] = r.int(256);
      else f.dst[15] = 1 + r.int(254);
    }
    const cust = this.customerOf(f.dst);
    const exp = this.exporters[cust ? cust.exporter : 0]!;
    if (v6) {
      f.src.set(remote.v6);
      randomTail(f.src, r);
    } else writeV4(f.src, (remote.v4 + 1 + r.int(remote.v4Span - 2)) >>> 0);
    f.v6 = v6;
    f.exporter = cust ? cust.exporter : 0;
    f.samplingRate = exp.samplingRate;
    if (kind === "syn") {
      f.protocol = 6;
      f.srcPort = 1024 + r.int(64511);
      f.dstPort = r.next() < 0.7 ? 443 : 80;
      f.tcpFlags = 0x02;
      f.packets = 1 + r.int(3);
      f.bytes = f.packets * 60;
    } else if (kind === "udp" || kind === "v6") {
      f.protocol = 17;
      f.srcPort = 1024 + r.int(64511);
      f.dstPort = 1024 + r.int(64511);
      f.tcpFlags = 0;
      f.packets = 1 + r.int(40);
      f.bytes = f.packets * 1200;
    } else {
      const a = AMPLIFICATION[kind === "carpet" ? "dns" : kind];
      f.protocol = 17;
      f.srcPort = a.port;
      f.dstPort = 1024 + r.int(64511);
      f.tcpFlags = 0;
      f.packets = 1 + r.int(50);
      f.bytes = f.packets * a.size;
    }
    f.tos = 0;
    f.ttl = 30 + r.int(30);
    f.srcAs = remote.asn;
    f.dstAs = cust ? cust.asn : LOCAL_AS;
    f.srcMask = v6 ? 32 : remote.v4Len;
    f.dstMask = v6 ? CUSTOMER_V6_LEN : CUSTOMER_V4_LEN;
    f.inIf = exp.uplinks[remote.uplink]!;
    f.outIf = cust ? cust.port : exp.customerPorts[0]!;
    f.nextHop = v6 ? 0 : cust ? (cust.v4 + 1) >>> 0 : 0;
    f.endMs = endMs;
    f.startMs = endMs - r.int(2000);
    f.attack = 1 + ATTACK_KINDS.indexOf(kind);
  }

  /** The customer owning `ip` (16-byte form), or null. */
  customerOf(ip: Uint8Array): Customer | null {
    if (isV4Mapped(ip)) {
      const v = ((ip[12]! << 24) | (ip[13]! << 16) | (ip[14]! << 8) | ip[15]!) >>> 0;
      const i = Math.floor((v - CUSTOMER_V4_BASE) / 1024);
      return v >= CUSTOMER_V4_BASE && i < this.customers.length ? this.customers[i]! : null;
    }
    const i = (ip[4]! << 8) | ip[5]!;
    const c = this.customers[i];
    return c && ip[0] === 0x20 && ip[1] === 0x01 && ip[2] === 0x0d && ip[3] === 0xb8 ? c : null;
  }

  /** A time-ordered stream of flows (see ScheduleOptions). */
  schedule(opts: ScheduleOptions): FlowSchedule {
    return new FlowSchedule(this, opts);
  }
}

/** Customer host number (1…1022) of the `rank`-th most popular host of customer `ci`. */
function hostIndex(ci: number, rank: number): number {
  // A per-customer rotation, so the busiest host is not .1 everywhere.
  return ((rank + ci * 37) % HOSTS_PER_CUSTOMER) + 1;
}

/** Random bytes 4…15 (the host part of a /32) from three 32-bit draws. */
function randomTail(b: Uint8Array, r: Rng): void {
  for (let k = 4; k < 16; k += 4) {
    const v = r.u32();
    b[k] = v >>> 24;
    b[k + 1] = (v >>> 16) & 0xff;
    b[k + 2] = (v >>> 8) & 0xff;
    b[k + 3] = v & 0xff;
  }
}

const V6_FALLBACK = parseIp("2001:db8:ffff::")!;

function v4Number(text: string): number {
  const ip = parseIp(text)!;
  return ((ip[12]! << 24) | (ip[13]! << 16) | (ip[14]! << 8) | ip[15]!) >>> 0;
}

function writeV4(dst: Uint8Array, v: number): void {
  for (let k = 0; k < 10; k++) dst[k] = 0;
  dst[10] = 0xff;
  dst[11] = 0xff;
  dst[12] = v >>> 24;
  dst[13] = (v >>> 16) & 0xff;
  dst[14] = (v >>> 8) & 0xff;
  dst[15] = v & 0xff;
}

function v4Mapped(v: number): Uint8Array {
  const b = new Uint8Array(16);
  writeV4(b, v);
  return b;
}

export function isV4Mapped(b: Uint8Array): boolean {
  for (let k = 0; k < 10; k++) if (b[k] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

/** Text of a 16-byte address (dotted for IPv4-mapped). */
export function ipText(b: Uint8Array): string {
  return formatIp(b, 0);
}

export interface ScheduleOptions {
  startMs: number;
  /** End of the range (exclusive); Infinity with `rate` for a live stream. */
  endMs: number;
  /** Exactly this many regular flows over the range (needs a finite endMs)… */
  flows?: number;
  /** …or this many regular flows per second (times the daily cycle when `cycle`). */
  rate?: number;
  /** Follow the daily cycle. Default: true with `flows`, false with `rate`. */
  cycle?: boolean;
  attacks?: readonly Attack[];
  periodic?: PeriodicAttacks;
  /** Time slice the counts are computed for. Default 60 s (1 s with `rate`). */
  sliceMs?: number;
}

interface ActiveAttack {
  kind: AttackKind;
  target: Uint8Array;
  count: number;
}

/**
 * Flows in time order (by endMs): per time slice, the regular count (from the
 * total and the daily-cycle weight, or from the rate) plus each active
 * attack's share; the slice's flows get evenly spread, increasing end times.
 * The exact total is kept with running rounding, so `flows: N` yields N
 * regular flows (attack flows come on top).
 */
export class FlowSchedule {
  private readonly model: TrafficModel;
  private readonly opts: ScheduleOptions;
  private readonly sliceMs: number;
  private readonly cycle: boolean;
  private readonly cum: Float64Array | null = null;
  private slice = -1;
  private sliceStart = 0;
  private sliceLen = 0;
  private k = 0;
  private m = 0;
  private regLeft = 0;
  private attLeft = 0;
  private active: ActiveAttack[] = [];
  private carry = 0;
  private emittedRegular = 0;
  private readonly attackCarry = new Map<string, number>();
  private readonly defaultTarget: Uint8Array;
  /** Regular and attack flows produced so far. */
  regular = 0;
  attack = 0;

  constructor(model: TrafficModel, opts: ScheduleOptions) {
    this.model = model;
    this.opts = opts;
    const live = opts.flows === undefined;
    if (live && opts.rate === undefined) throw new Error("schedule: give flows or rate");
    if (!live && !Number.isFinite(opts.endMs)) throw new Error("schedule: flows needs a finite endMs");
    this.sliceMs = opts.sliceMs ?? (live ? 1000 : 60_000);
    this.cycle = opts.cycle ?? !live;
    this.defaultTarget = parseIp(model.defaultTarget())!;
    if (!live) {
      // Cumulative weight per slice: slice i gets round(N·cum[i+1]/W) − round(N·cum[i]/W).
      const n = Math.ceil((opts.endMs - opts.startMs) / this.sliceMs);
      const cum = new Float64Array(n + 1);
      for (let i = 0; i < n; i++) {
        const a = opts.startMs + i * this.sliceMs;
        const len = Math.min(this.sliceMs, opts.endMs - a);
        cum[i + 1] = cum[i]! + (this.cycle ? model.dailyWeight(a + len / 2) : 1) * len;
      }
      this.cum = cum;
    }
  }

  /** Time of the next flow, or Infinity when the range is done. */
  peekMs(): number {
    while (this.k >= this.m) if (!this.nextSlice()) return Infinity;
    return this.timeOf(this.k);
  }

  /** Write the next flow into `f`; false when the range is done. */
  next(f: Flow): boolean {
    while (this.k >= this.m) if (!this.nextSlice()) return false;
    const t = this.timeOf(this.k);
    const left = this.m - this.k;
    this.k++;
    // Sequential sampling: exact counts of each kind, randomly interleaved.
    const r = this.model.rng;
    if (this.attLeft > 0 && r.next() * left < this.attLeft) {
      let x = r.int(this.attLeft);
      for (const a of this.active) {
        if (x < a.count) {
          a.count--;
          this.model.attackFlow(f, a.kind, a.target, t);
          break;
        }
        x -= a.count;
      }
      this.attLeft--;
      this.attack++;
    } else {
      this.model.regular(f, t);
      this.regLeft--;
      this.regular++;
    }
    return true;
  }

  private timeOf(k: number): number {
    // Evenly spread in the slice, integer ms, never decreasing.
    return this.sliceStart + Math.floor(((k + 0.5) * this.sliceLen) / this.m);
  }

  private nextSlice(): boolean {
    const o = this.opts;
    this.slice++;
    const a = o.startMs + this.slice * this.sliceMs;
    if (a >= o.endMs) return false;
    const len = Math.min(this.sliceMs, o.endMs - a);
    this.sliceStart = a;
    this.sliceLen = len;
    let reg: number;
    if (this.cum) {
      const W = this.cum[this.cum.length - 1]!;
      const upto = Math.round((o.flows! * this.cum[this.slice + 1]!) / W);
      reg = upto - this.emittedRegular;
      this.emittedRegular = upto;
    } else {
      const w = this.cycle ? this.model.dailyWeight(a + len / 2) : 1;
      this.carry += (o.rate! * w * len) / 1000;
      reg = Math.floor(this.carry);
      this.carry -= reg;
    }
    this.active = [];
    let att = 0;
    const add = (
      key: string,
      kind: AttackKind,
      target: string | undefined,
      from: number,
      to: number,
      rate: number,
    ): void => {
      const overlap = Math.min(to, a + len) - Math.max(from, a);
      if (overlap <= 0) return;
      const c = (this.attackCarry.get(key) ?? 0) + (rate * overlap) / 1000;
      const n = Math.floor(c);
      this.attackCarry.set(key, c - n);
      if (n <= 0) return;
      const t = target === undefined ? this.defaultTarget : parseIp(target);
      if (!t) throw new Error(`invalid attack target ${target}`);
      this.active.push({ kind, target: t, count: n });
      att += n;
    };
    (o.attacks ?? []).forEach((x, i) =>
      add(`a${i}`, x.kind, x.target, x.startMs, x.startMs + x.durationMs, x.rate),
    );
    const p = o.periodic;
    if (p && p.kinds.length) {
      const first = Math.max(0, Math.floor((a - p.firstMs - p.durationMs) / p.everyMs));
      for (let j = first; p.firstMs + j * p.everyMs < a + len; j++) {
        const from = p.firstMs + j * p.everyMs;
        add(`p${j}`, p.kinds[j % p.kinds.length]!, p.target, from, from + p.durationMs, p.rate);
      }
    }
    this.regLeft = reg;
    this.attLeft = att;
    this.m = reg + att;
    this.k = 0;
    return true;
  }
}

/** The attack active at `ms` in a periodic plan, or null. */
export function periodicAttackAt(p: PeriodicAttacks, ms: number): AttackKind | null {
  if (ms < p.firstMs || !p.kinds.length) return null;
  const j = Math.floor((ms - p.firstMs) / p.everyMs);
  return ms - (p.firstMs + j * p.everyMs) < p.durationMs ? p.kinds[j % p.kinds.length]! : null;
}

/**
 * Writes flows as rows of one FlowBatch: the columns a NetFlow v9/IPFIX
 * export of the flow decodes to (our encoders' templates), with
 * time_received = the flow end. Every column it sets is rewritten per row,
 * so the batch can be refilled without reset(). Addresses are copied as four
 * 32-bit words through views of the same memory (byte order is preserved).
 */
export class RowWriter {
  readonly batch: FlowBatch;
  private readonly src32: Uint32Array;
  private readonly dst32: Uint32Array;
  private readonly nh32: Uint32Array;
  private readonly exp32: Uint32Array;
  private readonly exporters: readonly ExporterModel[];
  private readonly exporterIps: Uint32Array;
  private readonly mapped: number;

  constructor(batch: FlowBatch, exporters: readonly ExporterModel[]) {
    this.batch = batch;
    const c = batch.cols;
    const v = (a: Uint8Array): Uint32Array => new Uint32Array(a.buffer, a.byteOffset, a.byteLength / 4);
    this.src32 = v(c.src_addr);
    this.dst32 = v(c.dst_addr);
    this.nh32 = v(c.next_hop);
    this.exp32 = v(c.exporter_address);
    this.exporters = exporters;
    this.exporterIps = new Uint32Array(exporters.length * 4);
    exporters.forEach((e, k) => this.exporterIps.set(v(e.ip.slice()), k * 4));
    this.mapped = v(new Uint8Array([0, 0, 0xff, 0xff]))[0]!;
  }

  write(i: number, f: Flow): void {
    const c = this.batch.cols;
    c.time_received[i] = f.endMs;
    c.time_flow_start[i] = f.startMs;
    c.time_flow_end[i] = f.endMs;
    const o = i * 4;
    const s = f.src;
    const d = f.dst;
    const s32 = this.src32;
    const d32 = this.dst32;
    // Flow addresses are plain Uint8Arrays (no alignment guarantee): assemble words in memory order.
    for (let k = 0; k < 4; k++) {
      const b = k * 4;
      s32[o + k] = wordAt(s, b);
      d32[o + k] = wordAt(d, b);
    }
    const e = f.exporter * 4;
    const x = this.exporterIps;
    const x32 = this.exp32;
    x32[o] = x[e]!;
    x32[o + 1] = x[e + 1]!;
    x32[o + 2] = x[e + 2]!;
    x32[o + 3] = x[e + 3]!;
    const nh = this.nh32;
    if (f.v6) nh[o] = nh[o + 1] = nh[o + 2] = nh[o + 3] = 0;
    else {
      nh[o] = nh[o + 1] = 0;
      nh[o + 2] = this.mapped;
      const n = f.nextHop;
      nh[o + 3] = LITTLE
        ? ((n >>> 24) | ((n >>> 8) & 0xff00) | ((n << 8) & 0xff0000) | (n << 24)) >>> 0
        : n >>> 0;
    }
    c.observation_domain_id[i] = this.exporters[f.exporter]!.domain;
    c.sampling_rate[i] = f.samplingRate;
    c.in_if[i] = f.inIf;
    c.out_if[i] = f.outIf;
    c.ip_version[i] = f.v6 ? 6 : 4;
    c.src_port[i] = f.srcPort;
    c.dst_port[i] = f.dstPort;
    c.protocol[i] = f.protocol;
    c.tcp_flags[i] = f.tcpFlags;
    c.tos[i] = f.tos;
    c.src_as[i] = f.srcAs;
    c.dst_as[i] = f.dstAs;
    c.src_prefix_len[i] = f.srcMask;
    c.dst_prefix_len[i] = f.dstMask;
    const icmp = f.protocol === 1 || f.protocol === 58;
    c.icmp_type[i] = icmp ? f.dstPort >> 8 : 0;
    c.icmp_code[i] = icmp ? f.dstPort & 0xff : 0;
    c.direction[i] = 0;
    c.bytes[i] = f.bytes;
    c.packets[i] = f.packets;
    c.flows[i] = 1;
  }
}

const LITTLE = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** The 32-bit word whose memory bytes are b[o…o+4) (native byte order). */
function wordAt(b: Uint8Array, o: number): number {
  return LITTLE
    ? (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0
    : ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

/** Write `f` as row `i` of `batch` (see RowWriter; allocates views: for tests, not loops). */
export function writeFlowRow(
  batch: FlowBatch,
  i: number,
  f: Flow,
  exporters: readonly ExporterModel[],
): void {
  new RowWriter(batch, exporters).write(i, f);
}
