// The whole UI on a Trino engine (query.engine.kind trino; docs/trino.md
// "The whole UI on Trino"), in default CI without a real Trino: app A is a
// Nagare holding a real IPFIX capture (ipfixcol2 example_flows, decoded by
// FlowDecoder, three copies an hour apart) that serves the Trino client
// REST protocol (src/api/trino.ts: /v1/statement, nextUri paging, DELETE
// cancel, error objects with positions); app B is a whole Nagare App with
// an empty store and query.engine.kind trino pointing at A's /v1/statement.
// Everything B answers on its SQL API therefore came through
// TrinoSqlService (src/query/engine/trino-sql-service.ts) and the protocol.
//
// Through B's HTTP API, compared with A's own /api/v1/sql on the same data:
// a TopN, a time range, a result paged over several pages (B's maxRows and
// A's Trino pages both smaller than the result), the CSV and JSON downloads,
// a saved query, a dashboard's SQL widget and an SQL alert rule; refused
// statements (CREATE, INSERT, two statements, EXPLAIN ANALYZE of a DELETE)
// answer 403 naming the statement; a slow query past a short time limit
// answers 408 and A's query is gone (the DELETE reached it); cancel works
// the same way; the schema browser's views and columns come from A's SHOW
// TABLES / DESCRIBE; Trino's error position comes back as line/column/offset.
// Then Chromium (playwright-core) on B's SQL page: the engine label names
// Trino and the grid shows A's rows.
// Over HTTPS (query.engine.trino.ca): Apps that reach A's TLS listener with
// A's self-signed certificate (<dataDir>/trino-tls/cert.pem) as their CA and
// a real Nagare user + password of A (HTTP Basic) answer as B does, also
// through the streamed POST /api/v1/engine/sql; a wrong password and a wrong
// CA answer 502 naming authentication and the certificate.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { Browser } from "playwright-core";
import { CollectorStats } from "../src/collector/stats.js";
import { parseListen, type ListenAddress } from "../src/config/address.js";
import { validateConfig } from "../src/config/schema.js";
import { App } from "../src/app.js";
import { FlowQueryRunner } from "../src/api/query.js";
import { HttpApi } from "../src/api/server.js";
import { TrinoServer } from "../src/api/trino.js";
import { UserStore } from "../src/api/auth.js";
import { defaultTrinoConfig } from "../src/api/trino-config.js";
import { silentLogger } from "../src/log.js";
import { SqlService } from "../src/query/sql/index.js";
import { readOnlyStatement } from "../src/query/engine/trino-sql-service.js";
import { StoreWriter } from "../src/store/writer.js";
import { decodeUnit } from "./helpers/captures.js";
import {
  gridRows,
  launchChromium,
  setEditor,
  shotOnFailure,
  signIn,
  waitGridRow,
  waitText,
} from "./helpers/nagare-proc.js";
import { repoRoot } from "./helpers/repo.js";

const UNIT = "ipfixcol2__example_flows";
const UNIT_FLOWS = 3979;
const COPIES_MS = [-7_200_000, -3_600_000, 0];
const TOKEN_A = "a".repeat(32);
const ADMIN_PASSWORD = "b-admin-password";
const TOPN = "SELECT dst_port, sum(bytes) AS bytes FROM flows GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10";
/** Seconds of DuckDB work on A: far past any limit the tests set, well inside A's own 20 s. */
const SLOW = "SELECT count(*) AS n FROM range(200000) a, range(200000) b WHERE a.range + b.range = 7";
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const dir = mkdtempSync(join(tmpdir(), "nagare-trino-ui-"));
const writer = new StoreWriter({ config: { path: join(dir, "a.duckdb"), intervalMs: 1000 } });
const sqlA = new SqlService(() => writer.database, { timeoutMs: 20_000, maxRows: 100_000 });
const flowsA = new FlowQueryRunner(() => writer.database, 5000);
let apiA: HttpApi;
let trinoA: TrinoServer;
let app: App;
let users: UserStore;
let server = "";
let span = { start: "", end: "" };

interface SqlAnswer {
  id: string;
  columns: { name: string; type: string }[];
  rows: unknown[][];
  nextOffset: number | null;
}

async function call(
  base: string,
  token: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: Record<string, unknown>; text: string }> {
  const r = await fetch(`${base}${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await r.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // CSV
  }
  return { status: r.status, json, text };
}
const a = (method: string, path: string, body?: unknown) =>
  call(`http://${apiA.address}`, TOKEN_A, method, path, body);
const b = (method: string, path: string, body?: unknown) =>
  call(`http://${app.http.address}`, app.token!.token, method, path, body);

async function sqlOk(on: typeof a, sql: string, extra: Record<string, unknown> = {}): Promise<SqlAnswer> {
  const r = await on("POST", "/api/v1/sql", { sql, ...extra });
  assert.equal(r.status, 200, `${sql}\n${r.text}`);
  return r.json as unknown as SqlAnswer;
}

before(async () => {
  await writer.start();
  const stats = new CollectorStats();
  for (const offset of COPIES_MS) decodeUnit(UNIT, (batch) => writer.consume(batch), offset, stats);
  await writer.flush();
  await sqlA.start();
  const r = await writer.connection.runAndReadAll(
    `SELECT strftime(min(time_received), '%Y-%m-%d %H:%M:%S.%f'),
            strftime(min(time_received) + INTERVAL 90 MINUTE, '%Y-%m-%d %H:%M:%S.%f'), count(*)::INTEGER FROM flows_raw`,
  );
  const row = r.getRowsJS()[0]!;
  span = { start: String(row[0]), end: String(row[1]) };
  assert.equal(Number(row[2]), COPIES_MS.length * UNIT_FLOWS);

  users = new UserStore(join(dir, "a-data"));
  apiA = new HttpApi({
    listen: parseListen("127.0.0.1:0") as ListenAddress,
    token: TOKEN_A,
    stats,
    query: { sql: sqlA, flows: flowsA },
  });
  await apiA.start();
  // A's plain-HTTP listener: Trino refuses passwords over http, so B (which
  // would send them only over https) reads A as the user named in X-Trino-User.
  trinoA = new TrinoServer({
    config: {
      ...defaultTrinoConfig(),
      enabled: true,
      listen: "127.0.0.1:0",
      httpListen: "127.0.0.1:0",
      httpAnonymous: true,
      pageRows: 400,
    },
    sql: sqlA,
    users,
    token: () => TOKEN_A,
    dataDir: join(dir, "a-data"),
  });
  await trinoA.start();
  server = `http://${trinoA.httpAddress}`;

  // B builds the web UI into web/dist (what npm test's build does) for the browser test.
  execFileSync(process.execPath, [join(repoRoot(), "web", "build.mjs")], {
    cwd: repoRoot(),
    stdio: "inherit",
  });
  const config = validateConfig({
    dataDir: join(dir, "b-data"),
    collector: { listen: ["127.0.0.1:0"], sflowListen: ["127.0.0.1:0"] },
    http: { listen: "127.0.0.1:0", adminPassword: ADMIN_PASSWORD },
    demo: { enabled: false },
    query: {
      sql: { timeoutMs: 15_000, maxRows: 1000 },
      engine: { kind: "trino", trino: { server, catalog: "nagare", schema: "default", user: "b-engine" } },
    },
  });
  app = new App({ config, log: silentLogger });
  await app.start();
});

after(async () => {
  await app?.stop();
  await trinoA?.stop();
  await apiA?.stop();
  flowsA.close();
  await sqlA.stop();
  await writer.stop();
  rmSync(dir, { recursive: true, force: true });
});

test("B reports the Trino engine; its own store is empty, so every row below came from A", async () => {
  const e = await b("GET", "/api/v1/engine");
  assert.equal(e.status, 200);
  assert.equal(e.json.kind, "trino");
  assert.equal(e.json.label, `Trino ${server} (nagare.default)`);
  const own = await app.sql!.query("SELECT count(*) FROM flows_raw");
  assert.equal(String(own.rows[0]![0]), "0");
});

test("a TopN and a time range on B equal A's own /api/v1/sql", async () => {
  const want = await sqlOk(a, TOPN);
  const got = await sqlOk(b, TOPN);
  assert.equal(want.rows.length, 10);
  assert.deepEqual(got.rows, want.rows);
  assert.deepEqual(
    got.columns.map((c) => c.name),
    ["dst_port", "bytes"],
  );
  // USMALLINT and HUGEINT on A's DuckDB travel as Trino integer and decimal(38,0).
  assert.deepEqual(
    got.columns.map((c) => c.type),
    ["INTEGER", "DECIMAL(38,0)"],
  );

  const range =
    `SELECT time_received, src_addr_text, dst_addr_text, protocol, dst_port, bytes, packets FROM flows ` +
    `WHERE time_received >= TIMESTAMP '${span.start}' AND time_received < TIMESTAMP '${span.end}' ` +
    `ORDER BY ALL LIMIT 300`;
  const w = await sqlOk(a, range);
  const g = await sqlOk(b, range);
  assert.equal(w.rows.length, 300);
  assert.deepEqual(g.rows, w.rows);
  assert.deepEqual(
    g.columns.map((c) => c.type),
    ["TIMESTAMP_MS", "VARCHAR", "VARCHAR", "SMALLINT", "INTEGER", "DECIMAL(20,0)", "DECIMAL(20,0)"],
  );
  const count = `SELECT count(*) AS n FROM flows WHERE time_received >= TIMESTAMP '${span.start}' AND time_received < TIMESTAMP '${span.end}'`;
  assert.deepEqual((await sqlOk(b, count)).rows, (await sqlOk(a, count)).rows);
  assert.equal(String((await sqlOk(b, count)).rows[0]![0]), String(2 * UNIT_FLOWS));
});

const PAGED = "SELECT time_received, src_addr_text, dst_port, bytes FROM flows ORDER BY ALL LIMIT 2500";

test("paging on B: 2,500 rows in pages of 1,000 (A's Trino pages hold 400) equal A's result", async () => {
  const want = await sqlOk(a, PAGED);
  assert.equal(want.rows.length, 2500);
  const rows: unknown[][] = [];
  let offset: number | null = 0;
  let pages = 0;
  while (offset !== null) {
    const p = await sqlOk(b, PAGED, { offset });
    assert.ok(p.rows.length <= 1000);
    rows.push(...p.rows);
    offset = p.nextOffset;
    pages++;
  }
  assert.equal(pages, 3);
  assert.deepEqual(rows, want.rows);
  const mid = await sqlOk(b, PAGED, { offset: 1234, limit: 10 });
  assert.deepEqual(mid.rows, want.rows.slice(1234, 1244));
  assert.equal(mid.nextOffset, 1244);
});

test("CSV and JSON downloads on B equal A's, byte for byte", async () => {
  for (const ext of ["csv", "json"]) {
    const path = `/api/v1/sql.${ext}?q=${encodeURIComponent(PAGED)}`;
    const want = await a("GET", path);
    const got = await b("GET", path);
    assert.equal(want.status, 200);
    assert.equal(got.status, 200, got.text);
    assert.ok(got.text.length > 50_000);
    assert.equal(got.text, want.text, `${ext} download differs`);
  }
  assert.equal(
    (await b("GET", `/api/v1/sql.csv?q=${encodeURIComponent(PAGED)}`)).text.split("\n").length,
    2502,
  );
  const refused = await b("GET", `/api/v1/sql.csv?q=${encodeURIComponent("DROP TABLE flows")}`);
  assert.equal(refused.status, 403);
  assert.match(String(refused.json.error), /DROP statement refused/);
});

test("a saved query, a dashboard SQL widget and an SQL alert run on the Trino engine", async () => {
  // The alerts' webhook: a loopback receiver (its notifications are not what this test checks).
  const hookServer = createServer((req, res) => {
    req.resume();
    req.on("end", () => res.end("ok"));
  });
  await new Promise<void>((r) => hookServer.listen(0, "127.0.0.1", r));
  const hook = { url: `http://127.0.0.1:${(hookServer.address() as AddressInfo).port}/hook` };
  after(() => new Promise<void>((r) => hookServer.close(() => r())));
  const want = await sqlOk(a, TOPN);
  const q = await b("POST", "/api/v1/queries", {
    name: "top ports",
    sql: TOPN,
    visualizations: [{ id: "t", type: "table", name: "Table", options: {} }],
  });
  assert.equal(q.status, 201, q.text);
  const qid = String(q.json.id);
  const run = await b("POST", `/api/v1/queries/${qid}/run`, {});
  assert.equal(run.status, 200, run.text);
  assert.deepEqual(run.json.rows, want.rows);

  const d = await b("POST", "/api/v1/dashboards", {
    name: "on trino",
    widgets: [{ id: "w1", type: "viz", title: "Top", x: 0, y: 0, w: 6, h: 4, queryId: qid, vizId: "t" }],
  });
  assert.equal(d.status, 201, d.text);
  const w = await b("POST", `/api/v1/dashboards/${String(d.json.id)}/widgets/w1/run`, {});
  assert.equal(w.status, 200, w.text);
  assert.deepEqual(w.json.rows, want.rows);

  const rule = app.alerts.create(
    {
      name: "ten ports",
      source: { kind: "query", queryId: qid, op: ">=", value: 10, measure: "rows", intervalSec: 60 },
      destinations: [{ kind: "webhook", target: hook.url }],
    },
    "tester",
  );
  assert.equal(await app.alerts.evaluateQuery(app.alerts.store.get(rule.id)!), "triggered");
  const top = app.alerts.create(
    {
      name: "top port bytes",
      source: {
        kind: "query",
        queryId: qid,
        column: "bytes",
        op: ">",
        value: Number(want.rows[0]![1]) - 1,
        measure: "value",
        intervalSec: 60,
      },
      destinations: [{ kind: "webhook", target: hook.url }],
    },
    "tester",
  );
  assert.equal(await app.alerts.evaluateQuery(app.alerts.store.get(top.id)!), "triggered");
  const ruleNow = await b("GET", `/api/v1/alerts/rules/${top.id}`);
  assert.equal(
    String((ruleNow.json.lastResult as { value?: unknown } | undefined)?.value),
    String(Number(want.rows[0]![1])),
    ruleNow.text,
  );
});

test("refused statements: 403 naming the statement, before A sees them", async () => {
  for (const [sql, re] of [
    ["CREATE TABLE x AS SELECT 1", /^CREATE statement refused/],
    ["INSERT INTO flows_raw SELECT * FROM flows_raw", /^INSERT statement refused/],
    ["SELECT 1; SELECT 2", /^2 statements/],
    ["select 1 -- fine ; \n; drop table flows", /statements/],
    ["EXPLAIN ANALYZE DELETE FROM flows_raw", /^DELETE statement refused/],
    ["/* comment */ (DROP TABLE flows)", /^DROP statement refused/],
  ] as const) {
    const r = await b("POST", "/api/v1/sql", { sql });
    assert.equal(r.status, 403, `${sql}: ${r.text}`);
    assert.equal(r.json.code, "refused");
    assert.match(String(r.json.error), re);
  }
  // Keywords inside strings and comments are not statements.
  const ok = await sqlOk(b, "SELECT 'x; DROP TABLE flows' AS s -- ; DELETE\n;");
  assert.deepEqual(ok.rows, [["x; DROP TABLE flows"]]);
  assert.equal(readOnlyStatement("SELECT 'a;b' ;  -- x"), "SELECT 'a;b' ");
  assert.equal(readOnlyStatement("SELECT x FROM t WHERE s = 'end'"), "SELECT x FROM t WHERE s = 'end'");
  assert.deepEqual((await sqlOk(b, "SHOW TABLES")).rows.length > 3, true);
});

/** A's Trino queries still open (a DELETE from B closes them). */
async function aIdle(): Promise<void> {
  for (let i = 0; sqlA.runningIds().length > 0; i++) {
    assert.ok(i < 100, `A still runs ${sqlA.runningIds().join(", ")}`);
    await sleep(50);
  }
}

test("a slow query past a short time limit: 408 with the limit, and A's query is stopped", async () => {
  const t0 = Date.now();
  const r = await b("POST", "/api/v1/sql", { sql: SLOW, timeoutMs: 400 });
  const took = Date.now() - t0;
  assert.equal(r.status, 408, r.text);
  assert.equal(r.json.code, "timeout");
  assert.match(String(r.json.error), /time limit of 400 ms/);
  assert.ok(took < 5000, `answered after ${took} ms`);
  await aIdle();
});

test("cancel: DELETE /api/v1/sql/ID stops the query on B and on A", async () => {
  const id = "trino-cancel-1";
  const pending = b("POST", "/api/v1/sql", { sql: SLOW, id });
  let cancelled = false;
  for (let i = 0; i < 100 && !cancelled; i++) {
    await sleep(50);
    // 404 until the query is registered on B (the POST may still be in flight).
    const c = await b("DELETE", `/api/v1/sql/${id}`);
    cancelled = c.status === 200;
  }
  assert.ok(cancelled, "the query never showed up as running on B");
  const r = await pending;
  assert.equal(r.status, 409, r.text);
  assert.equal(r.json.code, "cancelled");
  await aIdle();
});

test("the schema browser's views and columns come from the engine (SHOW TABLES, DESCRIBE)", async () => {
  const want = (await a("GET", "/api/v1/views")).json as unknown as string[];
  const got = await b("GET", "/api/v1/views");
  assert.equal(got.status, 200, got.text);
  assert.ok(want.includes("flows"));
  assert.deepEqual(got.json, [...want].sort());
  const cols = await b("GET", "/api/v1/views/flows/columns");
  const wantCols = await a("GET", "/api/v1/views/flows/columns");
  assert.equal(cols.status, 200, cols.text);
  const g = cols.json as unknown as { name: string; type: string }[];
  const w = wantCols.json as unknown as { name: string; type: string }[];
  assert.deepEqual(
    g.map((c) => c.name),
    w.map((c) => c.name),
  );
  // Types as DuckDB names them, widened where Trino has no unsigned twin (UBIGINT → DECIMAL(20,0)).
  const type = (n: string): string | undefined => g.find((c) => c.name === n)?.type;
  assert.equal(type("bytes"), "DECIMAL(20,0)");
  assert.equal(type("time_received"), "TIMESTAMP_MS");
  assert.equal(type("src_addr_text"), "VARCHAR");
  assert.equal((await b("GET", "/api/v1/views/no_such_view/columns")).status, 404);
});

test("Trino's error position comes back as line, column and offset", async () => {
  const text = "SELECT dst_port\nFROM flows\nWHERE nope = 1";
  const want = await a("POST", "/api/v1/sql", { sql: text });
  assert.equal(want.status, 400);
  const r = await b("POST", "/api/v1/sql", { sql: text });
  assert.equal(r.status, 400, r.text);
  assert.equal(r.json.code, "invalid");
  assert.match(String(r.json.error), /^trino: .*nope/s);
  const syntax = "SELECT dst_port\nFROM flows\nWHERE = 1";
  const s = await b("POST", "/api/v1/sql", { sql: syntax });
  assert.equal(s.status, 400, s.text);
  assert.equal(s.json.line, 3, s.text);
  assert.equal(typeof s.json.column, "number");
  assert.equal(s.json.offset, syntax.indexOf("WHERE") + Number(s.json.column) - 1);
});

test("browser: B's SQL page names the Trino engine and shows A's rows", { timeout: 120_000 }, async () => {
  const shots = join(repoRoot(), "test-output", "ui");
  mkdirSync(shots, { recursive: true });
  let browser: Browser | null = null;
  try {
    browser = await launchChromium();
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await ctx.newPage();
    const base = `http://${app.http.address}`;
    await signIn(page, base, "admin", ADMIN_PASSWORD);
    await shotOnFailure(page, "trino-ui-sql", async () => {
      await page.goto(`${base}/#/queries/new`);
      await waitText(page, "#q-engine", /engine: Trino http:\/\/127\.0\.0\.1:\d+ \(nagare\.default\)/);
      await setEditor(page, TOPN);
      await page.click("#q-run");
      await waitGridRow(page, "#q-results", 9);
      const want = await sqlOk(a, TOPN);
      const rows = await gridRows(page, "#q-results");
      assert.deepEqual(
        rows.map((r) => r.cells.slice(0, 2)),
        want.rows.map((r) => r.map((v) => String(v))),
      );
      // The schema browser lists A's tables.
      await waitText(page, "#q-schema", /flows_1m/);
      await page.screenshot({ path: join(shots, "trino-ui-sql.png") });
    });
  } finally {
    await browser?.close().catch(() => undefined);
  }
});

// ---------------------------------------------------------------- HTTPS, a password and a private CA

const ENGINE_USER = "b-engine-tls";
const ENGINE_PASSWORD = "engine-password-1234";

/** An App like B reaching A's HTTPS listener with `trino` over the defaults below. */
async function tlsApp(name: string, trino: Record<string, unknown>): Promise<App> {
  const c = new App({
    config: validateConfig({
      dataDir: join(dir, name),
      collector: { listen: ["127.0.0.1:0"], sflowListen: ["127.0.0.1:0"] },
      http: { listen: "127.0.0.1:0" },
      demo: { enabled: false },
      query: {
        sql: { timeoutMs: 15_000, maxRows: 1000 },
        engine: {
          kind: "trino",
          trino: {
            server: `https://${trinoA.address}`,
            catalog: "nagare",
            schema: "default",
            user: ENGINE_USER,
            password: ENGINE_PASSWORD,
            ca: trinoA.certPath,
            ...trino,
          },
        },
      },
    }),
    log: silentLogger,
  });
  await c.start();
  return c;
}

test("over HTTPS with A's certificate as query.engine.trino.ca and a Nagare user's password: same answers; wrong password, wrong CA named", async () => {
  // A real user of A (users.json); A's HTTPS listener has no anonymous access.
  await users.set(ENGINE_USER, "viewer", ENGINE_PASSWORD);
  // Another self-signed certificate: a CA that did not sign A's certificate.
  const other = join(dir, "other-ca.pem");
  execFileSync(
    "openssl",
    ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
     "-subj", "/CN=not nagare", "-keyout", join(dir, "other-ca.key"), "-out", other],
    { stdio: ["ignore", "ignore", "pipe"] },
  ); // prettier-ignore
  const [good, badPass, badCa] = await Promise.all([
    tlsApp("c-good", {}),
    tlsApp("c-badpass", { password: "not-the-password" }),
    tlsApp("c-badca", { ca: other }),
  ]);
  const on = (x: App) => (method: string, path: string, body?: unknown) =>
    call(`http://${x.http.address}`, x.token!.token, method, path, body);
  try {
    const c = on(good);
    assert.equal(
      (await c("GET", "/api/v1/engine")).json.label,
      `Trino https://${trinoA.address} (nagare.default)`,
    );
    assert.deepEqual((await sqlOk(c, TOPN)).rows, (await sqlOk(a, TOPN)).rows);
    // Paged as on B: several of A's Trino pages per page of C.
    const want = await sqlOk(a, PAGED);
    const rows: unknown[][] = [];
    for (let offset: number | null = 0; offset !== null;) {
      const p: SqlAnswer = await sqlOk(c, PAGED, { offset });
      rows.push(...p.rows);
      offset = p.nextOffset;
    }
    assert.deepEqual(rows, want.rows);

    // POST /api/v1/engine/sql streams the whole result (2,500 rows over 7 of A's pages) in one answer.
    const eng = await c("POST", "/api/v1/engine/sql", { sql: PAGED });
    assert.equal(eng.status, 200, eng.text.slice(0, 300));
    assert.equal(eng.json.engine, "trino");
    assert.match(String(eng.json.queryId), /./);
    assert.deepEqual(
      (eng.json.columns as { name: string }[]).map((x) => x.name),
      ["time_received", "src_addr_text", "dst_port", "bytes"],
    );
    assert.equal(eng.json.error, undefined);
    const streamed = eng.json.rows as unknown[][];
    assert.equal(streamed.length, 2500);
    // Raw Trino JSON values: compare the columns whose text is engine-independent.
    assert.deepEqual(
      streamed.map((r) => [String(r[1]), String(r[2]), String(r[3])]),
      want.rows.map((r) => [String(r[1]), String(r[2]), String(r[3])]),
    );
    const bad = await c("POST", "/api/v1/engine/sql", { sql: "SELECT nope FROM nowhere" });
    assert.equal(bad.status, 400, bad.text);
    assert.match(String(bad.json.error), /trino: .*nowhere/);

    // Wrong password: A answers 401; C says it is an authentication failure and which keys to check.
    const wp = await on(badPass)("POST", "/api/v1/sql", { sql: TOPN });
    assert.equal(wp.status, 502, wp.text);
    assert.match(String(wp.json.error), /refused authentication as user "b-engine-tls" \(HTTP 401\)/);
    assert.match(String(wp.json.error), /query\.engine\.trino\.password/);
    const wpe = await on(badPass)("POST", "/api/v1/engine/sql", { sql: TOPN });
    assert.equal(wpe.status, 502, wpe.text);
    assert.match(String(wpe.json.error), /authentication/);

    // Wrong CA: Node refuses A's certificate; the error names the certificate and the key.
    const wc = await on(badCa)("POST", "/api/v1/sql", { sql: TOPN });
    assert.equal(wc.status, 502, wc.text);
    assert.match(
      String(wc.json.error),
      /TLS certificate not accepted: self-signed certificate \[DEPTH_ZERO_SELF_SIGNED_CERT\]/,
    );
    assert.match(String(wc.json.error), /query\.engine\.trino\.ca/);
  } finally {
    await Promise.all([good.stop(), badPass.stop(), badCa.stop()]);
  }
});

test("query.engine.trino.ca is checked at start-up: the file must exist and hold a certificate that parses", () => {
  const engine = (ca: string) => ({
    query: { engine: { kind: "trino", trino: { server: "https://127.0.0.1:8443", ca } } },
  });
  assert.throws(
    () => validateConfig(engine(join(dir, "no-such.pem"))),
    /query\.engine\.trino\.ca: .*cannot read: ENOENT/,
  );
  const notPem = join(dir, "not-a-cert.pem");
  writeFileSync(notPem, "hello\n");
  assert.throws(() => validateConfig(engine(notPem)), /query\.engine\.trino\.ca: .*no PEM certificate/);
  const broken = join(dir, "broken.pem");
  writeFileSync(broken, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
  assert.throws(() => validateConfig(engine(broken)), /query\.engine\.trino\.ca: .*does not parse/);
  // A's own certificate is a good CA file.
  assert.equal(validateConfig(engine(trinoA.certPath)).query.engine.trino.ca, trinoA.certPath);
});
