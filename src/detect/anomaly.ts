// Anomaly scores on traffic time series ("異常度"): the scoring model.
//
// Pure and deterministic: no I/O, no clock. One SeriesModel per series (total,
// one src/dst AS, one exporter, one exporter/interface) is fed one value per
// step (bps over the step, default one minute) and returns the scored point
// and, when it happens, the start or end of an anomaly event.
//
// The model is a robust Holt-Winters in log space (after Gelper, Fried & Croux,
// "Robust forecasting with exponential and Holt-Winters smoothing", 2010):
//
//   y        = ln(1 + value)                   traffic is multiplicative: a ×2
//                                              spike is the same anomaly at 3 a.m.
//                                              and at the evening peak
//   expected = L + S(slot)                     level + seasonal profile
//   S(slot)  = w·Sweek[time-of-week slot] + (1 − w)·Sday[time-of-day slot]
//              w = how much of one week the week slot has seen (0 … 1): while
//              less than a week of history exists the daily profile stands in
//              (plus a per-day-of-week offset learnt from first-week level
//              shifts, e.g. the first weekend), and σ is inflated up to ×3
//   r        = y − expected                    residual
//   z        = r / σ(time-of-day slot)         σ: robust scale of r (mean |r| ·
//                                              √(π/2), with |r| clipped at 3σ)
//
// Robustness: every update uses the Huber-clipped residual ψ(r) = clip(r, ±2σ).
// An anomalous step (score ≥ threshold) teaches the level and σ nothing and
// the profiles only ψ(r) (bounded influence, yet a deviation that recurs at the
// same time each week is still learnt rather than alerting forever). In its
// first week a week slot is a running mean of normal steps (and of steps of an
// anomaly that has lasted 30 minutes: likely the weekly shape), so a short
// spike in week one is not expected in week two. The level learns only once
// the week slot has been seen (gain 0.005): in the first week the profiles
// learn everything relative to a fixed level.
//
// Level shifts: a change that lasts `confirmSteps` steps (default 2 hours) in
// the same direction is accepted as the new normal: the level L jumps by the
// median of the recent residuals, the event ends with kind "level shift", and
// the series stops alerting. Slow drifts: a two-sided CUSUM on z (reference
// k = 1.5, z clipped to ±3 so one outlier cannot trip it, skipped on steps
// anomalous on their own, capped at cusumH) catches a persistent bias that the
// slowly adapting level would otherwise absorb.
//
// The score (documented in docs/detection.md, "Anomaly scores"):
//   point score = max(0, |z| − 2) / (sigmas − 2)      0 within 2σ, 1 at `sigmas`σ (default 5)
//   drift score = max(0, 2·CUSUM / cusumH − 1)         0 below cusumH / 2, 1 when the CUSUM reaches cusumH
//   score       = max(point score, drift score)
// so score 0 is normal and score ≥ threshold (default 1) is anomalous. While the
// series has less than minHistorySteps of history the score is reported as 0.
//
// Events: an event starts when `minSteps` consecutive steps are anomalous
// (startMs = the first of them), goes on while anomalous steps keep coming,
// and ends after `quietSteps` consecutive normal steps (endMs = end of the last
// anomalous step) or when a level shift is accepted. Kind: "spike" (first
// anomalous step above expectation), "dip" (below), "drift" (tripped by the
// CUSUM alone), "level shift" (accepted as the new level).
//
// Memory per series (see docs/detection.md): 672 week slots (15 minutes) as
// Float32 + Uint16 counts, 96 day slots × (profile, count, σ), a 32-residual
// ring: about 5.2 KB of typed arrays plus ~0.5 KB of object overhead.
//
// Tuned on the labelled set of src/gen/anomaly-set.ts (bench/anomaly.ts); the
// unit tests are test/anomaly-model.test.ts.

/** Seasonal slot width: 15 minutes (96 per day, 672 per week). */
export const SLOT_MS = 15 * 60_000;
export const DAY_MS = 86_400_000;
export const WEEK_MS = 7 * DAY_MS;
export const DAY_SLOTS = DAY_MS / SLOT_MS;
export const WEEK_SLOTS = WEEK_MS / SLOT_MS;
/** Residuals kept for the level-shift estimate. */
const RING = 32;
/** z below this gives score 0. */
const QUIET_Z = 2;
/** Huber clip of the learning residual, in σ. */
const HUBER = 2;
/** CUSUM reference value (in σ) and clip of each increment. */
const CUSUM_K = 1.5;
const CUSUM_CLIP = 3;
/** Floor of σ in log space (2 %): a very smooth series must not alert on a 5 % wobble. */
const SIGMA_FLOOR = 0.02;
/** σ before anything is known. */
const SIGMA_PRIOR = 0.1;
/** Minimum gains once the running-mean phase is over. */
const GAIN_SLOT = 0.1;
const GAIN_SIGMA = 0.05;
/** σ is multiplied by up to (1 + this) while the week slot is unseen (first week: weekends are new). */
const UNSEEN_WEEK_INFLATION = 2;

export interface AnomalyModelOptions {
  /** Step of the series in ms (default 60 000). */
  stepMs: number;
  /** Score at or above which a step is anomalous (default 1). */
  threshold: number;
  /** |z| (in robust σ) that gives point score 1 (default 5). */
  sigmas: number;
  /** CUSUM value that gives drift score 1 (default 12). */
  cusumH: number;
  /** Consecutive anomalous steps that start an event (default 2). */
  minSteps: number;
  /** Consecutive normal steps that end it (default 5). */
  quietSteps: number;
  /** Steps of history before scores and events are produced (default one day). */
  minHistorySteps: number;
  /** Steps an anomaly must last, in one direction, to be accepted as a level shift (default 120). */
  confirmSteps: number;
  /** Gain of the level per step (default 0.005: half-life ~140 steps). */
  levelGain: number;
}

export function defaultModelOptions(stepMs = 60_000): AnomalyModelOptions {
  const perHour = Math.max(1, Math.round(3_600_000 / stepMs));
  return {
    stepMs,
    threshold: 1,
    sigmas: 5,
    cusumH: 12,
    minSteps: 2,
    quietSteps: 5,
    minHistorySteps: 24 * perHour,
    confirmSteps: 2 * perHour,
    levelGain: 0.005,
  };
}

/** What one step produced. */
export interface StepResult {
  t: number;
  value: number;
  expected: number;
  score: number;
  /** Signed residual in σ (diagnostics). */
  z: number;
  /** Set on the step an event is detected (its startMs may be earlier). */
  started?: SeriesEvent;
  /** Set on the step an event ends. */
  ended?: SeriesEvent;
}

/** An event of one series (the service adds series kind, key and id). */
export interface SeriesEvent {
  startMs: number;
  endMs: number | null;
  peakScore: number;
  peakAtMs: number;
  kind: string;
  /** When it was detected (the step that emitted anomaly_started), epoch ms of the step's end. */
  detectedMs: number;
}

/**
 * Turns per-step scores into events (also used by the bench's baseline, so
 * both detectors are judged with the same event rule).
 */
export class EventTracker {
  private run = 0;
  private runStart = 0;
  private runKind = "";
  private runPeak = 0;
  private runPeakAt = 0;
  private quiet = 0;
  /** End of the last anomalous step (the endMs of an event that goes quiet). */
  private lastAnomalousEnd = 0;
  /** The ongoing event, if any. */
  current: SeriesEvent | null = null;

  constructor(
    private readonly minSteps: number,
    private readonly quietSteps: number,
    private readonly threshold: number,
  ) {}

  /**
   * One step at `t` (start of the step) lasting `stepMs`. `kind` names the
   * anomaly if this step is the first of an event.
   */
  step(
    t: number,
    stepMs: number,
    score: number,
    kind: string,
  ): { started?: SeriesEvent; ended?: SeriesEvent } {
    const anomalous = score >= this.threshold;
    const ev = this.current;
    if (ev) {
      if (anomalous) {
        this.quiet = 0;
        ev.endMs = null;
        if (score > ev.peakScore) {
          ev.peakScore = score;
          ev.peakAtMs = t;
        }
        this.lastAnomalousEnd = t + stepMs;
        return {};
      }
      if (++this.quiet >= this.quietSteps) return { ended: this.finish(this.lastAnomalousEnd) };
      return {};
    }
    if (!anomalous) {
      this.run = 0;
      return {};
    }
    if (this.run === 0) {
      this.runStart = t;
      this.runKind = kind;
      this.runPeak = 0;
    }
    this.run++;
    if (score > this.runPeak) {
      this.runPeak = score;
      this.runPeakAt = t;
    }
    this.lastAnomalousEnd = t + stepMs;
    if (this.run < this.minSteps) return {};
    this.run = 0;
    this.quiet = 0;
    this.current = {
      startMs: this.runStart,
      endMs: null,
      peakScore: this.runPeak,
      peakAtMs: this.runPeakAt,
      kind: this.runKind,
      detectedMs: t + stepMs,
    };
    return { started: this.current };
  }

  /** End the ongoing event now (level shift accepted, series dropped …). */
  finish(endMs: number, kind?: string): SeriesEvent {
    const ev = this.current!;
    ev.endMs = endMs;
    if (kind) ev.kind = kind;
    this.current = null;
    this.quiet = 0;
    this.run = 0;
    return ev;
  }

  /** State for SeriesModel.save(). */
  toJSON(): unknown {
    return {
      run: this.run,
      runStart: this.runStart,
      runKind: this.runKind,
      quiet: this.quiet,
      current: this.current,
      lastEnd: this.lastAnomalousEnd,
    };
  }

  restore(s: {
    run: number;
    runStart: number;
    runKind: string;
    quiet: number;
    current: SeriesEvent | null;
    lastEnd?: number;
  }): void {
    this.run = s.run;
    this.runStart = s.runStart;
    this.runKind = s.runKind;
    this.quiet = s.quiet;
    this.current = s.current;
    this.lastAnomalousEnd = s.lastEnd ?? s.runStart;
  }
}

function mod(a: number, m: number): number {
  return ((a % m) + m) % m;
}

function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return 0;
  return n % 2 ? s[(n - 1) >> 1]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
}

/** Serialized state of a SeriesModel (typed arrays as base64). */
export interface SeriesState {
  v: 1;
  steps: number;
  lastT: number;
  level: number;
  cusP: number;
  cusN: number;
  sweek: string;
  nweek: string;
  sday: string;
  nday: string;
  sigma: string;
  ring: string;
  ringN: number;
  evSteps: number;
  evPos: number;
  weekOffset?: number[];
  tracker: {
    run: number;
    runStart: number;
    runKind: string;
    quiet: number;
    current: SeriesEvent | null;
    lastEnd?: number;
  };
  /** Bookkeeping of the caller (top-K ranking, …). */
  avg: number;
}

const b64 = (a: ArrayBufferView): string =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString("base64");
function f32(s: string, n: number): Float32Array {
  const b = Buffer.from(s, "base64");
  if (b.length !== n * 4) throw new Error("anomaly state: bad array length");
  const out = new Float32Array(n);
  new Uint8Array(out.buffer).set(b);
  return out;
}
function u16(s: string, n: number): Uint16Array {
  const b = Buffer.from(s, "base64");
  if (b.length !== n * 2) throw new Error("anomaly state: bad array length");
  const out = new Uint16Array(n);
  new Uint8Array(out.buffer).set(b);
  return out;
}

/** Approximate bytes of one SeriesModel (typed arrays + object overhead), for the documented bound. */
export const SERIES_MODEL_BYTES = WEEK_SLOTS * 6 + DAY_SLOTS * 10 + RING * 4 + 600;

/** The model of one series. */
export class SeriesModel {
  readonly opts: AnomalyModelOptions;
  /** Steps seen. */
  steps = 0;
  /** Start of the last step seen (epoch ms), -Infinity before the first. */
  lastT = -Infinity;
  private level = 0;
  private cusP = 0;
  private cusN = 0;
  private readonly sweek = new Float32Array(WEEK_SLOTS);
  private readonly nweek = new Uint16Array(WEEK_SLOTS);
  private readonly sday = new Float32Array(DAY_SLOTS);
  private readonly nday = new Uint16Array(DAY_SLOTS);
  private readonly sigma = new Float32Array(DAY_SLOTS).fill(SIGMA_PRIOR);
  private readonly ring = new Float32Array(RING);
  private ringN = 0;
  /** Steps of the ongoing event, and how many of them were above expectation. */
  private evSteps = 0;
  private evPos = 0;
  /**
   * Per day of the week: offset of its unseen week slots from the daily
   * profile, moved by a first-week "level shift" (the first Saturday …) and
   * used wherever that day's week slots are not fully learnt yet.
   */
  private readonly weekOffset = [0, 0, 0, 0, 0, 0, 0];
  private readonly tracker: EventTracker;
  /** Exponential average of the value (the service ranks series by it). */
  avg = 0;

  /** Steps per seasonal slot. */
  private readonly perSlot: number;

  constructor(opts: Partial<AnomalyModelOptions> = {}) {
    this.opts = { ...defaultModelOptions(opts.stepMs), ...opts };
    this.perSlot = Math.max(1, Math.round(SLOT_MS / this.opts.stepMs));
    this.tracker = new EventTracker(this.opts.minSteps, this.opts.quietSteps, this.opts.threshold);
  }

  /** The ongoing event, if any. */
  get current(): SeriesEvent | null {
    return this.tracker.current;
  }

  /** Whether scores are produced yet (minHistorySteps of history). */
  get ready(): boolean {
    return this.steps >= this.opts.minHistorySteps;
  }

  /** Expected value at `t` in log space, and the σ to judge it with. */
  private expectation(t: number): { e: number; s: number; w: number; ws: number; ds: number } {
    const ws = Math.floor(mod(t, WEEK_MS) / SLOT_MS);
    const ds = Math.floor(mod(t, DAY_MS) / SLOT_MS);
    const w = Math.min(1, this.nweek[ws]! / this.perSlot);
    const dow = Math.floor(mod(t, WEEK_MS) / DAY_MS);
    const season = w * this.sweek[ws]! + (1 - w) * (this.sday[ds]! + this.weekOffset[dow]!);
    const s = Math.max(SIGMA_FLOOR, this.sigma[ds]!) * (1 + UNSEEN_WEEK_INFLATION * (1 - w));
    return { e: this.level + season, s, w, ws, ds };
  }

  /** Expected value (bps) at `t` without updating anything. */
  expected(t: number): number {
    return Math.max(0, Math.expm1(this.expectation(t).e));
  }

  /** Feed the value of the step starting at `t` (steps must come in increasing t). */
  update(t: number, value: number): StepResult {
    const o = this.opts;
    const y = Math.log1p(Math.max(0, value));
    this.avg = this.steps === 0 ? value : this.avg + 0.01 * (value - this.avg);
    if (this.steps === 0) this.level = y;
    const { e, s, w, ws, ds } = this.expectation(t);
    const r = y - e;
    const z = r / s;
    const warm = this.steps >= o.minHistorySteps;
    this.steps++;
    this.lastT = t;

    // Scores.
    const pointScore = Math.max(0, Math.abs(z) - QUIET_Z) / (o.sigmas - QUIET_Z);
    // The CUSUM looks for what the point score misses: it skips steps that are
    // anomalous on their own (a spike must not leave a "drift" tail behind
    // it) and is capped at cusumH, so it falls below alert within a step or
    // two once the bias is gone.
    if (pointScore < o.threshold) {
      const zc = Math.max(-CUSUM_CLIP, Math.min(CUSUM_CLIP, z));
      this.cusP = Math.min(o.cusumH, Math.max(0, this.cusP + zc - CUSUM_K));
      this.cusN = Math.min(o.cusumH, Math.max(0, this.cusN - zc - CUSUM_K));
    }
    // 0 until the CUSUM is half-way to cusumH, 1 when it gets there.
    const driftScore = Math.max(0, (2 * Math.max(this.cusP, this.cusN)) / o.cusumH - 1);
    const score = warm ? Math.max(pointScore, driftScore) : 0;
    const anomalous = score >= o.threshold;
    const expected = Math.max(0, Math.expm1(e));
    const out: StepResult = { t, value, expected, score, z };

    if (!warm) {
      this.cusP = this.cusN = 0;
      this.learn(y, r, s, w, ws, ds, true);
      return out;
    }

    const kind = pointScore >= o.threshold ? (z > 0 ? "spike" : "dip") : "drift";
    const { started, ended } = this.tracker.step(t, o.stepMs, score, kind);
    if (started) out.started = { ...started };
    if (ended) {
      out.ended = { ...ended };
      this.endEvent();
    }

    if (this.tracker.current || anomalous) {
      // Anomalous: the level and σ learn nothing, the seasonal profiles only
      // the clipped residual (bounded influence: a one-off spike moves its slot
      // by at most 2σ·gain per step, while a deviation that comes back at the
      // same time every week is still learnt, instead of alerting forever).
      // In the first week of a slot, a deviation that has lasted two slots
      // (30 minutes) is more likely the weekly shape than an incident: learnt.
      this.learnSeason(y, s, ws, ds, this.evSteps < 2 * this.perSlot);
    } else {
      this.learn(y, r, s, w, ws, ds, false);
    }
    if (this.tracker.current) {
      // Inside an event: count towards a level shift.
      this.ring[this.ringN++ % RING] = r;
      if (anomalous) {
        this.evSteps++;
        if (r > 0) this.evPos++;
      }
      const sameSide = Math.max(this.evPos, this.evSteps - this.evPos);
      if (this.evSteps >= o.confirmSteps && sameSide >= 0.8 * this.evSteps) {
        // A lasting change in one direction: the new normal. Move the level by
        // the median of the recent residuals and stop alerting. In the first
        // week of a slot it is more likely the weekly shape (the first
        // weekend): then only the offset used for unseen week slots moves,
        // and the week slots learn the rest as they are seen.
        const recent = Array.from(this.ring.subarray(0, Math.min(this.ringN, RING)));
        if (w >= 1) this.level += median(recent);
        else this.weekOffset[Math.floor(mod(t, WEEK_MS) / DAY_MS)]! += median(recent);
        const cur = this.tracker.current;
        const kindNow = cur.kind === "drift" ? "drift" : "level shift";
        out.ended = { ...this.tracker.finish(t + o.stepMs, kindNow) };
        this.endEvent();
      }
    }
    return out;
  }

  private endEvent(): void {
    this.evSteps = 0;
    this.evPos = 0;
    this.ringN = 0;
    this.cusP = 0;
    this.cusN = 0;
  }

  /** Robust updates of level, profiles and σ from one normal step. */
  private learn(y: number, r: number, s: number, w: number, ws: number, ds: number, warmup: boolean): void {
    const o = this.opts;
    const c = HUBER * s;
    const psi = (x: number): number => (x > c ? c : x < -c ? -c : x);
    // Level (Holt-Winters: from the deseasonalized value), only once the week
    // slot has been seen: in the first week the profiles learn everything
    // relative to a fixed level, otherwise the first weekend would drag the
    // level down and next Monday would look like a spike.
    if (w >= 1) this.level += o.levelGain * psi(r);
    const nd = this.nday[ds]!;
    this.learnSeason(y, s, ws, ds, false);
    // σ: a mean absolute residual; clipped at 3σ once warm so outliers cannot inflate it.
    const sg = this.sigma[ds]!;
    const a = Math.abs(r) / (1 + UNSEEN_WEEK_INFLATION * (1 - w));
    const clipped = warmup ? a : Math.min(a, 3 * Math.max(SIGMA_FLOOR, sg));
    const g = warmup ? Math.max(GAIN_SIGMA, 1 / (nd + 1)) : GAIN_SIGMA;
    this.sigma[ds] = sg + g * (clipped * 1.2533 - sg);
  }

  /**
   * The seasonal profiles, each towards its own target (y − L), so the week
   * slot learns what is special about this time of the week; Huber-clipped.
   */
  private learnSeason(y: number, s: number, ws: number, ds: number, anomalous: boolean): void {
    const c = HUBER * s;
    const psi = (x: number): number => (x > c ? c : x < -c ? -c : x);
    const base = y - this.level;
    const nd = this.nday[ds]!;
    const gd = Math.max(GAIN_SLOT, 1 / (nd + 1));
    const rd = base - this.sday[ds]!;
    this.sday[ds] = this.sday[ds]! + gd * (nd === 0 && !anomalous ? rd : psi(rd));
    if (nd < 65535) this.nday[ds] = nd + 1;
    const nw = this.nweek[ws]!;
    if (nw < this.perSlot) {
      // During its first week a week slot is a plain running mean of its
      // normal steps (next week's expectation must know what is special
      // about this time of the week, e.g. weekends); anomalous steps are left
      // out (the caller lets through those of an anomaly that has lasted
      // 30 minutes), so a spike in the first week is not expected next week.
      // After the series' first week a slot still unseen is learnt anyway:
      // better than never learning a slot that keeps looking anomalous.
      if (anomalous && this.steps < 7 * this.perSlot * DAY_SLOTS) return;
      this.sweek[ws] = nw === 0 ? base : this.sweek[ws]! + (base - this.sweek[ws]!) / (nw + 1);
    } else this.sweek[ws] = this.sweek[ws]! + GAIN_SLOT * psi(base - this.sweek[ws]!);
    if (nw < 65535) this.nweek[ws] = nw + 1;
  }

  /** The state as JSON-safe data (restored by SeriesModel.restore). */
  save(): SeriesState {
    return {
      v: 1,
      steps: this.steps,
      lastT: this.lastT,
      level: this.level,
      cusP: this.cusP,
      cusN: this.cusN,
      sweek: b64(this.sweek),
      nweek: b64(this.nweek),
      sday: b64(this.sday),
      nday: b64(this.nday),
      sigma: b64(this.sigma),
      ring: b64(this.ring),
      ringN: this.ringN,
      evSteps: this.evSteps,
      evPos: this.evPos,
      weekOffset: [...this.weekOffset],
      tracker: this.tracker.toJSON() as SeriesState["tracker"],
      avg: this.avg,
    };
  }

  static restore(s: SeriesState, opts: Partial<AnomalyModelOptions> = {}): SeriesModel {
    if (s.v !== 1) throw new Error("anomaly state: unknown version");
    const m = new SeriesModel(opts);
    m.steps = s.steps;
    m.lastT = s.lastT;
    m.level = s.level;
    m.cusP = s.cusP;
    m.cusN = s.cusN;
    m.sweek.set(f32(s.sweek, WEEK_SLOTS));
    m.nweek.set(u16(s.nweek, WEEK_SLOTS));
    m.sday.set(f32(s.sday, DAY_SLOTS));
    m.nday.set(u16(s.nday, DAY_SLOTS));
    m.sigma.set(f32(s.sigma, DAY_SLOTS));
    m.ring.set(f32(s.ring, RING));
    m.ringN = s.ringN;
    m.evSteps = s.evSteps;
    m.evPos = s.evPos;
    if (s.weekOffset?.length === 7) m.weekOffset.splice(0, 7, ...s.weekOffset);
    m.tracker.restore(s.tracker);
    m.avg = s.avg;
    return m;
  }
}
