// Small checks shared by the components' config validators (src/alerts/config.ts,
// src/bus/config.ts, src/enrich/*/config.ts …): every failure is a ConfigError
// naming the key path and the reason, e.g. `alerts.smtp.port: 70000 — must be an integer in 1-65535`.
import { ConfigError } from "./schema.js";

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** A value as it appears in an error message (JSON, cut at 60 characters). */
export function show(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 60 ? s.slice(0, 57) + "..." : s;
}

export function int(v: unknown, key: string, min: number, max: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max)
    throw new ConfigError(key, `${show(v)} — must be an integer in ${min}-${max}`);
  return v;
}

export function str(v: unknown, key: string, check?: (s: string) => string | null): string {
  if (typeof v !== "string") throw new ConfigError(key, `${show(v)} — must be a string`);
  const err = check?.(v);
  if (err) throw new ConfigError(key, `${show(v)} — ${err}`);
  return v;
}

export function bool(v: unknown, key: string): boolean {
  if (typeof v !== "boolean") throw new ConfigError(key, `${show(v)} — must be true or false`);
  return v;
}
