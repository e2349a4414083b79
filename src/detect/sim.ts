// Simulated-time driving of the detector, for tests and bench/detect.ts:
// generator flows (src/gen/model.ts) written into FlowBatches with their
// simulated time_received, handed to a DetectService, and advance() called at
// every simulated second, so hours of traffic run in seconds.
import { FlowBatch } from "../collector/batch.js";
import {
  newFlow,
  RowWriter,
  TrafficModel,
  type Attack as GenAttack,
  type ModelOptions,
} from "../gen/model.js";
import { defaultDetectConfig, validateDetectConfig, type DetectConfig } from "./config.js";
import { DetectService } from "./service.js";
import { DetectEvents, type DetectEvent } from "./types.js";

/**
 * The generator scale the tests and the benchmark share: 20 customer
 * prefixes, 1-in-200 sampling. At 30-300 flows/s the busiest host sees a few
 * thousand (scaled) packets/s; one sampled elephant flow (553 packets × 200,
 * 1250-byte packets, under a second) can reach 110 k pps / 1.1 Gbit/s on its
 * own (a 24-hour run with a 100 k pps floor alerted once on one), so the
 * floors are 150 k pps / 2 Gbit/s.
 */
export const SIM_MODEL: ModelOptions = { seed: 7, customers: 20, remoteAses: 300, samplingRate: 200 };

/** The `detect` config section of the tests and the benchmark (raw, as in a config file). */
export const SIM_DETECT = {
  networks: [
    { prefix: "100.64.0.0/10", group: "customers" },
    { prefix: "2001:db8::/32", group: "customers-v6" },
  ],
  thresholds: {
    host: {
      pps: 800_000,
      bps: 8e9,
      vectors: {
        syn_flood: { pps: 400_000 },
        dns_amplification: { pps: 400_000, bps: 4e9 },
        ntp_amplification: { pps: 400_000, bps: 4e9 },
        memcached_amplification: { pps: 400_000, bps: 4e9 },
      },
    },
    prefix: { pps: 1_500_000, bps: 15e9 },
  },
  // One second over the baseline fires (the default waits for two): the scenario's 3 s delay budget.
  baseline: { k: 5, floorPps: 150_000, floorBps: 2e9, minSamples: 10, alpha: 0.02, seconds: 1 },
  quietSeconds: 3,
};

/** SIM_DETECT validated, with top-level keys of `over` replacing its own. */
export function simDetectConfig(over: Record<string, unknown> = {}): DetectConfig {
  return validateDetectConfig({ ...SIM_DETECT, ...over }, defaultDetectConfig());
}

export interface SimOptions {
  config: DetectConfig;
  model?: ModelOptions;
  startMs: number;
  seconds: number;
  /** Regular flows per second (times the daily cycle when `cycle`). */
  rate: number;
  cycle?: boolean;
  attacks?: GenAttack[];
  /** Existing service to keep feeding (baselines learned before). */
  service?: DetectService;
}

export interface SimResult {
  service: DetectService;
  events: DetectEvent[];
  flows: number;
  attackFlows: number;
  /** Wall time of the run, ms. */
  elapsedMs: number;
}

/** Run `seconds` of generated traffic through a DetectService in simulated time. */
export function simulate(o: SimOptions): SimResult {
  const model = new TrafficModel(o.model ?? SIM_MODEL);
  const events: DetectEvent[] = [];
  let simNow = o.startMs;
  const hub = o.service?.events ?? new DetectEvents();
  const off = hub.on((e) => events.push(e));
  const service =
    o.service ??
    new DetectService({ config: o.config, events: hub, dataDir: null, timer: false, now: () => simNow });
  const endMs = o.startMs + o.seconds * 1000;
  const sched = model.schedule({
    startMs: o.startMs,
    endMs,
    rate: o.rate,
    cycle: o.cycle ?? false,
    attacks: o.attacks,
  });
  const batch = new FlowBatch(512);
  const w = new RowWriter(batch, model.exporters);
  const f = newFlow();
  const t0 = performance.now();
  let sec = Math.floor(o.startMs / 1000) * 1000;
  let flows = 0;
  let attackFlows = 0;
  const flush = (): void => {
    if (batch.length) service.consume(batch);
    batch.length = 0;
  };
  for (;;) {
    const t = sched.peekMs();
    const done = t === Infinity;
    // Each simulated second: what arrived in it is consumed, then the second is closed.
    while (!done ? t >= sec + 1000 : sec < endMs) {
      flush();
      sec += 1000;
      simNow = sec + 150;
      service.advance(sec);
    }
    if (done) break;
    sched.next(f);
    flows++;
    if (f.attack) attackFlows++;
    w.write(batch.length++, f);
    if (batch.full) flush();
  }
  flush();
  simNow = endMs + 150;
  service.advance(endMs);
  off();
  return { service, events, flows, attackFlows, elapsedMs: performance.now() - t0 };
}
