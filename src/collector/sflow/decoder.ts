// sFlow v5 decoder: one UDP datagram → flow rows (one per flow / discarded
// packet sample) and interface-counter records (one per counter sample).
//
// CONTRACT (same as FlowDecoder): decode(data, src, sink) never throws; every
// problem is counted per exporter (UDP source) in stats.errors by reason.
//   - `decode` is the entry point for the sFlow port: it counts the datagram,
//     decodes sFlow, and hands anything that is not sFlow (NetFlow/IPFIX sent
//     to the sFlow port) to `opts.netflow` (else counts bad_version).
//   - `hook` is what FlowDecoder's `sflow` option takes (sFlow arriving on a
//     NetFlow port): FlowDecoder has already counted the datagram.
//
// Wire grammar: sflow_version_5.txt (https://sflow.org/sflow_version_5.txt,
// XDR, RFC 4506: all integers big-endian 32-bit, opaque<> = length + data
// padded to 4 bytes) and sflow_drops.txt (discarded packet samples). The
// per-structure grammar is above each parser. Header parsing is shared with
// IPFIX (packet/header.ts).
//
// Traffic accounting: a flow sample is ONE sampled packet; its row has
// packets = 1, bytes = the frame length, sampling_rate = the sample's rate,
// unscaled like NetFlow/IPFIX (estimates multiply at query time). See docs/sflow.md.
import type { Logger } from "../../log.js";
import { FlowBatch } from "../batch.js";
import { DecodeError, type DecodeReason } from "../errors.js";
import { copyIpv4, formatIp, readMac } from "../ip.js";
import { parsePacketHeader, type FirstLayer } from "../packet/header.js";
import type { FlowColumns } from "../../schema.js";
import type { CollectorStats, ExporterStats } from "../stats.js";
import type { InterfaceCounters, PacketSource, RecordSink } from "../types.js";

/** Anything that decodes one datagram (FlowDecoder), for NetFlow/IPFIX arriving on the sFlow port. */
export interface DatagramDecoder {
  decode(data: Uint8Array, src: PacketSource, sink: RecordSink): number;
}

/** Optional per-format tallies (tests, `nagare decode`): data_format (enterprise << 12 | format) → count. */
export interface SflowTally {
  samples: Record<number, number>;
  flowRecords: Record<number, number>;
  counterRecords: Record<number, number>;
  /** Per datagram: agent, sub-agent and datagram sequence number. */
  datagrams: { agent: string; subAgent: number; seq: number }[];
  /** Per flow / counter / discard sample, in wire order: its type and sample sequence number. */
  sampleSeqs: { type: number; seq: number }[];
}

export function newTally(): SflowTally {
  return { samples: {}, flowRecords: {}, counterRecords: {}, datagrams: [], sampleSeqs: [] };
}

export interface SflowDecoderOptions {
  stats: CollectorStats;
  log?: Logger;
  /** Decoder for datagrams on the sFlow port that are not sFlow (NetFlow v5/v9, IPFIX). */
  netflow?: DatagramDecoder;
  /** Cap on tracked (agent, sub-agent) sequence states; beyond it, new agents are decoded without sequence accounting. */
  maxAgents?: number;
  tally?: SflowTally;
}

/** Sequence jumps larger than this are an agent restart, not loss. */
const MAX_GAP_DATAGRAMS = 100_000;
/** Per (agent, sub-agent): data sources whose `drops` counter is followed. */
const MAX_SOURCES_PER_AGENT = 4096;

/** sFlow interface value meaning "the agent itself" (sflow_version_5.txt, interface). */
export const SFLOW_IF_LOCAL = 0x3fffffff;

interface AgentState {
  ip: Uint8Array;
  /** The 16-byte address as four 32-bit words (copied into exporter_address per row). */
  ip32: Uint32Array;
  text: string;
  subAgent: number;
  seqNext: number;
  /** data source (type * 2^32 + index) → last `drops` value. */
  drops: Map<number, number>;
}

// sampled_header header_protocol (sflow_version_5.txt) → where the header parser starts.
function headerLayer(proto: number): FirstLayer | null {
  switch (proto) {
    case 1: // ETHERNET-ISO88023
      return "ethernet";
    case 11: // IPv4
      return "ipv4";
    case 12: // IPv6
      return "ipv6";
    case 13: // MPLS
      return "mpls";
    default:
      return null; // token ring, FDDI, PPP, POS …: not parsed
  }
}

/**
 * RFC 7270 forwardingStatus for an sFlow discard reason (the format-1
 * interface value / discarded packet `reason`): 128 = dropped, unknown reason,
 * refined where both registries have the same cause.
 */
function dropStatus(reason: number): number {
  switch (reason) {
    case 0: // net unreachable
    case 1: // host unreachable
    case 6: // dst net unknown
    case 7: // dst host unknown
      return 131; // unroutable
    case 4: // fragmentation needed and DF set
    case 262: // packet too big
      return 133;
    case 257: // TTL exceeded
      return 137;
    case 258: // ACL
      return 129;
    case 260: // RED
      return 139;
    case 261: // traffic shaping / policing
      return 138;
    default:
      return 128;
  }
}

// Per-sample scratch, reused (no allocation per sample).
interface SampleCtx {
  haveHeader: boolean;
  /** What set `bytes`: 3 raw header frame length, 2 sampled Ethernet, 1 sampled IP, 0 none. */
  bytesFrom: number;
  switchSeen: boolean;
  srcVlan: number;
  dstVlan: number;
}

export class SflowDecoder {
  private readonly stats: CollectorStats;
  private readonly log: Logger | undefined;
  /** Settable after construction (FlowDecoder needs `hook` first; the sFlow port needs the FlowDecoder). */
  netflow: DatagramDecoder | undefined;
  private readonly maxAgents: number;
  private readonly tally: SflowTally | undefined;
  private readonly agents = new Map<string, AgentState>();
  /**
   * IPv4 agents by number: address * 2^21 + sub-agent (sub-agents below 2^21).
   * Datagrams from many agents interleave at a collector; formatting the
   * address to a string key per datagram cost more than decoding a sample.
   */
  private readonly agents4 = new Map<number, AgentState>();
  private last: AgentState | undefined;
  /** exporter_address of the current batch as 32-bit words (4 stores per row instead of 16). */
  private ea8: Uint8Array | undefined;
  private ea32: Uint32Array | undefined;
  private readonly agentIp = new Uint8Array(16);
  private readonly scratch = new FlowBatch(1);
  private readonly sc: SampleCtx = {
    haveHeader: false,
    bytesFrom: 0,
    switchSeen: false,
    srcVlan: 0,
    dstVlan: 0,
  };
  // Current datagram (set per decode; avoids passing six arguments around).
  private st!: ExporterStats;
  private src!: PacketSource;
  private sink!: RecordSink;
  private agent!: AgentState;
  /** Datagram header uptime (ms), handed to counter records as their interval clock. */
  private uptime = 0;

  constructor(opts: SflowDecoderOptions) {
    this.stats = opts.stats;
    this.log = opts.log;
    this.netflow = opts.netflow;
    this.maxAgents = opts.maxAgents ?? 10_000;
    this.tally = opts.tally;
  }

  /** Entry point for the sFlow port. Returns flow rows written. Never throws. */
  decode(data: Uint8Array, src: PacketSource, sink: RecordSink): number {
    if (!isSflow(data)) {
      // NetFlow v5 exporters pointed at the sFlow port exist (one capture has
      // five such frames): let the NetFlow decoder, which counts, have them.
      if (this.netflow) {
        try {
          return this.netflow.decode(data, src, sink);
        } catch {
          // FlowDecoder never throws; a foreign decoder might. Fall through to counting.
        }
      }
      const st = this.count(data, src);
      const v = data.length >= 4 ? new DataView(data.buffer, data.byteOffset, 4).getUint32(0) : -1;
      this.problem(
        st,
        data.length < 4 ? "truncated" : "bad_version",
        `not an sFlow v5 datagram (version ${v}) on the sFlow port`,
      );
      return 0;
    }
    return this.decodeSflow(data, src, sink, this.count(data, src));
  }

  /** For FlowDecoder's `sflow` option: the datagram was counted there. */
  readonly hook = (data: Uint8Array, src: PacketSource, sink: RecordSink): number =>
    this.decodeSflow(data, src, sink, this.stats.exporter(src.exporter));

  private count(data: Uint8Array, src: PacketSource): ExporterStats {
    const st = this.stats.exporter(src.exporter);
    st.packets++;
    st.bytes += data.length;
    if (!st.firstSeen) st.firstSeen = src.receivedMs;
    st.lastSeen = src.receivedMs;
    return st;
  }

  private problem(st: ExporterStats, reason: DecodeReason, msg: string): void {
    st.errors[reason]++;
    this.log?.limited(`sflow:${reason}`, "warn", msg, { exporter: st.exporter, reason });
  }

  // sample_datagram_v5:
  //   unsigned int version (5); address agent_address (type 0 unknown | 1 IPv4
  //   [4] | 2 IPv6 [16]); unsigned int sub_agent_id; unsigned int
  //   sequence_number; unsigned int uptime (ms); sample_record samples<>
  // sample_record: data_format sample_type (enterprise(20) << 12 | format(12));
  //   opaque sample_data<>
  private decodeSflow(data: Uint8Array, src: PacketSource, sink: RecordSink, st: ExporterStats): number {
    const before = st.flowRecords;
    this.st = st;
    this.src = src;
    this.sink = sink;
    try {
      const end = data.length;
      if (end < 8) throw new DecodeError("truncated", `sFlow header: ${end} bytes`);
      if (u32(data, 0) !== 5) throw new DecodeError("bad_version", `sFlow version ${u32(data, 0)}`);
      const at = u32(data, 4);
      const ip = this.agentIp;
      let p = 8;
      let agent: AgentState | undefined;
      if (at === 1 && end >= 28) {
        // IPv4 agent, whole header present: look the agent up by number.
        const subAgent = u32(data, 12);
        if (subAgent < 0x200000) agent = this.agents4.get(u32(data, 8) * 0x200000 + subAgent);
      }
      if (agent) {
        p = 12;
      } else if (at === 1) {
        if (end - p < 4) throw new DecodeError("truncated", "sFlow agent address");
        for (let k = 0; k < 10; k++) ip[k] = 0;
        ip[10] = 0xff;
        ip[11] = 0xff;
        ip[12] = data[p]!;
        ip[13] = data[p + 1]!;
        ip[14] = data[p + 2]!;
        ip[15] = data[p + 3]!;
        p += 4;
      } else if (at === 2) {
        if (end - p < 16) throw new DecodeError("truncated", "sFlow agent address");
        for (let k = 0; k < 16; k++) ip[k] = data[p + k]!;
        p += 16;
      } else if (at === 0) {
        ip.set(src.exporterIp);
      } else {
        throw new DecodeError("field_length", `sFlow agent address type ${at}`);
      }
      if (end - p < 16) throw new DecodeError("truncated", "sFlow header");
      const subAgent = u32(data, p);
      const seq = u32(data, p + 4);
      this.uptime = u32(data, p + 8);
      const count = u32(data, p + 12);
      p += 16;
      st.versions.sflow5 = (st.versions.sflow5 ?? 0) + 1;
      if (!agent) {
        agent = this.agentState(ip, subAgent);
        if (at === 1 && subAgent < 0x200000 && this.agents4.size < this.maxAgents)
          this.agents4.set(u32(data, 8) * 0x200000 + subAgent, agent);
      }
      this.agent = agent;
      this.sequence(agent, st, seq);
      this.tally?.datagrams.push({ agent: agent.text, subAgent, seq });

      for (let n = 0; n < count; n++) {
        if (end - p < 8) {
          throw new DecodeError(
            p === end ? "bad_count" : "truncated",
            `sFlow: ${count} samples announced, ${n} present`,
          );
        }
        const type = u32(data, p);
        const len = u32(data, p + 4);
        const s = p + 8;
        if (len > end - s)
          throw new DecodeError("truncated", `sFlow sample length ${len}, ${end - s} bytes left`);
        const sEnd = s + len;
        if (this.tally) this.tally.samples[type] = (this.tally.samples[type] ?? 0) + 1;
        try {
          switch (type) {
            case 1:
            case 3:
            case 5:
              this.flowSample(data, s, sEnd, type);
              break;
            case 2:
            case 4:
              this.counterSample(data, s, sEnd, type);
              break;
            default:
              this.problem(
                st,
                "sample_unknown",
                `sFlow sample format ${type >>> 12}:${type & 0xfff} skipped`,
              );
          }
        } catch (e) {
          // The sample's own length frames it: count, then go on with the next sample.
          this.problem(
            st,
            e instanceof DecodeError ? e.reason : "other",
            e instanceof Error ? e.message : String(e),
          );
        }
        p = sEnd + ((4 - (len & 3)) & 3); // XDR opaque padding
        if (p > end) p = end;
      }
      if (p < end) this.problem(st, "padding", `sFlow: ${end - p} bytes after the last sample`);
    } catch (e) {
      this.problem(
        st,
        e instanceof DecodeError ? e.reason : "other",
        e instanceof Error ? e.message : String(e),
      );
    }
    return st.flowRecords - before;
  }

  /**
   * Datagram sequence (per agent and sub-agent, +1 per datagram): a forward
   * gap is loss; a backward step or an absurd jump is a restart; a datagram
   * a little late (reordered) is ignored.
   */
  private sequence(agent: AgentState, st: ExporterStats, seq: number): void {
    if (agent.seqNext >= 0 && seq !== agent.seqNext) {
      const gap = (seq - agent.seqNext) >>> 0;
      if (gap <= MAX_GAP_DATAGRAMS) st.sequenceLost += gap;
      else if (0x100000000 - gap <= 64)
        return; // late datagram
      else st.sequenceResets++;
    }
    agent.seqNext = (seq + 1) >>> 0;
  }

  private agentState(ip: Uint8Array, subAgent: number): AgentState {
    const l = this.last;
    if (l && l.subAgent === subAgent && sameIp(l.ip, ip)) return l;
    const text = formatIp(ip, 0) || "0.0.0.0";
    const key = `${text}/${subAgent}`;
    let a = this.agents.get(key);
    if (!a) {
      const copy = ip.slice();
      a = {
        ip: copy,
        ip32: new Uint32Array(copy.buffer, copy.byteOffset, 4),
        text,
        subAgent,
        seqNext: -1,
        drops: new Map(),
      };
      // Beyond the cap the state is used but not kept: no sequence accounting for it.
      if (this.agents.size < this.maxAgents) this.agents.set(key, a);
    }
    this.last = a;
    return a;
  }

  private sourceDrops(srcType: number, srcIndex: number, drops: number): void {
    const m = this.agent.drops;
    const key = srcType * 0x100000000 + srcIndex;
    const last = m.get(key);
    if (last === undefined) {
      if (m.size < MAX_SOURCES_PER_AGENT) m.set(key, drops);
      return;
    }
    const d = (drops - last) >>> 0;
    if (d < 0x80000000) this.st.sampleDrops += d; // else: counter reset
    m.set(key, drops);
  }

  // flow_sample (format 1):
  //   unsigned int sequence_number; sflow_data_source source_id (type(8) << 24 | index(24));
  //   unsigned int sampling_rate; unsigned int sample_pool; unsigned int drops;
  //   interface input; interface output (format(2) << 30 | value(30)); flow_record flow_records<>
  // flow_sample_expanded (format 3):
  //   sequence_number; source_id type; source_id index; sampling_rate; sample_pool; drops;
  //   input format; input value; output format; output value; flow_record flow_records<>
  // discarded_packet (format 5, sflow_drops.txt):
  //   sequence_number; source_id type; source_id index; unsigned int drops;
  //   unsigned int inputInterface; unsigned int outputInterface (0 = unknown);
  //   drop_reason reason; flow_record discarded<>
  // interface formats: 0 single ifIndex (0x3FFFFFFF = the agent itself), 1 packet
  // discarded (value = reason), 2 multiple interfaces (value = count, 0 unknown).
  private flowSample(b: Uint8Array, p: number, end: number, type: number): void {
    let srcType: number, srcIndex: number, rate: number, drops: number;
    let inFmt = 0,
      inVal: number,
      outFmt = 0,
      outVal: number,
      reason = -1;
    if (type === 1) {
      if (end - p < 32) throw new DecodeError("truncated", "sFlow flow sample");
      const sid = u32(b, p + 4);
      srcType = sid >>> 24;
      srcIndex = sid & 0xffffff;
      rate = u32(b, p + 8);
      drops = u32(b, p + 16);
      const i = u32(b, p + 20);
      const o = u32(b, p + 24);
      inFmt = i >>> 30;
      inVal = i & 0x3fffffff;
      outFmt = o >>> 30;
      outVal = o & 0x3fffffff;
      p += 28;
    } else if (type === 3) {
      if (end - p < 44) throw new DecodeError("truncated", "sFlow expanded flow sample");
      srcType = u32(b, p + 4);
      srcIndex = u32(b, p + 8);
      rate = u32(b, p + 12);
      drops = u32(b, p + 20);
      inFmt = u32(b, p + 24);
      inVal = u32(b, p + 28);
      outFmt = u32(b, p + 32);
      outVal = u32(b, p + 36);
      p += 40;
    } else {
      if (end - p < 32) throw new DecodeError("truncated", "sFlow discarded packet sample");
      srcType = u32(b, p + 4);
      srcIndex = u32(b, p + 8);
      drops = u32(b, p + 12);
      inVal = u32(b, p + 16);
      outVal = u32(b, p + 20);
      reason = u32(b, p + 24);
      rate = 1; // each discard event reports one dropped packet (rate-limited, not sampled)
      p += 28;
    }
    const nrec = u32(b, p);
    p += 4;
    if (drops !== 0) this.sourceDrops(srcType, srcIndex, drops);
    this.tally?.sampleSeqs.push({ type, seq: u32(b, p - (type === 3 ? 44 : 32)) });

    const sink = this.sink;
    const batch = sink.batch;
    const i = batch.length;
    const c = batch.cols;
    try {
      const t = this.src.receivedMs;
      c.time_received[i] = t;
      c.time_flow_start[i] = t;
      c.time_flow_end[i] = t;
      const ea = c.exporter_address;
      if (ea !== this.ea8) {
        this.ea8 = ea;
        this.ea32 =
          (ea.byteOffset & 3) === 0 ? new Uint32Array(ea.buffer, ea.byteOffset, ea.length >>> 2) : undefined;
      }
      const ea32 = this.ea32;
      if (ea32) {
        // Byte order is preserved: both sides are views of byte arrays.
        const a32 = this.agent.ip32;
        const w = i * 4;
        ea32[w] = a32[0]!;
        ea32[w + 1] = a32[1]!;
        ea32[w + 2] = a32[2]!;
        ea32[w + 3] = a32[3]!;
      } else {
        const eo = i * 16;
        const aip = this.agent.ip;
        for (let k = 0; k < 16; k++) ea[eo + k] = aip[k]!;
      }
      c.observation_domain_id[i] = this.agent.subAgent;
      c.sampler_id[i] = srcIndex;
      c.sampling_rate[i] = rate;
      c.packets[i] = 1;
      c.flows[i] = 1;
      // Interfaces: only single ifIndex values name an interface.
      c.in_if[i] = inFmt === 0 ? inVal : 0;
      c.out_if[i] = outFmt === 0 ? outVal : 0;
      if (reason >= 0) {
        c.forwarding_status[i] = dropStatus(reason);
        c.drop_reason[i] = reason > 0xffff ? 0xffff : reason;
      } else if (outFmt === 1) {
        c.forwarding_status[i] = dropStatus(outVal);
        c.drop_reason[i] = outVal > 0xffff ? 0xffff : outVal;
      } else if (outFmt === 0 && outVal === SFLOW_IF_LOCAL) {
        c.forwarding_status[i] = 192; // delivered to the agent itself: consumed (RFC 7270)
      }
      // The data source is where the packet was sampled: ingress when it is
      // the input interface, egress when it is the output interface.
      c.direction[i] =
        srcType !== 0
          ? 255
          : inFmt === 0 && srcIndex === inVal
            ? 0
            : outFmt === 0 && srcIndex === outVal
              ? 1
              : 255;

      const sc = this.sc;
      sc.haveHeader = false;
      sc.bytesFrom = 0;
      sc.switchSeen = false;
      for (let n = 0; n < nrec; n++) {
        if (end - p < 8)
          throw new DecodeError("bad_count", `sFlow flow sample: ${nrec} records announced, ${n} present`);
        const fmt = u32(b, p);
        const len = u32(b, p + 4);
        const r = p + 8;
        if (len > end - r)
          throw new DecodeError(
            "bad_length",
            `sFlow flow record ${fmt} length ${len}, ${end - r} bytes left`,
          );
        const rEnd = r + len;
        if (this.tally) this.tally.flowRecords[fmt] = (this.tally.flowRecords[fmt] ?? 0) + 1;
        this.flowRecord(b, r, rEnd, fmt, c, i);
        p = Math.min(end, rEnd + ((4 - (len & 3)) & 3));
      }
      if (sc.switchSeen) {
        // Extended switch data is the switch's own statement: it wins over a tag in the header.
        if (sc.srcVlan > 0 && sc.srcVlan < 4096) c.src_vlan[i] = sc.srcVlan;
        if (sc.dstVlan > 0 && sc.dstVlan < 4096) c.dst_vlan[i] = sc.dstVlan;
      }
    } catch (e) {
      batch.clearRow(i);
      throw e;
    }
    const st = this.st;
    st.flowRecords++;
    if (rate === 0) st.unknownSamplingRecords++;
    sink.commit();
  }

  private flowRecord(b: Uint8Array, p: number, end: number, fmt: number, c: FlowColumns, i: number): void {
    const len = end - p;
    const sc = this.sc;
    switch (fmt) {
      case 1: {
        // sampled_header: header_protocol protocol; unsigned int frame_length;
        //   unsigned int stripped; opaque header<>
        if (len < 16) throw new DecodeError("field_length", `sFlow sampled header record of ${len} bytes`);
        const proto = u32(b, p);
        const frameLength = u32(b, p + 4);
        const hlen = u32(b, p + 12);
        const h = p + 16;
        if (hlen > end - h)
          throw new DecodeError("bad_length", `sFlow header length ${hlen}, record holds ${end - h}`);
        c.bytes[i] = frameLength;
        sc.bytesFrom = 3;
        const layer = headerLayer(proto);
        if (layer === null) {
          this.problem(this.st, "header_unparsed", `sFlow sampled header protocol ${proto} not parsed`);
          return;
        }
        const res = parsePacketHeader(b, h, h + hlen, layer, c, i);
        sc.haveHeader = true;
        if (res.depth === "none") {
          this.problem(
            this.st,
            "header_unparsed",
            `sFlow sampled header (protocol ${proto}, ${hlen} bytes) not parsed`,
          );
          return;
        }
        if (res.tunnel !== "none" && res.innerLayer !== null && res.innerOffset >= 0) {
          if (res.vni >= 0) c.layer2_segment_id[i] = res.vni;
          this.inner(b, res.innerOffset, h + hlen, res.innerLayer, c, i);
        }
        return;
      }
      case 2: {
        // sampled_ethernet: unsigned int length; mac src_mac; mac dst_mac; unsigned int type
        // (mac = opaque[6], padded to 8)
        if (len < 24) throw new DecodeError("field_length", `sFlow sampled Ethernet record of ${len} bytes`);
        if (sc.bytesFrom < 2) {
          c.bytes[i] = u32(b, p);
          sc.bytesFrom = 2;
        }
        if (!sc.haveHeader) {
          c.src_mac[i] = readMac(b, p + 4);
          c.dst_mac[i] = readMac(b, p + 12);
        }
        return;
      }
      case 3: {
        // sampled_ipv4: length; protocol; ip_v4 src_ip; ip_v4 dst_ip; src_port; dst_port; tcp_flags; tos
        if (len < 32) throw new DecodeError("field_length", `sFlow sampled IPv4 record of ${len} bytes`);
        sampledIp(sc, c, i, b, p, false);
        return;
      }
      case 4: {
        // sampled_ipv6: length; protocol; ip_v6 src_ip; ip_v6 dst_ip; src_port; dst_port; tcp_flags; priority
        if (len < 56) throw new DecodeError("field_length", `sFlow sampled IPv6 record of ${len} bytes`);
        sampledIp(sc, c, i, b, p, true);
        return;
      }
      case 1001:
        // extended_switch: src_vlan; src_priority; dst_vlan; dst_priority
        if (len < 16) throw new DecodeError("field_length", `sFlow extended switch record of ${len} bytes`);
        sc.switchSeen = true;
        sc.srcVlan = u32(b, p);
        sc.dstVlan = u32(b, p + 8);
        return;
      case 1002: {
        // extended_router: next_hop_address nexthop; unsigned int src_mask_len; unsigned int dst_mask_len
        const q = readAddress(b, p, end, c.next_hop, i * 16);
        if (end - q < 8) throw new DecodeError("field_length", "sFlow extended router record");
        c.src_prefix_len[i] = Math.min(u32(b, q), 128);
        c.dst_prefix_len[i] = Math.min(u32(b, q + 4), 128);
        return;
      }
      case 1003:
        this.gateway(b, p, end, c, i);
        return;
      default:
        this.problem(
          this.st,
          "sample_unknown",
          `sFlow flow record format ${fmt >>> 12}:${fmt & 0xfff} skipped`,
        );
    }
  }

  // extended_gateway: next_hop_address nexthop; unsigned int as; unsigned int src_as;
  //   unsigned int src_peer_as; as_path_type dst_as_path<>; unsigned int communities<>;
  //   unsigned int localpref
  // as_path_type: as_path_segment_type type (1 AS_SET, 2 AS_SEQUENCE); unsigned int as_number<>
  private gateway(b: Uint8Array, p: number, end: number, c: FlowColumns, i: number): void {
    let q = readAddress(b, p, end, c.bgp_next_hop, i * 16);
    if (end - q < 16) throw new DecodeError("field_length", "sFlow extended gateway record");
    const routerAs = u32(b, q);
    const srcAs = u32(b, q + 4);
    const segments = u32(b, q + 12);
    q += 16;
    let path = "";
    let lastAs = -1;
    for (let s = 0; s < segments; s++) {
      if (end - q < 8) throw new DecodeError("field_length", "sFlow AS path segment");
      const set = u32(b, q) === 1;
      const n = u32(b, q + 4);
      q += 8;
      if (n > (end - q) / 4) throw new DecodeError("field_length", `sFlow AS path segment of ${n} ASes`);
      if (n === 0) continue;
      let seg = "";
      for (let k = 0; k < n; k++) {
        const as = u32(b, q);
        seg += k === 0 ? `${as}` : ` ${as}`;
        lastAs = as;
        q += 4;
      }
      if (set) seg = `{${seg}}`;
      path = path ? `${path} ${seg}` : seg;
    }
    if (end - q < 4) throw new DecodeError("field_length", "sFlow communities");
    const nc = u32(b, q);
    q += 4;
    if (nc > (end - q) / 4)
      throw new DecodeError("field_length", `sFlow extended gateway: ${nc} communities`);
    let comm = "";
    for (let k = 0; k < nc; k++) {
      const v = u32(b, q);
      comm += `${k ? " " : ""}${v >>> 16}:${v & 0xffff}`;
      q += 4;
    }
    if (end - q < 4) throw new DecodeError("field_length", "sFlow local preference");
    c.local_pref[i] = u32(b, q);
    // src_as 0: the source is in the router's own AS (sFlow v5: "as" is the router's AS);
    // dst_as is the origin (last) AS of the path, the router's own AS when the path is empty.
    c.src_as[i] = srcAs !== 0 ? srcAs : routerAs;
    c.dst_as[i] = lastAs >= 0 ? lastAs : routerAs;
    c.as_path[i] = path;
    c.bgp_communities[i] = comm;
  }

  /** Decode the tunnelled packet at `off` into the inner_* columns of row i. */
  private inner(b: Uint8Array, off: number, end: number, layer: FirstLayer, c: FlowColumns, i: number): void {
    const s = this.scratch.cols;
    s.src_addr.fill(0);
    s.dst_addr.fill(0);
    s.src_port[0] = 0;
    s.dst_port[0] = 0;
    s.protocol[0] = 0;
    parsePacketHeader(b, off, end, layer, s, 0, true);
    const o = i * 16;
    for (let k = 0; k < 16; k++) {
      c.inner_src_addr[o + k] = s.src_addr[k]!;
      c.inner_dst_addr[o + k] = s.dst_addr[k]!;
    }
    c.inner_src_port[i] = s.src_port[0]!;
    c.inner_dst_port[i] = s.dst_port[0]!;
    c.inner_protocol[i] = s.protocol[0]!;
  }

  // counters_sample (format 2): sequence_number; sflow_data_source source_id; counter_record counters<>
  // counters_sample_expanded (format 4): sequence_number; source_id type; source_id index; counter_record counters<>
  // counter_record: data_format counter_format; opaque counter_data<>
  private counterSample(b: Uint8Array, p: number, end: number, type: number): void {
    let srcType: number, srcIndex: number;
    if (end - p < 4) throw new DecodeError("truncated", "sFlow counter sample");
    const seq = u32(b, p);
    if (type === 2) {
      if (end - p < 12) throw new DecodeError("truncated", "sFlow counter sample");
      const sid = u32(b, p + 4);
      srcType = sid >>> 24;
      srcIndex = sid & 0xffffff;
      p += 8;
    } else {
      if (end - p < 16) throw new DecodeError("truncated", "sFlow expanded counter sample");
      srcType = u32(b, p + 4);
      srcIndex = u32(b, p + 8);
      p += 12;
    }
    const nrec = u32(b, p);
    p += 4;
    this.tally?.sampleSeqs.push({ type, seq });
    let rec: InterfaceCounters | undefined;
    const get = (): InterfaceCounters =>
      (rec ??= {
        exporter: this.src.exporter,
        agent: this.agent.text,
        subAgentId: this.agent.subAgent,
        receivedMs: this.src.receivedMs,
        sequence: seq,
        uptimeMs: this.uptime,
        sourceIdType: srcType,
        sourceIdIndex: srcIndex,
        ifIndex: srcIndex,
      });
    for (let n = 0; n < nrec; n++) {
      if (end - p < 8)
        throw new DecodeError("bad_count", `sFlow counter sample: ${nrec} records announced, ${n} present`);
      const fmt = u32(b, p);
      const len = u32(b, p + 4);
      const r = p + 8;
      if (len > end - r)
        throw new DecodeError(
          "bad_length",
          `sFlow counter record ${fmt} length ${len}, ${end - r} bytes left`,
        );
      if (this.tally) this.tally.counterRecords[fmt] = (this.tally.counterRecords[fmt] ?? 0) + 1;
      if (fmt === 1) {
        // if_counters: ifIndex; ifType; unsigned hyper ifSpeed; ifDirection; ifStatus;
        //   unsigned hyper ifInOctets; ifInUcastPkts; ifInMulticastPkts; ifInBroadcastPkts;
        //   ifInDiscards; ifInErrors; ifInUnknownProtos; unsigned hyper ifOutOctets;
        //   ifOutUcastPkts; ifOutMulticastPkts; ifOutBroadcastPkts; ifOutDiscards;
        //   ifOutErrors; ifPromiscuousMode
        if (len < 88)
          throw new DecodeError("field_length", `sFlow generic interface counters of ${len} bytes`);
        const x = get();
        x.ifIndex = u32(b, r);
        x.generic = {
          ifType: u32(b, r + 4),
          ifSpeed: u64(b, r + 8),
          ifDirection: u32(b, r + 16),
          ifStatus: u32(b, r + 20),
          inOctets: u64(b, r + 24),
          inUcastPkts: u32(b, r + 32),
          inMulticastPkts: u32(b, r + 36),
          inBroadcastPkts: u32(b, r + 40),
          inDiscards: u32(b, r + 44),
          inErrors: u32(b, r + 48),
          inUnknownProtos: u32(b, r + 52),
          outOctets: u64(b, r + 56),
          outUcastPkts: u32(b, r + 64),
          outMulticastPkts: u32(b, r + 68),
          outBroadcastPkts: u32(b, r + 72),
          outDiscards: u32(b, r + 76),
          outErrors: u32(b, r + 80),
          promiscuousMode: u32(b, r + 84),
        };
      } else if (fmt === 2) {
        // ethernet_counters: 13 × unsigned int, dot3Stats* (RFC 3635)
        if (len < 52) throw new DecodeError("field_length", `sFlow Ethernet counters of ${len} bytes`);
        get().ethernet = {
          alignmentErrors: u32(b, r),
          fcsErrors: u32(b, r + 4),
          singleCollisionFrames: u32(b, r + 8),
          multipleCollisionFrames: u32(b, r + 12),
          sqeTestErrors: u32(b, r + 16),
          deferredTransmissions: u32(b, r + 20),
          lateCollisions: u32(b, r + 24),
          excessiveCollisions: u32(b, r + 28),
          internalMacTransmitErrors: u32(b, r + 32),
          carrierSenseErrors: u32(b, r + 36),
          frameTooLongs: u32(b, r + 40),
          internalMacReceiveErrors: u32(b, r + 44),
          symbolErrors: u32(b, r + 48),
        };
      } else {
        this.problem(
          this.st,
          "sample_unknown",
          `sFlow counter record format ${fmt >>> 12}:${fmt & 0xfff} skipped`,
        );
      }
      p = Math.min(end, r + len + ((4 - (len & 3)) & 3));
    }
    if (rec) {
      this.st.counterRecords++;
      this.sink.counters(rec);
    }
  }
}

/** True for a datagram starting with the 32-bit sFlow version 5. */
export function isSflow(d: Uint8Array): boolean {
  return d.length >= 4 && d[0] === 0 && d[1] === 0 && d[2] === 0 && d[3] === 5;
}

function sameIp(a: Uint8Array, b: Uint8Array): boolean {
  for (let k = 15; k >= 0; k--) if (a[k] !== b[k]) return false;
  return true;
}

function u64(b: Uint8Array, o: number): number {
  return u32(b, o) * 4294967296 + u32(b, o + 4);
}

/**
 * Big-endian unsigned 32-bit read. Callers have checked the bounds. Used
 * instead of a DataView: constructing one per datagram cost more than the
 * reads it serves (sFlow datagrams often carry only one or two samples).
 */
function u32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

/**
 * The body of sampled_ipv4 / sampled_ipv6 (the caller has checked its 32 / 56
 * bytes): they differ only in the width of the two addresses. Their length
 * field gives bytes unless a sampled header or Ethernet record already did;
 * the rest is used only when no sampled header described the packet.
 */
function sampledIp(sc: SampleCtx, c: FlowColumns, i: number, b: Uint8Array, p: number, v6: boolean): void {
  if (sc.bytesFrom < 1) {
    c.bytes[i] = u32(b, p);
    sc.bytesFrom = 1;
  }
  if (sc.haveHeader) return;
  c.ip_version[i] = v6 ? 6 : 4;
  c.protocol[i] = u32(b, p + 4) & 0xff;
  const o = i * 16;
  let q: number;
  if (v6) {
    for (let k = 0; k < 16; k++) {
      c.src_addr[o + k] = b[p + 8 + k]!;
      c.dst_addr[o + k] = b[p + 24 + k]!;
    }
    q = p + 40;
  } else {
    copyIpv4(c.src_addr, o, b, p + 8);
    copyIpv4(c.dst_addr, o, b, p + 12);
    q = p + 16;
  }
  c.src_port[i] = u32(b, q) & 0xffff;
  c.dst_port[i] = u32(b, q + 4) & 0xffff;
  c.tcp_flags[i] = u32(b, q + 8) & 0xffff;
  c.tos[i] = u32(b, q + 12) & 0xff;
}

// next_hop_address / address: unsigned int type (0 unknown, 1 IPv4, 2 IPv6) + 0/4/16 bytes.
// Writes the address at dst[o..o+16) (all zero when unknown); returns the offset after it.
function readAddress(b: Uint8Array, p: number, end: number, dst: Uint8Array, o: number): number {
  if (end - p < 4) throw new DecodeError("field_length", "sFlow address type");
  const t = u32(b, p);
  p += 4;
  if (t === 1) {
    if (end - p < 4) throw new DecodeError("field_length", "sFlow IPv4 address");
    copyIpv4(dst, o, b, p);
    return p + 4;
  }
  if (t === 2) {
    if (end - p < 16) throw new DecodeError("field_length", "sFlow IPv6 address");
    for (let k = 0; k < 16; k++) dst[o + k] = b[p + k]!;
    return p + 16;
  }
  if (t === 0) return p;
  throw new DecodeError("field_length", `sFlow address type ${t}`);
}
