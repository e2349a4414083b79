// A labelled anomaly test set built from the generator's traffic model
// (src/gen/model.ts): per-AS bps series at one point per step with the model's
// daily cycle and weekday/weekend shape, per-AS phase (local time) and weekend
// strength, multiplicative noise (white + AR(1), as real per-minute traffic is
// autocorrelated), rare unlabelled one-step outliers, and injected, labelled
// anomalies: spikes, dips, level shifts and slow drifts.
//
// Deterministic for a seed (mulberry32 from the model). Used by bench/anomaly.ts
// and test/anomaly-set.test.ts; the matching rule that scores a detector
// against the labels is evaluate() below (documented in docs/detection.md).
import { Rng, TrafficModel, zipfWeights } from "./model.js";

export const DAY_MS = 86_400_000;

export type LabelKind = "spike" | "dip" | "level shift" | "drift";

export interface AnomalyLabel {
  /** Index into AnomalySet.series. */
  series: number;
  kind: LabelKind;
  /** First anomalous step (epoch ms). */
  startMs: number;
  /**
   * End of the labelled window: spikes and dips end when they end; a level
   * shift is labelled for its first 2 hours (after that it is the new normal);
   * a drift until its ramp reaches the final level.
   */
  endMs: number;
  /** Multiplier at the peak (spike/dip/shift) or at the end of the ramp (drift). */
  factor: number;
}

export interface AnomalySeries {
  /** "AS15169" … */
  key: string;
  values: Float64Array;
}

export interface AnomalySet {
  stepMs: number;
  startMs: number;
  steps: number;
  /** Detection is judged from here on (the first weeks are history to learn from). */
  evalStartMs: number;
  series: AnomalySeries[];
  labels: AnomalyLabel[];
}

export interface AnomalySetOptions {
  seed?: number;
  series?: number;
  days?: number;
  stepMs?: number;
  /** Days of anomaly-free history before the first anomaly (and before evaluation starts). */
  historyDays?: number;
  /** Anomalies injected per series. */
  anomaliesPerSeries?: number;
  /** Start of the set (default Monday 2026-01-05 00:00 UTC). */
  startMs?: number;
}

/** Lognormal-ish helpers on one Rng. */
function gauss(r: Rng): number {
  // Box-Muller.
  const u = Math.max(1e-12, r.next());
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r.next());
}
function uniform(r: Rng, a: number, b: number): number {
  return a + (b - a) * r.next();
}

export function buildAnomalySet(opts: AnomalySetOptions = {}): AnomalySet {
  const seed = opts.seed ?? 1;
  const nSeries = opts.series ?? 50;
  const days = opts.days ?? 28;
  const stepMs = opts.stepMs ?? 60_000;
  const historyDays = opts.historyDays ?? 8;
  const perSeries = opts.anomaliesPerSeries ?? 3;
  const startMs = opts.startMs ?? Date.UTC(2026, 0, 5);
  const steps = Math.floor((days * DAY_MS) / stepMs);
  const model = new TrafficModel({ seed, remoteAses: Math.max(nSeries, 100) });
  const zipf = zipfWeights(nSeries, 1.1);
  const rng = new Rng(seed * 7919 + 17);
  const hour = Math.round(3_600_000 / stepMs);
  const series: AnomalySeries[] = [];
  const labels: AnomalyLabel[] = [];

  for (let s = 0; s < nSeries; s++) {
    const asn = model.remotes[s]?.asn ?? 65000 + s;
    // Busiest AS ~40 Gbps on average; Zipf below it (sampled-traffic volumes).
    const mean = 4e10 * zipf[s]!;
    // Smaller ASes are noisier (fewer flows per step behind the number).
    const noise = Math.min(0.15, 0.03 + 0.02 * Math.log10(1 + (s + 1)) + uniform(rng, 0, 0.04));
    const phaseMs = Math.round(uniform(rng, -6, 6)) * 3_600_000;
    const weekend = uniform(rng, 0.55, 1.15);
    const values = new Float64Array(steps);
    const mult = new Float64Array(steps).fill(1);

    // Anomalies: spread over the evaluation period, at least 12 h apart, none in the last half day.
    const evalStart = Math.floor((historyDays * DAY_MS) / stepMs);
    const span = steps - evalStart - 12 * hour;
    const slot = Math.floor(span / perSeries);
    for (let a = 0; a < perSeries && slot > 16 * hour; a++) {
      const kinds: LabelKind[] = ["spike", "dip", "level shift", "drift"];
      const kind = kinds[rng.int(4)]!;
      const at = evalStart + a * slot + Math.floor(uniform(rng, 2 * hour, slot - 10 * hour));
      const t0 = startMs + at * stepMs;
      if (kind === "spike" || kind === "dip") {
        const len = Math.floor(uniform(rng, 5, kind === "spike" ? 45 : 60) * (60_000 / stepMs)) || 1;
        const f = kind === "spike" ? uniform(rng, 2, 4) : uniform(rng, 0.15, 0.5);
        for (let i = at; i < Math.min(steps, at + len); i++) mult[i]! *= f;
        labels.push({ series: s, kind, startMs: t0, endMs: t0 + len * stepMs, factor: f });
      } else if (kind === "level shift") {
        const f = rng.next() < 0.5 ? uniform(rng, 0.35, 0.6) : uniform(rng, 1.7, 2.5);
        for (let i = at; i < steps; i++) mult[i]! *= f;
        labels.push({ series: s, kind, startMs: t0, endMs: t0 + 2 * hour * stepMs, factor: f });
      } else {
        const f = rng.next() < 0.5 ? uniform(rng, 0.3, 0.55) : uniform(rng, 1.8, 3);
        const ramp = Math.floor(uniform(rng, 3, 8) * hour);
        for (let i = at; i < steps; i++) {
          const k = Math.min(1, (i - at) / ramp);
          mult[i]! *= Math.exp(k * Math.log(f));
        }
        labels.push({ series: s, kind, startMs: t0, endMs: t0 + ramp * stepMs, factor: f });
      }
    }

    let ar = 0;
    for (let i = 0; i < steps; i++) {
      const t = startMs + i * stepMs;
      const dow = (Math.floor((t + phaseMs) / DAY_MS) + 4) % 7;
      const we = dow === 0 || dow === 6 ? weekend : 1;
      ar = 0.6 * ar + 0.8 * gauss(rng); // stationary σ = 0.8 / √(1 − 0.36) = 1
      const e = noise * (0.6 * gauss(rng) + 0.8 * ar);
      let v = mean * model.dailyWeight(t + phaseMs) * we * Math.exp(e) * mult[i]!;
      // Unlabelled one-step outliers (a burst of sampled packets, an exporter hiccup).
      if (rng.next() < 0.001) v *= rng.next() < 0.7 ? uniform(rng, 2, 4) : uniform(rng, 0.1, 0.4);
      values[i] = v;
    }
    series.push({ key: `AS${asn}`, values });
  }
  return {
    stepMs,
    startMs,
    steps,
    evalStartMs: startMs + historyDays * DAY_MS,
    series,
    labels,
  };
}

/** One detected event as the evaluation sees it. */
export interface DetectedEvent {
  series: number;
  startMs: number;
  /** When the detector said so (the step that emitted the event). */
  detectedMs: number;
}

export interface Evaluation {
  events: number;
  truePositives: number;
  falsePositives: number;
  labels: number;
  detected: number;
  precision: number;
  recall: number;
  /** Detection delay in steps (detectedMs − label start) of detected labels. */
  delayMedian: number;
  delayP90: number;
  /** Recall and median delay (steps) per label kind. */
  byKind: Record<LabelKind, { labels: number; detected: number; delayMedian: number }>;
}

/** Grace after a label's end within which an event still counts as finding it. */
export const MATCH_GRACE_MS = 3_600_000;

/**
 * The matching rule (event level). Only events starting at or after
 * evalStartMs count. An event is a true positive when it starts inside
 * [label.startMs, label.endMs + 1 h] of a label of the same series, else a
 * false positive. A label is detected when at least one event matches it; its
 * delay is the first matching event's detectedMs − label.startMs, in steps.
 * precision = true positives / events; recall = detected labels / labels.
 */
export function evaluate(set: AnomalySet, events: DetectedEvent[]): Evaluation {
  const evs = events.filter((e) => e.startMs >= set.evalStartMs);
  const firstMatch = new Map<number, number>();
  let tp = 0;
  for (const e of evs) {
    let hit = false;
    set.labels.forEach((l, i) => {
      if (l.series !== e.series) return;
      if (e.startMs < l.startMs || e.startMs > l.endMs + MATCH_GRACE_MS) return;
      hit = true;
      const prev = firstMatch.get(i);
      if (prev === undefined || e.detectedMs < prev) firstMatch.set(i, e.detectedMs);
    });
    if (hit) tp++;
  }
  const delays = [...firstMatch.entries()]
    .map(([i, d]) => (d - set.labels[i]!.startMs) / set.stepMs)
    .sort((a, b) => a - b);
  const q = (p: number): number =>
    delays.length ? delays[Math.min(delays.length - 1, Math.ceil(p * delays.length) - 1)]! : NaN;
  const byKind = {
    spike: { labels: 0, detected: 0, delayMedian: NaN },
    dip: { labels: 0, detected: 0, delayMedian: NaN },
    "level shift": { labels: 0, detected: 0, delayMedian: NaN },
    drift: { labels: 0, detected: 0, delayMedian: NaN },
  };
  const kindDelays: Record<LabelKind, number[]> = { spike: [], dip: [], "level shift": [], drift: [] };
  set.labels.forEach((l, i) => {
    byKind[l.kind].labels++;
    const d = firstMatch.get(i);
    if (d !== undefined) {
      byKind[l.kind].detected++;
      kindDelays[l.kind].push((d - l.startMs) / set.stepMs);
    }
  });
  for (const k of Object.keys(kindDelays) as LabelKind[]) {
    const ds = kindDelays[k].sort((a, b) => a - b);
    if (ds.length) byKind[k].delayMedian = ds[Math.ceil(ds.length / 2) - 1]!;
  }
  return {
    events: evs.length,
    truePositives: tp,
    falsePositives: evs.length - tp,
    labels: set.labels.length,
    detected: firstMatch.size,
    precision: evs.length ? tp / evs.length : 0,
    recall: set.labels.length ? firstMatch.size / set.labels.length : 0,
    delayMedian: q(0.5),
    delayP90: q(0.9),
    byKind,
  };
}
