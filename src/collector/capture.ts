// Reading capture files: pcap, pcapng and raw export payload files.
//
// Used by `nagare decode`, the conformance tests and the benchmarks, so it
// hands back views into the file buffer (no copy per datagram) and does the
// minimum of link/IP/UDP parsing needed to recover UDP payloads:
//   - pcap (libpcap 2.4; both byte orders; µs magic a1b2c3d4, ns magic a1b23c4d)
//   - pcapng (SHB/IDB/EPB/SPB/obsolete PB; several interfaces with their own
//     link type and if_tsresol/if_tsoffset; several sections of either byte order)
//   - link types Ethernet (1, with 802.1Q/QinQ tags and 802.3 SNAP), Linux SLL
//     (113), SLL2 (276), raw IP (101, 12, 14, 228, 229), BSD null/loopback (0, 108)
//   - IPv4 (options; fragments reassembled) and IPv6 (extension headers skipped,
//     fragments reassembled); UDP only — TCP (BMP/BGP in the pmacct captures)
//     and everything else is skipped.
//   - anything else is a raw file of export payloads back to back (see
//     splitRawPayloads) with a synthetic exporter.
import { readFileSync, statSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export interface CapturedDatagram {
  /** UDP payload (a view into the file buffer, or a reassembled copy). */
  payload: Uint8Array;
  srcAddr: string;
  srcPort: number;
  dstAddr: string;
  dstPort: number;
  /** Capture timestamp, ms since epoch (raw files: file mtime, or 0). */
  timeMs: number;
  /** True for datagrams of a raw payload file: addresses and ports are the synthetic RAW_EXPORTER ones. */
  synthetic?: boolean;
}

/** Synthetic exporter used for raw payload files (README: "one fixed synthetic exporter"). */
export const RAW_EXPORTER = { srcAddr: "192.0.2.1", srcPort: 50000, dstAddr: "192.0.2.2" } as const;

/** Read one capture file of any supported kind. Throws only for I/O errors. */
export function readCapture(path: string): CapturedDatagram[] {
  const buf = readFileSync(path);
  const data = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  if (isPcap(data) || isPcapng(data)) return parseCapture(data);
  let mtimeMs = 0;
  try {
    mtimeMs = Math.floor(statSync(path).mtimeMs);
  } catch {
    mtimeMs = 0;
  }
  return parseCapture(data, mtimeMs);
}

/** Read several files in order (one unit: templates first, then data). */
export function readUnit(files: string[]): CapturedDatagram[] {
  const out: CapturedDatagram[] = [];
  for (const f of files) for (const d of readCapture(f)) out.push(d);
  return out;
}

/** Parse a capture already in memory; `rawTimeMs` stamps raw-payload datagrams. */
export function parseCapture(data: Uint8Array, rawTimeMs = 0): CapturedDatagram[] {
  if (isPcap(data)) return parsePcap(data);
  if (isPcapng(data)) return parsePcapng(data);
  return splitRawPayloads(data).map((payload) => ({
    payload,
    srcAddr: RAW_EXPORTER.srcAddr,
    srcPort: RAW_EXPORTER.srcPort,
    dstAddr: RAW_EXPORTER.dstAddr,
    dstPort: payload.length >= 4 && u32be(payload, 0) === 5 ? 6343 : 2055,
    timeMs: rawTimeMs,
    synthetic: true,
  }));
}

// ---------------------------------------------------------------------------
// Byte helpers (bounds are checked by the callers).

function u16be(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}
function u32be(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}
function u16le(b: Uint8Array, o: number): number {
  return b[o]! | (b[o + 1]! << 8);
}
function u32le(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}

function isPcap(d: Uint8Array): boolean {
  if (d.length < 24) return false;
  const m = u32be(d, 0);
  return m === 0xa1b2c3d4 || m === 0xd4c3b2a1 || m === 0xa1b23c4d || m === 0x4d3cb2a1;
}

function isPcapng(d: Uint8Array): boolean {
  return d.length >= 28 && u32be(d, 0) === 0x0a0d0d0a;
}

// ---------------------------------------------------------------------------
// pcap: 24-byte global header (magic, version, thiszone, sigfigs, snaplen,
// network), then per packet ts_sec, ts_usec|ts_nsec, incl_len, orig_len, data.

function parsePcap(d: Uint8Array): CapturedDatagram[] {
  const m = u32be(d, 0);
  const le = m === 0xd4c3b2a1 || m === 0x4d3cb2a1;
  const nano = m === 0xa1b23c4d || m === 0x4d3cb2a1;
  const r32 = le ? u32le : u32be;
  // The upper 16 bits of `network` may carry FCS information (pcap-savefile(5)).
  const linktype = r32(d, 20) & 0xffff;
  const out: CapturedDatagram[] = [];
  const frag = new Reassembler();
  let p = 24;
  while (p + 16 <= d.length) {
    const sec = r32(d, p);
    const sub = r32(d, p + 4);
    const incl = r32(d, p + 8);
    const start = p + 16;
    const stop = Math.min(start + incl, d.length); // a cut-off last record keeps what exists
    const timeMs = sec * 1000 + (nano ? Math.floor(sub / 1e6) : Math.floor(sub / 1000));
    linkToUdp(d, start, stop, linktype, timeMs, out, frag);
    p = start + incl;
  }
  return out;
}

// ---------------------------------------------------------------------------
// pcapng (draft-ietf-opsawg-pcapng): blocks of type, total length, body,
// total length. The SHB's byte-order magic 1A2B3C4D decides the byte order of
// its section; each IDB adds an interface (link type, if_tsresol, if_tsoffset).

interface PcapngIf {
  linktype: number;
  /** Timestamp units per millisecond. */
  unitsPerMs: number;
  offsetSec: number;
}

function parsePcapng(d: Uint8Array): CapturedDatagram[] {
  const out: CapturedDatagram[] = [];
  const frag = new Reassembler();
  let le = true;
  let ifs: PcapngIf[] = [];
  let p = 0;
  while (p + 12 <= d.length) {
    let type = u32le(d, p);
    if (type === 0x0a0d0d0a) {
      // SHB: type is a palindrome; the byte-order magic follows the length.
      le = u32le(d, p + 8) === 0x1a2b3c4d;
      ifs = [];
    }
    const r32 = le ? u32le : u32be;
    const r16 = le ? u16le : u16be;
    type = r32(d, p);
    const len = r32(d, p + 4);
    if (len < 12 || p + len > d.length) break; // corrupt or cut: stop at what was read
    const body = p + 8;
    const bodyEnd = p + len - 4;
    if (type === 1 && bodyEnd - body >= 8) {
      const iface: PcapngIf = { linktype: r16(d, body), unitsPerMs: 1000, offsetSec: 0 };
      // Options: code u16, length u16, value padded to 32 bits.
      let o = body + 8;
      while (o + 4 <= bodyEnd) {
        const code = r16(d, o);
        const olen = r16(d, o + 2);
        if (code === 0) break;
        if (o + 4 + olen > bodyEnd) break;
        if (code === 9 && olen >= 1) {
          const v = d[o + 4]!;
          const perSec = v & 0x80 ? 2 ** (v & 0x7f) : 10 ** (v & 0x7f);
          iface.unitsPerMs = perSec / 1000;
        } else if (code === 14 && olen >= 8) {
          // if_tsoffset: signed 64-bit seconds; the high word is 0 for any sane value.
          iface.offsetSec = le ? u32le(d, o + 4) : u32be(d, o + 8);
        }
        o += 4 + ((olen + 3) & ~3);
      }
      ifs.push(iface);
    } else if (type === 6 && bodyEnd - body >= 20) {
      // EPB: interface id, ts high, ts low, captured len, original len, data.
      const iface = ifs[r32(d, body)];
      if (iface) {
        const cap = r32(d, body + 12);
        const start = body + 20;
        const stop = Math.min(start + cap, bodyEnd);
        const ts = r32(d, body + 4) * 4294967296 + r32(d, body + 8);
        const timeMs = Math.floor(ts / iface.unitsPerMs) + iface.offsetSec * 1000;
        linkToUdp(d, start, stop, iface.linktype, timeMs, out, frag);
      }
    } else if (type === 3 && bodyEnd - body >= 4) {
      // SPB: original length then data; always interface 0, no timestamp.
      const iface = ifs[0];
      if (iface) {
        const orig = r32(d, body);
        const start = body + 4;
        linkToUdp(d, start, Math.min(start + orig, bodyEnd), iface.linktype, 0, out, frag);
      }
    } else if (type === 2 && bodyEnd - body >= 20) {
      // Obsolete Packet Block: interface id u16, drops u16, ts high, ts low, caplen, len, data.
      const iface = ifs[r16(d, body)];
      if (iface) {
        const cap = r32(d, body + 12);
        const start = body + 20;
        const ts = r32(d, body + 4) * 4294967296 + r32(d, body + 8);
        const timeMs = Math.floor(ts / iface.unitsPerMs) + iface.offsetSec * 1000;
        linkToUdp(d, start, Math.min(start + cap, bodyEnd), iface.linktype, timeMs, out, frag);
      }
    }
    p += len;
  }
  return out;
}

// ---------------------------------------------------------------------------
// Link layer → IP → UDP.

const ETH_IPV4 = 0x0800;
const ETH_IPV6 = 0x86dd;

function linkToUdp(
  d: Uint8Array,
  start: number,
  end: number,
  linktype: number,
  timeMs: number,
  out: CapturedDatagram[],
  frag: Reassembler,
): void {
  let off = start;
  switch (linktype) {
    case 1: {
      // Ethernet II: dst(6) src(6) ethertype(2); 802.1Q/802.1ad/QinQ tags of 4 bytes each.
      if (end - off < 14) return;
      let et = u16be(d, off + 12);
      off += 14;
      while ((et === 0x8100 || et === 0x88a8 || et === 0x9100) && end - off >= 4) {
        et = u16be(d, off + 2);
        off += 4;
      }
      if (et <= 1500) {
        // IEEE 802.3 length + LLC/SNAP (AA AA 03, OUI, ethertype).
        if (end - off < 8 || d[off] !== 0xaa || d[off + 1] !== 0xaa || d[off + 2] !== 0x03) return;
        et = u16be(d, off + 6);
        off += 8;
      }
      if (et === ETH_IPV4 || et === ETH_IPV6) ipToUdp(d, off, end, timeMs, out, frag);
      return;
    }
    case 113: {
      // Linux cooked v1: packet type(2) ARPHRD(2) addr len(2) addr(8) protocol(2).
      if (end - off < 16) return;
      const et = u16be(d, off + 14);
      if (et === ETH_IPV4 || et === ETH_IPV6) ipToUdp(d, off + 16, end, timeMs, out, frag);
      return;
    }
    case 276: {
      // Linux cooked v2: protocol(2) reserved(2) ifindex(4) ARPHRD(2) type(1) addr len(1) addr(8).
      if (end - off < 20) return;
      const et = u16be(d, off);
      if (et === ETH_IPV4 || et === ETH_IPV6) ipToUdp(d, off + 20, end, timeMs, out, frag);
      return;
    }
    case 0:
    case 108:
      // BSD null (host byte order) / loopback (network order) 4-byte address
      // family: the AF_INET6 value differs per OS, so look at the IP version.
      if (end - off < 4) return;
      ipToUdp(d, off + 4, end, timeMs, out, frag);
      return;
    case 101:
    case 12:
    case 14:
    case 228:
    case 229:
      ipToUdp(d, off, end, timeMs, out, frag);
      return;
    default:
      return;
  }
}

function ipToUdp(
  d: Uint8Array,
  off: number,
  end: number,
  timeMs: number,
  out: CapturedDatagram[],
  frag: Reassembler,
): void {
  if (end - off < 1) return;
  const version = d[off]! >> 4;
  if (version === 4) {
    // RFC 791 §3.1.
    if (end - off < 20) return;
    const ihl = (d[off]! & 0x0f) * 4;
    const total = u16be(d, off + 2);
    if (ihl < 20 || total < ihl) return;
    const ipEnd = Math.min(off + total, end); // drops Ethernet padding
    if (ipEnd - off < ihl) return;
    const proto = d[off + 9]!;
    const fl = u16be(d, off + 6);
    const mf = (fl & 0x2000) !== 0;
    const fragOff = (fl & 0x1fff) * 8;
    if (proto !== 17) return;
    const src = `${d[off + 12]}.${d[off + 13]}.${d[off + 14]}.${d[off + 15]}`;
    const dst = `${d[off + 16]}.${d[off + 17]}.${d[off + 18]}.${d[off + 19]}`;
    if (mf || fragOff !== 0) {
      const whole = frag.add(
        `4|${src}|${dst}|${u16be(d, off + 4)}`,
        fragOff,
        mf,
        d.subarray(off + ihl, ipEnd),
      );
      if (whole) udp(whole, 0, whole.length, src, dst, timeMs, out);
      return;
    }
    udp(d, off + ihl, ipEnd, src, dst, timeMs, out);
    return;
  }
  if (version === 6) {
    // RFC 8200 §3; a payload length of 0 (jumbogram) means "to the end".
    if (end - off < 40) return;
    const plen = u16be(d, off + 4);
    const ipEnd = plen === 0 ? end : Math.min(off + 40 + plen, end);
    let nh = d[off + 6]!;
    let p = off + 40;
    let fragInfo = -1;
    let fragId = 0;
    // RFC 8200 §4: hop-by-hop 0, routing 43, fragment 44, destination options 60, AH 51 (RFC 4302).
    for (let guard = 0; guard < 16; guard++) {
      if (nh === 0 || nh === 43 || nh === 60) {
        if (ipEnd - p < 8) return;
        const next = d[p]!;
        p += (d[p + 1]! + 1) * 8;
        nh = next;
      } else if (nh === 51) {
        if (ipEnd - p < 8) return;
        const next = d[p]!;
        p += (d[p + 1]! + 2) * 4;
        nh = next;
      } else if (nh === 44) {
        if (ipEnd - p < 8) return;
        fragInfo = u16be(d, p + 2);
        fragId = u32be(d, p + 4);
        nh = d[p]!;
        p += 8;
      } else break;
    }
    if (nh !== 17 || p > ipEnd) return;
    const src = ipv6Text(d, off + 8);
    const dst = ipv6Text(d, off + 24);
    if (fragInfo >= 0 && fragInfo !== 0) {
      const whole = frag.add(
        `6|${src}|${dst}|${fragId}`,
        fragInfo & 0xfff8,
        (fragInfo & 1) !== 0,
        d.subarray(p, ipEnd),
      );
      if (whole) udp(whole, 0, whole.length, src, dst, timeMs, out);
      return;
    }
    udp(d, p, ipEnd, src, dst, timeMs, out);
  }
}

// RFC 768: src port, dst port, length, checksum, data.
function udp(
  d: Uint8Array,
  off: number,
  end: number,
  srcAddr: string,
  dstAddr: string,
  timeMs: number,
  out: CapturedDatagram[],
): void {
  if (end - off < 8) return;
  const ulen = u16be(d, off + 4);
  // Trust the UDP length when it fits (trims trailing bytes); a snapped frame keeps what exists.
  const stop = ulen >= 8 && off + ulen <= end ? off + ulen : end;
  out.push({
    payload: d.subarray(off + 8, stop),
    srcAddr,
    srcPort: u16be(d, off),
    dstAddr,
    dstPort: u16be(d, off + 2),
    timeMs,
    synthetic: false,
  });
}

function ipv6Text(d: Uint8Array, off: number): string {
  const w: number[] = [];
  for (let k = 0; k < 8; k++) w.push(u16be(d, off + 2 * k));
  // RFC 5952: compress the longest run of >= 2 zero words; IPv4-mapped keeps the dotted tail.
  if (w[0] === 0 && w[1] === 0 && w[2] === 0 && w[3] === 0 && w[4] === 0 && w[5] === 0xffff) {
    return `::ffff:${d[off + 12]}.${d[off + 13]}.${d[off + 14]}.${d[off + 15]}`;
  }
  let bs = -1;
  let bl = 0;
  for (let k = 0; k < 8;) {
    if (w[k] !== 0) {
      k++;
      continue;
    }
    let j = k;
    while (j < 8 && w[j] === 0) j++;
    if (j - k > bl && j - k >= 2) {
      bs = k;
      bl = j - k;
    }
    k = j;
  }
  const hex = w.map((x) => x.toString(16));
  if (bs < 0) return hex.join(":");
  return `${hex.slice(0, bs).join(":")}::${hex.slice(bs + bl).join(":")}`;
}

/**
 * IP fragment reassembly (RFC 791 §3.2 / RFC 8200 §4.5), per capture file.
 * Fragments may arrive in any order; a datagram is complete when the last
 * fragment (MF=0) is known and the pieces cover [0, last end) without holes.
 * Bounded: at most MAX_PENDING datagrams in flight, oldest dropped first.
 */
class Reassembler {
  private static readonly MAX_PENDING = 1024;
  private readonly pending = new Map<string, { parts: { off: number; data: Uint8Array }[]; total: number }>();

  add(key: string, off: number, more: boolean, data: Uint8Array): Uint8Array | null {
    let e = this.pending.get(key);
    if (!e) {
      if (this.pending.size >= Reassembler.MAX_PENDING) {
        const oldest = this.pending.keys().next().value;
        if (oldest !== undefined) this.pending.delete(oldest);
      }
      e = { parts: [], total: -1 };
      this.pending.set(key, e);
    }
    e.parts.push({ off, data });
    if (!more) e.total = off + data.length;
    if (e.total < 0) return null;
    e.parts.sort((a, b) => a.off - b.off);
    let covered = 0;
    for (const part of e.parts) {
      if (part.off > covered) return null; // hole
      covered = Math.max(covered, part.off + part.data.length);
    }
    if (covered < e.total) return null;
    const whole = new Uint8Array(e.total);
    for (const part of e.parts) whole.set(part.data.subarray(0, Math.max(0, e.total - part.off)), part.off);
    this.pending.delete(key);
    return whole;
  }
}

// ---------------------------------------------------------------------------
// Raw payload files (.dat/.bin/.ipfix): export datagrams back to back with no
// framing. Each datagram's length comes from its own header:
//   NetFlow v1: 16 + 24*count, v5: 24 + 48*count, v7: 24 + 52*count
//   NetFlow v9 (RFC 3954 §5): 20-byte header, then flowsets (id, length) up to
//     the next 0x0009 version word or a flowset length that cannot be right
//   IPFIX (RFC 7011 §3.1): message length in the header; an RFC 5655 file is
//     messages back to back
//   sFlow v5 (00 00 00 05): no length field, the rest of the file
// A length that overruns the file (a lying count) takes the rest of the file
// as one datagram so the decoder still sees it; bytes that form no datagram
// become one datagram of their own.

export function splitRawPayloads(d: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let p = 0;
  while (p < d.length) {
    const rest = d.length - p;
    let len = rest;
    if (rest >= 4 && u32be(d, p) === 5) {
      len = rest; // sFlow v5
    } else if (rest >= 4) {
      const version = u16be(d, p);
      const count = u16be(d, p + 2);
      if (version === 5 || version === 7 || version === 1) {
        const hdr = version === 1 ? 16 : 24;
        const rec = version === 1 ? 24 : version === 5 ? 48 : 52;
        len = hdr + rec * count;
      } else if (version === 10) {
        len = count >= 16 ? count : rest;
      } else if (version === 9 && rest >= 20) {
        let q = p + 20;
        while (q + 4 <= d.length) {
          const id = u16be(d, q);
          const flen = u16be(d, q + 2);
          if (id === 9) break; // the next datagram's header
          if (flen < 4 || q + flen > d.length) {
            q = d.length; // zero padding or a lying length: keep the rest with this datagram
            break;
          }
          q += flen;
        }
        if (q + 4 > d.length) q = d.length; // 1..3 stray bytes stay with the datagram
        len = q - p;
      }
      if (len <= 0 || len > rest) len = rest;
    }
    out.push(d.subarray(p, p + len));
    p += len;
  }
  return out;
}

// ---------------------------------------------------------------------------
// MANIFEST.tsv of the shared capture set.

export interface ManifestRow {
  file: string;
  /** Absolute path of the capture. */
  path: string;
  unit: string;
  /** Position within the unit (1-based) and the unit's size, from `i/n`. */
  unitOrder: number;
  unitSize: number;
  format: string;
  protocol: string;
  udpDstPorts: string;
  packets: number | null;
  flowPackets: number | null;
  rawMessages: number | null;
  dataRecordsStandalone: number | null;
  dataRecordsInUnit: number | null;
  srcaddrFieldsInUnit: number | null;
  tsharkMalformedFrames: number | null;
  realness: string;
  golden: string;
  sha256: string;
  bytes: number | null;
  notes: string;
  /** Every column as text, for the ones without a typed field. */
  raw: Record<string, string>;
}

/** Where the shared captures live: $NAGARE_CAPTURES, else ../shared/captures next to the repo. */
export function capturesDir(): string {
  const env = process.env.NAGARE_CAPTURES;
  if (env) return isAbsolute(env) ? env : resolve(env);
  return join(repoRoot(), "..", "shared", "captures");
}

function repoRoot(): string {
  // This file is src/collector/capture.ts (or dist/collector/capture.js, or
  // dist/src/...): walk up to the folder holding package.json.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let k = 0; k < 6; k++) {
    try {
      statSync(join(dir, "package.json"));
      return dir;
    } catch {
      dir = dirname(dir);
    }
  }
  return process.cwd();
}

function num(s: string | undefined): number | null {
  if (s === undefined || s === "") return null;
  const n = Number(s);
  return Number.isFinite(n) ? n : null;
}

/** MANIFEST.tsv as typed rows, sorted by unit then unit order. */
export function loadManifest(dir = capturesDir()): ManifestRow[] {
  const text = readFileSync(join(dir, "MANIFEST.tsv"), "utf8");
  const lines = text.split("\n").filter((l) => l.length > 0);
  const head = (lines.shift() ?? "").split("\t");
  const rows: ManifestRow[] = lines.map((line) => {
    const cells = line.split("\t");
    const raw: Record<string, string> = {};
    head.forEach((h, k) => (raw[h] = cells[k] ?? ""));
    const [ord, size] = (raw.unit_order ?? "1/1").split("/").map(Number);
    const file = raw.file ?? "";
    return {
      file,
      path: join(dir, file),
      unit: raw.unit ?? "",
      unitOrder: ord ?? 1,
      unitSize: size ?? 1,
      format: raw.format ?? "",
      protocol: raw.protocol ?? "",
      udpDstPorts: raw.udp_dst_ports ?? "",
      packets: num(raw.packets),
      flowPackets: num(raw.flow_packets),
      rawMessages: num(raw.raw_messages),
      dataRecordsStandalone: num(raw.data_records_standalone),
      dataRecordsInUnit: num(raw.data_records_in_unit),
      srcaddrFieldsInUnit: num(raw.srcaddr_fields_in_unit),
      tsharkMalformedFrames: num(raw.tshark_malformed_frames),
      realness: raw.realness ?? "",
      golden: raw.golden ?? "",
      sha256: raw.sha256 ?? "",
      bytes: num(raw.bytes),
      notes: raw.notes ?? "",
      raw,
    };
  });
  rows.sort((a, b) => (a.unit < b.unit ? -1 : a.unit > b.unit ? 1 : a.unitOrder - b.unitOrder));
  return rows;
}

/** The manifest grouped by unit, files in unit order. */
export function manifestUnits(rows: ManifestRow[] = loadManifest()): Map<string, ManifestRow[]> {
  const units = new Map<string, ManifestRow[]>();
  for (const r of rows) {
    let u = units.get(r.unit);
    if (!u) units.set(r.unit, (u = []));
    u.push(r);
  }
  return units;
}
