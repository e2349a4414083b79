// Deterministic raw-traffic pcap generator: the input of the real exporters
// (softflowd, pmacctd) in the end-to-end tests.
//
// It writes a classic pcap (LINKTYPE_ETHERNET, microsecond timestamps) of
// "conversations" spread over a few seconds, packets of all conversations
// interleaved in time order:
//   - TCP over IPv4 and IPv6 with realistic flag sequences: the three-way
//     handshake, data segments (ACK / PSH|ACK) both ways, then a FIN/ACK
//     teardown; some end in a RST, some are unanswered SYN scans, a few carry
//     URG. Segment sizes vary from 0 to an MSS of 1448.
//   - UDP over IPv4 and IPv6: DNS-like request/response pairs and one-way
//     streams (RTP-like) of tens to a few hundred datagrams.
//   - ICMP echo request/reply (IPv4) and ICMPv6 echo (IPv6), plus a few
//     ICMP destination-unreachable messages.
// A seeded PRNG (test/fuzz/prng.ts, mulberry32) drives every choice, so the same seed gives the
// same bytes. Checksums (IPv4 header, TCP, UDP, ICMP, ICMPv6) are computed, so
// tshark and the exporters see well-formed packets.
//
// The generator also returns its ground truth per unidirectional 5-tuple
// (packets, IP-level bytes) so that a test can hold an exact exporter
// (softflowd) to the traffic itself, not only to a reference collector.
import { writeFileSync } from "node:fs";
import { formatIp } from "../../src/collector/ip.js";
import { Prng } from "../fuzz/prng.js";

export interface TrafficOptions {
  /** PRNG seed (default 0x6e616761, "naga"). */
  seed?: number;
  /** Number of conversations (each gives one or two unidirectional flows). */
  conversations?: number;
  /** Seconds over which conversations start. */
  spanSeconds?: number;
  /** Unix time of the first packet, seconds. */
  startSeconds?: number;
}

/** A unidirectional 5-tuple as text: "src|dst|sport|dport|proto" (addresses in canonical text form). */
export type TupleKey = string;

export interface FlowTruth {
  packets: number;
  /** Sum of IP total lengths (IPv4 total length; IPv6 40 + payload length), what NetFlow counts as octets. */
  bytes: number;
  ipVersion: 4 | 6;
  protocol: number;
}

export interface TrafficSummary {
  packets: number;
  /** Sum of frame lengths in the pcap (Ethernet included). */
  frameBytes: number;
  conversations: number;
  firstMs: number;
  lastMs: number;
  /** Per unidirectional 5-tuple (ICMP: sport 0, dport type*256+code), as NetFlow exporters key them. */
  flows: Map<TupleKey, FlowTruth>;
}

interface Packet {
  timeUs: number;
  seq: number; // tie-break for equal timestamps: keeps generation order
  frame: Uint8Array;
}

/** True with probability p. */
function chance(rng: Prng, p: number): boolean {
  return rng.u32() / 4294967296 < p;
}

// ---- addresses ---------------------------------------------------------------

interface Host {
  v: 4 | 6;
  addr: Uint8Array; // 4 or 16 bytes
  text: string;
  mac: Uint8Array;
}

function v4Host(a: number, b: number, c: number, d: number, rng: Prng): Host {
  return { v: 4, addr: Uint8Array.of(a, b, c, d), text: `${a}.${b}.${c}.${d}`, mac: mac(rng) };
}

function v6Host(prefix: number[], iid: number, rng: Prng): Host {
  const addr = new Uint8Array(16);
  prefix.forEach((w, k) => {
    addr[2 * k] = w >> 8;
    addr[2 * k + 1] = w & 0xff;
  });
  addr[14] = (iid >> 8) & 0xff;
  addr[15] = iid & 0xff;
  return { v: 6, addr, text: formatIp(addr, 0), mac: mac(rng) };
}

function mac(rng: Prng): Uint8Array {
  const m = Uint8Array.of(0x02, rng.int(256), rng.int(256), rng.int(256), rng.int(256), rng.int(256));
  return m; // locally administered, unicast
}

// ---- packet building ---------------------------------------------------------

function sum16(buf: Uint8Array, off: number, len: number, acc = 0): number {
  for (let k = 0; k + 1 < len; k += 2) acc += (buf[off + k]! << 8) | buf[off + k + 1]!;
  if (len & 1) acc += buf[off + len - 1]! << 8;
  return acc;
}

function fold(acc: number): number {
  while (acc > 0xffff) acc = (acc & 0xffff) + (acc >>> 16);
  return ~acc & 0xffff;
}

const ETH = 14;
const TCP_SYN = 0x02;
const TCP_ACK = 0x10;
const TCP_FIN = 0x01;
const TCP_RST = 0x04;
const TCP_PSH = 0x08;
const TCP_URG = 0x20;

interface L4 {
  proto: number; // 6, 17, 1, 58
  header: Uint8Array; // transport header with checksum field zero (filled in build)
  payloadLen: number;
  checksumOff: number; // offset of the checksum inside header
}

let ipId = 1;

/** Ethernet + IPv4/IPv6 + L4 with checksums; payload bytes are a deterministic pattern. */
function buildFrame(
  src: Host,
  dst: Host,
  l4: L4,
  tos: number,
  ttl: number,
): { frame: Uint8Array; ipLen: number } {
  const l4Len = l4.header.length + l4.payloadLen;
  const ipHdr = src.v === 4 ? 20 : 40;
  const ipLen = ipHdr + l4Len;
  const frame = new Uint8Array(ETH + ipLen);
  frame.set(dst.mac, 0);
  frame.set(src.mac, 6);
  const ip = ETH;
  if (src.v === 4) {
    frame[12] = 0x08;
    frame[13] = 0x00;
    frame[ip] = 0x45;
    frame[ip + 1] = tos;
    frame[ip + 2] = ipLen >> 8;
    frame[ip + 3] = ipLen & 0xff;
    const id = ipId++ & 0xffff;
    frame[ip + 4] = id >> 8;
    frame[ip + 5] = id & 0xff;
    frame[ip + 6] = 0x40; // DF
    frame[ip + 8] = ttl;
    frame[ip + 9] = l4.proto;
    frame.set(src.addr, ip + 12);
    frame.set(dst.addr, ip + 16);
    const c = fold(sum16(frame, ip, 20));
    frame[ip + 10] = c >> 8;
    frame[ip + 11] = c & 0xff;
  } else {
    frame[12] = 0x86;
    frame[13] = 0xdd;
    frame[ip] = 0x60 | (tos >> 4);
    frame[ip + 1] = (tos & 0x0f) << 4;
    frame[ip + 4] = l4Len >> 8;
    frame[ip + 5] = l4Len & 0xff;
    frame[ip + 6] = l4.proto;
    frame[ip + 7] = ttl;
    frame.set(src.addr, ip + 8);
    frame.set(dst.addr, ip + 24);
  }
  const t = ip + ipHdr;
  frame.set(l4.header, t);
  for (let k = 0; k < l4.payloadLen; k++) frame[t + l4.header.length + k] = (k * 31 + l4Len) & 0xff;
  // Checksums: TCP/UDP/ICMPv6 over a pseudo-header; ICMPv4 over the message only.
  let acc = 0;
  if (l4.proto !== 1) {
    acc = sum16(src.addr, 0, src.addr.length, acc);
    acc = sum16(dst.addr, 0, dst.addr.length, acc);
    acc += l4.proto + l4Len;
  }
  let c = fold(sum16(frame, t, l4Len, acc));
  if (l4.proto === 17 && c === 0) c = 0xffff; // RFC 768: zero means "no checksum"
  frame[t + l4.checksumOff] = c >> 8;
  frame[t + l4.checksumOff + 1] = c & 0xff;
  return { frame, ipLen };
}

function tcpHeader(sport: number, dport: number, seq: number, ack: number, flags: number): Uint8Array {
  const h = new Uint8Array(20);
  const dv = new DataView(h.buffer);
  dv.setUint16(0, sport);
  dv.setUint16(2, dport);
  dv.setUint32(4, seq >>> 0);
  dv.setUint32(8, flags & TCP_ACK ? ack >>> 0 : 0);
  h[12] = 5 << 4;
  h[13] = flags;
  dv.setUint16(14, 64240);
  if (flags & TCP_URG) dv.setUint16(18, 1);
  return h;
}

function udpHeader(sport: number, dport: number, payloadLen: number): Uint8Array {
  const h = new Uint8Array(8);
  const dv = new DataView(h.buffer);
  dv.setUint16(0, sport);
  dv.setUint16(2, dport);
  dv.setUint16(4, 8 + payloadLen);
  return h;
}

function icmpHeader(type: number, code: number, id: number, seq: number): Uint8Array {
  const h = new Uint8Array(8);
  h[0] = type;
  h[1] = code;
  h[4] = id >> 8;
  h[5] = id & 0xff;
  h[6] = seq >> 8;
  h[7] = seq & 0xff;
  return h;
}

// ---- conversations -----------------------------------------------------------

class Builder {
  readonly packets: Packet[] = [];
  readonly flows = new Map<TupleKey, FlowTruth>();
  private n = 0;

  add(
    timeUs: number,
    src: Host,
    dst: Host,
    sport: number,
    dport: number,
    l4: L4,
    tos: number,
    ttl: number,
  ): void {
    const { frame, ipLen } = buildFrame(src, dst, l4, tos, ttl);
    this.packets.push({ timeUs, seq: this.n++, frame });
    const key = tupleKey(src.text, dst.text, sport, dport, l4.proto);
    const f = this.flows.get(key);
    if (f) {
      f.packets++;
      f.bytes += ipLen;
    } else {
      this.flows.set(key, { packets: 1, bytes: ipLen, ipVersion: src.v, protocol: l4.proto });
    }
  }
}

export function tupleKey(src: string, dst: string, sport: number, dport: number, proto: number): TupleKey {
  return `${src}|${dst}|${sport}|${dport}|${proto}`;
}

function tcpConversation(
  b: Builder,
  rng: Prng,
  t0: number,
  c: Host,
  s: Host,
  sport: number,
  dport: number,
): void {
  const tos = rng.pick([0, 0, 0, 0x10, 0x28, 0xb8]);
  const rtt = rng.range(200, 20_000); // µs
  let t = t0;
  let cseq = rng.u32();
  let sseq = rng.u32();
  const ttlC = rng.pick([64, 128, 255]);
  const ttlS = rng.pick([52, 57, 64, 118]);
  const seg = (from: "c" | "s", flags: number, len: number): void => {
    const [src, dst, sp, dp, seq, ack, ttl] =
      from === "c" ? [c, s, sport, dport, cseq, sseq, ttlC] : [s, c, dport, sport, sseq, cseq, ttlS];
    b.add(
      t,
      src,
      dst,
      sp,
      dp,
      { proto: 6, header: tcpHeader(sp, dp, seq, ack, flags), payloadLen: len, checksumOff: 16 },
      tos,
      ttl,
    );
    const adv = len + (flags & (TCP_SYN | TCP_FIN) ? 1 : 0);
    if (from === "c") cseq = (cseq + adv) >>> 0;
    else sseq = (sseq + adv) >>> 0;
  };
  const kind = rng.int(100);
  if (kind < 8) {
    // Unanswered SYN (scan or filtered port), with a retransmission or two.
    const tries = rng.range(1, 3);
    for (let k = 0; k < tries; k++) {
      seg("c", TCP_SYN, 0);
      t += 300_000 * (k + 1);
    }
    return;
  }
  if (kind < 14) {
    // Closed port: SYN answered by RST/ACK.
    seg("c", TCP_SYN, 0);
    t += rtt;
    seg("s", TCP_RST | TCP_ACK, 0);
    return;
  }
  seg("c", TCP_SYN, 0);
  t += rtt;
  seg("s", TCP_SYN | TCP_ACK, 0);
  t += rtt >> 1;
  seg("c", TCP_ACK, 0);
  // Request/response exchanges; the server sends the bulk of the data.
  const exchanges = rng.int(100) < 80 ? rng.range(1, 3) : rng.range(4, 12);
  for (let e = 0; e < exchanges; e++) {
    t += rng.range(50, 5000);
    seg("c", TCP_PSH | TCP_ACK | (chance(rng, 0.02) ? TCP_URG : 0), rng.range(40, 700));
    t += rtt;
    const segments = chance(rng, 0.06) ? rng.range(10, 60) : rng.range(1, 6);
    for (let k = 0; k < segments; k++) {
      const last = k === segments - 1;
      const len = last ? rng.range(1, 1448) : 1448;
      seg("s", last ? TCP_PSH | TCP_ACK : TCP_ACK, len);
      t += rng.range(10, 400);
      if (k % 2 === 1 || last) {
        t += rtt >> 1;
        seg("c", TCP_ACK, 0); // delayed ACK every second segment
      }
    }
  }
  t += rng.range(100, 20_000);
  if (chance(rng, 0.1)) {
    seg("c", TCP_RST | TCP_ACK, 0); // abortive close
    return;
  }
  const clientCloses = chance(rng, 0.6);
  const first = clientCloses ? "c" : "s";
  const second = clientCloses ? "s" : "c";
  seg(first, TCP_FIN | TCP_ACK, 0);
  t += rtt;
  seg(second, TCP_FIN | TCP_ACK, 0);
  t += rtt >> 1;
  seg(first, TCP_ACK, 0);
}

function udpConversation(b: Builder, rng: Prng, t0: number, c: Host, s: Host, sport: number): void {
  const udp = (from: Host, to: Host, sp: number, dp: number, len: number, t: number, tos: number): void =>
    b.add(
      t,
      from,
      to,
      sp,
      dp,
      { proto: 17, header: udpHeader(sp, dp, len), payloadLen: len, checksumOff: 6 },
      tos,
      64,
    );
  if (chance(rng, 0.6)) {
    // DNS-like: one query, usually one answer, sometimes a retry.
    const tries = chance(rng, 0.1) ? 2 : 1;
    let t = t0;
    for (let k = 0; k < tries; k++) {
      udp(c, s, sport, 53, rng.range(28, 60), t, 0);
      t += rng.range(500, 30_000);
    }
    if (!chance(rng, 0.05)) udp(s, c, 53, sport, rng.range(60, 500), t, 0);
    return;
  }
  // RTP-like one-way stream (sometimes with a thin reverse stream: RTCP-like).
  const dport = rng.range(10_000, 20_000) & ~1;
  const n = rng.range(10, 120);
  const size = rng.pick([172, 180, 200, 252, 1200]);
  const gap = rng.pick([10_000, 20_000, 25_000]);
  for (let k = 0; k < n; k++) udp(c, s, sport, dport, size - 28, t0 + k * gap, 0xb8);
  if (chance(rng, 0.3)) {
    for (let k = 0; k < Math.ceil(n / 50); k++) udp(s, c, dport, sport, 64, t0 + k * 1_000_000 + 1, 0xb8);
  }
}

function icmpConversation(b: Builder, rng: Prng, t0: number, c: Host, s: Host): void {
  const v6 = c.v === 6;
  const proto = v6 ? 58 : 1;
  const icmp = (
    from: Host,
    to: Host,
    type: number,
    code: number,
    id: number,
    sq: number,
    len: number,
    t: number,
  ): void => {
    b.add(
      t,
      from,
      to,
      0,
      type * 256 + code,
      { proto, header: icmpHeader(type, code, id, sq), payloadLen: len, checksumOff: 2 },
      0,
      64,
    );
  };
  if (chance(rng, 0.15)) {
    // Destination unreachable (port unreachable), quoting an IP header + 8 bytes.
    const [type, code] = v6 ? [1, 4] : [3, 3];
    icmp(s, c, type, code, 0, 0, v6 ? 48 : 28, t0);
    return;
  }
  const [req, rep] = v6 ? [128, 129] : [8, 0];
  const id = rng.int(65536);
  const count = rng.range(1, 10);
  const len = rng.pick([56, 56, 56, 120, 1400]);
  for (let k = 0; k < count; k++) {
    const t = t0 + k * 200_000;
    icmp(c, s, req, 0, id, k + 1, len, t);
    if (!chance(rng, 0.1)) icmp(s, c, rep, 0, id, k + 1, len, t + rng.range(300, 30_000));
  }
}

// ---- the capture -------------------------------------------------------------

export function generateTraffic(opts: TrafficOptions = {}): { summary: TrafficSummary; packets: Packet[] } {
  const rng = new Prng(opts.seed ?? 0x6e616761);
  const conversations = opts.conversations ?? 1200;
  const spanUs = Math.round((opts.spanSeconds ?? 4) * 1e6);
  const startUs = (opts.startSeconds ?? 1_700_000_000) * 1e6;
  ipId = 1;

  const clients4 = Array.from({ length: 60 }, (_, k) => v4Host(10, 1, k >> 4, (k & 15) + 10, rng));
  const servers4 = Array.from({ length: 25 }, (_, k) => v4Host(192, 0, 2, k + 1, rng)).concat(
    Array.from({ length: 15 }, (_, k) => v4Host(198, 51, 100, 10 * k + 3, rng)),
  );
  const clients6 = Array.from({ length: 30 }, (_, k) => v6Host([0x2001, 0xdb8, 0xa, 0], 0x100 + k, rng));
  const servers6 = Array.from({ length: 15 }, (_, k) => v6Host([0x2001, 0xdb8, 0xbeef, 0], k + 1, rng));
  const tcpPorts = [80, 443, 443, 443, 22, 25, 993, 3306, 5432, 8080, 8443];

  const b = new Builder();
  // Client ports are drawn without replacement per client so that one
  // conversation is one unidirectional 5-tuple pair (flows stay countable).
  const usedPorts = new Map<Host, Set<number>>();
  const ephemeral = (h: Host): number => {
    let set = usedPorts.get(h);
    if (!set) usedPorts.set(h, (set = new Set()));
    for (;;) {
      const p = rng.range(32768, 60999);
      if (!set.has(p)) {
        set.add(p);
        return p;
      }
    }
  };
  for (let i = 0; i < conversations; i++) {
    const t0 = startUs + rng.int(spanUs);
    const v6 = chance(rng, 0.3);
    const c = rng.pick(v6 ? clients6 : clients4);
    const s = rng.pick(v6 ? servers6 : servers4);
    const what = rng.int(100);
    if (what < 60) tcpConversation(b, rng, t0, c, s, ephemeral(c), rng.pick(tcpPorts));
    else if (what < 88) udpConversation(b, rng, t0, c, s, ephemeral(c));
    else icmpConversation(b, rng, t0, c, s);
  }
  const packets = b.packets.sort((x, y) => x.timeUs - y.timeUs || x.seq - y.seq);
  let frameBytes = 0;
  for (const p of packets) frameBytes += p.frame.length;
  return {
    packets,
    summary: {
      packets: packets.length,
      frameBytes,
      conversations,
      firstMs: Math.floor(packets[0]!.timeUs / 1000),
      lastMs: Math.floor(packets[packets.length - 1]!.timeUs / 1000),
      flows: b.flows,
    },
  };
}

/** Write the traffic as a classic pcap (LINKTYPE_ETHERNET, µs) and return its ground truth. */
export function writeTrafficPcap(path: string, opts: TrafficOptions = {}): TrafficSummary {
  const { packets, summary } = generateTraffic(opts);
  const out = new Uint8Array(24 + packets.length * 16 + summary.frameBytes);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, 0xa1b2c3d4, true);
  dv.setUint16(4, 2, true);
  dv.setUint16(6, 4, true);
  dv.setUint32(16, 65535, true); // snaplen
  dv.setUint32(20, 1, true); // LINKTYPE_ETHERNET
  let off = 24;
  for (const p of packets) {
    const sec = Math.floor(p.timeUs / 1e6);
    dv.setUint32(off, sec, true);
    dv.setUint32(off + 4, Math.round(p.timeUs - sec * 1e6), true);
    dv.setUint32(off + 8, p.frame.length, true);
    dv.setUint32(off + 12, p.frame.length, true);
    out.set(p.frame, off + 16);
    off += 16 + p.frame.length;
  }
  writeFileSync(path, out);
  return summary;
}
