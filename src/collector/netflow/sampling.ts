// Sampling-rate bookkeeping.
//
// Counters are stored UNSCALED with `sampling_rate` beside them; scaling
// happens at query time (bytes * sampling_rate), so a rate learned late or
// corrected never requires rewriting stored rows. Rate 0 means "unknown" and
// the query layer treats it as 1.
//
// Precedence for one record (first that gives a non-zero rate wins):
//   1. per-exporter override from configuration (opts.sampling.exporters);
//   2. a rate carried in the record itself (samplingInterval 34,
//      samplerRandomInterval 50, samplingPacketInterval 305 [+ space 306]);
//   3. the sampler table of the (exporter, domain) scope, keyed by the
//      record's samplerId (48) / selectorId (302), fed by options data;
//   4. the scope default: an options record with no sampler scope carrying a
//      rate, or the only sampler of the table when the record names none;
//   5. the NetFlow v5 header sampling interval;
//   6. the configured default (opts.sampling.default);
//   7. otherwise 0 (unknown), counted in unknownSamplingRecords.
import type { OptionsRecord } from "../types.js";
import type { Scope } from "./templates.js";

/** 1-in-N rate from PSAMP systematic count-based sampling (RFC 5476 §6.5.2.1). */
export function packetIntervalRate(interval: number, space: number): number {
  if (interval <= 0) return 0;
  if (space <= 0) return interval; // exporters sending 305 alone use it as "1 in N"
  return Math.round((interval + space) / interval);
}

/** Sampler-table lookup for a record (steps 3 and 4 above). */
export function scopeRate(scope: Scope, samplerId: number, hasSamplerId: boolean): number {
  if (hasSamplerId) {
    const r = scope.samplers.get(samplerId);
    if (r) return r;
  }
  if (scope.defaultRate) return scope.defaultRate;
  if (scope.samplers.size === 1) {
    for (const r of scope.samplers.values()) return r;
  }
  return 0;
}

const num = (v: number | string | undefined): number | undefined => (typeof v === "number" ? v : undefined);

/**
 * Learn from an options record: sampler table entries (scope or field
 * samplerId/selectorId + a rate) and exporter-wide defaults (a rate with no
 * sampler id), plus systemInitTimeMilliseconds. Returns true if it changed
 * anything.
 */
export function learnFromOptions(scope: Scope, rec: OptionsRecord): boolean {
  const f = rec.fields;
  const s = rec.scope;
  let changed = false;
  const init = num(f.systemInitTimeMilliseconds);
  if (init !== undefined && init > 0) {
    scope.sysInitMs = init;
    changed = true;
  }
  let rate = num(f.samplingInterval) ?? num(f.samplerRandomInterval) ?? 0;
  if (!rate) {
    const pi = num(f.samplingPacketInterval);
    if (pi !== undefined) rate = packetIntervalRate(pi, num(f.samplingPacketSpace) ?? 0);
  }
  if (!rate) {
    // samplingProbability (311) as a float 0 < p <= 1
    const p = num(f.samplingProbability);
    if (p !== undefined && p > 0 && p <= 1) rate = Math.round(1 / p);
  }
  if (!rate) return changed;
  const id = num(s.samplerId) ?? num(s.selectorId) ?? num(f.samplerId) ?? num(f.selectorId);
  if (id !== undefined) {
    // Bound the table: a sampler flood must not grow memory.
    if (scope.samplers.size < 4096 || scope.samplers.has(id)) scope.samplers.set(id, rate);
  } else {
    scope.defaultRate = rate;
  }
  return true;
}
