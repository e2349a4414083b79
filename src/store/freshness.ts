// Freshness of the store: for every committed row, the delay from its
// time_received (UDP receipt at the collector) to the COMMIT that made it
// visible to SQL. Kept as a log-bucketed histogram per second over a sliding
// window (default 60 s), so p50/p99 cost O(buckets × window) to read and
// nothing per row beyond one add per run of equal receive times.

/** Buckets per doubling: bucket bounds grow by 2^(1/16) ≈ 4.4 %, the error of a reported quantile. */
const PER_OCTAVE = 16;
/** Up to 2^22 ms (≈ 70 min); longer delays land in the last bucket. */
const OCTAVES = 22;
const BUCKETS = PER_OCTAVE * OCTAVES + 2;

/** Bucket 0: delay ≤ 0 ms (clock steps); bucket k ≥ 1 holds delays in (2^((k-2)/16), 2^((k-1)/16)] ms, bucket 1 up to 1 ms. */
function bucketOf(ms: number): number {
  if (!(ms > 0)) return 0;
  if (ms <= 1) return 1;
  return Math.min(BUCKETS - 1, 1 + Math.ceil(Math.log2(ms) * PER_OCTAVE));
}
/** Upper bound of bucket k in ms: what a quantile falling in it reports (never below the truth). */
function upperOf(k: number): number {
  return k === 0 ? 0 : 2 ** ((k - 1) / PER_OCTAVE);
}

export interface FreshnessSnapshot {
  /** Rows committed in the window. */
  rows: number;
  /** Delay quantiles in ms (upper bound of a ≈ 4.4 % wide bucket, capped at maxMs); 0 without rows. */
  p50Ms: number;
  p99Ms: number;
  /** Exact largest delay in the window. */
  maxMs: number;
  windowS: number;
}

export class FreshnessWindow {
  private readonly counts: Float64Array[];
  private readonly max: Float64Array;
  private readonly rows: Float64Array;
  /** The second (Unix time / 1000, floored) each slot holds; -1 = empty. */
  private readonly second: Float64Array;

  constructor(readonly windowS = 60) {
    this.counts = Array.from({ length: windowS }, () => new Float64Array(BUCKETS));
    this.max = new Float64Array(windowS);
    this.rows = new Float64Array(windowS);
    this.second = new Float64Array(windowS).fill(-1);
  }

  private slot(nowMs: number): number {
    const sec = Math.floor(nowMs / 1000);
    const s = sec % this.windowS;
    if (this.second[s] !== sec) {
      this.second[s] = sec;
      this.counts[s]!.fill(0);
      this.max[s] = 0;
      this.rows[s] = 0;
    }
    return s;
  }

  /** `count` rows received at `receivedMs` became visible at `commitMs`. */
  add(receivedMs: number, count: number, commitMs: number): void {
    const s = this.slot(commitMs);
    const d = commitMs - receivedMs;
    this.counts[s]![bucketOf(d)]! += count;
    if (d > this.max[s]!) this.max[s] = d;
    this.rows[s]! += count;
  }

  /** Runs of equal receive times (see ReceiveRuns) committed at `commitMs`. */
  addRuns(runs: ReceiveRuns, commitMs: number): void {
    for (let i = 0; i < runs.length; i++) this.add(runs.times[i]!, runs.counts[i]!, commitMs);
  }

  snapshot(nowMs = Date.now()): FreshnessSnapshot {
    const sec = Math.floor(nowMs / 1000);
    const sum = new Float64Array(BUCKETS);
    let rows = 0;
    let max = 0;
    for (let s = 0; s < this.windowS; s++) {
      const t = this.second[s]!;
      if (t < 0 || t <= sec - this.windowS || t > sec) continue;
      const c = this.counts[s]!;
      for (let k = 0; k < BUCKETS; k++) sum[k]! += c[k]!;
      rows += this.rows[s]!;
      if (this.max[s]! > max) max = this.max[s]!;
    }
    const q = (p: number): number => {
      if (rows === 0) return 0;
      const rank = Math.ceil(p * rows);
      let acc = 0;
      for (let k = 0; k < BUCKETS; k++) {
        acc += sum[k]!;
        if (acc >= rank) return Math.min(upperOf(k), max);
      }
      return max;
    };
    return { rows, p50Ms: q(0.5), p99Ms: q(0.99), maxMs: max, windowS: this.windowS };
  }
}

/**
 * The receive times of a stage's rows as runs (time, count): rows of one
 * datagram share time_received and arrive together, so a batch is a few
 * runs, found with one comparison per row.
 */
export class ReceiveRuns {
  times: number[] = [];
  counts: number[] = [];
  /** The newest receive time added (0 when empty): the writer closes rollup buckets relative to it. */
  newest = 0;
  get length(): number {
    return this.times.length;
  }
  addColumn(t: Float64Array, n: number): void {
    if (n === 0) return;
    let cur = t[0]!;
    let c = 0;
    for (let i = 0; i < n; i++) {
      const x = t[i]!;
      if (x === cur) c++;
      else {
        this.push(cur, c);
        cur = x;
        c = 1;
      }
    }
    this.push(cur, c);
  }
  private push(t: number, c: number): void {
    if (t > this.newest) this.newest = t;
    const j = this.times.length - 1;
    if (j >= 0 && this.times[j] === t) this.counts[j]! += c;
    else {
      this.times.push(t);
      this.counts.push(c);
    }
  }
  clear(): void {
    this.times = [];
    this.counts = [];
    this.newest = 0;
  }
}
