// `npm run bench -- freshness [--rate N] [--seconds S] [--interval-ms M]`
//
// Freshness (issue 4): at 100k flows/s, how long after UDP receipt is a flow
// visible to SQL? The real collector and store run in this process (App: the
// receive thread stamps time_received when it reads the datagram; the store
// commits micro-batches every store.intervalMs). A separate sender process
// (bench/sender.ts) replays the real NetFlow v9 export stream over loopback at
// the target rate, so the load generator never shares this event loop.
//
// Two measurements of the same run:
//  - internal: StoreWriter.freshness(), the store's own histogram (delay from
//    each row's time_received to the publish step that made it visible; log buckets
//    ≈ 4.4 % wide, exact max; a 60 s window, which holds the whole run when
//    it and the drain last under 60 s: `internal.rows` says how many rows it
//    covers);
//  - external (below), which needs nothing from the store: a
// poller on its own connection asks every POLL_MS which rows became visible
// since its last look — `time_received, count(*)` of the rows received at or
// after the newest receipt seen minus LOOKBACK_MS, compared with the counts
// it already holds for those milliseconds, so rows committed with a receive
// time a little older than rows already visible (data the decoder held until
// its template came) are counted too; rows older than that are reported as
// `missed`. (A rowid cursor was tried: under overload DuckDB's checkpoint
// merges partial row groups and rowids move, so rows were missed.) A row first seen
// by a query that started at T became visible at some point before T and
// after the previous query started, so T − time_received is an upper bound of
// its delay, too high by at most one poll period (POLL_MS plus the previous
// query's duration). Every row is counted, not sampled: p50/p99/max are over
// all flows received.
//
// Also reported: the main thread's event-loop delay during the send (a
// stalled loop delays the flush timer and the commits' callbacks) and the
// process's CPU time (all threads) per flow.
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { join } from "node:path";
import type { DuckDBConnection } from "@duckdb/node-api";
import { App } from "../src/app.js";
import { LIVE_VIEW } from "../src/store/live.js";
import { validateConfig } from "../src/config/schema.js";
import { silentLogger } from "../src/log.js";
import { flagsOf, numFlag, updateMonthResults } from "./month.js";
import { RCVBUF, runSender } from "./receive.js";
import type { SenderResult } from "./sender.js";

export const FRESHNESS_RATE = 100_000;
export const FRESHNESS_SECONDS = 20;
/** Target of issue 4: p99 from UDP receipt to visible to SQL. */
export const FRESHNESS_P99_TARGET_MS = 1000;
const POLL_MS = 20;
/** How far behind the newest receipt seen the poller still looks for newly visible rows. */
const LOOKBACK_MS = 2000;
/** Longest wait for the store to commit its backlog after the sender stops. */
const DRAIN_MS = 60_000;

export interface FreshnessResult {
  method: string;
  targetRate: number;
  seconds: number;
  storeIntervalMs: number;
  sender: SenderResult;
  /** Rows the poller saw become visible (= flows committed during the run). */
  rowsSeen: number;
  /** Committed rows the poller never saw (committed more than LOOKBACK_MS behind newer rows): outside the delay figures. */
  missed: number;
  /** Flows the collector decoded (stats), the store appended and committed. */
  collectorFlows: number;
  storeAppended: number;
  storeCommitted: number;
  /** Flows sent but never decoded (kernel or ring drops): never visible, so outside the delay figures. */
  lost: number;
  polls: number;
  /** Mean duration of one poll query, ms: part of the measurement's resolution. */
  pollQueryMs: number;
  /** Main-thread event-loop delay during the send, ms (perf_hooks.monitorEventLoopDelay, 10 ms resolution). */
  eventLoopDelayMs: { p50: number; p99: number; max: number };
  /** Process CPU (user + system, every thread: receive, decode, DuckDB, the poller) from the send's start until every row is committed, per flow received, µs. */
  cpuUsPerFlow: number;
  /** That CPU time / its wall time (the machine has 2 cores). */
  cpuCores: number;
  delayMs: { p50: number; p90: number; p99: number; p999: number; max: number; mean: number };
  /** Worst delay of the flows received in each second of the run (index = second). */
  worstDelayBySecondMs: number[];
  /** StoreWriter.freshness() right after the drain (the store's own histogram, last 60 s of commits). */
  internal: { rows: number; p50Ms: number; p99Ms: number; maxMs: number; windowS: number; complete: boolean };
  /** StoreWriter.durability() right after the drain: receipt → file COMMIT (durable), the same window. */
  durable: { rows: number; p50Ms: number; p99Ms: number; maxMs: number };
  meetsTarget: boolean;
}

function sleep(ms: number): Promise<void> {
  return new Promise((res) => setTimeout(res, ms));
}

/**
 * Delays as a histogram of whole milliseconds (delay → rows), so millions of
 * rows cost a small map, and quantiles are exact at ms resolution.
 */
class DelayHistogram {
  private readonly counts = new Map<number, number>();
  total = 0;
  private sum = 0;
  add(delayMs: number, n: number): void {
    const d = Math.max(0, Math.round(delayMs));
    this.counts.set(d, (this.counts.get(d) ?? 0) + n);
    this.total += n;
    this.sum += d * n;
  }
  quantile(q: number): number {
    const keys = [...this.counts.keys()].sort((a, b) => a - b);
    const want = Math.ceil(q * this.total);
    let acc = 0;
    for (const k of keys) {
      acc += this.counts.get(k)!;
      if (acc >= want) return k;
    }
    return keys.at(-1) ?? 0;
  }
  get mean(): number {
    return this.total ? this.sum / this.total : 0;
  }
}

/** Polls flows_live (what the planner and the flows view read: src/store/live.ts) for newly visible rows until stop() and fills the histogram. */
class VisibilityPoller {
  readonly hist = new DelayHistogram();
  /** Worst delay per second of receipt (seconds since the poller started): shows a growing backlog. */
  readonly worstBySecond = new Map<number, number>();
  private t0 = 0;
  polls = 0;
  private queryMs = 0;
  /** Newest receive time seen (epoch ms). */
  private lastMax = 0;
  /** Rows already counted per receive ms, for the ms at or after lastMax − LOOKBACK_MS. */
  private counted = new Map<number, number>();
  private running = true;
  private loop: Promise<void> | null = null;

  constructor(private readonly conn: DuckDBConnection) {}

  start(sinceMs: number): void {
    this.t0 = sinceMs;
    this.lastMax = sinceMs;
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    while (this.running) {
      const t = Date.now();
      const q0 = performance.now();
      const from = this.lastMax - LOOKBACK_MS;
      const r = await this.conn.runAndReadAll(
        `SELECT epoch_ms(time_received)::DOUBLE AS t, count(*)::DOUBLE AS n FROM ${LIVE_VIEW}
         WHERE time_received >= epoch_ms(${from}::BIGINT) GROUP BY 1 ORDER BY 1`,
      );
      this.queryMs += performance.now() - q0;
      this.polls++;
      for (const [tv, nv] of r.getRowsJS() as [number, number][]) {
        const n = nv - (this.counted.get(tv) ?? 0);
        if (n > 0) {
          this.hist.add(t - tv, n);
          const sec = Math.floor((tv - this.t0) / 1000);
          this.worstBySecond.set(sec, Math.max(this.worstBySecond.get(sec) ?? 0, t - tv));
          this.counted.set(tv, nv);
        }
        if (tv > this.lastMax) this.lastMax = tv;
      }
      for (const k of this.counted.keys()) if (k < this.lastMax - LOOKBACK_MS) this.counted.delete(k);
      await sleep(POLL_MS);
    }
  }

  async stop(): Promise<{ pollQueryMs: number }> {
    this.running = false;
    await this.loop;
    return { pollQueryMs: this.polls ? this.queryMs / this.polls : 0 };
  }
}

export async function runFreshness(
  opts: { rate?: number; seconds?: number; intervalMs?: number; log?: (s: string) => void } = {},
): Promise<FreshnessResult> {
  const rate = opts.rate ?? FRESHNESS_RATE;
  const seconds = opts.seconds ?? FRESHNESS_SECONDS;
  const log = opts.log ?? (() => {});
  const dir = mkdtempSync(join(tmpdir(), "nagare-fresh-"));
  const config = validateConfig({
    dataDir: dir,
    collector: { listen: ["127.0.0.1:0"], sflowListen: ["127.0.0.1:0"], receiveBufferBytes: RCVBUF },
    http: { listen: "127.0.0.1:0" },
    demo: { enabled: false },
    log: { level: "error" },
    ...(opts.intervalMs !== undefined ? { store: { intervalMs: opts.intervalMs } } : {}),
  });
  const app = new App({ config, log: silentLogger });
  await app.start();
  try {
    const store = app.store;
    if (!store) throw new Error("the app has no store");
    const port = app.collector.bound[0]?.port;
    if (!port) throw new Error("the collector bound no socket");
    const conn = await store.database.connect();
    const poller = new VisibilityPoller(conn);
    poller.start(Date.now());
    log(
      `  sending ${rate / 1000}k flows/s for ${seconds} s to 127.0.0.1:${port} (store.intervalMs ${store.config.intervalMs})`,
    );
    const eld = monitorEventLoopDelay({ resolution: 10 });
    eld.enable();
    const cpu0 = process.cpuUsage();
    const wall0 = performance.now();
    const flows0 = app.stats.totals().flowRecords;
    const sender = await runSender(port, rate, seconds);
    eld.disable();
    // Let the last micro-batches commit and be seen: until every appended row
    // is committed and the poller has seen them all (a backlog would
    // otherwise be left out of the distribution), at most DRAIN_MS.
    const drainEnd = Date.now() + DRAIN_MS;
    await sleep(store.config.intervalMs + 200);
    let allCommittedAt = 0;
    while (Date.now() < drainEnd) {
      if (store.rowsCommitted >= store.rowsAppended) {
        if (poller.hist.total >= store.rowsCommitted) break;
        // Rows the poller cannot see any more (committed too far behind newer ones): stop waiting after 2 s.
        allCommittedAt ||= Date.now();
        if (Date.now() - allCommittedAt > 2000) break;
      }
      await sleep(100);
    }
    // CPU from the first datagram until every row is committed: a store that
    // falls behind during the send does its work in the drain.
    const cpu = process.cpuUsage(cpu0);
    const cpuUs = cpu.user + cpu.system;
    const wallMs = performance.now() - wall0;
    const flowsSend = app.stats.totals().flowRecords - flows0;
    await sleep(POLL_MS * 3);
    const snap = store.freshness();
    const dur = store.durability();
    const { pollQueryMs } = await poller.stop();
    conn.closeSync();
    const h = poller.hist;
    const p99 = h.quantile(0.99);
    return {
      method: `external: poll of newly visible flows_live rows (flows_raw + published stages) every ${POLL_MS} ms on a separate connection; delay = poll query start − time_received (an upper bound, by at most one poll period)`,
      targetRate: rate,
      seconds,
      storeIntervalMs: store.config.intervalMs,
      sender,
      rowsSeen: h.total,
      missed: store.rowsCommitted - h.total,
      collectorFlows: app.stats.totals().flowRecords,
      storeAppended: store.rowsAppended,
      storeCommitted: store.rowsCommitted,
      lost: sender.sentFlows - app.stats.totals().flowRecords,
      polls: poller.polls,
      pollQueryMs: Math.round(pollQueryMs * 10) / 10,
      eventLoopDelayMs: {
        p50: Math.round(eld.percentile(50) / 1e5) / 10,
        p99: Math.round(eld.percentile(99) / 1e5) / 10,
        max: Math.round(eld.max / 1e5) / 10,
      },
      cpuUsPerFlow: Math.round((cpuUs / Math.max(flowsSend, 1)) * 10) / 10,
      cpuCores: Math.round((cpuUs / 1000 / wallMs) * 100) / 100,
      delayMs: {
        p50: h.quantile(0.5),
        p90: h.quantile(0.9),
        p99,
        p999: h.quantile(0.999),
        max: h.quantile(1),
        mean: Math.round(h.mean),
      },
      worstDelayBySecondMs: [...poller.worstBySecond.entries()].sort((a, b) => a[0] - b[0]).map(([, v]) => v),
      internal: {
        rows: snap.rows,
        p50Ms: Math.round(snap.p50Ms),
        p99Ms: Math.round(snap.p99Ms),
        maxMs: Math.round(snap.maxMs),
        windowS: snap.windowS,
        complete: snap.rows === store.rowsCommitted,
      },
      durable: {
        rows: dur.rows,
        p50Ms: Math.round(dur.p50Ms),
        p99Ms: Math.round(dur.p99Ms),
        maxMs: Math.round(dur.maxMs),
      },
      meetsTarget: p99 < FRESHNESS_P99_TARGET_MS,
    };
  } finally {
    await app.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const FRESHNESS_FLAGS = ["rate", "seconds", "interval-ms"];

export async function runFreshnessPart(
  machine: Record<string, unknown>,
  argv: readonly string[],
): Promise<void> {
  const flags = flagsOf(argv);
  for (const k of flags.keys()) {
    if (!FRESHNESS_FLAGS.includes(k))
      throw new Error(`freshness: unknown option --${k} (${FRESHNESS_FLAGS.join(", ")})`);
  }
  const started = new Date();
  const load0 = loadavg()[0];
  const rate = numFlag(flags, "rate", FRESHNESS_RATE);
  const seconds = numFlag(flags, "seconds", FRESHNESS_SECONDS);
  const intervalMs = flags.has("interval-ms") ? numFlag(flags, "interval-ms", 1000) : undefined;
  console.log(
    `Freshness (issue 4): UDP receipt → visible to SQL, ${rate / 1000}k flows/s for ${seconds} s; target p99 < ${FRESHNESS_P99_TARGET_MS} ms`,
  );
  const r = await runFreshness({ rate, seconds, intervalMs, log: (s) => console.log(s) });
  const d = r.delayMs;
  console.log(
    `  sent ${r.sender.sentFlows} flows (${(r.sender.rateFlows / 1000).toFixed(1)}k/s); decoded ${r.collectorFlows} (lost ${r.lost}); appended ${r.storeAppended}; committed ${r.storeCommitted}; seen ${r.rowsSeen} (missed ${r.missed}) in ${r.polls} polls (${r.pollQueryMs} ms each)`,
  );
  console.log(
    `  external poll, delay ms: p50 ${d.p50} · p90 ${d.p90} · p99 ${d.p99} · p99.9 ${d.p999} · max ${d.max} · mean ${d.mean} — store.intervalMs ${r.storeIntervalMs} — p99 < ${FRESHNESS_P99_TARGET_MS} ms: ${r.meetsTarget ? "yes" : "NO"}`,
  );
  const i = r.internal;
  console.log(
    `  internal (StoreWriter.freshness(), ${i.rows} rows${i.complete ? ", the whole run" : `, NOT the whole run (${r.storeCommitted} committed)`}): p50 ${i.p50Ms} · p99 ${i.p99Ms} · max ${i.maxMs}`,
  );
  const du = r.durable;
  console.log(
    `  durable (StoreWriter.durability(), receipt → file COMMIT, ${du.rows} rows): p50 ${du.p50Ms} · p99 ${du.p99Ms} · max ${du.maxMs}`,
  );
  const e = r.eventLoopDelayMs;
  console.log(
    `  event-loop delay during the send p50 ${e.p50} · p99 ${e.p99} · max ${e.max} ms; process CPU until all committed ${r.cpuCores} cores, ${r.cpuUsPerFlow} µs per flow; load average ${loadavg()[0]!.toFixed(2)}`,
  );
  console.log(`  worst delay by second of receipt (ms): ${r.worstDelayBySecondMs.join(" ")}`);
  const path = await updateMonthResults("freshness", {
    started: started.toISOString(),
    finished: new Date().toISOString(),
    machine,
    loadAverage1m: { start: load0, end: loadavg()[0] },
    targetP99Ms: FRESHNESS_P99_TARGET_MS,
    ...r,
  });
  console.log(`\nwrote ${path}`);
}
