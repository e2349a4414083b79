// Scheduled refresh: saved queries with a schedule run every intervalSec
// (at least 60) in the SQL sandbox, with their parameters' defaults. The last
// result (at most MAX_RESULT_ROWS rows) is kept in memory and in
// <dataDir>/content/results/<id>.json, so a dashboard can show it at once and
// it survives a restart. Runs are one at a time: a refresh is background work
// and must not crowd out people's own queries on a small machine.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { silentLogger, type Logger } from "../log.js";
import type { SqlEngine } from "../query/engine/sql-engine.js";
import { renderSql } from "./params.js";
import { writeAtomic, type ContentStore } from "./store.js";
import type { LatestResult, SavedQuery } from "./types.js";

export const MAX_RESULT_ROWS = 10_000;

export interface SchedulerOptions {
  store: ContentStore;
  sql: SqlEngine;
  /** How often due queries are looked for. */
  tickMs?: number;
  log?: Logger;
}

export class Scheduler {
  private readonly store: ContentStore;
  private readonly sql: SqlEngine;
  private readonly tickMs: number;
  private readonly log: Logger;
  private readonly latest = new Map<string, LatestResult>();
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = true;
  private halting = false;
  /** Runs done since start (for tests and metrics). */
  runs = 0;

  constructor(opts: SchedulerOptions) {
    this.store = opts.store;
    this.sql = opts.sql;
    this.tickMs = opts.tickMs ?? 10_000;
    this.log = opts.log ?? silentLogger;
  }

  /** Load the kept results and start ticking. */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.halting = false;
    for (const f of readdirSync(this.store.resultsDir)) {
      if (!f.endsWith(".json")) continue;
      try {
        const r = JSON.parse(readFileSync(join(this.store.resultsDir, f), "utf8")) as LatestResult;
        if (typeof r.ranAt === "string") this.latest.set(f.slice(0, -5), r);
      } catch {
        // A damaged result is only a cache: the next run replaces it.
      }
    }
    this.timer = setInterval(() => void this.tick(), this.tickMs);
    this.timer.unref();
    void this.tick();
  }

  /** Stop ticking and wait for a run in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.halting = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  /** The last scheduled result of query `id`, or null (never ran, or the query is gone). */
  result(id: string): LatestResult | null {
    if (!this.store.queries.current(id)) return null;
    return this.latest.get(id) ?? null;
  }

  private tick(): Promise<void> {
    if (this.running || this.stopped) return this.running ?? Promise.resolve();
    const run = this.runDue(Date.now()).then(
      () => {
        this.running = null;
      },
      (err: unknown) => {
        this.running = null;
        this.log.limited("content-schedule", "error", "scheduler tick failed", { error: String(err) });
      },
    );
    this.running = run;
    return run;
  }

  /** Run every scheduled query whose last run is at least its interval before `nowMs`. */
  async runDue(nowMs: number): Promise<number> {
    let n = 0;
    for (const id of [...this.store.queries.items.keys()]) {
      // stop() waits for this loop: leave it at the next query.
      if (this.halting) break;
      const q = this.store.queries.current(id);
      if (!q?.schedule) continue;
      const last = this.latest.get(id);
      const lastMs = last ? Date.parse(last.ranAt) : NaN;
      if (Number.isFinite(lastMs) && nowMs - lastMs < q.schedule.intervalSec * 1000) continue;
      await this.runOne(q, nowMs);
      n++;
    }
    return n;
  }

  /** Run `q` now with its defaults and keep the result (an error is kept as the result too). */
  async runOne(q: SavedQuery, nowMs = Date.now()): Promise<LatestResult> {
    let r: LatestResult;
    try {
      const text = renderSql(q.sql, q.params, {}, nowMs);
      const rows: unknown[][] = [];
      let columns: LatestResult["columns"] = [];
      let offset: number | null = 0;
      while (offset !== null && rows.length < MAX_RESULT_ROWS) {
        const page = await this.sql.query(text, { offset, limit: MAX_RESULT_ROWS - rows.length });
        columns = page.columns;
        rows.push(...page.rows);
        offset = page.nextOffset;
      }
      r = { ranAt: new Date(nowMs).toISOString(), columns, rows, error: null };
    } catch (err) {
      r = {
        ranAt: new Date(nowMs).toISOString(),
        columns: [],
        rows: [],
        error: err instanceof Error ? err.message : String(err),
      };
      this.log.limited("content-schedule", "warn", "scheduled query failed", { id: q.id, error: r.error });
    }
    this.runs++;
    // The query may have been deleted while it ran: keep nothing then.
    if (!this.store.queries.current(q.id)) return r;
    this.latest.set(q.id, r);
    try {
      writeAtomic(join(this.store.resultsDir, `${q.id}.json`), JSON.stringify(r));
    } catch (err) {
      this.log.limited("content-schedule-write", "error", "cannot keep scheduled result", {
        error: String(err),
      });
    }
    return r;
  }
}
