// Data record decoding for NetFlow v9 and IPFIX (shared: both are
// template-driven; only the set/template grammar differs, see v9.ts/ipfix.ts).
//
// Hot path. One compiled template (templates.ts) drives a loop over flat
// typed arrays; values go straight from a DataView over the packet into the
// batch's typed arrays. No lookups by IE id, no per-record objects.
import { copyIpv4, formatIp, formatMac, readMac } from "../ip.js";
import { parsePacketHeader } from "../packet/header.js";
import type { ExporterStats } from "../stats.js";
import type { FlowColumns } from "../../schema.js";
import type { FlowBatch } from "../batch.js";
import type { OptionsRecord, PacketSource, RecordSink } from "../types.js";
import { Op } from "./ies.js";
import { packetIntervalRate, scopeRate } from "./sampling.js";
import { colIndex, GROUP_COLS, VARLEN, type CompiledTemplate, type Scope } from "./templates.js";

/** Everything a record needs from its message header; one mutable object per decoder. */
export interface MsgContext {
  src: PacketSource;
  stats: ExporterStats;
  version: number;
  domain: number;
  /** Export time (header), ms since epoch. */
  exportMs: number;
  /** NetFlow v9 header sysUptime in ms; -1 for IPFIX. */
  sysUptimeMs: number;
  scope: Scope | undefined;
  /** Configured per-exporter override (0 = none). */
  rateOverride: number;
  /** Configured default (0 = leave unknown). */
  rateDefault: number;
}

/** Typed arrays of the current batch, grouped by storage kind; rebuilt when the sink swaps batches. */
export class BatchColumns {
  batch: FlowBatch | undefined;
  cols!: FlowColumns;
  u8: Uint8Array[] = [];
  u16: Uint16Array[] = [];
  u32: Uint32Array[] = [];
  f64: Float64Array[] = [];
  ip: Uint8Array[] = [];

  bind(batch: FlowBatch): void {
    if (this.batch === batch) return;
    this.batch = batch;
    this.cols = batch.cols;
    const c = batch.cols as unknown as Record<string, unknown>;
    this.u8 = GROUP_COLS.u8.map((n) => c[n] as Uint8Array);
    this.u16 = GROUP_COLS.u16.map((n) => c[n] as Uint16Array);
    this.u32 = GROUP_COLS.u32.map((n) => c[n] as Uint32Array);
    this.f64 = GROUP_COLS.f64.map((n) => c[n] as Float64Array);
    this.ip = GROUP_COLS.ip.map((n) => c[n] as Uint8Array);
  }
}

// Op codes and VARLEN copied into module constants: the switch below then
// compares against constants (imported bindings can be live getters under
// some loaders, which costs a call per field).
const OP_SKIP = Op.SKIP;
const OP_U8 = Op.U8;
const OP_U16 = Op.U16;
const OP_U32 = Op.U32;
const OP_F64 = Op.F64;
const OP_IPV4 = Op.IPV4;
const OP_IPV6 = Op.IPV6;
const OP_MAC = Op.MAC;
const OP_MPLS = Op.MPLS;
const OP_ICMP_TC = Op.ICMP_TC;
const OP_T_SYSUP = Op.T_SYSUP;
const OP_T_S = Op.T_S;
const OP_T_MS = Op.T_MS;
const OP_T_NTP = Op.T_NTP;
const OP_T_DELTA_US = Op.T_DELTA_US;
const OP_SYSINIT = Op.SYSINIT;
const OP_T_OBS_MS = Op.T_OBS_MS;
const OP_SAMPLER_ID = Op.SAMPLER_ID;
const OP_SAMPLING = Op.SAMPLING;
const OP_SAMPLING_SPACE = Op.SAMPLING_SPACE;
const OP_IP_VERSION = Op.IP_VERSION;
const OP_FW_EVENT = Op.FW_EVENT;
const OP_DATALINK = Op.DATALINK;
const OP_IPHEADER = Op.IPHEADER;
const OP_BADLEN = Op.BADLEN;
const OP_FRAME_SIZE = Op.FRAME_SIZE;
const VAR = VARLEN;

const IP_SRC = colIndex("src_addr");
const IP_DST = colIndex("dst_addr");
const NTP_EPOCH_OFFSET_S = 2208988800; // 1900-01-01 → 1970-01-01

/** Unsigned big-endian integer of any length (0..8 exact; longer lengths keep the low bytes' magnitude approximately). */
function readUint(buf: Uint8Array, dv: DataView, p: number, len: number): number {
  switch (len) {
    case 1:
      return buf[p]!;
    case 2:
      return dv.getUint16(p);
    case 4:
      return dv.getUint32(p);
    case 8:
      return dv.getUint32(p) * 4294967296 + dv.getUint32(p + 4);
    default: {
      let v = 0;
      for (let k = 0; k < len; k++) v = v * 256 + buf[p + k]!;
      return v;
    }
  }
}

/** RFC 7011 §6.1.9/10: NTP format timestamp (seconds since 1900 + 2^-32 fractions) as ms since 1970. */
function ntpMs(dv: DataView, p: number): number {
  return (
    (dv.getUint32(p) - NTP_EPOCH_OFFSET_S) * 1000 + Math.floor((dv.getUint32(p + 4) * 1000) / 4294967296)
  );
}

/**
 * Cisco exporters (v5, and v9/IPFIX templates without an ICMP IE) carry ICMP
 * type/code in the destination port as type << 8 | code.
 */
export function icmpFromPort(cols: FlowColumns, i: number): void {
  const proto = cols.protocol[i];
  if ((proto === 1 || proto === 58) && cols.icmp_type[i] === 0 && cols.icmp_code[i] === 0) {
    const d = cols.dst_port[i]!;
    cols.icmp_type[i] = d >> 8;
    cols.icmp_code[i] = d & 0xff;
  }
}

/** Signed 32-bit difference a - b with 32-bit wrap (sysUptime counters wrap after 49.7 days). */
function wrapDiff(a: number, b: number): number {
  return (a - b) | 0;
}

/**
 * Decode every record of one data set: records are consecutive; what remains
 * after the last whole record (less than the template's minimum length) is
 * padding (RFC 7011 §3.3.1, RFC 3954 §5.3). Returns flow rows written.
 */
export function decodeFlowRecords(
  t: CompiledTemplate,
  buf: Uint8Array,
  dv: DataView,
  off: number,
  end: number,
  ctx: MsgContext,
  sink: RecordSink,
  bc: BatchColumns,
): number {
  let rows = 0;
  const ops = t.ops;
  const lens = t.lens;
  const args = t.args;
  const n = t.n;
  const scope = ctx.scope;
  const stats = ctx.stats;
  const exporterIp = ctx.src.exporterIp;
  while (end - off >= t.minLength) {
    bc.bind(sink.batch);
    const i = sink.batch.length;
    const u8 = bc.u8,
      u16 = bc.u16,
      u32 = bc.u32,
      f64 = bc.f64,
      ip = bc.ip;
    const cols = bc.cols;
    let p = off;
    let bad = false;
    let ipLength = 0;
    if (t.sectionField >= 0) {
      // RFC 7133 sections: parse the sampled header FIRST so that explicit IEs
      // of the same record, decoded below, overwrite what it found.
      let q = off;
      for (let k = 0; k < n && !bad; k++) {
        let len = lens[k]!;
        if (len === VAR) {
          if (q >= end) bad = true;
          else {
            len = buf[q++]!;
            if (len === 255) {
              if (q + 2 > end) bad = true;
              else {
                len = dv.getUint16(q);
                q += 2;
              }
            }
          }
        }
        if (q + len > end) bad = true;
        if (bad) break;
        if (k === t.sectionField) {
          ipLength = parsePacketHeader(buf, q, q + len, args[k] === 0 ? "ethernet" : "ip", cols, i).ipLength;
          break;
        }
        q += len;
      }
    }
    let addrSet = 0;
    let tStart = NaN,
      tEnd = NaN,
      upStart = -1,
      upEnd = -1,
      sysInit = -1,
      obs = NaN;
    let samplerId = 0,
      hasSampler = false,
      rate = 0,
      pktInterval = 0,
      pktSpace = 0,
      ipVersion = 0,
      fw = 0,
      frameSize = 0;
    for (let k = 0; k < n && !bad; k++) {
      let len = lens[k]!;
      if (len === VAR) {
        // RFC 7011 §7: 1-byte length, or 255 then a 2-byte length.
        if (p >= end) {
          bad = true;
          break;
        }
        len = buf[p++]!;
        if (len === 255) {
          if (p + 2 > end) {
            bad = true;
            break;
          }
          len = dv.getUint16(p);
          p += 2;
        }
      }
      if (p + len > end) {
        bad = true;
        break;
      }
      switch (ops[k]) {
        case OP_SKIP:
        case OP_DATALINK:
        case OP_IPHEADER:
          break;
        // One case per storage kind rather than one generic store: each
        // typed-array store below stays monomorphic on this hot path.
        case OP_U8:
          u8[args[k]!]![i] = readUint(buf, dv, p, len);
          break;
        case OP_U16:
          u16[args[k]!]![i] = readUint(buf, dv, p, len);
          break;
        case OP_U32:
          u32[args[k]!]![i] = readUint(buf, dv, p, len);
          break;
        case OP_F64:
          f64[args[k]!]![i] = readUint(buf, dv, p, len);
          break;
        case OP_IPV4: {
          const a = args[k]!;
          if (len === 4 && (addrSet & (1 << a)) === 0) {
            const v = dv.getUint32(p);
            if (v !== 0) {
              addrSet |= 1 << a;
              copyIpv4(ip[a]!, i * 16, buf, p);
              if (a === IP_SRC || a === IP_DST) ipVersion ||= 4;
            }
          }
          break;
        }
        case OP_IPV6: {
          const a = args[k]!;
          if (len === 16 && (addrSet & (1 << a)) === 0) {
            if ((dv.getUint32(p) | dv.getUint32(p + 4) | dv.getUint32(p + 8) | dv.getUint32(p + 12)) !== 0) {
              addrSet |= 1 << a;
              const col = ip[a]!;
              const o = i * 16;
              for (let z = 0; z < 16; z++) col[o + z] = buf[p + z]!;
              if (a === IP_SRC || a === IP_DST) ipVersion ||= 6;
            }
          }
          break;
        }
        case OP_MAC:
          if (len === 6) f64[args[k]!]![i] = readMac(buf, p);
          break;
        case OP_MPLS:
          // Label stack entry: label(20) | exp(3) | S(1) [| ttl(8)]; keep the label.
          if (len >= 3) u32[args[k]!]![i] = (buf[p]! << 12) | (buf[p + 1]! << 4) | (buf[p + 2]! >> 4);
          break;
        case OP_ICMP_TC: {
          const v = readUint(buf, dv, p, len);
          cols.icmp_type[i] = v >> 8;
          cols.icmp_code[i] = v & 0xff;
          break;
        }
        case OP_T_SYSUP:
          if (args[k] === 0) upStart = readUint(buf, dv, p, len);
          else upEnd = readUint(buf, dv, p, len);
          break;
        case OP_T_S:
          if (args[k] === 0) tStart = readUint(buf, dv, p, len) * 1000;
          else tEnd = readUint(buf, dv, p, len) * 1000;
          break;
        case OP_T_MS:
          if (args[k] === 0) tStart = readUint(buf, dv, p, len);
          else tEnd = readUint(buf, dv, p, len);
          break;
        case OP_T_NTP:
          if (len === 8) {
            const ms = ntpMs(dv, p);
            if (args[k] === 0) tStart = ms;
            else tEnd = ms;
          }
          break;
        case OP_T_DELTA_US:
          if (args[k] === 0) tStart = ctx.exportMs - Math.floor(readUint(buf, dv, p, len) / 1000);
          else tEnd = ctx.exportMs - Math.floor(readUint(buf, dv, p, len) / 1000);
          break;
        case OP_SYSINIT:
          sysInit = readUint(buf, dv, p, len);
          break;
        case OP_T_OBS_MS:
          obs = readUint(buf, dv, p, len);
          break;
        case OP_SAMPLER_ID:
          samplerId = readUint(buf, dv, p, len);
          hasSampler = true;
          break;
        case OP_SAMPLING:
          if (args[k] === 1) pktInterval = readUint(buf, dv, p, len);
          else rate ||= readUint(buf, dv, p, len);
          break;
        case OP_SAMPLING_SPACE:
          pktSpace = readUint(buf, dv, p, len);
          break;
        case OP_IP_VERSION:
          ipVersion = -readUint(buf, dv, p, len); // negative marks "explicit" (wins below)
          break;
        case OP_FW_EVENT:
          fw ||= readUint(buf, dv, p, len);
          break;
        case OP_BADLEN:
          break;
        case OP_FRAME_SIZE:
          frameSize = readUint(buf, dv, p, len);
          break;
      }
      p += len;
    }
    if (bad) {
      // A variable-length field ran past the set: abandon this row and the rest of the set.
      sink.batch.clearRow(i);
      stats.errors.truncated++;
      return rows;
    }
    off = p;

    // Times: absolute ms. sysUpTime-relative values need the exporter's boot
    // time: v9 from the header (unix_secs - sysUptime), IPFIX from
    // systemInitTimeMilliseconds (in the record, else learned from options).
    if (upStart >= 0 || upEnd >= 0) {
      let base = NaN;
      if (ctx.sysUptimeMs >= 0) base = ctx.exportMs - ctx.sysUptimeMs;
      else if (sysInit >= 0) base = sysInit;
      else if (scope && scope.sysInitMs) base = scope.sysInitMs;
      if (base === base) {
        const bootToExport = ctx.sysUptimeMs >= 0 ? ctx.sysUptimeMs : 0;
        if (upStart >= 0 && tStart !== tStart)
          tStart = ctx.sysUptimeMs >= 0 ? ctx.exportMs - wrapDiff(bootToExport, upStart) : base + upStart;
        if (upEnd >= 0 && tEnd !== tEnd)
          tEnd = ctx.sysUptimeMs >= 0 ? ctx.exportMs - wrapDiff(bootToExport, upEnd) : base + upEnd;
      }
    }
    if (tEnd !== tEnd) tEnd = obs === obs ? obs : tStart === tStart ? tStart : ctx.exportMs;
    if (tStart !== tStart) tStart = tEnd;
    cols.time_flow_start[i] = tStart;
    cols.time_flow_end[i] = tEnd;
    cols.time_received[i] = ctx.src.receivedMs;

    const ec = cols.exporter_address;
    const eo = i * 16;
    for (let z = 0; z < 16; z++) ec[eo + z] = exporterIp[z]!;
    cols.observation_domain_id[i] = ctx.domain;
    if (!t.hasFlows) cols.flows[i] = 1;
    if (!t.hasDirection) cols.direction[i] = 255;
    if (ipVersion < 0) cols.ip_version[i] = -ipVersion;
    else if (ipVersion > 0) cols.ip_version[i] = ipVersion;
    if (hasSampler) cols.sampler_id[i] = samplerId;
    if (!t.hasIcmp) icmpFromPort(cols, i);
    if (t.sectionField >= 0) {
      // PSAMP-style record (RFC 7133): one sampled packet. Without explicit
      // counters it counts 1 packet of dataLinkFrameSize (else IP total length) bytes.
      if (!t.hasPackets) cols.packets[i] = 1;
      if (!t.hasBytes) cols.bytes[i] = frameSize || ipLength;
    }

    // Sampling rate (precedence documented in sampling.ts).
    let r = ctx.rateOverride;
    if (!r) r = rate || (pktInterval ? packetIntervalRate(pktInterval, pktSpace) : 0);
    if (!r && scope) r = scopeRate(scope, samplerId, hasSampler);
    if (!r) r = ctx.rateDefault;
    if (!r) stats.unknownSamplingRecords++;
    cols.sampling_rate[i] = r;

    if (fw) {
      cols.fw_event[i] = fw;
      stats.fwEventRecords++;
    }
    stats.flowRecords++;
    rows++;
    sink.commit();
  }
  return rows;
}

const utf8 = new TextDecoder("utf-8", { fatal: false });

function hex(buf: Uint8Array, p: number, len: number): string {
  let s = "";
  for (let k = 0; k < len; k++) s += buf[p + k]!.toString(16).padStart(2, "0");
  return s;
}

/** Render one options field as a plain value by its abstract data type. */
function optionValue(type: string, buf: Uint8Array, dv: DataView, p: number, len: number): number | string {
  switch (type) {
    case "u":
    case "s":
    case "ms":
    case "bool":
      return len <= 8 ? readUint(buf, dv, p, len) : hex(buf, p, len);
    case "i":
      if (len === 1) return dv.getInt8(p);
      if (len === 2) return dv.getInt16(p);
      if (len === 4) return dv.getInt32(p);
      return hex(buf, p, len);
    case "f":
      if (len === 4) return dv.getFloat32(p);
      if (len === 8) return dv.getFloat64(p);
      return hex(buf, p, len);
    case "ipv4":
      return len === 4 ? `${buf[p]}.${buf[p + 1]}.${buf[p + 2]}.${buf[p + 3]}` : hex(buf, p, len);
    case "ipv6":
      return len === 16 ? formatIp(buf, p) || "::" : hex(buf, p, len);
    case "mac":
      return len === 6 ? formatMac(readMac(buf, p)) || "00:00:00:00:00:00" : hex(buf, p, len);
    case "string": {
      let e = p + len;
      while (e > p && buf[e - 1] === 0) e--; // NUL-padded fixed-length strings
      return utf8.decode(buf.subarray(p, e));
    }
    case "us":
    case "ns":
      return len === 8 ? ntpMs(dv, p) : hex(buf, p, len);
    default:
      return len <= 8 && len > 0 && len !== 3 && len <= 4 ? readUint(buf, dv, p, len) : hex(buf, p, len);
  }
}

/**
 * Decode options data records (rare: plain objects are fine here). Calls
 * `each` per record; returns the number decoded.
 */
export function decodeOptionsRecords(
  t: CompiledTemplate,
  buf: Uint8Array,
  dv: DataView,
  off: number,
  end: number,
  ctx: MsgContext,
  each: (rec: OptionsRecord) => void,
): number {
  let count = 0;
  while (end - off >= t.minLength) {
    const scope: Record<string, number | string> = {};
    const fields: Record<string, number | string> = {};
    let p = off;
    for (let k = 0; k < t.n; k++) {
      let len = t.lens[k]!;
      if (len === VAR) {
        if (p >= end) return truncated(ctx, count);
        len = buf[p++]!;
        if (len === 255) {
          if (p + 2 > end) return truncated(ctx, count);
          len = dv.getUint16(p);
          p += 2;
        }
      }
      if (p + len > end) return truncated(ctx, count);
      if (len > 0) {
        const name = t.names[k]!;
        const target = k < t.scopeCount ? scope : fields;
        if (!(name in target)) target[name] = optionValue(t.types[k]!, buf, dv, p, len);
      }
      p += len;
    }
    off = p;
    count++;
    ctx.stats.optionsRecords++;
    each({
      exporter: ctx.src.exporter,
      version: ctx.version,
      observationDomainId: ctx.domain,
      templateId: t.id,
      scope,
      fields,
    });
  }
  return count;
}

function truncated(ctx: MsgContext, count: number): number {
  ctx.stats.errors.truncated++;
  return count;
}
