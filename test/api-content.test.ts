// Saved queries, dashboards and share links over real HTTP: a real HttpApi
// with HttpAuth (admin, editor, viewer), the SQL sandbox and the flow query
// runner on a real store holding a real IPFIX capture (ipfixcol2
// example_flows, decoded by FlowDecoder), spoken to with fetch.
//
// Security: no session or token → 401; a session write without X-CSRF-Token
// → 403; a viewer's writes → 403 while running stays open to them; a share
// link reads its own dashboard without a session, refuses writes and other
// dashboards, and is dead once revoked; parameter values cannot inject (the
// rendered SQL, run in the sandbox, returns the value as a literal).
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { CollectorStats } from "../src/collector/stats.js";
import { parseListen, type ListenAddress } from "../src/config/address.js";
import { HttpAuth } from "../src/api/auth-http.js";
import { UserStore, ensureAdmin } from "../src/api/auth.js";
import { FlowQueryRunner } from "../src/api/query.js";
import { HttpApi } from "../src/api/server.js";
import { overviewDashboard } from "../src/content/overview.js";
import { ContentRoutes } from "../src/content/routes.js";
import { Scheduler } from "../src/content/schedule.js";
import { ContentStore } from "../src/content/store.js";
import type { Dashboard, SavedQuery } from "../src/content/types.js";
import { SqlService } from "../src/query/sql/index.js";
import { LiveAggregator } from "../src/live/aggregator.js";
import { liveStream } from "../src/live/sse.js";
import { StoreWriter } from "../src/store/writer.js";
import { App } from "../src/app.js";
import { validateConfig } from "../src/config/schema.js";
import { silentLogger } from "../src/log.js";
import { decodeUnit } from "./helpers/captures.js";

const UNIT = "ipfixcol2__example_flows";
const TOKEN = "c".repeat(32);
const dir = mkdtempSync(join(tmpdir(), "nagare-content-api-"));
const writer = new StoreWriter({ config: { path: join(dir, "flows.duckdb"), intervalMs: 1000 } });
const sql = new SqlService(() => writer.database, { timeoutMs: 5000, maxRows: 1000 });
const flows = new FlowQueryRunner(() => writer.database, 5000);
const content = new ContentStore(join(dir, "content"));
const scheduler = new Scheduler({ store: content, sql, tickMs: 3600_000 });
const live = new LiveAggregator();
let api: HttpApi;
let base = "";
/** The capture's time span and totals, read from the store directly (not through the API). */
let span = { start: 0, end: 0 };
let total = { flows: 0, bytes: 0 };

interface Signed {
  cookie: string;
  csrf: string;
}
let editor: Signed;
let viewer: Signed;

before(async () => {
  await writer.start();
  const stats = new CollectorStats();
  decodeUnit(UNIT, (b) => writer.consume(b), 0, stats);
  await writer.flush();
  await sql.start();
  const r = await writer.connection.runAndReadAll(
    "SELECT epoch_ms(min(time_received))::DOUBLE, epoch_ms(max(time_received))::DOUBLE, count(*)::DOUBLE, sum(bytes)::DOUBLE FROM flows_raw",
  );
  const [mn, mx, n, b] = r.getRowsJS()[0] as number[];
  span = { start: mn!, end: mx! + 1 };
  total = { flows: n!, bytes: b! };
  assert.equal(total.flows, 3979);

  content.load();
  content.ensureOverview(overviewDashboard);
  const users = new UserStore(join(dir, "data"));
  await ensureAdmin(users, "admin-password", undefined);
  await users.set("ed", "editor", "editor-password");
  await users.set("vi", "viewer", "viewer-password");
  api = new HttpApi({
    listen: parseListen("127.0.0.1:0") as ListenAddress,
    token: TOKEN,
    stats,
    auth: new HttpAuth({ users, sessionTtlMs: 3600_000, secureCookies: false }),
    query: { sql, flows },
    content: new ContentRoutes({
      store: content,
      sql,
      flows,
      scheduler,
      live: (dim, res) => liveStream(live, dim, res),
    }),
  });
  await api.start();
  base = `http://${api.address}`;
  editor = await login("ed", "editor-password");
  viewer = await login("vi", "viewer-password");
});

after(async () => {
  await api.stop();
  await scheduler.stop();
  flows.close();
  await sql.stop();
  await writer.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function login(user: string, password: string): Promise<Signed> {
  const r = await fetch(base + "/api/v1/auth/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ user, password }),
  });
  assert.equal(r.status, 200);
  const body = (await r.json()) as { csrf: string };
  return { cookie: (r.headers.get("set-cookie") ?? "").split(";")[0]!, csrf: body.csrf };
}

interface Answer {
  status: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
}

async function call(
  method: string,
  path: string,
  opts: { as?: Signed; csrf?: boolean; body?: unknown; bearer?: string } = {},
): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (opts.as) {
    headers.Cookie = opts.as.cookie;
    if (opts.csrf !== false) headers["X-CSRF-Token"] = opts.as.csrf;
  }
  if (opts.bearer) headers.Authorization = `Bearer ${opts.bearer}`;
  if (opts.body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(base + path, {
    method,
    headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  const text = await r.text();
  let json: unknown = text;
  try {
    json = JSON.parse(text);
  } catch {
    // CSV or text
  }
  return { status: r.status, json };
}

const ed = (method: string, path: string, body?: unknown): Promise<Answer> =>
  call(method, path, { as: editor, body });
const vi = (method: string, path: string, body?: unknown): Promise<Answer> =>
  call(method, path, { as: viewer, body });

async function makeQuery(body: Record<string, unknown>): Promise<SavedQuery> {
  const r = await ed("POST", "/api/v1/queries", body);
  assert.equal(r.status, 201, JSON.stringify(r.json));
  return r.json as SavedQuery;
}

test("no session or token → 401 on every content route", async () => {
  const q = await makeQuery({ name: "auth probe", sql: "SELECT 1" });
  for (const [m, p] of [
    ["GET", "/api/v1/queries"],
    ["POST", "/api/v1/queries"],
    ["GET", `/api/v1/queries/${q.id}`],
    ["PUT", `/api/v1/queries/${q.id}`],
    ["DELETE", `/api/v1/queries/${q.id}`],
    ["POST", `/api/v1/queries/${q.id}/run`],
    ["GET", `/api/v1/queries/${q.id}/versions`],
    ["GET", `/api/v1/queries/${q.id}/results.csv`],
    ["POST", "/api/v1/sql/render"],
    ["GET", "/api/v1/dashboards"],
    ["GET", "/api/v1/dashboards/overview"],
    ["POST", "/api/v1/dashboards/overview/share"],
    ["GET", "/api/v1/dashboards/overview/shares"],
  ] as const) {
    const r = await call(m, p, { body: m === "GET" ? undefined : {} });
    assert.equal(r.status, 401, `${m} ${p}`);
    const wrong = await call(m, p, {
      bearer: "not-the-token-not-the-token",
      body: m === "GET" ? undefined : {},
    });
    assert.equal(wrong.status, 401, `${m} ${p} with a wrong token`);
  }
  // The bearer token works (scripts).
  assert.equal((await call("GET", `/api/v1/queries/${q.id}`, { bearer: TOKEN })).status, 200);
  assert.equal(
    (await ed("GET", `/api/v1/queries/${q.id}`)).json.name,
    "auth probe",
    "not deleted by the probes",
  );
});

test("session writes without X-CSRF-Token → 403 and change nothing", async () => {
  const q = await makeQuery({ name: "csrf probe", sql: "SELECT 1" });
  for (const [m, p] of [
    ["POST", "/api/v1/queries"],
    ["PUT", `/api/v1/queries/${q.id}`],
    ["DELETE", `/api/v1/queries/${q.id}`],
    ["POST", `/api/v1/queries/${q.id}/fork`],
    ["POST", `/api/v1/queries/${q.id}/run`],
    ["POST", "/api/v1/dashboards"],
    ["PUT", "/api/v1/dashboards/overview"],
    ["POST", "/api/v1/dashboards/overview/share"],
  ] as const) {
    const r = await call(m, p, { as: editor, csrf: false, body: { name: "forged", sql: "SELECT 2" } });
    assert.equal(r.status, 403, `${m} ${p}`);
    assert.match(r.json.error, /CSRF/);
  }
  const now = await ed("GET", `/api/v1/queries/${q.id}`);
  assert.equal(now.json.version, 1);
  assert.equal(now.json.name, "csrf probe");
  assert.equal((await ed("GET", "/api/v1/dashboards/overview/shares")).json.length, 0);
  assert.equal((await ed("GET", "/api/v1/queries?q=forged")).json.length, 0);
});

test("viewer: reads and runs, every write → 403", async () => {
  const q = await makeQuery({
    name: "viewer probe",
    sql: "SELECT count(*)::INTEGER AS n FROM flows WHERE protocol = {{ proto }}",
    params: [{ name: "proto", type: "number", default: 6 }],
  });
  const d = (await ed("POST", "/api/v1/dashboards", { name: "viewer dash" })).json as Dashboard;
  const share = await ed("POST", `/api/v1/dashboards/${d.id}/share`);
  assert.equal(share.status, 201);
  for (const [m, p] of [
    ["POST", "/api/v1/queries"],
    ["PUT", `/api/v1/queries/${q.id}`],
    ["DELETE", `/api/v1/queries/${q.id}`],
    ["POST", `/api/v1/queries/${q.id}/fork`],
    ["POST", `/api/v1/queries/${q.id}/versions/1/restore`],
    ["POST", "/api/v1/dashboards"],
    ["PUT", `/api/v1/dashboards/${d.id}`],
    ["DELETE", `/api/v1/dashboards/${d.id}`],
    ["POST", `/api/v1/dashboards/${d.id}/share`],
    ["DELETE", `/api/v1/dashboards/${d.id}/shares/${share.json.token}`],
  ] as const) {
    const r = await vi(m, p, { name: "viewer was here", sql: "SELECT 3" });
    assert.equal(r.status, 403, `${m} ${p}`);
    assert.match(r.json.error, /editor role/);
  }
  // Nothing changed.
  assert.equal((await vi("GET", `/api/v1/queries/${q.id}`)).json.version, 1);
  assert.equal((await vi("GET", `/api/v1/dashboards/${d.id}`)).json.version, 1);
  assert.deepEqual(
    (await ed("GET", `/api/v1/dashboards/${d.id}/shares`)).json.map((s: { revoked: boolean }) => s.revoked),
    [false],
  );
  // Reads and runs are open to the viewer.
  assert.equal((await vi("GET", "/api/v1/queries?q=viewer")).json.length, 1);
  assert.equal((await vi("GET", `/api/v1/queries/${q.id}/versions`)).status, 200);
  const run = await vi("POST", `/api/v1/queries/${q.id}/run`, { params: { proto: 17 } });
  assert.equal(run.status, 200, JSON.stringify(run.json));
  const direct = await writer.connection.runAndReadAll(
    "SELECT count(*)::INTEGER FROM flows_raw WHERE protocol = 17",
  );
  assert.deepEqual(run.json.rows, direct.getRowsJS());
  assert.ok(run.json.rows[0][0] > 0, "the capture has UDP flows");
  assert.match(run.json.sql, /protocol =\s+17\s*$/);
  const render = await vi("POST", "/api/v1/sql/render", {
    sql: "SELECT {{ x }}",
    paramDefs: [{ name: "x", type: "text" }],
    params: { x: "it's" },
  });
  assert.equal(render.status, 200);
  assert.equal(render.json.sql, "SELECT  'it''s' ");
});

test("parameters cannot inject: hostile values come back as literals from the sandbox", async () => {
  const q = await makeQuery({
    name: "echo",
    sql: "SELECT {{ t }} AS v, (SELECT count(*) FROM flows)::INTEGER AS n",
    params: [{ name: "t", type: "text" }],
  });
  for (const v of [
    "'; DROP TABLE flows_raw; --",
    "1 OR 1=1",
    "x' UNION SELECT current_setting('enable_external_access') --",
    "‘smart’ “quotes” ＇fullwidth＇",
    "a\\' ); ATTACH '/tmp/x.db' AS x; --",
    "{{ t }}",
  ]) {
    const r = await vi("POST", `/api/v1/queries/${q.id}/run`, { params: { t: v } });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.deepEqual(r.json.rows, [[v, total.flows]], v);
    // The same through POST /api/v1/sql with params (the editor's unsaved text).
    const s = await vi("POST", "/api/v1/sql", {
      sql: "SELECT {{ t }} AS v",
      paramDefs: [{ name: "t", type: "text" }],
      params: { t: v },
    });
    assert.equal(s.status, 200, JSON.stringify(s.json));
    assert.deepEqual(s.json.rows, [[v]]);
  }
  const n = await writer.connection.runAndReadAll("SELECT count(*)::INTEGER FROM flows_raw");
  assert.deepEqual(n.getRowsJS(), [[total.flows]], "flows_raw untouched");

  const num = await makeQuery({
    name: "num",
    sql: "SELECT count(*)::INTEGER FROM flows WHERE protocol = {{ p }}",
    params: [{ name: "p", type: "number" }],
  });
  for (const bad of ["6 OR 1=1", "6; DROP TABLE flows_raw", "NaN", "Infinity", ["6"], { x: 1 }]) {
    const r = await vi("POST", `/api/v1/queries/${num.id}/run`, { params: { p: bad } });
    assert.equal(r.status, 400, JSON.stringify(bad));
    assert.match(r.json.error, /parameter p/);
  }
  const missing = await vi("POST", `/api/v1/queries/${num.id}/run`, {});
  assert.equal(missing.status, 400);
  assert.match(missing.json.error, /parameter p has no value/);
  const list = await makeQuery({
    name: "list",
    sql: "SELECT {{ l }}",
    params: [{ name: "l", type: "list", options: ["tcp", "udp"] }],
  });
  const notOption = await vi("POST", `/api/v1/queries/${list.id}/run`, { params: { l: "tcp' OR '1'='1" } });
  assert.equal(notOption.status, 400);
  const arr = await vi("POST", `/api/v1/queries/${list.id}/run`, { params: { l: ["tcp", "udp"] } });
  assert.equal(arr.status, 400, "an array for a non-multi list");
  // A placeholder inside the author's own quotes is refused, not spliced into them.
  const quoted = await makeQuery({
    name: "quoted",
    sql: "SELECT '{{ t }}'",
    params: [{ name: "t", type: "text" }],
  });
  const qr = await vi("POST", `/api/v1/queries/${quoted.id}/run`, { params: { t: "' || 1 || '" } });
  assert.equal(qr.status, 400);
  assert.match(qr.json.error, /inside a quoted string/);
  // The sandbox still refuses what a saved query's own SQL may try.
  const evil = await makeQuery({ name: "evil", sql: "SELECT * FROM read_csv('/etc/passwd')" });
  const er = await vi("POST", `/api/v1/queries/${evil.id}/run`, {});
  assert.ok(er.status >= 400 && er.status < 500, String(er.status));
});

test("versions over HTTP: PUT bumps, stale baseVersion → 409, restore makes a new version, fork", async () => {
  const q = await makeQuery({ name: "v", sql: "SELECT 1 AS a" });
  const v2 = await ed("PUT", `/api/v1/queries/${q.id}`, { sql: "SELECT 2 AS a", baseVersion: 1 });
  assert.equal(v2.status, 200);
  assert.equal(v2.json.version, 2);
  const stale = await ed("PUT", `/api/v1/queries/${q.id}`, { sql: "SELECT 3 AS a", baseVersion: 1 });
  assert.equal(stale.status, 409);
  const list = await ed("GET", `/api/v1/queries/${q.id}/versions`);
  assert.deepEqual(
    list.json.map((v: { version: number }) => v.version),
    [2, 1],
  );
  assert.equal(list.json[0].updatedBy, "ed");
  assert.equal((await ed("GET", `/api/v1/queries/${q.id}/versions/1`)).json.sql, "SELECT 1 AS a");
  const restored = await ed("POST", `/api/v1/queries/${q.id}/versions/1/restore`);
  assert.equal(restored.json.version, 3);
  assert.equal(restored.json.sql, "SELECT 1 AS a");
  assert.deepEqual((await vi("POST", `/api/v1/queries/${q.id}/run`, {})).json.rows, [[1]]);
  const fork = await ed("POST", `/api/v1/queries/${q.id}/fork`);
  assert.equal(fork.status, 201);
  assert.equal(fork.json.forkedFrom, q.id);
  assert.equal(fork.json.name, "Copy of v");
  assert.equal((await ed("GET", `/api/v1/queries/${q.id}/versions/9`)).status, 404);
  assert.equal((await ed("GET", "/api/v1/queries/nope")).status, 404);
  assert.equal((await ed("PATCH", `/api/v1/queries/${q.id}`, {})).status, 405);
  assert.equal((await ed("DELETE", `/api/v1/queries/${fork.json.id}`)).json.deleted, true);
  assert.equal((await ed("GET", `/api/v1/queries/${fork.json.id}`)).status, 404);
});

test("share link: read-only without a session, its dashboard only, revocable", async () => {
  const q = await makeQuery({
    name: "bytes by protocol",
    sql:
      "SELECT protocol, sum(bytes)::DOUBLE AS bytes FROM flows WHERE time_received >= {{ r.start }} " +
      "AND time_received < {{ r.end }} AND protocol IN ({{ protos }}) GROUP BY 1 ORDER BY 1",
    params: [
      { name: "r", type: "daterange", default: { start: "now-1h", end: "now" } },
      { name: "protos", type: "list", options: ["6", "17", "1"], multi: true, default: ["6"] },
    ],
    visualizations: [{ id: "bars", type: "bar", name: "Bars", options: { x: "protocol", y: ["bytes"] } }],
  });
  const range = { start: new Date(span.start).toISOString(), end: new Date(span.end).toISOString() };
  const dash = await ed("POST", "/api/v1/dashboards", {
    name: "Shared",
    timeRange: range,
    params: [{ name: "p", type: "list", options: ["6", "17", "1"], multi: true, default: ["6", "17"] }],
    widgets: [
      {
        id: "viz",
        type: "viz",
        title: "SQL",
        x: 0,
        y: 0,
        w: 6,
        h: 4,
        queryId: q.id,
        vizId: "bars",
        paramMap: { protos: "p" },
      },
      {
        id: "flow",
        type: "flow",
        title: "Flows",
        x: 6,
        y: 0,
        w: 6,
        h: 4,
        flow: { dimensions: ["protocol"], metric: "bytes", shape: "table", chart: "table", topN: 10 },
      },
      { id: "note", type: "text", title: "Note", x: 0, y: 4, w: 12, h: 1, text: "hello" },
    ],
  });
  assert.equal(dash.status, 201, JSON.stringify(dash.json));
  const d = dash.json as Dashboard;
  const other = (await ed("POST", "/api/v1/dashboards", { name: "Private" })).json as Dashboard;
  const made = await ed("POST", `/api/v1/dashboards/${d.id}/share`);
  assert.equal(made.status, 201);
  const token = made.json.token as string;
  assert.equal(made.json.url, `/#/share/${token}`);

  // GET without any session: the dashboard and its queries, without their SQL.
  const got = await call("GET", `/api/v1/share/${token}`);
  assert.equal(got.status, 200);
  assert.equal(got.json.dashboard.id, d.id);
  assert.deepEqual(Object.keys(got.json.queries), [q.id]);
  assert.equal(got.json.queries[q.id].sql, undefined, "no SQL through a share link");
  assert.equal(got.json.queries[q.id].name, "bytes by protocol");

  // Widgets run without a session; the numbers are the store's.
  const direct = await writer.connection.runAndReadAll(
    "SELECT protocol, sum(bytes)::DOUBLE FROM flows_raw WHERE protocol IN (6, 17) GROUP BY 1 ORDER BY 1",
  );
  const viz = await call("POST", `/api/v1/share/${token}/widgets/viz/run`, { body: {} });
  assert.equal(viz.status, 200, JSON.stringify(viz.json));
  assert.deepEqual(
    viz.json.rows,
    direct.getRowsJS(),
    "dashboard param p (6,17) and its time range reach the query",
  );
  const only6 = await call("POST", `/api/v1/share/${token}/widgets/viz/run`, {
    body: { params: { p: ["6"] } },
  });
  assert.deepEqual(
    only6.json.rows,
    direct.getRowsJS().filter((r) => r[0] === 6),
  );
  const inj = await call("POST", `/api/v1/share/${token}/widgets/viz/run`, {
    body: { params: { p: ["6) OR (1=1"] } },
  });
  assert.equal(inj.status, 400);
  const flow = await call("POST", `/api/v1/share/${token}/widgets/flow/run`, { body: {} });
  assert.equal(flow.status, 200, JSON.stringify(flow.json));
  const bi = flow.json.columns.findIndex((c: { name: string }) => c.name === "value");
  const sum = flow.json.rows.reduce((a: number, r: unknown[]) => a + Number(r[bi]), 0);
  assert.equal(sum, total.bytes, "the flow widget covers the whole capture");
  assert.equal((await call("POST", `/api/v1/share/${token}/widgets/note/run`, { body: {} })).status, 400);

  // Nothing else: other widgets, other dashboards, writes, the signed-in API.
  assert.equal((await call("POST", `/api/v1/share/${token}/widgets/nope/run`, { body: {} })).status, 404);
  for (const [m, p] of [
    ["PUT", `/api/v1/share/${token}`],
    ["DELETE", `/api/v1/share/${token}`],
    ["POST", `/api/v1/share/${token}`],
    ["GET", `/api/v1/share/${token}/widgets/viz/run`],
  ] as const)
    assert.equal((await call(m, p, { body: m === "GET" ? undefined : {} })).status, 405, `${m} ${p}`);
  for (const p of [
    `/api/v1/share/${token}/dashboards/${other.id}`,
    `/api/v1/share/${token}/../dashboards/${other.id}`,
    `/api/v1/share/${token}/queries/${q.id}`,
    "/api/v1/share",
  ])
    assert.ok([403, 404].includes((await call("GET", p)).status), p);
  assert.equal((await call("GET", `/api/v1/dashboards/${other.id}`)).status, 401);
  assert.equal((await call("GET", `/api/v1/queries/${q.id}`)).status, 401);
  // A token one character off (never the token itself: its last character may already be "x").
  const off = token.slice(0, -1) + (token.endsWith("x") ? "y" : "x");
  assert.equal((await call("GET", `/api/v1/share/${off}`)).status, 404);

  // Revoked (editor only): everything under the token is gone.
  assert.equal((await vi("DELETE", `/api/v1/dashboards/${d.id}/shares/${token}`)).status, 403);
  const rev = await ed("DELETE", `/api/v1/dashboards/${d.id}/shares/${token}`);
  assert.equal(rev.status, 200);
  assert.equal(rev.json.revoked, true);
  assert.equal((await call("GET", `/api/v1/share/${token}`)).status, 404);
  assert.equal((await call("POST", `/api/v1/share/${token}/widgets/flow/run`, { body: {} })).status, 404);
});

test("Overview: every flow widget plans and runs over the capture", async () => {
  const o = (await vi("GET", "/api/v1/dashboards/overview")).json as Dashboard;
  assert.equal(o.id, "overview");
  const flowWidgets = o.widgets.filter((w) => w.type === "flow");
  assert.ok(flowWidgets.length >= 7);
  for (const w of flowWidgets) {
    const r = await vi("POST", `/api/v1/dashboards/overview/widgets/${w.id}/run`, {
      start: new Date(span.start).toISOString(),
      end: new Date(span.end).toISOString(),
    });
    assert.equal(r.status, 200, `${w.id}: ${JSON.stringify(r.json)}`);
    assert.ok(r.json.rows.length > 0, `${w.id} has rows`);
  }
  // The default range (now-6h..now) is valid too, even if the old capture is outside it.
  assert.equal((await vi("POST", "/api/v1/dashboards/overview/widgets/src-as/run", {})).status, 200);
});

test("scheduled refresh: result kept in memory and on disk, served at results/latest; CSV streams", async () => {
  const q = await makeQuery({
    name: "scheduled",
    sql: "SELECT protocol, count(*)::INTEGER AS n FROM flows WHERE protocol IN ({{ p }}) GROUP BY 1 ORDER BY 1",
    params: [{ name: "p", type: "list", options: ["6", "17"], multi: true, default: ["6", "17"] }],
    schedule: { intervalSec: 60 },
  });
  assert.equal((await vi("GET", `/api/v1/queries/${q.id}/results/latest`)).status, 404);
  const t0 = Date.now();
  const ran = await scheduler.runDue(t0);
  assert.ok(ran >= 1);
  assert.equal(await scheduler.runDue(t0 + 30_000), 0, "not due again within its interval");
  const direct = (
    await writer.connection.runAndReadAll(
      "SELECT protocol, count(*)::INTEGER FROM flows_raw WHERE protocol IN (6, 17) GROUP BY 1 ORDER BY 1",
    )
  ).getRowsJS();
  const latest = await vi("GET", `/api/v1/queries/${q.id}/results/latest`);
  assert.equal(latest.status, 200);
  assert.equal(latest.json.error, null);
  assert.deepEqual(latest.json.rows, direct);
  assert.deepEqual(
    latest.json.columns.map((c: { name: string }) => c.name),
    ["protocol", "n"],
  );
  assert.ok(existsSync(join(content.resultsDir, `${q.id}.json`)));
  // A new scheduler (a restart) serves the kept result before running anything.
  const again = new Scheduler({ store: content, sql, tickMs: 3600_000 });
  again.start();
  assert.deepEqual(again.result(q.id)?.rows, direct);
  await again.stop();

  // CSV of the whole result, with parameters in the URL.
  const csv = await call(
    "GET",
    `/api/v1/queries/${q.id}/results.csv?params=${encodeURIComponent('{"p":["17"]}')}`,
    {
      as: viewer,
    },
  );
  assert.equal(csv.status, 200);
  assert.equal(csv.json, `protocol,n\n17,${String(direct.find((r) => r[0] === 17)![1])}\n`);
  const badCsv = await call(
    "GET",
    `/api/v1/queries/${q.id}/results.csv?params=${encodeURIComponent('{"p":["1 OR 1=1"]}')}`,
    {
      as: viewer,
    },
  );
  assert.equal(badCsv.status, 400);
  // The same whole result as a JSON array (streamed like the CSV).
  const json = await call(
    "GET",
    `/api/v1/queries/${q.id}/results.json?params=${encodeURIComponent('{"p":["17"]}')}`,
    { as: viewer },
  );
  assert.equal(json.status, 200);
  assert.deepEqual(json.json, [{ protocol: 17, n: direct.find((r) => r[0] === 17)![1] }]);
});

test("scheduler lifecycle: start runs due queries on its timer, keeps errors as results, stop waits", async () => {
  const store = new ContentStore(join(dir, "content-lifecycle"));
  store.load();
  const good = store.createQuery(
    { name: "count", sql: "SELECT count(*)::INTEGER AS n FROM flows", schedule: { intervalSec: 60 } },
    "ed",
  );
  const bad = store.createQuery(
    { name: "bad", sql: "SELECT * FROM read_text('/etc/passwd')", schedule: { intervalSec: 60 } },
    "ed",
  );
  const off = store.createQuery({ name: "unscheduled", sql: "SELECT 1" }, "ed");
  const s = new Scheduler({ store, sql, tickMs: 50 });
  s.start();
  const until = Date.now() + 10_000;
  while (s.runs < 2) {
    assert.ok(Date.now() < until, "the timer never ran the due queries");
    await new Promise((r) => setTimeout(r, 20));
  }
  await s.stop();
  const runs = s.runs;
  assert.deepEqual(s.result(good.id)?.rows, [[total.flows]]);
  assert.equal(s.result(good.id)?.error, null);
  assert.match(s.result(bad.id)?.error ?? "", /read_text|Permission|disabled|refused/i);
  assert.equal(s.result(off.id), null);
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(s.runs, runs, "no runs after stop");
  // A deleted query's result is gone with it.
  store.deleteQuery(good.id);
  assert.equal(s.result(good.id), null);
  assert.ok(!existsSync(join(store.resultsDir, `${good.id}.json`)));
});

test("App wiring: the first start creates Overview under <dataDir>/content; a restart keeps edits", async () => {
  const dataDir = join(dir, "app-data");
  const config = validateConfig({
    dataDir,
    collector: { listen: ["127.0.0.1:0"], sflowListen: ["127.0.0.1:0"] },
    http: { listen: "127.0.0.1:0" },
    demo: { enabled: false },
  });
  const get = async (app: App, path: string, init: RequestInit = {}): Promise<Answer> => {
    const r = await fetch(`http://127.0.0.1:${app.http.port}${path}`, {
      ...init,
      headers: { Authorization: `Bearer ${app.token!.token}`, "Content-Type": "application/json" },
    });
    return { status: r.status, json: await r.json() };
  };
  let app = new App({ config, log: silentLogger });
  await app.start();
  try {
    const o = await get(app, "/api/v1/dashboards/overview");
    assert.equal(o.status, 200);
    assert.equal(o.json.name, "Overview");
    assert.ok(existsSync(join(dataDir, "content", "dashboards", "overview.json")));
    const put = await get(app, "/api/v1/dashboards/overview", {
      method: "PUT",
      body: JSON.stringify({ refreshSec: 30 }),
    });
    assert.equal(put.json.version, 2);
    const run = await get(app, "/api/v1/dashboards/overview/widgets/traffic/run", {
      method: "POST",
      body: "{}",
    });
    assert.equal(run.status, 200, JSON.stringify(run.json));
  } finally {
    await app.stop();
  }
  app = new App({ config, log: silentLogger });
  await app.start();
  try {
    const o = await get(app, "/api/v1/dashboards/overview");
    assert.equal(o.json.version, 2);
    assert.equal(o.json.refreshSec, 30);
  } finally {
    await app.stop();
  }
});

test("share link: a live widget streams its own dimension without a session; the stream ends once revoked", async () => {
  const d = (
    await ed("POST", "/api/v1/dashboards", {
      name: "live share",
      widgets: [
        { id: "lv", type: "live", title: "live", x: 0, y: 0, w: 6, h: 4, liveDim: "dst_as" },
        { id: "txt", type: "text", title: "t", x: 6, y: 0, w: 6, h: 4, text: "hello" },
      ],
    })
  ).json as Dashboard;
  const token = ((await ed("POST", `/api/v1/dashboards/${d.id}/share`)).json as { token: string }).token;
  const url = `${base}/api/v1/share/${token}/widgets/lv/live`;
  // No cookie, no bearer token: the share token is the credential.
  const ac = new AbortController();
  const res = await fetch(url, { signal: ac.signal });
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/event-stream/);
  const reader = res.body!.getReader();
  const first = new TextDecoder().decode((await reader.read()).value);
  assert.match(first, /^event: window\ndata: /);
  assert.equal(
    (JSON.parse(first.split("data: ")[1]!) as { dim: string }).dim,
    "dst_as",
    "the widget's dimension",
  );
  // Only live widgets, only GET, only this token.
  assert.equal((await fetch(`${base}/api/v1/share/${token}/widgets/txt/live`)).status, 404);
  assert.equal((await fetch(url, { method: "POST" })).status, 405);
  assert.equal((await fetch(`${base}/api/v1/share/${"z".repeat(32)}/widgets/lv/live`)).status, 404);
  // Revoked: the open stream is cut within about a second, and a new one is refused.
  assert.equal((await ed("DELETE", `/api/v1/dashboards/${d.id}/shares/${token}`)).status, 200);
  const ended = await Promise.race([
    (async () => {
      for (;;) {
        const r = await reader.read().catch(() => ({ done: true }));
        if (r.done) return true;
      }
    })(),
    new Promise<boolean>((r) => setTimeout(() => r(false), 5000)),
  ]);
  ac.abort();
  assert.ok(ended, "the stream of a revoked link ends");
  assert.equal((await fetch(url)).status, 404);
});
