// The real-UDP detection scenario shared by test/detect-scenarios.test.ts and
// bench/detect.ts: an App (collector + pipeline + DetectService, store off)
// receives NetFlow v9 from `nagare gen`'s sender — background traffic plus 14
// injected attacks (7 vectors × 2 sizes, each towards its own target so they
// run at once), 1-in-200 sampling — and the delay from each attack's first
// flow reaching the collector (its time_received) to attack_started is taken.
//
// Sizes relative to the target's baseline: "small" is about 250 k pps (tens of
// times the host's usual rate and over the 150 k pps floor: found by the
// baseline), "large" 1-4 M pps (over a static threshold).
import { App } from "../app.js";
import type { FlowBatch } from "../collector/batch.js";
import { formatIp, parseIp } from "../collector/ip.js";
import { validateConfig } from "../config/schema.js";
import { newFlow, TrafficModel, type AttackKind } from "../gen/model.js";
import { sendTraffic, type SendResult } from "../gen/send.js";
import { silentLogger } from "../log.js";
import { SIM_DETECT, SIM_MODEL } from "./sim.js";
import type { Attack, AttackVector } from "./types.js";

export interface ScenarioCase {
  name: string;
  kind: AttackKind;
  /** Customer of the generator model whose first /24 holds the target. */
  customer: number;
  /** Attack flows per second. */
  rate: number;
  vector: AttackVector;
  /** Packet size and source port of the attack flows (to spot the first one at the collector). */
  size: number;
  srcPort?: number;
}

export const SCENARIO_CASES: ScenarioCase[] = [
  { name: "udp small", kind: "udp", customer: 0, rate: 72, vector: "udp_flood", size: 1200 },
  { name: "udp large", kind: "udp", customer: 1, rate: 500, vector: "udp_flood", size: 1200 },
  { name: "syn small", kind: "syn", customer: 2, rate: 740, vector: "syn_flood", size: 60 },
  { name: "syn large", kind: "syn", customer: 3, rate: 3000, vector: "syn_flood", size: 60 },
  {
    name: "dns small",
    kind: "dns",
    customer: 4,
    rate: 60,
    vector: "dns_amplification",
    size: 1400,
    srcPort: 53,
  },
  {
    name: "dns large",
    kind: "dns",
    customer: 5,
    rate: 250,
    vector: "dns_amplification",
    size: 1400,
    srcPort: 53,
  },
  {
    name: "ntp small",
    kind: "ntp",
    customer: 6,
    rate: 60,
    vector: "ntp_amplification",
    size: 468,
    srcPort: 123,
  },
  {
    name: "ntp large",
    kind: "ntp",
    customer: 7,
    rate: 250,
    vector: "ntp_amplification",
    size: 468,
    srcPort: 123,
  },
  {
    name: "memcached small",
    kind: "memcached",
    customer: 8,
    rate: 60,
    vector: "memcached_amplification",
    size: 1428,
    srcPort: 11211,
  },
  {
    name: "memcached large",
    kind: "memcached",
    customer: 9,
    rate: 250,
    vector: "memcached_amplification",
    size: 1428,
    srcPort: 11211,
  },
  {
    name: "carpet small",
    kind: "carpet",
    customer: 10,
    rate: 90,
    vector: "dns_amplification",
    size: 1400,
    srcPort: 53,
  },
  {
    name: "carpet large",
    kind: "carpet",
    customer: 11,
    rate: 900,
    vector: "dns_amplification",
    size: 1400,
    srcPort: 53,
  },
  { name: "v6 small", kind: "v6", customer: 12, rate: 72, vector: "udp_flood", size: 1200 },
  { name: "v6 large", kind: "v6", customer: 13, rate: 500, vector: "udp_flood", size: 1200 },
];

export interface ScenarioTarget {
  /** IPv4 address the attack is aimed at (a host of the customer's first /24). */
  addr: string;
  /** Expected Attack.target.prefix. */
  prefix: string;
  match: (ip: string) => boolean;
}

export function scenarioTarget(c: ScenarioCase): ScenarioTarget {
  const model = new TrafficModel(SIM_MODEL);
  const cust = model.customers[c.customer]!;
  const v = cust.v4 + 1 + c.customer * 3;
  const addr = `${v >>> 24}.${(v >>> 16) & 0xff}.${(v >>> 8) & 0xff}.${v & 0xff}`;
  if (c.kind === "carpet") {
    const net = addr.replace(/\d+$/, "");
    return { addr, prefix: `${net}0/24`, match: (ip) => ip.startsWith(net) };
  }
  if (c.kind === "v6") {
    const f = newFlow();
    model.attackFlow(f, "v6", parseIp(addr)!, 0);
    const v6 = formatIp(f.dst, 0);
    return { addr, prefix: `${v6}/128`, match: (ip) => ip === v6 };
  }
  return { addr, prefix: `${addr}/32`, match: (ip) => ip === addr };
}

export interface CaseResult {
  c: ScenarioCase;
  target: ScenarioTarget;
  /** time_received of the first attack flow at the collector (0 = none seen). */
  firstSeenMs: number;
  attack: Attack | null;
  /** attack.detectedMs − firstSeenMs, or null. */
  delayMs: number | null;
}

export interface ScenarioRun {
  app: App;
  results: CaseResult[];
  /** Attacks started on targets not attacked. */
  extra: Attack[];
  sent: SendResult;
  dataDir: string;
}

/** The App config of the scenario (store off, loopback, the SIM_DETECT detector). */
export function scenarioConfig(dataDir: string): ReturnType<typeof validateConfig> {
  return validateConfig({
    dataDir,
    collector: { listen: ["127.0.0.1:0"], sflowListen: ["127.0.0.1:0"] },
    http: { listen: "127.0.0.1:0" },
    demo: { enabled: false },
    store: { enabled: false },
    detect: { ...SIM_DETECT, baseline: { ...SIM_DETECT.baseline, minSamples: 5 } },
  });
}

/**
 * Start the App, send `warmupMs` of background then all cases at once for
 * `attackMs` (starting 400 ms into a second), and return while the attacks
 * are still ongoing (the App keeps running: the caller stops it).
 */
export async function runScenario(
  dataDir: string,
  o: { warmupMs?: number; attackMs?: number; backgroundRate?: number; cases?: ScenarioCase[] } = {},
): Promise<ScenarioRun> {
  const cases = o.cases ?? SCENARIO_CASES;
  const warmupMs = o.warmupMs ?? 15_000;
  const attackMs = o.attackMs ?? 4000;
  const targets = cases.map(scenarioTarget);
  const firstSeen = new Array<number>(cases.length).fill(0);
  const watcher = {
    name: "scenario-watch",
    consume(b: FlowBatch): void {
      const col = b.cols;
      for (let r = 0; r < b.length; r++) {
        const p = col.packets[r]!;
        if (p === 0) continue;
        const size = col.bytes[r]! / p;
        let dst: string | null = null;
        for (let i = 0; i < cases.length; i++) {
          const k = cases[i]!;
          if (firstSeen[i] || size !== k.size) continue;
          if (k.srcPort !== undefined && col.src_port[r] !== k.srcPort) continue;
          if (k.kind === "syn" && col.tcp_flags[r] !== 2) continue;
          dst ??= formatIp(col.dst_addr, r * 16);
          if (targets[i]!.match(dst)) firstSeen[i] = col.time_received[r]!;
        }
      }
    },
  };
  const app = new App({ config: scenarioConfig(dataDir), log: silentLogger, consumers: [watcher] });
  await app.start();
  const started: Attack[] = [];
  app.events.on((e) => {
    if (e.type === "attack_started") started.push(e.attack);
  });
  const port = app.collector.bound[0]!.port;
  const t0 = Date.now();
  const attackAt = Math.floor((t0 + warmupMs) / 1000) * 1000 + 400;
  const common = { ...SIM_MODEL, host: "127.0.0.1", port, proto: "v9" as const };
  const background = sendTraffic({
    ...common,
    rate: o.backgroundRate ?? 200,
    durationMs: attackAt + attackMs + 2000 - t0,
  });
  const sent = await sendTraffic({
    ...common,
    seed: 99,
    rate: 0.001,
    durationMs: attackAt + attackMs - t0,
    attacks: cases.map((c, i) => ({
      kind: c.kind,
      target: targets[i]!.addr,
      startMs: attackAt,
      durationMs: attackMs,
      rate: c.rate,
    })),
  });
  await background;
  const results = cases.map((c, i): CaseResult => {
    const target = targets[i]!;
    const attack = started.find((a) => a.target.prefix === target.prefix) ?? null;
    const first = firstSeen[i]!;
    return {
      c,
      target,
      firstSeenMs: first,
      attack,
      delayMs: attack && first ? attack.detectedMs - first : null,
    };
  });
  const expected = new Set(targets.map((t) => t.prefix));
  return { app, results, extra: started.filter((a) => !expected.has(a.target.prefix)), sent, dataDir };
}

/** A text table of the results (name, target, trigger, delay, reason). */
export function scenarioTable(results: CaseResult[]): string {
  return results
    .map(
      (r) =>
        `${r.c.name.padEnd(16)} ${r.target.prefix.padEnd(20)} ${(r.attack?.trigger ?? "-").padEnd(8)} ` +
        `${r.delayMs === null ? "  n/a" : String(r.delayMs).padStart(5)} ms  ${r.attack?.reason ?? "not detected"}`,
    )
    .join("\n");
}
