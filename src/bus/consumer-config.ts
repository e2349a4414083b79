// The consumer keys (`bus.consumer`) and the deployment mode (`mode`).
// Defaults and validation in the style of src/alerts/config.ts: unknown keys
// are errors and every error names the key path ("bus.consumer.topic: …").
// Brokers, TLS and SASL are the bus section's own (src/bus/config.ts): one
// cluster per process.
import { ConfigError } from "../config/schema.js";
import type { ConsumerFormat } from "./consumer.js";
import { show, int } from "../config/check.js";

/**
 * What this process runs (docs/kafka.md, "Deployment modes"):
 *  - all: UDP collector → store + UI in one process (the default; Kafka only if the producer is on);
 *  - collector: UDP collector → Kafka producer; no store, no UI (the HTTP server keeps /metrics and /healthz);
 *  - store: Kafka consumer → store + UI; no UDP collector.
 */
export type DeployMode = "all" | "collector" | "store";
export const DEPLOY_MODES: readonly DeployMode[] = ["all", "collector", "store"];

export interface BusConsumerConfig {
  /** Topic to consume ("" = the producer's topic, bus.topic). */
  topic: string;
  /** Consumer group; store nodes sharing it split the topic's partitions. */
  groupId: string;
  clientId: string;
  /** Message format, or "auto" (a leading "{" is pmacct JSON, else nagare binary). */
  format: ConsumerFormat;
  /** A group without a committed offset starts at the oldest retained message or at new ones only. */
  startFrom: "earliest" | "latest";
  /** Offsets are committed after a store flush at most this often (the duplicate window on a crash). */
  commitIntervalMs: number;
  /** Lag (log end − committed offset) refresh period. */
  lagIntervalMs: number;
  /** Rows per batch handed to the pipeline. */
  batchRows: number;
  /** Longest broker wait of a fetch on an idle topic. */
  maxWaitMs: number;
  sessionTimeoutMs: number;
  heartbeatIntervalMs: number;
}

export function defaultBusConsumerConfig(): BusConsumerConfig {
  return {
    topic: "",
    groupId: "nagare-store",
    clientId: "nagare-consumer",
    format: "auto",
    startFrom: "earliest",
    commitIntervalMs: 1000,
    lagIntervalMs: 5000,
    batchRows: 4096,
    maxWaitMs: 500,
    sessionTimeoutMs: 10_000,
    heartbeatIntervalMs: 1000,
  };
}

function oneOf<T extends string>(v: unknown, key: string, allowed: readonly T[]): T {
  if (typeof v !== "string" || !(allowed as readonly string[]).includes(v))
    throw new ConfigError(key, `${show(v)} — must be one of ${allowed.join(", ")}`);
  return v as T;
}

/** Kafka's legal topic and group names: [a-zA-Z0-9._-], 1-249 characters. */
const NAME_RE = /^[A-Za-z0-9._-]{1,249}$/;

function name(v: unknown, key: string, allowEmpty: boolean): string {
  if (typeof v !== "string") throw new ConfigError(key, `${show(v)} — must be a string`);
  if (v === "" && allowEmpty) return v;
  if (!NAME_RE.test(v)) throw new ConfigError(key, `${show(v)} — must be 1-249 of [A-Za-z0-9._-]`);
  return v;
}

/** Validate a raw `bus.consumer` section over `defaults`; throws ConfigError naming the key. */
export function validateBusConsumerConfig(
  raw: unknown,
  defaults: BusConsumerConfig = defaultBusConsumerConfig(),
  key = "bus.consumer",
): BusConsumerConfig {
  const out = { ...defaults };
  if (raw === undefined) return out;
  if (typeof raw !== "object" || raw === null || Array.isArray(raw))
    throw new ConfigError(key, `${show(raw)} — must be a map`);
  const r = raw as Record<string, unknown>;
  for (const k of Object.keys(r))
    if (!Object.hasOwn(out, k))
      throw new ConfigError(`${key}.${k}`, `unknown key (known here: ${Object.keys(out).join(", ")})`);
  const at = (k: string): string => `${key}.${k}`;
  if (r.topic !== undefined) out.topic = name(r.topic, at("topic"), true);
  if (r.groupId !== undefined) out.groupId = name(r.groupId, at("groupId"), false);
  if (r.clientId !== undefined) out.clientId = name(r.clientId, at("clientId"), false);
  if (r.format !== undefined)
    out.format = oneOf(r.format, at("format"), ["auto", "pmacct-json", "nagare-binary"] as const);
  if (r.startFrom !== undefined) out.startFrom = oneOf(r.startFrom, at("startFrom"), ["earliest", "latest"]);
  if (r.commitIntervalMs !== undefined)
    out.commitIntervalMs = int(r.commitIntervalMs, at("commitIntervalMs"), 50, 600_000);
  if (r.lagIntervalMs !== undefined)
    out.lagIntervalMs = int(r.lagIntervalMs, at("lagIntervalMs"), 0, 3_600_000);
  if (r.batchRows !== undefined) out.batchRows = int(r.batchRows, at("batchRows"), 16, 1_048_576);
  if (r.maxWaitMs !== undefined) out.maxWaitMs = int(r.maxWaitMs, at("maxWaitMs"), 1, 60_000);
  if (r.sessionTimeoutMs !== undefined)
    out.sessionTimeoutMs = int(r.sessionTimeoutMs, at("sessionTimeoutMs"), 1000, 3_600_000);
  if (r.heartbeatIntervalMs !== undefined)
    out.heartbeatIntervalMs = int(r.heartbeatIntervalMs, at("heartbeatIntervalMs"), 100, 60_000);
  if (out.heartbeatIntervalMs >= out.sessionTimeoutMs)
    throw new ConfigError(at("heartbeatIntervalMs"), "must be below sessionTimeoutMs");
  return out;
}

/** Validate the top-level `mode` key. */
export function validateDeployMode(raw: unknown, key = "mode"): DeployMode {
  return oneOf(raw, key, DEPLOY_MODES);
}
