// sFlow v5 encoder for generated flows (https://sflow.org/sflow_version_5.txt).
//
// sFlow exports sampled PACKETS, not flows: each generated flow becomes one
// flow sample standing for one of its packets (as a 1-in-N sampling agent
// would pick it), with:
//   - a sampled_header record: the packet's Ethernet + IPv4/IPv6 + TCP/UDP/ICMP
//     headers built from the flow (frame_length = the flow's mean packet size
//     plus Ethernet framing; the header is cut after the transport header, as
//     an agent's 128-byte snapshot of a packet with payload would be);
//   - extended_switch (VLANs), extended_router (next hop, prefix lengths) and
//     extended_gateway (BGP: AS path to the destination, communities, local
//     preference) records;
// and every `counterEveryMs` of flow time, one counter sample (generic
// interface counters) per interface, whose octet/packet counters grow with
// the (scaled) sampled traffic.
//
// All XDR (RFC 4506): 32-bit big-endian integers, opaque data padded to 4.
// datagram: version(=5) address agent_address; sub_agent_id; sequence_number;
//   uptime (ms); sample_record samples<>
// address: type (1 IPv4, 2 IPv6, 0 unknown) + 4/16/0 bytes
// sample_record: data_format (enterprise(20) << 12 | format(12)); opaque sample_data<>
// flow_sample (0:1): sequence_number; source_id (type(8) << 24 | index(24));
//   sampling_rate; sample_pool; drops; input; output (format(2) << 30 | ifIndex);
//   flow_record flow_records<>    flow_record: data_format; opaque flow_data<>
// counters_sample (0:2): sequence_number; source_id; counter_record counters<>
import { LOCAL_AS, type Flow } from "./model.js";

/** VLAN of an ifIndex in the generated topology: customer ports (≥ 10) are 1000 + ifIndex, uplinks untagged. */
export function vlanOf(ifIndex: number): number {
  return ifIndex >= 10 ? 1000 + ifIndex : 0;
}

/** The MACs of a sampled packet: the ingress neighbour's and the router's egress port (locally administered). */
export function macsOf(f: Flow): { src: number; dst: number } {
  return { src: 0x02005e000000 + f.inIf, dst: 0x02005e010000 + f.outIf };
}

/** Frame length of the packet a flow sample stands for (mean packet size + Ethernet header and FCS). */
export function sflowFrameLength(f: Flow): number {
  const l4 = f.protocol === 6 ? 20 : 8;
  const min = (f.v6 ? 40 : 20) + l4;
  const ip = Math.max(min, Math.min(1500, Math.round(f.bytes / Math.max(1, f.packets))));
  return Math.max(64, ip + 18);
}

/** BGP communities and local preference the gateway record carries. */
export const SFLOW_COMMUNITY = ((LOCAL_AS << 16) | 100) >>> 0;
export const SFLOW_LOCAL_PREF = 100;

export interface SflowEncoderOptions {
  /** Agent address (16-byte schema form; IPv4-mapped = an IPv4 agent). */
  agent: Uint8Array;
  subAgent?: number;
  /** Agent boot time (the uptime origin). Default: 1 day before the first flow. */
  bootMs?: number;
  maxPacket?: number;
  /** Interfaces that get counter samples. */
  interfaces?: readonly number[];
  /** Counter sample period, in flow time. Default 20 s (0 = none). */
  counterEveryMs?: number;
}

interface IfCounters {
  inOctets: number;
  inPkts: number;
  outOctets: number;
  outPkts: number;
}

/** sFlow v5 datagrams of one agent (router). Streaming like the NetFlow encoders: add(flow, out), flush(out). */
export class SflowEncoder {
  private readonly agent: Uint8Array;
  private readonly v6Agent: boolean;
  private readonly subAgent: number;
  bootMs: number;
  private readonly maxPacket: number;
  private readonly interfaces: readonly number[];
  private readonly counterEveryMs: number;
  private readonly buf: Buffer;
  private readonly scratch = Buffer.alloc(512);
  private off = 0;
  private samples = 0;
  private nowMs = 0;
  private lastCountersMs = -Infinity;
  private readonly seqBySource = new Map<number, number>();
  private readonly poolBySource = new Map<number, number>();
  private readonly counters = new Map<number, IfCounters>();
  private ipId = 0;
  /** Datagram sequence number (the next one). */
  sequence = 0;
  packets = 0;
  flows = 0;
  counterSamples = 0;

  constructor(opts: SflowEncoderOptions) {
    this.agent = opts.agent;
    this.v6Agent = !isMapped(opts.agent);
    this.subAgent = opts.subAgent ?? 0;
    this.bootMs = opts.bootMs ?? NaN;
    this.maxPacket = opts.maxPacket ?? 1400;
    this.interfaces = opts.interfaces ?? [];
    this.counterEveryMs = opts.counterEveryMs ?? 20_000;
    this.buf = Buffer.alloc(this.maxPacket);
    for (const i of this.interfaces)
      this.counters.set(i, { inOctets: 0, inPkts: 0, outOctets: 0, outPkts: 0 });
  }

  add(f: Flow, out: Uint8Array[]): void {
    if (Number.isNaN(this.bootMs)) this.bootMs = Math.floor(f.endMs / 1000) * 1000 - 86_400_000;
    this.nowMs = Math.max(this.nowMs, f.endMs);
    const len = this.flowSample(f);
    this.put(len, out);
    this.flows++;
    // The agent's counters see every packet of the flow (scaled back from the sample).
    const frame = sflowFrameLength(f);
    const ci = this.counters.get(f.inIf);
    const co = this.counters.get(f.outIf);
    const pk = f.samplingRate || 1;
    if (ci) {
      ci.inOctets += frame * pk;
      ci.inPkts += pk;
    }
    if (co) {
      co.outOctets += frame * pk;
      co.outPkts += pk;
    }
    if (
      this.counterEveryMs > 0 &&
      this.interfaces.length &&
      this.nowMs - this.lastCountersMs >= this.counterEveryMs
    ) {
      this.lastCountersMs = this.nowMs;
      for (const i of this.interfaces) this.put(this.counterSample(i), out);
    }
  }

  flush(out: Uint8Array[]): void {
    if (this.samples > 0) this.finish(out);
  }

  encode(flows: readonly Flow[]): Buffer[] {
    const out: Buffer[] = [];
    for (const f of flows) this.add(f, out);
    this.flush(out);
    return out;
  }

  /** Append the sample in scratch[0, len) to the datagram, starting a new one when full. */
  private put(len: number, out: Uint8Array[]): void {
    const head = this.v6Agent ? 40 : 28;
    if (this.off > 0 && this.off + len > this.maxPacket) this.finish(out);
    if (this.off === 0) this.off = head;
    this.scratch.copy(this.buf, this.off, 0, len);
    this.off += len;
    this.samples++;
  }

  private finish(out: Uint8Array[]): void {
    const b = this.buf;
    b.writeUInt32BE(5, 0);
    let o = 4;
    if (this.v6Agent) {
      b.writeUInt32BE(2, o);
      b.set(this.agent, o + 4);
      o += 20;
    } else {
      b.writeUInt32BE(1, o);
      b.set(this.agent.subarray(12), o + 4);
      o += 8;
    }
    b.writeUInt32BE(this.subAgent >>> 0, o);
    b.writeUInt32BE(this.sequence, o + 4);
    b.writeUInt32BE((this.nowMs - this.bootMs) >>> 0, o + 8);
    b.writeUInt32BE(this.samples, o + 12);
    out.push(Buffer.from(b.subarray(0, this.off)));
    this.sequence = (this.sequence + 1) >>> 0;
    this.packets++;
    this.off = 0;
    this.samples = 0;
  }

  /** flow_sample (0:1) of `f` into scratch; returns its length. */
  private flowSample(f: Flow): number {
    const s = this.scratch;
    const source = f.inIf; // data source: ifIndex (type 0) of the ingress port
    const seq = ((this.seqBySource.get(source) ?? 0) + 1) >>> 0;
    this.seqBySource.set(source, seq);
    const rate = f.samplingRate || 1;
    const pool = ((this.poolBySource.get(source) ?? 0) + rate) >>> 0;
    this.poolBySource.set(source, pool);
    s.writeUInt32BE(1, 0); // flow_sample
    let o = 8;
    s.writeUInt32BE(seq, o);
    s.writeUInt32BE(source & 0xffffff, o + 4);
    s.writeUInt32BE(rate >>> 0, o + 8);
    s.writeUInt32BE(pool, o + 12);
    s.writeUInt32BE(0, o + 16); // drops
    s.writeUInt32BE(f.inIf & 0x3fffffff, o + 20);
    s.writeUInt32BE(f.outIf & 0x3fffffff, o + 24);
    s.writeUInt32BE(4, o + 28); // records
    o += 32;
    // sampled_header (0:1): header_protocol (1 Ethernet); frame_length; stripped; opaque header<>
    const frame = sflowFrameLength(f);
    const hStart = o + 8 + 16;
    const hLen = this.packetHeader(f, frame, hStart);
    const hPad = (4 - (hLen & 3)) & 3;
    s.fill(0, hStart + hLen, hStart + hLen + hPad);
    s.writeUInt32BE(1, o);
    s.writeUInt32BE(16 + hLen + hPad, o + 4);
    s.writeUInt32BE(1, o + 8);
    s.writeUInt32BE(frame, o + 12);
    s.writeUInt32BE(4, o + 16); // the FCS
    s.writeUInt32BE(hLen, o + 20);
    o = hStart + hLen + hPad;
    // extended_switch (0:1001): src_vlan; src_priority; dst_vlan; dst_priority
    s.writeUInt32BE(1001, o);
    s.writeUInt32BE(16, o + 4);
    s.writeUInt32BE(vlanOf(f.inIf), o + 8);
    s.writeUInt32BE(0, o + 12);
    s.writeUInt32BE(vlanOf(f.outIf), o + 16);
    s.writeUInt32BE(0, o + 20);
    o += 24;
    // extended_router (0:1002): next_hop_address nexthop; src_mask_len; dst_mask_len
    const rStart = o;
    s.writeUInt32BE(1002, o);
    o = this.nextHop(f, o + 8);
    s.writeUInt32BE(f.srcMask, o);
    s.writeUInt32BE(f.dstMask, o + 4);
    o += 8;
    s.writeUInt32BE(o - rStart - 8, rStart + 4);
    // extended_gateway (0:1003): next_hop; as (the router's); src_as; src_peer_as;
    //   as_path_type dst_as_path<> (type 2 AS_SEQUENCE + as_number<>); communities<>; localpref
    const gStart = o;
    s.writeUInt32BE(1003, o);
    o = this.nextHop(f, o + 8);
    s.writeUInt32BE(LOCAL_AS, o);
    s.writeUInt32BE(f.srcAs >>> 0, o + 4);
    s.writeUInt32BE(f.srcAs >>> 0, o + 8);
    s.writeUInt32BE(1, o + 12); // one segment
    s.writeUInt32BE(2, o + 16); // AS_SEQUENCE
    s.writeUInt32BE(1, o + 20);
    s.writeUInt32BE(f.dstAs >>> 0, o + 24);
    s.writeUInt32BE(1, o + 28); // one community
    s.writeUInt32BE(SFLOW_COMMUNITY, o + 32);
    s.writeUInt32BE(SFLOW_LOCAL_PREF, o + 36);
    o += 40;
    s.writeUInt32BE(o - gStart - 8, gStart + 4);
    s.writeUInt32BE(o - 8, 4);
    return o;
  }

  private nextHop(f: Flow, o: number): number {
    const s = this.scratch;
    if (f.v6) {
      s.writeUInt32BE(0, o); // unknown: the model has no IPv6 next hops
      return o + 4;
    }
    s.writeUInt32BE(1, o);
    s.writeUInt32BE(f.nextHop >>> 0, o + 4);
    return o + 8;
  }

  /**
   * Ethernet II + IPv4 (RFC 791) / IPv6 (RFC 8200) + TCP (RFC 9293) / UDP
   * (RFC 768) / ICMP(v6) headers of one packet of `f`, at scratch[o…);
   * returns the header length. Checksums are left 0 (nobody verifies a
   * sampled header).
   */
  private packetHeader(f: Flow, frame: number, o: number): number {
    const s = this.scratch;
    const { src, dst } = macsOf(f);
    writeMac(s, o, dst);
    writeMac(s, o + 6, src);
    s.writeUInt16BE(f.v6 ? 0x86dd : 0x0800, o + 12);
    let p = o + 14;
    const ipLen = frame - 18;
    const ipHdr = f.v6 ? 40 : 20;
    if (f.v6) {
      s.writeUInt32BE(((6 << 28) | (f.tos << 20)) >>> 0, p);
      s.writeUInt16BE(ipLen - 40, p + 4);
      s[p + 6] = f.protocol;
      s[p + 7] = f.ttl;
      s.set(f.src, p + 8);
      s.set(f.dst, p + 24);
    } else {
      s[p] = 0x45;
      s[p + 1] = f.tos;
      s.writeUInt16BE(ipLen, p + 2);
      s.writeUInt16BE((this.ipId = (this.ipId + 1) & 0xffff), p + 4);
      s.writeUInt16BE(0x4000, p + 6); // DF
      s[p + 8] = f.ttl;
      s[p + 9] = f.protocol;
      s.writeUInt16BE(0, p + 10);
      s.set(f.src.subarray(12), p + 12);
      s.set(f.dst.subarray(12), p + 16);
    }
    p += ipHdr;
    if (f.protocol === 6) {
      s.writeUInt16BE(f.srcPort, p);
      s.writeUInt16BE(f.dstPort, p + 2);
      s.writeUInt32BE(0x10000000, p + 4); // seq
      s.writeUInt32BE(f.tcpFlags & 0x10 ? 0x20000000 : 0, p + 8); // ack
      s.writeUInt16BE((5 << 12) | (f.tcpFlags & 0x1ff), p + 12);
      s.writeUInt16BE(65535, p + 14);
      s.writeUInt32BE(0, p + 16);
      p += 20;
    } else if (f.protocol === 1 || f.protocol === 58) {
      s[p] = f.dstPort >> 8;
      s[p + 1] = f.dstPort & 0xff;
      s.writeUInt16BE(0, p + 2);
      s.writeUInt32BE(0x00010001, p + 4); // identifier, sequence
      p += 8;
    } else {
      s.writeUInt16BE(f.srcPort, p);
      s.writeUInt16BE(f.dstPort, p + 2);
      s.writeUInt16BE(ipLen - ipHdr, p + 4);
      s.writeUInt16BE(0, p + 6);
      p += 8;
    }
    return p - o;
  }

  /** counters_sample (0:2) with one generic interface record (0:1, if_counters) into scratch. */
  private counterSample(ifIndex: number): number {
    const s = this.scratch;
    const c = this.counters.get(ifIndex)!;
    const seq = ((this.seqBySource.get(-1 - ifIndex) ?? 0) + 1) >>> 0;
    this.seqBySource.set(-1 - ifIndex, seq);
    s.writeUInt32BE(2, 0);
    s.writeUInt32BE(12 + 8 + 88, 4);
    s.writeUInt32BE(seq, 8);
    s.writeUInt32BE(ifIndex & 0xffffff, 12);
    s.writeUInt32BE(1, 16);
    s.writeUInt32BE(1, 20); // generic interface counters
    s.writeUInt32BE(88, 24);
    // if_counters: ifIndex; ifType; ifSpeed(64); ifDirection; ifStatus; ifInOctets(64);
    //   ifInUcastPkts; ifInMulticastPkts; ifInBroadcastPkts; ifInDiscards; ifInErrors;
    //   ifInUnknownProtos; ifOutOctets(64); ifOutUcastPkts; ifOutMulticastPkts;
    //   ifOutBroadcastPkts; ifOutDiscards; ifOutErrors; ifPromiscuousMode
    let o = 28;
    s.writeUInt32BE(ifIndex, o);
    s.writeUInt32BE(6, o + 4); // ethernetCsmacd
    writeU64(s, o + 8, ifIndex < 10 ? 100e9 : 10e9);
    s.writeUInt32BE(1, o + 16); // full duplex
    s.writeUInt32BE(3, o + 20); // admin + oper up
    writeU64(s, o + 24, c.inOctets);
    s.writeUInt32BE(c.inPkts >>> 0, o + 32);
    s.fill(0, o + 36, o + 56);
    writeU64(s, o + 56, c.outOctets);
    s.writeUInt32BE(c.outPkts >>> 0, o + 64);
    s.fill(0, o + 68, o + 88);
    o += 88;
    this.counterSamples++;
    return o;
  }
}

function writeU64(b: Buffer, o: number, v: number): void {
  b.writeUInt32BE(Math.floor(v / 4294967296) >>> 0, o);
  b.writeUInt32BE(v >>> 0, o + 4);
}

function writeMac(b: Buffer, o: number, v: number): void {
  b.writeUInt16BE(Math.floor(v / 4294967296), o);
  b.writeUInt32BE(v >>> 0, o + 2);
}

function isMapped(b: Uint8Array): boolean {
  for (let k = 0; k < 10; k++) if (b[k] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}
