// Synthetic NetFlow v9 export traffic for the built-in demo.
//
// Builds real NetFlow v9 datagrams (RFC 3954): a template FlowSet (id 0) every
// few seconds and data FlowSets for an IPv4 template (256) and an IPv6
// template (257). The traffic model is small but shaped like an ISP edge:
// content networks (Google, Netflix, Amazon …) sending to customer prefixes,
// the usual protocol/port mix, a diurnal curve, and an occasional UDP
// amplification burst towards one customer address.
//
// NetFlow v9 packet (RFC 3954 §5.1):
//   version(2)=9 count(2) sysUptime(4) unixSecs(4) sequence(4) sourceId(4)
// FlowSet (§5.2/§5.3): flowsetId(2) length(2), padded to a multiple of 4;
//   template record: templateId(2) fieldCount(2) {type(2) length(2)}*
import { parseIp } from "../collector/ip.js";

/**
 * (field type, length) of the IPv4 or IPv6 template, RFC 3954 §8 names. One
 * layout for both families, as writeRecord writes it: only the address fields
 * differ, and IPv4 alone carries the next hop.
 */
function templateFields(v6: boolean): [number, number][] {
  const addrLen = v6 ? 16 : 4;
  return [
    [1, 8], // IN_BYTES
    [2, 4], // IN_PKTS
    [4, 1], // PROTOCOL
    [5, 1], // SRC_TOS
    [6, 1], // TCP_FLAGS
    [7, 2], // L4_SRC_PORT
    [v6 ? 27 : 8, addrLen], // IPV6_SRC_ADDR / IPV4_SRC_ADDR
    [v6 ? 29 : 9, 1], // IPV6_SRC_MASK / SRC_MASK
    [10, 2], // INPUT_SNMP
    [11, 2], // L4_DST_PORT
    [v6 ? 28 : 12, addrLen], // IPV6_DST_ADDR / IPV4_DST_ADDR
    [v6 ? 30 : 13, 1], // IPV6_DST_MASK / DST_MASK
    [14, 2], // OUTPUT_SNMP
    ...(v6 ? [] : [[15, 4] as [number, number]]), // IPV4_NEXT_HOP
    [16, 4], // SRC_AS
    [17, 4], // DST_AS
    [21, 4], // LAST_SWITCHED
    [22, 4], // FIRST_SWITCHED
    [34, 4], // SAMPLING_INTERVAL
    [61, 1], // DIRECTION
  ];
}

const V4_FIELDS = templateFields(false);
const V6_FIELDS = templateFields(true);

export const DEMO_TEMPLATE_V4 = 256;
export const DEMO_TEMPLATE_V6 = 257;
const V4_LEN = V4_FIELDS.reduce((n, [, l]) => n + l, 0);
const V6_LEN = V6_FIELDS.reduce((n, [, l]) => n + l, 0);
const MAX_PACKET = 1400; // below a 1500-byte MTU with IP/UDP headers

/** One synthetic flow, before encoding. */
export interface DemoFlow {
  v6: boolean;
  src: Uint8Array; // 4 or 16 bytes
  dst: Uint8Array;
  srcMask: number;
  dstMask: number;
  srcPort: number;
  dstPort: number;
  protocol: number;
  tos: number;
  tcpFlags: number;
  bytes: number;
  packets: number;
  srcAs: number;
  dstAs: number;
  inIf: number;
  outIf: number;
  nextHop: number;
  firstMs: number;
  lastMs: number;
  direction: number;
}

/** Small, fast, seedable PRNG (mulberry32) so tests are reproducible. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Net {
  as: number;
  prefix: string;
  len: number;
  weight: number;
}

// Content / remote networks (well-known public allocations of these ASes).
const REMOTE_V4: Net[] = [
  { as: 15169, prefix: "142.250.0.0", len: 15, weight: 25 },
  { as: 2906, prefix: "45.57.0.0", len: 17, weight: 15 },
  { as: 16509, prefix: "52.0.0.0", len: 11, weight: 14 },
  { as: 13335, prefix: "104.16.0.0", len: 13, weight: 12 },
  { as: 32934, prefix: "157.240.0.0", len: 16, weight: 10 },
  { as: 8075, prefix: "20.0.0.0", len: 11, weight: 8 },
  { as: 20940, prefix: "23.0.0.0", len: 12, weight: 8 },
  { as: 3320, prefix: "80.128.0.0", len: 11, weight: 4 },
  { as: 714, prefix: "17.0.0.0", len: 8, weight: 4 },
];
const REMOTE_V6: Net[] = [
  { as: 15169, prefix: "2a00:1450::", len: 32, weight: 40 },
  { as: 32934, prefix: "2a03:2880::", len: 32, weight: 20 },
  { as: 13335, prefix: "2606:4700::", len: 32, weight: 20 },
  { as: 2906, prefix: "2a00:86c0::", len: 32, weight: 20 },
];
// Our side: documentation and shared address space stand in for customers.
const LOCAL_AS = 64500;
const LOCAL_V4: Net[] = [
  { as: LOCAL_AS, prefix: "198.51.100.0", len: 24, weight: 3 },
  { as: LOCAL_AS, prefix: "203.0.113.0", len: 24, weight: 3 },
  { as: 64501, prefix: "192.0.2.0", len: 24, weight: 1 },
  { as: LOCAL_AS, prefix: "100.64.0.0", len: 10, weight: 5 },
];
const LOCAL_V6: Net[] = [{ as: LOCAL_AS, prefix: "2001:db8::", len: 32, weight: 1 }];

interface App {
  protocol: number;
  port: number;
  weight: number;
  /** Mean packets per flow and mean packet size towards the customer. */
  pkts: number;
  size: number;
}
const APPS: App[] = [
  { protocol: 6, port: 443, weight: 45, pkts: 40, size: 1200 },
  { protocol: 17, port: 443, weight: 20, pkts: 60, size: 1250 },
  { protocol: 6, port: 80, weight: 5, pkts: 20, size: 900 },
  { protocol: 17, port: 53, weight: 8, pkts: 1, size: 120 },
  { protocol: 17, port: 123, weight: 2, pkts: 1, size: 76 },
  { protocol: 6, port: 22, weight: 2, pkts: 30, size: 200 },
  { protocol: 1, port: 0, weight: 3, pkts: 2, size: 84 },
  { protocol: 6, port: 25, weight: 1, pkts: 15, size: 600 },
  { protocol: 17, port: 0, weight: 5, pkts: 25, size: 700 }, // high-port UDP (games, p2p)
  { protocol: 6, port: 8080, weight: 2, pkts: 15, size: 800 },
];

function pickWeighted<T extends { weight: number }>(items: T[], r: number): T {
  const total = items.reduce((n, i) => n + i.weight, 0);
  let x = r * total;
  for (const i of items) {
    x -= i.weight;
    if (x < 0) return i;
  }
  return items[items.length - 1]!;
}

function randomIn(net: Net, rnd: () => number): Uint8Array {
  const base = parseIp(net.prefix)!;
  const v4 = net.prefix.includes(".");
  const out = v4 ? base.slice(12) : base.slice();
  const bits = out.length * 8;
  for (let b = net.len; b < bits; b++) {
    if (rnd() < 0.5) out[b >> 3]! |= 0x80 >> (b & 7);
  }
  if (v4 && out[3] === 0) out[3] = 1;
  return out;
}

/** Traffic multiplier for the local hour: low before dawn, peak in the evening. */
export function diurnal(ms: number): number {
  const d = new Date(ms);
  const h = d.getHours() + d.getMinutes() / 60;
  return 0.3 + 0.7 * (0.5 + 0.5 * Math.cos((2 * Math.PI * (h - 21)) / 24));
}

export interface DemoExporterModel {
  /** NetFlow v9 source id (observation domain). */
  sourceId: number;
  samplingRate: number;
}

/** Generates flows and encodes them as NetFlow v9 datagrams for one exporter. */
export class NetflowV9Exporter {
  readonly sourceId: number;
  readonly samplingRate: number;
  private sequence = 0;
  private readonly bootMs: number;
  private lastTemplateMs = -Infinity;
  private packetsSinceTemplate = 0;

  constructor(model: DemoExporterModel, bootMs: number) {
    this.sourceId = model.sourceId;
    this.samplingRate = model.samplingRate;
    this.bootMs = bootMs;
  }

  /** Encode flows into as many datagrams as needed (templates first, when due). */
  encode(flows: DemoFlow[], nowMs: number): Buffer[] {
    const out: Buffer[] = [];
    let i = 0;
    do {
      const buf = Buffer.alloc(MAX_PACKET);
      let off = 20;
      let count = 0;
      if (nowMs - this.lastTemplateMs >= 10_000 || this.packetsSinceTemplate >= 100) {
        off = this.writeTemplates(buf, off);
        count += 2;
        this.lastTemplateMs = nowMs;
        this.packetsSinceTemplate = 0;
      }
      // Fill data FlowSets (one per address family, in input order runs).
      while (i < flows.length) {
        const v6 = flows[i]!.v6;
        const recLen = v6 ? V6_LEN : V4_LEN;
        if (off + 4 + recLen > MAX_PACKET) break;
        const setStart = off;
        off += 4;
        while (i < flows.length && flows[i]!.v6 === v6 && off + recLen + 3 <= MAX_PACKET) {
          off = this.writeRecord(buf, off, flows[i]!);
          i++;
          count++;
        }
        while ((off - setStart) % 4 !== 0) buf[off++] = 0; // §5.3 padding
        buf.writeUInt16BE(v6 ? DEMO_TEMPLATE_V6 : DEMO_TEMPLATE_V4, setStart);
        buf.writeUInt16BE(off - setStart, setStart + 2);
      }
      if (count === 0) break;
      buf.writeUInt16BE(9, 0);
      buf.writeUInt16BE(count, 2);
      buf.writeUInt32BE((nowMs - this.bootMs) >>> 0, 4);
      buf.writeUInt32BE(Math.floor(nowMs / 1000) >>> 0, 8);
      buf.writeUInt32BE(this.sequence, 12);
      buf.writeUInt32BE(this.sourceId, 16);
      this.sequence = (this.sequence + 1) >>> 0; // v9: sequence counts export packets
      this.packetsSinceTemplate++;
      out.push(buf.subarray(0, off));
    } while (i < flows.length);
    return out;
  }

  private writeTemplates(buf: Buffer, off: number): number {
    const start = off;
    buf.writeUInt16BE(0, off); // template FlowSet id
    off += 4;
    for (const [id, fields] of [
      [DEMO_TEMPLATE_V4, V4_FIELDS],
      [DEMO_TEMPLATE_V6, V6_FIELDS],
    ] as const) {
      buf.writeUInt16BE(id, off);
      buf.writeUInt16BE(fields.length, off + 2);
      off += 4;
      for (const [t, l] of fields) {
        buf.writeUInt16BE(t, off);
        buf.writeUInt16BE(l, off + 2);
        off += 4;
      }
    }
    buf.writeUInt16BE(off - start, start + 2);
    return off;
  }

  private writeRecord(buf: Buffer, off: number, f: DemoFlow): number {
    const up = (ms: number): number => Math.max(0, ms - this.bootMs) >>> 0;
    buf.writeBigUInt64BE(BigInt(Math.round(f.bytes)), off);
    buf.writeUInt32BE(f.packets >>> 0, off + 8);
    buf[off + 12] = f.protocol;
    buf[off + 13] = f.tos;
    buf[off + 14] = f.tcpFlags;
    buf.writeUInt16BE(f.srcPort, off + 15);
    off += 17;
    buf.set(f.src, off);
    off += f.src.length;
    buf[off++] = f.srcMask;
    buf.writeUInt16BE(f.inIf, off);
    buf.writeUInt16BE(f.dstPort, off + 2);
    off += 4;
    buf.set(f.dst, off);
    off += f.dst.length;
    buf[off++] = f.dstMask;
    buf.writeUInt16BE(f.outIf, off);
    off += 2;
    if (!f.v6) {
      buf.writeUInt32BE(f.nextHop >>> 0, off);
      off += 4;
    }
    buf.writeUInt32BE(f.srcAs, off);
    buf.writeUInt32BE(f.dstAs, off + 4);
    buf.writeUInt32BE(up(f.lastMs), off + 8);
    buf.writeUInt32BE(up(f.firstMs), off + 12);
    buf.writeUInt32BE(this.samplingRate, off + 16);
    buf[off + 20] = f.direction;
    return off + 21;
  }
}

/** The traffic model: draws flows for a given instant. */
export class FlowModel {
  private readonly rnd: () => number;
  /** Active burst: target and end time. */
  private burst: { dst: Uint8Array; until: number } | null = null;
  private nextBurstCheck = 0;

  constructor(seed = Date.now()) {
    this.rnd = mulberry32(seed);
  }

  get bursting(): boolean {
    return this.burst !== null;
  }

  /** Draw `n` regular flows (plus burst flows, if one is running) ending around `nowMs`. */
  flows(n: number, nowMs: number): DemoFlow[] {
    const r = this.rnd;
    // About one 20-second burst every 5 minutes.
    if (nowMs >= this.nextBurstCheck) {
      this.nextBurstCheck = nowMs + 1000;
      if (this.burst && nowMs > this.burst.until) this.burst = null;
      if (!this.burst && r() < 1 / 300) {
        this.burst = { dst: randomIn(LOCAL_V4[0]!, r), until: nowMs + 20_000 };
      }
    }
    const out: DemoFlow[] = [];
    for (let k = 0; k < n; k++) out.push(this.regular(nowMs));
    if (this.burst) for (let k = 0; k < n * 2; k++) out.push(this.amplification(nowMs, this.burst.dst));
    return out;
  }

  private regular(nowMs: number): DemoFlow {
    const r = this.rnd;
    const v6 = r() < 0.3;
    const remote = pickWeighted(v6 ? REMOTE_V6 : REMOTE_V4, r());
    const local = pickWeighted(v6 ? LOCAL_V6 : LOCAL_V4, r());
    const app = pickWeighted(APPS, r());
    // 80% of flows are downloads (content → customer); uploads are small.
    const download = r() < 0.8;
    const ephemeral = 32768 + Math.floor(r() * 28232);
    const servicePort = app.port || (app.protocol === 1 ? 0 : 1024 + Math.floor(r() * 60000));
    // Heavy-tailed packet counts: a few elephants, many mice.
    const packets = Math.max(1, Math.round(app.pkts * -Math.log(1 - r() * 0.999) * (download ? 1 : 0.5)));
    const size = download ? app.size * (0.7 + 0.3 * r()) : Math.min(app.size, 60 + 40 * r());
    const duration = packets === 1 ? 0 : Math.floor(r() * 60_000);
    const lastMs = nowMs - Math.floor(r() * 5000);
    const remoteIp = randomIn(remote, r);
    const localIp = randomIn(local, r);
    const uplink = 1 + Math.floor(r() * 3); // ifIndex 1-3: transit and peering
    const customer = 10 + Math.floor(r() * 12); // ifIndex 10-21: customer ports
    const icmp = app.protocol === 1;
    return {
      v6,
      src: download ? remoteIp : localIp,
      dst: download ? localIp : remoteIp,
      srcMask: download ? remote.len : local.len,
      dstMask: download ? local.len : remote.len,
      srcPort: icmp ? 0 : download ? servicePort : ephemeral,
      // ICMP: type/code in the destination port (8 = echo request, 0 = reply).
      dstPort: icmp ? (r() < 0.5 ? 0x0800 : 0) : download ? ephemeral : servicePort,
      protocol: v6 && icmp ? 58 : app.protocol,
      tos: r() < 0.9 ? 0 : 0xb8,
      tcpFlags: app.protocol === 6 ? (packets > 2 ? 0x1b : 0x02) : 0,
      bytes: Math.round(packets * size),
      packets,
      srcAs: download ? remote.as : local.as,
      dstAs: download ? local.as : remote.as,
      inIf: download ? uplink : customer,
      outIf: download ? customer : uplink,
      nextHop: download ? 0xc6336401 : 0xcb007101, // 198.51.100.1 / 203.0.113.1
      firstMs: lastMs - duration,
      lastMs,
      direction: 0,
    };
  }

  private amplification(nowMs: number, dst: Uint8Array): DemoFlow {
    const r = this.rnd;
    const remote = pickWeighted(REMOTE_V4, r());
    const reflector = [53, 123, 11211, 1900][Math.floor(r() * 4)]!;
    const packets = 1 + Math.floor(r() * 50);
    return {
      v6: false,
      src: randomIn({ ...remote, len: 8 }, r),
      dst,
      srcMask: 24,
      dstMask: 24,
      srcPort: reflector,
      dstPort: 1024 + Math.floor(r() * 60000),
      protocol: 17,
      tos: 0,
      tcpFlags: 0,
      bytes: packets * (reflector === 11211 ? 1400 : 480),
      packets,
      srcAs: remote.as,
      dstAs: LOCAL_AS,
      inIf: 1 + Math.floor(r() * 3),
      outIf: 10,
      nextHop: 0xc6336401,
      firstMs: nowMs - 2000,
      lastMs: nowMs - Math.floor(r() * 500),
      direction: 0,
    };
  }
}
