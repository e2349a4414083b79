// BMP (RFC 7854) wire parsing: pure functions over one message, no I/O.
// The station (bmp-station.ts) frames the TCP stream and applies what these
// return to the router's RIB.
import { DecodeError } from "../../collector/errors.js";
import { formatIp } from "../../collector/ip.js";
import { Reader } from "../../collector/reader.js";
import { MSG_OPEN, MSG_UPDATE, parseOpen, readBgpMessage, type OpenInfo } from "./bgp.js";

export const BMP_VERSION = 3;
export const BMP_COMMON_HEADER_LEN = 6;
/** Largest message we accept: a Route Monitoring with an RFC 8654 extended UPDATE plus headers. */
export const BMP_MAX_LEN = 65535 + 6 + 42 + 64;

export const BMP_ROUTE_MONITORING = 0;
export const BMP_STATISTICS = 1;
export const BMP_PEER_DOWN = 2;
export const BMP_PEER_UP = 3;
export const BMP_INITIATION = 4;
export const BMP_TERMINATION = 5;
export const BMP_ROUTE_MIRRORING = 6;

/**
 * RFC 7854 §4.1 common header:
 *
 *   Version (1) | Message Length (4, whole message) | Message Type (1)
 *
 * Returns the message length at `off`, or 0 when fewer than 6 bytes are there
 * yet. A bad version or length throws: a BMP stream cannot be resynchronised,
 * so the station closes the connection.
 */
export function bmpMessageLength(buf: Uint8Array, off: number, end: number): number {
  if (end - off < BMP_COMMON_HEADER_LEN) return 0;
  const version = buf[off]!;
  if (version !== BMP_VERSION) throw new DecodeError("bad_version", `BMP version ${version}`);
  const len = ((buf[off + 1]! << 24) | (buf[off + 2]! << 16) | (buf[off + 3]! << 8) | buf[off + 4]!) >>> 0;
  if (len < BMP_COMMON_HEADER_LEN || len > BMP_MAX_LEN)
    throw new DecodeError("bad_length", `BMP message length ${len}`);
  return len;
}

/** The per-peer header's fields (RFC 7854 §4.2). */
export interface PeerHeader {
  /** 0 global, 1 RD instance, 2 local instance, 3 Loc-RIB (RFC 9069). */
  type: number;
  flags: number;
  /** Peer Distinguisher as hex (RD for type 1). */
  distinguisher: string;
  /** Peer address text ("" for Loc-RIB). */
  address: string;
  asn: number;
  bgpId: string;
  /** V flag: the peer address is IPv6 (types 0-2). */
  v6: boolean;
  /** L flag: post-policy Adj-RIB-In (types 0-2). */
  postPolicy: boolean;
  /** A flag: the peer's AS_PATH uses 2-byte ASes (types 0-2; RFC 7854 §4.2). */
  legacyAsPath: boolean;
  timestampSec: number;
}

/**
 * RFC 7854 §4.2 per-peer header (42 bytes):
 *
 *   Peer Type (1) | Peer Flags (1) | Peer Distinguisher (8) |
 *   Peer Address (16; IPv4 in the last 4 bytes) | Peer AS (4) |
 *   Peer BGP ID (4) | Timestamp seconds (4) | Timestamp microseconds (4)
 *
 * Flags: V 0x80 (IPv6), L 0x40 (post-policy), A 0x20 (2-byte AS_PATH). For
 * the Loc-RIB peer type (RFC 9069 §4.1) 0x80 is F (filtered) instead.
 */
export function readPeerHeader(r: Reader): PeerHeader {
  const type = r.u8("peer type");
  const flags = r.u8("peer flags");
  const rd = r.bytes(8, "peer distinguisher");
  const addrBytes = r.bytes(16, "peer address");
  const asn = r.u32("peer as");
  const id = r.bytes(4, "peer bgp id");
  const timestampSec = r.u32("timestamp");
  r.skip(4, "timestamp usec");
  const locRib = type === 3;
  const v6 = !locRib && (flags & 0x80) !== 0;
  let address: string;
  if (v6) address = formatIp(addrBytes, 0);
  else {
    const a = addrBytes;
    address = locRib && a.every((b) => b === 0) ? "" : `${a[12]}.${a[13]}.${a[14]}.${a[15]}`;
  }
  return {
    type,
    flags,
    distinguisher: [...rd].map((b) => b.toString(16).padStart(2, "0")).join(""),
    address,
    asn,
    bgpId: `${id[0]}.${id[1]}.${id[2]}.${id[3]}`,
    v6,
    postPolicy: !locRib && (flags & 0x40) !== 0,
    legacyAsPath: !locRib && (flags & 0x20) !== 0,
    timestampSec,
  };
}

/** Informational TLVs (RFC 7854 §4.4): Type (2) | Length (2) | Value. */
function readTlvs(r: Reader): Map<number, string> {
  const out = new Map<number, string>();
  while (r.remaining > 0) {
    const type = r.u16("tlv type");
    const len = r.u16("tlv length");
    const v = r.bytes(len, "tlv value");
    const prev = out.get(type);
    const text = new TextDecoder().decode(v);
    out.set(type, prev === undefined ? text : `${prev}\n${text}`);
  }
  return out;
}

export type BmpMessage =
  | { type: typeof BMP_INITIATION; sysName: string; sysDescr: string; info: string }
  | { type: typeof BMP_TERMINATION; reason: number; info: string }
  | {
      type: typeof BMP_PEER_UP;
      peer: PeerHeader;
      localAddress: string;
      sentOpen: OpenInfo;
      receivedOpen: OpenInfo;
    }
  | { type: typeof BMP_PEER_DOWN; peer: PeerHeader; reason: number }
  | { type: typeof BMP_ROUTE_MONITORING; peer: PeerHeader; update: Uint8Array }
  | { type: typeof BMP_STATISTICS; peer: PeerHeader; counters: Map<number, number> }
  | { type: typeof BMP_ROUTE_MIRRORING | number; peer: PeerHeader | null };

/**
 * One whole BMP message (common header included). Route Monitoring returns
 * the UPDATE body unparsed: how to parse it depends on the peer's session
 * (4-byte AS, ADD-PATH), which the station knows from Peer Up.
 */
export function parseBmpMessage(msg: Uint8Array): BmpMessage {
  const r = new Reader(msg);
  const len = bmpMessageLength(msg, 0, msg.length);
  if (len !== msg.length) throw new DecodeError("bad_length", `BMP length ${len} for ${msg.length} bytes`);
  r.skip(5);
  const type = r.u8("bmp type");
  switch (type) {
    case BMP_INITIATION: {
      // §4.3: Information TLVs; type 0 string, 1 sysDescr, 2 sysName.
      const t = readTlvs(r);
      return { type, sysName: t.get(2) ?? "", sysDescr: t.get(1) ?? "", info: t.get(0) ?? "" };
    }
    case BMP_TERMINATION: {
      // §4.5: TLVs; type 0 string, 1 reason (2 bytes).
      let reason = -1;
      let info = "";
      while (r.remaining > 0) {
        const t = r.u16("tlv type");
        const v = r.sub(r.u16("tlv length"), "tlv value");
        if (t === 1 && v.remaining >= 2) reason = v.u16();
        else if (t === 0) info = new TextDecoder().decode(v.bytes(v.remaining));
      }
      return { type, reason, info };
    }
    case BMP_PEER_UP: {
      // §4.10: per-peer header | Local Address (16) | Local Port (2) |
      //        Remote Port (2) | Sent OPEN Message | Received OPEN Message |
      //        Information (TLVs, optional)
      const peer = readPeerHeader(r);
      const la = r.bytes(16, "local address");
      const localAddress = peer.v6 ? formatIp(la, 0) : `${la[12]}.${la[13]}.${la[14]}.${la[15]}`;
      r.skip(4, "ports");
      const sent = readBgpMessage(r);
      const received = readBgpMessage(r);
      if (sent.type !== MSG_OPEN || received.type !== MSG_OPEN)
        throw new DecodeError("other", "Peer Up without two OPEN messages");
      return {
        type,
        peer,
        localAddress,
        sentOpen: parseOpen(sent.body),
        receivedOpen: parseOpen(received.body),
      };
    }
    case BMP_PEER_DOWN: {
      // §4.9: per-peer header | Reason (1) | Data (NOTIFICATION or FSM code)
      const peer = readPeerHeader(r);
      return { type, peer, reason: r.u8("peer down reason") };
    }
    case BMP_ROUTE_MONITORING: {
      // §4.6: per-peer header | BGP UPDATE PDU (with its 19-byte header)
      const peer = readPeerHeader(r);
      const m = readBgpMessage(r);
      if (m.type !== MSG_UPDATE)
        throw new DecodeError("other", `Route Monitoring carries BGP type ${m.type}`);
      return { type, peer, update: m.body };
    }
    case BMP_STATISTICS: {
      // §4.8: per-peer header | Stats Count (4) | (Type (2) | Length (2) | Data)*
      const peer = readPeerHeader(r);
      const n = r.u32("stats count");
      const counters = new Map<number, number>();
      for (let k = 0; k < n && r.remaining > 0; k++) {
        const t = r.u16("stat type");
        const v = r.sub(r.u16("stat length"), "stat value");
        if (v.remaining === 4) counters.set(t, v.u32());
        else if (v.remaining === 8) counters.set(t, v.u64());
      }
      return { type, peer, counters };
    }
    case BMP_ROUTE_MIRRORING:
      return { type, peer: readPeerHeader(r) };
    default:
      throw new DecodeError("other", `unknown BMP message type ${type}`);
  }
}
