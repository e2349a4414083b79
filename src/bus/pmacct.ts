// pmacct-compatible JSON: one JSON object per flow, exactly as pmacct's kafka
// plugin (`kafka_output: json`) writes it, so consumers of an existing pmacct
// → Kafka pipeline keep working when Nagare takes pmacct's place, and Nagare
// can ingest what a pmacct deployment publishes.
//
// The field names, their order and value formats were taken from real output
// of Debian's pmacct 1.7.7 (nfacctd, kafka plugin, published to the test
// broker; test/fixtures/pmacct/ holds a sample):
//
//   {"event_type": "purge", "as_src": 0, "as_dst": 15133, "peer_ip_src": "127.0.0.1",
//    "peer_ip_dst": "", "iface_in": 0, "iface_out": 0, "ip_src": "172.17.0.2",
//    "ip_dst": "93.184.216.34", "mask_src": 0, "mask_dst": 0, "port_src": 43298,
//    "port_dst": 80, "tcp_flags": "27", "ip_proto": "tcp", "tos": 0, "sampling_rate": 0,
//    "timestamp_start": "2017-08-08 11:07:08.000000", "timestamp_end": "2017-08-08 11:07:09.000000",
//    "stamp_inserted": "2017-08-08 11:06:00", "stamp_updated": "2026-11-27 13:16:51",
//    "flows": 1, "packets": 6, "bytes": 336, "writer_id": "k/15323"}
//
// Traps a pmacct consumer relies on: tcp_flags is a decimal STRING; ip_proto a
// protocol NAME from pmacct's own table ("0" for 0, a decimal string where the
// table has no name); absent addresses are "" and absent MACs
// "00:00:00:00:00:00"; timestamps are "YYYY-MM-DD HH:MM:SS.ffffff" (UTC here:
// pmacct's `timestamps_utc: true`), time bins "YYYY-MM-DD HH:MM:SS".
// The mapping to our columns is documented in docs/kafka.md.
import type { FlowBatch } from "../collector/batch.js";
import { formatIp, parseIp } from "../collector/ip.js";
import type { ColumnName } from "../schema.js";
import { KEY_COLUMN, keyText, sameIp, type PartitionKey } from "./key.js";
import type { BatchSink, BusMessage, DecodeOutcome, FlowEncoder, FlowMessageDecoder } from "./types.js";

type FieldType =
  | "ip" // "a.b.c.d" / RFC 5952 text, "" = absent
  | "mac" // "aa:bb:cc:dd:ee:ff"
  | "num" // JSON number
  | "proto" // protocol name from PMACCT_PROTOCOLS, else decimal string
  | "flags" // decimal string
  | "time" // "YYYY-MM-DD HH:MM:SS.ffffff" (or seconds since the epoch, timestamps_since_epoch)
  | "str";

interface PmacctField {
  /** pmacct's JSON key. */
  readonly json: string;
  /** pmacct's aggregate primitive that produces it. */
  readonly primitive: string;
  readonly column: ColumnName;
  readonly type: FieldType;
}

/** Every pmacct field we map, in the order pmacct 1.7.7 writes them. */
export const PMACCT_FIELDS: readonly PmacctField[] = [
  { json: "mac_src", primitive: "src_mac", column: "src_mac", type: "mac" },
  { json: "mac_dst", primitive: "dst_mac", column: "dst_mac", type: "mac" },
  { json: "vlan", primitive: "vlan", column: "src_vlan", type: "num" },
  { json: "as_src", primitive: "src_as", column: "src_as", type: "num" },
  { json: "as_dst", primitive: "dst_as", column: "dst_as", type: "num" },
  { json: "comms", primitive: "std_comm", column: "bgp_communities", type: "str" },
  { json: "as_path", primitive: "as_path", column: "as_path", type: "str" },
  { json: "local_pref", primitive: "local_pref", column: "local_pref", type: "num" },
  { json: "peer_ip_src", primitive: "peer_src_ip", column: "exporter_address", type: "ip" },
  { json: "peer_ip_dst", primitive: "peer_dst_ip", column: "bgp_next_hop", type: "ip" },
  { json: "iface_in", primitive: "in_iface", column: "in_if", type: "num" },
  { json: "iface_out", primitive: "out_iface", column: "out_if", type: "num" },
  { json: "ip_src", primitive: "src_host", column: "src_addr", type: "ip" },
  { json: "ip_dst", primitive: "dst_host", column: "dst_addr", type: "ip" },
  { json: "mask_src", primitive: "src_mask", column: "src_prefix_len", type: "num" },
  { json: "mask_dst", primitive: "dst_mask", column: "dst_prefix_len", type: "num" },
  { json: "port_src", primitive: "src_port", column: "src_port", type: "num" },
  { json: "port_dst", primitive: "dst_port", column: "dst_port", type: "num" },
  { json: "tcp_flags", primitive: "tcpflags", column: "tcp_flags", type: "flags" },
  { json: "ip_proto", primitive: "proto", column: "protocol", type: "proto" },
  { json: "tos", primitive: "tos", column: "tos", type: "num" },
  { json: "sampling_rate", primitive: "sampling_rate", column: "sampling_rate", type: "num" },
  { json: "post_nat_ip_src", primitive: "post_nat_src_host", column: "post_nat_src_addr", type: "ip" },
  { json: "post_nat_ip_dst", primitive: "post_nat_dst_host", column: "post_nat_dst_addr", type: "ip" },
  { json: "post_nat_port_src", primitive: "post_nat_src_port", column: "post_nat_src_port", type: "num" },
  { json: "post_nat_port_dst", primitive: "post_nat_dst_port", column: "post_nat_dst_port", type: "num" },
  { json: "mpls_label_top", primitive: "mpls_label_top", column: "mpls_label_1", type: "num" },
  { json: "tunnel_ip_src", primitive: "tunnel_src_host", column: "inner_src_addr", type: "ip" },
  { json: "tunnel_ip_dst", primitive: "tunnel_dst_host", column: "inner_dst_addr", type: "ip" },
  { json: "tunnel_ip_proto", primitive: "tunnel_proto", column: "inner_protocol", type: "proto" },
  { json: "tunnel_port_src", primitive: "tunnel_src_port", column: "inner_src_port", type: "num" },
  { json: "tunnel_port_dst", primitive: "tunnel_dst_port", column: "inner_dst_port", type: "num" },
  { json: "vxlan", primitive: "vxlan", column: "layer2_segment_id", type: "num" },
  { json: "timestamp_start", primitive: "timestamp_start", column: "time_flow_start", type: "time" },
  { json: "timestamp_end", primitive: "timestamp_end", column: "time_flow_end", type: "time" },
  { json: "timestamp_arrival", primitive: "timestamp_arrival", column: "time_received", type: "time" },
];

const FIELD_BY_JSON = new Map(PMACCT_FIELDS.map((f) => [f.json, f]));
export const PMACCT_JSON_KEYS: readonly string[] = PMACCT_FIELDS.map((f) => f.json);

/**
 * pmacct's protocol names (src/pmacct-data.h `_protocols`, 0-133): index =
 * protocol number; "" = no name, printed as the decimal number. Checked
 * against real nfacctd output ("0", "icmp", "tcp", "udp", "ipv6-icmp", "vrrp").
 */
const NAMED: Record<number, string> = {
  1: "icmp", 2: "igmp", 3: "ggp", 4: "ipencap", 6: "tcp", 8: "egp", 9: "igp", 17: "udp", 18: "mux",
  41: "ipv6", 43: "ipv6-route", 44: "ipv6-frag", 46: "rsvp", 47: "gre", 50: "esp", 51: "ah",
  55: "mobile", 56: "tlsp", 58: "ipv6-icmp", 59: "ipv6-nonxt", 60: "ipv6-opts", 80: "iso-ip",
  83: "vines", 88: "eigrp", 89: "ospf", 91: "larp", 93: "ax.25", 94: "ipip", 98: "encap",
  102: "pnni", 103: "pim", 108: "IPcomp", 111: "ipx-in-ip", 112: "vrrp", 115: "l2tp", 124: "isis",
  132: "sctp", 133: "fc",
}; // prettier-ignore
export const PMACCT_PROTOCOLS: readonly string[] = Array.from(
  { length: 256 },
  (_, p) => NAMED[p] ?? String(p),
);
const PROTOCOL_BY_NAME = new Map<string, number>(PMACCT_PROTOCOLS.map((n, p) => [n.toLowerCase(), p]));

const pad2 = (n: number) => (n < 10 ? "0" : "") + n;

// Flows of one export share a few distinct seconds (received, start, end):
// formatted seconds are cached, the cache emptied when it grows.
const stamps = new Map<number, string>();

/** "YYYY-MM-DD HH:MM:SS" (UTC) of epoch milliseconds. */
export function pmacctStamp(ms: number): string {
  const sec = Math.floor(ms / 1000);
  let text = stamps.get(sec);
  if (text !== undefined) return text;
  const d = new Date(sec * 1000);
  text =
    `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())} ` +
    `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}`;
  if (stamps.size >= 4096) stamps.clear();
  stamps.set(sec, text);
  return text;
}

/** "YYYY-MM-DD HH:MM:SS.ffffff" (UTC) of epoch milliseconds (microseconds from the fraction). */
export function pmacctTimestamp(ms: number): string {
  const whole = Math.floor(ms / 1000) * 1000;
  const micros = Math.round((ms - whole) * 1000);
  return `${pmacctStamp(whole)}.${micros < 100000 ? String(micros).padStart(6, "0") : micros}`;
}

const TIME_RE = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?$/;

/** Parse a pmacct time value (text as UTC, or seconds since the epoch) into epoch ms; NaN if invalid. */
export function parsePmacctTime(v: unknown): number {
  if (typeof v === "number") return Number.isFinite(v) && v >= 0 ? v * 1000 : NaN;
  if (typeof v !== "string") return NaN;
  if (v === "") return 0;
  const m = TIME_RE.exec(v);
  if (!m) return /^\d+(\.\d+)?$/.test(v) ? Number(v) * 1000 : NaN;
  const frac = m[7] ?? "";
  const ms = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
  return ms + (frac ? Number(`0.${frac}`) * 1000 : 0);
}

function macText(v: number): string {
  const hex = v.toString(16).padStart(12, "0");
  return `${hex.slice(0, 2)}:${hex.slice(2, 4)}:${hex.slice(4, 6)}:${hex.slice(6, 8)}:${hex.slice(8, 10)}:${hex.slice(10, 12)}`;
}

function parseMac(s: string): number {
  const m =
    /^([0-9a-fA-F]{2})[:-]([0-9a-fA-F]{2})[:-]([0-9a-fA-F]{2})[:-]([0-9a-fA-F]{2})[:-]([0-9a-fA-F]{2})[:-]([0-9a-fA-F]{2})$/.exec(
      s,
    );
  if (!m) return NaN;
  return parseInt(m.slice(1).join(""), 16);
}

export interface PmacctEncoderOptions {
  /** pmacct JSON keys to write (like pmacct's `aggregate`), default every mapped field (PMACCT_JSON_KEYS). */
  fields?: readonly string[];
  /** `writer_id` value (pmacct: "<plugin name>/<pid>"); default "nagare/<pid>". */
  writerId?: string;
  partitionKey?: PartitionKey;
}

/** Validate a field list: the unknown keys (empty = all known). */
export function unknownPmacctFields(fields: readonly string[]): string[] {
  return fields.filter((f) => !FIELD_BY_JSON.has(f));
}

type Cols = Record<string, Float64Array | Uint8Array | Uint16Array | Uint32Array | string[]>;

/**
 * The JSON text of one field of row `i` (value only). Exported for the
 * time-bin aggregator, which groups rows by these exact texts.
 */
function fieldValue(cols: Cols, f: PmacctField, i: number): string {
  const arr = cols[f.column]!;
  switch (f.type) {
    case "ip":
      return `"${formatIp(arr as Uint8Array, i * 16)}"`; // address text needs no JSON escaping
    case "mac":
      return `"${macText((arr as Float64Array)[i]!)}"`;
    case "num":
      return String((arr as Float64Array)[i]!);
    case "proto":
      return `"${PMACCT_PROTOCOLS[(arr as Uint8Array)[i]!]!}"`;
    case "flags":
      return `"${(arr as Uint16Array)[i]!}"`;
    case "time":
      return `"${pmacctTimestamp((arr as Float64Array)[i]!)}"`;
    case "str":
      return JSON.stringify((arr as string[])[i]!);
  }
}

/** `, "key": ` of each field, built once. */
const PREFIX = new Map(PMACCT_FIELDS.map((f) => [f, `, "${f.json}": `]));

/**
 * The primitives part of row `i`'s JSON object (`, "k": v` for each field):
 * what pmacct writes between "event_type" and the time bin / counters.
 */
export function pmacctPrimitives(batch: FlowBatch, i: number, fields: readonly PmacctField[]): string {
  const cols = batch.cols as unknown as Cols;
  let s = "";
  for (const f of fields) s += PREFIX.get(f)! + fieldValue(cols, f, i);
  return s;
}

export function resolveFields(keys: readonly string[] | undefined): PmacctField[] {
  if (!keys) return [...PMACCT_FIELDS];
  const want = new Set(keys);
  // pmacct's output order, whatever order the configuration lists them in.
  return PMACCT_FIELDS.filter((f) => want.has(f.json));
}

/** One pmacct "purge" object from its parts (pmacct's separators: ", " and ": "). */
export function pmacctObject(
  primitives: string,
  bin: { inserted: number; updated: number } | null,
  flows: number,
  packets: number,
  bytes: number,
  writerId: string,
): string {
  const stamps = bin
    ? `, "stamp_inserted": "${pmacctStamp(bin.inserted)}", "stamp_updated": "${pmacctStamp(bin.updated)}"`
    : "";
  return `{"event_type": "purge"${primitives}${stamps}, "flows": ${flows}, "packets": ${packets}, "bytes": ${bytes}, "writer_id": ${JSON.stringify(writerId)}}`;
}

/** Flow by flow, no time bins (pmacct without `kafka_history`): one message per flow. */
export class PmacctJsonEncoder implements FlowEncoder {
  readonly format = "pmacct-json" as const;
  private readonly fields: PmacctField[];
  private readonly writerId: string;
  private readonly partitionKey: PartitionKey;

  constructor(opts: PmacctEncoderOptions = {}) {
    this.fields = resolveFields(opts.fields);
    this.writerId = opts.writerId ?? `nagare/${process.pid}`;
    this.partitionKey = opts.partitionKey ?? "none";
  }

  encode(batch: FlowBatch): BusMessage[] {
    const out: BusMessage[] = new Array<BusMessage>(batch.length);
    const c = batch.cols;
    const keyCol = this.partitionKey === "none" ? null : c[KEY_COLUMN[this.partitionKey]];
    let key: Buffer | null = null;
    for (let i = 0; i < batch.length; i++) {
      const json = pmacctObject(
        pmacctPrimitives(batch, i, this.fields),
        null,
        c.flows[i]!,
        c.packets[i]!,
        c.bytes[i]!,
        this.writerId,
      );
      // One exporter's flows come in runs: the key is rebuilt only when the address changes.
      if (keyCol && (i === 0 || !sameIp(keyCol, i, i - 1)))
        key = Buffer.from(keyText(batch, i, this.partitionKey));
      out[i] = { key, value: Buffer.from(json) };
    }
    return out;
  }
}

/** The largest message we parse (pmacct's kafka_multi_values batches many objects per message). */
export const PMACCT_MAX_MESSAGE = 16 * 1024 * 1024;

type Parsed = { col: ColumnName; type: FieldType; value: number | string | Uint8Array }[];

function convert(f: PmacctField, v: unknown): number | string | Uint8Array | null | undefined {
  switch (f.type) {
    case "ip": {
      if (v === "" || v === null) return null; // absent: stays zero
      if (typeof v !== "string") return undefined;
      return parseIp(v) ?? undefined;
    }
    case "mac": {
      if (typeof v !== "string") return undefined;
      const m = parseMac(v);
      return Number.isNaN(m) ? undefined : m;
    }
    case "proto": {
      if (typeof v === "number") return Number.isInteger(v) && v >= 0 && v <= 255 ? v : undefined;
      if (typeof v !== "string") return undefined;
      const p = /^\d+$/.test(v) ? Number(v) : PROTOCOL_BY_NAME.get(v.toLowerCase());
      return p !== undefined && p <= 255 ? p : undefined;
    }
    case "flags":
    case "num": {
      const n = typeof v === "string" && /^\d+$/.test(v) ? Number(v) : v;
      if (typeof n !== "number" || !Number.isFinite(n) || n < 0) return undefined;
      return Math.trunc(n);
    }
    case "time": {
      const t = parsePmacctTime(v);
      return Number.isNaN(t) ? undefined : t;
    }
    case "str":
      return typeof v === "string" ? v : undefined;
  }
}

function counter(v: unknown): number | undefined {
  if (v === undefined) return undefined;
  const n = typeof v === "string" && /^\d+$/.test(v) ? Number(v) : v;
  return typeof n === "number" && Number.isFinite(n) && n >= 0 ? Math.trunc(n) : NaN;
}

/** Clamp to a column's width the way the wire decoders do (pmacct may send wider values, e.g. 32-bit vlan). */
const MAX_BY_COLUMN_KIND = { u8: 0xff, u16: 0xffff, u32: 0xffffffff } as const;

/**
 * Decodes what pmacct (or our encoder) publishes: one JSON object per message,
 * or several separated by newlines (pmacct's `kafka_multi_values`). Only
 * event_type "purge" objects (or objects without event_type) carry flows; the
 * purge_init / purge_close markers (`kafka_markers`) decode to zero flows.
 * Whatever subset of fields the pmacct aggregation has is accepted; absent
 * fields stay 0 / "" and `flows` defaults to 1. Unknown keys are ignored.
 */
export class PmacctJsonDecoder implements FlowMessageDecoder {
  readonly format = "pmacct-json" as const;

  decode(value: Buffer, sink: BatchSink): DecodeOutcome {
    if (value.length > PMACCT_MAX_MESSAGE) return { ok: false, reason: "too_large" };
    const records: { parsed: Parsed; flows: number; packets: number; bytes: number; version: number }[] = [];
    for (const line of value.toString("utf8").split("\n")) {
      if (line.trim() === "") continue;
      let obj: unknown;
      try {
        obj = JSON.parse(line);
      } catch {
        return { ok: false, reason: "json" };
      }
      if (typeof obj !== "object" || obj === null || Array.isArray(obj)) return { ok: false, reason: "json" };
      const o = obj as Record<string, unknown>;
      if (o.event_type !== undefined && o.event_type !== "purge") continue; // markers, not flows
      const parsed: Parsed = [];
      let version = 0;
      for (const [k, v] of Object.entries(o)) {
        const f = FIELD_BY_JSON.get(k);
        if (!f) continue;
        const val = convert(f, v);
        if (val === undefined) return { ok: false, reason: "bad_field" };
        if (val === null) continue;
        if (f.column === "src_addr" && val instanceof Uint8Array) version = isMapped(val) ? 4 : 6;
        parsed.push({ col: f.column, type: f.type, value: val });
      }
      const flows = counter(o.flows);
      const packets = counter(o.packets);
      const bytes = counter(o.bytes);
      if (Number.isNaN(flows) || Number.isNaN(packets) || Number.isNaN(bytes))
        return { ok: false, reason: "bad_field" };
      records.push({ parsed, flows: flows ?? 1, packets: packets ?? 0, bytes: bytes ?? 0, version });
    }
    for (const r of records) {
      const b = sink.batch();
      const i = b.length;
      const cols = b.cols as unknown as Cols;
      for (const p of r.parsed) {
        const arr = cols[p.col]!;
        if (p.value instanceof Uint8Array) (arr as Uint8Array).set(p.value, i * 16);
        else if (typeof p.value === "string") (arr as string[])[i] = p.value;
        else {
          const max =
            arr instanceof Uint8Array
              ? MAX_BY_COLUMN_KIND.u8
              : arr instanceof Uint16Array
                ? MAX_BY_COLUMN_KIND.u16
                : arr instanceof Uint32Array
                  ? MAX_BY_COLUMN_KIND.u32
                  : Number.MAX_SAFE_INTEGER;
          (arr as Float64Array)[i] = Math.min(p.value, max);
        }
      }
      b.cols.ip_version[i] = r.version;
      b.cols.flows[i] = Math.min(r.flows, 0xffffffff);
      b.cols.packets[i] = r.packets;
      b.cols.bytes[i] = r.bytes;
      b.length = i + 1;
    }
    return { ok: true, flows: records.length };
  }
}

function isMapped(a: Uint8Array): boolean {
  for (let k = 0; k < 10; k++) if (a[k] !== 0) return false;
  return a[10] === 0xff && a[11] === 0xff;
}
