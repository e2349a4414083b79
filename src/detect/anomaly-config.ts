// detect.anomaly configuration (anomaly scores on traffic series, see
// src/detect/anomaly.ts and docs/detection.md "Anomaly scores"): defaults and
// validation in the style of src/store/config.ts — unknown keys are errors and
// every error names the key path, e.g.
//   config: detect.anomaly.stepSeconds: 7 — must be an integer in 10-900 that divides 900
import { ConfigError } from "../config/schema.js";
import { ANOMALY_SERIES, type AnomalySeriesKind } from "./types.js";

export interface AnomalyConfig {
  enabled: boolean;
  /** Step of the series in seconds (one point per step); divides 900 (the 15-minute seasonal slot). */
  stepSeconds: number;
  /** Score at or above which a step is anomalous. */
  threshold: number;
  /** Residual (in robust σ) that gives score 1. */
  sigmas: number;
  /** Series kinds scored. */
  series: AnomalySeriesKind[];
  /** Series kept per dimension (src_as, dst_as, exporter, interface): the busiest by average bps. */
  maxSeries: number;
  /** History before scores are produced (the first day teaches the daily profile). */
  minHistoryHours: number;
  /** How long an anomaly must last in one direction to become the new level. */
  confirmMinutes: number;
  /** Consecutive anomalous steps that start an event. */
  minSteps: number;
  /** Consecutive normal steps that end it. */
  quietSteps: number;
  /** anomaly_scores rows older than this are deleted; 0 = store.retention.rawDays. */
  retentionDays: number;
  /** Points per series kept in memory (for the API when the store is off). */
  memoryPoints: number;
  /** Events kept in memory and in the state file. */
  keepEvents: number;
}

export function defaultAnomalyConfig(): AnomalyConfig {
  return {
    enabled: true,
    stepSeconds: 60,
    threshold: 1,
    sigmas: 5,
    series: [...ANOMALY_SERIES],
    maxSeries: 200,
    minHistoryHours: 24,
    confirmMinutes: 120,
    minSteps: 2,
    quietSteps: 5,
    retentionDays: 0,
    memoryPoints: 360,
    keepEvents: 1000,
  };
}

function show(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s;
}

function num(v: unknown, key: string, min: number, max: number, integer: boolean): number {
  if (typeof v !== "number" || !Number.isFinite(v) || (integer && !Number.isInteger(v)) || v < min || v > max)
    throw new ConfigError(
      key,
      `${show(v)} — must be ${integer ? "an integer" : "a number"} in ${min}-${max}`,
    );
  return v;
}

const KEYS = [
  "enabled",
  "stepSeconds",
  "threshold",
  "sigmas",
  "series",
  "maxSeries",
  "minHistoryHours",
  "confirmMinutes",
  "minSteps",
  "quietSteps",
  "retentionDays",
  "memoryPoints",
  "keepEvents",
] as const;

/** Validate a raw `detect.anomaly` section over `base`; throws ConfigError naming the key. */
export function validateAnomalyConfig(
  raw: unknown,
  base: AnomalyConfig = defaultAnomalyConfig(),
  key = "detect.anomaly",
): AnomalyConfig {
  const out = structuredClone(base);
  if (raw === undefined || raw === null) return out;
  if (typeof raw !== "object" || Array.isArray(raw))
    throw new ConfigError(key, `${show(raw)} — must be a map`);
  const m = raw as Record<string, unknown>;
  for (const k of Object.keys(m))
    if (!(KEYS as readonly string[]).includes(k))
      throw new ConfigError(`${key}.${k}`, `unknown key (known here: ${KEYS.join(", ")})`);
  if (m.enabled !== undefined) {
    if (typeof m.enabled !== "boolean")
      throw new ConfigError(`${key}.enabled`, `${show(m.enabled)} — must be true or false`);
    out.enabled = m.enabled;
  }
  if (m.stepSeconds !== undefined) {
    const s = num(m.stepSeconds, `${key}.stepSeconds`, 10, 900, true);
    // The seasonal slots are 15 minutes: a step must tile them.
    if (900 % s !== 0)
      throw new ConfigError(`${key}.stepSeconds`, `${s} — must be an integer in 10-900 that divides 900`);
    out.stepSeconds = s;
  }
  if (m.threshold !== undefined) out.threshold = num(m.threshold, `${key}.threshold`, 0.01, 100, false);
  if (m.sigmas !== undefined) out.sigmas = num(m.sigmas, `${key}.sigmas`, 2.5, 100, false);
  if (m.series !== undefined) {
    if (!Array.isArray(m.series))
      throw new ConfigError(
        `${key}.series`,
        `${show(m.series)} — must be a list of ${ANOMALY_SERIES.join(", ")}`,
      );
    out.series = m.series.map((s: unknown, i) => {
      if (typeof s !== "string" || !(ANOMALY_SERIES as readonly string[]).includes(s))
        throw new ConfigError(
          `${key}.series[${i}]`,
          `${show(s)} — must be one of ${ANOMALY_SERIES.join(", ")}`,
        );
      return s as AnomalySeriesKind;
    });
  }
  if (m.maxSeries !== undefined) out.maxSeries = num(m.maxSeries, `${key}.maxSeries`, 1, 100_000, true);
  if (m.minHistoryHours !== undefined)
    out.minHistoryHours = num(m.minHistoryHours, `${key}.minHistoryHours`, 0, 24 * 28, false);
  if (m.confirmMinutes !== undefined)
    out.confirmMinutes = num(m.confirmMinutes, `${key}.confirmMinutes`, 1, 7 * 24 * 60, false);
  if (m.minSteps !== undefined) out.minSteps = num(m.minSteps, `${key}.minSteps`, 1, 1000, true);
  if (m.quietSteps !== undefined) out.quietSteps = num(m.quietSteps, `${key}.quietSteps`, 1, 1000, true);
  if (m.retentionDays !== undefined)
    out.retentionDays = num(m.retentionDays, `${key}.retentionDays`, 0, 36_500, false);
  if (m.memoryPoints !== undefined)
    out.memoryPoints = num(m.memoryPoints, `${key}.memoryPoints`, 10, 100_000, true);
  if (m.keepEvents !== undefined) out.keepEvents = num(m.keepEvents, `${key}.keepEvents`, 1, 1_000_000, true);
  return out;
}
