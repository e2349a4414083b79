// AnomalyService: a pipeline consumer that turns flows into per-step bps
// series (total, per src AS, per dst AS, per exporter, per exporter/input
// interface), scores every series at each step close with the model of
// src/detect/anomaly.ts, publishes anomaly_started / anomaly_ended on the
// DetectEvents hub, and writes the scored points next to the traffic, into the
// store's DuckDB file (table anomaly_scores, one batch per step, through its
// own connection).
//
// Time: a flow belongs to the step of its time_received (arrival, as the live
// view). A step closes when a flow of a later step arrives or when advance(now)
// passes its end (a timer calls advance(Date.now() − 2 s) every second; tests
// call advance() with simulated time). While the service runs, a step without
// flows is a real 0; the first step after start is partial and not scored;
// steps while the service was down are not fed (a gap, not a dip).
//
// Bounds: total is one series; each other dimension keeps at most maxSeries
// series, the busiest by exponential average of bps. A key not tracked is a
// candidate (its average kept, at most 4 × maxSeries candidates); it replaces
// the least busy tracked series once its average is twice as large. The
// evicted series' model is dropped. Memory: docs/detection.md.
//
// Restart: the models (profiles, level, σ, ongoing events) and the recent
// events are saved to <dataDir>/anomaly-state.json every hour and at stop(),
// and restored at start(), so seasonality is not relearnt. Without a state
// file (first start, or a different stepSeconds) the models start empty and
// produce scores after minHistoryHours.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import {
  DuckDBTimestampMillisecondsValue,
  type DuckDBConnection,
  type DuckDBInstance,
} from "@duckdb/node-api";
import type { FlowBatch } from "../collector/batch.js";
import { formatIp } from "../collector/ip.js";
import { silentLogger, type Logger } from "../log.js";
import type { FlowConsumer } from "../pipeline/index.js";
import {
  SERIES_MODEL_BYTES,
  SeriesModel,
  type AnomalyModelOptions,
  type SeriesState,
  type StepResult,
} from "./anomaly.js";
import { defaultAnomalyConfig, type AnomalyConfig } from "./anomaly-config.js";
import { ANOMALY_TABLE, anomalyTableSql } from "./anomaly-table.js";
import type { AnomalyEvent, AnomalyPoint, AnomalySeriesKind, DetectEvents } from "./types.js";

export { ANOMALY_TABLE, anomalyTableSql };

export const STATE_FILE = "anomaly-state.json";

export interface AnomalyServiceOptions {
  config?: Partial<AnomalyConfig>;
  events: DetectEvents;
  /** The store's database; absent = scores kept in memory only. */
  db?: () => DuckDBInstance;
  /** Where the state file goes; absent = no persistence. */
  dataDir?: string;
  /** Retention of anomaly_scores in days when config.retentionDays is 0 (store.retention.rawDays). */
  storeRetentionDays?: number;
  now?: () => number;
  log?: Logger;
  /** Tick every second in real time (default true; tests drive advance()). */
  timer?: boolean;
}

/** Recent points of one series, in typed arrays. */
class Ring {
  readonly t: Float64Array;
  readonly v: Float32Array;
  readonly e: Float32Array;
  readonly s: Float32Array;
  n = 0;
  constructor(readonly cap: number) {
    this.t = new Float64Array(cap);
    this.v = new Float32Array(cap);
    this.e = new Float32Array(cap);
    this.s = new Float32Array(cap);
  }
  push(r: StepResult): void {
    const i = this.n++ % this.cap;
    this.t[i] = r.t;
    this.v[i] = r.value;
    this.e[i] = r.expected;
    this.s[i] = r.score;
  }
  points(start: number, end: number): AnomalyPoint[] {
    const out: AnomalyPoint[] = [];
    const k = Math.min(this.n, this.cap);
    for (let j = this.n - k; j < this.n; j++) {
      const i = j % this.cap;
      const t = this.t[i]!;
      if (t >= start && t < end) out.push({ t, value: this.v[i]!, expected: this.e[i]!, score: this.s[i]! });
    }
    return out;
  }
}

interface Tracked {
  model: SeriesModel;
  ring: Ring;
  /** Id of the ongoing event. */
  eventId: string | null;
}

interface Dim {
  kind: AnomalySeriesKind;
  series: Map<string, Tracked>;
  /** Untracked keys: exponential average of bps and the step it was last updated. */
  candidates: Map<string, { avg: number; step: number }>;
}

interface SavedState {
  v: 1;
  stepMs: number;
  savedAt: number;
  series: { kind: AnomalySeriesKind; key: string; state: SeriesState }[];
  events: AnomalyEvent[];
  seq: number;
}

const CANDIDATE_GAIN = 0.01;
/** Distinct keys per dimension accumulated in one step (beyond: not counted). */
const MAX_STEP_KEYS = 100_000;

export class AnomalyService implements FlowConsumer {
  readonly name = "anomaly";
  readonly config: AnomalyConfig;
  readonly stepMs: number;
  private readonly opts: AnomalyServiceOptions;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly modelOpts: Partial<AnomalyModelOptions>;
  private readonly dims = new Map<AnomalySeriesKind, Dim>();
  /** Start of the open step (-1 until the first flow or advance()). */
  private stepStart = -1;
  /** The open step started after the service did (not partial). */
  private stepComplete = false;
  private total = 0;
  /** Incremented each time the accumulators are cleared. */
  private gen = 0;
  private readonly acc = {
    src_as: new Map<number, number>(),
    dst_as: new Map<number, number>(),
    exporter: new Map<string, number>(),
    /** exporter → input ifIndex → bits (no per-row key string). */
    interface: new Map<string, Map<number, number>>(),
  };
  private readonly events: AnomalyEvent[] = [];
  private seq = 0;
  private stepsClosed = 0;
  private conn: DuckDBConnection | null = null;
  private writing: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | null = null;
  /** Counters for /status and tests. */
  readonly stats = {
    steps: 0,
    points: 0,
    rowsWritten: 0,
    writeErrors: 0,
    lateRows: 0,
    evicted: 0,
    restored: 0,
  };

  constructor(opts: AnomalyServiceOptions) {
    this.opts = opts;
    this.config = { ...defaultAnomalyConfig(), ...opts.config };
    this.stepMs = this.config.stepSeconds * 1000;
    this.log = opts.log ?? silentLogger;
    this.now = opts.now ?? Date.now;
    const perHour = 3_600_000 / this.stepMs;
    this.modelOpts = {
      stepMs: this.stepMs,
      threshold: this.config.threshold,
      sigmas: this.config.sigmas,
      minSteps: this.config.minSteps,
      quietSteps: this.config.quietSteps,
      minHistorySteps: Math.round(this.config.minHistoryHours * perHour),
      confirmSteps: Math.max(1, Math.round((this.config.confirmMinutes * 60_000) / this.stepMs)),
    };
    for (const kind of this.config.series)
      this.dims.set(kind, { kind, series: new Map(), candidates: new Map() });
  }

  async start(): Promise<void> {
    this.restore();
    if (this.opts.db) {
      this.conn = await this.opts.db().connect();
      await this.conn.run(anomalyTableSql());
    }
    if (this.opts.timer ?? true) {
      this.timer = setInterval(() => this.advance(this.now() - 2000), 1000);
      this.timer.unref();
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.flush();
    this.save();
    this.conn?.closeSync();
    this.conn = null;
  }

  /** Wait for the pending writes to DuckDB. */
  async flush(): Promise<void> {
    await this.writing;
  }

  consume(batch: FlowBatch): void {
    const c = batch.cols;
    const { bytes, sampling_rate, src_as, dst_as, in_if, time_received } = c;
    const exp = c.exporter_address;
    const wantSrc = this.dims.has("src_as");
    const wantDst = this.dims.has("dst_as");
    const wantExp = this.dims.has("exporter");
    const wantIf = this.dims.has("interface");
    let lastExp = -1;
    let expKey = "";
    let ifMap: Map<number, number> | undefined;
    let ifGen = -1;
    for (let r = 0; r < batch.length; r++) {
      const t = time_received[r]!;
      if (this.stepStart < 0) this.openAt(t, false);
      if (t >= this.stepStart + this.stepMs) this.advance(t);
      else if (t < this.stepStart) this.stats.lateRows++;
      const bits = bytes[r]! * 8 * Math.max(1, sampling_rate[r]!);
      this.total += bits;
      if (wantSrc) add(this.acc.src_as, src_as[r]!, bits);
      if (wantDst) add(this.acc.dst_as, dst_as[r]!, bits);
      if (wantExp || wantIf) {
        // Batches usually come from one exporter: format its address only when it changes.
        if (lastExp < 0 || !sameIp(exp, lastExp * 16, r * 16)) {
          expKey = formatIp(exp, r * 16);
          lastExp = r;
          ifMap = undefined;
        }
        if (wantExp) add(this.acc.exporter, expKey, bits);
        if (wantIf) {
          // Looked up again after advance() cleared the maps (a new generation).
          if (!ifMap || ifGen !== this.gen) {
            ifGen = this.gen;
            ifMap = this.acc.interface.get(expKey);
            if (!ifMap && this.acc.interface.size < MAX_STEP_KEYS)
              this.acc.interface.set(expKey, (ifMap = new Map()));
          }
          if (ifMap) add(ifMap, in_if[r]!, bits);
        }
      }
    }
  }

  private openAt(t: number, complete: boolean): void {
    this.stepStart = Math.floor(t / this.stepMs) * this.stepMs;
    this.stepComplete = complete;
  }

  /**
   * Close every step that ends at or before `nowMs` (simulated or real time).
   * A gap of more than a day (clock jump, long pause) is skipped, not fed as zeros.
   */
  advance(nowMs: number): void {
    if (this.stepStart < 0) {
      // Nothing seen yet: start counting at the next full step.
      this.openAt(nowMs + this.stepMs, true);
      return;
    }
    while (this.stepStart + this.stepMs <= nowMs) {
      if (nowMs - this.stepStart > 86_400_000) {
        this.clearAcc();
        this.openAt(nowMs, false);
        return;
      }
      if (this.stepComplete) this.closeStep(this.stepStart);
      this.clearAcc();
      this.stepStart += this.stepMs;
      this.stepComplete = true;
    }
  }

  private clearAcc(): void {
    this.gen++;
    this.total = 0;
    this.acc.src_as.clear();
    this.acc.dst_as.clear();
    this.acc.exporter.clear();
    this.acc.interface.clear();
  }

  private closeStep(t: number): void {
    const perSec = 1000 / this.stepMs;
    const rows: { kind: AnomalySeriesKind; key: string; r: StepResult }[] = [];
    const stepIndex = this.stepsClosed++;
    for (const dim of this.dims.values()) {
      const values = new Map<string, number>();
      if (dim.kind === "total") values.set("", this.total * perSec);
      else if (dim.kind === "interface") {
        for (const [e, m] of this.acc.interface)
          for (const [ifIndex, bits] of m) values.set(`${e}/${ifIndex}`, bits * perSec);
      } else {
        const m = this.acc[dim.kind] as Map<string | number, number>;
        // (src_as, dst_as: numbers; exporter: address text)
        for (const [k, bits] of m) values.set(String(k), bits * perSec);
      }
      this.rank(dim, values, stepIndex);
      for (const [key, tr] of dim.series) {
        const r = tr.model.update(t, values.get(key) ?? 0);
        tr.ring.push(r);
        rows.push({ kind: dim.kind, key, r });
        if (r.ended && tr.eventId)
          this.endEvent(
            tr,
            r.ended.endMs ?? t + this.stepMs,
            r.ended.kind,
            r.ended.peakScore,
            r.ended.peakAtMs,
          );
        if (r.started) this.startEvent(dim.kind, key, tr, r);
        else if (tr.eventId && tr.model.current) this.updateEvent(tr);
      }
    }
    this.stats.steps++;
    this.stats.points += rows.length;
    if (this.conn && rows.length) this.write(rows);
    if (stepIndex % Math.max(1, Math.round(3_600_000 / this.stepMs)) === 0 && stepIndex > 0) {
      this.save();
      this.retention(t);
    }
  }

  /** Track new keys while there is room; replace the least busy series by a much busier candidate. */
  private rank(dim: Dim, values: Map<string, number>, step: number): void {
    if (dim.kind === "total") {
      if (!dim.series.has("")) dim.series.set("", this.track());
      return;
    }
    const max = this.config.maxSeries;
    let promotions = 0;
    for (const [key, v] of values) {
      if (dim.series.has(key)) continue;
      if (dim.series.size < max) {
        dim.series.set(key, this.track());
        dim.candidates.delete(key);
        continue;
      }
      let c = dim.candidates.get(key);
      if (!c) {
        if (dim.candidates.size >= 4 * max) this.pruneCandidates(dim, step);
        dim.candidates.set(key, (c = { avg: v, step }));
      } else {
        c.avg = c.avg * Math.pow(1 - CANDIDATE_GAIN, step - c.step - 1);
        c.avg += CANDIDATE_GAIN * (v - c.avg);
        c.step = step;
      }
      if (promotions < 10) {
        let minKey = "";
        let minAvg = Infinity;
        for (const [k, tr] of dim.series) {
          if (tr.model.avg < minAvg && !tr.eventId) {
            minAvg = tr.model.avg;
            minKey = k;
          }
        }
        if (minKey && c.avg > 2 * minAvg) {
          dim.series.delete(minKey);
          dim.series.set(key, this.track());
          dim.candidates.delete(key);
          this.stats.evicted++;
          promotions++;
        }
      }
    }
  }

  private pruneCandidates(dim: Dim, step: number): void {
    const decayed = [...dim.candidates.entries()].map(
      ([k, c]) => [k, c.avg * Math.pow(1 - CANDIDATE_GAIN, step - c.step)] as const,
    );
    decayed.sort((a, b) => a[1] - b[1]);
    for (const [k] of decayed.slice(0, Math.ceil(decayed.length / 2))) dim.candidates.delete(k);
  }

  private track(): Tracked {
    return {
      model: new SeriesModel(this.modelOpts),
      ring: new Ring(this.config.memoryPoints),
      eventId: null,
    };
  }

  private startEvent(kind: AnomalySeriesKind, key: string, tr: Tracked, r: StepResult): void {
    const s = r.started!;
    const ev: AnomalyEvent = {
      id: `${s.startMs.toString(36)}-${(++this.seq).toString(36)}`,
      series: kind,
      key,
      startMs: s.startMs,
      endMs: null,
      peakScore: s.peakScore,
      peakAtMs: s.peakAtMs,
      kind: s.kind,
    };
    tr.eventId = ev.id;
    this.events.push(ev);
    if (this.events.length > this.config.keepEvents)
      this.events.splice(0, this.events.length - this.config.keepEvents);
    this.opts.events.emit({ type: "anomaly_started", event: { ...ev } });
  }

  private findEvent(id: string): AnomalyEvent | undefined {
    for (let i = this.events.length - 1; i >= 0; i--) if (this.events[i]!.id === id) return this.events[i];
    return undefined;
  }

  private updateEvent(tr: Tracked): void {
    const ev = this.findEvent(tr.eventId!);
    const cur = tr.model.current;
    if (!ev || !cur) return;
    ev.peakScore = cur.peakScore;
    ev.peakAtMs = cur.peakAtMs;
  }

  private endEvent(tr: Tracked, endMs: number, kind: string, peak: number, peakAt: number): void {
    const ev = this.findEvent(tr.eventId!);
    tr.eventId = null;
    if (!ev) return;
    ev.endMs = endMs;
    ev.kind = kind;
    ev.peakScore = peak;
    ev.peakAtMs = peakAt;
    this.opts.events.emit({ type: "anomaly_ended", event: { ...ev } });
  }

  private write(rows: { kind: AnomalySeriesKind; key: string; r: StepResult }[]): void {
    const conn = this.conn!;
    this.writing = this.writing.then(async () => {
      try {
        const app = await conn.createAppender(ANOMALY_TABLE);
        for (const { kind, key, r } of rows) {
          app.appendTimestampMilliseconds(new DuckDBTimestampMillisecondsValue(BigInt(r.t)));
          app.appendVarchar(kind);
          app.appendVarchar(key);
          app.appendDouble(r.value);
          app.appendDouble(r.expected);
          app.appendDouble(r.score);
          app.endRow();
        }
        app.closeSync();
        this.stats.rowsWritten += rows.length;
      } catch (err) {
        this.stats.writeErrors++;
        this.log.limited("anomaly-write", "warn", "anomaly: writing scores failed", { error: String(err) });
      }
    });
  }

  /** Delete anomaly_scores rows past the retention (config.retentionDays, else the store's raw retention). */
  private retention(nowMs: number): void {
    const days = this.config.retentionDays || this.opts.storeRetentionDays || 7;
    const conn = this.conn;
    if (!conn) return;
    const cutoff = Math.floor(nowMs - days * 86_400_000);
    this.writing = this.writing.then(async () => {
      try {
        await conn.run(`DELETE FROM ${ANOMALY_TABLE} WHERE time < epoch_ms(${cutoff}::BIGINT)`);
      } catch (err) {
        this.log.limited("anomaly-write", "warn", "anomaly: retention failed", { error: String(err) });
      }
    });
  }

  // ---- state file ----

  private statePath(): string | null {
    return this.opts.dataDir ? join(this.opts.dataDir, STATE_FILE) : null;
  }

  /** Save the models and events (atomic: temp file then rename). */
  save(): void {
    const path = this.statePath();
    if (!path) return;
    const state: SavedState = {
      v: 1,
      stepMs: this.stepMs,
      savedAt: this.now(),
      series: [],
      events: this.events,
      seq: this.seq,
    };
    for (const dim of this.dims.values())
      for (const [key, tr] of dim.series) state.series.push({ kind: dim.kind, key, state: tr.model.save() });
    try {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(`${path}.tmp`, JSON.stringify(state));
      renameSync(`${path}.tmp`, path);
    } catch (err) {
      this.log.warn("anomaly: saving state failed", { path, error: String(err) });
    }
  }

  private restore(): void {
    const path = this.statePath();
    if (!path || !existsSync(path)) return;
    try {
      const s = JSON.parse(readFileSync(path, "utf8")) as SavedState;
      if (s.v !== 1 || s.stepMs !== this.stepMs) {
        this.log.warn("anomaly: state file has another step or version; starting afresh", { path });
        return;
      }
      for (const { kind, key, state } of s.series) {
        const dim = this.dims.get(kind);
        if (!dim || (kind !== "total" && dim.series.size >= this.config.maxSeries)) continue;
        const model = SeriesModel.restore(state, this.modelOpts);
        dim.series.set(key, { model, ring: new Ring(this.config.memoryPoints), eventId: null });
        this.stats.restored++;
      }
      this.events.push(...s.events.slice(-this.config.keepEvents));
      this.seq = s.seq;
      // Reattach ongoing events to their series.
      for (const ev of this.events) {
        if (ev.endMs !== null) continue;
        const tr = this.dims.get(ev.series)?.series.get(ev.key);
        if (tr?.model.current) tr.eventId = ev.id;
        else ev.endMs = s.savedAt; // the model no longer has it: closed at the save time
      }
    } catch (err) {
      this.log.warn("anomaly: state file unreadable; starting afresh", { path, error: String(err) });
    }
  }

  // ---- queries (API) ----

  /** Events newest first, optionally of one series kind and key. */
  listEvents(opts: { limit?: number; series?: string; key?: string } = {}): AnomalyEvent[] {
    const out: AnomalyEvent[] = [];
    for (let i = this.events.length - 1; i >= 0 && out.length < (opts.limit ?? 100); i--) {
      const e = this.events[i]!;
      if (opts.series && e.series !== opts.series) continue;
      if (opts.key !== undefined && opts.key !== "" && e.key !== opts.key) continue;
      out.push({ ...e });
    }
    return out;
  }

  /** Scored points of one series in [start, end): from anomaly_scores, or the in-memory ring without a store. */
  async points(
    series: string,
    key: string,
    start: number,
    end: number,
    limit = 20_000,
  ): Promise<AnomalyPoint[]> {
    if (this.opts.db) {
      await this.flush();
      const conn = await this.opts.db().connect();
      try {
        const r = await conn.runAndReadAll(
          `SELECT epoch_ms(time)::DOUBLE, value, expected, score FROM ${ANOMALY_TABLE}
           WHERE series = $series AND key = $key AND time >= epoch_ms($start::BIGINT) AND time < epoch_ms($end::BIGINT)
           ORDER BY time LIMIT ${Math.floor(limit)}`,
          { series, key, start: Math.floor(start), end: Math.ceil(end) },
        );
        return r.getRowsJS().map((row) => ({
          t: Number(row[0]),
          value: Number(row[1]),
          expected: Number(row[2]),
          score: Number(row[3]),
        }));
      } finally {
        conn.closeSync();
      }
    }
    const tr = this.dims.get(series as AnomalySeriesKind)?.series.get(key);
    return tr ? tr.ring.points(start, end).slice(0, limit) : [];
  }

  /** The series with the highest score in [start, end), highest first. */
  async top(
    start: number,
    end: number,
    limit = 20,
  ): Promise<{ series: string; key: string; maxScore: number }[]> {
    if (this.opts.db) {
      await this.flush();
      const conn = await this.opts.db().connect();
      try {
        const r = await conn.runAndReadAll(
          `SELECT series, key, max(score) AS m FROM ${ANOMALY_TABLE}
           WHERE time >= epoch_ms($start::BIGINT) AND time < epoch_ms($end::BIGINT)
           GROUP BY series, key ORDER BY m DESC, series, key LIMIT ${Math.floor(limit)}`,
          { start: Math.floor(start), end: Math.ceil(end) },
        );
        return r
          .getRowsJS()
          .map((row) => ({ series: String(row[0]), key: String(row[1]), maxScore: Number(row[2]) }));
      } finally {
        conn.closeSync();
      }
    }
    const out: { series: string; key: string; maxScore: number }[] = [];
    for (const dim of this.dims.values())
      for (const [key, tr] of dim.series) {
        const pts = tr.ring.points(start, end);
        if (pts.length) out.push({ series: dim.kind, key, maxScore: Math.max(...pts.map((p) => p.score)) });
      }
    out.sort((a, b) => b.maxScore - a.maxScore);
    return out.slice(0, limit);
  }

  /** Series tracked per kind and the memory they take (documented bound). */
  status(): {
    series: Record<string, number>;
    memoryBytes: number;
    stepMs: number;
    stats: AnomalyService["stats"];
  } {
    const series: Record<string, number> = {};
    let n = 0;
    let cands = 0;
    for (const d of this.dims.values()) {
      series[d.kind] = d.series.size;
      n += d.series.size;
      cands += d.candidates.size;
    }
    // Typed arrays + the ring + Map/object overhead (measured: 801 series ≈ 12.7 MB, docs/detection.md).
    const perSeries = SERIES_MODEL_BYTES + this.config.memoryPoints * 20 + 2200;
    return {
      series,
      memoryBytes: n * perSeries + cands * 120,
      stepMs: this.stepMs,
      stats: { ...this.stats },
    };
  }
}

function add<K>(m: Map<K, number>, k: K, v: number): void {
  const cur = m.get(k);
  if (cur !== undefined) m.set(k, cur + v);
  else if (m.size < MAX_STEP_KEYS) m.set(k, v);
}

function sameIp(buf: Uint8Array, a: number, b: number): boolean {
  for (let i = 0; i < 16; i++) if (buf[a + i] !== buf[b + i]) return false;
  return true;
}
