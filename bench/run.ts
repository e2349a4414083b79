// `npm run bench` — decode-only throughput, then the loopback receive test
// against nfcapd and nfacctd, then the collector's memory at steady state.
// Prints tables and writes bench/results.json; BENCHMARKS.md is written by
// hand from a real run (nothing here edits it).
//
//   npm run bench              everything (about 3-4 minutes)
//   npm run bench -- decode    decode-only part
//   npm run bench -- receive   receive part (needs nfcapd, nfdump, nfacctd, pmacct)
//   npm run bench -- sflow     sFlow decode + receive vs sfacctd (bench/sflow.ts, results-sflow.json)
//   npm run bench -- store     store ingest: append only, and append + flush + rollups (bench/store.ts)
//   npm run bench -- month [--flows N] [--days D] [--runs R] [--send-rate F] [--seed S] [--dir PATH] [--keep]
//                              a month of generated flows: queries and disk vs nfdump (bench/month.ts, results-month.json)
//   npm run bench -- entropy [--samples N]
//                              disk lower bound: bits per flow of the month model's draws (bench/entropy.ts, results-entropy.json)
//   npm run bench -- freshness [--rate F] [--seconds S] [--interval-ms M]
//                              UDP receipt → visible to SQL delay (bench/freshness.ts, results-month.json)
//   npm run bench -- dashboard [--flows N] [--days D] [--runs R] [--seed S] [--dir PATH] [--keep] [--reuse DIR]
//                              an 8-widget dashboard over a month drawn in Chromium (bench/dashboard.ts, results-dashboard.json)
//   npm run bench -- anomaly [--series N] [--days D] [--seeds 1,2,3] [--per-series K]
//                              labelled anomaly set: our scores vs rolling mean ± 3σ (bench/anomaly.ts, results-anomaly.json)
//   npm run bench -- detect [--runs N]
//                              DDoS detection delay per vector over real UDP, counter memory, cost per flow (bench/detect.ts, results-detect.json)
//   npm run bench -- rib [--v4 N] [--v6 N] [--peers P] [--lookups N] [--seed S] [--via bird [--sample N]]
//                              routing RIB: memory per route for a generated full table, ns per lookup (bench/enrich-rib.ts, results-rib.json)
//   npm run bench -- enrich [--seconds S] [--networks N] [--geo N] [--runs R] [--ribv4 N] [--ribv6 N]
//                              decode + enrichment (networks, GeoIP, AS names, classifiers, routing) vs off; ns per flow (bench/enrich.ts, results-enrich.json)
//   npm run bench -- receive --enrich [--rates 0.45,0.5] [--seconds S] [--routing] [--synth]
//                              loss-free rate of nagare start, enrichment off vs on; --routing adds a full table from BIRD over BGP (bench/receive.ts)
//   npm run bench -- kafka [--flows N] [--partitions P]
//                              Kafka producer: encode and encode+produce flows/s to a real broker (bench/kafka.ts, results-kafka.json)
//   npm run bench -- kafka-e2e [--rate F] [--seconds S] [--partitions P]
//                              UDP → collector mode → Kafka → store mode → DuckDB, flows/s end to end (bench/kafka-e2e.ts, results-kafka-e2e.json)
import { writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { runAnomalyPart } from "./anomaly.js";
import { runDetectPart } from "./detect.js";
import { runRibPart } from "./enrich-rib.js";
import { runEnrichPart } from "./enrich.js";
import { runEntropyPart } from "./entropy.js";
import { runKafkaPart } from "./kafka.js";
import { runKafkaE2EPart } from "./kafka-e2e.js";
import { runDashboardPart } from "./dashboard.js";
import { decodeCases, runDecodeCase, type DecodeResult } from "./decode.js";
import {
  LOSS_LIMIT,
  RECEIVE_RATES,
  runReceive,
  runReceiveEnrich,
  type ReceiveResult,
  type StepResult,
} from "./receive.js";
import { runFreshnessPart } from "./freshness.js";
import { runMonthPart } from "./month.js";
import { runSflowPart } from "./sflow.js";
import { runStorePart } from "./store.js";

/** Published, not measured here: Akvorado's Go decoder (goflow2-derived), per core. */
export const PUBLISHED_GO_DECODER = {
  recordsPerSecondPerCore: 760_000,
  source: "Akvorado documentation (goflow2-derived NetFlow/IPFIX decoder), published figure",
};
export const DECODE_TARGET = 1_500_000;
export const RECEIVE_TARGET = 1_000_000;

const M = (x: number): string => (x / 1e6).toFixed(2);
const MiB = (x: number): string => (x / 1048576).toFixed(1);

function table(head: string[], rows: string[][]): string {
  const w = head.map((h, k) => Math.max(h.length, ...rows.map((r) => (r[k] ?? "").length)));
  const fmt = (r: string[]): string => "| " + r.map((c, k) => c.padEnd(w[k]!)).join(" | ") + " |";
  return [fmt(head), "|" + w.map((n) => "-".repeat(n + 2)).join("|") + "|", ...rows.map(fmt)].join("\n");
}

async function main(): Promise<void> {
  const part = process.argv[2] ?? "all";
  const parts = [
    "all",
    "decode",
    "receive",
    "sflow",
    "sflow-decode",
    "sflow-receive",
    "store",
    "month",
    "freshness",
    "entropy",
    "dashboard",
    "anomaly",
    "detect",
    "rib",
    "enrich",
    "kafka",
    "kafka-e2e",
  ];
  if (!parts.includes(part)) {
    console.error(`usage: npm run bench [-- ${parts.slice(1).join("|")}]   (got "${part}")`);
    process.exitCode = 2;
    return;
  }
  const started = new Date();
  const machine = {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? "unknown",
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
  };
  console.log(
    `nagare bench — ${started.toISOString()} — ${machine.cpus} cores (${machine.cpuModel}), ${machine.memoryGiB} GiB, node ${machine.node}\n`,
  );

  if (part === "store") {
    console.log(
      "Store ingest (ipfixcol2 example_flows replayed into a file DB; 5 s each; see bench/store.ts)",
    );
    await runStorePart();
    return;
  }
  if (part === "enrich") {
    await runEnrichPart(machine, process.argv.slice(3));
    return;
  }
  if (part === "rib") {
    await runRibPart(machine, process.argv.slice(3));
    return;
  }
  if (part === "receive" && process.argv.includes("--enrich")) {
    // receive --enrich [--rates 0.1,0.25] [--seconds S] [--routing]: Nagare only, enrichment off vs on
    // (bench/receive.ts); --routing adds BGP routing, a full table announced by BIRD.
    const arg = (k: string): string | undefined => process.argv[process.argv.indexOf(k) + 1];
    const rates = process.argv.includes("--rates")
      ? (arg("--rates") ?? "").split(",").map((x) => Math.round(Number(x) * 1e6))
      : RECEIVE_RATES;
    const seconds = process.argv.includes("--seconds") ? Number(arg("--seconds")) : 3;
    const routing = process.argv.includes("--routing") ? { v4: 1_000_000, v6: 200_000 } : undefined;
    const synth = process.argv.includes("--synth");
    console.log(
      `Receive over loopback, nagare start --no-store with enrichment off / on (static sources${routing ? ` + BGP routing, ${routing.v4} IPv4 + ${routing.v6} IPv6 routes from BIRD` : ""}; steps ${rates.map((r) => M(r)).join(", ")} M records/s, ${seconds} s)`,
    );
    if (synth)
      console.log(
        "stream: synthetic IPFIX, 4 864 source and 19 destination addresses, 19 records a datagram (--synth)",
      );
    const r = await runReceiveEnrich({ rates, seconds, log: (s) => console.log(s), routing, synth });
    const at = (c: string, rate: number) => r.steps.find((s) => s.collector === c && s.targetRate === rate);
    const loss = (s: StepResult | undefined): string =>
      s ? `${(s.loss * 100).toFixed(3)}% (${M(s.sentRate)})` : "-";
    const cpu = (s: StepResult | undefined): string =>
      s?.cpuPercent === null || s?.cpuPercent === undefined ? "-" : `${s.cpuPercent}%`;
    console.log(
      "\n" +
        table(
          ["target M/s", "loss, enrich off", "loss, enrich on", "cpu off", "cpu on"],
          rates.map((rate) => {
            const a = at("nagare", rate);
            const b = at("nagare+enrich", rate);
            return [M(rate), loss(a), loss(b), cpu(a), cpu(b)];
          }),
        ),
    );
    console.log(
      `\nHighest rate with < ${LOSS_LIMIT * 100}% loss (M records/s): enrichment off ${M(r.best.nagare ?? 0)}, on${routing ? " (routing included)" : ""} ${M(r.best["nagare+enrich"] ?? 0)}`,
    );
    if (r.routing) {
      const x = r.routing;
      const lookups = x.cacheHits + x.cacheMisses;
      console.log(
        `Routing: ${x.routedFlows}/${x.checkFlows} flows of the check step got a destination route; ` +
          `RIB lookup cache ${x.cacheHits}/${lookups} hits over the run (${lookups ? ((x.cacheHits / lookups) * 100).toFixed(1) : "0"}%; ` +
          `repeated addresses are answered earlier by the service's address cache)`,
      );
    }
    return;
  }
  if (part === "kafka-e2e") {
    await runKafkaE2EPart(machine, process.argv.slice(3));
    return;
  }
  if (part === "kafka") {
    await runKafkaPart(machine, process.argv.slice(3));
    return;
  }
  if (part === "detect") {
    await runDetectPart(machine, process.argv.slice(3));
    return;
  }
  if (part === "anomaly") {
    await runAnomalyPart(machine, process.argv.slice(3));
    return;
  }
  if (part === "dashboard") {
    await runDashboardPart(machine, process.argv.slice(3));
    return;
  }
  if (part === "entropy") {
    await runEntropyPart(process.argv.slice(3));
    return;
  }
  if (part === "month" || part === "freshness") {
    const run = part === "month" ? runMonthPart : runFreshnessPart;
    await run(machine, process.argv.slice(3));
    return;
  }
  if (part.startsWith("sflow")) {
    await runSflowPart(machine, part === "sflow" ? "all" : part === "sflow-decode" ? "decode" : "receive");
    return;
  }

  let decode: DecodeResult[] | undefined;
  if (part !== "receive") {
    console.log("Decode only (one FlowDecoder, one core, datagrams in memory; 0.5 s warm-up, 2 s measured)");
    decode = [];
    for (const c of decodeCases()) {
      const r = runDecodeCase(c);
      decode.push(r);
      console.log(`  ${r.name}: ${M(r.recordsPerSecond)} M records/s`);
    }
    console.log(
      "\n" +
        table(
          [
            "case",
            "ver",
            "kind",
            "rec/datagram",
            "M records/s/core",
            "k datagrams/s",
            "vs target 1.5 M",
            "vs Go 0.76 M (published)",
          ],
          decode.map((r) => [
            r.name,
            r.version,
            r.kind,
            (r.recordsPerLoop / r.datagramsPerLoop).toFixed(1),
            M(r.recordsPerSecond),
            (r.datagramsPerSecond / 1e3).toFixed(0),
            `${(r.recordsPerSecond / DECODE_TARGET).toFixed(2)}×`,
            `${(r.recordsPerSecond / PUBLISHED_GO_DECODER.recordsPerSecondPerCore).toFixed(2)}×`,
          ]),
        ) +
        "\n",
    );
  }

  let receive: ReceiveResult | undefined;
  if (part !== "decode") {
    console.log(
      `Receive over loopback (same real NetFlow v9 stream to each collector; steps ${RECEIVE_RATES.map((r) => M(r)).join(", ")} M records/s)`,
    );
    receive = await runReceive({ log: (s) => console.log(s) });
    console.log(
      "\n" +
        table(
          [
            "target M/s",
            "sent M/s",
            "nagare loss",
            "nfcapd loss",
            "nfacctd loss",
            "nagare cpu",
            "nfcapd cpu",
          ],
          RECEIVE_RATES.map((rate) => {
            const at = (c: string) => receive!.steps.find((s) => s.collector === c && s.targetRate === rate);
            const loss = (c: string): string => {
              const s = at(c);
              return s ? `${(s.loss * 100).toFixed(3)}% (${M(s.sentRate)})` : "-";
            };
            const cpu = (c: string): string => {
              const v = at(c)?.cpuPercent;
              return v === null || v === undefined ? "-" : `${v}%`;
            };
            return [
              M(rate),
              M(at("nagare")?.sentRate ?? 0),
              loss("nagare"),
              loss("nfcapd"),
              loss("nfacctd"),
              cpu("nagare"),
              cpu("nfcapd"),
            ];
          }),
        ),
    );
    const best = receive.best;
    console.log(
      `\nHighest rate with < ${LOSS_LIMIT * 100}% loss (M records/s): ` +
        Object.entries(best)
          .map(([c, v]) => `${c} ${M(v)}`)
          .join(", "),
    );
    if (best.nagare !== undefined) {
      for (const peer of ["nfcapd", "nfacctd"]) {
        const p = best[peer];
        if (p) console.log(`  nagare / ${peer}: ${(best.nagare / p).toFixed(2)}×`);
      }
    }
    console.log("\nCollector memory mid-step (nagare start):");
    console.log(
      table(
        ["rate M/s", "RSS MiB", "heapUsed MiB", "heapTotal MiB", "arrayBuffers MiB"],
        receive.memory.map((m) => [
          M(m.rate),
          MiB(m.rss),
          MiB(m.heapUsed),
          MiB(m.heapTotal),
          MiB(m.arrayBuffers),
        ]),
      ),
    );
  }

  const out = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "bench", "results.json");
  const path = import.meta.url.endsWith(".ts")
    ? join(dirname(fileURLToPath(import.meta.url)), "results.json")
    : out;
  writeFileSync(
    path,
    JSON.stringify(
      {
        started: started.toISOString(),
        finished: new Date().toISOString(),
        part,
        machine,
        targets: { decodeRecordsPerSecondPerCore: DECODE_TARGET, receiveRecordsPerSecond: RECEIVE_TARGET },
        published: { goDecoder: PUBLISHED_GO_DECODER },
        decode,
        receive,
      },
      null,
      2,
    ) + "\n",
  );
  console.log(`\nwrote ${path}`);
  if (part === "all") {
    console.log("");
    await runSflowPart(machine);
  }
}

await main();
