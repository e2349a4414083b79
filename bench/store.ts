// Store ingest throughput: sustained rows/s from decoded FlowBatches into a
// DuckDB file database through StoreWriter.
//
//   append   consume() only (the synchronous Appender path; the merge timer is
//            off and the final flush is not timed)
//   e2e      consume() + the 1 s flush timer (stage → flows_raw + rollups),
//            rate = rows committed / wall time including the final drain
//
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
import { StoreWriter } from "../src/store/index.js";
import { BENCH_SRC, loadStream } from "./stream.js";

export interface StoreResult {
  mode: "append" | "e2e";
  seconds: number;
  rows: number;
  rowsPerSecond: number;
  flushes: number;
  lastFlushMs: number;
  /** Process CPU time (all threads: JS + DuckDB) per second of wall time; the machine has 2 cores. */
  cpuPerWall: number;
  /** Rows per CPU-second: steadier than rows/s when other work shares the cores. */
  rowsPerCpuSecond: number;
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

export async function runStore(
  mode: "append" | "e2e",
  seconds = 5,
  batches = storeBatches(),
  make: WriterFactory = storeWriter,
): Promise<StoreResult> {
  const dir = mkdtempSync(join(tmpdir(), "nagare-bench-store-"));
  const w = make(join(dir, "bench.duckdb"), mode === "e2e" ? 1000 : 3_600_000);
  await w.start();
  try {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const until = t0 + seconds * 1000;
    let k = 0;
    while (performance.now() < until) {
      const b = batches[k++ % batches.length]!;
      restamp(b, Math.floor(Date.now()));
      w.consume(b);
      // Let the flush timer and the merge's callbacks run, as the event loop would between datagrams.
      if (mode === "e2e" && k % 8 === 0) await new Promise<void>((r) => setImmediate(r));
    }
    let rows = w.rowsAppended;
    let s = (performance.now() - t0) / 1000;
    if (mode === "e2e") {
      await w.flush();
      rows = w.rowsCommitted;
      s = (performance.now() - t0) / 1000;
    }
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
    };
  } finally {
    await w.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function runStorePart(seconds = 5, make: WriterFactory = storeWriter): Promise<StoreResult[]> {
  const batches = storeBatches();
  const out: StoreResult[] = [];
  for (const mode of ["append", "e2e"] as const) {
    const r = await runStore(mode, seconds, batches, make);
    out.push(r);
    console.log(
      `  store ${mode}: ${(r.rowsPerSecond / 1000).toFixed(0)} k rows/s, ${(r.rowsPerCpuSecond / 1000).toFixed(0)} k rows/CPU-s (${r.rows} rows in ${r.seconds.toFixed(1)} s, CPU ${r.cpuPerWall.toFixed(2)} cores, ${r.flushes} flushes, last flush ${r.lastFlushMs.toFixed(0)} ms)`,
    );
  }
  return out;
}

// Run directly: node --import tsx bench/store.ts [append|e2e] [seconds]
if (import.meta.url === `file://${process.argv[1]}`) {
  const mode = process.argv[2];
  const secs = Number(process.argv[3] ?? 5);
  if (mode === "append" || mode === "e2e") {
    const r = await runStore(mode, secs);
    console.log(JSON.stringify(r));
  } else {
    await runStorePart(secs);
  }
}
