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
  /**
   * References held on this batch (see retain/release). A new batch starts
   * with one: its creator's. Only batches from a BatchPool are recycled when
   * the count reaches 0; a plain `new FlowBatch()` is simply left to the GC.
   */
  refs = 1;
  /** The pool the batch returns to when its last reference is released (null: not pooled). */
  pool: BatchPool | null = null;

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

  /**
   * Keep the batch beyond the call it was handed to you in (e.g. an
   * asynchronous store appending it later). Every retain() needs exactly one
   * release(). Without it, a pooled batch is zeroed and refilled with other
   * flows as soon as the synchronous hand-off returns.
   */
  retain(): this {
    if (this.refs <= 0) throw new Error("FlowBatch.retain() on a batch that was already released");
    this.refs++;
    return this;
  }

  /** Drop one reference; the last one returns a pooled batch to its pool (zeroed there). */
  release(): void {
    if (this.refs <= 0) throw new Error("FlowBatch.release() called more often than retain()");
    if (--this.refs === 0 && this.pool) this.pool.put(this);
  }

  /**
   * Forget all rows and zero them, so absent fields read as 0. Only rows
   * 0…length are zeroed (length: the row being written, possibly abandoned
   * half-way): decoders write only there, so every row above is still zero.
   * At a 4096-row capacity and a few hundred rows per flush this is a small
   * fraction of zeroing (or allocating) the whole batch.
   */
  reset(): void {
    const n = Math.min(this.length + 1, this.capacity);
    const cols = this.cols as unknown as Record<string, Float64Array | Uint8Array | string[]>;
    for (const c of FLOW_COLUMNS) {
      const arr = cols[c.name]!;
      if (c.kind === "ip") (arr as Uint8Array).fill(0, 0, n * 16);
      else if (c.kind === "string") (arr as string[]).fill("", 0, n);
      else (arr as Float64Array).fill(0, 0, n);
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

/**
 * Recycles FlowBatches (allocating one means ~300 bytes × capacity of zeroed
 * typed arrays, and at 1 M flows/s that churn cost 30-40 % of decode time and
 * fed the GC). get() hands out a batch holding one reference; when the last
 * reference is released (FlowBatch.release) the batch is reset and kept for
 * the next get(), up to `maxIdle` idle batches (the rest go to the GC, so a
 * consumer holding many batches for a while does not pin memory forever).
 */
export class BatchPool {
  readonly capacity: number;
  readonly maxIdle: number;
  private readonly idle: FlowBatch[] = [];
  /** Batches created (not taken from the idle list) so far. */
  created = 0;
  /** Batches handed out again after a release. */
  reused = 0;

  constructor(capacity = 4096, maxIdle = 8) {
    this.capacity = capacity;
    this.maxIdle = maxIdle;
  }

  /** An empty, zeroed batch holding one reference (the caller's). */
  get(): FlowBatch {
    const b = this.idle.pop();
    if (b) {
      b.refs = 1;
      this.reused++;
      return b;
    }
    const nb = new FlowBatch(this.capacity);
    nb.pool = this;
    this.created++;
    return nb;
  }

  /** Called by FlowBatch.release() when the last reference goes. */
  put(b: FlowBatch): void {
    if (b.pool !== this) throw new Error("BatchPool.put: batch belongs to another pool");
    if (this.idle.length >= this.maxIdle) return;
    b.reset();
    this.idle.push(b);
  }

  /** Idle batches ready for get(). */
  get idleCount(): number {
    return this.idle.length;
  }
}
