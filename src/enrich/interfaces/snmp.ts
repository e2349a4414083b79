// SNMP interface poller: ifName, ifAlias, ifDescr, ifHighSpeed, ifSpeed of
// each exporter, walked over SNMP v2c or v3 (net-snmp), cached in memory.
//
// When: an exporter is polled when first seen (the first flow or options
// record that names it), then every pollIntervalSec; a failed poll is retried
// after retryIntervalSec and keeps the data of the last good one (state
// "error", old data still served).
//
// How (RFC 3416 §4.2.3 GetBulkRequest, the five IF-MIB columns walked side by
// side, one request at a time per agent):
//
//   GetBulk(non-repeaters 0, max-repetitions N,
//           ifDescr.c, ifSpeed.c, ifName.c, ifHighSpeed.c, ifAlias.c)
//     → for each column, up to N (oid, value) following its cursor
//   a column is done at the first varbind outside it, endOfMibView, or an
//   OID that does not increase (a broken agent must not loop us forever)
//
//   ifDescr     1.3.6.1.2.1.2.2.1.2       RFC 2863 ifTable (every agent)
//   ifSpeed     1.3.6.1.2.1.2.2.1.5       bps, saturates at 4 294 967 295
//   ifName      1.3.6.1.2.1.31.1.1.1.1    ifXTable
//   ifHighSpeed 1.3.6.1.2.1.31.1.1.1.15   Mbps (for > 4 Gbps)
//   ifAlias     1.3.6.1.2.1.31.1.1.1.18   the operator's description
//
// Rate limit: at most requestsPerSecond requests to one agent, one in flight
// per agent, at most maxConcurrentPolls agents polled at once; each request
// times out after timeoutMs and is retried `retries` times (net-snmp).
// A v2c agent that refuses the community does not answer (RFC 3584 §5.2.1:
// the message is dropped, snmpInBadCommunityNames counts it): that shows up
// here as a timeout.
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { isIP } from "node:net";
import { dirname } from "node:path";
import snmp from "net-snmp";
import { parseIp } from "../../collector/ip.js";
import { parsePrefix, prefixContains, type Prefix } from "../../config/address.js";
import { silentLogger, type Logger } from "../../log.js";
import type { InterfaceInfo, SourceState } from "../types.js";
import { parseAgent, type SnmpConfig, type SnmpCredential } from "./config.js";

export const IF_OIDS = {
  ifDescr: "1.3.6.1.2.1.2.2.1.2",
  ifSpeed: "1.3.6.1.2.1.2.2.1.5",
  ifName: "1.3.6.1.2.1.31.1.1.1.1",
  ifHighSpeed: "1.3.6.1.2.1.31.1.1.1.15",
  ifAlias: "1.3.6.1.2.1.31.1.1.1.18",
} as const;
export type IfColumn = keyof typeof IF_OIDS;
const COLUMNS = Object.keys(IF_OIDS) as IfColumn[];
const NUMERIC: ReadonlySet<IfColumn> = new Set(["ifSpeed", "ifHighSpeed"]);

/** One row of the walked columns, as the agent answered (absent column = undefined). */
export interface SnmpRow {
  ifDescr?: string;
  ifSpeed?: number;
  ifName?: string;
  ifHighSpeed?: number;
  ifAlias?: string;
}

/** ifName (else ifDescr), ifAlias, ifHighSpeed × 1e6 (else ifSpeed). */
export function rowToInfo(r: SnmpRow): InterfaceInfo {
  const high = r.ifHighSpeed ?? 0;
  return {
    name: r.ifName || r.ifDescr || "",
    description: r.ifAlias ?? "",
    speedBps: high > 0 ? high * 1_000_000 : (r.ifSpeed ?? 0),
  };
}

interface Agent {
  exporter: string;
  host: string;
  port: number;
  cred: SnmpCredential;
  rows: Map<number, SnmpRow>;
  interfaces: Map<number, InterfaceInfo>;
  status: SourceState["status"];
  updatedMs: number | null;
  errors: number;
  lastError: string | null;
  polls: number;
  requests: number;
  lastPollMs: number | null;
  lastDurationMs: number;
  nextPollMs: number | null;
  timer: NodeJS.Timeout | null;
  polling: Promise<void> | null;
  /** Pacing: earliest time (Date.now) the next request may leave. */
  nextRequestMs: number;
}

export interface SnmpPollerDeps {
  log?: Logger;
  /**
   * JSON file the last good poll of every agent is saved to (after each poll)
   * and loaded from at start, so names survive a restart and a restart does
   * not poll every agent at once; "" or absent = memory only.
   */
  cacheFile?: string;
  /** Clock for timestamps in states (pacing and timers use the real clock). */
  now?: () => number;
}

function compareOids(a: string, b: string): number {
  const x = a.split(".");
  const y = b.split(".");
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = Number(x[i]) - Number(y[i]);
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

function decodeValue(col: IfColumn, v: unknown): string | number | undefined {
  if (NUMERIC.has(col)) {
    if (typeof v === "number") return v;
    if (typeof v === "bigint") return Number(v);
    if (Buffer.isBuffer(v)) {
      let n = 0;
      for (const b of v) n = n * 256 + b;
      return n;
    }
    return undefined;
  }
  if (Buffer.isBuffer(v)) {
    let e = v.length;
    while (e > 0 && v[e - 1] === 0) e--; // some agents NUL-terminate DisplayStrings
    return v.subarray(0, e).toString("utf8").trim();
  }
  return typeof v === "string" ? v.trim() : undefined;
}

class StopError extends Error {}

/** Cache file writes are batched over this long. */
const SAVE_DELAY_MS = 30_000;

export class SnmpPoller {
  private readonly cfg: SnmpConfig;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly cacheFile: string;
  /** The cache write in progress (one at a time; stop() waits for it). */
  private saving: Promise<void> = Promise.resolve();
  private saveTimer: NodeJS.Timeout | null = null;
  private readonly agents = new Map<string, Agent>();
  private readonly creds: { prefix: Prefix; cred: SnmpCredential }[] = [];
  private readonly sessions = new Set<snmp.Session>();
  private readonly stopWaiters = new Set<(err: Error) => void>();
  private running = false;
  private active = 0;
  private readonly queue: (() => void)[] = [];
  /** Called with the exporter whenever its interface table changes. */
  onChange: (exporter: string) => void = () => {};

  constructor(cfg: SnmpConfig, deps: SnmpPollerDeps = {}) {
    this.cfg = cfg;
    this.log = deps.log ?? silentLogger;
    this.now = deps.now ?? Date.now;
    this.cacheFile = deps.cacheFile ?? "";
    for (const [text, cred] of Object.entries(cfg.credentials)) {
      const prefix = parsePrefix(text);
      if (typeof prefix !== "string") this.creds.push({ prefix, cred });
    }
    // Longest prefix first: the first that contains the exporter wins.
    this.creds.sort((a, b) => b.prefix.bits - a.prefix.bits);
  }

  get enabled(): boolean {
    return this.cfg.enabled;
  }

  /** Credentials for an exporter: the longest configured prefix holding it, else v2c with `community`. */
  credentialFor(exporter: string): SnmpCredential {
    const ip = parseIp(exporter);
    if (ip) for (const c of this.creds) if (prefixContains(c.prefix, ip)) return c.cred;
    return { version: "2c", community: this.cfg.community };
  }

  /** An exporter was heard: poll it now if it is new. Cheap when known (one Map lookup). */
  seen(exporter: string): void {
    if (!this.cfg.enabled || this.agents.has(exporter)) return;
    const a = this.create(exporter);
    if (this.running) this.schedule(a, 0);
  }

  private create(exporter: string): Agent {
    const agentText = this.cfg.agents[exporter] ?? exporter;
    const parsed = parseAgent(agentText, this.cfg.port);
    const { host, port } = typeof parsed === "string" ? { host: agentText, port: this.cfg.port } : parsed;
    const a: Agent = {
      exporter,
      host,
      port,
      cred: this.credentialFor(exporter),
      rows: new Map(),
      interfaces: new Map(),
      status: "loading",
      updatedMs: null,
      errors: 0,
      lastError: null,
      polls: 0,
      requests: 0,
      lastPollMs: null,
      lastDurationMs: 0,
      nextPollMs: null,
      timer: null,
      polling: null,
      nextRequestMs: 0,
    };
    this.agents.set(exporter, a);
    return a;
  }

  async start(): Promise<void> {
    if (!this.cfg.enabled || this.running) return;
    await this.loadCache();
    this.running = true;
    // Cached agents are polled when their data would have been due; new ones now.
    const now = this.now();
    for (const a of this.agents.values())
      this.schedule(
        a,
        a.updatedMs === null ? 0 : Math.max(0, a.updatedMs + this.cfg.pollIntervalSec * 1000 - now),
      );
  }

  /** Agents of the cache file (those still configured: SNMP on); a missing or broken file is no error. */
  private async loadCache(): Promise<void> {
    if (!this.cacheFile) return;
    let raw: unknown;
    try {
      raw = JSON.parse(await readFile(this.cacheFile, "utf8"));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT")
        this.log.warn("SNMP interface cache unreadable, polling afresh", {
          file: this.cacheFile,
          error: String(err),
        });
      return;
    }
    const agents =
      (raw as { agents?: Record<string, { updatedMs?: unknown; rows?: unknown }> })?.agents ?? {};
    for (const [exporter, c] of Object.entries(agents)) {
      if (typeof c.updatedMs !== "number" || !Array.isArray(c.rows) || this.agents.has(exporter)) continue;
      const a = this.create(exporter);
      for (const entry of c.rows as unknown[]) {
        if (
          !Array.isArray(entry) ||
          typeof entry[0] !== "number" ||
          typeof entry[1] !== "object" ||
          !entry[1]
        )
          continue;
        const r = entry[1] as Record<string, unknown>;
        const row: SnmpRow = {};
        for (const col of COLUMNS) {
          const v = r[col];
          if (NUMERIC.has(col) ? typeof v === "number" : typeof v === "string")
            (row as Record<string, unknown>)[col] = v;
        }
        a.rows.set(entry[0], row);
      }
      a.interfaces = new Map([...a.rows].map(([i, r]) => [i, rowToInfo(r)]));
      a.updatedMs = c.updatedMs;
      a.status = "loaded";
      this.onChange(exporter);
    }
  }

  /** Save at most every SAVE_DELAY_MS (the whole file is rewritten: many agents polling must not mean many writes). */
  private scheduleSave(): void {
    if (!this.cacheFile || this.saveTimer) return;
    this.saveTimer = setTimeout(() => {
      this.saveTimer = null;
      this.saving = this.saving.then(() => this.saveCache());
    }, SAVE_DELAY_MS);
    this.saveTimer.unref();
  }

  /** Save every agent's last good poll (write to a temporary file, then rename: never a half file). */
  private async saveCache(): Promise<void> {
    if (!this.cacheFile) return;
    const agents: Record<string, { updatedMs: number; rows: [number, SnmpRow][] }> = {};
    for (const a of this.agents.values())
      if (a.updatedMs !== null) agents[a.exporter] = { updatedMs: a.updatedMs, rows: [...a.rows] };
    const tmp = `${this.cacheFile}.tmp`;
    try {
      await mkdir(dirname(this.cacheFile), { recursive: true });
      await writeFile(tmp, JSON.stringify({ version: 1, agents }));
      await rename(tmp, this.cacheFile);
    } catch (err) {
      this.log.limited("snmp-cache", "warn", "SNMP interface cache not saved", {
        file: this.cacheFile,
        error: String(err),
      });
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    for (const a of this.agents.values()) {
      if (a.timer) clearTimeout(a.timer);
      a.timer = null;
      a.nextPollMs = null;
    }
    const stop = new StopError("stopped");
    for (const w of this.stopWaiters) w(stop);
    this.stopWaiters.clear();
    for (const s of this.sessions) this.closeSession(s);
    this.queue.length = 0;
    await Promise.allSettled([...this.agents.values()].map((a) => a.polling ?? Promise.resolve()));
    if (this.saveTimer) {
      clearTimeout(this.saveTimer);
      this.saveTimer = null;
      this.saving = this.saving.then(() => this.saveCache());
    }
    await this.saving;
  }

  /** Poll one exporter now (registering it if new) and wait for the result; resolves either way. */
  async pollNow(exporter: string): Promise<void> {
    if (!this.cfg.enabled) return;
    this.seen(exporter);
    const a = this.agents.get(exporter)!;
    if (a.timer) clearTimeout(a.timer);
    a.timer = null;
    await this.poll(a);
  }

  /** Raw rows of the last good poll (for comparisons and the API). */
  rows(exporter: string): ReadonlyMap<number, SnmpRow> | undefined {
    return this.agents.get(exporter)?.rows;
  }

  get(exporter: string): ReadonlyMap<number, InterfaceInfo> | undefined {
    const m = this.agents.get(exporter)?.interfaces;
    return m && m.size ? m : undefined;
  }

  exporters(): string[] {
    return [...this.agents.values()].filter((a) => a.interfaces.size > 0).map((a) => a.exporter);
  }

  states(): SourceState[] {
    return [...this.agents.values()].map((a) => ({
      name: `snmp:${a.exporter}`,
      kind: "snmp",
      status: a.status,
      entries: a.interfaces.size,
      updatedMs: a.updatedMs,
      errors: a.errors,
      lastError: a.lastError,
      detail: {
        agent: isIP(a.host) === 6 ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`,
        version: a.cred.version,
        polls: a.polls,
        requests: a.requests,
        lastPollMs: a.lastPollMs ?? 0,
        lastDurationMs: a.lastDurationMs,
        nextPollMs: a.nextPollMs ?? 0,
      },
    }));
  }

  private schedule(a: Agent, delayMs: number): void {
    if (!this.running) return;
    if (a.timer) clearTimeout(a.timer);
    a.nextPollMs = this.now() + delayMs;
    a.timer = setTimeout(() => {
      a.timer = null;
      void this.poll(a);
    }, delayMs);
    a.timer.unref();
  }

  /** One poll through the concurrency limit; never rejects; reschedules itself when running. */
  private poll(a: Agent): Promise<void> {
    if (a.polling) return a.polling;
    a.polling = (async () => {
      try {
        await this.acquire();
      } catch {
        return; // stopped while queued
      }
      const t0 = Date.now();
      let ok = false;
      try {
        const rows = await this.walk(a);
        a.rows = rows;
        a.interfaces = new Map([...rows].map(([i, r]) => [i, rowToInfo(r)]));
        a.status = "loaded";
        a.updatedMs = this.now();
        a.lastError = null;
        ok = true;
        this.onChange(a.exporter);
        this.scheduleSave();
      } catch (err) {
        if (err instanceof StopError) return;
        a.errors++;
        a.status = "error";
        a.lastError = this.describe(a, err as Error);
        this.log.limited(`snmp:${a.exporter}`, "warn", "SNMP interface poll failed", {
          exporter: a.exporter,
          agent: `${a.host}:${a.port}`,
          error: a.lastError,
        });
      } finally {
        a.polls++;
        a.lastPollMs = this.now();
        a.lastDurationMs = Date.now() - t0;
        this.release();
      }
      this.schedule(a, (ok ? this.cfg.pollIntervalSec : this.cfg.retryIntervalSec) * 1000);
    })().finally(() => {
      a.polling = null;
    });
    return a.polling;
  }

  private describe(a: Agent, err: Error): string {
    const name = err.name || "Error";
    if (name === "RequestTimedOutError")
      return (
        `timeout: no answer from ${a.host}:${a.port} after ${this.cfg.retries + 1} tries of ${this.cfg.timeoutMs} ms ` +
        `(agent down or unreachable, or ${a.cred.version === "2c" ? "community" : "user"} refused)`
      );
    return `${name}: ${err.message}`;
  }

  private acquire(): Promise<void> {
    if (this.active < this.cfg.maxConcurrentPolls) {
      this.active++;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const waiter = (err: Error): void => reject(err);
      this.stopWaiters.add(waiter);
      this.queue.push(() => {
        this.stopWaiters.delete(waiter);
        this.active++;
        resolve();
      });
    });
  }

  private release(): void {
    this.active--;
    const next = this.queue.shift();
    if (next) next();
  }

  private openSession(a: Agent): snmp.Session {
    const options: snmp.SessionOptions = {
      port: a.port,
      retries: this.cfg.retries,
      timeout: this.cfg.timeoutMs,
      transport: isIP(a.host) === 6 ? "udp6" : "udp4",
    };
    const c = a.cred;
    let s: snmp.Session;
    if (c.version === "2c")
      s = snmp.createSession(a.host, c.community, { ...options, version: snmp.Version2c });
    else {
      const user: snmp.User = { name: c.user, level: snmp.SecurityLevel[c.level] };
      if (c.level !== "noAuthNoPriv") {
        user.authProtocol = snmp.AuthProtocols[c.authProtocol];
        user.authKey = c.authKey;
      }
      if (c.level === "authPriv") {
        user.privProtocol = snmp.PrivProtocols[c.privProtocol];
        user.privKey = c.privKey;
      }
      s = snmp.createV3Session(a.host, user, { ...options, version: snmp.Version3, context: c.context });
    }
    // A socket error must not become an uncaught exception; the pending request fails with it.
    s.on("error", (err) =>
      this.log.limited(`snmp-socket:${a.exporter}`, "warn", "SNMP socket error", { error: String(err) }),
    );
    this.sessions.add(s);
    return s;
  }

  private closeSession(s: snmp.Session): void {
    this.sessions.delete(s);
    try {
      s.close();
    } catch {
      // already closed
    }
  }

  /** Wait for the agent's request pacing slot (requestsPerSecond). */
  private async pace(a: Agent): Promise<void> {
    const gap = 1000 / this.cfg.requestsPerSecond;
    const t = Date.now();
    const at = Math.max(t, a.nextRequestMs);
    a.nextRequestMs = at + gap;
    if (at > t) await this.sleep(at - t);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const waiter = (err: Error): void => {
        clearTimeout(timer);
        reject(err);
      };
      const timer = setTimeout(() => {
        this.stopWaiters.delete(waiter);
        resolve();
      }, ms);
      this.stopWaiters.add(waiter);
    });
  }

  private getBulk(s: snmp.Session, oids: string[]): Promise<(snmp.Varbind | snmp.Varbind[])[]> {
    return new Promise((resolve, reject) => {
      const waiter = (err: Error): void => reject(err);
      this.stopWaiters.add(waiter);
      s.getBulk(oids, 0, this.cfg.maxRepetitions, (err, varbinds) => {
        this.stopWaiters.delete(waiter);
        if (err) reject(err);
        else resolve(varbinds ?? []);
      });
    });
  }

  /** Walk the five columns side by side; resolves with the rows, rejects on the first failed request. */
  private async walk(a: Agent): Promise<Map<number, SnmpRow>> {
    const rows = new Map<number, SnmpRow>();
    const cursors = new Map<IfColumn, string>(COLUMNS.map((c) => [c, IF_OIDS[c]]));
    const s = this.openSession(a);
    try {
      while (cursors.size > 0) {
        const cols = [...cursors.keys()];
        await this.pace(a);
        a.requests++;
        const answer = await this.getBulk(
          s,
          cols.map((c) => cursors.get(c)!),
        );
        cols.forEach((col, i) => {
          const got = answer[i];
          const list = Array.isArray(got) ? got : got ? [got] : [];
          const base = IF_OIDS[col] + ".";
          let cursor = cursors.get(col)!;
          let done = list.length === 0;
          for (const vb of list) {
            if (snmp.isVarbindError(vb) || !vb.oid.startsWith(base) || compareOids(vb.oid, cursor) <= 0) {
              done = true;
              break;
            }
            cursor = vb.oid;
            const rest = vb.oid.slice(base.length);
            if (!/^\d{1,10}$/.test(rest)) continue;
            const ifIndex = Number(rest);
            let row = rows.get(ifIndex);
            if (!row) {
              if (rows.size >= this.cfg.maxInterfaces) {
                done = true;
                break;
              }
              row = {};
              rows.set(ifIndex, row);
            }
            const v = decodeValue(col, vb.value);
            if (v !== undefined) (row as Record<string, string | number>)[col] = v;
          }
          if (done) cursors.delete(col);
          else cursors.set(col, cursor);
        });
      }
    } finally {
      this.closeSession(s);
    }
    return rows;
  }
}
