// Alert rules and the notification history, persisted under <dataDir>/alerts/:
//
//   rules.json       [AlertRule, …]  whole file rewritten atomically on each change
//   history.jsonl    one NotificationRecord per line, appended; trimmed to the
//                    newest historyMax records once it holds twice as many, so
//                    the file stays bounded without a rewrite per record
//
// Validation of rule bodies lives here too: every problem is an AlertError
// (400) whose message names the field ("destinations[1].target: …").
import { appendFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { newId, writeAtomic } from "../content/store.js";
import { silentLogger, type Logger } from "../log.js";
import {
  ANOMALY_SERIES,
  ATTACK_VECTORS,
  type AlertRule,
  type AlertSource,
  type AnomalySeriesKind,
  type AttackVector,
  type Destination,
  type NotificationRecord,
} from "../detect/types.js";
import { EMAIL_RE, parseSyslogTarget } from "./config.js";

/** A problem with a request: status (400/404/503) and a message for the caller. */
export class AlertError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export const OPS = [">", ">=", "<", "<=", "==", "!="] as const;
const ID_RE = /^[A-Za-z0-9_-]{1,64}$/;
const MAX_DESTINATIONS = 20;
const MAX_REARM_SEC = 7 * 86_400;

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function bad(msg: string): never {
  throw new AlertError(400, msg);
}

function num(v: unknown, key: string, min: number, max: number, integer = false): number {
  if (typeof v !== "number" || !Number.isFinite(v) || (integer && !Number.isInteger(v)) || v < min || v > max)
    bad(`${key} must be ${integer ? "an integer" : "a number"} in ${min}-${max}`);
  return v;
}

function onlyKeys(o: Obj, known: string[], key: string): void {
  for (const k of Object.keys(o))
    if (!known.includes(k)) bad(`${key}.${k}: unknown field (known: ${known.join(", ")})`);
}

/** What validation needs to know beyond the body. */
export interface RuleContext {
  /** Whether a saved query with this id exists. */
  queryExists(id: string): boolean;
  minIntervalSec: number;
  /** alerts.syslog.target: a syslog destination with target "" uses it. */
  defaultSyslog: string;
  /** alerts.smtp.host is set. */
  smtpConfigured: boolean;
}

export function validateSource(v: unknown, ctx: RuleContext): AlertSource {
  if (!isObj(v)) bad('source must be an object with kind "attack", "anomaly" or "query"');
  switch (v.kind) {
    case "attack": {
      onlyKeys(v, ["kind", "minBps", "minPps", "vectors"], "source");
      const s: AlertSource & { kind: "attack" } = { kind: "attack" };
      if (v.minBps !== undefined && v.minBps !== null) s.minBps = num(v.minBps, "source.minBps", 0, 1e15);
      if (v.minPps !== undefined && v.minPps !== null) s.minPps = num(v.minPps, "source.minPps", 0, 1e15);
      if (v.vectors !== undefined && v.vectors !== null) {
        if (!Array.isArray(v.vectors)) bad("source.vectors must be a list of attack vectors");
        s.vectors = v.vectors.map((x, i) => {
          if (!ATTACK_VECTORS.includes(x as AttackVector))
            bad(`source.vectors[${i}]: ${JSON.stringify(x)} is not one of ${ATTACK_VECTORS.join(", ")}`);
          return x as AttackVector;
        });
      }
      return s;
    }
    case "anomaly": {
      onlyKeys(v, ["kind", "minScore", "series"], "source");
      const s: AlertSource & { kind: "anomaly" } = { kind: "anomaly" };
      if (v.minScore !== undefined && v.minScore !== null)
        s.minScore = num(v.minScore, "source.minScore", 0, 1e9);
      if (v.series !== undefined && v.series !== null) {
        if (!Array.isArray(v.series)) bad("source.series must be a list of series kinds");
        s.series = v.series.map((x, i) => {
          if (!ANOMALY_SERIES.includes(x as AnomalySeriesKind))
            bad(`source.series[${i}]: ${JSON.stringify(x)} is not one of ${ANOMALY_SERIES.join(", ")}`);
          return x as AnomalySeriesKind;
        });
      }
      return s;
    }
    case "query": {
      onlyKeys(v, ["kind", "queryId", "column", "op", "value", "measure", "intervalSec", "params"], "source");
      if (typeof v.queryId !== "string" || !ID_RE.test(v.queryId))
        bad("source.queryId must be a saved query id");
      if (!ctx.queryExists(v.queryId)) bad(`source.queryId: no saved query ${v.queryId}`);
      if (!OPS.includes(v.op as (typeof OPS)[number]))
        bad(`source.op: ${JSON.stringify(v.op)} is not one of ${OPS.join(" ")}`);
      const measure = v.measure ?? "value";
      if (measure !== "value" && measure !== "rows") bad('source.measure must be "value" or "rows"');
      const s: AlertSource & { kind: "query" } = {
        kind: "query",
        queryId: v.queryId,
        op: v.op as (typeof OPS)[number],
        value: num(v.value, "source.value", -Number.MAX_VALUE, Number.MAX_VALUE),
        measure,
        intervalSec: num(v.intervalSec ?? 60, "source.intervalSec", ctx.minIntervalSec, 86_400, true),
      };
      if (v.column !== undefined && v.column !== null && v.column !== "") {
        if (typeof v.column !== "string" || v.column.length > 200) bad("source.column must be a column name");
        s.column = v.column;
      }
      if (v.params !== undefined && v.params !== null) {
        if (!isObj(v.params)) bad("source.params must be an object of parameter name → value");
        const p: Record<string, string | number> = {};
        for (const [k, x] of Object.entries(v.params)) {
          if (typeof x !== "string" && (typeof x !== "number" || !Number.isFinite(x)))
            bad(`source.params.${k} must be a string or a number`);
          p[k] = x;
        }
        s.params = p;
      }
      return s;
    }
    default:
      bad('source.kind must be "attack", "anomaly" or "query"');
  }
}

export function validateDestination(v: unknown, key: string, ctx: RuleContext): Destination {
  if (!isObj(v)) bad(`${key} must be an object {kind, target}`);
  onlyKeys(v, ["kind", "target"], key);
  const target = v.target ?? "";
  if (typeof target !== "string" || target.length > 2000) bad(`${key}.target must be a string`);
  switch (v.kind) {
    case "webhook":
    case "slack": {
      let u: URL;
      try {
        u = new URL(target);
      } catch {
        bad(`${key}.target: ${JSON.stringify(target)} is not a URL`);
      }
      if (u.protocol !== "http:" && u.protocol !== "https:")
        bad(`${key}.target: the URL must be http:// or https://`);
      return { kind: v.kind, target };
    }
    case "email":
      if (!EMAIL_RE.test(target)) bad(`${key}.target: ${JSON.stringify(target)} is not an email address`);
      if (!ctx.smtpConfigured) bad(`${key}: email needs an SMTP relay (config alerts.smtp.host)`);
      return { kind: "email", target };
    case "syslog": {
      if (target === "") {
        if (!ctx.defaultSyslog) bad(`${key}.target: empty and no default (config alerts.syslog.target)`);
        return { kind: "syslog", target: "" };
      }
      const p = parseSyslogTarget(target);
      if (typeof p === "string") bad(`${key}.target: ${JSON.stringify(target)} ${p}`);
      return { kind: "syslog", target };
    }
    default:
      bad(`${key}.kind must be "webhook", "slack", "email" or "syslog"`);
  }
}

/** The user-settable fields of a rule (POST/PUT body); `base` fills missing ones on PUT. */
export type RuleFields = Pick<AlertRule, "name" | "source" | "destinations" | "rearmSec" | "enabled">;

export function ruleFields(body: Obj, ctx: RuleContext, base?: RuleFields): RuleFields {
  const name = body.name ?? base?.name;
  if (typeof name !== "string" || name.trim() === "" || name.length > 200)
    bad("name must be 1-200 characters");
  const source = body.source === undefined && base ? base.source : validateSource(body.source, ctx);
  let destinations: Destination[];
  if (body.destinations === undefined && base) destinations = base.destinations;
  else {
    if (!Array.isArray(body.destinations) || body.destinations.length === 0)
      bad("destinations must be a non-empty list of {kind, target}");
    if (body.destinations.length > MAX_DESTINATIONS) bad(`at most ${MAX_DESTINATIONS} destinations`);
    destinations = body.destinations.map((d, i) => validateDestination(d, `destinations[${i}]`, ctx));
  }
  const rearmSec =
    body.rearmSec === undefined
      ? (base?.rearmSec ?? 300)
      : num(body.rearmSec, "rearmSec", 0, MAX_REARM_SEC, true);
  const en = body.enabled ?? base?.enabled ?? true;
  if (typeof en !== "boolean") bad("enabled must be true or false");
  return { name: name.trim(), source, destinations, rearmSec, enabled: en };
}

export class AlertStore {
  readonly dir: string;
  private readonly historyMax: number;
  private readonly log: Logger;
  readonly rules = new Map<string, AlertRule>();
  /** The newest historyMax records, oldest first. */
  private history: NotificationRecord[] = [];
  /** Lines in history.jsonl (trim when it reaches 2 × historyMax). */
  private fileLines = 0;

  constructor(dir: string, historyMax = 10_000, log: Logger = silentLogger) {
    this.dir = dir;
    this.historyMax = historyMax;
    this.log = log;
  }

  get rulesPath(): string {
    return join(this.dir, "rules.json");
  }
  get historyPath(): string {
    return join(this.dir, "history.jsonl");
  }

  load(): void {
    mkdirSync(this.dir, { recursive: true });
    if (existsSync(this.rulesPath)) {
      try {
        const list = JSON.parse(readFileSync(this.rulesPath, "utf8")) as AlertRule[];
        for (const r of list) if (r && typeof r.id === "string") this.rules.set(r.id, r);
      } catch (err) {
        // Left on disk for a human; starting with no rules beats not starting.
        this.log.error("alerts rules.json unreadable, ignored", { file: this.rulesPath, error: String(err) });
      }
    }
    if (existsSync(this.historyPath)) {
      const lines = readFileSync(this.historyPath, "utf8").split("\n");
      for (const line of lines) {
        if (!line) continue;
        this.fileLines++;
        try {
          this.history.push(JSON.parse(line) as NotificationRecord);
        } catch {
          // A torn last line after a crash: skipped.
        }
      }
      if (this.history.length > this.historyMax) this.history = this.history.slice(-this.historyMax);
    }
  }

  saveRules(): void {
    writeAtomic(this.rulesPath, JSON.stringify([...this.rules.values()], null, 1) + "\n");
  }

  get(id: string): AlertRule {
    const r = ID_RE.test(id) ? this.rules.get(id) : undefined;
    if (!r) throw new AlertError(404, `no alert rule ${id}`);
    return r;
  }

  list(): AlertRule[] {
    return [...this.rules.values()].sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id));
  }

  create(f: RuleFields, user: string, nowMs: number): AlertRule {
    const r: AlertRule = {
      id: newId(),
      ...f,
      silencedUntil: null,
      state: "ok",
      stateSince: nowMs,
      createdBy: user,
      updatedAt: new Date(nowMs).toISOString(),
    };
    this.rules.set(r.id, r);
    this.saveRules();
    return r;
  }

  update(id: string, f: RuleFields, nowMs: number): AlertRule {
    const r = this.get(id);
    Object.assign(r, f, { updatedAt: new Date(nowMs).toISOString() });
    this.saveRules();
    return r;
  }

  delete(id: string): void {
    this.get(id);
    this.rules.delete(id);
    this.saveRules();
  }

  /** Record a notification (memory and history.jsonl); trims the file when it has grown to twice the bound. */
  append(rec: NotificationRecord): void {
    this.history.push(rec);
    if (this.history.length > this.historyMax) this.history.splice(0, this.history.length - this.historyMax);
    try {
      if (this.fileLines + 1 >= 2 * this.historyMax) {
        writeAtomic(this.historyPath, this.history.map((h) => JSON.stringify(h) + "\n").join(""));
        this.fileLines = this.history.length;
      } else {
        appendFileSync(this.historyPath, JSON.stringify(rec) + "\n", { mode: 0o600 });
        this.fileLines++;
      }
    } catch (err) {
      this.log.limited("alerts-history", "error", "cannot write alert history", { error: String(err) });
    }
  }

  /** Newest first, optionally of one rule. */
  historyList(ruleId = "", limit = 100): NotificationRecord[] {
    const out: NotificationRecord[] = [];
    for (let i = this.history.length - 1; i >= 0 && out.length < limit; i--) {
      const h = this.history[i]!;
      if (!ruleId || h.ruleId === ruleId) out.push(h);
    }
    return out;
  }
}
