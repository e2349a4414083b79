// BGP-4 wire parsing and the few messages a passive speaker sends.
//
// Pure functions over bytes, no I/O: the BMP station (bmp.ts) feeds them the
// BGP PDUs carried in Route Monitoring and Peer Up messages, the BGP listener
// (bgp-listener.ts) the messages of its sessions. Every read goes through the
// bounds-checked Reader, so a lying length throws DecodeError("truncated")
// instead of reading foreign bytes; callers count those per router/peer.
import { DecodeError } from "../../collector/errors.js";
import { Reader } from "../../collector/reader.js";

export const BGP_HEADER_LEN = 19;
export const BGP_MAX_LEN = 4096;
/** RFC 8654 raises the limit to 65535 for UPDATEs once both sides say so; BMP may carry them. */
export const BGP_EXT_MAX_LEN = 65535;

export const MSG_OPEN = 1;
export const MSG_UPDATE = 2;
export const MSG_NOTIFICATION = 3;
export const MSG_KEEPALIVE = 4;
export const MSG_ROUTE_REFRESH = 5;

export const AFI_IPV4 = 1;
export const AFI_IPV6 = 2;
export const SAFI_UNICAST = 1;

/** RFC 6793 §9: the 2-byte placeholder for a 4-byte AS. */
export const AS_TRANS = 23456;

// Path attribute type codes (RFC 4271 §5, RFC 4760, RFC 1997, RFC 6793, RFC 8092).
const ATTR_ORIGIN = 1;
const ATTR_AS_PATH = 2;
const ATTR_NEXT_HOP = 3;
const ATTR_MED = 4;
const ATTR_LOCAL_PREF = 5;
const ATTR_COMMUNITIES = 8;
const ATTR_MP_REACH = 14;
const ATTR_MP_UNREACH = 15;
const ATTR_AS4_PATH = 17;
const ATTR_LARGE_COMMUNITY = 32;

// AS_PATH segment types (RFC 4271 §4.3, RFC 5065 §3 for the confederation ones).
const SEG_AS_SET = 1;
const SEG_AS_SEQUENCE = 2;
const SEG_CONFED_SEQUENCE = 3;
const SEG_CONFED_SET = 4;

/** A BGP message as framed on the wire (RFC 4271 §4.1). */
export interface BgpMessage {
  type: number;
  /** The message body after the 19-byte header (a view, no copy). */
  body: Uint8Array;
}

/**
 * RFC 4271 §4.1 message header:
 *
 *   Marker (16 octets, all ones) | Length (2) | Type (1)
 *
 * Returns the total length of the message at `off`, or 0 when fewer than 19
 * bytes are there yet (stream framing). Throws for a bad marker or length.
 */
export function bgpMessageLength(
  buf: Uint8Array,
  off: number,
  end: number,
  maxLen = BGP_EXT_MAX_LEN,
): number {
  if (end - off < BGP_HEADER_LEN) return 0;
  for (let k = 0; k < 16; k++)
    if (buf[off + k] !== 0xff) throw new BgpError(1, 1, "connection not synchronized (bad marker)");
  const len = (buf[off + 16]! << 8) | buf[off + 17]!;
  if (len < BGP_HEADER_LEN || len > maxLen) throw new BgpError(1, 2, `bad message length ${len}`);
  return len;
}

/** Parse one whole BGP message (header included) at `r`'s position. */
export function readBgpMessage(r: Reader, maxLen = BGP_EXT_MAX_LEN): BgpMessage {
  r.need(BGP_HEADER_LEN, "bgp header");
  const len = bgpMessageLength(r.buf, r.pos, r.end, maxLen);
  r.need(len, "bgp message");
  const type = r.buf[r.pos + 18]!;
  const body = r.buf.subarray(r.pos + BGP_HEADER_LEN, r.pos + len);
  r.pos += len;
  return { type, body };
}

/** An error that maps to a NOTIFICATION (RFC 4271 §4.5 / §6): code, subcode. */
export class BgpError extends DecodeError {
  readonly code: number;
  readonly subcode: number;
  constructor(code: number, subcode: number, message: string) {
    super("other", message);
    this.code = code;
    this.subcode = subcode;
  }
}

// ---------------------------------------------------------------- OPEN

/** What an OPEN says (RFC 4271 §4.2 with the capabilities of RFC 5492). */
export interface OpenInfo {
  version: number;
  /** The speaker's AS: the 4-byte capability's value when present, else the 2-byte field. */
  asn: number;
  holdTime: number;
  bgpId: string;
  /** Capability "4-octet AS number" (RFC 6793 §3). */
  as4: boolean;
  /** Multiprotocol capabilities (RFC 4760 §8) as "afi/safi". */
  multiprotocol: string[];
  routeRefresh: boolean;
  /** ADD-PATH (RFC 7911 §4): "afi/safi" → 1 receive, 2 send, 3 both. */
  addPath: Map<string, number>;
  /** RFC 8654: extended messages. */
  extendedMessage: boolean;
}

/**
 * RFC 4271 §4.2 OPEN body:
 *
 *   Version (1) | My AS (2) | Hold Time (2) | BGP Identifier (4) |
 *   Opt Parm Len (1) | Optional Parameters (Type 1, Length 1, Value)*
 *
 * RFC 9072 extended form: Opt Parm Len 255, then Type 255, a 2-byte length,
 * and parameters with 2-byte lengths. Parameter type 2 holds capabilities
 * (RFC 5492 §4): Code (1) | Length (1) | Value.
 */
export function parseOpen(body: Uint8Array): OpenInfo {
  const r = new Reader(body);
  const version = r.u8("open version");
  const myAs = r.u16("open my as");
  const holdTime = r.u16("open hold time");
  const id = r.bytes(4, "open bgp id");
  let optLen = r.u8("open opt len");
  let extended = false;
  if (optLen === 255 && r.remaining >= 3 && r.buf[r.pos] === 255) {
    r.skip(1);
    optLen = r.u16("open ext opt len");
    extended = true;
  }
  const info: OpenInfo = {
    version,
    asn: myAs,
    holdTime,
    bgpId: `${id[0]}.${id[1]}.${id[2]}.${id[3]}`,
    as4: false,
    multiprotocol: [],
    routeRefresh: false,
    addPath: new Map(),
    extendedMessage: false,
  };
  const params = r.sub(optLen, "open optional parameters");
  while (params.remaining > 0) {
    const type = params.u8("param type");
    const len = extended ? params.u16("param len") : params.u8("param len");
    const p = params.sub(len, "param value");
    if (type !== 2) continue; // only capabilities (type 1, authentication, is deprecated)
    while (p.remaining > 0) {
      const code = p.u8("capability code");
      const clen = p.u8("capability length");
      const c = p.sub(clen, "capability value");
      switch (code) {
        case 1: {
          const afi = c.u16("mp afi");
          c.skip(1);
          const safi = c.u8("mp safi");
          info.multiprotocol.push(`${afi}/${safi}`);
          break;
        }
        case 2:
        case 128: // pre-standard Cisco route refresh
          info.routeRefresh = true;
          break;
        case 6:
          info.extendedMessage = true;
          break;
        case 65:
          info.as4 = true;
          info.asn = c.u32("as4 capability");
          break;
        case 69:
          while (c.remaining >= 4) {
            const afi = c.u16("addpath afi");
            const safi = c.u8("addpath safi");
            info.addPath.set(`${afi}/${safi}`, c.u8("addpath send/receive"));
          }
          break;
        default:
          break; // unknown capabilities are ignored (RFC 5492 §3)
      }
    }
  }
  return info;
}

/**
 * The ADD-PATH families in one direction (RFC 7911 §4): NLRI sent by the
 * speaker that sent `senderOpen` to the one that sent `receiverOpen` carry
 * path ids for a family when the sender says "send" (2|3) and the receiver
 * "receive" (1|3).
 */
export function addPathFamilies(senderOpen: OpenInfo, receiverOpen: OpenInfo): Set<string> {
  const out = new Set<string>();
  for (const [fam, v] of senderOpen.addPath) {
    const w = receiverOpen.addPath.get(fam) ?? 0;
    if (v & 2 && w & 1) out.add(fam);
  }
  return out;
}

/** What our passive speaker offers (RFC 4271 §4.2 OPEN with RFC 5492 capabilities). */
export function encodeOpen(o: { asn: number; holdTime: number; bgpId: string }): Uint8Array {
  const caps: number[] = [];
  const cap = (code: number, value: number[]): void => {
    caps.push(code, value.length, ...value);
  };
  cap(1, [0, AFI_IPV4, 0, SAFI_UNICAST]);
  cap(1, [0, AFI_IPV6, 0, SAFI_UNICAST]);
  cap(2, []);
  cap(65, [(o.asn >>> 24) & 0xff, (o.asn >>> 16) & 0xff, (o.asn >>> 8) & 0xff, o.asn & 0xff]);
  const params = [2, caps.length, ...caps];
  const my2 = o.asn > 0xffff ? AS_TRANS : o.asn;
  const id = o.bgpId.split(".").map(Number);
  const body = [4, my2 >> 8, my2 & 0xff, o.holdTime >> 8, o.holdTime & 0xff, ...id, params.length, ...params];
  return frame(MSG_OPEN, body);
}

export function encodeKeepalive(): Uint8Array {
  return frame(MSG_KEEPALIVE, []);
}

/** RFC 4271 §4.5 NOTIFICATION: Error code (1) | Error subcode (1) | Data. */
export function encodeNotification(code: number, subcode: number, data: number[] = []): Uint8Array {
  return frame(MSG_NOTIFICATION, [code, subcode, ...data]);
}

/** RFC 4271 §4.5: the NOTIFICATION body → "code/subcode". */
export function parseNotification(body: Uint8Array): { code: number; subcode: number } {
  const r = new Reader(body);
  return { code: r.u8("notification code"), subcode: r.u8("notification subcode") };
}

function frame(type: number, body: number[]): Uint8Array {
  const len = BGP_HEADER_LEN + body.length;
  const out = new Uint8Array(len);
  out.fill(0xff, 0, 16);
  out[16] = len >> 8;
  out[17] = len & 0xff;
  out[18] = type;
  out.set(body, BGP_HEADER_LEN);
  return out;
}

// ---------------------------------------------------------------- UPDATE

/** The attributes of a route that enrichment uses, decoded. */
export interface PathAttrs {
  /** AS path text: sequences space-separated, AS_SET in braces, confederation segments in parentheses. */
  asPath: string;
  /** Number of ASes (an AS_SET counts 1, confederation segments 0: RFC 4271 §9.1.2.2, RFC 5065 §5.3). */
  asPathLen: number;
  /** Last AS of the path (0: empty path, a local route). */
  originAs: number;
  communities: string;
  largeCommunities: string;
  /** 16-byte form (IPv4-mapped); all zero when absent. */
  nextHop: Uint8Array;
  localPref: number;
  med: number;
}

/** One prefix of an UPDATE: the 16-byte address (IPv4-mapped for IPv4) and its length in its family. */
export interface Prefix {
  v6: boolean;
  addr: Uint8Array;
  len: number;
  pathId: number;
}

export interface ParsedUpdate {
  withdrawn: Prefix[];
  announced: Prefix[];
  /** null when nothing is announced (a pure withdrawal or End-of-RIB). */
  attrs: PathAttrs | null;
  /** Families seen with a SAFI other than unicast (ignored, counted by the caller). */
  ignoredFamilies: number;
  /** An UPDATE with no NLRI, no withdrawals (RFC 4724 §2 End-of-RIB for IPv4, or an empty MP_UNREACH). */
  endOfRib: boolean;
}

/** Session facts an UPDATE's grammar depends on. */
export interface UpdateContext {
  /** AS numbers in AS_PATH are 4 bytes (both sides sent the RFC 6793 capability; BMP: peer flag A clear). */
  as4: boolean;
  /** Families ("afi/safi") whose NLRI carry an ADD-PATH path id (RFC 7911 §3). */
  addPath: ReadonlySet<string>;
}

/**
 * RFC 4271 §4.3 UPDATE body:
 *
 *   Withdrawn Routes Length (2) | Withdrawn Routes (prefix)* |
 *   Total Path Attribute Length (2) | Path Attributes |
 *   Network Layer Reachability Information (prefix)*
 *
 * Path attribute: Flags (1) | Type (1) | Length (1, or 2 with the Extended
 * Length flag 0x10) | Value. IPv6 (and any multiprotocol) reachability is in
 * MP_REACH_NLRI / MP_UNREACH_NLRI (RFC 4760 §3, §4).
 */
export function parseUpdate(body: Uint8Array, ctx: UpdateContext): ParsedUpdate {
  const r = new Reader(body);
  const out: ParsedUpdate = {
    withdrawn: [],
    announced: [],
    attrs: null,
    ignoredFamilies: 0,
    endOfRib: false,
  };
  const v4AddPath = ctx.addPath.has("1/1");
  const wlen = r.u16("withdrawn length");
  readPrefixes(r.sub(wlen, "withdrawn routes"), false, v4AddPath, out.withdrawn);
  const alen = r.u16("path attribute length");
  const ar = r.sub(alen, "path attributes");
  const attrs: PathAttrs = {
    asPath: "",
    asPathLen: 0,
    originAs: 0,
    communities: "",
    largeCommunities: "",
    nextHop: new Uint8Array(16),
    localPref: 100, // RFC 4271 §5.1.5: the usual default when a peer does not send it (eBGP)
    med: 0,
  };
  let asPathSegs: Seg[] | null = null;
  let as4PathSegs: Seg[] | null = null;
  let mpAnnounced = false;
  while (ar.remaining > 0) {
    const flags = ar.u8("attr flags");
    const type = ar.u8("attr type");
    const len = flags & 0x10 ? ar.u16("attr ext length") : ar.u8("attr length");
    const v = ar.sub(len, "attr value");
    switch (type) {
      case ATTR_ORIGIN:
      case ATTR_MED:
        if (type === ATTR_MED) attrs.med = v.u32("med");
        break;
      case ATTR_AS_PATH:
        asPathSegs = readAsPath(v, ctx.as4);
        break;
      case ATTR_AS4_PATH:
        as4PathSegs = readAsPath(v, true);
        break;
      case ATTR_NEXT_HOP: {
        if (len !== 4) throw new BgpError(3, 8, `NEXT_HOP length ${len}`);
        const b = v.bytes(4);
        attrs.nextHop.fill(0);
        attrs.nextHop[10] = 0xff;
        attrs.nextHop[11] = 0xff;
        attrs.nextHop.set(b, 12);
        break;
      }
      case ATTR_LOCAL_PREF:
        attrs.localPref = v.u32("local pref");
        break;
      case ATTR_COMMUNITIES: {
        // RFC 1997: a list of 4-byte values shown high:low.
        const parts: string[] = [];
        while (v.remaining >= 4) parts.push(`${v.u16()}:${v.u16()}`);
        attrs.communities = parts.join(" ");
        break;
      }
      case ATTR_LARGE_COMMUNITY: {
        // RFC 8092 §3: Global Administrator (4) | Local Data Part 1 (4) | Part 2 (4).
        const parts: string[] = [];
        while (v.remaining >= 12) parts.push(`${v.u32()}:${v.u32()}:${v.u32()}`);
        attrs.largeCommunities = parts.join(" ");
        break;
      }
      case ATTR_MP_REACH: {
        // RFC 4760 §3: AFI (2) | SAFI (1) | Next Hop Length (1) | Next Hop |
        //              Reserved (1) | NLRI
        const afi = v.u16("mp_reach afi");
        const safi = v.u8("mp_reach safi");
        const nhLen = v.u8("mp_reach next hop length");
        const nh = v.bytes(nhLen, "mp_reach next hop");
        if (safi !== SAFI_UNICAST || (afi !== AFI_IPV4 && afi !== AFI_IPV6)) {
          out.ignoredFamilies++;
          break;
        }
        // 4: IPv4; 16: IPv6 global; 32: global + link-local (RFC 2545 §3), the
        // global one first; RFC 8950 lets IPv4 NLRI have an IPv6 next hop.
        if (nhLen === 4) {
          attrs.nextHop.fill(0);
          attrs.nextHop[10] = 0xff;
          attrs.nextHop[11] = 0xff;
          attrs.nextHop.set(nh, 12);
        } else if (nhLen === 16 || nhLen === 32) {
          attrs.nextHop.set(nh.subarray(0, 16));
        }
        v.skip(1, "mp_reach reserved");
        readPrefixes(v, afi === AFI_IPV6, ctx.addPath.has(`${afi}/${safi}`), out.announced);
        mpAnnounced = true;
        break;
      }
      case ATTR_MP_UNREACH: {
        // RFC 4760 §4: AFI (2) | SAFI (1) | Withdrawn Routes
        const afi = v.u16("mp_unreach afi");
        const safi = v.u8("mp_unreach safi");
        if (safi !== SAFI_UNICAST || (afi !== AFI_IPV4 && afi !== AFI_IPV6)) {
          out.ignoredFamilies++;
          break;
        }
        if (v.remaining === 0) out.endOfRib = true; // RFC 4724 §2 for a non-IPv4 family
        readPrefixes(v, afi === AFI_IPV6, ctx.addPath.has(`${afi}/${safi}`), out.withdrawn);
        break;
      }
      default:
        break;
    }
  }
  readPrefixes(r, false, v4AddPath, out.announced);
  if (asPathSegs) {
    // RFC 6793 §4.2.3: a 2-byte session carries the real path in AS4_PATH;
    // the leading ASes of AS_PATH that AS4_PATH does not cover are kept.
    let segs = asPathSegs;
    if (!ctx.as4 && as4PathSegs) {
      const n = countAs(asPathSegs);
      const m = countAs(as4PathSegs);
      if (m <= n) segs = [...takeAs(asPathSegs, n - m), ...as4PathSegs];
    }
    describePath(segs, attrs);
  }
  if (out.announced.length > 0 || mpAnnounced) out.attrs = attrs;
  if (alen === 0 && wlen === 0) out.endOfRib = true;
  return out;
}

interface Seg {
  type: number;
  asns: number[];
}

/** RFC 4271 §4.3 AS_PATH: (Segment Type (1) | Segment Length in ASes (1) | ASes (2 or 4 each))*. */
function readAsPath(v: Reader, as4: boolean): Seg[] {
  const segs: Seg[] = [];
  while (v.remaining > 0) {
    const type = v.u8("as_path segment type");
    const n = v.u8("as_path segment length");
    if (type < SEG_AS_SET || type > SEG_CONFED_SET) throw new BgpError(3, 11, `AS_PATH segment type ${type}`);
    const asns: number[] = [];
    for (let k = 0; k < n; k++) asns.push(as4 ? v.u32("as_path asn") : v.u16("as_path asn"));
    segs.push({ type, asns });
  }
  return segs;
}

/** Path length as RFC 6793 §4.2.3 counts it (an AS_SET counts 1, confederation segments 0). */
function countAs(segs: Seg[]): number {
  let n = 0;
  for (const s of segs) n += s.type === SEG_AS_SEQUENCE ? s.asns.length : s.type === SEG_AS_SET ? 1 : 0;
  return n;
}

function takeAs(segs: Seg[], n: number): Seg[] {
  const out: Seg[] = [];
  for (const s of segs) {
    if (n <= 0) break;
    if (s.type === SEG_AS_SEQUENCE) {
      const take = s.asns.slice(0, n);
      out.push({ type: s.type, asns: take });
      n -= take.length;
    } else if (s.type === SEG_AS_SET) {
      out.push(s);
      n -= 1;
    } else out.push(s);
  }
  return out;
}

function describePath(segs: Seg[], attrs: PathAttrs): void {
  const parts: string[] = [];
  let origin = 0;
  for (const s of segs) {
    if (s.asns.length === 0) continue;
    const list = s.asns.join(" ");
    if (s.type === SEG_AS_SEQUENCE) parts.push(list);
    else if (s.type === SEG_AS_SET) parts.push(`{${list}}`);
    else if (s.type === SEG_CONFED_SEQUENCE) parts.push(`(${list})`);
    else parts.push(`[${list}]`);
    if (s.type === SEG_AS_SEQUENCE || s.type === SEG_AS_SET) origin = s.asns[s.asns.length - 1]!;
  }
  attrs.asPath = parts.join(" ");
  attrs.asPathLen = countAs(segs);
  attrs.originAs = origin;
}

/**
 * RFC 4271 §4.3 prefix encoding: Length in bits (1) | Prefix (ceil(len/8)),
 * preceded by a 4-byte Path Identifier where ADD-PATH applies (RFC 7911 §3).
 * Bits past the length are cleared: routers may leave garbage there.
 */
function readPrefixes(r: Reader, v6: boolean, addPath: boolean, out: Prefix[]): void {
  const max = v6 ? 128 : 32;
  while (r.remaining > 0) {
    const pathId = addPath ? r.u32("path id") : 0;
    const len = r.u8("prefix length");
    if (len > max) throw new BgpError(3, 10, `prefix length ${len} > ${max}`);
    const nb = (len + 7) >> 3;
    const b = r.bytes(nb, "prefix");
    const addr = new Uint8Array(16);
    const base = v6 ? 0 : 12;
    if (!v6) {
      addr[10] = 0xff;
      addr[11] = 0xff;
    }
    addr.set(b, base);
    if (len & 7) addr[base + nb - 1] = addr[base + nb - 1]! & (0xff << (8 - (len & 7)));
    out.push({ v6, addr, len, pathId });
  }
}
