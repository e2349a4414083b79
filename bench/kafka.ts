// `npm run bench -- kafka [--flows N] [--seconds S] [--partitions P]` — the Kafka producer's throughput.
//
// Flows: the synthetic NetFlow v9 stream of the decode bench (20-field IPv4
// template) decoded by our FlowDecoder into batches of 4096, so the rows are
// what a collector would hand the producer. Then, per format (nagare-binary,
// pmacct JSON):
//   - encode only: flows/s through the FlowEncoder, one core, no I/O;
//   - encode + produce: flows/s through KafkaProducer.consume() to a real
//     broker (test/helpers/kafka.ts: Apache Kafka jars, KRaft, one node on
//     this machine), counted when the broker acknowledged them (acks = all,
//     lz4), i.e. produced_flows / (first consume → buffer drained).
// The broker shares this machine's cores with the producer: the figure is a
// floor for a producer talking to a remote cluster. The end-to-end chain
// (collector → Kafka → consumer → store) is bench/kafka-e2e.ts.
// Writes bench/results-kafka.json.
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { FlowBatch } from "../src/collector/batch.js";
import { FlowDecoder } from "../src/collector/decoder.js";
import { CollectorStats } from "../src/collector/stats.js";
import { RecordSink } from "../src/collector/types.js";
import { NagareBinaryEncoder } from "../src/bus/binary.js";
import { defaultBusConfig } from "../src/bus/config.js";
import { PmacctJsonEncoder } from "../src/bus/pmacct.js";
import { KafkaProducer } from "../src/bus/producer.js";
import type { BusFormat, FlowEncoder } from "../src/bus/types.js";
import { startKafka } from "../test/helpers/kafka.js";
import { BENCH_SRC } from "./stream.js";
import { v9Packets } from "./synth.js";

export interface KafkaProducerResult {
  format: BusFormat;
  flows: number;
  encodeFlowsPerSecond: number;
  /** Encoded bytes per flow (before Kafka's compression). */
  bytesPerFlow: number;
  produceFlowsPerSecond: number;
  produceSeconds: number;
  producer: Record<string, number>;
}

function parseArgs(argv: string[]): { flows: number; partitions: number } {
  const a = { flows: 200_000, partitions: 3 };
  for (let i = 0; i < argv.length; i += 2) {
    const v = Number(argv[i + 1]);
    if (argv[i] === "--flows" && v > 0) a.flows = v;
    else if (argv[i] === "--partitions" && v > 0) a.partitions = v;
    else throw new Error(`bench kafka: unknown or bad argument ${argv[i]} ${argv[i + 1] ?? ""}`);
  }
  return a;
}

/** At least `n` flows as FlowBatches (4096 rows), decoded from the synthetic v9 stream. */
function makeBatches(n: number): FlowBatch[] {
  const out: FlowBatch[] = [];
  const dec = new FlowDecoder({ stats: new CollectorStats() });
  const sink = new RecordSink(
    (b) => out.push(b),
    () => {},
    4096,
  );
  const v9 = v9Packets();
  dec.decode(v9.template, BENCH_SRC, sink);
  let flows = 0;
  while (flows < n) for (const p of v9.data) flows += dec.decode(p, BENCH_SRC, sink);
  sink.flush();
  return out;
}

export async function runKafkaPart(machine: Record<string, unknown>, argv: string[]): Promise<void> {
  const a = parseArgs(argv);
  const batches = makeBatches(a.flows);
  const flows = batches.reduce((s, b) => s + b.length, 0);
  console.log(
    `Kafka producer: ${flows} flows (synthetic NetFlow v9 decoded), ${a.partitions} partitions, acks all, lz4`,
  );
  const kafka = await startKafka();
  const results: KafkaProducerResult[] = [];
  try {
    for (const format of ["nagare-binary", "pmacct-json"] as const) {
      const enc: FlowEncoder =
        format === "nagare-binary" ? new NagareBinaryEncoder() : new PmacctJsonEncoder();
      let bytes = 0;
      const t0 = performance.now();
      for (const b of batches) for (const m of enc.encode(b)) bytes += m.value.length;
      const encodeS = (performance.now() - t0) / 1000;

      const topic = `bench.${format}`;
      await kafka.createTopic(topic, a.partitions);
      const cfg = defaultBusConfig();
      cfg.enabled = true;
      cfg.brokers = [kafka.bootstrap];
      cfg.topic = topic;
      cfg.producer.format = format;
      cfg.producer.bufferBytes = 1024 * 1024 * 1024;
      const p = new KafkaProducer(cfg);
      await p.start();
      const t1 = performance.now();
      for (const b of batches) p.consume(b);
      await p.stop(); // drains the buffer
      const produceS = (performance.now() - t1) / 1000;
      const m = p.metrics();
      const r: KafkaProducerResult = {
        format,
        flows,
        encodeFlowsPerSecond: flows / encodeS,
        bytesPerFlow: bytes / flows,
        produceFlowsPerSecond: (m.produced_flows ?? 0) / produceS,
        produceSeconds: produceS,
        producer: m,
      };
      results.push(r);
      console.log(
        `  ${format}: encode ${(r.encodeFlowsPerSecond / 1e6).toFixed(2)} M flows/s (${r.bytesPerFlow.toFixed(1)} B/flow), ` +
          `encode+produce ${(r.produceFlowsPerSecond / 1e3).toFixed(0)} k flows/s (${m.produced_flows}/${flows} acknowledged, ${m.retried_messages} retried)`,
      );
    }
  } finally {
    await kafka.stop();
  }
  const path = join(dirname(fileURLToPath(import.meta.url)), "results-kafka.json");
  const out = import.meta.url.endsWith(".ts")
    ? path
    : join(dirname(path), "..", "..", "bench", "results-kafka.json");
  writeFileSync(
    out,
    JSON.stringify({ date: new Date().toISOString(), machine, args: a, results }, null, 2) + "\n",
  );
  console.log(`\nwrote ${out}`);
}
