// The comparison baseline of the anomaly bench and test: a rolling mean ± k·σ
// detector (the textbook "3-sigma over the last hour"), and the runners that
// score a labelled set (src/gen/anomaly-set.ts) with it and with our model in
// the same run. Both go through the same EventTracker (same minSteps and
// quietSteps), so the only difference is how a step is scored.
import type { AnomalySet, DetectedEvent } from "../gen/anomaly-set.js";
import { EventTracker, SeriesModel, type AnomalyModelOptions } from "./anomaly.js";

export interface BaselineOptions {
  /** Window of the rolling mean and standard deviation, in steps (default 60). */
  window: number;
  /** A step is anomalous when |x − mean| > k·σ (default 3). */
  k: number;
  minSteps: number;
  quietSteps: number;
}

export const DEFAULT_BASELINE: BaselineOptions = { window: 60, k: 3, minSteps: 2, quietSteps: 5 };

/** Rolling mean ± k·σ over the previous `window` raw values of one series; score = |x − mean| / (k·σ). */
export class RollingBaseline {
  private readonly buf: Float64Array;
  private n = 0;
  private sum = 0;
  private sum2 = 0;
  private readonly tracker: EventTracker;

  constructor(private readonly o: BaselineOptions = DEFAULT_BASELINE) {
    this.buf = new Float64Array(o.window);
    this.tracker = new EventTracker(o.minSteps, o.quietSteps, 1);
  }

  update(
    t: number,
    stepMs: number,
    x: number,
  ): { score: number; started?: { startMs: number; detectedMs: number } } {
    const w = this.o.window;
    let score = 0;
    if (this.n >= w) {
      const mean = this.sum / w;
      const sd = Math.sqrt(Math.max(0, this.sum2 / w - mean * mean));
      score = sd > 0 ? Math.abs(x - mean) / (this.o.k * sd) : 0;
    }
    const i = this.n % w;
    if (this.n >= w) {
      const old = this.buf[i]!;
      this.sum -= old;
      this.sum2 -= old * old;
    }
    this.buf[i] = x;
    this.sum += x;
    this.sum2 += x * x;
    this.n++;
    const { started } = this.tracker.step(t, stepMs, score, "");
    return started ? { score, started } : { score };
  }
}

/** Run our model over every series of the set; the events it starts. */
export function runModel(set: AnomalySet, opts: Partial<AnomalyModelOptions> = {}): DetectedEvent[] {
  const out: DetectedEvent[] = [];
  set.series.forEach((s, idx) => {
    const m = new SeriesModel({ stepMs: set.stepMs, ...opts });
    for (let i = 0; i < set.steps; i++) {
      const r = m.update(set.startMs + i * set.stepMs, s.values[i]!);
      if (r.started) out.push({ series: idx, startMs: r.started.startMs, detectedMs: r.started.detectedMs });
    }
  });
  return out;
}

/** Run the rolling baseline over every series of the set. */
export function runBaseline(set: AnomalySet, opts: BaselineOptions = DEFAULT_BASELINE): DetectedEvent[] {
  const out: DetectedEvent[] = [];
  set.series.forEach((s, idx) => {
    const b = new RollingBaseline(opts);
    for (let i = 0; i < set.steps; i++) {
      const r = b.update(set.startMs + i * set.stepMs, set.stepMs, s.values[i]!);
      if (r.started) out.push({ series: idx, startMs: r.started.startMs, detectedMs: r.started.detectedMs });
    }
  });
  return out;
}
