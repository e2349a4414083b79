// Sampled packet header parsing (shared by IPFIX dataLinkFrameSection, RFC 7133,
// and sFlow raw packet header records).
//
// CONTRACT (implemented by the packet-parsing work; decoders only call it):
//   parsePacketHeader(buf, off, end, first, cols, row) parses the bytes
//   buf[off, end) starting at layer `first` and writes what it finds into row
//   `row` of the flow columns: src_mac, dst_mac, src_vlan (outer 802.1Q / QinQ
//   outer tag), mpls_label_1..3, ip_version, src_addr, dst_addr, protocol, tos,
//   ttl, fragment, src_port, dst_port, tcp_flags, icmp_type, icmp_code.
//   It never reads outside [off, end) and never throws: it stops at the first
//   layer it cannot parse and reports how far it got.
//
// Only fields that were found are written; the others keep their value (a
// fresh batch row is all zero). Sampled headers are cut at a snap length, so
// every layer fills what is complete (IP addresses even when TCP is cut).
//
// Tunnels (VXLAN on UDP 4789, IP-in-IP 4, IPv6-in-IP 41, GRE 47): by default
// the OUTER headers go into the columns (as tshark shows them) and the result
// says where the inner packet starts (innerOffset, innerLayer). With
// `inner = true` the parser continues into the inner packet and the columns
// end up describing the innermost packet it could reach (L3/L4 columns of the
// outer packet are cleared first; L2 columns too when the inner packet brings
// its own Ethernet header; MPLS labels stay those of the outer packet).
import type { FlowColumns } from "../../schema.js";
import { copyIpv4, readMac } from "../ip.js";

export type FirstLayer = "ethernet" | "ipv4" | "ipv6" | "mpls" | "ip";

export type TunnelKind = "none" | "vxlan" | "ipip" | "gre";

export interface HeaderResult {
  /** Deepest layer reached: "none" | "l2" | "l3" | "l4". */
  depth: "none" | "l2" | "l3" | "l4";
  /** IP total length from the IP header (IPv4 total length / IPv6 payload length + 40), 0 if none. */
  ipLength: number;
  /** Offset of the (outer) IP header, -1 if none. */
  l3Offset: number;
  /** Offset of the transport header (after IPv6 extension headers), -1 if none. */
  l4Offset: number;
  /** Tunnel found in the outer packet. */
  tunnel: TunnelKind;
  /** Offset of the inner packet when `tunnel` is not "none" (even if it is not parsed), else -1. */
  innerOffset: number;
  /** Layer at innerOffset ("ethernet" for VXLAN / GRE TEB, "ipv4"/"ipv6" for IP-in-IP / GRE). */
  innerLayer: FirstLayer | null;
  /** VXLAN network identifier (RFC 7348), -1 if not VXLAN. */
  vni: number;
  /** An IPv6 routing header of type 4 (Segment Routing, RFC 8754) was seen. */
  srv6: boolean;
  /** With `inner = true`: deepest layer reached in the innermost packet parsed; else "none". */
  innerDepth: "none" | "l2" | "l3" | "l4";
}

// EtherTypes (IEEE 802 numbers).
const ET_IPV4 = 0x0800;
const ET_IPV6 = 0x86dd;
const ET_VLAN = 0x8100;
const ET_QINQ = 0x88a8;
const ET_QINQ_OLD = 0x9100;
const ET_MPLS_UC = 0x8847;
const ET_MPLS_MC = 0x8848;
const ET_TEB = 0x6558; // transparent Ethernet bridging (GRE)

const VXLAN_PORT = 4789;
/** Bound on nested layers (VLAN tags, MPLS labels, IPv6 extension headers, tunnels). */
const MAX_STACK = 16;

/** Per-call state; kept in a small object so the layer parsers can share it. */
interface State {
  buf: Uint8Array;
  end: number;
  cols: FlowColumns;
  row: number;
  res: HeaderResult;
  /** Outer L2 fields already written in this pass (keep the OUTER tag / MACs). */
  haveMac: boolean;
  haveVlan: boolean;
  labels: number;
}

export function parsePacketHeader(
  buf: Uint8Array,
  off: number,
  end: number,
  first: FirstLayer,
  cols: FlowColumns,
  row: number,
  inner = false,
): HeaderResult {
  const res = newResult();
  if (!(end <= buf.length)) end = buf.length; // also catches NaN
  if (!(off >= 0) || off >= end) return res;
  const st: State = { buf, end, cols, row, res, haveMac: false, haveVlan: false, labels: 0 };
  parseFrom(st, off, first);
  if (!inner) return res;

  // Follow tunnels: each pass describes the next inner packet; ipLength and
  // the offsets keep pointing at the outermost packet, as documented.
  let next = res.innerOffset;
  let layer = res.innerLayer;
  for (let k = 0; k < 4 && next >= 0 && layer !== null && next < end; k++) {
    const sub = newResult();
    clearL3L4(cols, row);
    if (layer === "ethernet") {
      cols.src_mac[row] = 0;
      cols.dst_mac[row] = 0;
      cols.src_vlan[row] = 0;
    }
    parseFrom({ buf, end, cols, row, res: sub, haveMac: false, haveVlan: false, labels: 3 }, next, layer);
    if (sub.srv6) res.srv6 = true;
    res.innerDepth = sub.depth;
    next = sub.innerOffset;
    layer = sub.innerLayer;
  }
  return res;
}

function newResult(): HeaderResult {
  return {
    depth: "none",
    ipLength: 0,
    l3Offset: -1,
    l4Offset: -1,
    tunnel: "none",
    innerOffset: -1,
    innerLayer: null,
    vni: -1,
    srv6: false,
    innerDepth: "none",
  };
}

function clearL3L4(cols: FlowColumns, row: number): void {
  cols.ip_version[row] = 0;
  cols.src_addr.fill(0, row * 16, row * 16 + 16);
  cols.dst_addr.fill(0, row * 16, row * 16 + 16);
  cols.protocol[row] = 0;
  cols.tos[row] = 0;
  cols.ttl[row] = 0;
  cols.fragment[row] = 0;
  cols.src_port[row] = 0;
  cols.dst_port[row] = 0;
  cols.tcp_flags[row] = 0;
  cols.icmp_type[row] = 0;
  cols.icmp_code[row] = 0;
}

function parseFrom(st: State, off: number, first: FirstLayer): void {
  switch (first) {
    case "ethernet":
      ethernet(st, off);
      return;
    case "mpls":
      mpls(st, off);
      return;
    case "ipv4":
      ipv4(st, off);
      return;
    case "ipv6":
      ipv6(st, off);
      return;
    case "ip":
      ipAny(st, off);
      return;
  }
}

/** Dispatch on the IP version nibble. */
function ipAny(st: State, off: number): void {
  if (off >= st.end) return;
  const v = st.buf[off]! >> 4;
  if (v === 4) ipv4(st, off);
  else if (v === 6) ipv6(st, off);
}

// Ethernet II (IEEE 802.3 clause 3.1.1): dst MAC(6) src MAC(6) EtherType(2).
// An EtherType value <= 1500 is an 802.3 length; LLC/SNAP (AA AA 03 + OUI(3) +
// EtherType(2), RFC 1042) then carries the real EtherType.
// 802.1Q / 802.1ad tags (TPID 8100, 88a8, legacy QinQ 9100): TCI(2) EtherType(2);
// the first (outer) tag's VLAN id goes to src_vlan.
function ethernet(st: State, off: number): void {
  const b = st.buf;
  if (st.end - off < 14) return;
  if (!st.haveMac) {
    st.cols.dst_mac[st.row] = readMac(b, off);
    st.cols.src_mac[st.row] = readMac(b, off + 6);
    st.haveMac = true;
  }
  if (st.res.depth === "none") st.res.depth = "l2";
  let et = (b[off + 12]! << 8) | b[off + 13]!;
  let p = off + 14;
  for (let k = 0; k < MAX_STACK && (et === ET_VLAN || et === ET_QINQ || et === ET_QINQ_OLD); k++) {
    if (st.end - p < 4) return;
    if (!st.haveVlan) {
      st.cols.src_vlan[st.row] = ((b[p]! << 8) | b[p + 1]!) & 0x0fff;
      st.haveVlan = true;
    }
    et = (b[p + 2]! << 8) | b[p + 3]!;
    p += 4;
  }
  if (et <= 1500) {
    if (st.end - p < 8 || b[p] !== 0xaa || b[p + 1] !== 0xaa || b[p + 2] !== 0x03) return;
    et = (b[p + 6]! << 8) | b[p + 7]!;
    p += 8;
  }
  etherType(st, p, et);
}

function etherType(st: State, p: number, et: number): void {
  if (et === ET_IPV4) ipv4(st, p);
  else if (et === ET_IPV6) ipv6(st, p);
  else if (et === ET_MPLS_UC || et === ET_MPLS_MC) mpls(st, p);
}

// MPLS label stack (RFC 3032 §2.1): per entry label(20) TC(3) S(1) TTL(8).
// After the bottom of stack nothing says what follows; the first nibble does
// (RFC 4385 §2): 4 IPv4, 6 IPv6, 0 a pseudowire control word (4 bytes)
// followed by an Ethernet frame (EoMPLS, RFC 4448).
function mpls(st: State, off: number): void {
  const b = st.buf;
  let p = off;
  for (let k = 0; k < MAX_STACK; k++) {
    if (st.end - p < 4) return;
    const e = ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
    const label = e >>> 12;
    if (st.labels === 0) st.cols.mpls_label_1[st.row] = label;
    else if (st.labels === 1) st.cols.mpls_label_2[st.row] = label;
    else if (st.labels === 2) st.cols.mpls_label_3[st.row] = label;
    st.labels++;
    if (st.res.depth === "none") st.res.depth = "l2";
    p += 4;
    if (e & 0x100) break;
    if (k === MAX_STACK - 1) return; // no bottom of stack within reach
  }
  if (p >= st.end) return;
  const nibble = b[p]! >> 4;
  if (nibble === 4) ipv4(st, p);
  else if (nibble === 6) ipv6(st, p);
  else if (nibble === 0) ethernet(st, p + 4);
}

// IPv4 (RFC 791 §3.1): ver/IHL, ToS, total length, id, flags/fragment offset,
// TTL, protocol, checksum, src, dst, options. A non-first fragment carries no
// transport header, so ports are not read there (RFC 1858).
function ipv4(st: State, off: number): void {
  const b = st.buf;
  if (st.end - off < 20 || b[off]! >> 4 !== 4) return;
  const { cols, row, res } = st;
  const ihl = (b[off]! & 0x0f) * 4;
  const total = (b[off + 2]! << 8) | b[off + 3]!;
  const fl = (b[off + 6]! << 8) | b[off + 7]!;
  const proto = b[off + 9]!;
  cols.ip_version[row] = 4;
  cols.tos[row] = b[off + 1]!;
  cols.ttl[row] = b[off + 8]!;
  cols.protocol[row] = proto;
  copyIpv4(cols.src_addr, row * 16, b, off + 12);
  copyIpv4(cols.dst_addr, row * 16, b, off + 16);
  if (res.l3Offset < 0) {
    res.l3Offset = off;
    res.ipLength = total;
  }
  res.depth = "l3";
  const fragOff = fl & 0x1fff;
  if (fl & 0x2000 || fragOff !== 0) cols.fragment[row] = 1;
  if (fragOff !== 0 || ihl < 20) return;
  transport(st, off + ihl, proto);
}

// IPv6 (RFC 8200 §3): ver/TC/flow label(4), payload length(2), next header,
// hop limit, src(16), dst(16), then extension headers (§4): hop-by-hop 0,
// routing 43, destination options 60 — next header, length in 8-byte units
// not counting the first; AH 51 (RFC 4302 §2.2) — length in 4-byte units
// minus 2; fragment 44 — 8 bytes, offset(13) res(2) M(1). The protocol column
// gets the first non-extension next header (or the one it stopped on).
function ipv6(st: State, off: number): void {
  const b = st.buf;
  if (st.end - off < 40 || b[off]! >> 4 !== 6) return;
  const { cols, row, res } = st;
  cols.ip_version[row] = 6;
  cols.tos[row] = ((b[off]! & 0x0f) << 4) | (b[off + 1]! >> 4);
  cols.ttl[row] = b[off + 7]!;
  const o = row * 16;
  for (let k = 0; k < 16; k++) {
    cols.src_addr[o + k] = b[off + 8 + k]!; // no subarray(): no allocation per packet
    cols.dst_addr[o + k] = b[off + 24 + k]!;
  }
  if (res.l3Offset < 0) {
    res.l3Offset = off;
    res.ipLength = ((b[off + 4]! << 8) | b[off + 5]!) + 40;
  }
  res.depth = "l3";
  let nh = b[off + 6]!;
  let p = off + 40;
  for (let k = 0; k < MAX_STACK; k++) {
    if (nh === 0 || nh === 43 || nh === 60) {
      if (st.end - p < 2) break;
      if (nh === 43 && st.end - p >= 3 && b[p + 2] === 4) res.srv6 = true;
      const len = (b[p + 1]! + 1) * 8;
      if (st.end - p < len) break;
      nh = b[p]!;
      p += len;
    } else if (nh === 51) {
      if (st.end - p < 2) break;
      const len = (b[p + 1]! + 2) * 4;
      if (st.end - p < len) break;
      nh = b[p]!;
      p += len;
    } else if (nh === 44) {
      if (st.end - p < 8) break;
      const fo = (b[p + 2]! << 8) | b[p + 3]!;
      cols.fragment[row] = 1; // a fragment header means a fragment (atomic ones are rare, RFC 6946)
      nh = b[p]!;
      p += 8;
      if (fo & 0xfff8) {
        cols.protocol[row] = nh;
        return; // non-first fragment: no transport header
      }
    } else {
      cols.protocol[row] = nh;
      transport(st, p, nh);
      return;
    }
  }
  cols.protocol[row] = nh;
}

// Transport headers: TCP (RFC 9293 §3.1; flags byte 13 plus NS, RFC 3540, as
// the 9th bit), UDP (RFC 768), SCTP (RFC 9260), DCCP (RFC 4340), UDP-Lite
// (RFC 3828) — all start with the two ports — ICMP (RFC 792) / ICMPv6
// (RFC 4443) type and code. Tunnels: IP-in-IP 4 (RFC 2003), IPv6 41
// (RFC 2473/4213), GRE 47 (RFC 2784/2890), VXLAN on UDP 4789 (RFC 7348).
function transport(st: State, p: number, proto: number): void {
  const b = st.buf;
  const { cols, row, res } = st;
  const left = st.end - p;
  if (res.l4Offset < 0) res.l4Offset = p;
  switch (proto) {
    case 6:
    case 17:
    case 132:
    case 33:
    case 136: {
      if (left < 4) return;
      const dport = (b[p + 2]! << 8) | b[p + 3]!;
      cols.src_port[row] = (b[p]! << 8) | b[p + 1]!;
      cols.dst_port[row] = dport;
      res.depth = "l4";
      if (proto === 6 && left >= 14) cols.tcp_flags[row] = ((b[p + 12]! & 1) << 8) | b[p + 13]!;
      if (proto === 17 && dport === VXLAN_PORT && res.tunnel === "none" && left >= 16) {
        // VXLAN header: flags(1, I = 0x08) reserved(3) VNI(3) reserved(1).
        if (b[p + 8]! & 0x08) {
          res.tunnel = "vxlan";
          res.vni = (b[p + 12]! << 16) | (b[p + 13]! << 8) | b[p + 14]!;
          res.innerOffset = p + 16;
          res.innerLayer = "ethernet";
        }
      }
      return;
    }
    case 1:
    case 58:
      if (left < 2) return;
      cols.icmp_type[row] = b[p]!;
      cols.icmp_code[row] = b[p + 1]!;
      res.depth = "l4";
      return;
    case 4:
    case 41:
      if (res.tunnel === "none") {
        res.tunnel = "ipip";
        res.innerOffset = p;
        res.innerLayer = proto === 4 ? "ipv4" : "ipv6";
      }
      return;
    case 47: {
      // GRE: C R K S s Recur(3) | flags(5) ver(3) | protocol(2) [checksum+offset(4)] [key(4)] [seq(4)].
      if (left < 4 || res.tunnel !== "none") return;
      const f = b[p]!;
      if ((b[p + 1]! & 0x07) !== 0) return; // version 1 is PPTP, not followed
      const et = (b[p + 2]! << 8) | b[p + 3]!;
      const hdr = 4 + (f & 0x80 ? 4 : 0) + (f & 0x20 ? 4 : 0) + (f & 0x10 ? 4 : 0);
      const layer = et === ET_IPV4 ? "ipv4" : et === ET_IPV6 ? "ipv6" : et === ET_TEB ? "ethernet" : null;
      if (layer === null) return;
      res.tunnel = "gre";
      res.innerOffset = p + hdr;
      res.innerLayer = layer;
      return;
    }
    default:
      return;
  }
}
