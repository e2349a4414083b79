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
import type { FlowColumns } from "../../schema.js";

export type FirstLayer = "ethernet" | "ipv4" | "ipv6" | "mpls" | "ip";

export interface HeaderResult {
  /** Deepest layer reached: "none" | "l2" | "l3" | "l4". */
  depth: "none" | "l2" | "l3" | "l4";
  /** IP total length from the IP header (IPv4 total length / IPv6 payload length + 40), 0 if none. */
  ipLength: number;
}

export function parsePacketHeader(
  _buf: Uint8Array,
  _off: number,
  _end: number,
  _first: FirstLayer,
  _cols: FlowColumns,
  _row: number,
): HeaderResult {
  return { depth: "none", ipLength: 0 };
}
