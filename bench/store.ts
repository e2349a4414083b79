// Store ingest throughput: sustained rows/s from decoded FlowBatches into a
// DuckDB file database through StoreWriter.
//
//   append   consume() only (the synchronous Appender path; the merge timer is
//            off and the final flush is not timed)
//   e2e      consume() + the 1 s flush timer (stage → flows_raw + rollups),
//            rate = rows committed / wall time including the final drain
//   e2e+query  e2e while another connection runs TopN flow queries (the
//            planner's SQL, as the API runs them) back to back: top 10
//            source addresses over the last 5 min from flows_raw, and top 10
//            exporters × protocol over the last hour from the rollups
//
// Every mode also reports the freshness (receipt → COMMIT delay, p50/p99/max
// over the run's last 60 s) of the committed rows.
// Input: ipfixcol2 example_flows decoded once, replayed in a loop with the
// receive time moved to "now" and the flow times shifted with it, so the
// rollups see advancing buckets as they would live.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FlowBatch } from "../src/collector/batch.js";
import { FlowDecoder } from "../src/collector/decoder.js";
import { CollectorStats } from "../src/collector/stats.js";
import { RecordSink } from "../src/collector/types.js";
import type { DuckDBInstance } from "@duckdb/node-api";
import { duckdbParams } from "../src/query/filter/index.js";
import { planFlowQuery, type FlowQuery } from "../src/query/planner/index.js";
import { MACROS } from "../src/query/sql/macros.js";
import type { FreshnessSnapshot } from "../src/store/freshness.js";
import { StoreWriter } from "../src/store/index.js";
import { BENCH_SRC, loadStream } from "./stream.js";

export type StoreMode = "append" | "e2e" | "e2e+query";
export const STORE_MODES: readonly StoreMode[] = ["append", "e2e", "e2e+query"];

export interface StoreResult {
  mode: StoreMode;
  seconds: number;
  rows: number;
  rowsPerSecond: number;
  flushes: number;
  lastFlushMs: number;
  /** Process CPU time (all threads: JS + DuckDB) per second of wall time; the machine has 2 cores. */
  cpuPerWall: number;
  /** Rows per CPU-second: steadier than rows/s when other work shares the cores. */
  rowsPerCpuSecond: number;
  /** e2e+query: TopN queries completed, and their mean latency. */
  queries?: number;
  queryMeanMs?: number;
  /** Receipt → COMMIT delay of the committed rows (writers that track it). */
  freshness?: FreshnessSnapshot;
}

/** What the bench needs of a writer (StoreWriter; a scratch copy of an older writer fits too). */
export interface BenchWriter {
  start(): Promise<void>;
  consume(b: FlowBatch): void;
  flush(): Promise<void>;
  stop(): Promise<void>;
  rowsAppended: number;
  rowsCommitted: number;
  flushes: number;
  lastFlushMs: number;
  /** For e2e+query: the instance the query connection opens on. */
  readonly database?: DuckDBInstance;
  freshness?(): FreshnessSnapshot;
}
export type WriterFactory = (path: string, intervalMs: number) => BenchWriter;
const storeWriter: WriterFactory = (path, intervalMs) => new StoreWriter({ config: { path, intervalMs } });

/** Decoded batches of a real capture, full batches (4096 rows) as the collector hands them on. */
export function storeBatches(minRows = 65_536): FlowBatch[] {
  const s = loadStream("ipfixcol2 example_flows", ["ipfixcol2__example_flows.ipfix"]);
  const out: FlowBatch[] = [];
  const dec = new FlowDecoder({ stats: new CollectorStats() });
  const sink = new RecordSink((b) => out.push(b));
  let rows = 0;
  while (rows < minRows) {
    for (const d of s.datagrams) rows += dec.decode(d.payload, BENCH_SRC, sink);
  }
  return out;
}

/** Move a batch's times so that time_received is `now` (flow times keep their offsets). */
function restamp(b: FlowBatch, now: number): void {
  const c = b.cols;
  for (let i = 0; i < b.length; i++) {
    const d = now - c.time_received[i]!;
    c.time_received[i] = now;
    c.time_flow_start[i] = c.time_flow_start[i]! + d;
    c.time_flow_end[i] = c.time_flow_end[i]! + d;
  }
}

/** The TopN queries of e2e+query, planned at `now` (as the API plans them). */
function topNQueries(now: number): FlowQuery[] {
  return [
    {
      start: now - 300_000,
      end: now + 1000,
      resolution: "auto",
      dimensions: ["src_addr"],
      metric: "bytes",
      topN: 10,
      shape: "table",
    },
    {
      start: now - 3_600_000,
      end: now + 1000,
      resolution: "minute",
      dimensions: ["exporter_address", "protocol"],
      metric: "bps",
      topN: 10,
      shape: "timeseries",
    },
  ];
}

/** Run the TopN queries back to back on their own connection until `stop()`; resolves to [count, total ms]. */
function queryLoop(db: DuckDBInstance): { stop: () => Promise<[number, number]> } {
  let running = true;
  const done = (async (): Promise<[number, number]> => {
    const conn = await db.connect();
    for (const m of MACROS) await conn.run(m);
    let n = 0;
    let ms = 0;
    try {
      while (running) {
        for (const q of topNQueries(Date.now())) {
          const plan = planFlowQuery(q, Date.now());
          const b = duckdbParams(plan.params);
          const t = performance.now();
          await conn.runAndReadAll(plan.sql, b.values, b.types);
          ms += performance.now() - t;
          n++;
        }
      }
    } finally {
      conn.closeSync();
    }
    return [n, ms];
  })();
  return {
    stop: async () => {
      running = false;
      return done;
    },
  };
}

export async function runStore(
  mode: StoreMode,
  seconds = 5,
  batches = storeBatches(),
  make: WriterFactory = storeWriter,
): Promise<StoreResult> {
  const dir = mkdtempSync(join(tmpdir(), "nagare-bench-store-"));
  const e2e = mode !== "append";
  const w = make(join(dir, "bench.duckdb"), e2e ? 1000 : 3_600_000);
  await w.start();
  const queries = mode === "e2e+query" && w.database ? queryLoop(w.database) : null;
  try {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const until = t0 + seconds * 1000;
    let k = 0;
    while (performance.now() < until) {
      const b = batches[k++ % batches.length]!;
      restamp(b, Math.floor(Date.now()));
      w.consume(b);
      // Let the flush timer and the merge's callbacks run, as the event loop does between
      // datagrams, after every batch.
      if (e2e) await new Promise<void>((r) => setImmediate(r));
    }
    let rows = w.rowsAppended;
    let s = (performance.now() - t0) / 1000;
    if (e2e) {
      await w.flush();
      rows = w.rowsCommitted;
      s = (performance.now() - t0) / 1000;
    }
    const q = queries ? await queries.stop() : null;
    const cpu = process.cpuUsage(cpu0);
    const cpuS = (cpu.user + cpu.system) / 1e6;
    return {
      mode,
      seconds: s,
      rows,
      rowsPerSecond: rows / s,
      flushes: w.flushes,
      lastFlushMs: w.lastFlushMs,
      cpuPerWall: cpuS / s,
      rowsPerCpuSecond: rows / cpuS,
      ...(q ? { queries: q[0], queryMeanMs: q[0] ? q[1] / q[0] : 0 } : {}),
      ...(e2e && w.freshness ? { freshness: w.freshness() } : {}),
    };
  } finally {
    await queries?.stop().catch(() => undefined);
    await w.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function runStorePart(seconds = 5, make: WriterFactory = storeWriter): Promise<StoreResult[]> {
  const batches = storeBatches();
  const out: StoreResult[] = [];
  for (const mode of STORE_MODES) {
    const r = await runStore(mode, seconds, batches, make);
    out.push(r);
    console.log(
      `  store ${mode}: ${(r.rowsPerSecond / 1000).toFixed(0)} k rows/s, ${(r.rowsPerCpuSecond / 1000).toFixed(0)} k rows/CPU-s (${r.rows} rows in ${r.seconds.toFixed(1)} s, CPU ${r.cpuPerWall.toFixed(2)} cores, ${r.flushes} flushes, last flush ${r.lastFlushMs.toFixed(0)} ms)` +
        (r.queries !== undefined ? `, ${r.queries} TopN queries, mean ${r.queryMeanMs!.toFixed(0)} ms` : "") +
        (r.freshness
          ? `, freshness p50 ${r.freshness.p50Ms.toFixed(0)} ms p99 ${r.freshness.p99Ms.toFixed(0)} ms max ${r.freshness.maxMs.toFixed(0)} ms`
          : ""),
    );
  }
  return out;
}

// Run directly: node --import tsx bench/store.ts [append|e2e|e2e+query] [seconds]
if (import.meta.url === `file://${process.argv[1]}`) {
  const mode = process.argv[2];
  const secs = Number(process.argv[3] ?? 5);
  if (STORE_MODES.includes(mode as StoreMode)) {
    const r = await runStore(mode as StoreMode, secs);
    console.log(JSON.stringify(r));
  } else {
    await runStorePart(secs);
  }
}
