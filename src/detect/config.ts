// detect.* configuration (DDoS detection): defaults and validation, in the
// style of src/store/config.ts — unknown keys are errors and every error
// names the key path, e.g.
//   config: detect.thresholds.host.vectors.ntp_amplification.pps: -1 — must be a number in 0-1e15
//
// Rates are per second and already scaled by sampling (what the router saw,
// not what was exported), like every rate of src/detect/types.ts.
import { ConfigError } from "../config/schema.js";
import { parsePrefix } from "../config/address.js";
import { ATTACK_VECTORS, type AttackVector } from "./types.js";

/** A limit per second; 0 = no limit on that measure. */
export interface Limit {
  pps: number;
  bps: number;
}

/** Static thresholds of one level (host, prefix aggregate): totals and per vector. */
export interface ThresholdSet {
  pps: number;
  bps: number;
  flowsPerSecond: number;
  vectors: Partial<Record<AttackVector, Limit>>;
}

export interface Thresholds {
  /** One destination address (/32, /128). */
  host: ThresholdSet;
  /** The /24 (IPv4) or /64 (IPv6) aggregate of destinations: carpet bombing. */
  prefix: ThresholdSet;
}

/** A protected network: only destinations inside the configured networks are tracked (when any is). */
export interface NetworkConfig {
  prefix: string;
  /** Group name reported in Attack.target.group; default "" (then the prefix is used as group). */
  group: string;
  /** Thresholds of this network's hosts and prefixes (missing keys fall back to detect.thresholds). */
  thresholds?: { host?: Partial<ThresholdSet>; prefix?: Partial<ThresholdSet> };
}

export interface BaselineConfig {
  enabled: boolean;
  /** Fire when the second's pps or bps is above k × the learned baseline… */
  k: number;
  /** …and above these floors (so quiet hosts do not alert on one elephant flow). */
  floorPps: number;
  floorBps: number;
  /** EWMA weight of one second (per hour-of-day bucket). */
  alpha: number;
  /** Seconds a bucket must have learned before it is used. */
  minSamples: number;
  /** A learned second counts at most clip × the baseline (robust to spikes). */
  clip: number;
  /**
   * …and above peakFactor × the host's recent normal peak (a decaying max of
   * its learned seconds, half-life about 700 of them): heavy-tailed traffic
   * that often reaches k × its mean does not alert on that alone.
   */
  peakFactor: number;
  /** Consecutive seconds over the baseline before it fires (static thresholds fire at once). */
  seconds: number;
}

export interface HooksConfig {
  /** Executable run on attack start/end with the attack JSON on stdin; "" = none. */
  script: string;
  /** URL the attack JSON is POSTed to; "" = none. */
  webhook: string;
  timeoutMs: number;
  /** Which events call the hooks. */
  on: ("start" | "end")[];
  /** Hook calls running at once; more are dropped (counted). */
  maxConcurrent: number;
}

export interface DetectConfig {
  enabled: boolean;
  networks: NetworkConfig[];
  thresholds: Thresholds;
  baseline: BaselineConfig;
  /**
   * Count a flow record's bytes and packets divided by its duration in
   * seconds (when over 1 s): a long flow exported at its active timeout adds
   * its rate to the second it arrives in, not its whole volume.
   */
  spreadFlows: boolean;
  /**
   * A second counts as over a threshold only with at least this many flow
   * records (as exported, unscaled) for the host or aggregate: with 1-in-N
   * sampling, one or a few records of a big flow can stand for hundreds of
   * thousands of packets per second without being an attack.
   */
  minRecords: number;
  /** An attack ends after this many seconds below every threshold. */
  quietSeconds: number;
  /** Destination hosts tracked at once (memory bound, see docs/detection.md). */
  maxHosts: number;
  /** /24 and /64 aggregates tracked at once. */
  maxPrefixes: number;
  /** Ended attacks kept (memory and <dataDir>/attacks.jsonl). */
  keepEnded: number;
  hooks: HooksConfig;
}

const NO_LIMIT: Limit = { pps: 0, bps: 0 };

/** Defaults sized for an ISP edge: a host must see 1 M pps or 10 Gbps before a static alert. */
export function defaultDetectConfig(): DetectConfig {
  const amp: Limit = { pps: 200_000, bps: 2e9 };
  return {
    enabled: true,
    networks: [],
    thresholds: {
      host: {
        pps: 1_000_000,
        bps: 10e9,
        flowsPerSecond: 0,
        vectors: {
          syn_flood: { pps: 300_000, bps: 0 },
          dns_amplification: amp,
          ntp_amplification: amp,
          ssdp_amplification: amp,
          memcached_amplification: amp,
          cldap_amplification: amp,
          chargen_amplification: amp,
          snmp_amplification: amp,
        },
      },
      prefix: { pps: 4_000_000, bps: 40e9, flowsPerSecond: 0, vectors: {} },
    },
    baseline: {
      enabled: true,
      k: 10,
      floorPps: 200_000,
      floorBps: 5e9,
      alpha: 0.02,
      minSamples: 60,
      clip: 3,
      peakFactor: 1.5,
      seconds: 2,
    },
    spreadFlows: true,
    minRecords: 10,
    quietSeconds: 30,
    maxHosts: 262_144,
    maxPrefixes: 65_536,
    keepEnded: 200,
    hooks: { script: "", webhook: "", timeoutMs: 5000, on: ["start", "end"], maxConcurrent: 4 },
  };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function show(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 60 ? s.slice(0, 57) + "..." : s;
}

function num(v: unknown, key: string, min: number, max: number, integer = false): number {
  if (typeof v !== "number" || !Number.isFinite(v) || (integer && !Number.isInteger(v)) || v < min || v > max)
    throw new ConfigError(
      key,
      `${show(v)} — must be ${integer ? "an integer" : "a number"} in ${min}-${max}`,
    );
  return v;
}

function bool(v: unknown, key: string): boolean {
  if (typeof v !== "boolean") throw new ConfigError(key, `${show(v)} — must be true or false`);
  return v;
}

function known(v: Record<string, unknown>, key: string, keys: string[]): void {
  for (const k of Object.keys(v))
    if (!keys.includes(k))
      throw new ConfigError(`${key}.${k}`, `unknown key (known here: ${keys.join(", ")})`);
}

function map(v: unknown, key: string): Record<string, unknown> {
  if (!isObject(v)) throw new ConfigError(key, `${show(v)} — must be a map`);
  return v;
}

const RATE_MAX = 1e15;

function limit(v: unknown, key: string, base: Limit): Limit {
  const m = map(v, key);
  known(m, key, ["pps", "bps"]);
  return {
    pps: m.pps === undefined ? base.pps : num(m.pps, `${key}.pps`, 0, RATE_MAX),
    bps: m.bps === undefined ? base.bps : num(m.bps, `${key}.bps`, 0, RATE_MAX),
  };
}

function thresholdSet(v: unknown, key: string, base: ThresholdSet): ThresholdSet {
  const m = map(v, key);
  known(m, key, ["pps", "bps", "flowsPerSecond", "vectors"]);
  const out: ThresholdSet = { ...base, vectors: { ...base.vectors } };
  if (m.pps !== undefined) out.pps = num(m.pps, `${key}.pps`, 0, RATE_MAX);
  if (m.bps !== undefined) out.bps = num(m.bps, `${key}.bps`, 0, RATE_MAX);
  if (m.flowsPerSecond !== undefined)
    out.flowsPerSecond = num(m.flowsPerSecond, `${key}.flowsPerSecond`, 0, RATE_MAX);
  if (m.vectors !== undefined) {
    const vm = map(m.vectors, `${key}.vectors`);
    known(vm, `${key}.vectors`, [...ATTACK_VECTORS]);
    for (const [name, lv] of Object.entries(vm)) {
      const vec = name as AttackVector;
      out.vectors[vec] = limit(lv, `${key}.vectors.${name}`, base.vectors[vec] ?? NO_LIMIT);
    }
  }
  return out;
}

/** Validate a `detect` section on top of `base` (the defaults or an earlier layer). */
export function validateDetectConfig(
  raw: unknown,
  base: DetectConfig = defaultDetectConfig(),
  key = "detect",
): DetectConfig {
  const out = structuredClone(base);
  if (raw === undefined || raw === null) return out;
  const m = map(raw, key);
  known(m, key, [
    "enabled",
    "networks",
    "thresholds",
    "baseline",
    "spreadFlows",
    "minRecords",
    "quietSeconds",
    "maxHosts",
    "maxPrefixes",
    "keepEnded",
    "hooks",
  ]);
  if (m.enabled !== undefined) out.enabled = bool(m.enabled, `${key}.enabled`);
  if (m.networks !== undefined) {
    if (!Array.isArray(m.networks))
      throw new ConfigError(
        `${key}.networks`,
        `${show(m.networks)} — must be a list of {prefix, group?, thresholds?}`,
      );
    out.networks = m.networks.map((n: unknown, i) => {
      const nk = `${key}.networks[${i}]`;
      const nm = typeof n === "string" ? { prefix: n } : map(n, nk);
      known(nm, nk, ["prefix", "group", "thresholds"]);
      if (typeof nm.prefix !== "string") throw new ConfigError(`${nk}.prefix`, "must be a prefix string");
      const p = parsePrefix(nm.prefix);
      if (typeof p === "string") throw new ConfigError(`${nk}.prefix`, `${show(nm.prefix)} — ${p}`);
      if (nm.group !== undefined && typeof nm.group !== "string")
        throw new ConfigError(`${nk}.group`, `${show(nm.group)} — must be a string`);
      const net: NetworkConfig = { prefix: nm.prefix, group: (nm.group as string | undefined) ?? "" };
      if (nm.thresholds !== undefined) {
        const tm = map(nm.thresholds, `${nk}.thresholds`);
        known(tm, `${nk}.thresholds`, ["host", "prefix"]);
        net.thresholds = {};
        // Validated against the section's thresholds so per-network values merge over them at use.
        if (tm.host !== undefined)
          net.thresholds.host = thresholdSet(tm.host, `${nk}.thresholds.host`, out.thresholds.host);
        if (tm.prefix !== undefined)
          net.thresholds.prefix = thresholdSet(tm.prefix, `${nk}.thresholds.prefix`, out.thresholds.prefix);
      }
      return net;
    });
  }
  if (m.thresholds !== undefined) {
    const tm = map(m.thresholds, `${key}.thresholds`);
    known(tm, `${key}.thresholds`, ["host", "prefix"]);
    if (tm.host !== undefined)
      out.thresholds.host = thresholdSet(tm.host, `${key}.thresholds.host`, out.thresholds.host);
    if (tm.prefix !== undefined)
      out.thresholds.prefix = thresholdSet(tm.prefix, `${key}.thresholds.prefix`, out.thresholds.prefix);
  }
  if (m.baseline !== undefined) {
    const bk = `${key}.baseline`;
    const bm = map(m.baseline, bk);
    known(bm, bk, [
      "enabled",
      "k",
      "floorPps",
      "floorBps",
      "alpha",
      "minSamples",
      "clip",
      "peakFactor",
      "seconds",
    ]);
    const b = out.baseline;
    if (bm.enabled !== undefined) b.enabled = bool(bm.enabled, `${bk}.enabled`);
    if (bm.k !== undefined) b.k = num(bm.k, `${bk}.k`, 1.1, 1e6);
    if (bm.floorPps !== undefined) b.floorPps = num(bm.floorPps, `${bk}.floorPps`, 0, RATE_MAX);
    if (bm.floorBps !== undefined) b.floorBps = num(bm.floorBps, `${bk}.floorBps`, 0, RATE_MAX);
    if (bm.alpha !== undefined) b.alpha = num(bm.alpha, `${bk}.alpha`, 1e-6, 1);
    if (bm.minSamples !== undefined) b.minSamples = num(bm.minSamples, `${bk}.minSamples`, 1, 65_535, true);
    if (bm.clip !== undefined) b.clip = num(bm.clip, `${bk}.clip`, 1, 1e6);
    if (bm.peakFactor !== undefined) b.peakFactor = num(bm.peakFactor, `${bk}.peakFactor`, 0, 1e6);
    if (bm.seconds !== undefined) b.seconds = num(bm.seconds, `${bk}.seconds`, 1, 60, true);
  }
  if (m.spreadFlows !== undefined) out.spreadFlows = bool(m.spreadFlows, `${key}.spreadFlows`);
  if (m.minRecords !== undefined) out.minRecords = num(m.minRecords, `${key}.minRecords`, 1, 1_000_000, true);
  if (m.quietSeconds !== undefined)
    out.quietSeconds = num(m.quietSeconds, `${key}.quietSeconds`, 1, 86_400, true);
  if (m.maxHosts !== undefined) out.maxHosts = num(m.maxHosts, `${key}.maxHosts`, 16, 16_777_216, true);
  if (m.maxPrefixes !== undefined)
    out.maxPrefixes = num(m.maxPrefixes, `${key}.maxPrefixes`, 16, 16_777_216, true);
  if (m.keepEnded !== undefined) out.keepEnded = num(m.keepEnded, `${key}.keepEnded`, 0, 100_000, true);
  if (m.hooks !== undefined) {
    const hk = `${key}.hooks`;
    const hm = map(m.hooks, hk);
    known(hm, hk, ["script", "webhook", "timeoutMs", "on", "maxConcurrent"]);
    const h = out.hooks;
    if (hm.script !== undefined) {
      if (typeof hm.script !== "string")
        throw new ConfigError(`${hk}.script`, `${show(hm.script)} — must be a path`);
      h.script = hm.script;
    }
    if (hm.webhook !== undefined) {
      if (typeof hm.webhook !== "string" || (hm.webhook !== "" && !/^https?:\/\/[^\s]+$/.test(hm.webhook)))
        throw new ConfigError(`${hk}.webhook`, `${show(hm.webhook)} — must be an http(s) URL or ""`);
      h.webhook = hm.webhook;
    }
    if (hm.timeoutMs !== undefined) h.timeoutMs = num(hm.timeoutMs, `${hk}.timeoutMs`, 100, 600_000, true);
    if (hm.maxConcurrent !== undefined)
      h.maxConcurrent = num(hm.maxConcurrent, `${hk}.maxConcurrent`, 1, 1000, true);
    if (hm.on !== undefined) {
      if (!Array.isArray(hm.on) || !hm.on.every((x) => x === "start" || x === "end"))
        throw new ConfigError(`${hk}.on`, `${show(hm.on)} — must be a list of "start", "end"`);
      h.on = [...(hm.on as ("start" | "end")[])];
    }
  }
  return out;
}
