// Alert rules end to end, in simulated time (the service's clock is a
// variable), with real receivers (HTTP, UDP syslog, SMTP) and a real store:
// the IPFIX capture ipfixcol2 example_flows decoded by FlowDecoder into a
// StoreWriter, queried through the SqlService sandbox by saved queries
// (ContentStore).
//
// Covers: a query rule crossing its threshold and back (ok → triggered →
// ok), re-arm hold-down and its release, the row-count measure, failing
// queries (error, time limit, deleted query) → unknown, attack and anomaly
// rules fed through DetectEvents (matching by size, vector, score, series),
// silence, a hanging destination not delaying detection or other
// destinations, persistence, and the HTTP API with roles.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { defaultAlertsConfig, type AlertsConfig } from "../src/alerts/config.js";
import type { AlertPayload } from "../src/alerts/destinations.js";
import { AlertRoutes } from "../src/alerts/routes.js";
import { AlertService } from "../src/alerts/service.js";
import { AlertStore } from "../src/alerts/store.js";
import { HttpAuth } from "../src/api/auth-http.js";
import { UserStore, ensureAdmin } from "../src/api/auth.js";
import { HttpApi } from "../src/api/server.js";
import { CollectorStats } from "../src/collector/stats.js";
import { parseListen, type ListenAddress } from "../src/config/address.js";
import { ContentStore } from "../src/content/store.js";
import type { SavedQuery } from "../src/content/types.js";
import {
  DetectEvents,
  type AlertRule,
  type AnomalyEvent,
  type Attack,
  type AttackVector,
  type NotificationRecord,
} from "../src/detect/types.js";
import { SqlService } from "../src/query/sql/index.js";
import { StoreWriter } from "../src/store/writer.js";
import { HttpReceiver, UdpSyslog, parse5424, until } from "./helpers/alert-receivers.js";
import { decodeUnit } from "./helpers/captures.js";
import { TestSmtpServer } from "./helpers/smtp-server.js";

const UNIT = "ipfixcol2__example_flows";
const TOKEN = "d".repeat(32);
const dir = mkdtempSync(join(tmpdir(), "nagare-alert-rules-"));
const writer = new StoreWriter({ config: { path: join(dir, "flows.duckdb"), intervalMs: 1000 } });
const sql = new SqlService(() => writer.database, { timeoutMs: 5000, maxRows: 1000 });
const content = new ContentStore(join(dir, "content"));
const http = new HttpReceiver();
const udp = new UdpSyslog();
const smtp = new TestSmtpServer();
const events = new DetectEvents();
let clock = 0;
let service: AlertService;
let cfg: AlertsConfig;
const span = { start: 0, end: 0 };
let totalFlows = 0;
const stats = new CollectorStats();

/** Decode the capture into the store with receive times shifted by offsetMs. */
async function feed(offsetMs: number): Promise<void> {
  decodeUnit(UNIT, (b) => writer.consume(b), offsetMs, stats);
  await writer.flush();
}

async function direct(text: string): Promise<number> {
  const r = await writer.connection.runAndReadAll(text);
  return Number((r.getRowsJS()[0] as unknown[])[0]);
}

before(async () => {
  await writer.start();
  await feed(0);
  await sql.start();
  span.start = await direct("SELECT epoch_ms(min(time_received))::DOUBLE FROM flows_raw");
  span.end = (await direct("SELECT epoch_ms(max(time_received))::DOUBLE FROM flows_raw")) + 1;
  totalFlows = await direct("SELECT count(*)::DOUBLE FROM flows_raw");
  assert.equal(totalFlows, 3979);
  // The re-arm scenario below replays the capture 2.5 h later and needs it shorter than 30 min.
  assert.ok(span.end - span.start < 30 * 60_000, "capture spans under 30 minutes");
  content.load();
  await http.start();
  await udp.start();
  await smtp.start();
  cfg = {
    ...defaultAlertsConfig(),
    timeoutMs: 400,
    retry: { attempts: 2, initialDelayMs: 20, maxDelayMs: 40 },
    queryTimeoutMs: 2000,
    smtp: { ...defaultAlertsConfig().smtp, host: "127.0.0.1", port: smtp.port, from: "nagare@example.net" },
    syslog: { target: udp.target, facility: 16, hostname: "nagare-test" },
  };
  clock = span.start - 3600_000;
  service = new AlertService({
    dir: join(dir, "alerts"),
    config: cfg,
    content,
    sql,
    events,
    now: () => clock,
    tickMs: 3600_000,
  });
  service.start();
});

after(async () => {
  await service.stop();
  await http.stop();
  udp.stop();
  await smtp.stop();
  await sql.stop();
  await writer.stop();
  rmSync(dir, { recursive: true, force: true });
});

function query(name: string, text: string, params: SavedQuery["params"] = []): SavedQuery {
  return content.createQuery({ name, sql: text, params }, "tester");
}

function hook(path: string): AlertPayload[] {
  return http.on(path).map((h) => JSON.parse(h.body) as AlertPayload);
}

function historyOf(r: AlertRule): NotificationRecord[] {
  return service.history(r.id, 1000).slice().reverse();
}

/** Wait until the delivery queues are empty. */
async function settled(): Promise<void> {
  await until(() => service.delivery.pending === 0, "deliveries");
}

test("query rule: ok → triggered → ok on real flows, re-arm holds a quick re-trigger and releases it later", async () => {
  const q = query(
    "Flows in the last hour",
    "SELECT count(*) AS flows, 'x' AS label FROM flows_raw WHERE time_received >= {{ since }} AND time_received < {{ until }}",
    [
      { name: "since", type: "date", default: "now-1h" },
      { name: "until", type: "date", default: "now" },
    ],
  );
  const r = service.create(
    {
      name: "Flow surge",
      source: {
        kind: "query",
        queryId: q.id,
        column: "flows",
        op: ">",
        value: 1000,
        measure: "value",
        intervalSec: 60,
      },
      destinations: [
        { kind: "webhook", target: http.url("/q1") },
        { kind: "syslog", target: "" },
      ],
      rearmSec: 3600,
    },
    "tester",
  );
  assert.equal(r.state, "ok");

  // Before the capture: 0 flows, stays ok, nothing sent.
  await service.tick(clock);
  assert.equal(service.get(r.id).state, "ok");
  assert.equal(service.get(r.id).lastResult?.value, 0);
  assert.equal(hook("/q1").length, 0);

  // Just after it: every flow of the capture is in the last hour.
  clock = span.end + 60_000;
  await service.tick(clock);
  assert.equal(service.get(r.id).state, "triggered");
  await settled();
  let p = hook("/q1");
  assert.equal(p.length, 1);
  assert.equal(p[0]!.state, "triggered");
  assert.equal(p[0]!.previousState, "ok");
  assert.equal(p[0]!.result?.value, totalFlows);
  assert.equal(p[0]!.result?.column, "flows");
  assert.equal(p[0]!.atMs, clock);
  assert.match(p[0]!.summary, new RegExp(`flows = ${totalFlows} > 1000`));
  // The syslog destination (target "" → alerts.syslog.target) got it too.
  await until(() => udp.lines.length >= 1, "syslog line");
  const s = parse5424(udp.lines.at(-1)!);
  assert.equal(s.appName, "nagare");
  assert.equal(s.hostname, "nagare-test");
  assert.equal(s.msgId, "triggered");

  // Not due yet (intervalSec 60): a tick 30 s later runs nothing.
  const evals = service.evaluations;
  clock += 30_000;
  await service.tick(clock);
  assert.equal(service.evaluations, evals);

  // Two hours later the window is empty again: ok, notified.
  clock = span.end + 2 * 3600_000;
  await service.tick(clock);
  assert.equal(service.get(r.id).state, "ok");
  await settled();
  p = hook("/q1");
  assert.equal(p.length, 2);
  assert.equal(p[1]!.state, "ok");
  assert.equal(p[1]!.previousState, "triggered");
  const okAt = clock;

  // The same traffic again 2.5 h after the first: triggered 31 min after the ok,
  // inside rearmSec (1 h): state changes, the notification is held (recorded, not sent).
  await feed(2.5 * 3600_000);
  clock = span.end + 2.5 * 3600_000 + 60_000;
  await service.tick(clock);
  assert.equal(service.get(r.id).state, "triggered");
  await settled();
  assert.equal(hook("/q1").length, 2);
  const held = historyOf(r).filter((h) => h.suppressed === "rearm");
  assert.equal(held.length, 2); // both destinations
  assert.ok(held.every((h) => h.outcome === "silenced" && h.state === "triggered"));

  // Still triggered when the hold-down ends (1 h after the ok): the triggered goes out now.
  clock = okAt + 3600_000 + 1000;
  await service.tick(clock);
  assert.equal(service.get(r.id).state, "triggered");
  await settled();
  p = hook("/q1");
  assert.equal(p.length, 3);
  assert.equal(p[2]!.state, "triggered");
  assert.match(p[2]!.summary, /held by re-arm/);
  const sent = historyOf(r).filter((h) => h.outcome === "sent");
  assert.deepEqual(
    sent.filter((h) => h.destination.kind === "webhook").map((h) => h.state),
    ["triggered", "ok", "triggered"],
  );
  service.delete(r.id);
});

test("query rule: row count measure; failing, slow and deleted queries → unknown", async () => {
  const expected = await direct("SELECT count(DISTINCT src_addr)::DOUBLE FROM flows_raw");
  assert.ok(expected > 1);
  const q = query(
    "Sources",
    "SELECT src_addr, count(*) AS n FROM flows_raw GROUP BY src_addr ORDER BY n DESC -- busiest first",
  );
  const rows = service.create(
    {
      name: "Many sources",
      source: { kind: "query", queryId: q.id, op: ">=", value: expected, measure: "rows", intervalSec: 60 },
      destinations: [{ kind: "webhook", target: http.url("/rows") }],
      rearmSec: 0,
    },
    "tester",
  );
  const rule = service.store.get(rows.id);
  assert.equal(await service.evaluateQuery(rule, clock), "triggered");
  assert.equal(service.get(rows.id).lastResult?.rows, expected);
  service.update(rows.id, { source: { ...rule.source, value: expected + 1 } });
  assert.equal(await service.evaluateQuery(service.store.get(rows.id), clock), "ok");

  const broken = query("Broken", "SELECT count(*) AS n FROM no_such_table");
  const slow = query("Slow", "SELECT count(*) AS n FROM range(1000000000000) t(i) WHERE i % 7 = 3");
  const text = query("Text", "SELECT 'many' AS n");
  const mk = (name: string, queryId: string, path: string, column?: string): AlertRule =>
    service.store.get(
      service.create(
        {
          name,
          source: { kind: "query", queryId, column, op: ">", value: 0, measure: "value", intervalSec: 60 },
          destinations: [{ kind: "webhook", target: http.url(path) }],
        },
        "tester",
      ).id,
    );
  const rb = mk("broken", broken.id, "/broken");
  const rs = mk("slow", slow.id, "/slow");
  const rt = mk("text", text.id, "/text");
  const rc = mk("no column", text.id, "/nocol", "nope");
  const service2 = new AlertService({
    dir: join(dir, "alerts-slow"),
    config: { ...cfg, queryTimeoutMs: 150 },
    content,
    sql,
    now: () => clock,
    tickMs: 3600_000,
  });
  service2.start();
  try {
    const t0 = Date.now();
    const rs2 = service2.store.get(
      service2.create(
        {
          name: "slow",
          source: { kind: "query", queryId: slow.id, op: ">", value: 0, measure: "value", intervalSec: 60 },
          destinations: [{ kind: "webhook", target: http.url("/slow") }],
        },
        "tester",
      ).id,
    );
    assert.equal(await service2.evaluateQuery(rs2, clock), "unknown");
    assert.ok(Date.now() - t0 < 3000, "the time limit cut the query");
    assert.match(service2.get(rs2.id).lastError!, /time|interrupt/i);
  } finally {
    await service2.stop();
  }
  assert.equal(await service.evaluateQuery(rb, clock), "unknown");
  assert.match(service.get(rb.id).lastError!, /no_such_table/);
  assert.equal(await service.evaluateQuery(rt, clock), "unknown");
  assert.match(service.get(rt.id).lastError!, /not a number/);
  assert.equal(await service.evaluateQuery(rc, clock), "unknown");
  assert.match(service.get(rc.id).lastError!, /no column nope/);
  await settled();
  const b = hook("/broken");
  assert.equal(b.length, 1);
  assert.equal(b[0]!.state, "unknown");
  assert.match(b[0]!.error!, /no_such_table/);
  // Deleted saved query → unknown, named.
  content.deleteQuery(broken.id);
  service.update(rb.id, { name: "broken 2" });
  const rb2 = service.store.get(rb.id);
  rb2.state = "ok";
  assert.equal(await service.evaluateQuery(rb2, clock), "unknown");
  assert.match(service.get(rb.id).lastError!, /no longer exists/);
  for (const x of [rows.id, rb.id, rs.id, rt.id, rc.id]) service.delete(x);
});

function attack(
  id: string,
  over: { pps?: number; bps?: number; vectors?: AttackVector[]; prefix?: string } = {},
): Attack {
  return {
    id,
    target: { prefix: over.prefix ?? "203.0.113.7/32", group: "" },
    state: "ongoing",
    startMs: clock,
    lastMs: clock,
    endMs: null,
    peak: { bps: over.bps ?? 8e6, pps: over.pps ?? 5000, flowsPerSecond: 100, atMs: clock },
    reason: "static: pps over host threshold",
    trigger: "static",
    fingerprint: {
      vectors: over.vectors ?? ["udp_flood"],
      protocols: [17],
      topSrcPorts: [],
      topDstPorts: [],
      topSources: [],
      topSrcAs: [],
      ingress: [],
      packetSize: 200,
      tcpFlags: {},
      fragmentShare: 0,
      samplingRates: [1],
    },
    mitigation: {
      flowspec: "flow { match destination 203.0.113.7/32; then discard; }",
      rtbh: "203.0.113.7/32 65535:666",
    },
    firstSeenMs: clock,
    detectedMs: clock,
  };
}

function anomaly(id: string, series: AnomalyEvent["series"], key: string, peakScore: number): AnomalyEvent {
  return { id, series, key, startMs: clock, endMs: null, peakScore, peakAtMs: clock, kind: "spike" };
}

test("attack and anomaly rules through DetectEvents; re-arm; silence; a hanging destination never blocks", async () => {
  const ntp = service.create(
    {
      name: "Big NTP",
      source: { kind: "attack", minPps: 100_000, vectors: ["ntp_amplification", "dns_amplification"] },
      destinations: [{ kind: "webhook", target: http.url("/ntp") }],
      rearmSec: 60,
    },
    "tester",
  );
  const any = service.create(
    {
      name: "Any attack",
      source: { kind: "attack" },
      destinations: [
        { kind: "webhook", target: http.url("/hang-any") },
        { kind: "webhook", target: http.url("/any") },
        { kind: "email", target: "noc@example.org" },
      ],
      rearmSec: 60,
    },
    "tester",
  );
  const anom = service.create(
    {
      name: "dst AS anomaly",
      source: { kind: "anomaly", minScore: 2, series: ["dst_as"] },
      destinations: [{ kind: "webhook", target: http.url("/anom") }],
    },
    "tester",
  );

  // A small UDP flood: "Any attack" only. emit() returns at once although one destination hangs.
  const t0 = performance.now();
  events.emit({ type: "attack_started", attack: attack("a1") });
  assert.ok(performance.now() - t0 < 50, `emit took ${performance.now() - t0} ms`);
  assert.equal(service.get(any.id).state, "triggered");
  assert.equal(service.get(ntp.id).state, "ok");
  await until(() => hook("/any").length === 1, "healthy webhook", 1000);
  assert.equal(hook("/any")[0]!.attack?.id, "a1");
  assert.match(
    hook("/any")[0]!.summary,
    /attack on 203\.0\.113\.7\/32: udp_flood; peak 8\.00 Mbps, 5\.00 kpps/,
  );
  await smtp.waitFor(1);
  assert.match(
    smtp.messages[0]!.headers.get("subject")!,
    /^\[TRIGGERED\] Any attack: attack on 203\.0\.113\.7/,
  );
  assert.match(
    smtp.messages[0]!.body,
    /Flowspec:\r\nflow \{ match destination 203\.0\.113\.7\/32; then discard; \}/,
  );

  // A big NTP amplification on another host: "Big NTP" triggers; "Any attack" is already
  // triggered and notifies the new attack on its own (no state change).
  events.emit({
    type: "attack_started",
    attack: attack("a2", {
      pps: 250_000,
      vectors: ["ntp_amplification", "fragment"],
      prefix: "198.51.100.9/32",
    }),
  });
  assert.equal(service.get(ntp.id).state, "triggered");
  // A big UDP flood matches neither vector of "Big NTP" (no change there).
  events.emit({ type: "attack_started", attack: attack("a3", { pps: 900_000 }) });
  // a1 ends: a2 and a3 still ongoing, nothing changes.
  events.emit({ type: "attack_ended", attack: { ...attack("a1"), state: "ended", endMs: clock } });
  assert.equal(service.get(any.id).state, "triggered");
  events.emit({ type: "attack_ended", attack: { ...attack("a2"), state: "ended", endMs: clock } });
  assert.equal(service.get(ntp.id).state, "ok");
  assert.equal(service.get(any.id).state, "triggered");
  events.emit({ type: "attack_ended", attack: { ...attack("a3"), state: "ended", endMs: clock } });
  assert.equal(service.get(any.id).state, "ok");
  await until(() => hook("/ntp").length === 2 && hook("/any").length === 4, "ok notifications", 2000);
  assert.deepEqual(
    hook("/ntp").map((p) => p.state),
    ["triggered", "ok"],
  );
  assert.equal(hook("/ntp")[0]!.attack?.id, "a2");
  assert.deepEqual(
    hook("/any").map((p) => p.state),
    ["triggered", "triggered", "triggered", "ok"],
  );
  assert.deepEqual(
    hook("/any").map((p) => p.attack?.id),
    ["a1", "a2", "a3", "a3"],
  );

  // Re-arm: a new attack 10 s after the ok → triggered, held; it ends before re-arm → its ok is held too.
  clock += 10_000;
  events.emit({ type: "attack_started", attack: attack("a4") });
  assert.equal(service.get(any.id).state, "triggered");
  clock += 5_000;
  events.emit({ type: "attack_ended", attack: { ...attack("a4"), state: "ended" } });
  assert.equal(service.get(any.id).state, "ok");
  // Re-armed 60 s after the ok: the next attack is sent again.
  clock += 60_000;
  events.emit({ type: "attack_started", attack: attack("a5") });
  await until(() => hook("/any").length === 5, "re-armed notification", 2000);
  assert.equal(hook("/any")[4]!.attack?.id, "a5");
  const rearmed = historyOf(service.store.get(any.id)).filter(
    (h) => h.suppressed === "rearm" && h.destination.target === http.url("/any"),
  );
  assert.deepEqual(
    rearmed.map((h) => h.state),
    ["triggered", "ok"],
  );

  // Silence: state changes are recorded "silenced", nothing is sent; unsilence sends again.
  service.silence(any.id, 10);
  events.emit({ type: "attack_ended", attack: { ...attack("a5"), state: "ended" } });
  assert.equal(service.get(any.id).state, "ok");
  const silenced = historyOf(service.store.get(any.id)).filter((h) => h.suppressed === "silence");
  assert.equal(silenced.length, 3);
  assert.ok(silenced.every((h) => h.outcome === "silenced" && h.state === "ok"));
  assert.equal(service.silence(any.id, 0).silencedUntil, null);
  clock += 120_000;
  events.emit({ type: "attack_started", attack: attack("a6") });
  await until(() => hook("/any").length === 6, "after unsilence", 2000);

  // Anomalies: too low a score and the wrong series do not match.
  events.emit({ type: "anomaly_started", event: anomaly("e1", "dst_as", "15169", 1.5) });
  events.emit({ type: "anomaly_started", event: anomaly("e2", "src_as", "15169", 5) });
  assert.equal(service.get(anom.id).state, "ok");
  events.emit({ type: "anomaly_started", event: anomaly("e3", "dst_as", "2914", 3.25) });
  assert.equal(service.get(anom.id).state, "triggered");
  events.emit({ type: "anomaly_ended", event: { ...anomaly("e3", "dst_as", "2914", 3.25), endMs: clock } });
  assert.equal(service.get(anom.id).state, "ok");
  await until(() => hook("/anom").length === 2, "anomaly notifications", 2000);
  assert.match(hook("/anom")[0]!.summary, /anomaly \(spike\) on dst_as 2914: peak score 3\.25/);
  assert.equal(hook("/anom")[0]!.anomaly?.id, "e3");

  // The hanging destination: each notification tried twice (time-out 400 ms), then recorded failed;
  // meanwhile the healthy ones above were served promptly.
  await until(
    () =>
      historyOf(service.store.get(any.id)).filter(
        (h) => h.destination.target === http.url("/hang-any") && h.outcome === "failed",
      ).length >= 6,
    "hanging destination outcomes",
    10_000,
  );
  const hung = historyOf(service.store.get(any.id)).find(
    (h) => h.destination.target === http.url("/hang-any") && h.outcome === "failed",
  )!;
  assert.equal(hung.attempts, 2);
  assert.match(hung.error!, /timed out after 400 ms/);
  assert.equal(events.errors, 0);
  events.emit({ type: "attack_ended", attack: { ...attack("a6"), state: "ended" } });
  for (const x of [ntp.id, any.id, anom.id]) service.delete(x);
});

test("rules and history persist; history is trimmed to historyMax", async () => {
  const r = service.create(
    {
      name: "persisted",
      source: { kind: "attack", minBps: 1e9 },
      destinations: [{ kind: "webhook", target: http.url("/persist") }],
    },
    "tester",
  );
  // A state change is saved right after the event (not inside emit()).
  events.emit({ type: "attack_started", attack: attack("p1", { bps: 2e9 }) });
  await new Promise((resolve) => setImmediate(resolve));
  const again = new AlertStore(join(dir, "alerts"));
  again.load();
  assert.equal(again.get(r.id).state, "triggered");
  assert.equal(again.get(r.id).stateSince, clock);
  assert.deepEqual(again.get(r.id), service.store.get(r.id));
  events.emit({ type: "attack_ended", attack: { ...attack("p1", { bps: 2e9 }), state: "ended" } });
  await until(() => http.on("/persist").length === 2, "persist notifications");
  assert.ok(again.historyList("", 10_000).length > 0);
  const rules = JSON.parse(readFileSync(join(dir, "alerts", "rules.json"), "utf8")) as AlertRule[];
  assert.ok(rules.some((x) => x.id === r.id && x.name === "persisted"));
  service.delete(r.id);

  const small = new AlertStore(join(dir, "alerts-small"), 10);
  small.load();
  for (let i = 0; i < 35; i++)
    small.append({
      id: `h${i}`,
      ruleId: "r",
      ruleName: "r",
      atMs: i,
      state: "ok",
      destination: { kind: "webhook", target: "http://x/" },
      outcome: "sent",
      attempts: 1,
      error: null,
      summary: String(i),
    });
  const lines = readFileSync(small.historyPath, "utf8").trim().split("\n");
  assert.ok(lines.length < 20, `file holds ${lines.length} lines`);
  const back = new AlertStore(join(dir, "alerts-small"), 10);
  back.load();
  assert.deepEqual(
    back.historyList("", 100).map((h) => h.id),
    Array.from({ length: 10 }, (_, i) => `h${34 - i}`),
  );
});

test("API: CRUD, validation messages, test, silence, history; a viewer cannot write", async () => {
  const users = new UserStore(join(dir, "users"));
  await ensureAdmin(users, "admin-password", undefined);
  await users.set("ed", "editor", "editor-password");
  await users.set("vi", "viewer", "viewer-password");
  const api = new HttpApi({
    listen: parseListen("127.0.0.1:0") as ListenAddress,
    token: TOKEN,
    stats,
    auth: new HttpAuth({ users, sessionTtlMs: 3600_000, secureCookies: false }),
    modules: [new AlertRoutes(service)],
  });
  await api.start();
  const base = `http://${api.address}`;
  const login = async (user: string, password: string): Promise<{ cookie: string; csrf: string }> => {
    const r = await fetch(base + "/api/v1/auth/login", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ user, password }),
    });
    assert.equal(r.status, 200);
    const b = (await r.json()) as { csrf: string };
    return { cookie: (r.headers.get("set-cookie") ?? "").split(";")[0]!, csrf: b.csrf };
  };
  const editor = await login("ed", "editor-password");
  const viewer = await login("vi", "viewer-password");
  const call = async (
    as: { cookie: string; csrf: string },
    method: string,
    path: string,
    body?: unknown,
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
  ): Promise<{ status: number; json: any }> => {
    const headers: Record<string, string> = { Cookie: as.cookie, "X-CSRF-Token": as.csrf };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const r = await fetch(base + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    return { status: r.status, json: text ? JSON.parse(text) : null };
  };
  try {
    const q = query("Flows", "SELECT count(*) AS flows FROM flows_raw");
    const good = {
      name: "API rule",
      source: {
        kind: "query",
        queryId: q.id,
        column: "flows",
        op: ">",
        value: 10,
        measure: "value",
        intervalSec: 60,
      },
      destinations: [
        { kind: "webhook", target: http.url("/api-hook") },
        { kind: "slack", target: http.url("/api-slack") },
        { kind: "email", target: "ops@example.org" },
        { kind: "syslog", target: udp.target },
      ],
      rearmSec: 600,
    };
    const bad = async (body: unknown, re: RegExp): Promise<void> => {
      const r = await call(editor, "POST", "/api/v1/alerts/rules", body);
      assert.equal(r.status, 400, JSON.stringify(r.json));
      assert.match(r.json.error, re);
    };
    await bad(
      { ...good, source: { ...good.source, queryId: "nope" } },
      /source\.queryId: no saved query nope/,
    );
    await bad({ ...good, source: { ...good.source, op: "=>" } }, /source\.op: "=>" is not one of/);
    await bad(
      { ...good, destinations: [{ kind: "webhook", target: "ftp://x/" }] },
      /destinations\[0\]\.target: the URL must be http/,
    );
    await bad(
      { ...good, destinations: [{ kind: "slack", target: "not a url" }] },
      /destinations\[0\]\.target: "not a url" is not a URL/,
    );
    await bad(
      { ...good, destinations: [{ kind: "email", target: "ops@@x" }] },
      /destinations\[0\]\.target: "ops@@x" is not an email address/,
    );
    await bad(
      { ...good, destinations: [{ kind: "syslog", target: "udp://h" }] },
      /destinations\[0\]\.target/,
    );
    await bad({ ...good, destinations: [] }, /destinations must be a non-empty list/);
    await bad(
      { ...good, source: { ...good.source, intervalSec: 1 } },
      /source\.intervalSec must be an integer in 10-86400/,
    );
    await bad(
      { ...good, source: { kind: "attack", vectors: ["laser"] } },
      /source\.vectors\[0\]: "laser" is not one of/,
    );
    await bad({ ...good, source: { kind: "anomaly", series: ["dst_port"] } }, /source\.series\[0\]/);
    await bad({ ...good, name: "" }, /name must be/);

    // A viewer reads but cannot write.
    assert.equal((await call(viewer, "POST", "/api/v1/alerts/rules", good)).status, 403);
    const created = await call(editor, "POST", "/api/v1/alerts/rules", good);
    assert.equal(created.status, 201, JSON.stringify(created.json));
    const id = created.json.id as string;
    assert.equal(created.json.state, "ok");
    assert.equal(created.json.createdBy, "ed");
    assert.equal(
      (await call(viewer, "GET", "/api/v1/alerts/rules")).json.filter((x: AlertRule) => x.id === id).length,
      1,
    );
    assert.equal((await call(viewer, "GET", `/api/v1/alerts/rules/${id}`)).json.name, "API rule");
    assert.equal((await call(viewer, "PUT", `/api/v1/alerts/rules/${id}`, { name: "x" })).status, 403);
    assert.equal((await call(viewer, "POST", `/api/v1/alerts/rules/${id}/test`)).status, 403);
    assert.equal(
      (await call(viewer, "POST", `/api/v1/alerts/rules/${id}/silence`, { minutes: 5 })).status,
      403,
    );
    assert.equal((await call(viewer, "DELETE", `/api/v1/alerts/rules/${id}`)).status, 403);

    const put = await call(editor, "PUT", `/api/v1/alerts/rules/${id}`, { name: "API rule 2", rearmSec: 30 });
    assert.equal(put.status, 200);
    assert.equal(put.json.name, "API rule 2");
    assert.equal(put.json.rearmSec, 30);
    assert.equal(put.json.destinations.length, 4);

    // Test: one notification per destination, delivered to the real receivers.
    const mails = smtp.messages.length;
    const udpLines = udp.lines.length;
    const t = await call(editor, "POST", `/api/v1/alerts/rules/${id}/test`);
    assert.equal(t.status, 200);
    assert.deepEqual(
      t.json.map((r: NotificationRecord) => [r.destination.kind, r.outcome, r.state]),
      [
        ["webhook", "sent", "test"],
        ["slack", "sent", "test"],
        ["email", "sent", "test"],
        ["syslog", "sent", "test"],
      ],
    );
    assert.equal(hook("/api-hook")[0]!.state, "test");
    assert.match(JSON.parse(http.on("/api-slack")[0]!.body).text, /\[TEST\] API rule 2/);
    assert.equal(smtp.messages.length, mails + 1);
    await until(() => udp.lines.length > udpLines, "syslog test line");
    assert.equal(parse5424(udp.lines.at(-1)!).severity, 6);

    const sil = await call(editor, "POST", `/api/v1/alerts/rules/${id}/silence`, { minutes: 5 });
    assert.equal(sil.status, 200);
    assert.equal(sil.json.silencedUntil, clock + 5 * 60_000);
    assert.equal(
      (await call(editor, "POST", `/api/v1/alerts/rules/${id}/silence`, { minutes: -1 })).status,
      400,
    );

    const h = await call(viewer, "GET", `/api/v1/alerts/history?ruleId=${id}&limit=10`);
    assert.equal(h.status, 200);
    assert.equal(h.json.length, 4);
    assert.ok(h.json.every((r: NotificationRecord) => r.ruleId === id && r.state === "test"));
    assert.equal((await call(viewer, "GET", "/api/v1/alerts/history?limit=0")).status, 400);

    assert.equal((await call(editor, "DELETE", `/api/v1/alerts/rules/${id}`)).status, 204);
    assert.equal((await call(viewer, "GET", `/api/v1/alerts/rules/${id}`)).status, 404);
    assert.equal((await call(editor, "POST", "/api/v1/alerts/rules", "[]")).status, 400);
  } finally {
    await api.stop();
  }
});

test("App wiring: a rule made over the API fires on app.events; the config's alerts section is used", async () => {
  const { App } = await import("../src/app.js");
  const { validateConfig } = await import("../src/config/schema.js");
  const appDir = mkdtempSync(join(tmpdir(), "nagare-alert-app-"));
  const token = "e".repeat(32);
  const app = new App({
    config: validateConfig({
      dataDir: appDir,
      collector: { listen: ["127.0.0.1:0"], sflowListen: ["127.0.0.1:0"] },
      http: { listen: "127.0.0.1:0", token },
      demo: { enabled: false },
      log: { level: "error" },
      alerts: { syslog: { target: udp.target, hostname: "wired" }, retry: { attempts: 1 } },
    }),
  });
  await app.start();
  try {
    const r = await fetch(`http://${app.http.address}/api/v1/alerts/rules`, {
      method: "POST",
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
      body: JSON.stringify({
        name: "wired",
        source: { kind: "attack" },
        destinations: [
          { kind: "webhook", target: http.url("/wired") },
          { kind: "syslog", target: "" },
        ],
      }),
    });
    assert.equal(r.status, 201);
    const lines = udp.lines.length;
    app.events.emit({ type: "attack_started", attack: attack("w1") });
    await until(() => http.on("/wired").length === 1 && udp.lines.length > lines, "wired notifications");
    assert.equal(hook("/wired")[0]!.attack?.id, "w1");
    assert.equal(parse5424(udp.lines.at(-1)!).hostname, "wired");
  } finally {
    await app.stop();
    rmSync(appDir, { recursive: true, force: true });
  }
});
