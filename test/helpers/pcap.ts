// Minimal classic-pcap reader and writer for the acceptance tests.
//
// The reader pulls UDP datagrams out of the capture files in
// /work/shared/captures (Ethernet with 802.1Q/QinQ tags, Linux cooked v1/v2,
// raw IP; IPv4 and IPv6). IPv4 fragments are reassembled because some
// exporters send datagrams larger than the link MTU. The writer wraps UDP
// payloads into synthetic Ethernet/IPv4/UDP frames so that tshark can decode
// raw .dat/.bin/.ipfix files (the same framing the MANIFEST counts used).
import { readFileSync, writeFileSync } from "node:fs";
import type { CapturedDatagram } from "../../src/collector/capture.js";
import { formatIp } from "../../src/collector/ip.js";

/** The fields of src/collector/capture.ts's datagrams (timeMs keeps its sub-ms fraction here), plus the frame. */
export interface UdpDatagram extends CapturedDatagram {
  /** 1-based frame number in the pcap (the frame that completed the datagram). */
  frame: number;
}

const LINKTYPE_NULL = 0;
const LINKTYPE_ETHERNET = 1;
const LINKTYPE_RAW = 101;
const LINKTYPE_LINUX_SLL = 113;
const LINKTYPE_IPV4 = 228;
const LINKTYPE_IPV6 = 229;
const LINKTYPE_LINUX_SLL2 = 276;

function ipv4Text(b: Uint8Array, off: number): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}

function ipv6Text(b: Uint8Array, off: number): string {
  // formatIp prints IPv4-mapped addresses dotted; the wire never carries those.
  return formatIp(b.subarray(off, off + 16), 0) || "::";
}

/** Read every UDP datagram of a classic pcap file. Non-UDP frames are skipped. */
export function readPcapUdp(path: string): UdpDatagram[] {
  const buf = new Uint8Array(readFileSync(path));
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const magic = dv.getUint32(0, true);
  let le: boolean;
  let nano = false;
  if (magic === 0xa1b2c3d4) le = true;
  else if (magic === 0xd4c3b2a1) le = false;
  else if (magic === 0xa1b23c4d) {
    le = true;
    nano = true;
  } else if (magic === 0x4d3cb2a1) {
    le = false;
    nano = true;
  } else throw new Error(`${path}: not a classic pcap file (magic ${magic.toString(16)})`);
  const linktype = dv.getUint32(20, le) & 0x0fffffff;
  const out: UdpDatagram[] = [];
  const fragments = new Map<string, { parts: { off: number; data: Uint8Array }[]; total: number }>();
  let off = 24;
  let frame = 0;
  while (off + 16 <= buf.length) {
    const sec = dv.getUint32(off, le);
    const frac = dv.getUint32(off + 4, le);
    const incl = dv.getUint32(off + 8, le);
    off += 16;
    if (off + incl > buf.length) break;
    frame++;
    const pkt = buf.subarray(off, off + incl);
    off += incl;
    const timeMs = sec * 1000 + (nano ? frac / 1e6 : frac / 1e3);
    let p = 0;
    let ethertype = -1;
    switch (linktype) {
      case LINKTYPE_ETHERNET:
        ethertype = (pkt[12]! << 8) | pkt[13]!;
        p = 14;
        break;
      case LINKTYPE_LINUX_SLL:
        ethertype = (pkt[14]! << 8) | pkt[15]!;
        p = 16;
        break;
      case LINKTYPE_LINUX_SLL2:
        ethertype = (pkt[0]! << 8) | pkt[1]!;
        p = 20;
        break;
      case LINKTYPE_NULL:
        ethertype = pkt[0] === 2 || pkt[3] === 2 ? 0x0800 : 0x86dd;
        p = 4;
        break;
      case LINKTYPE_RAW:
      case LINKTYPE_IPV4:
      case LINKTYPE_IPV6:
        ethertype = pkt[0]! >> 4 === 6 ? 0x86dd : 0x0800;
        break;
      default:
        throw new Error(`${path}: unsupported pcap link type ${linktype}`);
    }
    while (ethertype === 0x8100 || ethertype === 0x88a8) {
      ethertype = (pkt[p + 2]! << 8) | pkt[p + 3]!;
      p += 4;
    }
    if (ethertype === 0x0800) {
      const ihl = (pkt[p]! & 0x0f) * 4;
      const totalLen = (pkt[p + 2]! << 8) | pkt[p + 3]!;
      const id = (pkt[p + 4]! << 8) | pkt[p + 5]!;
      const flagsFrag = (pkt[p + 6]! << 8) | pkt[p + 7]!;
      const more = (flagsFrag & 0x2000) !== 0;
      const fragOff = (flagsFrag & 0x1fff) * 8;
      const proto = pkt[p + 9]!;
      if (proto !== 17) continue;
      const src = ipv4Text(pkt, p + 12);
      const dst = ipv4Text(pkt, p + 16);
      let ipPayload = pkt.subarray(p + ihl, Math.min(pkt.length, p + totalLen));
      if (more || fragOff > 0) {
        const key = `${src}>${dst}#${id}`;
        let f = fragments.get(key);
        if (!f) fragments.set(key, (f = { parts: [], total: -1 }));
        f.parts.push({ off: fragOff, data: ipPayload.slice() });
        if (!more) f.total = fragOff + ipPayload.length;
        if (f.total < 0) continue;
        const have = f.parts.reduce((n, x) => n + x.data.length, 0);
        if (have < f.total) continue;
        const whole = new Uint8Array(f.total);
        for (const x of f.parts) whole.set(x.data, x.off);
        fragments.delete(key);
        ipPayload = whole;
      }
      pushUdp(out, ipPayload, src, dst, timeMs, frame);
    } else if (ethertype === 0x86dd) {
      let next = pkt[p + 6]!;
      const src = ipv6Text(pkt, p + 8);
      const dst = ipv6Text(pkt, p + 24);
      const payloadLen = (pkt[p + 4]! << 8) | pkt[p + 5]!;
      let q = p + 40;
      const end = Math.min(pkt.length, q + payloadLen);
      // Skip hop-by-hop / routing / destination options headers.
      while (next === 0 || next === 43 || next === 60) {
        next = pkt[q]!;
        q += (pkt[q + 1]! + 1) * 8;
      }
      if (next !== 17) continue;
      pushUdp(out, pkt.subarray(q, end), src, dst, timeMs, frame);
    }
  }
  return out;
}

function pushUdp(
  out: UdpDatagram[],
  udp: Uint8Array,
  src: string,
  dst: string,
  timeMs: number,
  frame: number,
): void {
  if (udp.length < 8) return;
  const udpLen = (udp[4]! << 8) | udp[5]!;
  out.push({
    payload: udp.subarray(8, Math.max(8, Math.min(udp.length, udpLen))),
    srcAddr: src,
    srcPort: (udp[0]! << 8) | udp[1]!,
    dstAddr: dst,
    dstPort: (udp[2]! << 8) | udp[3]!,
    timeMs,
    frame,
  });
}

/**
 * Write UDP payloads as a pcap of synthetic Ethernet/IPv4/UDP frames
 * 192.0.2.1:50000 → 192.0.2.2:dstPort (checksums zero: tshark does not check
 * them by default).
 */
export function writeSyntheticPcap(path: string, payloads: Uint8Array[], dstPort: number): void {
  const chunks: Uint8Array[] = [];
  const gh = new DataView(new ArrayBuffer(24));
  gh.setUint32(0, 0xa1b2c3d4, true);
  gh.setUint16(4, 2, true);
  gh.setUint16(6, 4, true);
  gh.setUint32(16, 262144, true);
  gh.setUint32(20, LINKTYPE_ETHERNET, true);
  chunks.push(new Uint8Array(gh.buffer));
  payloads.forEach((payload, i) => {
    const frameLen = 14 + 20 + 8 + payload.length;
    const rec = new Uint8Array(16 + frameLen);
    const dv = new DataView(rec.buffer);
    dv.setUint32(0, 1_700_000_000 + i, true);
    dv.setUint32(8, frameLen, true);
    dv.setUint32(12, frameLen, true);
    const f = 16;
    rec.set([0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00], f);
    const ip = f + 14;
    rec[ip] = 0x45;
    dv.setUint16(ip + 2, 20 + 8 + payload.length);
    dv.setUint16(ip + 4, i & 0xffff);
    rec[ip + 8] = 64;
    rec[ip + 9] = 17;
    rec.set([192, 0, 2, 1], ip + 12);
    rec.set([192, 0, 2, 2], ip + 16);
    let sum = 0;
    for (let k = 0; k < 20; k += 2) sum += (rec[ip + k]! << 8) | rec[ip + k + 1]!;
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    dv.setUint16(ip + 10, ~sum & 0xffff);
    const udp = ip + 20;
    dv.setUint16(udp, 50000);
    dv.setUint16(udp + 2, dstPort);
    dv.setUint16(udp + 4, 8 + payload.length);
    rec.set(payload, udp + 8);
    chunks.push(rec);
  });
  writeFileSync(path, Buffer.concat(chunks));
}
