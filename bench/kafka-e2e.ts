// Kafka end to end: flows/s through UDP collector → Kafka → consumer → store
// on this machine, with a real broker (test/helpers/kafka.ts: Apache Kafka
// jars from Maven Central, KRaft, one node) and the real processes' code: a
// `collector`-mode App publishing nagare-binary messages, a `store`-mode App
// consuming them into DuckDB. The sender is its own process (bench/sender.ts,
// the real NetFlow v9 stream of the receive bench) at a paced rate.
//
//   npm run bench -- kafka-e2e [--rate F] [--seconds S] [--partitions P]
//
// Reported per run: flows sent, decoded by the collector, produced, consumed,
// committed to the store; the end-to-end rate = flows committed / (first
// datagram → last flow committed and its offset committed); lag at the end.
// Two apps and the broker share this machine's cores with the sender: the
// figure is for the whole chain on one box, not per component.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { App } from "../src/app.js";
import { validateConfig } from "../src/config/schema.js";
import { silentLogger } from "../src/log.js";
import { startKafka } from "../test/helpers/kafka.js";
import { RCVBUF, runSender } from "./receive.js";
import type { SenderResult } from "./sender.js";

export interface KafkaE2EResult {
  targetRate: number;
  seconds: number;
  partitions: number;
  sender: SenderResult;
  collectorFlows: number;
  consumedFlows: number;
  storeCommitted: number;
  /** First datagram → every decoded flow committed in the store and its offset committed (ms). */
  wallMs: number;
  /** storeCommitted / wallMs. */
  flowsPerSecond: number;
  /** Sum of partition lags when done (0: caught up). */
  finalLag: number;
  producer: Record<string, number> | null;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function runKafkaE2E(
  opts: { rate?: number; seconds?: number; partitions?: number } = {},
): Promise<KafkaE2EResult> {
  const rate = opts.rate ?? 100_000;
  const seconds = opts.seconds ?? 10;
  const partitions = opts.partitions ?? 3;
  const kafka = await startKafka();
  const dir = mkdtempSync(join(tmpdir(), "nagare-bench-kafka-"));
  const topic = "nagare.bench";
  await kafka.createTopic(topic, partitions);
  const bus = { enabled: true, brokers: [kafka.bootstrap], topic };
  const collector = new App({
    config: validateConfig({
      mode: "collector",
      dataDir: join(dir, "collector"),
      collector: { listen: ["127.0.0.1:0"], sflowListen: ["127.0.0.1:0"], receiveBufferBytes: RCVBUF },
      http: { listen: "127.0.0.1:0" },
      demo: { enabled: false },
      detect: { enabled: false },
      bus,
    }),
    log: silentLogger,
  });
  const store = new App({
    config: validateConfig({
      mode: "store",
      dataDir: join(dir, "store"),
      http: { listen: "127.0.0.1:0" },
      demo: { enabled: false },
      detect: { enabled: false },
      bus: { ...bus, consumer: { groupId: "nagare-bench", lagIntervalMs: 0 } },
    }),
    log: silentLogger,
  });
  try {
    await collector.start();
    await store.start();
    const src = store.kafka!;
    const port = collector.collector.bound[0]!.port;
    const t0 = performance.now();
    const sender = await runSender(port, rate, seconds);
    // Drain: every flow the collector decoded committed in the store, offsets committed, lag 0.
    const end = Date.now() + 120_000;
    let lag = -1;
    for (;;) {
      const decoded = collector.pipeline.flows;
      await src.commitNow();
      await src.refreshLag().catch(() => undefined);
      lag = src.metrics().lag!;
      if (store.store!.rowsCommitted >= decoded && lag === 0) break;
      if (Date.now() > end) break;
      await sleep(50);
    }
    const wallMs = performance.now() - t0;
    const committed = store.store!.rowsCommitted;
    const producer = (collector as unknown as { producer?: { metrics(): Record<string, number> } | null })
      .producer;
    return {
      targetRate: rate,
      seconds,
      partitions,
      sender,
      collectorFlows: collector.pipeline.flows,
      consumedFlows: src.flows,
      storeCommitted: committed,
      wallMs: Math.round(wallMs),
      flowsPerSecond: Math.round(committed / (wallMs / 1000)),
      finalLag: lag,
      producer: producer ? producer.metrics() : null,
    };
  } finally {
    await store.stop();
    await collector.stop();
    await kafka.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

function numFlag(args: string[], name: string, dflt: number): number {
  const i = args.indexOf(name);
  if (i < 0) return dflt;
  const v = Number(args[i + 1]);
  if (!Number.isFinite(v) || v < 0) throw new Error(`${name} needs a number`);
  return v;
}

/** `npm run bench -- kafka-e2e [--rate F] [--seconds S] [--partitions P]`: prints it, writes bench/results-kafka-e2e.json. */
export async function runKafkaE2EPart(
  machine: Record<string, unknown>,
  args: string[],
): Promise<KafkaE2EResult> {
  const r = await runKafkaE2E({
    rate: numFlag(args, "--rate", 100_000),
    seconds: numFlag(args, "--seconds", 10),
    partitions: numFlag(args, "--partitions", 3),
  });
  console.log(
    `Kafka end to end (UDP → collector-mode app → Kafka ${r.partitions} partitions → store-mode app → DuckDB):\n` +
      `  sent ${r.sender.sentFlows} flows at ${(r.sender.rateFlows / 1000).toFixed(1)}k/s for ${r.seconds} s; ` +
      `collector decoded ${r.collectorFlows}; consumed ${r.consumedFlows}; committed ${r.storeCommitted}; ` +
      `final lag ${r.finalLag}\n` +
      `  end to end: ${(r.flowsPerSecond / 1000).toFixed(1)}k flows/s (first datagram → last flow committed, ${r.wallMs} ms)`,
  );
  // Beside this file under tsx; from dist/bench/, the repository's bench/.
  const here = join(dirname(fileURLToPath(import.meta.url)), "results-kafka-e2e.json");
  const path = import.meta.url.endsWith(".ts")
    ? here
    : join(dirname(here), "..", "..", "bench", "results-kafka-e2e.json");
  writeFileSync(path, JSON.stringify({ date: new Date().toISOString(), machine, result: r }, null, 2) + "\n");
  console.log(`  written to ${path}`);
  return r;
}
