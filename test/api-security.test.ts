// The SQL API's guarantees over real HTTP, against a running App whose store
// is ingesting a real NetFlow v5 capture sent over loopback UDP the whole
// time: file/network access, ATTACH, COPY, INSTALL/LOAD, settings, DDL/DML
// and multi-statement tricks are refused with a 4xx and a message and change
// nothing; a runaway query is cut off by its time limit (408) while ingest
// keeps committing; a running query is cancelled by its id (409).
// src/query/sql/sql.test.ts checks the service itself; this goes through the
// HTTP layer (body parsing, status mapping, auth) as a client would.
import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { App } from "../src/app.js";
import { readCapture } from "../src/collector/capture.js";
import { validateConfig } from "../src/config/schema.js";
import { silentLogger } from "../src/log.js";

const CAPTURES = "/work/shared/captures";
const UNIT = "logstash__netflow5_test_microtik";
const TIMEOUT_MS = 1500;
const RUNAWAY = "SELECT sum(a.range * b.range) FROM range(1000000000) a, range(1000000000) b";

const dir = mkdtempSync(join(tmpdir(), "nagare-apisec-"));
const probe = join(dir, "probe"); // where a successful write or read would show
const lake = join(dir, "lake");
let app: App;
let sending = true;
let sender: Promise<void>;

interface Answer {
  status: number;
  json: Record<string, unknown>;
}

async function api(
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const r = await fetch(`http://127.0.0.1:${app.http.port}${path}`, {
    method,
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${app.token!.token}`, ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: r.status, json: (await r.json()) as Record<string, unknown> };
}

const sql = (text: string, extra: Record<string, unknown> = {}): Promise<Answer> =>
  api("POST", "/api/v1/sql", { sql: text, ...extra });

/** Real ingest for the whole file: the capture's datagrams again and again, ~every 50 ms. */
async function sendLoop(): Promise<void> {
  const port = app.collector.bound[0]!.port;
  const grams = readCapture(join(CAPTURES, `${UNIT}.dat`)).map((d) => d.payload);
  assert.ok(grams.length > 0);
  const sock = createSocket("udp4");
  while (sending) {
    for (const g of grams) {
      await new Promise<void>((res, rej) => sock.send(g, port, "127.0.0.1", (e) => (e ? rej(e) : res())));
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  sock.close();
}

async function rawCount(): Promise<number> {
  const r = await sql("SELECT count(*) FROM flows");
  assert.equal(r.status, 200, JSON.stringify(r.json));
  return Number((r.json.rows as unknown[][])[0]![0]);
}

before(async () => {
  writeFileSync(join(dir, "secret.csv"), "a,b\n1,2\n");
  const config = validateConfig({
    dataDir: join(dir, "data"),
    collector: { listen: ["127.0.0.1:0"], sflowListen: ["127.0.0.1:0"] },
    http: { listen: "127.0.0.1:0" },
    demo: { enabled: false },
    // The export on: its directory is writable by the store, never by user SQL.
    store: { intervalMs: 100, export: { enabled: true, dir: lake } },
    query: { sql: { timeoutMs: TIMEOUT_MS } },
  });
  app = new App({ config, log: silentLogger });
  await app.start();
  sender = sendLoop();
  const end = Date.now() + 5000;
  while (app.store!.rowsCommitted === 0) {
    assert.ok(Date.now() < end, "ingest never committed a row");
    await new Promise((r) => setTimeout(r, 50));
  }
});

after(async () => {
  sending = false;
  await sender;
  await app.stop();
  rmSync(dir, { recursive: true, force: true });
});

const p = (name: string): string => join(probe, name).replace(/'/g, "''");

/** Every one must answer 4xx with a message; none may change anything. */
const REFUSED: string[] = [
  // Files and network inside a SELECT
  "SELECT * FROM read_csv('/etc/passwd')",
  `SELECT * FROM read_csv('${join(dir, "secret.csv")}')`,
  "SELECT * FROM read_text('/etc/passwd')",
  "SELECT * FROM read_blob('/etc/hostname')",
  "SELECT * FROM glob('/etc/*')",
  "SELECT * FROM read_parquet('http://127.0.0.1:9/x.parquet')",
  "SELECT * FROM read_json('https://127.0.0.1:9/x.json')",
  "SELECT * FROM parquet_metadata('/etc/passwd')",
  // ATTACH / DETACH / USE
  `ATTACH '${p("a.duckdb")}' AS a`,
  "ATTACH ':memory:' AS m",
  "DETACH nagare_stage",
  "USE nagare_stage",
  // COPY / EXPORT / IMPORT
  `COPY flows_raw TO '${p("x.csv")}'`,
  `COPY (SELECT * FROM flows) TO '${p("x.parquet")}' (FORMAT parquet)`,
  `COPY flows_raw FROM '${join(dir, "secret.csv")}'`,
  `EXPORT DATABASE '${p("db")}'`,
  `IMPORT DATABASE '${p("db")}'`,
  // Extensions
  "INSTALL httpfs",
  "LOAD httpfs",
  "FORCE INSTALL httpfs FROM 'http://127.0.0.1:9'",
  // Settings
  "SET enable_external_access = true",
  "SET GLOBAL lock_configuration = false",
  "SET memory_limit = '100GB'",
  "RESET memory_limit",
  "PRAGMA memory_limit = '100GB'",
  "PRAGMA threads = 64",
  "SET allowed_directories = ['/']",
  // DDL / DML / transactions / maintenance
  "CREATE TABLE t (x INT)",
  "CREATE TEMP TABLE t AS SELECT 1",
  "CREATE VIEW v AS SELECT 1",
  "CREATE OR REPLACE MACRO nagare_ip(b) AS 'x'",
  "INSERT INTO flows_raw SELECT * FROM flows_raw LIMIT 1",
  "UPDATE flows_raw SET bytes = 0",
  "DELETE FROM flows_raw",
  "TRUNCATE flows_raw",
  "DROP TABLE flows_raw",
  "DROP VIEW flows",
  "ALTER TABLE flows_raw ADD COLUMN x INT",
  "CHECKPOINT",
  "VACUUM",
  "BEGIN TRANSACTION",
  "COMMIT",
  "CALL pragma_version()",
  // A statement through a table function, a DML CTE
  "SELECT * FROM query('DROP TABLE flows_raw')",
  "WITH d AS (DELETE FROM flows_raw RETURNING *) SELECT count(*) FROM d",
  // Multi-statement tricks
  "SELECT 1; DROP TABLE flows_raw",
  "SELECT 1;DELETE FROM flows_raw;",
  "SELECT 1 /* ; */ ; DROP TABLE flows_raw",
  "SELECT 1 -- comment\n; DROP TABLE flows_raw",
  "SELECT ';' AS s; DROP TABLE flows_raw",
  "/* SELECT 1 */ DROP TABLE flows_raw",
  "-- SELECT 1\nDROP TABLE flows_raw",
  "WITH x AS (SELECT 1) SELECT * FROM x; SET enable_external_access = true",
  `SELECT 1; ATTACH '${p("b.duckdb")}' AS b`,
  `SELECT 1; COPY flows_raw TO '${p("y.csv")}'`,
  // The export directory is open to the store's COPY, not to the user's; the data dir (token) is closed.
  `COPY flows_raw TO '${join(lake, "evil.parquet")}' (FORMAT parquet)`,
  `SELECT 1; COPY flows_raw TO '${join(lake, "evil.csv")}'`,
  `SELECT * FROM read_text('${join(dir, "data", "api-token")}')`,
  `SELECT * FROM read_text('${lake}-x/a')`,
];

test("file/network access, ATTACH, COPY, INSTALL, SET, DDL/DML and multi-statement tricks: 4xx, nothing changes", async () => {
  const before = await rawCount();
  for (const q of REFUSED) {
    const r = await sql(q);
    assert.ok(
      r.status >= 400 && r.status < 500,
      `${JSON.stringify(q)} → ${r.status} ${JSON.stringify(r.json)}`,
    );
    assert.equal(typeof r.json.error, "string", q);
    assert.ok((r.json.error as string).length > 5, q);
    assert.ok(r.json.code === "refused" || r.json.code === "invalid", `${q}: code ${String(r.json.code)}`);
  }
  // The messages say why.
  assert.match((await sql("SELECT 1; DROP TABLE flows_raw")).json.error as string, /2 statements/);
  assert.match((await sql("DROP TABLE flows_raw")).json.error as string, /DROP statement refused/);
  assert.match(
    (await sql("SELECT * FROM read_csv('/etc/passwd')")).json.error as string,
    /Permission.*\/etc\/passwd/s,
  );
  assert.equal((await sql("INSTALL httpfs")).status, 403);

  // Nothing changed: tables, views, rows (ingest only adds), settings, files.
  assert.ok((await rawCount()) >= before);
  const t = await sql(
    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' AND table_catalog NOT IN ('temp', 'system') ORDER BY 1",
  );
  assert.ok((t.json.rows as string[][]).flat().includes("flows_raw"));
  assert.ok(!(t.json.rows as string[][]).flat().some((n) => n === "t" || n === "v"));
  const s = await sql(
    "SELECT current_setting('enable_external_access'), current_setting('lock_configuration'), current_setting('memory_limit')",
  );
  assert.deepEqual((s.json.rows as unknown[][])[0]!.slice(0, 2), [false, true]);
  assert.equal(String((s.json.rows as unknown[][])[0]![2]), "953.6 MiB");
  const dbs = await sql("SELECT database_name FROM duckdb_databases() WHERE NOT internal ORDER BY 1");
  assert.ok(!(dbs.json.rows as string[][]).flat().some((n) => n === "a" || n === "b" || n === "m"));
  assert.equal(existsSync(probe), false, existsSync(probe) ? readdirSync(probe).join(",") : "");
  assert.deepEqual(
    readdirSync(lake).filter((f) => f.startsWith("evil")),
    [],
  );
  // The macro the views use is still the real one.
  const ip = await sql("SELECT nagare_ip(281470849515521::UHUGEINT)");
  assert.deepEqual(ip.json.rows, [["10.0.0.1"]]);
  // A plain query still works.
  assert.equal((await sql("SELECT 42 AS x")).json.rows instanceof Array, true);
});

test("a runaway query is cut off by its time limit with 408, while ingest keeps committing", async () => {
  const store = app.store!;
  const committed0 = store.rowsCommitted;
  const flushes0 = store.flushes;
  const t0 = Date.now();
  const running = sql(RUNAWAY);
  // Meanwhile the API answers other requests and ingest commits.
  await new Promise((r) => setTimeout(r, TIMEOUT_MS / 2));
  const mid = store.rowsCommitted;
  assert.equal((await api("GET", "/api/v1/exporters")).status, 200);
  const r = await running;
  const took = Date.now() - t0;
  assert.equal(r.status, 408, JSON.stringify(r.json));
  assert.equal(r.json.code, "timeout");
  assert.match(r.json.error as string, new RegExp(`time limit of ${TIMEOUT_MS} ms`));
  assert.ok(took >= TIMEOUT_MS && took < TIMEOUT_MS + 3000, `took ${took} ms`);
  assert.ok(mid > committed0, "rows committed during the first half of the query");
  assert.ok(store.rowsCommitted > mid, "rows committed during the second half of the query");
  assert.ok(store.flushes > flushes0);
  assert.equal(store.flushErrors, 0);
  // Everything committed is queryable right after (the count can only be higher: ingest goes on).
  const committed = store.rowsCommitted;
  assert.ok((await rawCount()) >= committed);
});

test("cancel by id over HTTP: DELETE /api/v1/sql/ID or POST …/ID/cancel ends the request with 409", async () => {
  // Id in the body, cancelled with DELETE.
  const t0 = Date.now();
  const running = sql(RUNAWAY, { id: "sec-q1" });
  let c: Answer;
  for (;;) {
    // The query may not have reached the database yet: 404 until it has.
    c = await api("DELETE", "/api/v1/sql/sec-q1");
    if (c.status !== 404 || Date.now() - t0 > 1000) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(c.status, 200, JSON.stringify(c.json));
  assert.deepEqual(c.json, { id: "sec-q1", cancelled: true });
  const r = await running;
  assert.equal(r.status, 409);
  assert.equal(r.json.code, "cancelled");
  assert.match(r.json.error as string, /sec-q1 was cancelled/);
  assert.ok(Date.now() - t0 < TIMEOUT_MS, "ended by the cancel, not the time limit");
  assert.equal((await api("DELETE", "/api/v1/sql/sec-q1")).status, 404);

  // Id in the X-Query-Id header, cancelled with POST …/cancel.
  const running2 = api("POST", "/api/v1/sql", { sql: RUNAWAY }, { "X-Query-Id": "sec-q2" });
  const t1 = Date.now();
  let c2: Answer;
  for (;;) {
    c2 = await api("POST", "/api/v1/sql/sec-q2/cancel");
    if (c2.status !== 404 || Date.now() - t1 > 1000) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(c2.status, 200);
  assert.equal((await running2).status, 409);

  // The id comes back with a result; a bad id is refused.
  const ok = await sql("SELECT 1", { id: "sec-q3" });
  assert.equal(ok.status, 200);
  assert.equal(ok.json.id, "sec-q3");
  assert.equal((await sql("SELECT 1", { id: "../x y" })).status, 400);
  assert.equal((await api("DELETE", "/api/v1/sql/nope")).status, 404);
});
