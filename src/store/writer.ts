// StoreWriter: the pipeline consumer that puts flow batches into DuckDB.
//
// Path of a row: consume() appends it at once (synchronously, straight from
// the batch's typed arrays) with DuckDB's Appender into an in-memory stage
// table (an attached ':memory:' database), so the pooled batch is never
// retained and the main thread never compresses or writes to disk. Two
// stages alternate: every intervalMs a flush commits the current stage's
// appender, switches consume() to the other stage and, in ONE transaction of
// the database file, copies the stage into flows_raw and aggregates it into
// the rollups (INSERT … ON CONFLICT DO UPDATE: the rollups grow from each
// micro-batch, never from a rescan of flows_raw); the stage is emptied after
// the COMMIT. Raw and rollups therefore always agree, even after kill -9; a
// crash loses the rows not yet committed (the in-memory stages: at most about
// two flush intervals of rows).
//
// Two connections: the appenders' (main thread, synchronous) and the merge's
// (asynchronous). A stage is never appended to while it merges.
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import duckdb from "@duckdb/node-bindings";
import {
  DuckDBDataChunk,
  DuckDBInstance,
  DuckDBTimestampMillisecondsValue,
  type DuckDBAppender,
  type DuckDBType,
  type DuckDBConnection,
} from "@duckdb/node-api";
import type { FlowBatch } from "../collector/batch.js";
import { silentLogger, type Logger } from "../log.js";
import type { FlowConsumer } from "../pipeline/index.js";
import { FLOW_COLUMNS, type ColumnKind } from "../schema.js";
import { defaultStoreConfig, type StoreConfig } from "./config.js";
import { addMissingColumns, migrate } from "./migrate.js";
import { RAW_TABLE, ROLLUPS, STAGE_TABLE, flowColumnsDdl, rollupMergeSql } from "./schema.js";

const DAY_MS = 86_400_000;

export interface StoreWriterOptions {
  config?: Partial<StoreConfig>;
  log?: Logger;
}

export class StoreWriter implements FlowConsumer {
  readonly name = "store";
  readonly config: StoreConfig;
  private readonly log: Logger;
  private instance: DuckDBInstance | null = null;
  private appendConn: DuckDBConnection | null = null;
  private conn: DuckDBConnection | null = null;
  /** The appender rows go to now: appenders[current]. */
  private appender: DuckDBAppender | null = null;
  /** One appender per in-memory stage (double buffering: one fills while the other merges). */
  private appenders: DuckDBAppender[] = [];
  private current = 0;
  /** Reused DataChunk writer (flows_stage column types, in schema order). */
  private chunks: ChunkAppender | null = null;
  /** Append path: DataChunks (default, faster) or row-by-row Appender calls. */
  chunkMode = true;
  private flushTimer: NodeJS.Timeout | null = null;
  private retentionTimer: NodeJS.Timeout | null = null;
  private inflight: Promise<void> | null = null;
  /** Rows appended since the last merge started. */
  private pending = 0;
  /** Rows appended in total. */
  rowsAppended = 0;
  /** Rows merged into flows_raw (committed, queryable). */
  rowsCommitted = 0;
  flushes = 0;
  flushErrors = 0;
  /** consume() calls refused because the store is not started. */
  droppedBatches = 0;
  lastFlushMs = 0;

  constructor(opts: StoreWriterOptions = {}) {
    const d = defaultStoreConfig();
    this.config = {
      ...d,
      ...opts.config,
      retention: { ...d.retention, ...opts.config?.retention },
    };
    this.log = opts.log ?? silentLogger;
  }

  /** The merge connection, for queries by tests and (later) the query layer. */
  get connection(): DuckDBConnection {
    if (!this.conn) throw new Error("StoreWriter not started");
    return this.conn;
  }

  /** The DuckDB instance, for the SQL service's sandbox connections (src/query/sql). */
  get database(): DuckDBInstance {
    if (!this.instance) throw new Error("StoreWriter not started");
    return this.instance;
  }

  async start(): Promise<void> {
    if (this.instance) return;
    if (this.config.path !== ":memory:") mkdirSync(dirname(this.config.path), { recursive: true });
    this.instance = await DuckDBInstance.create(this.config.path);
    this.conn = await this.instance.connect();
    await migrate(this.conn);
    await addMissingColumns(this.conn);
    // Rows a version before the in-memory stage left in the on-disk flows_stage.
    await this.merge(STAGE_TABLE, true);
    // The stages live in an in-memory database of this instance (every
    // connection sees it), in the schema's exact column order, which the
    // appender relies on.
    await this.conn.run(`ATTACH IF NOT EXISTS ':memory:' AS ${MEM_DB}`);
    for (const t of MEM_STAGES) {
      await this.conn.run(`CREATE OR REPLACE TABLE ${MEM_DB}.main.${t} (\n${flowColumnsDdl()}\n)`);
    }
    this.appendConn = await this.instance.connect();
    const aps: DuckDBAppender[] = [];
    for (const t of MEM_STAGES) aps.push(await this.appendConn.createAppender(t, "main", MEM_DB));
    this.appenders = aps;
    this.current = 0;
    this.appender = aps[0]!;
    const ap = this.appender;
    this.chunks = new ChunkAppender(FLOW_COLUMNS.map((_, i) => ap.columnType(i)));
    this.flushTimer = setInterval(() => void this.flush(), this.config.intervalMs);
    this.flushTimer.unref();
    this.retentionTimer = setInterval(() => {
      this.runRetention().catch((err: unknown) =>
        this.log.limited("store:retention", "error", "store retention failed", { error: String(err) }),
      );
    }, this.config.retention.intervalMs);
    this.retentionTimer.unref();
  }

  consume(batch: FlowBatch): void {
    const ap = this.appender;
    if (!ap) {
      this.droppedBatches++;
      return;
    }
    const n = batch.length;
    if (this.chunkMode && this.chunks) this.chunks.append(ap, batch);
    else appendRows(ap, batch);
    this.pending += n;
    this.rowsAppended += n;
  }

  /**
   * Commit appended rows and merge them into flows_raw and the rollups. Runs
   * one at a time; a call during a merge waits for it and then flushes again.
   */
  async flush(): Promise<void> {
    while (this.inflight) await this.inflight;
    if (this.pending === 0) return;
    this.inflight = this.flushOnce();
    await this.inflight;
    this.inflight = null;
  }

  /** One flush; never rejects (a failure is counted and logged). */
  private async flushOnce(): Promise<void> {
    const t0 = performance.now();
    try {
      // Switch stages first: consume() fills the other one while this one merges.
      const src = this.current;
      this.appenders[src]?.flushSync();
      this.current = src ^ 1;
      this.appender = this.appenders[this.current] ?? null;
      this.pending = 0;
      await this.merge(stageName(src), false);
      this.flushes++;
      this.lastFlushMs = performance.now() - t0;
    } catch (err) {
      // Rows stay in their stage (the merge rolled back); a later flush of that stage retries them.
      this.flushErrors++;
      this.log.limited("store:flush", "error", "store flush failed", { error: String(err) });
    }
  }

  /**
   * Move every row of `stage` into flows_raw and the rollups in ONE
   * transaction of the database file. An on-disk stage is emptied in that
   * transaction too; an in-memory stage (another database: DuckDB lets one
   * transaction write only one) is emptied right after the commit. A crash
   * in between loses the in-memory rows with the process, so nothing is ever
   * merged twice.
   */
  private async merge(stage: string, sameDb: boolean): Promise<void> {
    const conn = this.connection;
    await conn.run("BEGIN TRANSACTION");
    let n = 0;
    try {
      const moved = await conn.runAndReadAll(
        `INSERT INTO ${RAW_TABLE} (${COLUMN_LIST}) SELECT ${COLUMN_LIST} FROM ${stage}`,
      );
      n = Number(moved.getRowsJS()[0]?.[0] ?? 0);
      if (n > 0) {
        for (const r of ROLLUPS) await conn.run(rollupMergeSql(r, stage));
        if (sameDb) await conn.run(`DELETE FROM ${stage}`);
      }
      await conn.run("COMMIT");
    } catch (err) {
      await conn.run("ROLLBACK").catch(() => {});
      throw err;
    }
    this.rowsCommitted += n;
    // Committed: a failure here would merge the rows again, so it is fatal to the stage's contents either way.
    if (n > 0 && !sameDb) await conn.run(`DELETE FROM ${stage}`);
  }

  /** Delete rows older than each table's retention (flows_raw by time_received, rollups by bucket). */
  async runRetention(nowMs = Date.now()): Promise<void> {
    const conn = this.connection;
    const r = this.config.retention;
    const cut = (days: number): string => `epoch_ms(${Math.floor(nowMs - days * DAY_MS)})`;
    await conn.run(`DELETE FROM ${RAW_TABLE} WHERE time_received < ${cut(r.rawDays)}`);
    const [m, h] = ROLLUPS;
    await conn.run(`DELETE FROM ${m!.table} WHERE bucket < ${cut(r.minuteDays)}`);
    await conn.run(`DELETE FROM ${h!.table} WHERE bucket < ${cut(r.hourDays)}`);
  }

  /** Flush everything received, then close: a clean stop loses nothing. */
  async stop(): Promise<void> {
    if (!this.instance) return;
    if (this.flushTimer) clearInterval(this.flushTimer);
    if (this.retentionTimer) clearInterval(this.retentionTimer);
    this.flushTimer = this.retentionTimer = null;
    await this.flush();
    for (const ap of this.appenders) ap.closeSync();
    this.appenders = [];
    this.appender = null;
    // closeSync flushed the appenders into their stages; merge what a failed flush left there.
    for (let s = 0; s < MEM_STAGES.length; s++) {
      await this.merge(stageName(s), false).catch((err: unknown) =>
        this.log.error("store final merge failed (staged rows lost)", { error: String(err) }),
      );
    }
    this.appendConn?.closeSync();
    this.conn?.closeSync();
    this.instance.closeSync();
    this.appendConn = this.conn = null;
    this.instance = null;
  }
}

/** The in-memory database holding the stages (attached to the store's instance). */
const MEM_DB = "nagare_stage";
const MEM_STAGES = ["stage_0", "stage_1"] as const;
function stageName(i: number): string {
  return `${MEM_DB}.main.${MEM_STAGES[i]!}`;
}

const KINDS: readonly ColumnKind[] = FLOW_COLUMNS.map((c) => c.kind);
/** By name, so a column added later (at the end of flows_raw) still lines up. */
const COLUMN_LIST = FLOW_COLUMNS.map((c) => c.name).join(", ");
type ColArray = Float64Array | Uint8Array | Uint16Array | Uint32Array | string[];

function columnsOf(batch: FlowBatch): ColArray[] {
  const cols = batch.cols as unknown as Record<string, ColArray>;
  return FLOW_COLUMNS.map((c) => cols[c.name]!);
}

/** Row by row through the Appender: one native call per value. */
function appendRows(ap: DuckDBAppender, batch: FlowBatch): void {
  const arrs = columnsOf(batch);
  for (let i = 0; i < batch.length; i++) {
    for (let c = 0; c < KINDS.length; c++) {
      const a = arrs[c]!;
      switch (KINDS[c]) {
        case "time":
          // The schema's ms are exact integers.
          ap.appendTimestampMilliseconds(
            new DuckDBTimestampMillisecondsValue(BigInt(Math.round(a[i] as number))),
          );
          break;
        case "u8":
          ap.appendUTinyInt(a[i] as number);
          break;
        case "u16":
          ap.appendUSmallInt(a[i] as number);
          break;
        case "u32":
          ap.appendUInteger(a[i] as number);
          break;
        case "u64":
        case "mac":
          // DuckDB casts the double to UBIGINT exactly (integers < 2^53); no BigInt per value.
          ap.appendDouble(a[i] as number);
          break;
        case "ip":
          ap.appendBlob((a as Uint8Array).subarray(i * 16, i * 16 + 16));
          break;
        case "string":
          ap.appendVarchar(a[i] as string);
          break;
      }
    }
    ap.endRow();
  }
}

/**
 * Column by column through one reused DataChunk, written with the raw vector
 * bindings: a numeric column is ONE memcpy from the batch's typed array into
 * DuckDB's vector (u8/u16/u32 have the same layout on both sides); time, u64
 * and mac (exact-integer doubles) become int64 in a scratch buffer with two
 * uint32 stores per value (no BigInt, no value object); VARCHAR columns are
 * zeroed (a zero string_t is the empty inline string) and only non-empty
 * values cost a native call. BLOB (ip) values are 16 bytes, longer than
 * DuckDB's 12-byte inline strings, so each needs the heap-assigning call:
 * that is the remaining per-value cost (see BENCHMARKS.md "Store ingest").
 */
class ChunkAppender {
  private readonly chunk: DuckDBDataChunk;
  private readonly int64 = new Uint32Array(CHUNK_ROWS * 2);
  private readonly zeros = new Uint8Array(CHUNK_ROWS * 16);

  /** One chunk's ip values, copied here so that the 16-byte views below are made once, not per value. */
  private readonly ipBytes = new Uint8Array(CHUNK_ROWS * 16);
  private readonly ipWords = new Uint32Array(this.ipBytes.buffer);
  private readonly ipViews = Array.from({ length: CHUNK_ROWS }, (_, i) =>
    this.ipBytes.subarray(i * 16, i * 16 + 16),
  );
  private readonly ipDup = new Uint8Array(CHUNK_ROWS);

  constructor(types: readonly DuckDBType[]) {
    this.chunk = DuckDBDataChunk.create(types);
  }

  /**
   * A BLOB column: one heap-assigning call per value that differs from the
   * row above; a repeat (exporter_address within a batch, unset next hops)
   * gets a copy of the row above's string_t, which points at the same bytes
   * in the vector's string heap — one vector read and write per chunk
   * instead of a native call per row.
   */
  private appendIps(vec: duckdb.Vector, ip: Uint8Array, off: number, m: number): void {
    const b = this.ipBytes;
    const w = this.ipWords;
    const dup = this.ipDup;
    b.set(ip.subarray(off * 16, (off + m) * 16));
    let dups = 0;
    for (let i = 0; i < m; i++) {
      const k = i * 4;
      if (
        i > 0 &&
        w[k] === w[k - 4] &&
        w[k + 1] === w[k - 3] &&
        w[k + 2] === w[k - 2] &&
        w[k + 3] === w[k - 1]
      ) {
        dup[i] = 1;
        dups++;
      } else {
        dup[i] = 0;
        duckdb.vector_assign_string_element_len(vec, i, this.ipViews[i]!);
      }
    }
    if (dups === 0) return;
    const st = duckdb.vector_get_data(vec, m * 16);
    // In row order, so a run of repeats copies from an already patched row.
    for (let i = 1; i < m; i++) if (dup[i] === 1) st.copyWithin(i * 16, (i - 1) * 16, i * 16);
    duckdb.copy_data_to_vector(vec, 0, st.buffer as ArrayBuffer, st.byteOffset, m * 16);
  }

  append(ap: DuckDBAppender, batch: FlowBatch): void {
    const arrs = columnsOf(batch);
    const raw = this.chunk.chunk;
    for (let off = 0; off < batch.length; off += CHUNK_ROWS) {
      const m = Math.min(CHUNK_ROWS, batch.length - off);
      duckdb.data_chunk_reset(raw);
      for (let c = 0; c < KINDS.length; c++) {
        const a = arrs[c]!;
        const vec = duckdb.data_chunk_get_vector(raw, c);
        switch (KINDS[c]) {
          case "time":
          case "u64":
          case "mac": {
            // Exact integers in [0, 2^53): ToUint32 of x is its low word, of x / 2^32 its high word.
            const f = a as Float64Array;
            const w = this.int64;
            for (let i = 0; i < m; i++) {
              const x = f[off + i]!;
              w[2 * i] = x >>> 0;
              w[2 * i + 1] = (x / 4294967296) >>> 0;
            }
            duckdb.copy_data_to_vector(vec, 0, w.buffer, 0, m * 8);
            break;
          }
          case "u8":
          case "u16":
          case "u32": {
            const t = a as Uint8Array | Uint16Array | Uint32Array;
            const bpe = t.BYTES_PER_ELEMENT;
            duckdb.copy_data_to_vector(vec, 0, t.buffer as ArrayBuffer, t.byteOffset + off * bpe, m * bpe);
            break;
          }
          case "ip":
            this.appendIps(vec, a as Uint8Array, off, m);
            break;
          case "string": {
            const s = a as string[];
            duckdb.copy_data_to_vector(vec, 0, this.zeros.buffer, 0, m * 16);
            for (let i = 0; i < m; i++) {
              const v = s[off + i]!;
              if (v !== "") duckdb.vector_assign_string_element(vec, i, v);
            }
            break;
          }
        }
      }
      duckdb.data_chunk_set_size(raw, m);
      ap.appendDataChunk(this.chunk);
    }
  }
}

/** DuckDB's vector size: the most rows one DataChunk holds. */
const CHUNK_ROWS = 2048;
