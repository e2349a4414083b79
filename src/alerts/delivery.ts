// Delivery: one queue per destination (kind + target), each worked by its own
// loop, one notification at a time, in order. A notification is tried up to
// retry.attempts times, each attempt bounded by timeoutMs, waiting
// initialDelayMs, 2×, 4× … (at most maxDelayMs) between attempts; then its
// outcome ("sent" or "failed", the attempts made, every attempt's error) goes
// into the history.
//
// Why per destination: a dead or hanging receiver then only delays its own
// queue. Nothing here is awaited by detection (enqueue is synchronous and
// O(1)), and the queue is bounded: when it is full the new notification is
// recorded as failed at once ("queue full") instead of growing memory.
import type { Destination, NotificationRecord } from "../detect/types.js";
import { silentLogger, type Logger } from "../log.js";
import { newId } from "../content/store.js";
import type { AlertsConfig } from "./config.js";
import { deliver, type AlertPayload } from "./destinations.js";

export type Sender = (d: Destination, p: AlertPayload, cfg: AlertsConfig) => Promise<void>;

interface Job {
  d: Destination;
  p: AlertPayload;
  /** Called with the final record (after it was appended to the history). */
  done?: (r: NotificationRecord) => void;
}

export interface DeliveryOptions {
  config: AlertsConfig;
  record: (r: NotificationRecord) => void;
  now: () => number;
  send?: Sender;
  log?: Logger;
}

function keyOf(d: Destination): string {
  return `${d.kind} ${d.target}`;
}

class Queue {
  readonly jobs: Job[] = [];
  busy = false;
}

export class Delivery {
  private readonly cfg: AlertsConfig;
  private readonly record: (r: NotificationRecord) => void;
  private readonly now: () => number;
  private readonly send: Sender;
  private readonly log: Logger;
  private readonly queues = new Map<string, Queue>();
  private stopped = false;
  /** Pending backoff waits, cut short by stop(). */
  private readonly waits = new Set<() => void>();
  private readonly loops = new Set<Promise<void>>();

  constructor(o: DeliveryOptions) {
    this.cfg = o.config;
    this.record = o.record;
    this.now = o.now;
    this.send = o.send ?? deliver;
    this.log = o.log ?? silentLogger;
  }

  /** Notifications waiting or in flight, over all destinations. */
  get pending(): number {
    let n = 0;
    for (const q of this.queues.values()) n += q.jobs.length + (q.busy ? 1 : 0);
    return n;
  }

  /** Queue `p` for `d`; returns at once. */
  enqueue(d: Destination, p: AlertPayload, done?: (r: NotificationRecord) => void): void {
    const job: Job = { d, p, done };
    if (this.stopped) {
      this.finish(job, "failed", 0, ["alerts stopped"]);
      return;
    }
    const k = keyOf(d);
    let q = this.queues.get(k);
    if (!q) this.queues.set(k, (q = new Queue()));
    if (q.jobs.length >= this.cfg.queueMax) {
      this.finish(job, "failed", 0, [`queue full (${this.cfg.queueMax} waiting for this destination)`]);
      return;
    }
    q.jobs.push(job);
    if (!q.busy) {
      q.busy = true;
      // Started on the next turn of the event loop: the caller (a detector's emit()) runs no send code.
      const loop = new Promise<void>((resolve) => setImmediate(resolve))
        .then(() => this.work(k, q))
        .finally(() => this.loops.delete(loop));
      this.loops.add(loop);
    }
  }

  /** One attempt, no retry (POST …/test): resolves with the record. */
  async once(d: Destination, p: AlertPayload): Promise<NotificationRecord> {
    try {
      await this.send(d, p, this.cfg);
      return this.finish({ d, p }, "sent", 1, []);
    } catch (err) {
      return this.finish({ d, p }, "failed", 1, [errText(err)]);
    }
  }

  /** Stop: backoff waits end, queued notifications are recorded failed; waits for attempts in flight (bounded by timeoutMs). */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const w of this.waits) w();
    await Promise.all([...this.loops]);
  }

  private async work(k: string, q: Queue): Promise<void> {
    while (q.jobs.length > 0) {
      const job = q.jobs.shift()!;
      if (this.stopped) {
        this.finish(job, "failed", 0, ["alerts stopped"]);
        continue;
      }
      const errors: string[] = [];
      let attempt = 0;
      let sent = false;
      while (attempt < this.cfg.retry.attempts && !this.stopped) {
        attempt++;
        try {
          await this.send(job.d, job.p, this.cfg);
          sent = true;
          break;
        } catch (err) {
          errors.push(errText(err));
          this.log.limited("alerts-delivery", "warn", "alert delivery attempt failed", {
            destination: k,
            attempt,
            error: errText(err),
          });
        }
        if (attempt < this.cfg.retry.attempts && !this.stopped) await this.sleep(this.backoff(attempt));
      }
      if (!sent && this.stopped && attempt < this.cfg.retry.attempts) errors.push("alerts stopped");
      this.finish(job, sent ? "sent" : "failed", attempt, errors);
    }
    q.busy = false;
    // Forget idle queues: destinations come and go with rules.
    if (this.queues.get(k) === q && q.jobs.length === 0) this.queues.delete(k);
  }

  /** Wait before attempt n+1: initialDelayMs × 2^(n-1), at most maxDelayMs. */
  backoff(n: number): number {
    return Math.min(this.cfg.retry.maxDelayMs, this.cfg.retry.initialDelayMs * 2 ** (n - 1));
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const end = (): void => {
        clearTimeout(t);
        this.waits.delete(end);
        resolve();
      };
      const t = setTimeout(end, ms);
      this.waits.add(end);
    });
  }

  private finish(
    job: Job,
    outcome: "sent" | "failed",
    attempts: number,
    errors: string[],
  ): NotificationRecord {
    const r: NotificationRecord = {
      id: newId(),
      ruleId: job.p.rule.id,
      ruleName: job.p.rule.name,
      atMs: this.now(),
      state: job.p.state,
      destination: job.d,
      outcome,
      attempts,
      error: outcome === "failed" ? (errors[errors.length - 1] ?? "failed") : null,
      summary: job.p.summary,
      eventAtMs: job.p.atMs,
      attemptErrors: errors,
    };
    this.record(r);
    job.done?.(r);
    return r;
  }
}

function errText(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).slice(0, 500);
}
