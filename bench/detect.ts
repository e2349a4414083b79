// `npm run bench -- detect [--runs N] [--skip-udp]` — DDoS detection:
//   1. detection delay per vector and size over real UDP (src/detect/scenario.ts:
//      the App receiving NetFlow v9 from the generator, 14 attacks at once,
//      1-in-200 sampling): first attack flow at the collector → attack_started;
//   2. counter memory per tracked host: a scan of 1 M distinct IPv4 and then
//      1 M IPv6 destinations with detect.maxHosts = 1 048 576;
//   3. detector cost per flow: generator traffic (SIM_MODEL) pre-built into
//      FlowBatches, consume + the per-second close, timed.
// Prints tables and writes bench/results-detect.json (BENCHMARKS.md is
// written by hand from a run).
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { FlowBatch } from "../src/collector/batch.js";
import { putIpv4 } from "../src/collector/ip.js";
import { defaultDetectConfig, validateDetectConfig, type DetectConfig } from "../src/detect/config.js";
import { SLOT_BYTES } from "../src/detect/counters.js";
import { DdosDetector } from "../src/detect/ddos.js";
import { runScenario, scenarioTable, SCENARIO_CASES } from "../src/detect/scenario.js";
import { SIM_MODEL, simDetectConfig } from "../src/detect/sim.js";
import { newFlow, RowWriter, TrafficModel } from "../src/gen/model.js";

const MiB = (x: number): string => (x / 1048576).toFixed(1);

// A real gc() for the heap figures, without needing node --expose-gc.
setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

function table(head: string[], rows: string[][]): string {
  const w = head.map((h, k) => Math.max(h.length, ...rows.map((r) => (r[k] ?? "").length)));
  const fmt = (r: string[]): string => "| " + r.map((c, k) => c.padEnd(w[k]!)).join(" | ") + " |";
  return [fmt(head), "|" + w.map((n) => "-".repeat(n + 2)).join("|") + "|", ...rows.map(fmt)].join("\n");
}

async function delays(runs: number): Promise<Record<string, number[]>> {
  const out: Record<string, number[]> = {};
  for (let i = 0; i < runs; i++) {
    const dir = mkdtempSync(join(tmpdir(), "nagare-bench-detect-"));
    try {
      const run = await runScenario(dir);
      await run.app.stop();
      console.log(`run ${i + 1}/${runs} (load ${loadavg()[0]!.toFixed(1)}):\n${scenarioTable(run.results)}`);
      if (run.extra.length)
        console.log(`  false attacks: ${run.extra.map((a) => a.target.prefix).join(", ")}`);
      for (const r of run.results) (out[r.c.name] ??= []).push(r.delayMs ?? NaN);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return out;
}

/** Counter memory after a scan of `n` distinct destinations (IPv4 or IPv6). */
function scan(
  n: number,
  v6: boolean,
): { hosts: number; counterBytes: number; heapBytes: number; ms: number } {
  gc();
  const m0 = process.memoryUsage();
  const cfg = validateDetectConfig({ maxHosts: 1_048_576, maxPrefixes: 1_048_576 }, defaultDetectConfig());
  const d = new DdosDetector({ config: cfg, now: () => 0 });
  const b = new FlowBatch(4096);
  const c = b.cols;
  const t0 = Date.UTC(2026, 0, 5);
  const start = performance.now();
  for (let sent = 0; sent < n;) {
    b.length = 0;
    for (let i = 0; i < b.capacity && sent < n; i++, sent++) {
      const o = i * 16;
      if (v6) {
        c.dst_addr.set([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0], o);
        // 256 hosts per /64, so the /64 aggregates stay a fraction of the hosts, as in a v4 /24.
        c.dst_addr[o + 6] = (sent >>> 16) & 0xff;
        c.dst_addr[o + 7] = (sent >>> 8) & 0xff;
        c.dst_addr[o + 15] = sent & 0xff;
        c.dst_addr[o + 10] = 0;
        c.dst_addr[o + 11] = 0;
      } else {
        putIpv4(c.dst_addr, o, (10 << 24) + sent);
      }
      c.protocol[i] = 6;
      c.tcp_flags[i] = 2;
      c.bytes[i] = 60;
      c.packets[i] = 1;
      c.sampling_rate[i] = 1;
      c.time_received[i] = t0 + Math.floor(sent / 200_000) * 1000;
      b.length++;
    }
    d.consume(b);
  }
  d.closeUntil(t0 + 3_600_000);
  const ms = performance.now() - start;
  gc();
  const m1 = process.memoryUsage();
  const heapBytes = m1.heapUsed + m1.arrayBuffers - (m0.heapUsed + m0.arrayBuffers);
  const hosts = d.hosts.size;
  // Keep the detector alive until measured.
  if (hosts < 0) console.log(d);
  return { hosts, counterBytes: d.memoryBytes, heapBytes, ms };
}

function cost(
  config: DetectConfig,
  rate: number,
  seconds: number,
): { flows: number; nsPerFlow: number; cpuNsPerFlow: number; hosts: number; attacks: number } {
  // Unsampled, so 20 k flows/s stays ordinary traffic for the thresholds (no attack: the common case).
  const model = new TrafficModel({ ...SIM_MODEL, samplingRate: 1 });
  const start = Date.UTC(2026, 0, 5, 20);
  const sched = model.schedule({ startMs: start, endMs: start + seconds * 1000, rate });
  const batches: FlowBatch[] = [];
  let b = new FlowBatch(1024);
  let w = new RowWriter(b, model.exporters);
  const f = newFlow();
  while (sched.next(f)) {
    w.write(b.length++, f);
    if (b.full) {
      batches.push(b);
      b = new FlowBatch(1024);
      w = new RowWriter(b, model.exporters);
    }
  }
  batches.push(b);
  const d = new DdosDetector({ config, now: () => 0 });
  // One warm-up pass (JIT), then timed passes over later copies of the same traffic.
  let best = Infinity;
  let bestCpu = Infinity;
  let flows = 0;
  for (let rep = 0; rep < 3; rep++) {
    const shift = rep * (seconds + 5) * 1000;
    for (const x of batches)
      for (let i = 0; i < x.length; i++)
        x.cols.time_received[i] = x.cols.time_received[i]! + (rep ? (seconds + 5) * 1000 : 0);
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    flows = 0;
    for (const x of batches) {
      d.consume(x);
      flows += x.length;
    }
    d.closeUntil(start + shift + (seconds + 1) * 1000);
    const cpu = process.cpuUsage(c0);
    if (rep > 0) {
      best = Math.min(best, performance.now() - t0);
      bestCpu = Math.min(bestCpu, (cpu.user + cpu.system) / 1000);
    }
  }
  return {
    flows,
    nsPerFlow: (best * 1e6) / flows,
    cpuNsPerFlow: (bestCpu * 1e6) / flows,
    hosts: d.hosts.size,
    attacks: d.attacksStarted,
  };
}

export async function runDetectPart(
  machine: Record<string, unknown>,
  argv: readonly string[],
): Promise<void> {
  const so = argv.indexOf("--scan-only");
  if (so >= 0) {
    console.log(JSON.stringify(scan(1_000_000, argv[so + 1] === "v6")));
    return;
  }
  const ri = argv.indexOf("--runs");
  const runs = ri >= 0 ? Math.max(1, Number(argv[ri + 1]) || 1) : 1;
  const udp = !argv.includes("--skip-udp");
  console.log(
    `Detection delay over real UDP (${SCENARIO_CASES.length} attacks at once, NetFlow v9, sampling 1:200)`,
  );
  const d = udp
    ? await delays(runs)
    : Object.fromEntries(SCENARIO_CASES.map((c) => [c.name, [] as number[]]));
  const rows = SCENARIO_CASES.map((c) => {
    const xs = d[c.name]!.filter(Number.isFinite).sort((a, b) => a - b);
    return [
      c.name,
      c.vector,
      String(c.rate),
      xs.length ? String(xs[Math.floor(xs.length / 2)]) : "n/a",
      xs.length ? String(xs[xs.length - 1]) : "n/a",
      `${xs.length}/${runs}`,
    ];
  });
  console.log(table(["attack", "vector", "flows/s", "median ms", "max ms", "detected"], rows));

  console.log("\nCounter memory: scan of 1 M distinct destinations (maxHosts 1 048 576)");
  // Each scan in its own process, so one's heap does not blur the other's.
  const inChild = (fam: string): ReturnType<typeof scan> => {
    const out = execFileSync(process.execPath, [process.argv[1]!, "detect", "--scan-only", fam], {
      encoding: "utf8",
    });
    return JSON.parse(out.trim().split("\n").pop()!) as ReturnType<typeof scan>;
  };
  const v4 = inChild("v4");
  const v6 = inChild("v6");
  const memRows = [
    [
      "IPv4",
      String(v4.hosts),
      MiB(v4.counterBytes),
      (v4.counterBytes / v4.hosts).toFixed(0),
      MiB(v4.heapBytes),
      (v4.heapBytes / v4.hosts).toFixed(0),
    ],
    [
      "IPv6",
      String(v6.hosts),
      MiB(v6.counterBytes),
      (v6.counterBytes / v6.hosts).toFixed(0),
      MiB(v6.heapBytes),
      (v6.heapBytes / v6.hosts).toFixed(0),
    ],
  ];
  console.log(
    table(
      ["scan", "hosts", "counters MiB", "B/host (tables)", "heap+buffers MiB", "B/host (measured)"],
      memRows,
    ),
  );
  console.log(`SLOT_BYTES (documented per-slot figure): ${SLOT_BYTES}`);

  console.log(
    "\nDetector cost per flow (generator traffic, consume + per-second close, best of 2 after warm-up)",
  );
  const nets = validateDetectConfig({ networks: simDetectConfig().networks }, defaultDetectConfig());
  const withNets = cost(nets, 20_000, 20);
  const noNets = cost(defaultDetectConfig(), 20_000, 20);
  const row = (name: string, x: typeof withNets): string[] => [
    name,
    String(x.flows),
    x.nsPerFlow.toFixed(0),
    x.cpuNsPerFlow.toFixed(0),
    String(x.hosts),
    String(x.attacks),
  ];
  const costRows = [
    row("protected networks (customer space)", withNets),
    row("every destination (defaults)", noNets),
  ];
  console.log(table(["config", "flows", "wall ns/flow", "cpu ns/flow", "hosts", "attacks"], costRows));

  const out = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "bench", "results-detect.json");
  writeFileSync(
    out,
    JSON.stringify(
      {
        date: new Date().toISOString(),
        machine,
        load: loadavg()[0],
        delays: d,
        memory: { v4, v6, slotBytes: SLOT_BYTES },
        cost: { withNets, noNets },
      },
      null,
      2,
    ) + "\n",
  );
  console.log(`\nwrote ${out}`);
}
