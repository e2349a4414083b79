// FlowBatch: a columnar batch of decoded flows, shaped by the schema table.
//
// Decoders write straight into typed arrays (no per-flow object), which keeps
// decode at millions of records per second per core and hands the store a
// ready columnar batch.
import { FLOW_COLUMNS as SCHEMA, type ColumnDef, type ColumnKind, type FlowColumns } from "../schema.js";

const FLOW_COLUMNS: readonly ColumnDef[] = SCHEMA;
import { formatIp, formatMac } from "./ip.js";

function allocate(
  kind: ColumnKind,
  capacity: number,
): Float64Array | Uint8Array | Uint16Array | Uint32Array | string[] {
  switch (kind) {
    case "time":
    case "u64":
    case "mac":
      return new Float64Array(capacity);
    case "u8":
      return new Uint8Array(capacity);
    case "ip":
      return new Uint8Array(capacity * 16);
    case "u16":
      return new Uint16Array(capacity);
    case "u32":
      return new Uint32Array(capacity);
    case "string":
      return new Array<string>(capacity).fill("");
  }
}

export class FlowBatch {
  readonly capacity: number;
  /** Number of complete rows. Row `length` is the one being written. */
  length = 0;
  readonly cols: FlowColumns;

  constructor(capacity = 4096) {
    this.capacity = capacity;
    const cols: Record<string, unknown> = {};
    for (const c of FLOW_COLUMNS) cols[c.name] = allocate(c.kind, capacity);
    // Spread: the loop above leaves `cols` in V8 dictionary mode (slow property
    // loads on every column access); a spread copy has fast properties.
    this.cols = { ...cols } as FlowColumns;
  }

  get full(): boolean {
    return this.length >= this.capacity;
  }

  /** Forget all rows and zero every column, so absent fields read as 0. */
  reset(): void {
    const cols = this.cols as unknown as Record<string, { fill(v: unknown): unknown }>;
    for (const c of FLOW_COLUMNS) {
      const arr = cols[c.name];
      if (arr) arr.fill(c.kind === "string" ? "" : 0);
    }
    this.length = 0;
  }

  /** Zero row `i` (used when a half-written record is abandoned). */
  clearRow(i: number): void {
    const cols = this.cols as unknown as Record<string, Float64Array | Uint8Array | string[]>;
    for (const c of FLOW_COLUMNS) {
      const arr = cols[c.name]!;
      if (c.kind === "ip") (arr as Uint8Array).fill(0, i * 16, i * 16 + 16);
      else if (c.kind === "string") (arr as string[])[i] = "";
      else (arr as Float64Array)[i] = 0;
    }
  }

  /** Row `i` as a plain object (for `nagare decode`, tests and the API). */
  row(i: number): Record<string, string | number> {
    const out: Record<string, string | number> = {};
    const cols = this.cols as unknown as Record<string, ArrayLike<number> | string[]>;
    for (const c of FLOW_COLUMNS) {
      const arr = cols[c.name]!;
      switch (c.kind) {
        case "ip":
          out[c.name] = formatIp(arr as Uint8Array, i * 16);
          break;
        case "mac":
          out[c.name] = formatMac((arr as Float64Array)[i]!);
          break;
        case "time":
          out[c.name] = (arr as Float64Array)[i]!;
          break;
        default:
          out[c.name] = (arr as ArrayLike<number | string>)[i]!;
      }
    }
    return out;
  }
}
