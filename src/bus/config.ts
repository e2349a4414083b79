// The `bus` section: the Kafka cluster (brokers, TLS, SASL), the topic, the
// producer (format, partitioning, batching, compression, acks, bounded
// buffer, pmacct time bins) and the consumer (src/bus/consumer-config.ts).
// Defaults and validation in the style of src/alerts/config.ts: unknown keys
// are errors and every error names the key path ("bus.producer.acks: …").
// docs/kafka.md documents every key.
import { ConfigError } from "../config/schema.js";
import {
  defaultBusConsumerConfig,
  validateBusConsumerConfig,
  type BusConsumerConfig,
} from "./consumer-config.js";
import { PARTITION_KEYS, type PartitionKey } from "./key.js";
import { unknownPmacctFields } from "./pmacct.js";
import type { BusFormat } from "./types.js";
import { show, int, bool } from "../config/check.js";

export type Compression = "none" | "gzip" | "snappy" | "lz4";
export const COMPRESSIONS: readonly Compression[] = ["none", "gzip", "snappy", "lz4"];
export type SaslMechanism = "none" | "plain" | "scram-sha-256" | "scram-sha-512";

export interface BusTlsConfig {
  enabled: boolean;
  /** PEM files ("" = system CAs / no client certificate). */
  ca: string;
  cert: string;
  key: string;
  /** Skip server certificate verification (test clusters only). */
  insecure: boolean;
  /** SNI / certificate name ("" = the broker host). */
  serverName: string;
}

export interface BusSaslConfig {
  mechanism: SaslMechanism;
  username: string;
  password: string;
}

export interface PmacctOutputConfig {
  /** pmacct JSON keys written (like pmacct's `aggregate`); [] = every mapped field. */
  fields: string[];
  /** writer_id ("" = "nagare/<pid>", pmacct writes "<plugin>/<pid>"). */
  writerId: string;
  /** Time-bin length in seconds (pmacct's kafka_history); 0 = no bins, one message per flow. */
  historySeconds: number;
  /** Purge period of the time-bin table in seconds (pmacct's kafka_refresh_time). */
  refreshSeconds: number;
  /** Aggregates held between purges; reaching it purges early (bounded memory). */
  maxEntries: number;
}

export interface BusProducerConfig {
  format: BusFormat;
  partitionKey: PartitionKey;
  /** nagare-binary: most flows per message. */
  maxFlowsPerMessage: number;
  /** A produce request carries at most this many messages … */
  batchMessages: number;
  /** … and at most about this many bytes … */
  batchBytes: number;
  /** … and waits at most this long for more (the linger). */
  lingerMs: number;
  compression: Compression;
  /** 0 = no acknowledgement, 1 = the leader, -1 = all in-sync replicas. */
  acks: 0 | 1 | -1;
  /** Messages waiting for the broker (down, slow) hold at most this many bytes; beyond, new ones are dropped and counted. */
  bufferBytes: number;
  /** Wait before re-sending after a failed produce; doubled up to retryMaxMs. */
  retryBackoffMs: number;
  retryMaxMs: number;
  /** One produce request is abandoned (and retried) after this long. */
  requestTimeoutMs: number;
  pmacct: PmacctOutputConfig;
}

export interface BusConfig {
  /** Publish decoded flows to Kafka (mode "all"/"collector"); required by the "collector" and "store" modes. */
  enabled: boolean;
  /** Bootstrap brokers, "host:port". */
  brokers: string[];
  clientId: string;
  /** The flows topic (produced to, and consumed from unless bus.consumer.topic says otherwise). */
  topic: string;
  tls: BusTlsConfig;
  sasl: BusSaslConfig;
  producer: BusProducerConfig;
  consumer: BusConsumerConfig;
}

export function defaultBusConfig(): BusConfig {
  return {
    enabled: false,
    brokers: ["127.0.0.1:9092"],
    clientId: "nagare",
    topic: "nagare.flows",
    tls: { enabled: false, ca: "", cert: "", key: "", insecure: false, serverName: "" },
    sasl: { mechanism: "none", username: "", password: "" },
    producer: {
      format: "nagare-binary",
      partitionKey: "exporter",
      maxFlowsPerMessage: 1024,
      batchMessages: 1000,
      batchBytes: 1024 * 1024,
      lingerMs: 50,
      compression: "lz4",
      acks: -1,
      bufferBytes: 64 * 1024 * 1024,
      retryBackoffMs: 200,
      retryMaxMs: 5000,
      requestTimeoutMs: 10_000,
      pmacct: { fields: [], writerId: "", historySeconds: 0, refreshSeconds: 60, maxEntries: 100_000 },
    },
    consumer: defaultBusConsumerConfig(),
  };
}

function section(v: unknown, key: string): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v))
    throw new ConfigError(key, `${show(v)} — must be a map`);
  return v as Record<string, unknown>;
}

function keys(raw: Record<string, unknown>, known: object, key: string): void {
  for (const k of Object.keys(raw))
    if (!Object.hasOwn(known, k))
      throw new ConfigError(`${key}.${k}`, `unknown key (known here: ${Object.keys(known).join(", ")})`);
}

function str(v: unknown, key: string): string {
  if (typeof v !== "string") throw new ConfigError(key, `${show(v)} — must be a string`);
  return v;
}

function oneOf<T extends string | number>(v: unknown, key: string, allowed: readonly T[]): T {
  if (!(allowed as readonly unknown[]).includes(v))
    throw new ConfigError(key, `${show(v)} — must be one of ${allowed.join(", ")}`);
  return v as T;
}

/** Kafka's legal topic names: [a-zA-Z0-9._-], 1-249 characters. */
const TOPIC_RE = /^[A-Za-z0-9._-]{1,249}$/;
const BROKER_RE =
  /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|[0-9A-Fa-f:.]+):(\d{1,5})$/;

/** "host:port" / "[v6]:port" → parts (the form @platformatic/kafka takes). */
export function parseBroker(s: string): { host: string; port: number } {
  const i = s.lastIndexOf(":");
  const host = s.slice(0, i);
  return { host: host.startsWith("[") ? host.slice(1, -1) : host, port: Number(s.slice(i + 1)) };
}

/** Validate a raw `bus` section over `defaults`; throws ConfigError naming the key. */
export function validateBusConfig(
  raw: unknown,
  defaults: BusConfig = defaultBusConfig(),
  key = "bus",
): BusConfig {
  const out = structuredClone(defaults);
  if (raw === undefined) return out;
  const r = section(raw, key);
  keys(r, out, key);
  const at = (k: string) => `${key}.${k}`;
  if (r.enabled !== undefined) out.enabled = bool(r.enabled, at("enabled"));
  if (r.brokers !== undefined) {
    if (!Array.isArray(r.brokers) || r.brokers.length === 0)
      throw new ConfigError(at("brokers"), `${show(r.brokers)} — must be a non-empty list of "host:port"`);
    out.brokers = r.brokers.map((b, i) => {
      const k = `${at("brokers")}[${i}]`;
      const s = str(b, k);
      const m = BROKER_RE.exec(s);
      if (!m || Number(m[1]) < 1 || Number(m[1]) > 65535)
        throw new ConfigError(k, `${show(s)} — must be "host:port"`);
      return s;
    });
  }
  if (r.clientId !== undefined) {
    out.clientId = str(r.clientId, at("clientId"));
    if (!TOPIC_RE.test(out.clientId))
      throw new ConfigError(at("clientId"), `${show(out.clientId)} — must be 1-249 of [A-Za-z0-9._-]`);
  }
  if (r.topic !== undefined) {
    out.topic = str(r.topic, at("topic"));
    if (!TOPIC_RE.test(out.topic))
      throw new ConfigError(at("topic"), `${show(out.topic)} — must be 1-249 of [A-Za-z0-9._-]`);
  }
  if (r.tls !== undefined) {
    const k = at("tls");
    const s = section(r.tls, k);
    keys(s, out.tls, k);
    if (s.enabled !== undefined) out.tls.enabled = bool(s.enabled, `${k}.enabled`);
    for (const f of ["ca", "cert", "key", "serverName"] as const)
      if (s[f] !== undefined) out.tls[f] = str(s[f], `${k}.${f}`);
    if (s.insecure !== undefined) out.tls.insecure = bool(s.insecure, `${k}.insecure`);
    if ((out.tls.cert === "") !== (out.tls.key === ""))
      throw new ConfigError(
        `${k}.${out.tls.cert === "" ? "cert" : "key"}`,
        "cert and key go together (a client certificate needs both)",
      );
  }
  if (r.sasl !== undefined) {
    const k = at("sasl");
    const s = section(r.sasl, k);
    keys(s, out.sasl, k);
    if (s.mechanism !== undefined)
      out.sasl.mechanism = oneOf(s.mechanism, `${k}.mechanism`, [
        "none",
        "plain",
        "scram-sha-256",
        "scram-sha-512",
      ] as const);
    if (s.username !== undefined) out.sasl.username = str(s.username, `${k}.username`);
    if (s.password !== undefined) out.sasl.password = str(s.password, `${k}.password`);
    if (out.sasl.mechanism !== "none" && out.sasl.username === "")
      throw new ConfigError(`${k}.username`, `required with mechanism ${out.sasl.mechanism}`);
  }
  if (r.producer !== undefined) {
    const k = at("producer");
    const s = section(r.producer, k);
    const p = out.producer;
    keys(s, p, k);
    if (s.format !== undefined)
      p.format = oneOf(s.format, `${k}.format`, ["pmacct-json", "nagare-binary"] as const);
    if (s.partitionKey !== undefined)
      p.partitionKey = oneOf(s.partitionKey, `${k}.partitionKey`, PARTITION_KEYS);
    if (s.maxFlowsPerMessage !== undefined)
      p.maxFlowsPerMessage = int(s.maxFlowsPerMessage, `${k}.maxFlowsPerMessage`, 1, 65_536);
    if (s.batchMessages !== undefined)
      p.batchMessages = int(s.batchMessages, `${k}.batchMessages`, 1, 1_000_000);
    if (s.batchBytes !== undefined)
      p.batchBytes = int(s.batchBytes, `${k}.batchBytes`, 1024, 256 * 1024 * 1024);
    if (s.lingerMs !== undefined) p.lingerMs = int(s.lingerMs, `${k}.lingerMs`, 0, 60_000);
    if (s.compression !== undefined) p.compression = oneOf(s.compression, `${k}.compression`, COMPRESSIONS);
    if (s.acks !== undefined) p.acks = oneOf(s.acks, `${k}.acks`, [0, 1, -1] as const);
    if (s.bufferBytes !== undefined)
      p.bufferBytes = int(s.bufferBytes, `${k}.bufferBytes`, 64 * 1024, 2 ** 40);
    if (s.retryBackoffMs !== undefined)
      p.retryBackoffMs = int(s.retryBackoffMs, `${k}.retryBackoffMs`, 1, 600_000);
    if (s.retryMaxMs !== undefined) p.retryMaxMs = int(s.retryMaxMs, `${k}.retryMaxMs`, 1, 3_600_000);
    if (s.requestTimeoutMs !== undefined)
      p.requestTimeoutMs = int(s.requestTimeoutMs, `${k}.requestTimeoutMs`, 100, 600_000);
    if (p.retryMaxMs < p.retryBackoffMs)
      throw new ConfigError(`${k}.retryMaxMs`, `${p.retryMaxMs} — must be ≥ retryBackoffMs`);
    if (s.pmacct !== undefined) {
      const kp = `${k}.pmacct`;
      const sp = section(s.pmacct, kp);
      keys(sp, p.pmacct, kp);
      if (sp.fields !== undefined) {
        if (!Array.isArray(sp.fields))
          throw new ConfigError(`${kp}.fields`, `${show(sp.fields)} — must be a list of pmacct JSON keys`);
        const fields = sp.fields.map((f, i) => str(f, `${kp}.fields[${i}]`));
        const bad = unknownPmacctFields(fields);
        if (bad.length)
          throw new ConfigError(
            `${kp}.fields`,
            `unknown pmacct field(s) ${bad.join(", ")} (docs/kafka.md lists them)`,
          );
        p.pmacct.fields = fields;
      }
      if (sp.writerId !== undefined) p.pmacct.writerId = str(sp.writerId, `${kp}.writerId`);
      if (sp.historySeconds !== undefined) {
        p.pmacct.historySeconds = int(sp.historySeconds, `${kp}.historySeconds`, 0, 31 * 86_400);
        if (p.pmacct.historySeconds !== 0 && p.pmacct.historySeconds < 60)
          throw new ConfigError(
            `${kp}.historySeconds`,
            `${p.pmacct.historySeconds} — 0 (off) or at least 60 (pmacct's finest time bin is 1 minute)`,
          );
      }
      if (sp.refreshSeconds !== undefined)
        p.pmacct.refreshSeconds = int(sp.refreshSeconds, `${kp}.refreshSeconds`, 1, 86_400);
      if (sp.maxEntries !== undefined)
        p.pmacct.maxEntries = int(sp.maxEntries, `${kp}.maxEntries`, 1, 10_000_000);
    }
  }
  if (r.consumer !== undefined)
    out.consumer = validateBusConsumerConfig(r.consumer, out.consumer, at("consumer"));
  return out;
}
