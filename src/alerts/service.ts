// AlertService: evaluates alert rules and sends notifications.
//
// Rule sources (docs/alerts.md):
//   attack   triggered while at least one ongoing attack matches (minBps /
//            minPps against the attack's peak, vectors against its
//            fingerprint); ok once the last matching attack ended
//   anomaly  the same with anomaly events (minScore against the peak score,
//            series kinds)
//   query    every intervalSec the saved query runs in the SQL sandbox (read
//            only, alerts.queryTimeoutMs); a column of the first row, or the
//            row count, compared with the threshold: triggered when the
//            comparison holds, ok when not, unknown when it cannot be made
//            (query error, time-out, no row, no such column, not a number,
//            query deleted)
//
// Each state change is notified to every destination of the rule, except:
//   - silence: while silencedUntil is in the future, the notifications are
//     recorded as "silenced" (suppressed "silence") and not sent;
//   - re-arm: after a rule went back from triggered to ok (and that was
//     notified), it is re-armed only rearmSec later. A return to triggered
//     before then changes the state but is recorded, not sent (suppressed
//     "rearm"); if it is still triggered when the hold-down ends, the
//     triggered notification goes out then; if it returns to ok first, that ok
//     is not sent either (its triggered never was). So a flapping rule sends
//     at most one triggered/ok pair per rearmSec. Changes to and from unknown
//     are always notified.
//
// Detection never waits on this: DetectEvents listeners only update state and
// enqueue (delivery.ts); queries run one at a time on a timer.
import type { ContentStore } from "../content/store.js";
import { renderSql } from "../content/params.js";
import type {
  AlertRule,
  AlertStateName,
  AnomalyEvent,
  Attack,
  DetectEvent,
  DetectEvents,
  NotificationRecord,
} from "../detect/types.js";
import { newId } from "../content/store.js";
import { silentLogger, type Logger } from "../log.js";
import type { SqlEngine } from "../query/engine/sql-engine.js";
import type { AlertsConfig } from "./config.js";
import { Delivery, type Sender } from "./delivery.js";
import type { AlertPayload, QueryOutcome } from "./destinations.js";
import { AlertError, AlertStore, ruleFields, type RuleContext } from "./store.js";

export interface AlertServiceOptions {
  /** <dataDir>/alerts */
  dir: string;
  config: AlertsConfig;
  /** Saved queries (query rules); without it query rules cannot be created. */
  content?: ContentStore;
  /** The SQL sandbox; without it (store disabled) query rules are "unknown". */
  sql?: SqlEngine;
  /** The detectors' event hub; attack and anomaly rules listen to it. */
  events?: DetectEvents;
  now?: () => number;
  /** How often query rules and re-arm hold-downs are checked (default 1000 ms). */
  tickMs?: number;
  log?: Logger;
  /** Delivery function (tests may wrap it); default destinations.ts deliver. */
  send?: Sender;
}

/** What a state change carries into the notification. */
interface Detail {
  summary: string;
  attack?: Attack;
  anomaly?: AnomalyEvent;
  result?: QueryOutcome;
  error?: string;
}

interface Runtime {
  /** Ongoing attacks / anomaly events matching the rule, by id. */
  matching: Map<string, Attack | AnomalyEvent>;
  /** Query rules: when the next run is due. */
  nextRunMs: number;
  /** Re-arm anchor: when the rule last returned to ok with that notified. */
  okAtMs: number | null;
  /** A triggered notification held back by re-arm, sent at armAtMs if still triggered. */
  held: { armAtMs: number; detail: Detail; previous: AlertStateName } | null;
  /** Query rules: the last evaluation (GET …/rules/:id shows it). */
  last: QueryOutcome | null;
  lastError: string | null;
}

/** Ongoing attacks/anomalies remembered for rules created later; beyond it the oldest are forgotten. */
const MAX_ONGOING = 10_000;

export function formatRate(v: number, unit: string): string {
  const steps: [number, string][] = [
    [1e12, "T"],
    [1e9, "G"],
    [1e6, "M"],
    [1e3, "k"],
  ];
  for (const [f, p] of steps) if (Math.abs(v) >= f) return `${(v / f).toFixed(2)} ${p}${unit}`;
  return `${Math.round(v)} ${unit}`;
}

function attackMatches(rule: AlertRule, a: Attack): boolean {
  const s = rule.source;
  if (s.kind !== "attack") return false;
  if (s.minBps !== undefined && a.peak.bps < s.minBps) return false;
  if (s.minPps !== undefined && a.peak.pps < s.minPps) return false;
  if (s.vectors && s.vectors.length > 0 && !a.fingerprint.vectors.some((v) => s.vectors!.includes(v)))
    return false;
  return true;
}

/** Default minScore: 1, the documented anomaly threshold (src/detect/types.ts AnomalyPoint.score). */
function anomalyMatches(rule: AlertRule, e: AnomalyEvent): boolean {
  const s = rule.source;
  if (s.kind !== "anomaly") return false;
  if (e.peakScore < (s.minScore ?? 1)) return false;
  if (s.series && s.series.length > 0 && !s.series.includes(e.series)) return false;
  return true;
}

function attackText(a: Attack): string {
  return (
    `attack on ${a.target.prefix}${a.target.group ? ` (${a.target.group})` : ""}: ` +
    `${a.fingerprint.vectors.join(", ") || "unknown vector"}; peak ${formatRate(a.peak.bps, "bps")}, ` +
    `${formatRate(a.peak.pps, "pps")}`
  );
}

function anomalyText(e: AnomalyEvent): string {
  return `anomaly (${e.kind}) on ${e.series}${e.key ? ` ${e.key}` : ""}: peak score ${e.peakScore.toFixed(2)}`;
}

function compare(v: number, op: string, t: number): boolean {
  switch (op) {
    case ">":
      return v > t;
    case ">=":
      return v >= t;
    case "<":
      return v < t;
    case "<=":
      return v <= t;
    case "==":
      return v === t;
    default:
      return v !== t;
  }
}

/** A result cell as a number: numbers, numeric strings (DuckDB's BIGINT/HUGEINT/DECIMAL come as strings), booleans. */
function cellNumber(v: unknown): number | null {
  if (typeof v === "number") return Number.isFinite(v) ? v : null;
  if (typeof v === "boolean") return v ? 1 : 0;
  if (typeof v === "string" && /^\s*-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/.test(v)) return Number(v);
  return null;
}

function errText(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).slice(0, 500);
}

export class AlertService {
  readonly store: AlertStore;
  readonly config: AlertsConfig;
  readonly delivery: Delivery;
  private readonly content?: ContentStore;
  private readonly sql?: SqlEngine;
  private readonly events?: DetectEvents;
  readonly now: () => number;
  private readonly tickMs: number;
  private readonly log: Logger;
  private readonly rt = new Map<string, Runtime>();
  private readonly attacks = new Map<string, Attack>();
  private readonly anomalies = new Map<string, AnomalyEvent>();
  private unsubscribe: (() => void) | null = null;
  private timer: NodeJS.Timeout | null = null;
  private ticking: Promise<void> | null = null;
  private started = false;
  /** Query evaluations done (tests, metrics). */
  evaluations = 0;

  constructor(o: AlertServiceOptions) {
    this.config = o.config;
    this.content = o.content;
    this.sql = o.sql;
    this.events = o.events;
    this.now = o.now ?? Date.now;
    this.tickMs = o.tickMs ?? 1000;
    this.log = o.log ?? silentLogger;
    this.store = new AlertStore(o.dir, o.config.historyMax, this.log);
    this.delivery = new Delivery({
      config: o.config,
      record: (r) => this.store.append(r),
      now: this.now,
      send: o.send,
      log: this.log,
    });
  }

  /** Load rules and history, subscribe to detection events, start the timer. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.store.load();
    const now = this.now();
    for (const r of this.store.rules.values()) this.reset(r, now);
    if (this.events) this.unsubscribe = this.events.on((e) => this.onEvent(e));
    this.timer = setInterval(() => void this.tick(), this.tickMs);
    this.timer.unref();
  }

  /** Stop the timer, wait for a query in progress, end delivery (queued notifications are recorded failed). */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    this.unsubscribe?.();
    this.unsubscribe = null;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.ticking;
    if (this.saveTimer) this.saveNow();
    await this.delivery.stop();
  }

  // ---- rules (the API calls these) ----

  private ctx(): RuleContext {
    return {
      queryExists: (id) => !!this.content?.queries.current(id),
      minIntervalSec: this.config.minIntervalSec,
      defaultSyslog: this.config.syslog.target,
      smtpConfigured: this.config.smtp.host !== "",
    };
  }

  list(): (AlertRule & { lastResult?: QueryOutcome | null; lastError?: string | null })[] {
    return this.store.list().map((r) => this.view(r));
  }

  get(id: string): AlertRule & { lastResult?: QueryOutcome | null; lastError?: string | null } {
    return this.view(this.store.get(id));
  }

  private view(r: AlertRule): AlertRule & { lastResult?: QueryOutcome | null; lastError?: string | null } {
    const rt = this.rt.get(r.id);
    if (r.source.kind !== "query") return { ...r };
    return { ...r, lastResult: rt?.last ?? null, lastError: rt?.lastError ?? null };
  }

  create(body: Record<string, unknown>, user: string): AlertRule {
    const now = this.now();
    const r = this.store.create(ruleFields(body, this.ctx()), user, now);
    this.reset(r, now);
    return { ...r };
  }

  update(id: string, body: Record<string, unknown>): AlertRule {
    const cur = this.store.get(id);
    const now = this.now();
    const r = this.store.update(id, ruleFields(body, this.ctx(), cur), now);
    // A new source starts a new evaluation; the state and re-arm anchor carry on.
    const prev = this.rt.get(id);
    this.reset(r, now, prev);
    return { ...r };
  }

  delete(id: string): void {
    this.store.delete(id);
    this.rt.delete(id);
  }

  /** Silence for `minutes` from now (0 = unsilence). */
  silence(id: string, minutes: unknown): AlertRule {
    if (typeof minutes !== "number" || !Number.isInteger(minutes) || minutes < 0 || minutes > 30 * 1440)
      throw new AlertError(400, "minutes must be an integer in 0-43200 (0 = unsilence)");
    const r = this.store.get(id);
    r.silencedUntil = minutes === 0 ? null : this.now() + minutes * 60_000;
    this.store.saveRules();
    return { ...r };
  }

  /** Send a test notification to each destination now (one attempt each, silence ignored). */
  async test(id: string): Promise<NotificationRecord[]> {
    const r = this.store.get(id);
    const now = this.now();
    const p = this.payload(r, "test", null, { summary: `test notification (rule is ${r.state})` }, now);
    return Promise.all(r.destinations.map((d) => this.delivery.once(d, p)));
  }

  history(ruleId = "", limit = 100): NotificationRecord[] {
    return this.store.historyList(ruleId, limit);
  }

  /** (Re)build a rule's runtime: match ongoing events, schedule its query. */
  private reset(r: AlertRule, now: number, prev?: Runtime): void {
    const rt: Runtime = {
      matching: new Map(),
      nextRunMs: now,
      okAtMs: prev?.okAtMs ?? null,
      held: prev?.held ?? null,
      last: null,
      lastError: null,
    };
    this.rt.set(r.id, rt);
    if (!r.enabled) return;
    if (r.source.kind === "attack")
      for (const a of this.attacks.values()) if (attackMatches(r, a)) rt.matching.set(a.id, a);
    if (r.source.kind === "anomaly")
      for (const e of this.anomalies.values()) if (anomalyMatches(r, e)) rt.matching.set(e.id, e);
    if (r.source.kind === "attack" || r.source.kind === "anomaly") {
      const first = rt.matching.values().next().value;
      if (first && r.state !== "triggered")
        this.transition(r, "triggered", this.eventDetail(first, true), now);
      else if (!first && r.state !== "ok")
        this.transition(
          r,
          "ok",
          { summary: `no matching ${r.source.kind === "attack" ? "attack" : "anomaly"} is ongoing` },
          now,
        );
    }
  }

  private eventDetail(x: Attack | AnomalyEvent, started: boolean): Detail {
    if ("target" in x) return { summary: started ? attackText(x) : `${attackText(x)} — ended`, attack: x };
    return { summary: started ? anomalyText(x) : `${anomalyText(x)} — ended`, anomaly: x };
  }

  // ---- detection events ----

  /** A DetectEvents listener: synchronous, never waits for delivery. */
  onEvent(e: DetectEvent): void {
    const now = this.now();
    if (e.type === "attack_started" || e.type === "attack_updated") {
      remember(this.attacks, e.attack.id, e.attack);
      this.matchStart("attack", e.attack, (r) => attackMatches(r, e.attack), now);
    } else if (e.type === "attack_ended") {
      this.attacks.delete(e.attack.id);
      this.matchEnd("attack", e.attack, now);
    } else if (e.type === "anomaly_started") {
      remember(this.anomalies, e.event.id, e.event);
      this.matchStart("anomaly", e.event, (r) => anomalyMatches(r, e.event), now);
    } else if (e.type === "anomaly_ended") {
      this.anomalies.delete(e.event.id);
      this.matchEnd("anomaly", e.event, now);
    }
  }

  private matchStart(
    kind: "attack" | "anomaly",
    x: Attack | AnomalyEvent,
    matches: (r: AlertRule) => boolean,
    now: number,
  ): void {
    for (const r of this.store.rules.values()) {
      if (!r.enabled || r.source.kind !== kind) continue;
      const rt = this.rt.get(r.id);
      if (!rt) continue;
      if (rt.matching.has(x.id)) {
        rt.matching.set(x.id, x);
        continue;
      }
      if (!matches(r)) continue;
      remember(rt.matching, x.id, x);
      if (r.state !== "triggered") this.transition(r, "triggered", this.eventDetail(x, true), now);
      // Already triggered by another attack (anomaly): no state change, but a new
      // target is news to the operator, so it is notified too (silence still applies).
      else this.notify(r, "triggered", "triggered", this.eventDetail(x, true), now);
    }
  }

  private matchEnd(kind: "attack" | "anomaly", x: Attack | AnomalyEvent, now: number): void {
    for (const r of this.store.rules.values()) {
      if (!r.enabled || r.source.kind !== kind) continue;
      const rt = this.rt.get(r.id);
      if (!rt?.matching.delete(x.id)) continue;
      if (rt.matching.size === 0 && r.state !== "ok")
        this.transition(r, "ok", this.eventDetail(x, false), now);
    }
  }

  // ---- the timer: query rules, re-arm hold-downs ----

  /** Run due query rules (one at a time) and release re-armed notifications. Concurrent calls share one run. */
  tick(now = this.now()): Promise<void> {
    if (this.ticking) return this.ticking;
    const run = this.runDue(now)
      .catch((err: unknown) =>
        this.log.limited("alerts-tick", "error", "alert evaluation failed", { error: errText(err) }),
      )
      .finally(() => {
        this.ticking = null;
      });
    this.ticking = run;
    return run;
  }

  private async runDue(now: number): Promise<void> {
    for (const r of [...this.store.rules.values()]) {
      const rt = this.rt.get(r.id);
      if (!rt || !r.enabled) continue;
      // The query first: a rule that is ok again by now must not send its held triggered.
      if (r.source.kind === "query" && now >= rt.nextRunMs && this.started) {
        rt.nextRunMs = now + r.source.intervalSec * 1000;
        await this.evaluateQuery(r, now);
      }
      if (rt.held && r.state === "triggered" && now >= rt.held.armAtMs && this.rt.get(r.id) === rt) {
        const h = rt.held;
        rt.held = null;
        this.notify(
          r,
          "triggered",
          h.previous,
          { ...h.detail, summary: `${h.detail.summary} (held by re-arm until now)` },
          now,
        );
      }
    }
  }

  /** Evaluate query rule `r` now (also used by tests to drive simulated time). */
  async evaluateQuery(r: AlertRule, now = this.now()): Promise<AlertStateName> {
    const src = r.source;
    if (src.kind !== "query") throw new Error("not a query rule");
    const q = this.content?.queries.current(src.queryId);
    const base: QueryOutcome = {
      queryId: src.queryId,
      queryName: q?.name ?? "",
      measure: src.measure,
      column: src.measure === "rows" ? null : (src.column ?? null),
      op: src.op,
      threshold: src.value,
      value: null,
      rows: null,
    };
    let next: AlertStateName;
    let detail: Detail;
    try {
      if (!q) throw new Error(`saved query ${src.queryId} no longer exists`);
      if (!this.sql) throw new Error("no SQL service (the store is disabled)");
      const text = renderSql(q.sql, q.params, src.params ?? {}, now);
      const opts = { timeoutMs: this.config.queryTimeoutMs, limit: 1 };
      if (src.measure === "rows") {
        // Counted by DuckDB, not by paging the rows through here. The newline
        // before ")" ends a trailing "-- comment" of the saved query.
        const body = text.replace(/;\s*$/, "");
        const page = await this.sql.query(`SELECT count(*) AS n FROM (\n${body}\n) AS nagare_alert_q`, opts);
        base.rows = base.value = cellNumber(page.rows[0]?.[0]);
        if (base.value === null) throw new Error("row count unavailable");
      } else {
        const page = await this.sql.query(text, opts);
        const row = page.rows[0];
        if (!row) throw new Error("the query returned no row");
        const idx = src.column ? page.columns.findIndex((c) => c.name === src.column) : 0;
        if (idx < 0)
          throw new Error(`no column ${src.column} (columns: ${page.columns.map((c) => c.name).join(", ")})`);
        base.column = page.columns[idx]?.name ?? null;
        base.value = cellNumber(row[idx]);
        if (base.value === null)
          throw new Error(
            `column ${base.column ?? "?"} is not a number: ${JSON.stringify(row[idx])?.slice(0, 100)}`,
          );
      }
      const hit = compare(base.value, src.op, src.value);
      next = hit ? "triggered" : "ok";
      const what = src.measure === "rows" ? "rows" : (base.column ?? "value");
      detail = {
        summary: hit
          ? `${q.name}: ${what} = ${base.value} ${src.op} ${src.value}`
          : `${q.name}: ${what} = ${base.value} (threshold ${src.op} ${src.value} not met)`,
        result: { ...base },
      };
    } catch (err) {
      next = "unknown";
      const msg = errText(err);
      detail = {
        summary: `${q?.name ?? src.queryId}: cannot evaluate: ${msg}`,
        result: { ...base },
        error: msg,
      };
    }
    this.evaluations++;
    // The rule may have been deleted or edited while the query ran: its result is then stale.
    if (this.store.rules.get(r.id) !== r || r.source !== src) return next;
    const rt = this.rt.get(r.id);
    if (rt) {
      rt.last = detail.result ?? null;
      rt.lastError = detail.error ?? null;
    }
    if (r.state !== next) this.transition(r, next, detail, now);
    return next;
  }

  // ---- state changes and notifications ----

  private saveTimer: NodeJS.Immediate | null = null;

  /**
   * Save rules.json after the current event: a burst of state changes (many
   * rules, one attack) is one write, and the detector's emit() does no disk I/O.
   */
  private saveSoon(): void {
    if (this.saveTimer) return;
    this.saveTimer = setImmediate(() => this.saveNow());
  }

  private saveNow(): void {
    if (this.saveTimer) clearImmediate(this.saveTimer);
    this.saveTimer = null;
    try {
      this.store.saveRules();
    } catch (err) {
      this.log.limited("alerts-save", "error", "cannot save alert rules", { error: errText(err) });
    }
  }

  private transition(r: AlertRule, next: AlertStateName, detail: Detail, now: number): void {
    const prev = r.state;
    if (prev === next) return;
    r.state = next;
    r.stateSince = now;
    this.saveSoon();
    const rt = this.rt.get(r.id);
    let held = false;
    if (rt) {
      if (next === "triggered") {
        const armAt = rt.okAtMs === null ? -Infinity : rt.okAtMs + r.rearmSec * 1000;
        if (now < armAt) {
          held = true;
          rt.held = { armAtMs: armAt, detail, previous: prev };
        }
      } else if (rt.held) {
        // Its triggered was never sent: an ok is not sent either; unknown always is.
        held = next === "ok";
        rt.held = null;
      } else if (next === "ok" && prev === "triggered") {
        rt.okAtMs = now;
      }
    }
    this.notify(r, next, prev, detail, now, held ? "rearm" : undefined);
  }

  private payload(
    r: AlertRule,
    state: AlertPayload["state"],
    prev: AlertStateName | null,
    d: Detail,
    now: number,
  ): AlertPayload {
    const p: AlertPayload = {
      version: 1,
      rule: { id: r.id, name: r.name, source: r.source },
      state,
      previousState: prev,
      atMs: now,
      at: new Date(now).toISOString(),
      summary: d.summary,
    };
    if (d.attack) p.attack = d.attack;
    if (d.anomaly) p.anomaly = d.anomaly;
    if (d.result) p.result = d.result;
    if (d.error) p.error = d.error;
    return p;
  }

  private notify(
    r: AlertRule,
    state: AlertStateName,
    prev: AlertStateName,
    d: Detail,
    now: number,
    suppressed?: "rearm",
  ): void {
    const p = this.payload(r, state, prev, d, now);
    const why = r.silencedUntil !== null && now < r.silencedUntil ? "silence" : suppressed;
    for (const dest of r.destinations) {
      if (why) {
        this.store.append({
          id: newId(),
          ruleId: r.id,
          ruleName: r.name,
          atMs: now,
          state,
          destination: dest,
          outcome: "silenced",
          attempts: 0,
          error: null,
          summary: p.summary,
          eventAtMs: now,
          suppressed: why,
        });
      } else {
        this.delivery.enqueue(dest, p);
      }
    }
  }
}

function remember<V>(m: Map<string, V>, k: string, v: V): void {
  m.delete(k);
  m.set(k, v);
  if (m.size > MAX_ONGOING) m.delete(m.keys().next().value!);
}
