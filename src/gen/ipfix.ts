// IPFIX encoder (RFC 7011) for generated flows.
//
// Same streaming shape as the NetFlow v9 encoder (netflow9.ts: add/flush,
// templates in the first message and then periodically, RFC 7011 §8.4 for
// UDP), but flow times are absolute: flowStartMilliseconds and
// flowEndMilliseconds (IE 152/153, dateTimeMilliseconds), so flows from 30
// days ago encode exactly, whatever the export time.
//
// Message header (§3.1):
//   version(2)=10 length(2) exportTime(4) sequenceNumber(4) observationDomainId(4)
//   sequenceNumber: data records sent in this domain before this message.
// Set (§3.3.2): setId(2) length(2); set 2 = templates, ≥ 256 = data.
// Template record (§3.4.1): templateId(2) fieldCount(2) {ieId(2) fieldLength(2)}*
//   (no enterprise bit: every IE here is IANA's).
import { type FieldList, recordLength, TemplatedEncoder } from "./netflow9.js";

/** The IPFIX templates (IANA IE names); IPv4 alone carries the next hop. */
export function ipfixFields(v6: boolean): FieldList {
  const a = v6 ? 16 : 4;
  return [
    [1, 8], // octetDeltaCount
    [2, 8], // packetDeltaCount
    [4, 1], // protocolIdentifier
    [5, 1], // ipClassOfService
    [6, 2], // tcpControlBits (RFC 7125: 16 bits)
    [7, 2], // sourceTransportPort
    [v6 ? 27 : 8, a], // sourceIPv6Address / sourceIPv4Address
    [v6 ? 29 : 9, 1], // sourceIPv6PrefixLength / sourceIPv4PrefixLength
    [10, 4], // ingressInterface
    [11, 2], // destinationTransportPort (ICMP: type << 8 | code)
    [v6 ? 28 : 12, a], // destinationIPv6Address / destinationIPv4Address
    [v6 ? 30 : 13, 1], // destinationIPv6PrefixLength / destinationIPv4PrefixLength
    [14, 4], // egressInterface
    ...(v6 ? [] : [[15, 4] as const]), // ipNextHopIPv4Address
    [16, 4], // bgpSourceAsNumber
    [17, 4], // bgpDestinationAsNumber
    [152, 8], // flowStartMilliseconds
    [153, 8], // flowEndMilliseconds
    [34, 4], // samplingInterval
    [61, 1], // flowDirection (0 ingress)
  ];
}

const FIELDS = [ipfixFields(false), ipfixFields(true)] as const;
const LENS = [recordLength(FIELDS[0]), recordLength(FIELDS[1])] as const;

/** IPFIX messages (one per datagram) of one observation domain. */
export class IpfixEncoder extends TemplatedEncoder {
  protected readonly headerLen = 16;
  protected readonly templateSetId = 2;
  protected readonly padSets = false;
  /** §3.1: data records sent before the current message (mod 2^32). */
  sequence = 0;

  protected fields(v6: boolean): FieldList {
    return FIELDS[v6 ? 1 : 0];
  }
  protected recLen(v6: boolean): number {
    return LENS[v6 ? 1 : 0];
  }
  protected writeHeader(exportSecs: number): void {
    const b = this.buf;
    b.writeUInt16BE(10, 0);
    b.writeUInt16BE(this.off, 2);
    b.writeUInt32BE(exportSecs >>> 0, 4);
    b.writeUInt32BE(this.sequence, 8);
    b.writeUInt32BE(this.domain >>> 0, 12);
    this.sequence = (this.sequence + this.dataRecords) >>> 0;
  }
}
