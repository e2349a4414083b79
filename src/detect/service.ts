// DetectService: the DDoS detector as a pipeline consumer.
//
//   Pipeline ─▶ DetectService.consume ─▶ DdosDetector (per-second counters)
//   1 s timer (live) or advance(nowMs) (simulated time) ─▶ closeUntil ─▶ attacks
//   attacks ─▶ DetectEvents hub (attack_started/updated/ended) ─▶ alerts, SSE
//           ─▶ AttackHooks (script / webhook)  ─▶ <dataDir>/attacks.jsonl (ended)
//
// Keeps the ongoing attacks and the last keepEnded ended ones with their
// per-second series; ended attacks are appended to <dataDir>/attacks.jsonl and
// read back at start, so the Attacks page survives a restart. Ongoing attacks
// at shutdown are written as ended at their last second over threshold (no
// event: the process is going away).
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { FlowBatch } from "../collector/batch.js";
import type { FlowConsumer } from "../pipeline/index.js";
import { silentLogger, type Logger } from "../log.js";
import type { DetectConfig } from "./config.js";
import { DdosDetector, type AttackRecord } from "./ddos.js";
import { AttackHooks } from "./hooks.js";
import { SLOT_BYTES } from "./counters.js";
import type { Attack, DetectEvents, SecondPoint } from "./types.js";

export interface DetectServiceOptions {
  config: DetectConfig;
  events: DetectEvents;
  /** Directory of attacks.jsonl; null: nothing persisted. */
  dataDir: string | null;
  log?: Logger;
  now?: () => number;
  /** Run the 1 s timer (live mode). Default true; tests in simulated time call advance(). */
  timer?: boolean;
}

interface Ended {
  attack: Attack;
  series: SecondPoint[];
}

export class DetectService implements FlowConsumer {
  readonly name = "detect";
  readonly config: DetectConfig;
  readonly events: DetectEvents;
  readonly detector: DdosDetector;
  readonly hooks: AttackHooks;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly useTimer: boolean;
  private readonly file: string | null;
  private timer: NodeJS.Timeout | null = null;
  /** Ended attacks, oldest first (at most keepEnded). */
  private ended: Ended[] = [];
  /** Persistence failures (logged, rate-limited). */
  writeErrors = 0;

  constructor(opts: DetectServiceOptions) {
    this.config = opts.config;
    this.events = opts.events;
    this.log = opts.log ?? silentLogger;
    this.now = opts.now ?? Date.now;
    this.useTimer = opts.timer ?? true;
    this.file = opts.dataDir ? join(opts.dataDir, "attacks.jsonl") : null;
    this.hooks = new AttackHooks(opts.config.hooks, this.log);
    this.detector = new DdosDetector({
      config: opts.config,
      now: this.now,
      hooks: {
        started: (r) => this.onStarted(r),
        updated: (r) => this.events.emit({ type: "attack_updated", attack: r.attack }),
        ended: (r) => this.onEnded(r),
      },
    });
  }

  private onStarted(r: AttackRecord): void {
    this.log.limited("detect-attack-started", "warn", "attack started", {
      target: r.attack.target.prefix,
      vectors: r.attack.fingerprint.vectors.join(","),
      reason: r.attack.reason,
    });
    this.events.emit({ type: "attack_started", attack: r.attack });
    this.hooks.fire("start", r.attack);
  }

  private onEnded(r: AttackRecord): void {
    this.keep({ attack: r.attack, series: r.series });
    this.events.emit({ type: "attack_ended", attack: r.attack });
    this.hooks.fire("end", r.attack);
  }

  private keep(e: Ended): void {
    this.ended.push(e);
    if (this.ended.length > this.config.keepEnded)
      this.ended.splice(0, this.ended.length - this.config.keepEnded);
    if (!this.file) return;
    try {
      mkdirSync(dirname(this.file), { recursive: true });
      appendFileSync(this.file, JSON.stringify(e) + "\n");
    } catch (err) {
      this.writeErrors++;
      this.log.limited("detect-persist", "error", "cannot write attacks.jsonl", { error: String(err) });
    }
  }

  /** Read ended attacks back (the last keepEnded); compact the file when it grew past twice that. */
  private load(): void {
    if (!this.file || !existsSync(this.file)) return;
    let lines: string[];
    try {
      lines = readFileSync(this.file, "utf8").split("\n").filter(Boolean);
    } catch (err) {
      this.log.error("cannot read attacks.jsonl", { error: String(err) });
      return;
    }
    const out: Ended[] = [];
    for (const l of lines.slice(-this.config.keepEnded)) {
      try {
        const e = JSON.parse(l) as Ended;
        if (e && typeof e.attack?.id === "string") out.push({ attack: e.attack, series: e.series ?? [] });
      } catch {
        // A torn last line (crash while appending): skipped.
      }
    }
    this.ended = out;
    if (lines.length > 2 * Math.max(1, this.config.keepEnded)) {
      try {
        writeFileSync(this.file, out.map((e) => JSON.stringify(e) + "\n").join(""));
      } catch (err) {
        this.log.error("cannot compact attacks.jsonl", { error: String(err) });
      }
    }
  }

  async start(): Promise<void> {
    this.load();
    if (!this.useTimer || !this.config.enabled) return;
    // Close each second shortly after its end: the collector flushes batches every 100 ms.
    const schedule = (): void => {
      const ms = 1000 - (this.now() % 1000) + 120;
      this.timer = setTimeout(() => {
        try {
          this.advance(this.now());
        } catch (err) {
          this.log.limited("detect-tick", "error", "detector tick failed", { error: String(err) });
        }
        schedule();
      }, ms);
      this.timer.unref();
    };
    schedule();
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    for (const r of this.detector.endAll()) this.keep({ attack: r.attack, series: r.series });
    await Promise.race([this.hooks.drain(), new Promise((r) => setTimeout(r, 2000).unref())]);
  }

  consume(batch: FlowBatch): void {
    if (this.config.enabled) this.detector.consume(batch);
  }

  /** Close every second before nowMs (simulated time, or the live timer). */
  advance(nowMs: number): void {
    if (this.config.enabled) this.detector.closeUntil(nowMs);
  }

  /** Attacks newest first (by start), ongoing and/or ended. */
  attacks(state?: "ongoing" | "ended", limit = 100): Attack[] {
    const ongoing = [...this.detector.ongoing.values()]
      .map((r) => r.attack)
      .sort((a, b) => b.startMs - a.startMs);
    const ended = this.ended.map((e) => e.attack).reverse();
    const all =
      state === "ongoing"
        ? ongoing
        : state === "ended"
          ? ended
          : [...ongoing, ...ended].sort((a, b) => b.startMs - a.startMs);
    return all.slice(0, limit);
  }

  get(id: string): Attack | null {
    for (const r of this.detector.ongoing.values()) if (r.attack.id === id) return this.detector.refresh(r);
    return this.ended.find((e) => e.attack.id === id)?.attack ?? null;
  }

  series(id: string): { target: string; points: SecondPoint[] } | null {
    for (const r of this.detector.ongoing.values())
      if (r.attack.id === id) return { target: r.attack.target.prefix, points: [...r.series] };
    const e = this.ended.find((x) => x.attack.id === id);
    return e ? { target: e.attack.target.prefix, points: e.series } : null;
  }

  status(): Record<string, unknown> {
    const d = this.detector;
    d.topWanted = 60;
    return {
      enabled: this.config.enabled,
      counters: {
        hosts: d.hosts.size,
        prefixes: d.prefixes.size,
        memoryBytes: d.memoryBytes,
        maxHosts: this.config.maxHosts,
        maxPrefixes: this.config.maxPrefixes,
        bytesPerHost: SLOT_BYTES,
        evictions: d.hosts.evictions + d.prefixes.evictions,
        overflowRows: d.hosts.overflow + d.prefixes.overflow,
        untrackedRows: d.untracked,
        ases: d.ases.size,
        exporters: d.exporters.size,
        interfaces: d.ifaces.size,
        detailsInUse: d.detailsInUse,
      },
      thresholds: this.config.thresholds,
      baseline: this.config.baseline,
      networks: this.config.networks,
      quietSeconds: this.config.quietSeconds,
      baselineReady: d.baselineReady,
      secondsClosed: d.seconds,
      flows: d.flows,
      ongoing: d.ongoing.size,
      attacksStarted: d.attacksStarted,
      hooks: { enabled: this.hooks.enabled, ...this.hooks.stats },
      lastSecondTop: d.lastTop,
    };
  }
}
