// The configuration: one section per component, each with its defaults and
// validation. Unknown keys are errors (a typo must not silently fall back to a
// default), and every error names the key path and the reason, e.g.
//   config: collector.listen[1]: "1.2.3.4:99999" — port must be 1-65535
import { defaultAlertsConfig, validateAlertsConfig, type AlertsConfig } from "../alerts/config.js";
import { defaultTrinoConfig, validateTrinoConfig, type TrinoConfig } from "../api/trino-config.js";
import { defaultBusConfig, validateBusConfig, type BusConfig } from "../bus/config.js";
import {
  defaultTrinoTablesConfig,
  validateTrinoTablesConfig,
  type TrinoTablesConfig,
} from "../bus/trino-tables.js";
import { validateDeployMode, type DeployMode } from "../bus/consumer-config.js";
import { defaultDetectConfig, validateDetectConfig, type DetectConfig } from "../detect/config.js";
import { defaultEnrichConfig, validateEnrichConfig, type EnrichConfig } from "../enrich/config.js";
import { defaultAnomalyConfig, validateAnomalyConfig, type AnomalyConfig } from "../detect/anomaly-config.js";
import type { LogLevel } from "../log.js";
import { defaultSqlConfig, validateSqlConfig, type SqlConfig } from "../query/sql/config.js";
import { defaultEngineConfig, validateEngineConfig, type EngineConfig } from "../query/engine/config.js";
import { defaultStoreConfig, validateStoreConfig, type StoreConfig } from "../store/config.js";
import { parseListen, parsePrefix, type ListenAddress } from "./address.js";

export interface TemplatesConfig {
  maxTemplatesPerScope: number;
  maxPendingSetsPerExporter: number;
  maxPendingBytesPerExporter: number;
  pendingMaxAgeMs: number;
}

export interface SamplingConfig {
  /** Rate when the export carries none and no override matches (0 = unknown). */
  default: number;
  /** Exporter address or CIDR prefix → rate. Exact addresses win, then the longest prefix. */
  exporters: Record<string, number>;
}

/** Interface counter time series (sFlow counter samples), see src/collector/counters.ts. */
export interface CountersConfig {
  /** Points older than this are dropped. */
  retentionSeconds: number;
  /** Series (agent, ifIndex) kept; the least recently updated is evicted beyond it. */
  maxSeries: number;
  /** Points kept over all series (memory bound: about 232 bytes each). */
  maxPoints: number;
  /** Series exported as /metrics gauges (the most recently updated). */
  metricsMaxSeries: number;
}

export interface CollectorConfig {
  listen: string[];
  /** sFlow listen addresses (sFlow and NetFlow are told apart per datagram on every port). */
  sflowListen: string[];
  receiveBufferBytes: number;
  templates: TemplatesConfig;
  sampling: SamplingConfig;
  maxExporters: number;
  counters: CountersConfig;
}

export interface HttpConfig {
  listen: string;
  /** Bearer token for /api/v1/*; "" = generated at first start into dataDir/api-token. */
  token: string;
  /** Serve /metrics without a token even on a non-loopback bind. */
  publicMetrics: boolean;
  /** Password of the "admin" user created at first start ("" = NAGARE_ADMIN_PASSWORD, else generated and printed). */
  adminPassword: string;
  /** Mark the session cookie Secure (the UI is reached over https, e.g. behind a TLS proxy). */
  secureCookies: boolean;
  /** Session lifetime in hours. */
  sessionHours: number;
}

export interface DemoConfig {
  enabled: boolean;
  /** Demo traffic runs only when no real exporter was heard for this long. */
  idleSeconds: number;
  flowsPerSecond: number;
}

export interface OutputConfig {
  /** Path of a JSON-lines file receiving every flow ("" = off, "-" = stdout). */
  jsonl: string;
}

/** The flow store (src/store); `enabled: false` (or --no-store) runs without one. */
export interface StoreSection extends StoreConfig {
  enabled: boolean;
}

export interface NagareConfig {
  collector: CollectorConfig;
  dataDir: string;
  http: HttpConfig;
  log: { level: LogLevel };
  demo: DemoConfig;
  output: OutputConfig;
  store: StoreSection;
  query: { sql: SqlConfig; engine: EngineConfig };
  /** DDoS detection (src/detect/config.ts, docs/detection.md); detect.anomaly: anomaly scores (src/detect/anomaly-config.ts). */
  detect: DetectSection;
  /** Alert rules' delivery: SMTP relay, syslog default, retries (src/alerts/config.ts, docs/alerts.md). */
  alerts: AlertsConfig;
  /** Trino/Presto client-protocol endpoint (src/api/trino-config.ts, docs/trino.md). */
  trino: TrinoConfig;
  /** Flow enrichment: networks/AS-names files, GeoIP, classifiers, routing, interfaces (src/enrich/config.ts, docs/enrichment.md). */
  enrich: EnrichConfig;
  /** What this process runs: all (default), collector (→ Kafka), store (Kafka →); docs/kafka.md "Deployment modes". */
  mode: DeployMode;
  /** Kafka: brokers, topic, TLS/SASL, producer and consumer (src/bus/config.ts, docs/kafka.md). */
  bus: BusConfig;
  /** Trino Kafka-connector table descriptions of the topic, written at start (src/bus/trino-tables.ts, docs/trino.md). */
  trinoTables: TrinoTablesConfig;
}

export const MIB = 1024 * 1024;

/** Defaults. `collector.listen` adds "[::]:2055" at start-up when IPv6 works (see app.ts). */
export function defaultConfig(): NagareConfig {
  return {
    collector: {
      listen: ["0.0.0.0:2055"],
      sflowListen: ["0.0.0.0:6343"],
      receiveBufferBytes: 32 * MIB,
      templates: {
        maxTemplatesPerScope: 1024,
        maxPendingSetsPerExporter: 1024,
        maxPendingBytesPerExporter: 4 * MIB,
        pendingMaxAgeMs: 60_000,
      },
      sampling: { default: 0, exporters: {} },
      maxExporters: 10_000,
      counters: { retentionSeconds: 3600, maxSeries: 100_000, maxPoints: 500_000, metricsMaxSeries: 1000 },
    },
    dataDir: "./data",
    http: {
      listen: "127.0.0.1:8080",
      token: "",
      publicMetrics: false,
      adminPassword: "",
      secureCookies: false,
      sessionHours: 12,
    },
    log: { level: "info" },
    demo: { enabled: true, idleSeconds: 10, flowsPerSecond: 3000 },
    output: { jsonl: "" },
    // path "" = <dataDir>/nagare.duckdb, resolved after validation (dataDir may be overridden).
    store: { enabled: true, ...defaultStoreConfig(), path: "" },
    query: { sql: defaultSqlConfig(), engine: defaultEngineConfig() },
    detect: { ...defaultDetectConfig(), anomaly: defaultAnomalyConfig() },
    alerts: defaultAlertsConfig(),
    trino: defaultTrinoConfig(),
    enrich: defaultEnrichConfig(),
    mode: "all",
    bus: defaultBusConfig(),
    trinoTables: defaultTrinoTablesConfig(),
  };
}

export class ConfigError extends Error {
  readonly key: string;
  readonly reason: string;
  constructor(key: string, reason: string) {
    super(`config: ${key}: ${reason}`);
    this.key = key;
    this.reason = reason;
  }
}

// ---- the validator: a tiny declarative walker --------------------------------

type Check = (value: unknown, key: string, base?: unknown) => unknown;

function show(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 60 ? s.slice(0, 57) + "..." : s;
}

function fail(key: string, value: unknown, reason: string): never {
  throw new ConfigError(key, value === undefined ? reason : `${show(value)} — ${reason}`);
}

const int =
  (min: number, max: number, what = "an integer"): Check =>
  (v, key) => {
    if (typeof v !== "number" || !Number.isInteger(v)) fail(key, v, `must be ${what}`);
    if (v < min || v > max) fail(key, v, `must be ${min}-${max}`);
    return v;
  };

const bool: Check = (v, key) => {
  if (typeof v !== "boolean") fail(key, v, "must be true or false");
  return v;
};

const str =
  (validate?: (s: string) => string | null): Check =>
  (v, key) => {
    if (typeof v !== "string") fail(key, v, "must be a string");
    const err = validate?.(v);
    if (err) fail(key, v, err);
    return v;
  };

const oneOf =
  (...allowed: string[]): Check =>
  (v, key) => {
    if (typeof v !== "string" || !allowed.includes(v)) fail(key, v, `must be one of ${allowed.join(", ")}`);
    return v;
  };

const listenCheck = (s: string): string | null => {
  const r = parseListen(s);
  return typeof r === "string" ? r : null;
};

const listenList: Check = (v, key) => {
  if (!Array.isArray(v)) fail(key, v, 'must be a list of "address:port"');
  if (v.length === 0) fail(key, v, "needs at least one address");
  const seen = new Set<string>();
  v.forEach((item, i) => {
    str(listenCheck)(item, `${key}[${i}]`);
    const a = parseListen(item as string) as ListenAddress;
    const id = `${a.host}|${a.port}`;
    if (a.port !== 0 && seen.has(id)) fail(`${key}[${i}]`, item, "listed twice");
    seen.add(id);
  });
  return [...(v as string[])];
};

const rateMap: Check = (v, key) => {
  if (typeof v !== "object" || v === null || Array.isArray(v))
    fail(key, v, 'must be a map of "address or prefix": rate');
  const out: Record<string, number> = {};
  for (const [k, rate] of Object.entries(v)) {
    const p = parsePrefix(k);
    if (typeof p === "string") fail(`${key}.${k}`, undefined, `key ${p}`);
    out[k] = int(1, 0xffffffff, "a positive integer (1-in-N)")(rate, `${key}.${k}`) as number;
  }
  return out;
};

type Spec = { [k: string]: Check | Spec };

/** Called with the section merged so far as the base, so overrides layer like the rest. */
function storeSection(v: unknown, key: string, base?: unknown): unknown {
  const prev = base as StoreSection;
  if (typeof v !== "object" || v === null || Array.isArray(v)) fail(key, v, "must be a map");
  const { enabled, ...rest } = v as Record<string, unknown>;
  // path "" means <dataDir>/nagare.duckdb (the default), as with http.token "".
  if (rest.path === "") delete rest.path;
  const { enabled: prevEnabled, ...prevStore } = prev;
  const out: StoreSection = {
    enabled: enabled === undefined ? prevEnabled : (bool(enabled, `${key}.enabled`) as boolean),
    ...validateStoreConfig(rest, { ...prevStore, path: prevStore.path || "x" }),
  };
  // validateStoreConfig needs a non-empty default; "" (derive from dataDir) survives when no path was given.
  if (rest.path === undefined) out.path = prevStore.path;
  return out;
}

/** The detect section: DDoS settings plus the `anomaly` sub-section. */
export type DetectSection = DetectConfig & { anomaly: AnomalyConfig };

function detectSection(v: unknown, key: string, base?: unknown): unknown {
  const { anomaly: prevAnomaly, ...prev } = base as DetectSection;
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    return { ...validateDetectConfig(v, prev, key), anomaly: prevAnomaly };
  }
  const { anomaly, ...rest } = v as Record<string, unknown>;
  return {
    ...validateDetectConfig(rest, prev, key),
    anomaly: validateAnomalyConfig(anomaly, prevAnomaly, `${key}.anomaly`),
  };
}

function sqlSection(v: unknown, key: string, base?: unknown): unknown {
  try {
    return validateSqlConfig(v, base as SqlConfig);
  } catch (err) {
    // validateSqlConfig names keys "sql.…"; here the section lives at query.sql.
    if (err instanceof ConfigError) throw new ConfigError(err.key.replace(/^sql/, key), err.reason);
    throw err;
  }
}

const SPEC: Spec = {
  collector: {
    listen: listenList,
    sflowListen: listenList,
    receiveBufferBytes: int(0, 2 ** 31 - 1),
    templates: {
      maxTemplatesPerScope: int(1, 1_000_000),
      maxPendingSetsPerExporter: int(0, 1_000_000),
      maxPendingBytesPerExporter: int(0, 2 ** 31 - 1),
      pendingMaxAgeMs: int(0, 86_400_000),
    },
    sampling: { default: int(0, 0xffffffff), exporters: rateMap },
    maxExporters: int(1, 10_000_000),
    counters: {
      retentionSeconds: int(60, 30 * 86_400),
      maxSeries: int(1, 10_000_000),
      maxPoints: int(100, 100_000_000),
      metricsMaxSeries: int(0, 100_000),
    },
  },
  dataDir: str((s) => (s.length === 0 ? "must not be empty" : null)),
  http: {
    listen: str(listenCheck),
    token: str((s) =>
      s !== "" && !/^[\x21-\x7e]{16,}$/.test(s)
        ? "must be at least 16 printable characters, no spaces"
        : null,
    ),
    publicMetrics: bool,
    adminPassword: str((s) => (s !== "" && s.length < 8 ? "must be at least 8 characters" : null)),
    secureCookies: bool,
    sessionHours: int(1, 24 * 90),
  },
  log: { level: oneOf("debug", "info", "warn", "error") },
  demo: {
    enabled: bool,
    idleSeconds: int(1, 86_400),
    flowsPerSecond: int(1, 100_000),
  },
  output: { jsonl: str() },
  // The store and SQL sections validate themselves (src/store/config.ts, src/query/sql/config.ts).
  store: storeSection,
  // src/query/engine/config.ts validates query.engine (duckdb | trino).
  query: { sql: sqlSection, engine: (v, key, base) => validateEngineConfig(v, base as EngineConfig, key) },
  // src/detect/config.ts validates its own section (keys named "detect.…").
  // detect.anomaly is split off and validated by src/detect/anomaly-config.ts (keys named "detect.anomaly.…").
  detect: detectSection,
  // src/alerts/config.ts validates its own section (keys named "alerts.…").
  alerts: (v, key, base) => validateAlertsConfig(v, base as AlertsConfig, key),
  // src/api/trino-config.ts validates its own section (keys named "trino.…").
  trino: (v, key, base) => validateTrinoConfig(v, base as TrinoConfig, key),
  // src/enrich/config.ts validates its own section (keys named "enrich.…").
  enrich: (v, key, base) => validateEnrichConfig(v, base as EnrichConfig, key),
  // src/bus/consumer-config.ts: all | collector | store.
  mode: (v, key) => validateDeployMode(v, key),
  // src/bus/config.ts validates its own section (keys named "bus.…").
  bus: (v, key, base) => validateBusConfig(v, base as BusConfig, key),
  // src/bus/trino-tables.ts validates its own section (keys named "trinoTables.…").
  trinoTables: (v, key, base) => validateTrinoTablesConfig(v, base as TrinoTablesConfig, key),
};

function walk(spec: Spec, value: unknown, base: Record<string, unknown>, prefix: string): void {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    fail(prefix || "(top level)", value, "must be a map");
  }
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const key = prefix ? `${prefix}.${k}` : k;
    const s = Object.hasOwn(spec, k) ? spec[k] : undefined;
    if (s === undefined) {
      fail(key, undefined, `unknown key (known here: ${Object.keys(spec).join(", ")})`);
    }
    if (typeof s === "function") {
      base[k] = s(v, key, base[k]);
    } else {
      walk(s, v, base[k] as Record<string, unknown>, key);
    }
  }
}

/**
 * Validate `raw` (as parsed from the config file, possibly with overrides
 * applied) on top of `defaults`. Throws ConfigError naming the first bad key.
 */
export function validateConfig(raw: unknown, defaults: NagareConfig = defaultConfig()): NagareConfig {
  const cfg = structuredClone(defaults);
  if (raw === null || raw === undefined) return cfg;
  walk(SPEC, raw, cfg as unknown as Record<string, unknown>, "");
  return cfg;
}

/** The store file: store.path, or <dataDir>/nagare.duckdb when not set. */
export function storePath(cfg: NagareConfig): string {
  return cfg.store.path || defaultStoreConfig(cfg.dataDir).path;
}
