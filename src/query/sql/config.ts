// SQL service configuration: defaults and validation in the style of
// src/store/config.ts (unknown keys are errors; errors name the key path).
import { ConfigError } from "../../config/schema.js";

export interface SqlConfig {
  /** A query is interrupted after this long. */
  timeoutMs: number;
  /** DuckDB memory_limit, e.g. "1GB". Instance-wide (see docs/sql.md). */
  memoryLimit: string;
  /** Most rows in one page of a result. */
  maxRows: number;
  /** DuckDB worker threads; 0 leaves DuckDB's default (one per core). Instance-wide. */
  threads: number;
  /** Idle sandbox connections kept for reuse. */
  poolSize: number;
}

export function defaultSqlConfig(): SqlConfig {
  return { timeoutMs: 30_000, memoryLimit: "1GB", maxRows: 10_000, threads: 0, poolSize: 4 };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function int(v: unknown, key: string, min: number, max: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    throw new ConfigError(key, `${String(v)} — must be an integer in ${min}-${max}`);
  }
  return v;
}

/** DuckDB size literals: a number and a unit (KB, MiB, GB, …) or a percentage of RAM. */
const MEMORY_RE = /^\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB|%)$/i;

/** Validate a raw `sql` section over the defaults; throws ConfigError naming the key. */
export function validateSqlConfig(raw: unknown, defaults: SqlConfig = defaultSqlConfig()): SqlConfig {
  if (raw === undefined) return { ...defaults };
  if (!isObject(raw)) throw new ConfigError("sql", `${JSON.stringify(raw)} — must be a mapping`);
  const out = { ...defaults };
  for (const k of Object.keys(raw)) {
    if (!(k in defaults)) throw new ConfigError(`sql.${k}`, "unknown key");
  }
  if (raw.timeoutMs !== undefined) out.timeoutMs = int(raw.timeoutMs, "sql.timeoutMs", 10, 86_400_000);
  if (raw.maxRows !== undefined) out.maxRows = int(raw.maxRows, "sql.maxRows", 1, 1_000_000);
  if (raw.threads !== undefined) out.threads = int(raw.threads, "sql.threads", 0, 1024);
  if (raw.poolSize !== undefined) out.poolSize = int(raw.poolSize, "sql.poolSize", 0, 64);
  if (raw.memoryLimit !== undefined) {
    // Validated here because it is interpolated into a SET statement.
    if (typeof raw.memoryLimit !== "string" || !MEMORY_RE.test(raw.memoryLimit)) {
      throw new ConfigError(
        "sql.memoryLimit",
        `${JSON.stringify(raw.memoryLimit)} — must be a size such as "1GB", "512MiB" or "50%"`,
      );
    }
    out.memoryLimit = raw.memoryLimit;
  }
  return out;
}
