// Store configuration: defaults and validation, in the style of src/config
// (unknown keys are errors; every error names the key path and the reason).
// Exported for the lead to wire in as the `store` section of the config.
import { ConfigError } from "../config/schema.js";

export interface RetentionConfig {
  /** flows_raw rows older than this (by time_received) are deleted. */
  rawDays: number;
  /** flows_1m buckets older than this are deleted. */
  minuteDays: number;
  /** 1-hour rollup buckets (flows_1h, dst_as_1h …) older than this are deleted. */
  hourDays: number;
  /** 1-day rollup buckets (flows_1d, dst_addr_1d …) older than this are deleted. */
  dayDays: number;
  /** How often retention runs. */
  intervalMs: number;
  /**
   * Disk budget of the database file in bytes (DuckDB's used blocks); 0 = off.
   * Over it, the oldest flows_raw rows go first, then the oldest rollup buckets.
   */
  maxBytes: number;
}

export type ExportCompression = "zstd" | "snappy" | "gzip" | "uncompressed";
export const EXPORT_COMPRESSIONS: readonly ExportCompression[] = ["zstd", "snappy", "gzip", "uncompressed"];

/** Parquet export of closed hours of flows_raw (src/store/export.ts, docs/store.md). */
export interface ExportConfig {
  enabled: boolean;
  /** Root of the Hive layout date=YYYY-MM-DD/hour=HH/; "" = <dataDir>/export. A dedicated directory. */
  dir: string;
  /** How often closed hours are looked for. */
  intervalMs: number;
  /** An hour is written this long after it ends, so its last micro-batches are committed. */
  delayMs: number;
  compression: ExportCompression;
}

export interface StoreConfig {
  /** DuckDB database file; ":memory:" for an in-memory store. */
  path: string;
  /**
   * Flush interval: a flow is committed to flows_raw (queryable, and safe
   * from a kill -9) within this long of reaching the store, while commits
   * keep up. Commits start every intervalMs / 2 (src/store/writer.ts). At most 1000.
   */
  intervalMs: number;
  retention: RetentionConfig;
  export: ExportConfig;
}

export function defaultStoreConfig(dataDir = "data"): StoreConfig {
  return {
    path: `${dataDir}/nagare.duckdb`,
    intervalMs: 500,
    retention: { rawDays: 7, minuteDays: 90, hourDays: 730, dayDays: 1825, intervalMs: 60_000, maxBytes: 0 },
    export: { enabled: false, dir: "", intervalMs: 60_000, delayMs: 60_000, compression: "zstd" },
  };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function show(v: unknown): string {
  return typeof v === "string" ? JSON.stringify(v) : String(v);
}

function num(v: unknown, key: string, min: number, max: number, integer = true): number {
  if (
    typeof v !== "number" ||
    !Number.isFinite(v) ||
    (integer && !Number.isInteger(v)) ||
    v < min ||
    v > max
  ) {
    throw new ConfigError(
      key,
      `${show(v)} — must be ${integer ? "an integer" : "a number"} in ${min}-${max}`,
    );
  }
  return v;
}

function checkKeys(obj: Record<string, unknown>, allowed: readonly string[], prefix: string): void {
  for (const k of Object.keys(obj)) {
    if (!allowed.includes(k)) throw new ConfigError(`${prefix}.${k}`, "unknown key");
  }
}

/** Validate a raw `store` section over the defaults; throws ConfigError naming the key. */
export function validateStoreConfig(raw: unknown, defaults: StoreConfig = defaultStoreConfig()): StoreConfig {
  if (raw === undefined) return structuredClone(defaults);
  if (!isObject(raw)) throw new ConfigError("store", `${show(raw)} — must be a mapping`);
  checkKeys(raw, ["path", "intervalMs", "retention", "export"], "store");
  const out = structuredClone(defaults);
  if (raw.path !== undefined) {
    if (typeof raw.path !== "string" || raw.path === "") {
      throw new ConfigError("store.path", `${show(raw.path)} — must be a non-empty string`);
    }
    out.path = raw.path;
  }
  // Above one second, a flow would not be queryable within a second of arrival.
  if (raw.intervalMs !== undefined) out.intervalMs = num(raw.intervalMs, "store.intervalMs", 10, 1000);
  if (raw.retention !== undefined) {
    const r = raw.retention;
    if (!isObject(r)) throw new ConfigError("store.retention", `${show(r)} — must be a mapping`);
    checkKeys(
      r,
      ["rawDays", "minuteDays", "hourDays", "dayDays", "intervalMs", "maxBytes"],
      "store.retention",
    );
    const days = (k: "rawDays" | "minuteDays" | "hourDays" | "dayDays"): void => {
      if (r[k] !== undefined) out.retention[k] = num(r[k], `store.retention.${k}`, 0.001, 36_500, false);
    };
    days("rawDays");
    days("minuteDays");
    days("hourDays");
    days("dayDays");
    if (r.intervalMs !== undefined) {
      out.retention.intervalMs = num(r.intervalMs, "store.retention.intervalMs", 1000, 86_400_000);
    }
    // 0 = no budget; otherwise at least 1 MiB (DuckDB's file has a fixed overhead of a few blocks).
    if (r.maxBytes !== undefined) {
      const b = num(r.maxBytes, "store.retention.maxBytes", 0, Number.MAX_SAFE_INTEGER);
      if (b !== 0 && b < 1 << 20)
        throw new ConfigError("store.retention.maxBytes", `${b} — must be 0 (off) or at least 1048576`);
      out.retention.maxBytes = b;
    }
  }
  if (raw.export !== undefined) {
    const e = raw.export;
    if (!isObject(e)) throw new ConfigError("store.export", `${show(e)} — must be a mapping`);
    checkKeys(e, ["enabled", "dir", "intervalMs", "delayMs", "compression"], "store.export");
    if (e.enabled !== undefined) {
      if (typeof e.enabled !== "boolean")
        throw new ConfigError("store.export.enabled", `${show(e.enabled)} — must be true or false`);
      out.export.enabled = e.enabled;
    }
    if (e.dir !== undefined) {
      if (typeof e.dir !== "string")
        throw new ConfigError("store.export.dir", `${show(e.dir)} — must be a string (a directory)`);
      out.export.dir = e.dir;
    }
    if (e.intervalMs !== undefined)
      out.export.intervalMs = num(e.intervalMs, "store.export.intervalMs", 1000, 3_600_000);
    if (e.delayMs !== undefined) out.export.delayMs = num(e.delayMs, "store.export.delayMs", 0, 86_400_000);
    if (e.compression !== undefined) {
      if (!EXPORT_COMPRESSIONS.includes(e.compression as ExportCompression))
        throw new ConfigError(
          "store.export.compression",
          `${show(e.compression)} — must be one of ${EXPORT_COMPRESSIONS.join(", ")}`,
        );
      out.export.compression = e.compression as ExportCompression;
    }
  }
  return out;
}
