// StoreWriter: the pipeline consumer that puts flow batches into DuckDB.
//
// Path of a row: consume() appends it at once (synchronously, straight from
// the batch's typed arrays) with DuckDB's Appender into an in-memory stage
// table (an attached ':memory:' database), so the pooled batch is never
// retained and the main thread never compresses or writes to disk.
//
// Visible, then durable (src/store/live.ts): the current stage is in the
// view flows_hot from the moment it becomes current, and readers read
// flows_live = flows_raw + flows_hot's stages not yet durable. Every
// intervalMs / 2 a publish step flushes the appender into the stage's
// table: from then on its rows are visible to SQL, whatever the file is
// doing. The file committer, on its own connection, switches consume() to a
// free stage and copies the stage left into flows_raw in one transaction of
// the database file, which also moves nagare_hot_mark past the stage; from
// that COMMIT the rows are durable (and read from flows_raw). It commits
// once per publish step while commits are quick, back to back while a
// commit outlasts the period (a checkpoint in the COMMIT, a busy machine):
// the next stage then holds what arrived meanwhile, so commits grow and
// keep up as far as the machine can. A crash (kill -9) loses what was not
// yet committed: with the collector's partial batch (≤ 100 ms) at most the
// last intervalMs while commits take under half an interval less 100 ms
// (docs/store.md "Durability"). The committed stages' rollup aggregation
// (into in-memory pending tables) runs on a connection of its own — every
// stage committed meanwhile in one pass; a stage leaves flows_hot
// RETIRE_AFTER_MS after its COMMIT and is freed once aggregated.
//
// Rollups (src/store/rollups.ts) are narrow and append-only: when a flush
// commits a row at least CLOSE_GRACE_MS past a bucket's end, that bucket is
// closed: its pending rows are written once, sorted, to the set's finest
// table, the coarser tables are summed from the finer ones, and the
// watermarks in nagare_rollup_state move, all in one transaction. Queries
// read a rollup below its watermark and flows_raw above it, so raw and
// rollups never count a flow twice or miss one. On start, the pending tables
// are rebuilt from the flows_raw rows at or after each set's finest
// watermark (the open buckets only).
//
// Column activation: the stages hold the enrichment columns
// (ENRICHMENT_COLUMNS, src/schema.ts) only once one has carried a value in
// this process — DuckDB's appender and the copy pay per column even for
// NULLs — and the copy into flows_raw writes NULL / 0 for the absent ones.
// When the shape grows, batches are held (retained) until the next commit
// switches to a stage recreated in the new shape (docs/store.md "Column
// activation").
//
// Four connections: the appenders' (main thread, synchronous), the
// publisher's (stage tables and flows_hot: in-memory DDL, one statement at a
// time through onPub), the file commits' and the rollup aggregations' (all
// asynchronous). A stage is never appended to while it is committed or
// aggregated. Each row's delay from time_received to the publish step that
// made it visible feeds the freshness window, and to its COMMIT the
// durability window (freshness.ts).
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
import { ENRICHMENT_COLUMNS, FLOW_COLUMNS, type ColumnKind } from "../schema.js";
import { defaultStoreConfig, type StoreConfig } from "./config.js";
import { FreshnessWindow, ReceiveRuns, type FreshnessSnapshot } from "./freshness.js";
import { rawInsertStatements } from "./layout.js";
import {
  HOT_MARK_TABLE,
  LIVE_COLUMNS,
  LIVE_DB,
  RETIRE_AFTER_MS,
  hotNoneSql,
  hotSelect,
  defineHot,
  type HotStage,
} from "./live.js";
import { addMissingColumns, migrate } from "./migrate.js";
import { Retention, type RetentionStats } from "./retention.js";
import {
  RES_MS,
  ROLLUP_SETS,
  ROLLUP_STATE_TABLE,
  aggregateFlowsSql,
  closableUntil,
  pendingDdl,
  reaggregateSql,
  rollupTable,
  sumsSql,
  TOPK_TABLES,
  topKRefreshSql,
  type RollupSet,
} from "./rollups.js";
import { RAW_SEQ_COLUMN, RAW_TABLE, STAGE_TABLE, flowColumnsDdl, rawTimeSql } from "./schema.js";

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
  /** The publisher's connection: stage tables and the flows_hot view (in-memory DDL only, never delayed by a file commit). */
  private pubConn: DuckDBConnection | null = null;
  /** The in-memory stages (grown on demand up to MAX_STAGES). */
  private stages: Stage[] = [];
  /** The stage consume() appends to now. */
  private cur: Stage | null = null;
  /**
   * The columns appended now (see "Column activation" in docs/store.md):
   * every column but the enrichment ones, plus each enrichment column that
   * has carried a value since start(). Grows, never shrinks.
   */
  private shape: StageShape = makeShape(BASE_COLUMNS);
  /** Enrichment columns (indexes into FLOW_COLUMNS) not appended yet: scanned in each batch. */
  private inactive: number[] = enrichmentIndexes();
  /**
   * Batches received since the shape grew, kept (retained) until a stage of
   * the new shape is current: the current stage's table lacks a column they
   * carry. Appended first into that stage, in arrival order.
   */
  private deferred: FlowBatch[] = [];
  /** Append path: DataChunks (default, faster) or row-by-row Appender calls. */
  chunkMode = true;
  private flushTimer: NodeJS.Timeout | null = null;
  private retention: Retention | null = null;
  /** performance.now() of the last switch (a file commit starts at a publish step at least half an interval after it). */
  private lastSwitch = 0;
  /** The retirement running now (started by a publish step). */
  private retiring: Promise<void> | null = null;
  /** What runs on pubConn, in order (onPub). */
  private pubChain: Promise<unknown> = Promise.resolve();
  /** The publish step running now (appender flush, retire): one at a time. */
  private pubInflight: Promise<void> | null = null;
  /** A timer tick came while a publish step ran: run another right after it (ticks never pile up). */
  private publishAgain = false;
  /** The file committer running now (commitLoop): one at a time. */
  private committing: Promise<void> | null = null;
  /** The file's catalog name (flows_live's definition names it). */
  private fileDb = "";
  /** Published stages not yet copied into flows_raw, in seq order. */
  private toCommit: Stage[] = [];
  /** The stages flows_hot shows now, in seq order. */
  private hot: Stage[] = [];
  /** The newest stage sequence number given (nagare_hot_mark holds the newest one made durable). */
  private seq = 0;
  /** Rows appended to the current stage's appender and not yet flushed into its table. */
  private unflushed = 0;
  /** Rows appended in total. */
  rowsAppended = 0;
  /** Rows published (visible to SQL through flows_live). */
  rowsVisible = 0;
  /** Rows copied into flows_raw (durable; visible in flows_raw itself). */
  rowsCommitted = 0;
  /** Stages published (switches that left rows behind). */
  stagesPublished = 0;
  /** File commits (each copies every stage published since the previous one). */
  flushes = 0;
  flushErrors = 0;
  /** Failed redefinitions of flows_hot (those rows became visible at their file commit instead). */
  publishErrors = 0;
  /** consume() calls refused because the store is not started. */
  droppedBatches = 0;
  /** Duration of the last file commit, ms. */
  lastFlushMs = 0;
  /** The rollup aggregations of committed stages, one after the other, on their own connection. */
  private aggChain: Promise<void> = Promise.resolve();
  /** Committed stages waiting for their rollup aggregation, in commit order (aggregated together). */
  private aggQueue: Stage[] = [];
  /** When the pending tables were last compacted (performance.now()). */
  private lastCompact = 0;
  private aggConn: DuckDBConnection | null = null;
  /**
   * Newest time_received committed AND aggregated into the pending tables
   * (epoch ms): buckets close relative to it (not to the wall clock), so a
   * bucket never closes before all its committed rows are in pending.
   */
  private newestCommitted = 0;
  /** Closed-until watermark (epoch ms) of each rollup table; absent: nothing closed yet. */
  private readonly closed = new Map<string, number>();
  /**
   * Told when rows change below a rollup table's watermark: late rows of its
   * buckets from `fromMs` on, or (table "*") rows deleted by the disk budget.
   * Caches of closed buckets (src/query/seconds.ts) reload what changed.
   */
  readonly rollupChanged: ((table: string, fromMs: number) => void)[] = [];
  /** Rollup buckets written (closes that wrote at least one table). */
  rollupCloses = 0;
  rollupErrors = 0;
  /** Delay from time_received to the moment a row became visible to SQL (published), over the last 60 s. */
  readonly freshnessWindow = new FreshnessWindow(60);
  /** Delay from time_received to the file COMMIT that made a row durable, over the last 60 s. */
  readonly durableWindow = new FreshnessWindow(60);

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
    // NAGARE_STORE_CHECKPOINT_THRESHOLD (e.g. 64MB): DuckDB's automatic checkpoint threshold, for A/B runs (docs/store.md).
    const ckpt = process.env.NAGARE_STORE_CHECKPOINT_THRESHOLD;
    if (ckpt && /^\d+(\.\d+)?\s*[KMGT]i?B$/.test(ckpt))
      await this.conn.run(`SET checkpoint_threshold = '${ckpt}'`);
    await addMissingColumns(this.conn);
    // The stages, the rollups' pending tables and the flows_hot / flows_live
    // views live in an in-memory database of this instance (every connection
    // sees it); the stages in the schema's exact column order, which the
    // appender relies on.
    await this.conn.run(`ATTACH IF NOT EXISTS ':memory:' AS ${LIVE_DB}`);
    await this.conn.run(`CREATE TABLE IF NOT EXISTS ${HOT_MARK_TABLE} (seq BIGINT NOT NULL)`);
    await this.conn.run(
      `INSERT INTO ${HOT_MARK_TABLE} SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM ${HOT_MARK_TABLE})`,
    );
    this.seq = Number(
      (await this.conn.runAndReadAll(`SELECT max(seq) FROM ${HOT_MARK_TABLE}`)).getRowsJS()[0]?.[0] ?? 0,
    );
    const db = (await this.conn.runAndReadAll("SELECT current_database()")).getRowsJS()[0]![0] as string;
    this.fileDb = db;
    await this.conn.run(hotNoneSql());
    await defineHot(this.conn, db, []);
    this.hot = [];
    this.toCommit = [];
    this.shape = makeShape(BASE_COLUMNS);
    this.inactive = enrichmentIndexes();
    await this.loadRollupState();
    // Rows a version before the in-memory stage left in the on-disk flows_stage.
    await this.merge(STAGE_TABLE);
    this.appendConn = await this.instance.connect();
    // The in-memory database as default: its statements name nothing else, and with the file as
    // default the publish step's appender flush (main thread) waited behind the file's commits
    // (flushSync up to 832 ms at 100 k flows/s; after: at most 300–590 ms, CPU-bound).
    await this.appendConn.run(`USE ${LIVE_DB}`);
    this.aggConn = await this.instance.connect();
    this.pubConn = await this.instance.connect();
    // Likewise: its statements name the file only inside flows_live's definition.
    await this.pubConn.run(`USE ${LIVE_DB}`);
    this.stages = [];
    for (let s = 0; s < INITIAL_STAGES; s++) await this.newStage();
    this.cur = this.stages[0]!;
    this.cur.state = "filling";
    this.cur.seq = ++this.seq;
    // The current stage is in flows_hot as it fills: each publish step's appender flush makes its rows visible.
    if (!(await this.show(this.cur))) throw new Error("store: flows_hot could not be defined");
    this.shape.chunks ??= new ChunkAppender(this.cur.appender!, this.shape.cols);
    this.lastCompact = performance.now();
    // A publish step every half interval: a row waits at most that long in
    // its stage before it is visible; its file commit follows (durable, safe
    // from a kill -9) — within one interval while commits keep up (docs/store.md
    // "Durability").
    this.flushTimer = setInterval(() => this.tick(), publishPeriodMs(this.config.intervalMs));
    this.flushTimer.unref();
    // Retention (age and disk budget) runs on its own timer: src/store/retention.ts.
    this.retention = new Retention({
      db: () => this.database,
      config: this.config.retention,
      log: this.log,
      onBudgetDelete: () => this.notifyRollupChanged("*", 0),
    });
    this.retention.start();
  }

  consume(batch: FlowBatch): void {
    const n = batch.length;
    const cur = this.cur;
    if (!cur?.appender) {
      this.droppedBatches++;
      return;
    }
    if (this.inactive.length > 0) this.activate(batch);
    this.rowsAppended += n;
    if (cur.shape !== this.shape) {
      // The current stage lacks a column this batch (or one before it) carries: kept until the next switch.
      this.deferred.push(batch.retain());
      return;
    }
    this.appendCurrent(cur, batch);
  }

  /**
   * Column activation: an enrichment column joins the stage shape at its
   * first non-empty value (a scan of each still-inactive column, stopping at
   * the first value; 30 columns × rows compared per batch while nothing is
   * configured). The shape grows at most once per column per process.
   */
  private activate(batch: FlowBatch): void {
    const cols = batch.cols as unknown as Record<string, ColArray>;
    const n = batch.length;
    let grew = false;
    for (let k = 0; k < this.inactive.length;) {
      const c = this.inactive[k]!;
      if (carriesValue(cols[FLOW_COLUMNS[c]!.name]!, n)) {
        this.inactive.splice(k, 1);
        grew = true;
      } else k++;
    }
    if (!grew) return;
    const active = FLOW_COLUMNS.map((_, i) => !this.inactive.includes(i));
    this.shape = makeShape(active);
    this.log.info("store: enrichment columns appended from now on", {
      columns: this.shape.cols.filter((c) => ENRICHMENT_COLUMNS.has(FLOW_COLUMNS[c]!.name)).length,
    });
  }

  /** Append a batch to stage `st` (the current one, whose shape is this.shape). */
  private appendCurrent(st: Stage, batch: FlowBatch): void {
    const n = batch.length;
    const ap = st.appender!;
    if (this.chunkMode && st.shape.chunks) st.shape.chunks.append(ap, batch);
    else appendRows(ap, batch, st.shape.cols);
    // The appender buffers the stage and flushes it into the table
    // synchronously (~1-4 µs per row: table statistics, row-group appends)
    // at the switch, a stall every row of the stage waits for: bounded here.
    if ((this.unflushed += n) >= APPEND_FLUSH_ROWS) {
      ap.flushSync();
      this.unflushed = 0;
    }
    st.runs.addColumn(batch.cols.time_received, n);
    st.fresh.addColumn(batch.cols.time_received, n);
    st.freshRows += n;
    st.rows += n;
  }

  /**
   * Freshness over the last 60 s: p50/p99/max of the delay from each row's
   * time_received (UDP receipt) to the moment it became visible to SQL.
   */
  freshness(nowMs = Date.now()): FreshnessSnapshot {
    return this.freshnessWindow.snapshot(nowMs);
  }

  /** The same delay to the file COMMIT that made each row durable. */
  durability(nowMs = Date.now()): FreshnessSnapshot {
    return this.durableWindow.snapshot(nowMs);
  }

  /** The timer: start a publish step, or, while one runs, ask for another right after it. */
  private tick(): void {
    if (this.pubInflight) {
      this.publishAgain = true;
      return;
    }
    void this.publish().then(() => {
      // The step outlasted the period: its successor's rows already waited a period.
      if (this.publishAgain && this.flushTimer) {
        this.publishAgain = false;
        this.tick();
      }
    });
  }

  /**
   * Publish every appended row, copy it into flows_raw and aggregate it into
   * the rollups: on return, what was appended before the call is durable
   * (unless a commit failed: flushErrors counts it, and the rows stay
   * visible in their stage and are retried).
   */
  async flush(): Promise<void> {
    // The current stage now: it and every stage before it are committed on return; batches deferred
    // (column activation) go into the next current stage at the switch, so that one too.
    const upTo = this.seq + (this.deferred.length > 0 ? 1 : 0);
    await this.publish();
    await this.commitAll(upTo);
    // The timer's steps do not wait for this; an explicit flush() (tests, history, stop) does.
    await this.aggChain;
  }

  /** One publish step at a time; a call during one waits for it, then runs its own. */
  private async publish(): Promise<void> {
    while (this.pubInflight) await this.pubInflight;
    this.pubInflight = this.publishOnce();
    await this.pubInflight;
    this.pubInflight = null;
  }

  /**
   * One publish step; never rejects (failures are counted and logged): the
   * current stage's appender is flushed into its table — in flows_hot since
   * the stage became current, so its rows are visible from here on — the
   * file committer is started, and stages durable long enough leave
   * flows_hot (and, once aggregated, are freed).
   */
  private async publishOnce(): Promise<void> {
    const cur = this.cur;
    if (cur) {
      if (this.unflushed > 0) {
        const ts = TRACE ? performance.now() : 0;
        cur.appender?.flushSync();
        this.unflushed = 0;
        if (TRACE)
          trace("publish", {
            rows: cur.freshRows,
            flushSyncMs: performance.now() - ts,
            hot: this.hot.length,
          });
      }
      if (cur.shown) this.recordVisible(cur, Date.now());
      // Not in flows_hot yet (its definition is queued, or failed: then this retries it); not
      // awaited, the next step's flush never waits for the publisher's connection. Recorded when in.
      else if (cur.rows > 0)
        void this.show(cur).then((ok) => {
          if (ok && this.cur === cur) this.recordVisible(cur, Date.now());
        });
    }
    // The file commits keep their own period (half an interval): more would only cost more COMMITs.
    if (performance.now() - this.lastSwitch >= commitPeriodMs(this.config.intervalMs)) this.kickCommit();
    // Not awaited: the next step's appender flush never waits for a retirement's DDL.
    if (!this.retiring)
      this.retiring = this.retire(false).finally(() => {
        this.retiring = null;
      });
  }

  /** Rows of `st` flushed into its table since the last record are visible (st is in flows_hot): their delay. */
  private recordVisible(st: Stage, now: number): void {
    if (st.freshRows === 0) return;
    this.freshnessWindow.addRuns(st.fresh, now);
    this.rowsVisible += st.freshRows;
    st.fresh.clear();
    st.freshRows = 0;
  }

  /** Run `fn` on the publisher's connection after what is queued there (the flows_hot definitions stay in order). */
  private onPub<T>(fn: (c: DuckDBConnection) => Promise<T>): Promise<T> {
    const p = this.pubChain.then(() => fn(this.pubConn!));
    this.pubChain = p.catch(() => undefined);
    return p;
  }

  /** Stage `st` joins flows_hot; false (counted, logged, retried at the next step) on failure. */
  private async show(st: Stage): Promise<boolean> {
    const t = TRACE ? performance.now() : 0;
    try {
      await this.onPub(async (c) => {
        // From this.hot as it is when the statement runs (retire() changes it in the same order);
        // once only (a publish step may retry a stage whose definition is still queued).
        if (this.hot.includes(st)) return;
        const want = [...this.hot, st];
        await defineHot(c, this.fileDb, want.map(hotStage));
        this.hot = want;
      });
    } catch (err) {
      this.publishErrors++;
      this.log.limited("store:publish", "error", "store publish failed", { error: String(err) });
      return false;
    }
    st.shown = true;
    if (TRACE) trace("show", { seq: st.seq, viewMs: performance.now() - t, hot: this.hot.length });
    return true;
  }

  /** Start the file committer unless it runs. */
  private kickCommit(): void {
    if (this.committing) return;
    this.committing = this.commitLoop(null).finally(() => {
      this.committing = null;
    });
  }

  /**
   * The file committer: switch consume() to a fresh stage, copy the stages
   * left (every one waiting) into flows_raw in one transaction, and again
   * right away while a commit outlasts the period — so a stage holds what
   * arrived during the previous commit, and commits keep up by growing, as
   * long as the machine can. With `upTo` (flush(), stop()): until every
   * stage of sequence number ≤ upTo is committed, however quick. Stops at a
   * failure (retried at the next step).
   */
  private async commitLoop(upTo: number | null): Promise<void> {
    for (;;) {
      const cur = this.cur;
      if (cur && (cur.rows > 0 || this.deferred.length > 0) && (upTo === null || cur.seq <= upTo))
        if (!(await this.switchStage())) return;
      if (this.toCommit.length === 0) return;
      const batch = this.toCommit.slice();
      const t = performance.now();
      if (!(await this.commitStages(batch))) return;
      this.toCommit.splice(0, batch.length);
      if (
        upTo !== null ? this.cur!.seq > upTo : performance.now() - t < commitPeriodMs(this.config.intervalMs)
      )
        return;
    }
  }

  /** Wait for the committer, then commit every stage of sequence number ≤ upTo (or until a commit fails). */
  private async commitAll(upTo = this.seq + (this.deferred.length > 0 ? 1 : 0)): Promise<void> {
    while (this.committing) await this.committing;
    this.committing = this.commitLoop(upTo).finally(() => {
      this.committing = null;
    });
    await this.committing;
  }

  /**
   * consume() switches to a free stage, which becomes current with the next
   * sequence number and joins flows_hot; the stage left waits in toCommit
   * (its rows stay visible in flows_hot until their commit and after).
   * Synchronously when a free stage of the current shape exists: rows
   * consumed from the call on go to the new stage. False if no stage could
   * be had (logged; retried at the next step).
   */
  private async switchStage(): Promise<boolean> {
    const next =
      this.stages.find((x) => x.state === "free" && x.shape === this.shape) ?? (await this.freeStage());
    if (!next) return false;
    const src = this.cur!;
    this.cur = next;
    this.lastSwitch = performance.now();
    next.state = "filling";
    next.seq = ++this.seq;
    this.unflushed = 0;
    const ts = TRACE ? performance.now() : 0;
    src.appender?.flushSync();
    if (TRACE) trace("switch", { rows: src.rows, flushSyncMs: performance.now() - ts });
    // Deferred batches go first into the new stage, in arrival order (no await since the switch).
    const deferred = this.deferred;
    this.deferred = [];
    for (const b of deferred) {
      this.appendCurrent(next, b);
      b.release();
    }
    src.state = "visible";
    src.newest = src.runs.newest;
    if (src.rows > 0) this.stagesPublished++;
    if (src.shown) this.recordVisible(src, Date.now());
    this.toCommit.push(src);
    // Not in flows_hot yet (failed): the next publish step retries; its rows wait in its table meanwhile.
    await this.show(next);
    return true;
  }

  /**
   * A free stage of the current shape: a free one (recreated first if of an
   * older shape), else a new one up to MAX_STAGES, else wait for one (the
   * file commits or the aggregations are behind). Null after a failure
   * (logged; the switch is retried at the next step).
   */
  private async freeStage(): Promise<Stage | null> {
    for (let waited = 0; ; waited++) {
      let st: Stage | null = this.stages.find((s) => s.state === "free") ?? null;
      if (!st && this.stages.length < MAX_STAGES) st = await this.newStage();
      if (st) {
        // A free stage of an older shape is recreated first (the shape may grow again meanwhile).
        while (st.shape !== this.shape) if (!(await this.reshape(st))) return null;
        return st;
      }
      if (waited === 0)
        this.log.limited("store:stages", "warn", "store: every stage busy, the switch waits", {});
      await this.aggChain;
      await this.retire(true);
      await sleep(20);
    }
  }

  /** A new stage table and appender in the current shape; null (logged) on failure. */
  private async newStage(): Promise<Stage | null> {
    const name = `stage_${this.stages.length}`;
    const st: Stage = {
      table: `${LIVE_DB}.main.${name}`,
      name,
      appender: null,
      // No table yet: reshape() creates it in the current shape.
      shape: NO_SHAPE,
      state: "free",
      rows: 0,
      seq: 0,
      runs: new ReceiveRuns(),
      fresh: new ReceiveRuns(),
      freshRows: 0,
      newest: 0,
      committedAt: 0,
      shown: false,
    };
    if (!(await this.reshape(st))) return null;
    this.stages.push(st);
    return st;
  }

  /** (Re)create free stage `st`'s table and appender in the current shape; false (logged, retried) on failure. */
  private async reshape(st: Stage): Promise<boolean> {
    const shape = this.shape;
    try {
      st.appender?.closeSync();
      st.appender = null;
      await this.onPub((c) => c.run(`CREATE OR REPLACE TABLE ${st.table} (\n${shape.ddl}\n)`));
      const ap = await this.appendConn!.createAppender(st.name, "main", LIVE_DB);
      st.appender = ap;
      shape.chunks ??= new ChunkAppender(ap, shape.cols);
      st.shape = shape;
      return true;
    } catch (err) {
      this.flushErrors++;
      this.log.limited("store:flush", "error", "store stage reshape failed", { error: String(err) });
      return false;
    }
  }

  /**
   * Durable stages leave flows_hot RETIRE_AFTER_MS after their COMMIT
   * (src/store/live.ts: two snapshots; sooner only with `force`, every stage
   * busy and the switch waiting), and once also aggregated they are freed:
   * few stages in flows_hot keep readers' and the view's redefinition cheap.
   */
  private async retire(force: boolean): Promise<void> {
    const now = Date.now();
    const due = (s: Stage): boolean =>
      (s.state === "durable" || s.state === "aggregated") &&
      (force || now - s.committedAt >= RETIRE_AFTER_MS);
    if (this.hot.some(due)) {
      try {
        await this.onPub(async (c) => {
          const leave = this.hot.filter(due);
          const keep = this.hot.filter((s) => !leave.includes(s));
          await defineHot(c, this.fileDb, keep.map(hotStage));
          this.hot = keep;
          for (const s of leave) s.shown = false;
        });
      } catch (err) {
        this.publishErrors++;
        this.log.limited("store:publish", "error", "store publish failed", { error: String(err) });
        return;
      }
    }
    for (const s of this.stages) {
      if (s.state !== "aggregated" || s.shown) continue;
      // Recreated, not emptied: a DELETE leaves the in-memory table's row
      // groups in place (an in-memory database is never vacuumed) for every
      // later append and scan of the stage to walk; measured at 100 k
      // flows/s, the file commits' INSERTs then took ~2× as long per row.
      s.shape = NO_SHAPE;
      if (!(await this.reshape(s))) continue;
      s.rows = 0;
      s.seq = 0;
      s.runs.clear();
      s.fresh.clear();
      s.freshRows = 0;
      s.state = "free";
    }
  }

  /**
   * Copy published stages into flows_raw, each row with its stage's
   * number, and move nagare_hot_mark (the numbering after a restart) to the
   * newest of them, in one transaction of the file: from its COMMIT they
   * are durable; flows_live reads them from flows_raw once they have left
   * flows_hot (retire()). Then their rollup aggregation is queued. False
   * (rolled back, counted, retried) on failure.
   */
  private async commitStages(batch: readonly Stage[]): Promise<boolean> {
    const conn = this.connection;
    const t0 = performance.now();
    let n = 0;
    let insertedAt = 0;
    try {
      await conn.run("BEGIN TRANSACTION");
      try {
        // [layout] IPv4 rows, IPv6 rows, the rest: single-family compression groups, in statements
        // under a row group so the COMMIT is atomic for readers (src/store/layout.ts). Each row gets
        // its stage's number (flows_raw.seq: src/store/live.ts, "Commit window").
        const sources = batch.map((st) => ({
          from: st.table,
          select: `${st.shape.select}, ${st.seq}`,
          rows: st.rows,
        }));
        for (const sql of rawInsertStatements(RAW_TABLE, sources, `${COLUMN_LIST}, ${RAW_SEQ_COLUMN}`))
          n += Number((await conn.runAndReadAll(sql)).getRowsJS()[0]?.[0] ?? 0);
        await conn.run(`UPDATE ${HOT_MARK_TABLE} SET seq = ${batch.at(-1)!.seq}`);
        insertedAt = performance.now();
        await conn.run("COMMIT");
      } catch (err) {
        await conn.run("ROLLBACK").catch(() => {});
        throw err;
      }
    } catch (err) {
      this.flushErrors++;
      this.log.limited("store:flush", "error", "store flush failed", { error: String(err) });
      return false;
    }
    const now = Date.now();
    if (TRACE)
      trace("commit", {
        stages: batch.length,
        rows: n,
        firstAgeMs: now - (batch[0]!.runs.times[0] ?? now),
        insertMs: insertedAt - t0,
        commitMs: performance.now() - insertedAt,
        // A WAL smaller than the commit's rows wrote: an automatic checkpoint ran in this COMMIT.
        wal: String((await conn.runAndReadAll(WAL_SQL)).getRowsJS()[0]?.[0]).replace(" ", ""),
      });
    for (const st of batch) {
      st.state = "durable";
      st.committedAt = now;
      this.durableWindow.addRuns(st.runs, now);
      // Rows not recorded visible yet (its flows_hot definition failed): visible from this COMMIT.
      this.recordVisible(st, now);
    }
    this.rowsCommitted += n;
    this.flushes++;
    this.lastFlushMs = performance.now() - t0;
    this.aggQueue.push(...batch);
    this.aggChain = this.aggChain.then(() => this.aggregateQueued());
    return true;
  }

  /**
   * Every committed stage waiting (one link of aggChain takes them all, the
   * later links find the queue empty): aggregating several stages in one
   * pass pays the per-pass costs (seven GROUP BYs, the bucket checks) once,
   * so a short commit period does not make the aggregations fall behind.
   */
  private async aggregateQueued(): Promise<void> {
    if (this.aggQueue.length === 0) return;
    const stages = this.aggQueue;
    this.aggQueue = [];
    await this.aggregateStage(stages);
  }

  /**
   * Committed stages' rows into the rollups' pending tables, then buckets
   * closed and (now and then) pending compacted; on the aggregation
   * connection. Never rejects. The stages are then left to retire() (which
   * empties and frees them). A failure loses these rows' pending aggregates
   * only until the next start (rebuilt from flows_raw) — the stages are
   * retired whatever happens, so nothing is aggregated twice.
   */
  private async aggregateStage(stages: readonly Stage[]): Promise<void> {
    const conn = this.aggConn!;
    const from =
      stages.length === 1
        ? stages[0]!.table
        : `(${stages.map((s) => `SELECT ${CORE_LIST} FROM ${s.table}`).join(" UNION ALL ")})`;
    const t = TRACE ? [performance.now()] : null;
    try {
      for (const set of ROLLUP_SETS) await conn.run(this.pendingInsertSql(set, from));
    } catch (err) {
      this.rollupErrors++;
      this.log.limited("store:rollup", "error", "rollup pending aggregate failed", { error: String(err) });
    }
    let newest = 0;
    for (const s of stages) {
      if (s.newest > newest) newest = s.newest;
      s.state = "aggregated";
    }
    if (newest > this.newestCommitted) this.newestCommitted = newest;
    t?.push(performance.now());
    try {
      await this.closeBuckets(conn);
      t?.push(performance.now());
      if (performance.now() - this.lastCompact >= COMPACT_EVERY_MS) {
        this.lastCompact = performance.now();
        await this.compactPending(conn);
      }
      if (t)
        trace("aggregate", {
          stages: stages.length,
          groupMs: t[1]! - t[0]!,
          closeMs: t[2]! - t[1]!,
          compactMs: performance.now() - t[2]!,
        });
    } catch (err) {
      this.rollupErrors++;
      this.log.limited("store:rollup", "error", "rollup close failed", { error: String(err) });
    }
  }
  private async merge(stage: string): Promise<void> {
    const conn = this.connection;
    // The on-disk stage (start() only) goes to pending first: its rows leave
    // it in the raw transaction below, and a failure there fails start().
    for (const set of ROLLUP_SETS) await conn.run(this.pendingInsertSql(set, stage));
    await conn.run("BEGIN TRANSACTION");
    let n = 0;
    try {
      const moved = await conn.runAndReadAll(
        `INSERT INTO ${RAW_TABLE} (${COLUMN_LIST}) SELECT ${COLUMN_LIST} FROM ${stage}`,
      );
      n = Number(moved.getRowsJS()[0]?.[0] ?? 0);
      if (n > 0) await conn.run(`DELETE FROM ${stage}`);
      await conn.run("COMMIT");
    } catch (err) {
      await conn.run("ROLLBACK").catch(() => {});
      throw err;
    }
    this.rowsCommitted += n;
    if (n > 0) await this.closeBuckets(conn);
  }

  private pendingInsertSql(set: RollupSet, from: string, where = ""): string {
    return `INSERT INTO ${pendingName(set)}\n${aggregateFlowsSql(set, from, where)}`;
  }

  /** Watermarks from nagare_rollup_state; pending tables created and rebuilt from flows_raw. */
  private async loadRollupState(): Promise<void> {
    const conn = this.connection;
    this.closed.clear();
    const rows = (
      await conn.runAndReadAll(`SELECT table_name, epoch_ms(closed_until) FROM ${ROLLUP_STATE_TABLE}`)
    ).getRowsJS();
    for (const [t, ms] of rows) this.closed.set(String(t), Number(ms));
    const newest = (
      await conn.runAndReadAll(`SELECT epoch_ms(max(time_received)) FROM ${RAW_TABLE}`)
    ).getRowsJS()[0]?.[0];
    this.newestCommitted = newest === null || newest === undefined ? 0 : Number(newest);
    await this.rebuildPending();
  }

  /**
   * Pending tables = flows_raw at or after each set's finest watermark (all
   * of flows_raw when nothing was closed yet): after a restart, the open
   * buckets' rows; nothing older is read.
   */
  private async rebuildPending(): Promise<void> {
    const conn = this.connection;
    for (const set of ROLLUP_SETS) {
      await conn.run(pendingDdl(set, pendingName(set)));
      const w = this.closed.get(rollupTable(set, set.res[0]!));
      await conn.run(
        this.pendingInsertSql(set, RAW_TABLE, w === undefined ? "" : `time_received >= ${rawTimeSql(w)}`),
      );
    }
  }

  /**
   * Closed-until watermark (epoch ms) of each rollup table, as committed:
   * updated only after the COMMIT that closed the buckets, so a planner
   * given these never reads a rollup bucket not yet written (FlowQueryRunner's
   * watermarkSource: no SQL read per query).
   */
  rollupWatermarks(): ReadonlyMap<string, number> {
    return this.closed;
  }

  /**
   * Close every bucket that ended at least CLOSE_GRACE_MS before the newest
   * committed row: one transaction writes the finest tables from pending,
   * the coarser ones from the finer on-disk tables, and the watermarks; the
   * pending rows written are deleted after the COMMIT.
   *
   * Late rows (pending rows of a bucket already closed: receive times out of
   * order, or history written into a live store) are written in the same
   * transaction as extra rows of their buckets — sums stay right — into
   * every table whose bucket for them is closed; a coarser bucket still open
   * gets them later through the finer table. Checked on every flush, so a
   * late row is missing from the rollups only until the flush after its own.
   */
  private async closeBuckets(conn: DuckDBConnection): Promise<void> {
    const moves = new Map<string, number>();
    const late: RollupSet[] = [];
    /** Oldest late bucket of each set's finest table. */
    const lateFrom = new Map<string, number>();
    for (const set of ROLLUP_SETS) {
      const finest = this.closed.get(rollupTable(set, set.res[0]!));
      if (finest !== undefined) {
        const r = await conn.runAndReadAll(
          `SELECT count(*), epoch_ms(min(bucket)) FROM ${pendingName(set)} WHERE bucket < epoch_ms(${finest}::BIGINT)`,
        );
        const row = r.getRowsJS()[0];
        if (Number(row?.[0] ?? 0) > 0) {
          late.push(set);
          lateFrom.set(rollupTable(set, set.res[0]!), Number(row?.[1]));
        }
      }
      for (const res of set.res) {
        const table = rollupTable(set, res);
        const until = closableUntil(RES_MS[res], this.newestCommitted);
        const was = this.closed.get(table);
        if (was === undefined || until > was) moves.set(table, until);
      }
    }
    if (moves.size === 0 && late.length === 0) return;
    await conn.run("BEGIN TRANSACTION");
    try {
      for (const set of ROLLUP_SETS) {
        const pend = pendingName(set);
        const finestTable = rollupTable(set, set.res[0]!);
        const finestWas = this.closed.get(finestTable);
        for (let i = 0; i < set.res.length; i++) {
          const res = set.res[i]!;
          const table = rollupTable(set, res);
          const was = this.closed.get(table);
          // Late rows into a coarser table whose bucket for them is already closed.
          if (i > 0 && was !== undefined && finestWas !== undefined && late.includes(set)) {
            const lateUntil = Math.min(finestWas, was);
            await conn.run(`INSERT INTO ${table}\n${reaggregateSql(set, res, pend, null, lateUntil)}`);
          }
          const until = moves.get(table);
          if (i === 0) {
            // The finest table takes every pending row before its new watermark (late rows included).
            const upTo = until ?? finestWas;
            if (upTo !== undefined && (until !== undefined || late.includes(set))) {
              await conn.run(`INSERT INTO ${table}\n${reaggregateSql(set, res, pend, null, upTo)}`);
              // Top-K lists of the buckets just written, new or with late rows (recomputed whole).
              const tk = TOPK_TABLES.find((t) => t.source === table);
              if (tk) {
                const buckets = `SELECT DISTINCT bucket FROM ${pend} WHERE bucket < epoch_ms(${upTo}::BIGINT)`;
                for (const sql of topKRefreshSql(tk, buckets)) await conn.run(sql);
              }
            }
          } else if (until !== undefined) {
            // A coarser table: the finer table's buckets from its old watermark on.
            const finer = rollupTable(set, set.res[i - 1]!);
            await conn.run(`INSERT INTO ${table}\n${reaggregateSql(set, res, finer, was ?? null, until)}`);
          }
          if (until !== undefined)
            await conn.run(
              `INSERT OR REPLACE INTO ${ROLLUP_STATE_TABLE} VALUES ('${table}', epoch_ms(${until}::BIGINT))`,
            );
        }
      }
      await conn.run("COMMIT");
    } catch (err) {
      await conn.run("ROLLBACK").catch(() => {});
      this.rollupErrors++;
      this.log.limited("store:rollup", "error", "rollup close failed (retried at the next flush)", {
        error: String(err),
      });
      return;
    }
    for (const [t, until] of moves) this.closed.set(t, until);
    this.rollupCloses++;
    for (const [t, from] of lateFrom) this.notifyRollupChanged(t, from);
    for (const set of ROLLUP_SETS) {
      const w = this.closed.get(rollupTable(set, set.res[0]!));
      if (w !== undefined)
        await conn.run(`DELETE FROM ${pendingName(set)} WHERE bucket < epoch_ms(${w}::BIGINT)`);
    }
  }

  /** Sum each pending table's rows by key: one row per key per flush would otherwise pile up until a bucket closes. */
  private async compactPending(conn: DuckDBConnection): Promise<void> {
    for (const set of ROLLUP_SETS) {
      const p = pendingName(set);
      const tmp = `${p}_c`;
      await conn.run(
        `CREATE OR REPLACE TABLE ${tmp} AS SELECT bucket, ${set.dims.join(", ")}, ${sumsSql("agg")} FROM ${p} GROUP BY ALL`,
      );
      await conn.run("BEGIN TRANSACTION");
      await conn.run(`DELETE FROM ${p}`);
      await conn.run(`INSERT INTO ${p} SELECT * FROM ${tmp}`);
      await conn.run("COMMIT");
      await conn.run(`DROP TABLE ${tmp}`);
    }
  }

  private notifyRollupChanged(table: string, fromMs: number): void {
    for (const f of this.rollupChanged) {
      try {
        f(table, fromMs);
      } catch (err) {
        this.log.limited("store:listener", "error", "rollup change listener failed", { error: String(err) });
      }
    }
  }

  /** One retention run now (age, then disk budget), on retention's own connection: src/store/retention.ts. */
  async runRetention(nowMs = Date.now()): Promise<void> {
    if (!this.retention) throw new Error("StoreWriter not started");
    await this.retention.run(nowMs);
  }

  /** Retention's counters (runs, errors, rows deleted for the disk budget, used bytes); null when stopped. */
  get retentionStats(): RetentionStats | null {
    return this.retention?.stats ?? null;
  }

  /** Flush everything received, then close: a clean stop loses nothing. */
  async stop(): Promise<void> {
    if (!this.instance) return;
    if (this.flushTimer) clearInterval(this.flushTimer);
    await this.retention?.stop();
    this.retention = null;
    this.flushTimer = null;
    await this.flush();
    for (const b of this.deferred) b.release();
    if (this.deferred.length) this.log.error("store final commit failed (deferred rows lost)", {});
    this.deferred = [];
    for (const st of this.stages) {
      st.appender?.closeSync();
      st.appender = null;
    }
    // flush() committed every row appended (a stage left behind means a commit failed).
    const left = this.toCommit.reduce((a, st) => a + st.rows, 0) + (this.cur?.rows ?? 0);
    if (left > 0) this.log.error("store final commit failed (staged rows lost)", { rows: left });
    this.cur = null;
    await this.aggChain;
    await this.retiring;
    await this.pubChain;
    this.aggConn?.closeSync();
    this.aggConn = null;
    this.pubConn?.closeSync();
    this.pubConn = null;
    this.appendConn?.closeSync();
    this.conn?.closeSync();
    this.instance.closeSync();
    this.appendConn = this.conn = null;
    this.instance = null;
  }
}

/**
 * NAGARE_STORE_TRACE=1: one stderr line per step of the commit path (the
 * switch's appender flush, raw INSERTs and COMMIT, rollup aggregation and
 * bucket closes), to see where the freshness goes (docs/store.md).
 */
const TRACE = process.env.NAGARE_STORE_TRACE === "1";
const WAL_SQL = "SELECT wal_size FROM pragma_database_size() WHERE database_name = current_database()";
function trace(step: string, o: Record<string, number | string>): void {
  const f = Object.entries(o).map(([k, v]) => `${k}=${typeof v === "number" ? Math.round(v) : v}`);
  process.stderr.write(`store-trace ${Date.now()} ${step} ${f.join(" ")}\n`);
}

/**
 * In-memory stages: one filling (in flows_hot); the others waiting for their
 * file commit ("visible"), for their rollup aggregation ("durable"), or to
 * leave flows_hot RETIRE_AFTER_MS after their COMMIT ("aggregated"). One
 * switch per file commit: a handful are busy at a time. INITIAL_STAGES are
 * made at start, more on demand up to MAX_STAGES (then the switch waits).
 */
const INITIAL_STAGES = 8;
const MAX_STAGES = 64;
type StageState = "free" | "filling" | "visible" | "durable" | "aggregated";
interface Stage {
  /** The table, qualified (nagare_stage.main.stage_N). */
  readonly table: string;
  /** The table's own name (for the appender). */
  readonly name: string;
  appender: DuckDBAppender | null;
  /** The shape its table was created with (a free stage is reshaped before it is filled). */
  shape: StageShape;
  state: StageState;
  /** Rows appended (until it is freed). */
  rows: number;
  /** Its sequence number once published (flows_hot tags its rows with it; nagare_hot_mark). */
  seq: number;
  /** Receive times of its rows, for the durability histogram (and the rollups' newest). */
  readonly runs: ReceiveRuns;
  /** Receive times of its rows not yet recorded as visible (appended since the last publish step). */
  readonly fresh: ReceiveRuns;
  freshRows: number;
  /** Newest time_received of its rows (set when published). */
  newest: number;
  /** Date.now() of its file COMMIT. */
  committedAt: number;
  /** In flows_hot. */
  shown: boolean;
}
function hotStage(s: Stage): HotStage {
  return { table: s.table, select: s.shape.hot, seq: s.seq };
}
function sleep(ms: number): Promise<void> {
  return new Promise((res) => setTimeout(res, ms));
}
/** The pending tables are compacted about once a minute. */
const COMPACT_EVERY_MS = 60_000;
/**
 * consume() flushes the appender into the stage's table once this many rows
 * are buffered: a bound on the synchronous flush at the switch when a stage
 * grows large (a store falling behind). Not smaller: each flush has a cost of
 * its own — flushing every 4096 rows took the process from 12–13 to 16–19 µs
 * of CPU per flow at 100 k/s (BENCHMARKS.md §6, round 5), while a stage of a
 * 250 ms commit at 100 k/s (25 k rows) flushes in tens of ms.
 */
export const APPEND_FLUSH_ROWS = 65_536;
/** Commits start every half flush interval (at least 5 ms apart): see start(). */
/**
 * Publish steps (an appender flush: rows visible) run every half interval,
 * at most PUBLISH_MAX_MS apart: a row waits in the appender at most that
 * long, and each flush — 4–7 µs per row on the main thread, measured at
 * 100 k flows/s — stalls the event loop for a tenth of a second at most
 * instead of a quarter.
 */
export const PUBLISH_MAX_MS = 100;
export function publishPeriodMs(intervalMs: number): number {
  return Math.min(PUBLISH_MAX_MS, commitPeriodMs(intervalMs));
}
export function commitPeriodMs(intervalMs: number): number {
  return Math.max(5, Math.floor(intervalMs / 2));
}
function pendingName(set: RollupSet): string {
  return `${LIVE_DB}.main.pending_${set.name}`;
}

const KINDS: readonly ColumnKind[] = FLOW_COLUMNS.map((c) => c.kind);
/** flows_raw's schema columns, by name (a column added later, at the end of flows_raw, still lines up); flows_live reads the same list. */
const COLUMN_LIST = LIVE_COLUMNS;
/** The columns every stage has (the rollups read only these). */
const CORE_LIST = FLOW_COLUMNS.filter((c) => !ENRICHMENT_COLUMNS.has(c.name))
  .map((c) => c.name)
  .join(", ");
type ColArray = Float64Array | Uint8Array | Uint16Array | Uint32Array | string[];

/** The columns of a stage table, in schema order. */
interface StageShape {
  /** Indexes into FLOW_COLUMNS. */
  readonly cols: readonly number[];
  /** The stage table's column definitions. */
  readonly ddl: string;
  /**
   * The SELECT list copying the stage into flows_raw (COLUMN_LIST order): a
   * column absent from the stage is NULL (string) or 0 (number: flows_raw's
   * numeric columns are NOT NULL), what an appended empty value would be.
   */
  readonly select: string;
  /** The same for flows_hot: absent columns as constants of flows_raw's types (src/store/live.ts). */
  readonly hot: string;
  /** Its DataChunk writer (made with the first appender of the shape). */
  chunks: ChunkAppender | null;
}

/** A new stage's shape before its table exists (never the current shape). */
const NO_SHAPE: StageShape = { cols: [], ddl: "", select: "", hot: "", chunks: null };
/** The stage's columns before any enrichment column carried a value: all but ENRICHMENT_COLUMNS. */
const BASE_COLUMNS: readonly boolean[] = FLOW_COLUMNS.map((c) => !ENRICHMENT_COLUMNS.has(c.name));

/** Indexes (into FLOW_COLUMNS) of the enrichment columns: all inactive at start. */
function enrichmentIndexes(): number[] {
  return FLOW_COLUMNS.flatMap((c, i) => (ENRICHMENT_COLUMNS.has(c.name) ? [i] : []));
}

function makeShape(active: readonly boolean[]): StageShape {
  const cols = FLOW_COLUMNS.flatMap((_, i) => (active[i] ? [i] : []));
  const ddl = flowColumnsDdl(undefined, { nullableStrings: true })
    .split(",\n")
    .filter((_, i) => active[i])
    .join(",\n");
  const select = FLOW_COLUMNS.map((c, i) => (active[i] ? c.name : c.kind === "string" ? "NULL" : "0")).join(
    ", ",
  );
  return { cols, ddl, select, hot: hotSelect(active), chunks: null };
}

/** Whether any of the first n values is non-empty ("" and 0 are empty). */
function carriesValue(a: ColArray, n: number): boolean {
  if (Array.isArray(a)) {
    for (let i = 0; i < n; i++) if (a[i] !== "") return true;
  } else {
    for (let i = 0; i < n; i++) if (a[i] !== 0) return true;
  }
  return false;
}

function columnsOf(batch: FlowBatch): ColArray[] {
  const cols = batch.cols as unknown as Record<string, ColArray>;
  return FLOW_COLUMNS.map((c) => cols[c.name]!);
}

/** Row by row through the Appender: one native call per value. */
function appendRows(ap: DuckDBAppender, batch: FlowBatch, cols: readonly number[]): void {
  const arrs = columnsOf(batch);
  for (let i = 0; i < batch.length; i++) {
    for (const c of cols) {
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
        case "ip": {
          // Row by row is the slow reference path: one BigInt per address is fine here.
          let v = 0n;
          for (let k = i * 16; k < i * 16 + 16; k++) v = (v << 8n) | BigInt((a as Uint8Array)[k]!);
          ap.appendUHugeInt(v);
          break;
        }
        case "string": {
          // "" is stored as NULL (see ChunkAppender): the same on both append paths.
          const v = a[i] as string;
          if (v === "") ap.appendNull();
          else ap.appendVarchar(v);
          break;
        }
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
 * uint32 stores per value (no BigInt, no value object); ip (UHUGEINT) is a
 * byte-reversing copy into a scratch buffer, then one memcpy; VARCHAR
 * columns are zeroed, only non-empty values cost a native call, and empty
 * ones are marked NULL in one validity copy (see `validity`).
 */
class ChunkAppender {
  private readonly chunk: DuckDBDataChunk;
  private readonly int64 = new Uint32Array(CHUNK_ROWS * 2);
  private readonly zeros = new Uint8Array(CHUNK_ROWS * 16);
  /**
   * A string column's validity mask (bit i of little-endian uint64 words =
   * row i valid). Empty strings are stored as NULL: DuckDB appends, copies
   * and checkpoints a NULL VARCHAR for almost nothing, while "" pays string
   * statistics on every append (measured: 40 numeric columns + 29 columns of
   * "" inserted 2.3× slower than + 29 NULL columns). Mostly-empty
   * enrichment columns (exporter_name … dst_as_name) made ingest 2.5× slower
   * before this. Readers see "" again: the flows view, the planner and the
   * filters coalesce (src/query/sql/macros.ts, planner.ts, filter/sql.ts).
   */
  private readonly validity = new Uint8Array(Math.ceil(CHUNK_ROWS / 64) * 8);
  /** One chunk's ip column as DuckDB's uhugeint words. */
  private readonly u128 = new Uint32Array(CHUNK_ROWS * 4);
  /** An aligned copy of a batch's ip bytes when its buffer offset is not a multiple of 4. */
  private readonly ipAligned = new Uint8Array(CHUNK_ROWS * 16);

  /** The stage's columns (indexes into FLOW_COLUMNS): vector j holds column cols[j]. */
  private readonly cols: readonly number[];

  constructor(ap: DuckDBAppender, cols: readonly number[]) {
    const types: DuckDBType[] = cols.map((_, j) => ap.columnType(j));
    this.chunk = DuckDBDataChunk.create(types);
    this.cols = cols;
  }

  /**
   * An ip column. The batch holds each address as 16 big-endian bytes;
   * DuckDB's uhugeint is {uint64 lower; uint64 upper}, each little endian,
   * i.e. the same 16 bytes in reverse order. Read as four little-endian
   * uint32 words w0..w3, the reversed address is bswap(w3), bswap(w2),
   * bswap(w1), bswap(w0): four loads, four byte swaps, four stores per row.
   * An all-zero word (absent addresses, most of the v4-mapped prefix) skips
   * the swap (see bswap).
   */
  private appendIps(vec: duckdb.Vector, ip: Uint8Array, off: number, m: number): void {
    const byteOff = ip.byteOffset + off * 16;
    let src: Uint32Array;
    if (byteOff % 4 === 0) src = new Uint32Array(ip.buffer, byteOff, m * 4);
    else {
      this.ipAligned.set(ip.subarray(off * 16, (off + m) * 16));
      src = new Uint32Array(this.ipAligned.buffer, 0, m * 4);
    }
    const out = this.u128;
    for (let k = 0; k < m * 4; k += 4) {
      out[k] = bswap(src[k + 3]!);
      out[k + 1] = bswap(src[k + 2]!);
      out[k + 2] = bswap(src[k + 1]!);
      out[k + 3] = bswap(src[k]!);
    }
    duckdb.copy_data_to_vector(vec, 0, out.buffer, 0, m * 16);
  }

  append(ap: DuckDBAppender, batch: FlowBatch): void {
    const arrs = columnsOf(batch);
    const raw = this.chunk.chunk;
    for (let off = 0; off < batch.length; off += CHUNK_ROWS) {
      const m = Math.min(CHUNK_ROWS, batch.length - off);
      duckdb.data_chunk_reset(raw);
      for (let j = 0; j < this.cols.length; j++) {
        const c = this.cols[j]!;
        const a = arrs[c]!;
        const vec = duckdb.data_chunk_get_vector(raw, j);
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
            const bits = this.validity;
            const words = Math.ceil(m / 64);
            bits.fill(0, 0, words * 8);
            let empty = false;
            for (let i = 0; i < m; i++) {
              const v = s[off + i]!;
              if (v !== "") {
                duckdb.vector_assign_string_element(vec, i, v);
                bits[i >> 3]! |= 1 << (i & 7);
              } else empty = true;
            }
            if (empty) {
              duckdb.vector_ensure_validity_writable(vec);
              duckdb.copy_data_to_vector_validity(vec, 0, bits.buffer, 0, words * 8);
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

/** Byte-swap a uint32 (0 stays 0 without the shifts: absent addresses and the v4-mapped prefix). */
function bswap(x: number): number {
  return x === 0 ? 0 : ((x << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24)) >>> 0;
}

/** DuckDB's vector size: the most rows one DataChunk holds. */
const CHUNK_ROWS = 2048;
