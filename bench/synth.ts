// Large synthetic export packets for the decode benchmark, built from the
// wire grammar: NetFlow v5 with 30 records (Cisco v5 format, 24 + 30×48 =
// 1464 bytes), and NetFlow v9 / IPFIX packets of about 1400 bytes with a
// typical 20-field IPv4 template (RFC 3954 §5, RFC 7011 §3). Field values
// vary per record so nothing is trivially repeated.
import { ipfixHeader, templateRecord, v9Header, WireWriter, type TemplateFields } from "./wire.js";

/** 20 IPv4 fields (IE id, length), NetFlow v9 flavour: 32-bit counters and sysUpTime times. */
export const V9_FIELDS: TemplateFields = [
  [8, 4],
  [12, 4],
  [15, 4],
  [10, 4],
  [14, 4],
  [2, 4],
  [1, 4],
  [22, 4],
  [21, 4],
  [7, 2],
  [11, 2],
  [6, 1],
  [4, 1],
  [5, 1],
  [16, 4],
  [17, 4],
  [9, 1],
  [13, 1],
  [61, 1],
  [89, 1],
];
/**
 * The same flow in IPFIX flavour: 64-bit counters (octet/packetDeltaCount)
 * and absolute millisecond times (flowStart/EndMilliseconds for the v9
 * sysUpTime pair), in the same field order.
 */
const IPFIX_FLAVOUR: Readonly<Record<number, readonly [number, number]>> = {
  2: [2, 8],
  1: [1, 8],
  22: [152, 8],
  21: [153, 8],
};
export const IPFIX_FIELDS: TemplateFields = V9_FIELDS.map(([id, l]) => IPFIX_FLAVOUR[id] ?? [id, l]);

const recLen = (f: TemplateFields): number => f.reduce((a, [, l]) => a + l, 0);

function value(id: number, r: number, p: number): number {
  switch (id) {
    case 8:
      return (10 << 24) | ((p & 0xff) << 16) | r;
    case 12:
      return (192 << 24) | (168 << 16) | ((r * 7) & 0xffff);
    case 15:
      return (10 << 24) | 1;
    case 7:
      return 1024 + ((r * 131 + p) & 0x7fff);
    case 11:
      return [443, 80, 53, 22, 8080][r % 5]!;
    case 4:
      return r % 3 === 0 ? 17 : 6;
    case 1:
      return 1500 * (r + 1);
    case 2:
      return r + 1;
    case 21:
    case 22:
      return 1_000_000 + r * 10;
    case 152:
    case 153:
      return 1_700_000_000_000 + r * 10;
    case 16:
    case 17:
      return 64512 + (r % 100);
    case 9:
    case 13:
      return 24;
    default:
      return r & 0xff;
  }
}

export function v5Packet(records = 30, p = 0): Uint8Array {
  const w = new WireWriter(24 + 48 * records);
  w.u16(5);
  w.u16(records);
  w.u32(1_000_000); // sysUpTime
  w.u32(1_700_000_000);
  w.u32(0);
  w.u32(p * records); // flow_sequence
  w.u8(0);
  w.u8(0);
  w.u16(0); // sampling
  for (let r = 0; r < records; r++) {
    w.u32(value(8, r, p));
    w.u32(value(12, r, p));
    w.u32(value(15, r, p));
    w.u16(r % 8); // input
    w.u16(8 + (r % 8)); // output
    w.u32(value(2, r, p));
    w.u32(value(1, r, p));
    w.u32(value(22, r, p)); // first
    w.u32(value(21, r, p) + 500); // last
    w.u16(value(7, r, p));
    w.u16(value(11, r, p));
    w.u8(0);
    w.u8(0x18); // tcp flags
    w.u8(value(4, r, p));
    w.u8(0); // tos
    w.u16(value(16, r, p));
    w.u16(value(17, r, p));
    w.u8(24);
    w.u8(24);
    w.u16(0);
  }
  return w.b;
}

export interface TemplatedPackets {
  template: Uint8Array;
  data: Uint8Array[];
  recordsPerPacket: number;
  bytes: number;
}

/** NetFlow v9: one template packet, `n` data packets of ≤ 1400 bytes each. */
export function v9Packets(n = 16, maxBytes = 1400): TemplatedPackets {
  const rl = recLen(V9_FIELDS);
  const per = Math.floor((maxBytes - 20 - 4) / rl);
  const tw = new WireWriter(20 + 4 + 4 + 4 * V9_FIELDS.length);
  v9Header(tw, 1, 0, 1);
  tw.u16(0);
  tw.u16(4 + 4 + 4 * V9_FIELDS.length);
  templateRecord(tw, 256, V9_FIELDS);
  const data: Uint8Array[] = [];
  for (let p = 0; p < n; p++) {
    const w = new WireWriter(20 + 4 + per * rl);
    v9Header(w, per, p + 1, 1);
    w.u16(256);
    w.u16(4 + per * rl);
    for (let r = 0; r < per; r++) for (const [id, l] of V9_FIELDS) w.put(l, value(id, r, p));
    data.push(w.b);
  }
  return { template: tw.b, data, recordsPerPacket: per, bytes: data[0]!.length };
}

/** IPFIX: one template message, `n` data messages of ≤ 1400 bytes each. */
export function ipfixPackets(n = 16, maxBytes = 1400): TemplatedPackets {
  const rl = recLen(IPFIX_FIELDS);
  const per = Math.floor((maxBytes - 16 - 4) / rl);
  const tlen = 16 + 4 + 4 + 4 * IPFIX_FIELDS.length;
  const tw = new WireWriter(tlen);
  ipfixHeader(tw, tlen, 0, 1);
  tw.u16(2);
  tw.u16(tlen - 16);
  templateRecord(tw, 256, IPFIX_FIELDS);
  const data: Uint8Array[] = [];
  let seq = 0;
  for (let p = 0; p < n; p++) {
    const len = 16 + 4 + per * rl;
    const w = new WireWriter(len);
    ipfixHeader(w, len, seq, 1);
    seq += per;
    w.u16(256);
    w.u16(4 + per * rl);
    for (let r = 0; r < per; r++) for (const [id, l] of IPFIX_FIELDS) w.put(l, value(id, r, p));
    data.push(w.b);
  }
  return { template: tw.b, data, recordsPerPacket: per, bytes: data[0]!.length };
}
