// Retention: what the store keeps, enforced continuously by a timer.
//
// Two rules, applied in this order on every run:
// 1. Age (per table): flows_raw rows older than rawDays (by time_received),
//    rollup buckets (src/store/rollups.ts) older than minuteDays, hourDays or
//    dayDays by the table's resolution.
// 2. Disk budget (maxBytes, 0 = off): while the database's used size is over
//    the budget, the oldest flows_raw rows go first; only when flows_raw is
//    empty, the oldest buckets of the 1-minute rollups, then of the 1-hour
//    ones, then of the 1-day ones.
//
// "Used size" is DuckDB's used blocks × block size (pragma_database_size), not
// the file's length: DuckDB never shrinks its file, it reuses freed blocks,
// so the file stays at its high-water mark while the used size follows the
// data. A DELETE frees blocks only at the next checkpoint and only for row
// groups that became empty; flows_raw is appended in time order, so deleting
// its oldest rows empties its oldest row groups. A checkpoint while another
// transaction is open (the writer's merge, a user's query) keeps the deleted
// row groups, and later checkpoints do not revisit them until the table
// changes again: after a delete that freed nothing, the run "touches" the
// table (deletes its first row) and checkpoints again, a few times; if the
// space is still held, the run stops instead of deleting more on a stale
// measure, and the next run starts by reclaiming (see runBudgetRetention).
import type { DuckDBConnection, DuckDBInstance } from "@duckdb/node-api";
import { silentLogger, type Logger } from "../log.js";
import type { RetentionConfig } from "./config.js";
import { ROLLUP_TABLES, TOPK_TABLES, type RollupRes } from "./rollups.js";
import { RAW_TABLE, rawTimeSql } from "./schema.js";

const DAY_MS = 86_400_000;
/** Most delete-checkpoint rounds in one run (each drops at least the overshoot's share of a table). */
const MAX_ROUNDS = 8;
/** A round that gets back less than this share of the overshoot counts as held (see runBudgetRetention). */
const MIN_PROGRESS = 0.25;
/** Delete this much more than the overshoot, so one round usually suffices. */
const MARGIN = 0.05;

export interface RetentionStats {
  runs: number;
  errors: number;
  /** Rows deleted because of the disk budget (not age). */
  budgetDeletes: number;
  /** Used bytes measured at the end of the last run. */
  usedBytes: number;
}

/** Delete rows older than each table's retention (flows_raw by time_received, rollups by bucket). */
export async function runAgeRetention(
  conn: DuckDBConnection,
  r: RetentionConfig,
  nowMs = Date.now(),
): Promise<void> {
  const cut = (days: number): string => `epoch_ms(${Math.floor(nowMs - days * DAY_MS)})`;
  await conn.run(
    `DELETE FROM ${RAW_TABLE} WHERE time_received < ${rawTimeSql(Math.floor(nowMs - r.rawDays * DAY_MS))}`,
  );
  for (const t of ROLLUP_TABLES)
    await conn.run(`DELETE FROM ${t.table} WHERE bucket < ${cut(retentionDays(r, t.res))}`);
  // The top-K lists of src/store/rollups.ts go with their table's buckets.
  for (const t of TOPK_TABLES)
    for (const aux of [t.top, t.bound])
      await conn.run(`DELETE FROM ${aux} WHERE bucket < ${cut(retentionDays(r, t.res))}`);
}

/** Days a rollup resolution is kept. */
export function retentionDays(r: RetentionConfig, res: RollupRes): number {
  // 1 s: kept as long as flows_raw (the finest detail; any ten minutes at per-second resolution).
  return res === "1s" ? r.rawDays : res === "1m" ? r.minuteDays : res === "1h" ? r.hourDays : r.dayDays;
}

/** Bytes of the store's database file in use (used blocks × block size). */
export async function usedBytes(conn: DuckDBConnection): Promise<number> {
  const r = await conn.runAndReadAll(
    "SELECT used_blocks * block_size FROM pragma_database_size() WHERE database_name = current_database()",
  );
  return Number(r.getRowsJS()[0]?.[0] ?? 0);
}

/** CHECKPOINT, ignoring a refusal (DuckDB may decline while another transaction writes). */
async function checkpoint(conn: DuckDBConnection): Promise<void> {
  await conn.run("CHECKPOINT").catch(() => undefined);
}

/** The tables the budget trims, in order, with their time column. */
const BUDGET_ORDER: readonly { table: string; time: string }[] = [
  { table: RAW_TABLE, time: "time_received" },
  ...(["1s", "1m", "1h", "1d"] as const).flatMap((res) =>
    ROLLUP_TABLES.filter((t) => t.res === res).map((t) => ({ table: t.table, time: "bucket" })),
  ),
];
type BudgetTable = (typeof BUDGET_ORDER)[number];

/** Retries of a checkpoint that freed nothing, and the pause before each. */
const RECLAIM_TRIES = 5;
const RECLAIM_PAUSE_MS = 200;

async function firstNonEmpty(conn: DuckDBConnection): Promise<BudgetTable | undefined> {
  for (const t of BUDGET_ORDER) {
    const r = await conn.runAndReadAll(`SELECT count(*) FROM (SELECT 1 FROM ${t.table} LIMIT 1)`);
    if (Number(r.getRowsJS()[0]?.[0] ?? 0) > 0) return t;
  }
  return undefined;
}

async function del(conn: DuckDBConnection, t: BudgetTable, cut: string): Promise<number> {
  // A table's top-K lists first (`cut` may read the table itself).
  for (const k of TOPK_TABLES.filter((k) => k.source === t.table))
    for (const aux of [k.top, k.bound]) await conn.run(`DELETE FROM ${aux} WHERE bucket <= (${cut})`);
  const r = await conn.runAndReadAll(`DELETE FROM ${t.table} WHERE ${t.time} <= (${cut})`);
  return Number(r.getRowsJS()[0]?.[0] ?? 0);
}

/**
 * Get the space of rows already deleted back. A checkpoint that runs while
 * another transaction is open (the writer's merge, a user's query) writes the
 * table without dropping its deleted row groups, and the next checkpoint has
 * nothing to do: the space stays used until the table is changed again. So
 * this "touches" the table — deletes its first row (rowid order is append
 * order, so the oldest, which the budget would delete next anyway; a table
 * with top-K lists loses its oldest bucket instead) — and
 * checkpoints, a few times with a pause, until the used size drops. Returns
 * [used, rows deleted].
 */
async function reclaim(conn: DuckDBConnection, t: BudgetTable, used: number): Promise<[number, number]> {
  let deleted = 0;
  for (let i = 0; i < RECLAIM_TRIES; i++) {
    if (TOPK_TABLES.some((k) => k.source === t.table)) {
      // A table with per-bucket top-K lists loses whole buckets, lists included:
      // a bucket missing some rows would leave its lists overstating it.
      deleted += await del(conn, t, `SELECT min(${t.time}) FROM ${t.table}`);
    } else {
      const r = await conn.runAndReadAll(
        `DELETE FROM ${t.table} WHERE rowid = (SELECT min(rowid) FROM ${t.table})`,
      );
      deleted += Number(r.getRowsJS()[0]?.[0] ?? 0);
    }
    await checkpoint(conn);
    const now = await usedBytes(conn);
    if (now < used) return [now, deleted];
    await new Promise((r) => setTimeout(r, RECLAIM_PAUSE_MS));
  }
  return [used, deleted];
}

/** What a budget run leaves for the next one. */
export interface BudgetState {
  /** Rows were deleted whose space no checkpoint has given back yet. */
  unreclaimed: boolean;
}

/**
 * Enforce the disk budget once: returns the rows deleted. First, if a
 * previous run's deletes were not reclaimed, their space is (see reclaim);
 * then, while over budget, the oldest `fraction` of the first non-empty
 * table's rows (by its time column) go in one DELETE, the fraction being the
 * overshoot plus a margin (rows sharing the cut time all go, so a round
 * always deletes something), and the space is reclaimed. A round that gets
 * nothing back ends the run (state.unreclaimed set) instead of deleting more
 * on a stale measure.
 */
export async function runBudgetRetention(
  conn: DuckDBConnection,
  maxBytes: number,
  state: BudgetState = { unreclaimed: false },
): Promise<number> {
  if (maxBytes <= 0) return 0;
  await checkpoint(conn);
  let used = await usedBytes(conn);
  if (used <= maxBytes) {
    state.unreclaimed = false;
    return 0;
  }
  let deleted = 0;
  if (state.unreclaimed) {
    const t = await firstNonEmpty(conn);
    if (t) {
      const [after, d] = await reclaim(conn, t, used);
      deleted += d;
      if (after >= used) return deleted; // still held: try again next run
      used = after;
    }
    state.unreclaimed = false;
  }
  for (let round = 0; round < MAX_ROUNDS && used > maxBytes; round++) {
    const target = await firstNonEmpty(conn);
    if (!target) break; // nothing left to delete: the budget is below the empty file's size
    const fraction = Math.min(1, (used - maxBytes) / used + MARGIN);
    deleted += await del(
      conn,
      target,
      `SELECT quantile_disc(${target.time}, ${fraction}) FROM ${target.table}`,
    );
    await checkpoint(conn);
    let after = await usedBytes(conn);
    // Progress means a real share of the overshoot back, not a block or two
    // of metadata: deleted row groups still held by an open transaction free
    // nothing, and deleting on after such a round would take far too much.
    const enough = (a: number): boolean => used - a >= (used - maxBytes) * MIN_PROGRESS;
    if (!enough(after) && (await firstNonEmpty(conn)) === target) {
      const [a, d] = await reclaim(conn, target, used);
      after = a;
      deleted += d;
    }
    if (!enough(after)) {
      state.unreclaimed = true;
      break;
    }
    used = after;
  }
  return deleted;
}

export interface RetentionOptions {
  /**
   * The store's instance (e.g. `() => writer.database`). Retention runs on a
   * connection of its own: on the writer's, its DELETEs could land inside a
   * merge transaction.
   */
  db: () => DuckDBInstance;
  config: RetentionConfig;
  log?: Logger;
  /** Called after a run that deleted rows for the disk budget (any table, any age). */
  onBudgetDelete?: () => void;
}

/** Runs age then budget retention every config.intervalMs (and once at start()). */
export class Retention {
  readonly config: RetentionConfig;
  readonly stats: RetentionStats = { runs: 0, errors: 0, budgetDeletes: 0, usedBytes: 0 };
  private readonly db: () => DuckDBInstance;
  private conn: DuckDBConnection | null = null;
  private readonly log: Logger;
  private readonly budget: BudgetState = { unreclaimed: false };
  private timer: NodeJS.Timeout | null = null;
  private readonly onBudgetDelete?: () => void;
  /** The last run queued: runs never overlap, each waits for the one before. */
  private chain: Promise<void> = Promise.resolve();
  private busy = false;

  constructor(opts: RetentionOptions) {
    this.db = opts.db;
    this.config = opts.config;
    this.log = opts.log ?? silentLogger;
    this.onBudgetDelete = opts.onBudgetDelete;
  }

  start(): void {
    if (this.timer) return;
    // A tick while a run is still going is skipped, not queued.
    this.timer = setInterval(() => {
      if (!this.busy) void this.run();
    }, this.config.intervalMs);
    this.timer.unref();
    void this.run();
  }

  /** Stop the timer, wait for a run in progress and close the connection. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.chain;
    this.conn?.closeSync();
    this.conn = null;
  }

  /** One run (age, then budget) after the runs queued before it; a failure is counted and logged. */
  run(nowMs = Date.now()): Promise<void> {
    const next = this.chain.then(() => this.runOnce(nowMs));
    this.chain = next;
    return next;
  }

  private async runOnce(nowMs: number): Promise<void> {
    this.busy = true;
    try {
      this.conn ??= await this.db().connect();
      const conn = this.conn;
      await runAgeRetention(conn, this.config, nowMs);
      const budgetDeleted = await runBudgetRetention(conn, this.config.maxBytes, this.budget);
      this.stats.budgetDeletes += budgetDeleted;
      if (budgetDeleted > 0) this.onBudgetDelete?.();
      this.stats.usedBytes = await usedBytes(conn);
      if (this.config.maxBytes > 0 && this.stats.usedBytes > this.config.maxBytes) {
        this.log.limited("store:budget", "warn", "store still over its disk budget after retention", {
          usedBytes: this.stats.usedBytes,
          maxBytes: this.config.maxBytes,
        });
      }
      this.stats.runs++;
    } catch (err) {
      this.stats.errors++;
      this.log.limited("store:retention", "error", "store retention failed", { error: String(err) });
    } finally {
      this.busy = false;
    }
  }
}
