// Per-second traffic totals in memory: the unfiltered per-second series of
// any period still held at second detail, answered without a statement.
//
// Why: a per-second series of ten minutes is 600 rows of flows_1s, yet a
// DuckDB statement costs ~5 ms before it reads a row (parse, bind, plan,
// threads), while nfdump answers the same question from one small file in
// ~13 ms. The unfiltered total is also what the explorer opens with and what
// a dashboard's traffic widget asks most, so it is worth keeping the whole
// flows_1s total in memory: 3 numbers per second, 24 bytes — 14.5 MB for 7
// days, 62 MB for a month.
//
// Source of truth: flows_1s (src/store/rollups.ts, set "second"), which
// holds per-second sums by IP version, scaled by sampling, below its
// closed-until watermark. The cache holds sum over IP versions of each
// second in [from, loadedThrough), loadedThrough ≤ that watermark:
// - catchUp(W) loads [loadedThrough, W) with one statement, before a query
//   uses the cache (W: the watermark the planner used), so it never answers
//   past what flows_1s holds;
// - late rows (a bucket already closed gets more rows, see writer.ts
//   closeBuckets) and disk-budget deletions are reported by the writer
//   (invalidateFrom, invalidateAll): those seconds are loaded again;
// - age retention deletes flows_1s rows older than rawDays; the cache answers
//   only windows starting at least an hour inside that age, and frees the
//   hours beyond it.
// Anything else (a filter, dimensions, another resolution, previous period)
// goes to DuckDB as before. test/seconds-cache.test.ts checks answers are
// identical to the statement's for every metric.
import type { DuckDBConnection, DuckDBInstance } from "@duckdb/node-api";

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
/** Numbers per second: bytes, packets, flows. */
const M = 3;

export type SecondMetric = "bytes" | "packets" | "flows" | "bps" | "pps";

export interface SecondTotalsOptions {
  db: () => DuckDBInstance;
  /** flows_1s age retention (store.retention.rawDays). */
  rawDays: number;
  /** Most days kept in memory (the newest); older windows go to DuckDB. */
  maxDays?: number;
  now?: () => number;
}

export interface SecondTotalsStats {
  hours: number;
  bytes: number;
  hits: number;
  loads: number;
  loadedThrough: number | null;
}

export class SecondTotals {
  private readonly hours = new Map<number, Float64Array>();
  /** Every second before this is loaded (from `from` on); null until the first catchUp. */
  private loadedThrough: number | null = null;
  /** The first second the cache holds. */
  private from = 0;
  /** Loads run one at a time, in order. */
  private chain: Promise<void> = Promise.resolve();
  private conn: Promise<DuckDBConnection> | null = null;
  private readonly maxDays: number;
  private readonly now: () => number;
  hits = 0;
  loads = 0;

  constructor(private readonly opts: SecondTotalsOptions) {
    this.maxDays = Math.min(opts.maxDays ?? 35, opts.rawDays);
    this.now = opts.now ?? Date.now;
  }

  /** Bring the cache up to flows_1s's watermark `w` (epoch ms, a whole second). */
  catchUp(w: number | undefined): Promise<void> {
    if (w === undefined) return this.chain;
    const next = this.chain.then(async () => {
      const lo = Math.max(this.loadedThrough ?? -Infinity, this.oldestKept());
      if (this.loadedThrough === null) this.from = lo;
      if (w <= lo) {
        this.loadedThrough ??= lo;
        return;
      }
      await this.load(lo, w);
      this.loadedThrough = w;
      this.trim();
    });
    // A failed load leaves the cache as it was; the query falls back to DuckDB.
    this.chain = next.catch(() => undefined);
    return next;
  }

  /** Seconds from `ms` on changed (late rows): they are loaded again at the next catchUp. */
  invalidateFrom(ms: number): void {
    this.chain = this.chain.then(() => {
      if (this.loadedThrough !== null && ms < this.loadedThrough) {
        this.loadedThrough = Math.max(Math.floor(ms / 1000) * 1000, this.from);
      }
    });
  }

  /** Rows were deleted anywhere (disk budget): start again. */
  invalidateAll(): void {
    this.chain = this.chain.then(() => {
      this.hours.clear();
      this.loadedThrough = null;
    });
  }

  /**
   * The per-second series of [startMs, endMs) (whole seconds), as the
   * statement's zero-filled rows [time_ms, value] would convert (BIGINT and
   * HUGEINT as strings, DOUBLE as numbers); null when the cache does not
   * hold the whole window.
   */
  answer(startMs: number, endMs: number, metric: SecondMetric): unknown[][] | null {
    const through = this.loadedThrough;
    if (through === null || startMs < this.from || endMs > through || startMs % 1000 || endMs % 1000)
      return null;
    if (startMs < this.now() - this.opts.rawDays * DAY_MS + HOUR_MS) return null;
    const k = metric === "bytes" || metric === "bps" ? 0 : metric === "packets" || metric === "pps" ? 1 : 2;
    const rows: unknown[][] = [];
    for (let t = startMs; t < endMs; t += 1000) {
      const h = Math.floor(t / HOUR_MS);
      const arr = this.hours.get(h);
      const v = arr ? arr[((t - h * HOUR_MS) / 1000) * M + k]! : 0;
      // bps: sum(v)::DOUBLE * 8 / 1 as the planner writes it; pps: sum(v)::DOUBLE / 1.
      rows.push([String(t), metric === "bps" ? (v * 8) / 1 : metric === "pps" ? v / 1 : String(v)]);
    }
    this.hits++;
    return rows;
  }

  stats(): SecondTotalsStats {
    return {
      hours: this.hours.size,
      bytes: this.hours.size * 3600 * M * 8,
      hits: this.hits,
      loads: this.loads,
      loadedThrough: this.loadedThrough,
    };
  }

  close(): void {
    const c = this.conn;
    this.conn = null;
    void c?.then((conn) => conn.closeSync()).catch(() => undefined);
  }

  private oldestKept(): number {
    const t = this.now() - this.maxDays * DAY_MS;
    return Math.floor(t / HOUR_MS) * HOUR_MS;
  }

  /** Free hours older than what is kept. */
  private trim(): void {
    const first = this.oldestKept();
    if (first <= this.from) return;
    for (const h of this.hours.keys()) if (h * HOUR_MS < first) this.hours.delete(h);
    this.from = first;
  }

  /** Replace [lo, hi) with what flows_1s holds. */
  private async load(lo: number, hi: number): Promise<void> {
    this.conn ??= this.opts.db().connect();
    const conn = await this.conn;
    // Zero the range first: a reload after late rows replaces, never adds.
    for (let t = Math.ceil(lo / 1000) * 1000; t < hi;) {
      const h = Math.floor(t / HOUR_MS);
      const arr = this.hours.get(h);
      const end = Math.min(hi, (h + 1) * HOUR_MS);
      if (arr) arr.fill(0, ((t - h * HOUR_MS) / 1000) * M, Math.ceil((end - h * HOUR_MS) / 1000) * M);
      t = end;
    }
    // ::DOUBLE is exact below 2^53 (9 PB in one second), as the planner's own bps cast.
    const r = await conn.stream(
      `SELECT epoch_ms(bucket)::DOUBLE, sum(bytes)::DOUBLE, sum(packets)::DOUBLE, sum(flows)::DOUBLE
       FROM flows_1s WHERE bucket >= epoch_ms(${Math.floor(lo)}::BIGINT) AND bucket < epoch_ms(${Math.floor(hi)}::BIGINT)
       GROUP BY 1`,
    );
    for (;;) {
      const chunk = await r.fetchChunk();
      if (!chunk || chunk.rowCount === 0) break;
      const ts = chunk.getColumnValues(0) as number[];
      const cols = [1, 2, 3].map((i) => chunk.getColumnValues(i) as number[]);
      for (let i = 0; i < ts.length; i++) {
        const t = ts[i]!;
        const h = Math.floor(t / HOUR_MS);
        let arr = this.hours.get(h);
        if (!arr) this.hours.set(h, (arr = new Float64Array(3600 * M)));
        const at = ((t - h * HOUR_MS) / 1000) * M;
        for (let m = 0; m < M; m++) arr[at + m] = cols[m]![i]!;
      }
    }
    this.loads++;
  }
}
