// StoreWriter: the pipeline consumer that puts flow batches into DuckDB.
//
// Path of a row: consume() appends it at once (synchronously, straight from
// the batch's typed arrays) with DuckDB's Appender into flows_stage, so the
// pooled batch is never retained. Every intervalMs a flush commits the
// appender and then, in ONE transaction, copies flows_stage into flows_raw,
// aggregates it into the rollups (INSERT … ON CONFLICT DO UPDATE: the rollups
// grow from each micro-batch, never from a rescan of flows_raw) and empties
// it. Raw and rollups therefore always agree, even after kill -9: a crash
// before COMMIT leaves the rows staged and start() merges them.
//
// Two connections: the appender's (main thread, synchronous) and the merge's
// (asynchronous). DuckDB's MVCC keeps them apart: the merge sees only the
// staged rows committed before it began and deletes exactly those.
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import {
  DuckDBBlobValue,
  DuckDBDataChunk,
  DuckDBInstance,
  DuckDBTimestampMillisecondsValue,
  type DuckDBAppender,
  type DuckDBType,
  type DuckDBValue,
  type DuckDBVector,
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
  private appender: DuckDBAppender | null = null;
  /** Column types of flows_stage, in schema order (from the appender). */
  private types: DuckDBType[] = [];
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

  async start(): Promise<void> {
    if (this.instance) return;
    if (this.config.path !== ":memory:") mkdirSync(dirname(this.config.path), { recursive: true });
    this.instance = await DuckDBInstance.create(this.config.path);
    this.conn = await this.instance.connect();
    await migrate(this.conn);
    await addMissingColumns(this.conn);
    // Rows staged by a run that died before its merge committed.
    await this.merge();
    // Empty now: recreate it in the schema's exact column order, which the appender relies on.
    await this.conn.run(`DROP TABLE ${STAGE_TABLE}; CREATE TABLE ${STAGE_TABLE} (\n${flowColumnsDdl()}\n)`);
    this.appendConn = await this.instance.connect();
    this.appender = await this.appendConn.createAppender(STAGE_TABLE);
    const ap = this.appender;
    this.types = FLOW_COLUMNS.map((_, i) => ap.columnType(i));
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
    if (this.chunkMode) appendChunks(ap, this.types, batch);
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
      this.appender?.flushSync();
      this.pending = 0;
      await this.merge();
      this.flushes++;
      this.lastFlushMs = performance.now() - t0;
    } catch (err) {
      // Rows stay in flows_stage (the merge rolled back); the next flush retries them.
      this.flushErrors++;
      this.log.limited("store:flush", "error", "store flush failed", { error: String(err) });
    }
  }

  private async merge(): Promise<void> {
    const conn = this.connection;
    await conn.run("BEGIN TRANSACTION");
    try {
      const moved = await conn.runAndReadAll(
        `INSERT INTO ${RAW_TABLE} (${COLUMN_LIST}) SELECT ${COLUMN_LIST} FROM ${STAGE_TABLE}`,
      );
      const n = Number(moved.getRowsJS()[0]?.[0] ?? 0);
      if (n > 0) {
        for (const r of ROLLUPS) await conn.run(rollupMergeSql(r));
        await conn.run(`DELETE FROM ${STAGE_TABLE}`);
      }
      await conn.run("COMMIT");
      this.rowsCommitted += n;
    } catch (err) {
      await conn.run("ROLLBACK").catch(() => {});
      throw err;
    }
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
    this.appender?.closeSync();
    this.appender = null;
    // closeSync flushed whatever a failed flush left in the appender into stage; merge it.
    await this.merge().catch((err: unknown) =>
      this.log.error("store final merge failed (rows stay staged)", { error: String(err) }),
    );
    this.appendConn?.closeSync();
    this.conn?.closeSync();
    this.instance.closeSync();
    this.appendConn = this.conn = null;
    this.instance = null;
  }
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
 * Column by column through DataChunks: numeric vectors are filled in JS
 * typed arrays and copied to DuckDB with one native call per column; only
 * BLOB/VARCHAR values cost a native call each.
 */
function appendChunks(ap: DuckDBAppender, types: readonly DuckDBType[], batch: FlowBatch): void {
  const arrs = columnsOf(batch);
  for (let off = 0; off < batch.length; off += CHUNK_ROWS) {
    const m = Math.min(CHUNK_ROWS, batch.length - off);
    const chunk = DuckDBDataChunk.create(types, m);
    for (let c = 0; c < KINDS.length; c++) {
      const a = arrs[c]!;
      const v = chunk.getColumnVector(c) as DuckDBVector<DuckDBValue>;
      switch (KINDS[c]) {
        case "time":
          for (let i = 0; i < m; i++) {
            v.setItem(i, new DuckDBTimestampMillisecondsValue(BigInt(Math.round(a[off + i] as number))));
          }
          break;
        case "u8":
        case "u16":
        case "u32":
          for (let i = 0; i < m; i++) v.setItem(i, a[off + i] as number);
          break;
        case "u64":
        case "mac":
          for (let i = 0; i < m; i++) v.setItem(i, BigInt(a[off + i] as number));
          break;
        case "ip": {
          const ip = a as Uint8Array;
          for (let i = 0; i < m; i++) {
            const o = (off + i) * 16;
            v.setItem(i, new DuckDBBlobValue(ip.subarray(o, o + 16)));
          }
          break;
        }
        case "string":
          for (let i = 0; i < m; i++) v.setItem(i, a[off + i] as string);
          break;
      }
      v.flush();
    }
    ap.appendDataChunk(chunk);
  }
}

/** DuckDB's vector size: the most rows one DataChunk holds. */
const CHUNK_ROWS = 2048;
