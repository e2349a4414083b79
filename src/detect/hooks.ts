// Attack hooks: on attack start and/or end, run a configured script with the
// attack as JSON on stdin (argument 1: "start" or "end"), and/or POST the same
// JSON ({event, attack}) to a webhook URL. Fire and forget: the detector never
// waits for a hook; each call has a timeout (the script is killed, the request
// aborted), at most maxConcurrent run at once (more are dropped and counted),
// and failures are counted and logged through the rate-limited logger.
import { spawn } from "node:child_process";
import { silentLogger, type Logger } from "../log.js";
import type { HooksConfig } from "./config.js";
import type { Attack } from "./types.js";

export interface HookStats {
  calls: number;
  ok: number;
  failures: number;
  timeouts: number;
  dropped: number;
}

export class AttackHooks {
  readonly config: HooksConfig;
  private readonly log: Logger;
  readonly stats: HookStats = { calls: 0, ok: 0, failures: 0, timeouts: 0, dropped: 0 };
  private running = 0;
  private readonly pending = new Set<Promise<void>>();

  constructor(config: HooksConfig, log: Logger = silentLogger) {
    this.config = config;
    this.log = log;
  }

  get enabled(): boolean {
    return this.config.script !== "" || this.config.webhook !== "";
  }

  /** Call the hooks for `event` (no-op when not configured for it). Never throws, never blocks. */
  fire(event: "start" | "end", attack: Attack): void {
    if (!this.enabled || !this.config.on.includes(event)) return;
    const body = JSON.stringify({ event: event === "start" ? "attack_started" : "attack_ended", attack });
    if (this.config.script) this.launch(() => this.runScript(event, body));
    if (this.config.webhook) this.launch(() => this.post(body));
  }

  private launch(fn: () => Promise<void>): void {
    if (this.running >= this.config.maxConcurrent) {
      this.stats.dropped++;
      this.log.limited("detect-hook-dropped", "warn", "attack hook dropped: too many running", {
        running: this.running,
      });
      return;
    }
    this.running++;
    this.stats.calls++;
    const p = fn()
      .then(
        () => {
          this.stats.ok++;
        },
        (err: unknown) => {
          this.stats.failures++;
          this.log.limited("detect-hook-failed", "warn", "attack hook failed", {
            error: err instanceof Error ? err.message : String(err),
          });
        },
      )
      .finally(() => {
        this.running--;
        this.pending.delete(p);
      });
    this.pending.add(p);
  }

  private runScript(event: string, body: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      // Own process group, so a timeout kills the script's children too (a
      // grandchild holding the pipes open would otherwise keep it "running").
      const child = spawn(this.config.script, [event], { stdio: ["pipe", "ignore", "pipe"], detached: true });
      let stderr = "";
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        this.stats.timeouts++;
        try {
          if (child.pid) process.kill(-child.pid, "SIGKILL");
        } catch {
          child.kill("SIGKILL");
        }
      }, this.config.timeoutMs);
      child.stderr.on("data", (d: Buffer) => {
        if (stderr.length < 500) stderr += d.toString();
      });
      child.on("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.on("exit", (code, signal) => {
        clearTimeout(timer);
        if (timedOut) reject(new Error(`script timed out after ${this.config.timeoutMs} ms`));
        else if (code === 0) resolve();
        else reject(new Error(`script exited with ${code ?? signal}: ${stderr.trim().slice(0, 200)}`));
      });
      // A script that does not read stdin closes the pipe: EPIPE is not a failure of the hook.
      child.stdin.on("error", () => {});
      child.stdin.end(body);
    });
  }

  private async post(body: string): Promise<void> {
    const signal = AbortSignal.timeout(this.config.timeoutMs);
    let res: Response;
    try {
      res = await fetch(this.config.webhook, {
        method: "POST",
        headers: { "content-type": "application/json", "user-agent": "nagare-detect" },
        body,
        signal,
      });
    } catch (err) {
      if (signal.aborted) {
        this.stats.timeouts++;
        throw new Error(`webhook timed out after ${this.config.timeoutMs} ms`);
      }
      throw err;
    }
    await res.arrayBuffer().catch(() => undefined);
    if (!res.ok) throw new Error(`webhook answered ${res.status}`);
  }

  /** Wait for running hooks (tests, shutdown). */
  async drain(): Promise<void> {
    while (this.pending.size) await Promise.allSettled([...this.pending]);
  }
}
