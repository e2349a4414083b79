// nagare-binary: Nagare's own compact columnar format for Nagare-to-Nagare
// transport over Kafka. Many flows per message, one block per schema column
// (src/schema.ts), columns found by NAME so a producer and a consumer of
// different versions agree on every column both know (an unknown column is
// skipped, a missing one reads as 0 / ""). Columns that are zero / empty in
// every row of the message are left out, which is most enrichment columns
// most of the time. All integers little-endian (the host order of every
// machine Node runs on: typed-array columns copy straight in).
//
//   message  = header column*
//   header   = magic "NGRB" (4) | version u8 (1 or 2) | flags u8 |
//              column count u16 | row count u32                        12 bytes
//   flags    = version 2: bit 0 PREENRICHED (the producing Nagare ran its
//              enrichment on these rows: a consumer does not enrich them
//              again), bits 1-7 reserved (0, ignored when read);
//              version 1: always 0, and read as "not enriched"
//   column   = name length u8 | name (ASCII) | kind u8 | data length u32 | data
//   kind     = 1 time | 2 u8 | 3 u16 | 4 u32 | 5 u64 | 6 ip | 7 mac | 8 string
//   data     = time, u64, mac: f64 × rows   (exact integers up to 2^53)
//              u8: u8 × rows;  u16: u16 × rows;  u32: u32 × rows
//              ip: 16 bytes × rows (IPv4 as IPv4-mapped IPv6)
//              string: dict count u32 | (byte length u32 | UTF-8)×count |
//                      index u32 × rows (into the dictionary)
//
// Versions: 1 had no flag defined; 2 (written now) defines PREENRICHED. Both
// are read, so messages retained from version-1 producers stay readable; a
// version-1-only consumer refuses version 2 (bad_version): upgrade the store
// nodes before the collectors (docs/kafka.md).
//
// docs/kafka.md ("Binary format") has the same grammar with an example.
import type { FlowBatch } from "../collector/batch.js";
import { FLOW_COLUMNS, type ColumnKind } from "../schema.js";
import { KEY_COLUMN, keyText, sameIp, type PartitionKey } from "./key.js";
import type { BatchSink, BusMessage, DecodeOutcome, FlowEncoder, FlowMessageDecoder } from "./types.js";

export const BINARY_MAGIC = "NGRB";
/** The version written; the decoder reads 1 … BINARY_VERSION. */
export const BINARY_VERSION = 2;
/** Header flag (version ≥ 2): the producer enriched these rows. */
export const FLAG_PREENRICHED = 0x01;
export const BINARY_HEADER = 12;
/** Most rows in one message (the decoder refuses more: a lying row count must not allocate or loop for long). */
export const BINARY_MAX_ROWS = 65_536;

export const KIND_CODE: Record<ColumnKind, number> = {
  time: 1,
  u8: 2,
  u16: 3,
  u32: 4,
  u64: 5,
  ip: 6,
  mac: 7,
  string: 8,
};
const CODE_KIND = new Map<number, ColumnKind>(
  Object.entries(KIND_CODE).map(([k, v]) => [v, k as ColumnKind]),
);
const FIXED_WIDTH: Partial<Record<ColumnKind, number>> = {
  time: 8,
  u64: 8,
  mac: 8,
  u8: 1,
  u16: 2,
  u32: 4,
  ip: 16,
};

type Col = Float64Array | Uint8Array | Uint16Array | Uint32Array | string[];

/** Per column: its name+kind prefix of the column block, built once (the data length follows). */
const COLUMN_HEADS = FLOW_COLUMNS.map((c) => {
  const name = Buffer.from(c.name, "ascii");
  const h = Buffer.alloc(1 + name.length + 1);
  h[0] = name.length;
  name.copy(h, 1);
  h[1 + name.length] = KIND_CODE[c.kind];
  return h;
});

function zeroBytes(b: Uint8Array): boolean {
  for (let k = 0; k < b.length; k++) if (b[k] !== 0) return false;
  return true;
}

/**
 * Encode the given rows (indices into batch, ascending) as one message value.
 * Each column's bytes are gathered first (one copy when the rows are
 * contiguous) and left out when all zero: the zero test is then one
 * monomorphic byte loop whatever the column's typed array.
 */
export function encodeRows(batch: FlowBatch, rows: number[], flags = 0): Buffer {
  const cols = batch.cols as unknown as Record<string, Col>;
  const parts: Buffer[] = [];
  let count = 0;
  const n = rows.length;
  const contiguous = n > 0 && rows[n - 1]! - rows[0]! === n - 1;
  FLOW_COLUMNS.forEach((c, ci) => {
    const arr = cols[c.name]!;
    let data: Buffer;
    if (c.kind === "string") {
      const a = arr as string[];
      let any = false;
      for (let j = 0; j < n && !any; j++) any = a[rows[j]!] !== "";
      if (!any) return;
      const dict = new Map<string, number>();
      const strings: Buffer[] = [];
      const idx = Buffer.allocUnsafe(4 * n);
      for (let j = 0; j < n; j++) {
        const str = a[rows[j]!]!;
        let id = dict.get(str);
        if (id === undefined) {
          id = dict.size;
          dict.set(str, id);
          const b = Buffer.from(str, "utf8");
          const len = Buffer.allocUnsafe(4);
          len.writeUInt32LE(b.length, 0);
          strings.push(len, b);
        }
        idx.writeUInt32LE(id, 4 * j);
      }
      const head = Buffer.allocUnsafe(4);
      head.writeUInt32LE(dict.size, 0);
      data = Buffer.concat([head, ...strings, idx]);
    } else {
      const w = FIXED_WIDTH[c.kind]!;
      const a = arr as Float64Array | Uint8Array | Uint16Array | Uint32Array;
      const src = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
      if (contiguous) {
        const first = rows[0]! * w;
        if (zeroBytes(src.subarray(first, first + n * w))) return;
        data = Buffer.from(src.subarray(first, first + n * w)); // a copy: the batch is recycled after encode
      } else {
        data = Buffer.allocUnsafe(n * w);
        for (let j = 0; j < n; j++) {
          const r = rows[j]! * w;
          for (let k = 0; k < w; k++) data[j * w + k] = src[r + k]!;
        }
        if (zeroBytes(data)) return;
      }
    }
    count++;
    const len = Buffer.allocUnsafe(4);
    len.writeUInt32LE(data.length, 0);
    parts.push(COLUMN_HEADS[ci]!, len, data);
  });
  const header = Buffer.allocUnsafe(BINARY_HEADER);
  header.write(BINARY_MAGIC, 0, "ascii");
  header.writeUInt8(BINARY_VERSION, 4);
  header.writeUInt8(flags, 5);
  header.writeUInt16LE(count, 6);
  header.writeUInt32LE(n, 8);
  return Buffer.concat([header, ...parts]);
}

export interface BinaryEncoderOptions {
  /** Most flows per message (default 1024, at most BINARY_MAX_ROWS). */
  maxFlowsPerMessage?: number;
  partitionKey?: PartitionKey;
  /** Set PREENRICHED in every message (the producer's pipeline ran enrichment). */
  enriched?: boolean;
}

/**
 * The PREENRICHED flag of a nagare-binary message (false for version 1, for
 * anything too short or not ours: the decoder then counts it as malformed).
 * Read before decoding, so the consumer can keep flagged rows in batches of
 * their own.
 */
export function binaryPreenriched(value: Buffer): boolean {
  return (
    value.length >= BINARY_HEADER &&
    value[0] === 0x4e && // "NGRB"
    value[1] === 0x47 &&
    value[2] === 0x52 &&
    value[3] === 0x42 &&
    value[4]! >= 2 &&
    value[4]! <= BINARY_VERSION &&
    (value[5]! & FLAG_PREENRICHED) !== 0
  );
}

export class NagareBinaryEncoder implements FlowEncoder {
  readonly format = "nagare-binary" as const;
  private readonly max: number;
  private readonly partitionKey: PartitionKey;
  private readonly flags: number;

  constructor(opts: BinaryEncoderOptions = {}) {
    this.max = Math.min(opts.maxFlowsPerMessage ?? 1024, BINARY_MAX_ROWS);
    this.partitionKey = opts.partitionKey ?? "none";
    this.flags = opts.enriched ? FLAG_PREENRICHED : 0;
  }

  encode(batch: FlowBatch): BusMessage[] {
    const out: BusMessage[] = [];
    if (batch.length === 0) return out;
    // Rows grouped by partition key (one group for "none"), in their order.
    const groups = new Map<string, number[]>();
    const keyCol = this.partitionKey === "none" ? null : batch.cols[KEY_COLUMN[this.partitionKey]];
    let g: number[] | undefined;
    for (let i = 0; i < batch.length; i++) {
      // Consecutive rows mostly share the key (one exporter's packet): format it only when the address changes.
      if (!g || (keyCol && !sameIp(keyCol, i, i - 1))) {
        const k = keyText(batch, i, this.partitionKey);
        g = groups.get(k);
        if (!g) groups.set(k, (g = []));
      }
      g.push(i);
    }
    for (const [k, rows] of groups) {
      for (let s = 0; s < rows.length; s += this.max) {
        const part = rows.slice(s, s + this.max);
        const value = encodeRows(batch, part, this.flags);
        out.push({ key: this.partitionKey === "none" ? null : Buffer.from(k), value, flows: part.length });
      }
    }
    return out;
  }
}

interface ColumnBlock {
  name: string;
  kind: ColumnKind;
  off: number;
  len: number;
  /** string columns: the dictionary and where the indices start. */
  dict?: string[];
  idxOff?: number;
}

const KNOWN = new Map<string, ColumnKind>(FLOW_COLUMNS.map((c) => [c.name, c.kind]));

export class NagareBinaryDecoder implements FlowMessageDecoder {
  readonly format = "nagare-binary" as const;

  decode(value: Buffer, sink: BatchSink): DecodeOutcome {
    const v = value;
    if (v.length < BINARY_HEADER) return { ok: false, reason: "truncated" };
    if (v.toString("ascii", 0, 4) !== BINARY_MAGIC) return { ok: false, reason: "bad_magic" };
    // Version 1 (no flags defined) and 2 (PREENRICHED) share the layout.
    if (v[4] === undefined || v[4] < 1 || v[4] > BINARY_VERSION) return { ok: false, reason: "bad_version" };
    const count = v.readUInt16LE(6);
    const rows = v.readUInt32LE(8);
    if (rows > BINARY_MAX_ROWS) return { ok: false, reason: "bad_count" };
    // Pass 1: walk and check the whole directory before writing any row, so a
    // bad message leaves the sink untouched.
    const blocks: ColumnBlock[] = [];
    let off = BINARY_HEADER;
    for (let c = 0; c < count; c++) {
      if (off + 1 > v.length) return { ok: false, reason: "truncated" };
      const nameLen = v[off]!;
      if (off + 1 + nameLen + 5 > v.length) return { ok: false, reason: "truncated" };
      const name = v.toString("ascii", off + 1, off + 1 + nameLen);
      const kind = CODE_KIND.get(v[off + 1 + nameLen]!);
      const len = v.readUInt32LE(off + 2 + nameLen);
      const dataOff = off + 6 + nameLen;
      if (!kind) return { ok: false, reason: "bad_kind" };
      if (len > v.length - dataOff) return { ok: false, reason: "bad_length" };
      off = dataOff + len;
      const known = KNOWN.get(name);
      if (known === undefined) continue; // a newer producer's column: skipped
      if (known !== kind) return { ok: false, reason: "bad_kind" };
      const block: ColumnBlock = { name, kind, off: dataOff, len };
      if (kind === "string") {
        if (len < 4) return { ok: false, reason: "bad_length" };
        const n = v.readUInt32LE(dataOff);
        // Each entry takes >= 4 bytes: a count beyond that is a lie (and must not loop long).
        if (n > (len - 4) / 4) return { ok: false, reason: "bad_length" };
        const dict: string[] = [];
        let p = dataOff + 4;
        const end = dataOff + len;
        for (let k = 0; k < n; k++) {
          if (p + 4 > end) return { ok: false, reason: "bad_length" };
          const sl = v.readUInt32LE(p);
          if (sl > end - p - 4) return { ok: false, reason: "bad_length" };
          dict.push(v.toString("utf8", p + 4, p + 4 + sl));
          p += 4 + sl;
        }
        if (end - p !== 4 * rows) return { ok: false, reason: "bad_length" };
        for (let r = 0; r < rows; r++)
          if (v.readUInt32LE(p + 4 * r) >= n) return { ok: false, reason: "bad_index" };
        block.dict = dict;
        block.idxOff = p;
      } else if (len !== FIXED_WIDTH[kind]! * rows) {
        return { ok: false, reason: "bad_length" };
      }
      blocks.push(block);
    }
    if (off !== v.length) return { ok: false, reason: "trailing" };
    // Pass 2: rows into the sink's batches (which may change every row).
    for (let r = 0; r < rows; r++) {
      const b = sink.batch();
      const i = b.length;
      const cols = b.cols as unknown as Record<string, Col>;
      for (const blk of blocks) {
        const arr = cols[blk.name]!;
        switch (blk.kind) {
          case "time":
          case "u64":
          case "mac":
            (arr as Float64Array)[i] = v.readDoubleLE(blk.off + 8 * r);
            break;
          case "u8":
            (arr as Uint8Array)[i] = v[blk.off + r]!;
            break;
          case "u16":
            (arr as Uint16Array)[i] = v.readUInt16LE(blk.off + 2 * r);
            break;
          case "u32":
            (arr as Uint32Array)[i] = v.readUInt32LE(blk.off + 4 * r);
            break;
          case "ip":
            (arr as Uint8Array).set(v.subarray(blk.off + 16 * r, blk.off + 16 * r + 16), i * 16);
            break;
          case "string":
            (arr as string[])[i] = blk.dict![v.readUInt32LE(blk.idxOff! + 4 * r)]!;
            break;
        }
      }
      b.length = i + 1;
    }
    return { ok: true, flows: rows };
  }
}
