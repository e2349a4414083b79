// The collector under test in the receive benchmark: exactly `nagare start`
// (the CLI's main(), the same App the binary runs), forked with an IPC
// channel so the benchmark can read its counters and memory without the HTTP
// API adding load. Messages: "stats" → { flows, datagrams, errors, kernelDrops,
// ringDrops, rss, heapUsed, heapTotal, external, arrayBuffers, routing? }; "stop" → graceful stop;
// "count-routed" / "count-routed-off" → count (or stop counting) the flows that
// left the enrichment with a destination route (bench receive --enrich --routing).
import type { App } from "../src/app.js";
import { main } from "../src/cli/main.js";
import type { FlowBatch } from "../src/collector/batch.js";
import type { Rib } from "../src/enrich/routing/rib.js";

/** With enrich.bgp configured: the listener, the exporter's RIB and the routed-flow count. */
export interface RoutingReport {
  /** The BGP listener's bound port (config listen "127.0.0.1:0"). */
  bgpPort: number;
  /** A BGP session is Established (some bgp:<neighbor> state is loaded). */
  established: boolean;
  /** Routes in the RIB that answers for exporter 127.0.0.1 (the sender's address). */
  routesV4: number;
  routesV6: number;
  /** That RIB's lookup cache (lookups reaching the RIB; the service's address cache answers repeats first). */
  cacheHits: number;
  cacheMisses: number;
  /** While counting: flows seen after enrichment, and those with a non-empty as_path (destination route found). */
  countedFlows: number;
  routedFlows: number;
}

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
  routing?: RoutingReport;
}

let app: App | undefined;
const stop = new AbortController();
// Counting is off during the measured steps (one boolean test per batch then):
// the bench switches it on for a separate check step.
let counting = false;
let countedFlows = 0;
let routedFlows = 0;
const routedCounter = {
  name: "bench-routed-counter",
  consume(b: FlowBatch): void {
    if (!counting) return;
    const asPath = b.cols.as_path;
    countedFlows += b.length;
    for (let i = 0; i < b.length; i++) if (asPath[i] !== "") routedFlows++;
  },
};

function routingReport(a: App): RoutingReport | undefined {
  const r = a.routing;
  if (!r) return undefined;
  // The source's class (src/enrich/routing/index.ts) also has router(): the RIB answering for an exporter.
  const rib = (r as unknown as { router?: (exporter: string) => Rib | null }).router?.("127.0.0.1");
  return {
    bgpPort: r.ports().bgp,
    established: r.state().some((s) => s.name.startsWith("bgp:") && s.status === "loaded"),
    routesV4: rib?.routesV4 ?? 0,
    routesV6: rib?.routesV6 ?? 0,
    cacheHits: rib?.cacheHits ?? 0,
    cacheMisses: rib?.cacheMisses ?? 0,
    countedFlows,
    routedFlows,
  };
}

process.on("message", (msg: unknown) => {
  if (msg === "stop") {
    stop.abort();
    return;
  }
  if (msg === "count-routed" || msg === "count-routed-off") {
    counting = msg === "count-routed";
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
    const routing = routingReport(app);
    if (routing) r.routing = routing;
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
    // After the enrichment consumer (the pipeline runs consumers in order).
    if (a.routing) a.pipeline.add(routedCounter);
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
