// The collector under test in the receive benchmark: exactly `nagare start`
// (the CLI's main(), the same App the binary runs), forked with an IPC
// channel so the benchmark can read its counters and memory without the HTTP
// API adding load. Messages: "stats" → { flows, datagrams, errors, kernelDrops,
// ringDrops, rss, heapUsed, heapTotal, external, arrayBuffers }; "stop" → graceful stop.
import type { App } from "../src/app.js";
import { main } from "../src/cli/main.js";

export interface CollectorReport {
  flows: number;
  options: number;
  datagrams: number;
  errors: number;
  kernelDrops: number;
  /** Datagrams lost between the receive thread and the decoder (ring full). */
  ringDrops: number;
  rss: number;
  heapUsed: number;
  heapTotal: number;
  arrayBuffers: number;
}

let app: App | undefined;
const stop = new AbortController();

process.on("message", (msg: unknown) => {
  if (msg === "stop") {
    stop.abort();
    return;
  }
  if (msg === "stats" && app) {
    app.collector.readDrops();
    const t = app.stats.totals();
    const m = process.memoryUsage();
    const r: CollectorReport = {
      flows: t.flowRecords,
      options: t.optionsRecords,
      datagrams: t.packets,
      errors: t.errors,
      kernelDrops: app.stats.kernelDrops,
      ringDrops: app.stats.queueDrops,
      rss: m.rss,
      heapUsed: m.heapUsed,
      heapTotal: m.heapTotal,
      arrayBuffers: m.arrayBuffers,
    };
    process.send?.(r);
  }
});

// --no-store: this bench measures UDP receive + decode. With the store on
// (the default) the same process also appends every flow to DuckDB on these
// 2 cores, and measured here (3 s steps) it received 79% of 250k flows/s and
// 41% of 500k/s against 100% without; ingest into the store has its own
// benchmark (bench/store.ts).
main([...process.argv.slice(2), "--no-store"], {
  stop: stop.signal,
  summaryIntervalMs: 3_600_000,
  onStarted: (a) => {
    app = a;
    process.send?.("ready");
  },
}).then(
  (code) => {
    process.exitCode = code;
    process.disconnect?.();
  },
  (err: unknown) => {
    console.error(err);
    process.exitCode = 1;
    process.disconnect?.();
  },
);
