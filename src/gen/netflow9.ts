// NetFlow v9 encoder (RFC 3954) for generated flows.
//
// Streaming: add(flow, out) appends the flow to the datagram being built and
// pushes every finished datagram to `out`; flush(out) finishes the current
// one. Each datagram starts with the template FlowSet when templates are due
// (the first datagram, then every `templateEveryPackets` datagrams or
// `templateEveryMs` of export time: UDP loses packets and collectors
// restart, RFC 3954 §9 wants them resent). Flows of one address family share
// a data FlowSet; a family change opens a new one.
//
// Times: FIRST/LAST_SWITCHED are sysUptime-relative (§8). The header's
// unixSecs is the last flow's end rounded UP to the second, and sysUptime is
// exactly unixSecs·1000 − bootMs, so a decoder computing
// unixSecs·1000 − (sysUptime − LAST_SWITCHED) gets the flow's millisecond
// back exactly, for flows weeks old too (sysUptime wraps after 49.7 days).
//
// Packet header (§5.1):
//   version(2)=9 count(2) sysUptime(4) unixSecs(4) sequence(4) sourceId(4)
// FlowSet (§5.2, §5.3): flowsetId(2) length(2) … padded to a multiple of 4;
//   template FlowSet id 0: {templateId(2) fieldCount(2) {type(2) length(2)}*}*
//   data FlowSet id = template id (≥ 256): records laid out as the template says.
import type { Flow } from "./model.js";

/** (field type, length) pairs; types are RFC 3954 §8 / IANA IPFIX numbers (the same below 128). */
export type FieldList = readonly (readonly [number, number])[];

export const TEMPLATE_V4 = 256;
export const TEMPLATE_V6 = 257;

/** The v9 templates (RFC 3954 §8 names); IPv4 alone carries the next hop. */
export function v9Fields(v6: boolean): FieldList {
  const a = v6 ? 16 : 4;
  return [
    [1, 8], // IN_BYTES
    [2, 4], // IN_PKTS
    [4, 1], // PROTOCOL
    [5, 1], // SRC_TOS
    [6, 1], // TCP_FLAGS
    [7, 2], // L4_SRC_PORT
    [v6 ? 27 : 8, a], // IPV6_SRC_ADDR / IPV4_SRC_ADDR
    [v6 ? 29 : 9, 1], // IPV6_SRC_MASK / SRC_MASK
    [10, 4], // INPUT_SNMP
    [11, 2], // L4_DST_PORT (ICMP: type << 8 | code)
    [v6 ? 28 : 12, a], // IPV6_DST_ADDR / IPV4_DST_ADDR
    [v6 ? 30 : 13, 1], // IPV6_DST_MASK / DST_MASK
    [14, 4], // OUTPUT_SNMP
    ...(v6 ? [] : [[15, 4] as const]), // IPV4_NEXT_HOP
    [16, 4], // SRC_AS
    [17, 4], // DST_AS
    [21, 4], // LAST_SWITCHED
    [22, 4], // FIRST_SWITCHED
    [34, 4], // SAMPLING_INTERVAL
    [61, 1], // DIRECTION (0 ingress)
  ];
}

export function recordLength(fields: FieldList): number {
  return fields.reduce((n, [, l]) => n + l, 0);
}

/**
 * Write one field of `f` at `off` (big-endian, network order). `bootMs` is
 * the sysUptime origin for the v9 relative times (21/22). Shared by the v9
 * and IPFIX encoders: their numbers agree for every field used here.
 */
export function writeField(
  buf: Buffer,
  off: number,
  type: number,
  len: number,
  f: Flow,
  bootMs: number,
): void {
  switch (type) {
    case 1:
    case 2: {
      const v = type === 1 ? f.bytes : f.packets;
      if (len === 8) {
        buf.writeUInt32BE(Math.floor(v / 4294967296), off);
        buf.writeUInt32BE(v >>> 0, off + 4);
      } else buf.writeUInt32BE(v >>> 0, off);
      return;
    }
    case 4:
      buf[off] = f.protocol;
      return;
    case 5:
      buf[off] = f.tos;
      return;
    case 6:
      if (len === 2) buf.writeUInt16BE(f.tcpFlags, off);
      else buf[off] = f.tcpFlags;
      return;
    case 7:
      buf.writeUInt16BE(f.srcPort, off);
      return;
    case 8:
    case 27:
      buf.set(len === 4 ? f.src.subarray(12) : f.src, off);
      return;
    case 12:
    case 28:
      buf.set(len === 4 ? f.dst.subarray(12) : f.dst, off);
      return;
    case 9:
    case 29:
      buf[off] = f.srcMask;
      return;
    case 13:
    case 30:
      buf[off] = f.dstMask;
      return;
    case 10:
    case 14: {
      const v = type === 10 ? f.inIf : f.outIf;
      if (len === 2) buf.writeUInt16BE(v, off);
      else buf.writeUInt32BE(v, off);
      return;
    }
    case 11:
      buf.writeUInt16BE(f.dstPort, off);
      return;
    case 15:
      buf.writeUInt32BE(f.nextHop >>> 0, off);
      return;
    case 16:
      buf.writeUInt32BE(f.srcAs >>> 0, off);
      return;
    case 17:
      buf.writeUInt32BE(f.dstAs >>> 0, off);
      return;
    case 21:
      buf.writeUInt32BE((f.endMs - bootMs) >>> 0, off);
      return;
    case 22:
      buf.writeUInt32BE((f.startMs - bootMs) >>> 0, off);
      return;
    case 34:
      buf.writeUInt32BE(f.samplingRate >>> 0, off);
      return;
    case 61:
      buf[off] = 0;
      return;
    case 152:
    case 153: {
      // dateTimeMilliseconds (RFC 7011 §6.1.10): unsigned 64-bit ms since the epoch.
      const v = type === 152 ? f.startMs : f.endMs;
      buf.writeUInt32BE(Math.floor(v / 4294967296), off);
      buf.writeUInt32BE(v >>> 0, off + 4);
      return;
    }
    default:
      throw new Error(`writeField: field type ${type} not generated`);
  }
}

export interface EncoderOptions {
  /** NetFlow v9 source id / IPFIX observation domain id. */
  domain: number;
  /** Router boot time (v9 sysUptime origin). Default: 1 day before the first flow's end. */
  bootMs?: number;
  /** Datagram size limit (below a 1500-byte MTU with IP/UDP headers). Default 1400. */
  maxPacket?: number;
  templateEveryPackets?: number;
  templateEveryMs?: number;
}

/**
 * What the v9 and IPFIX encoders share: datagram building with templates,
 * sets per address family, and a header written when the datagram is done.
 */
export abstract class TemplatedEncoder {
  readonly domain: number;
  bootMs: number;
  protected readonly maxPacket: number;
  private readonly everyPackets: number;
  private readonly everyMs: number;
  protected buf: Buffer;
  protected off = 0;
  /** Records (data + template) in the current datagram. */
  protected records = 0;
  protected dataRecords = 0;
  protected maxEndMs = 0;
  private setStart = -1;
  private setV6 = false;
  private sinceTemplate = Infinity;
  private lastTemplateMs = -Infinity;
  /** Datagrams and flows emitted. */
  packets = 0;
  flows = 0;

  protected abstract readonly headerLen: number;
  protected abstract readonly templateSetId: number;
  protected abstract readonly padSets: boolean;
  protected abstract fields(v6: boolean): FieldList;
  protected abstract recLen(v6: boolean): number;
  protected abstract writeHeader(exportSecs: number): void;

  constructor(opts: EncoderOptions) {
    this.domain = opts.domain;
    this.bootMs = opts.bootMs ?? NaN;
    this.maxPacket = opts.maxPacket ?? 1400;
    this.everyPackets = opts.templateEveryPackets ?? 20;
    this.everyMs = opts.templateEveryMs ?? 10_000;
    this.buf = Buffer.alloc(this.maxPacket);
  }

  /** Force templates into the next datagram (e.g. after a collector restart). */
  resendTemplates(): void {
    this.sinceTemplate = Infinity;
  }

  add(f: Flow, out: Uint8Array[]): void {
    if (Number.isNaN(this.bootMs)) this.bootMs = Math.floor(f.endMs / 1000) * 1000 - 86_400_000;
    const len = this.recLen(f.v6);
    if (this.off === 0) this.begin(f.endMs);
    const newSet = this.setStart < 0 || this.setV6 !== f.v6;
    if (this.off + (newSet ? 4 : 0) + len + 3 > this.maxPacket) {
      this.finish(out);
      this.begin(f.endMs);
    }
    if (this.setStart < 0 || this.setV6 !== f.v6) {
      this.closeSet();
      this.setStart = this.off;
      this.setV6 = f.v6;
      this.buf.writeUInt16BE(f.v6 ? TEMPLATE_V6 : TEMPLATE_V4, this.off);
      this.off += 4;
    }
    const fl = this.fields(f.v6);
    let o = this.off;
    for (let k = 0; k < fl.length; k++) {
      const fd = fl[k]!;
      writeField(this.buf, o, fd[0], fd[1], f, this.bootMs);
      o += fd[1];
    }
    this.off = o;
    this.records++;
    this.dataRecords++;
    this.flows++;
    if (f.endMs > this.maxEndMs) this.maxEndMs = f.endMs;
  }

  flush(out: Uint8Array[]): void {
    if (this.off > 0 && this.dataRecords > 0) this.finish(out);
  }

  /** Encode a list of flows into datagrams (add each, then flush). */
  encode(flows: readonly Flow[]): Buffer[] {
    const out: Buffer[] = [];
    for (const f of flows) this.add(f, out);
    this.flush(out);
    return out;
  }

  private begin(nowMs: number): void {
    this.off = this.headerLen;
    this.records = 0;
    this.dataRecords = 0;
    this.maxEndMs = 0;
    this.setStart = -1;
    if (this.sinceTemplate >= this.everyPackets || nowMs - this.lastTemplateMs >= this.everyMs) {
      this.writeTemplates();
      this.sinceTemplate = 0;
      this.lastTemplateMs = nowMs;
    }
  }

  private writeTemplates(): void {
    const b = this.buf;
    const start = this.off;
    b.writeUInt16BE(this.templateSetId, start);
    let o = start + 4;
    for (const v6 of [false, true]) {
      const fl = this.fields(v6);
      b.writeUInt16BE(v6 ? TEMPLATE_V6 : TEMPLATE_V4, o);
      b.writeUInt16BE(fl.length, o + 2);
      o += 4;
      for (const [t, l] of fl) {
        b.writeUInt16BE(t, o);
        b.writeUInt16BE(l, o + 2);
        o += 4;
      }
      this.records++;
    }
    b.writeUInt16BE(o - start, start + 2);
    this.off = o;
  }

  private closeSet(): void {
    if (this.setStart < 0) return;
    if (this.padSets) while ((this.off - this.setStart) % 4 !== 0) this.buf[this.off++] = 0;
    this.buf.writeUInt16BE(this.off - this.setStart, this.setStart + 2);
    this.setStart = -1;
  }

  private finish(out: Uint8Array[]): void {
    this.closeSet();
    this.writeHeader(Math.ceil(this.maxEndMs / 1000));
    out.push(Buffer.from(this.buf.subarray(0, this.off)));
    this.packets++;
    this.sinceTemplate++;
    this.off = 0;
  }
}

const V9_FIELDS = [v9Fields(false), v9Fields(true)] as const;
const V9_LENS = [recordLength(V9_FIELDS[0]), recordLength(V9_FIELDS[1])] as const;

/** NetFlow v9 export datagrams of one source id (one router line card). */
export class NetflowV9Encoder extends TemplatedEncoder {
  protected readonly headerLen = 20;
  protected readonly templateSetId = 0;
  protected readonly padSets = true;
  /** §5.1: the sequence counts export packets. */
  sequence = 0;

  protected fields(v6: boolean): FieldList {
    return V9_FIELDS[v6 ? 1 : 0];
  }
  protected recLen(v6: boolean): number {
    return V9_LENS[v6 ? 1 : 0];
  }
  protected writeHeader(exportSecs: number): void {
    const b = this.buf;
    b.writeUInt16BE(9, 0);
    b.writeUInt16BE(this.records, 2);
    b.writeUInt32BE((exportSecs * 1000 - this.bootMs) >>> 0, 4);
    b.writeUInt32BE(exportSecs >>> 0, 8);
    b.writeUInt32BE(this.sequence, 12);
    b.writeUInt32BE(this.domain >>> 0, 16);
    this.sequence = (this.sequence + 1) >>> 0;
  }
}
