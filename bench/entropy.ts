// `npm run bench -- entropy [--samples N]`
//
// Disk (issue 4): how few bytes per flow could any lossless store take for
// the month benchmark's flows? A lower bound from the traffic model itself
// (src/gen/model.ts, TrafficModel.regular): a stored flow row determines
// the model's independent random draws listed below (the remote AS from the
// AS number, the host from the address, the duration from start and end,
// …), so the row's entropy is at least the sum of theirs, and no lossless
// encoding of the rows averages fewer bits (Shannon). Timestamps, the
// rollups and everything the model derives are left out, so the true
// minimum is higher still.
//
// Each term is computed exactly from the model's distributions (Zipf
// tables, the application mix, the packet and size laws), not estimated;
// `--samples N` (default 1 M) draws that many flows from the model and
// checks the three terms that can be counted (remote AS, ephemeral port,
// packets) against their plug-in estimates.
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { APPS, HOSTS_PER_CUSTOMER, TrafficModel, newFlow, zipfWeights } from "../src/gen/model.js";
import { flagsOf, numFlag } from "./month.js";

const here = dirname(fileURLToPath(import.meta.url));
const resultsPath = join(
  here.endsWith("dist/bench") ? join(here, "../..") : join(here, ".."),
  "bench/results-entropy.json",
);

/** Entropy in bits of a distribution given by non-negative weights. */
export function entropyBits(weights: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < weights.length; i++) sum += weights[i]!;
  let h = 0;
  for (let i = 0; i < weights.length; i++) {
    const p = weights[i]! / sum;
    if (p > 0) h -= p * Math.log2(p);
  }
  return h;
}

function binary(p: number): number {
  return p <= 0 || p >= 1 ? 0 : -(p * Math.log2(p) + (1 - p) * Math.log2(1 - p));
}

/**
 * Packets of a flow: max(1, round(m × X)), X = −ln(1 − 0.9999 u), u uniform
 * (model.ts). Its exact distribution from X's CDF, (1 − e^−x) / 0.9999.
 */
export function packetsDistribution(m: number): Map<number, number> {
  const xMax = -Math.log(1 - 0.9999);
  const cdf = (x: number): number => (x <= 0 ? 0 : x >= xMax ? 1 : (1 - Math.exp(-x)) / 0.9999);
  const out = new Map<number, number>();
  // round(y) = k for y in [k − 0.5, k + 0.5); max(1, ·) folds 0 into 1.
  out.set(1, cdf(1.5 / m));
  for (let k = 2; (k - 0.5) / m < xMax; k++) out.set(k, cdf((k + 0.5) / m) - cdf((k - 0.5) / m));
  return out;
}

/** Entropy of round(U) for U uniform over an interval of width w (≈ log2 w for w ≥ 1; 0 below). */
function roundedUniform(w: number): number {
  return w >= 1 ? Math.log2(w) : 0;
}

export interface EntropyTerm {
  name: string;
  bits: number;
}

/** The lower bound, term by term, in bits per regular flow, for a model with these options. */
export function flowEntropyTerms(model: TrafficModel): EntropyTerm[] {
  const v6Share = model.v6Share;
  const terms: EntropyTerm[] = [];
  const add = (name: string, bits: number): void => void terms.push({ name, bits });
  const nRemote = model.remotes.length;
  const remoteW = zipfWeights(nRemote, model.zipf);
  const remoteSum = remoteW.reduce((a, b) => a + b, 0);
  add("IPv4 or IPv6", binary(v6Share));
  add("remote AS (Zipf over the remote ASes)", entropyBits(remoteW));
  add("customer (Zipf)", entropyBits(zipfWeights(model.customers.length, model.zipf * 0.9)));
  add("customer host (Zipf over its /22 or /64)", entropyBits(zipfWeights(HOSTS_PER_CUSTOMER, model.zipf)));
  // The remote host: uniform in its IPv4 prefix, or 96 random bits after an IPv6 /32.
  let v4Host = 0;
  for (let i = 0; i < nRemote; i++)
    v4Host += (remoteW[i]! / remoteSum) * Math.log2(model.remotes[i]!.v4Span - 2);
  add("remote host: IPv4 (uniform in the AS's prefix)", (1 - v6Share) * v4Host);
  add("remote host: IPv6 (96 random bits)", v6Share * 96);
  const appW = APPS.map((a) => a.weight);
  const appSum = appW.reduce((a, b) => a + b, 0);
  add("application (protocol, service port)", entropyBits(appW));
  add("direction (download or upload)", binary(0.8));
  let eph = 0;
  let service = 0;
  let icmp = 0;
  let pkts = 0;
  let bytes = 0;
  let duration = 0;
  for (const app of APPS) {
    const pa = app.weight / appSum;
    if (app.protocol === 1) {
      icmp += pa * 1; // echo request or reply
    } else {
      eph += pa * Math.log2(28232);
      if (app.port === 0) service += pa * Math.log2(31000);
    }
    for (const [download, pd] of [
      [true, 0.8],
      [false, 0.2],
    ] as const) {
      const dist = packetsDistribution(app.pkts * (download ? 1 : 0.5));
      pkts += pa * pd * entropyBits([...dist.values()]);
      for (const [p, pp] of dist) {
        const w = pa * pd * pp;
        // Bytes given packets: round(p × size); size uniform over 0.3 × app.size (download),
        // min(app.size, 60 + 40 v) (upload: an atom at app.size when it is under 100).
        if (download) bytes += w * roundedUniform(0.3 * app.size * p);
        else if (app.size >= 100) bytes += w * roundedUniform(40 * p);
        else {
          const pAtom = (100 - app.size) / 40;
          bytes += w * (binary(pAtom) + (1 - pAtom) * roundedUniform((app.size - 60) * p));
        }
        // Duration in ms: 0 for one packet, else uniform below min(120 s, 500 ms × packets).
        if (p > 1) duration += w * Math.log2(Math.min(120_000, p * 500));
      }
    }
  }
  add("ephemeral port (uniform over 28 232)", eph);
  add("service port of high-port applications (uniform over 31 000)", service);
  add("ICMP echo request or reply", icmp);
  add("packets", pkts);
  add("bytes, given packets", bytes);
  add("duration in ms, given packets", duration);
  add("DSCP (EF one flow in ten)", binary(0.1));
  // Not counted: the TTL the model draws for downloads (the exported templates do not carry it).
  return terms;
}

/** Counts, over `n` flows drawn from `model`, of the three draws that can be read back and counted. */
export function sampleDraws(
  model: TrafficModel,
  n: number,
): { remoteAs: Map<number, number>; ephemeralPort: Map<number, number>; packets: Map<number, number> } {
  const remoteAs = new Map<number, number>();
  const ephemeralPort = new Map<number, number>();
  const packets = new Map<number, number>();
  const count = (m: Map<number, number>, k: number): void => void m.set(k, (m.get(k) ?? 0) + 1);
  // Customer ASes are 64512 + i or 4 200 000 000 + i (model.ts); the other side is the remote.
  const customer = (a: number): boolean => (a >= 64512 && a < 65512) || a >= 4_200_000_000;
  const f = newFlow();
  for (let i = 0; i < n; i++) {
    model.regular(f, 1_800_000_000_000);
    const download = !customer(f.srcAs);
    count(remoteAs, download ? f.srcAs : f.dstAs);
    count(packets, f.packets);
    if (f.protocol !== 1 && f.protocol !== 58) count(ephemeralPort, download ? f.dstPort : f.srcPort);
  }
  return { remoteAs, ephemeralPort, packets };
}

/** A bound term by the start of its name. */
export function term(terms: readonly EntropyTerm[], prefix: string): number {
  return terms.find((t) => t.name.startsWith(prefix))!.bits;
}

export async function runEntropyPart(argv: readonly string[]): Promise<void> {
  const flags = flagsOf(argv);
  const samples = numFlag(flags, "samples", 1_000_000);
  // The month benchmark's model: bench/month.ts draws with seed 1 and the defaults.
  const model = new TrafficModel({ seed: 1 });
  const terms = flowEntropyTerms(model);
  const bits = terms.reduce((a, t) => a + t.bits, 0);
  console.log(
    "Disk lower bound (issue 4): entropy of the model's random draws that a stored flow row determines",
  );
  for (const t of terms) console.log(`  ${t.bits.toFixed(2).padStart(6)} bits  ${t.name}`);
  console.log(
    `  ${bits.toFixed(1).padStart(6)} bits = ${(bits / 8).toFixed(2)} B per flow, before timestamps and rollups`,
  );

  // Cross-check three terms against the model's own draws (plug-in estimates).
  const drawn = sampleDraws(model, samples);
  const plugIn = (m: Map<number, number>): number => entropyBits([...m.values()]);
  const check = {
    remoteAs: { exact: term(terms, "remote AS"), sampled: plugIn(drawn.remoteAs) },
    ephemeralPort: { exact: Math.log2(28232), sampled: plugIn(drawn.ephemeralPort) },
    packets: { exact: term(terms, "packets"), sampled: plugIn(drawn.packets) },
  };
  console.log(
    `  check on ${samples} drawn flows (plug-in estimates run a little low): remote AS ${check.remoteAs.exact.toFixed(2)} vs ${check.remoteAs.sampled.toFixed(2)} bits; ` +
      `ephemeral port ${check.ephemeralPort.exact.toFixed(2)} vs ${check.ephemeralPort.sampled.toFixed(2)}; packets (marginal: at least the term given the application) ${check.packets.exact.toFixed(2)} vs ${check.packets.sampled.toFixed(2)}`,
  );
  writeFileSync(
    resultsPath,
    JSON.stringify(
      { date: new Date().toISOString(), bitsPerFlow: bits, bytesPerFlow: bits / 8, terms, check, samples },
      null,
      2,
    ) + "\n",
  );
  console.log(`\nwrote ${resultsPath}`);
}
