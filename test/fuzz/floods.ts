// Packets for the template and pending floods: one exporter announcing
// thousands of distinct templates, or sending data for templates it never
// announced. Built by hand from the wire grammar (RFC 3954 §5, RFC 7011 §3).
import { ipfixHeader, templateRecord, v9Header, WireWriter, type TemplateFields } from "../../bench/wire.js";

/** A typical IPv4 flow template: (IE id, length) pairs, 45 bytes per record. */
export const FLOOD_FIELDS: TemplateFields = [
  [8, 4], // sourceIPv4Address
  [12, 4], // destinationIPv4Address
  [7, 2], // sourceTransportPort
  [11, 2], // destinationTransportPort
  [4, 1], // protocolIdentifier
  [1, 8], // octetDeltaCount
  [2, 8], // packetDeltaCount
  [10, 4], // ingressInterface
  [14, 4], // egressInterface
  [6, 1], // tcpControlBits
  [5, 1], // ipClassOfService
  [22, 4], // flowStartSysUpTime
  [21, 4], // flowEndSysUpTime
];

export interface FloodFormat {
  name: string;
  /** One export packet defining a template for each id. */
  templates(ids: readonly number[], domain: number, seq: number): Uint8Array;
  /** One export packet with a data set of `bytes` bytes for each id (templates never sent). */
  data(ids: readonly number[], domain: number, seq: number, bytes: number): Uint8Array;
}

const TEMPLATE_BYTES = 4 + 4 * FLOOD_FIELDS.length;

/**
 * The two floods of one protocol: they differ only in the message header
 * (`headerBytes` long, given the set count and the message length) and the
 * template set id (v9 FlowSet 0, IPFIX set 2).
 */
function floodFormat(
  name: string,
  headerBytes: number,
  templateSetId: number,
  header: (w: WireWriter, count: number, len: number, seq: number, domain: number) => void,
): FloodFormat {
  return {
    name,
    templates(ids, domain, seq) {
      const len = headerBytes + 4 + ids.length * TEMPLATE_BYTES;
      const w = new WireWriter(len);
      header(w, ids.length, len, seq, domain);
      w.u16(templateSetId);
      w.u16(4 + ids.length * TEMPLATE_BYTES);
      for (const id of ids) templateRecord(w, id, FLOOD_FIELDS);
      return w.b;
    },
    data(ids, domain, seq, bytes) {
      const len = headerBytes + ids.length * (4 + bytes);
      const w = new WireWriter(len);
      header(w, ids.length, len, seq, domain);
      for (const id of ids) {
        w.u16(id);
        w.u16(4 + bytes);
        for (let k = 0; k < bytes; k++) w.b[w.o++] = (k * 31 + id) & 0xff;
      }
      return w.b;
    },
  };
}

export const V9_FLOOD = floodFormat("NetFlow v9", 20, 0, (w, count, _len, seq, domain) =>
  v9Header(w, count, seq, domain),
);

export const IPFIX_FLOOD = floodFormat("IPFIX", 16, 2, (w, _count, len, seq, domain) =>
  ipfixHeader(w, len, seq, domain),
);

/** `count` template ids from 256 on, in packets of `perPacket`. */
export function idBatches(count: number, perPacket: number, first = 256): number[][] {
  const out: number[][] = [];
  for (let k = 0; k < count; k += perPacket) {
    const ids: number[] = [];
    for (let j = k; j < Math.min(count, k + perPacket); j++) ids.push(first + j);
    out.push(ids);
  }
  return out;
}
