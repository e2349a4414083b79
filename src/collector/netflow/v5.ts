// NetFlow v1 / v5 / v7: fixed-format records (Cisco "NetFlow Export Datagram Format").
//
// v5 header (24 bytes):
//   version(2)=5 count(2) sysUptime(4, ms) unix_secs(4) unix_nsecs(4)
//   flow_sequence(4) engine_type(1) engine_id(1) sampling_interval(2: mode<<14 | interval)
// v5 record (48 bytes):
//   srcaddr(4) dstaddr(4) nexthop(4) input(2) output(2) dPkts(4) dOctets(4)
//   First(4) Last(4) srcport(2) dstport(2) pad1(1) tcp_flags(1) prot(1) tos(1)
//   src_as(2) dst_as(2) src_mask(1) dst_mask(1) pad2(2)
// v1 header (16 bytes): version count sysUptime unix_secs unix_nsecs; record (48):
//   srcaddr dstaddr nexthop input(2) output(2) dPkts dOctets First Last srcport(2)
//   dstport(2) pad1(2) prot(1) tos(1) tcp_flags(1) pad(3) reserved(4)
// v7 header (24 bytes): as v5 with reserved(4) instead of engine/sampling; record (52):
//   as v5 up to tos except pad1 is flags(1); src_as dst_as src_mask dst_mask
//   flags(2) router_sc(4)
//
// First/Last are sysUptime (ms since boot) at the first/last packet; they are
// made absolute with the header's export time: t = export - (sysUptime - First).
//
// Count vs length: nfcapd drops a datagram whose count disagrees with its
// length; tshark decodes what is present. We decode the records actually
// present when the payload is a whole number of records (the count is then
// the lying part) and count "bad_count"; otherwise we decode min(count,
// present) and count "truncated" (count too large) or "padding" (trailing bytes).
import type { RecordSink } from "../types.js";
import { scopeRate } from "./sampling.js";
import { copyIpv4 } from "../ip.js";
import { icmpFromPort, type MsgContext } from "./records.js";

export interface FixedLayout {
  header: number;
  record: number;
  /** Offsets inside a record. */
  tcpFlags: number;
  proto: number;
  tos: number;
  /** -1 when the version has no AS / mask fields (v1). */
  srcAs: number;
}

export const LAYOUTS: Record<1 | 5 | 7, FixedLayout> = {
  1: { header: 16, record: 48, tcpFlags: 40, proto: 38, tos: 39, srcAs: -1 },
  5: { header: 24, record: 48, tcpFlags: 37, proto: 38, tos: 39, srcAs: 40 },
  7: { header: 24, record: 52, tcpFlags: 37, proto: 38, tos: 39, srcAs: 40 },
};

export interface FixedResult {
  rows: number;
  /** Header flow_sequence (v5/v7), -1 for v1. */
  sequence: number;
  /** Records decoded (for sequence accounting). */
  records: number;
  problem: "" | "bad_count" | "truncated" | "padding";
  headerCount: number;
}

/**
 * Decode one v1/v5/v7 datagram. The caller has checked the version and that
 * the header fits; ctx.scope is the (exporter, engine) scope.
 */
export function decodeFixed(
  version: 1 | 5 | 7,
  buf: Uint8Array,
  dv: DataView,
  ctx: MsgContext,
  sink: RecordSink,
  out: FixedResult,
): void {
  const L = LAYOUTS[version];
  const len = buf.length;
  const count = dv.getUint16(2);
  const sysUptime = dv.getUint32(4);
  const exportMs = dv.getUint32(8) * 1000 + Math.floor(dv.getUint32(12) / 1e6);
  let headerRate = 0;
  if (version === 5) {
    const si = dv.getUint16(22);
    headerRate = si & 0x3fff; // top 2 bits: mode (1 deterministic, 2 random); 0 interval = not stated
  }
  out.sequence = version === 1 ? -1 : dv.getUint32(16);
  out.headerCount = count;
  const present = Math.floor((len - L.header) / L.record);
  const rem = (len - L.header) % L.record;
  let n: number;
  out.problem = "";
  if (rem === 0) {
    n = present;
    if (count !== present) out.problem = "bad_count";
  } else {
    n = Math.min(count, present);
    out.problem = count > present ? "truncated" : "padding";
  }
  const stats = ctx.stats;
  const exporterIp = ctx.src.exporterIp;
  let rate = ctx.rateOverride || headerRate;
  if (!rate && ctx.scope) rate = scopeRate(ctx.scope, 0, false);
  if (!rate) rate = ctx.rateDefault;
  let rows = 0;
  for (let r = 0; r < n; r++) {
    const p = L.header + r * L.record;
    const b = sink.batch;
    const c = b.cols;
    const i = b.length;
    const io = i * 16;
    putV4(c.src_addr, io, buf, p);
    putV4(c.dst_addr, io, buf, p + 4);
    putV4(c.next_hop, io, buf, p + 8);
    c.in_if[i] = dv.getUint16(p + 12);
    c.out_if[i] = dv.getUint16(p + 14);
    c.packets[i] = dv.getUint32(p + 16);
    c.bytes[i] = dv.getUint32(p + 20);
    c.time_flow_start[i] = exportMs - ((sysUptime - dv.getUint32(p + 24)) | 0);
    c.time_flow_end[i] = exportMs - ((sysUptime - dv.getUint32(p + 28)) | 0);
    c.src_port[i] = dv.getUint16(p + 32);
    c.dst_port[i] = dv.getUint16(p + 34);
    c.tcp_flags[i] = buf[p + L.tcpFlags]!;
    c.protocol[i] = buf[p + L.proto]!;
    c.tos[i] = buf[p + L.tos]!;
    if (L.srcAs >= 0) {
      c.src_as[i] = dv.getUint16(p + L.srcAs);
      c.dst_as[i] = dv.getUint16(p + L.srcAs + 2);
      c.src_prefix_len[i] = buf[p + L.srcAs + 4]!;
      c.dst_prefix_len[i] = buf[p + L.srcAs + 5]!;
    }
    c.ip_version[i] = 4;
    if (c.protocol[i] === 1) icmpFromPort(c, i);
    c.time_received[i] = ctx.src.receivedMs;
    for (let z = 0; z < 16; z++) c.exporter_address[io + z] = exporterIp[z]!;
    c.observation_domain_id[i] = ctx.domain;
    c.sampling_rate[i] = rate;
    c.flows[i] = 1;
    c.direction[i] = 255;
    if (!rate) stats.unknownSamplingRecords++;
    stats.flowRecords++;
    rows++;
    sink.commit();
  }
  out.rows = rows;
  out.records = n;
}

function putV4(dst: Uint8Array, o: number, src: Uint8Array, p: number): void {
  // 0.0.0.0 stays all-zero (= absent), like every other decoder.
  if ((src[p]! | src[p + 1]! | src[p + 2]! | src[p + 3]!) === 0) return;
  copyIpv4(dst, o, src, p);
}
