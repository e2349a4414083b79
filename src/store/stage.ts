// The default staging of StoreWriter: rows wait in JS typed arrays, already
// in DuckDB's in-memory layout, and a table function (nagare_stage_scan)
// hands them to DuckDB as DataChunks when the merge reads them.
//
// WHY: appending into an in-memory DuckDB table (the "table" stage mode) costs
// ≈ 1.7 µs of native CPU per 58-column row ON THE MAIN THREAD (the
// appender's collection copy, then the table append), and the merge copies
// every row a second time into flows_raw. Here consume() only converts and
// memcpys (≈ 0.3 µs/row), and the one copy DuckDB makes is the INSERT into
// flows_raw, on DuckDB's threads; the table function's callback (a memcpy per
// column per 2048 rows) is the only main-thread work of the merge.
import duckdb from "@duckdb/node-bindings";
import {
  DuckDBTableFunction,
  TIMESTAMP_MS,
  UBIGINT,
  UHUGEINT,
  INTEGER,
  UINTEGER,
  USMALLINT,
  UTINYINT,
  VARCHAR,
  type DuckDBType,
} from "@duckdb/node-api";
import type { FlowBatch } from "../collector/batch.js";
import { FLOW_COLUMNS, type ColumnKind } from "../schema.js";
import { ReceiveRuns } from "./freshness.js";

/** DuckDB's vector size: the most rows one DataChunk holds. */
const CHUNK_ROWS = 2048;

const DUCK_TYPE: Record<ColumnKind, DuckDBType> = {
  time: TIMESTAMP_MS,
  u8: UTINYINT,
  u16: USMALLINT,
  u32: UINTEGER,
  u64: UBIGINT,
  ip: UHUGEINT,
  mac: UBIGINT,
  string: VARCHAR,
};

type Store = Uint8Array | Uint16Array | Uint32Array | string[];
/** Bytes per row of a column's store, in DuckDB's layout (0: strings). */
function widthOf(k: ColumnKind): number {
  switch (k) {
    case "time":
    case "u64":
    case "mac":
      return 8;
    case "ip":
      return 16;
    case "u8":
      return 1;
    case "u16":
      return 2;
    case "u32":
      return 4;
    case "string":
      return 0;
  }
}
function alloc(k: ColumnKind, rows: number): Store {
  switch (k) {
    case "time":
    case "u64":
    case "mac":
      return new Uint32Array(rows * 2);
    case "ip":
      return new Uint32Array(rows * 4);
    case "u8":
      return new Uint8Array(rows);
    case "u16":
      return new Uint16Array(rows);
    case "u32":
      return new Uint32Array(rows);
    case "string":
      return [];
  }
}

/** Byte-swap a uint32 (0 stays 0 without the shifts: absent addresses and the v4-mapped prefix). */
function bswap(x: number): number {
  return x === 0 ? 0 : ((x << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24)) >>> 0;
}

const KINDS: readonly ColumnKind[] = FLOW_COLUMNS.map((c) => c.kind);
const NAMES: readonly string[] = FLOW_COLUMNS.map((c) => c.name);

/** One stage: the rows of one flush interval, column by column in DuckDB's layout. */
export class JsStage {
  length = 0;
  private capacity: number;
  private cols: Store[];
  readonly runs = new ReceiveRuns();
  /** Scratch for ip columns whose batch buffer is not 4-byte aligned. */
  private aligned = new Uint8Array(0);

  constructor(initialRows = 16_384) {
    this.capacity = initialRows;
    this.cols = KINDS.map((k) => alloc(k, initialRows));
  }

  private grow(need: number): void {
    let cap = this.capacity;
    while (cap < need) cap *= 2;
    this.cols = this.cols.map((old, c) => {
      const k = KINDS[c]!;
      if (k === "string") return old;
      const next = alloc(k, cap) as Uint8Array | Uint16Array | Uint32Array;
      next.set((old as typeof next).subarray(0, this.length * (next.length / cap)));
      return next;
    });
    this.capacity = cap;
  }

  /**
   * Copy a batch in. time/u64/mac are exact-integer doubles: ToUint32 of x
   * is its low word, of x / 2^32 its high word (int64 little endian, no
   * BigInt). ip: the batch's 16 big-endian bytes reversed are DuckDB's
   * uhugeint {u64 lower; u64 upper} (little endian), i.e. four byte-swapped
   * uint32 words in reverse order.
   */
  append(batch: FlowBatch): void {
    const n = batch.length;
    if (n === 0) return;
    const at = this.length;
    if (at + n > this.capacity) this.grow(at + n);
    const src = batch.cols as unknown as Record<
      string,
      Float64Array | Uint8Array | Uint16Array | Uint32Array | string[]
    >;
    for (let c = 0; c < KINDS.length; c++) {
      const a = src[NAMES[c]!]!;
      const dst = this.cols[c]!;
      switch (KINDS[c]) {
        case "time":
        case "u64":
        case "mac": {
          const f = a as Float64Array;
          const w = dst as Uint32Array;
          for (let i = 0, j = at * 2; i < n; i++, j += 2) {
            const x = f[i]!;
            w[j] = x >>> 0;
            w[j + 1] = (x / 4294967296) >>> 0;
          }
          break;
        }
        case "u8":
        case "u16":
        case "u32":
          (dst as Uint8Array).set((a as Uint8Array).subarray(0, n), at);
          break;
        case "ip": {
          const b = a as Uint8Array;
          let s: Uint32Array;
          if (b.byteOffset % 4 === 0) s = new Uint32Array(b.buffer, b.byteOffset, n * 4);
          else {
            if (this.aligned.length < n * 16) this.aligned = new Uint8Array(n * 16);
            this.aligned.set(b.subarray(0, n * 16));
            s = new Uint32Array(this.aligned.buffer, 0, n * 4);
          }
          const w = dst as Uint32Array;
          for (let k = 0, j = at * 4; k < n * 4; k += 4, j += 4) {
            w[j] = bswap(s[k + 3]!);
            w[j + 1] = bswap(s[k + 2]!);
            w[j + 2] = bswap(s[k + 1]!);
            w[j + 3] = bswap(s[k]!);
          }
          break;
        }
        case "string": {
          const s = a as string[];
          const d = dst as string[];
          for (let i = 0; i < n; i++) d[at + i] = s[i]!;
          break;
        }
      }
    }
    this.runs.addColumn(batch.cols.time_received, n);
    this.length = at + n;
  }

  /**
   * Fill `raw` (a table function's output chunk, already sized to `m` rows)
   * with rows [off, off + m) of the columns `colIdx` (schema indexes, in
   * the chunk's column order).
   */
  fill(raw: duckdb.DataChunk, colIdx: readonly number[], off: number, m: number, zeros: Uint8Array): void {
    for (let o = 0; o < colIdx.length; o++) {
      const c = colIdx[o]!;
      // A virtual column (rowid) DuckDB may ask for: not ours to fill.
      if (c >= KINDS.length) continue;
      const vec = duckdb.data_chunk_get_vector(raw, o);
      const k = KINDS[c]!;
      const st = this.cols[c]!;
      if (k === "string") {
        // A zero string_t is the empty inline string: only non-empty values cost a native call.
        duckdb.copy_data_to_vector(vec, 0, zeros.buffer as ArrayBuffer, 0, m * 16);
        const s = st as string[];
        for (let i = 0; i < m; i++) {
          const v = s[off + i];
          if (v !== undefined && v !== "") duckdb.vector_assign_string_element(vec, i, v);
        }
      } else {
        const t = st as Uint8Array;
        const w = widthOf(k);
        duckdb.copy_data_to_vector(vec, 0, t.buffer as ArrayBuffer, t.byteOffset + off * w, m * w);
      }
    }
  }

  /** Forget the rows (the arrays are kept for the next interval). */
  clear(): void {
    this.length = 0;
    this.runs.clear();
    for (let c = 0; c < KINDS.length; c++) if (KINDS[c] === "string") this.cols[c] = [];
  }
}

export const STAGE_SCAN = "nagare_stage_scan";

/**
 * nagare_stage_scan(i): the rows of stages[i] as a table with flows_raw's
 * columns (schema order), with projection pushdown so an aggregate reads
 * only the columns it needs. The row count is fixed when the scan starts.
 */
export function stageScanFunction(stages: readonly JsStage[]): DuckDBTableFunction {
  const zeros = new Uint8Array(CHUNK_ROWS * 16);
  return DuckDBTableFunction.create({
    name: STAGE_SCAN,
    parameterTypes: [INTEGER],
    supportsProjectionPushdown: true,
    bindFunction: (info) => {
      const i = Number(info.getParameter(0));
      if (!stages[i]) throw new Error(`${STAGE_SCAN}: no stage ${i}`);
      for (let c = 0; c < FLOW_COLUMNS.length; c++) info.addResultColumn(NAMES[c]!, DUCK_TYPE[KINDS[c]!]);
      info.setBindData({ i });
    },
    initFunction: (info) => {
      const { i } = info.bindData as { i: number };
      const cols = info.getColumnIndexes();
      info.setInitData({ i, next: 0, end: stages[i]!.length, cols });
    },
    mainFunction: (info, out) => {
      const st = info.initData as { i: number; next: number; end: number; cols: number[] };
      const m = Math.min(CHUNK_ROWS, st.end - st.next);
      out.rowCount = m;
      if (m <= 0) return;
      stages[st.i]!.fill(out.chunk, st.cols, st.next, m, zeros);
      st.next += m;
    },
  });
}
