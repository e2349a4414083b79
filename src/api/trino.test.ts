// The Trino protocol endpoint's parts: type mapping and value encoding on
// real DuckDB results, statement recognition and parameter literals, the
// information_schema rewrite, and the protocol over real HTTPS (paging,
// retry of a page, cancel, idle close, header families, errors, 401) against
// a real store and SQL sandbox. The real clients are in test/trino-clients.test.ts.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { DuckDBInstance } from "@duckdb/node-api";
import { SqlService } from "../query/sql/index.js";
import { StoreWriter } from "../store/writer.js";
import { UserStore } from "./auth.js";
import { errorLocation, parsePreparedHeader, TrinoServer } from "./trino.js";
import { defaultTrinoConfig, validateTrinoConfig } from "./trino-config.js";
import {
  parseLiteral,
  parseStatement,
  parseTimestampMicros,
  rewriteSql,
  TrinoSqlError,
} from "./trino-sql.js";
import { encodeRow, trinoColumns } from "./trino-types.js";

const dir = mkdtempSync(join(tmpdir(), "nagare-trino-unit-"));
const writer = new StoreWriter({ config: { path: join(dir, "flows.duckdb"), intervalMs: 1000 } });
const sql = new SqlService(() => writer.database, { timeoutMs: 5000, maxRows: 1000 });
const users = new UserStore(join(dir, "data"));
let trino: TrinoServer;
const AUTH = "Basic " + Buffer.from("ana:ana-password").toString("base64");

before(async () => {
  await writer.start();
  await sql.start();
  await users.set("ana", "viewer", "ana-password");
  trino = new TrinoServer({
    config: {
      ...defaultTrinoConfig(),
      enabled: true,
      listen: "127.0.0.1:0",
      pageRows: 100,
      idleTimeoutMs: 1000,
    },
    sql,
    users,
    token: () => "k".repeat(32),
    dataDir: join(dir, "data"),
  });
  await trino.start();
});

after(async () => {
  await trino.stop();
  await sql.stop();
  await writer.stop();
  rmSync(dir, { recursive: true, force: true });
});

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** HTTPS to the endpoint, trusting its self-signed certificate (as clients' --insecure / verify=False do). */
function call(
  method: string,
  url: string,
  body = "",
  headers: Record<string, string> = { Authorization: AUTH },
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers, rejectUnauthorized: false }, (res) => {
      let text = "";
      res.on("data", (d: Buffer) => (text += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;
const base = (): string => `https://127.0.0.1:${trino.port}`;
async function post(text: string, headers?: Record<string, string>): Promise<{ r: Reply; j: Json }> {
  const r = await call("POST", base() + "/v1/statement", text, { Authorization: AUTH, ...headers });
  return { r, j: r.status === 200 ? JSON.parse(r.body) : null };
}

/** All pages of a statement: columns, rows, and how many responses it took. */
async function all(
  text: string,
  headers?: Record<string, string>,
): Promise<{ columns: Json; rows: Json[]; pages: number; error: Json }> {
  let { j } = await post(text, headers);
  const rows: Json[] = [...(j.data ?? [])];
  let columns = j.columns;
  let pages = 1;
  while (j.nextUri) {
    const r = await call("GET", j.nextUri);
    assert.equal(r.status, 200);
    j = JSON.parse(r.body);
    columns ??= j.columns;
    rows.push(...(j.data ?? []));
    pages++;
  }
  return { columns, rows, pages, error: j.error };
}

test("DuckDB types map to Trino types with Trino's JSON encodings", async () => {
  const db = await DuckDBInstance.create(":memory:");
  const conn = await db.connect();
  const r = await conn.runAndReadAll(`SELECT
    1::TINYINT a, 2::UTINYINT b, 3::USMALLINT c, 4::UINTEGER d, 9223372036854775807::BIGINT e,
    18446744073709551615::UBIGINT f, 170141183460469231731687303715884105727::HUGEINT g,
    340282366920938463463374607431768211455::UHUGEINT h, 1.25::DECIMAL(10,2) i, 'NaN'::DOUBLE j, 1.5::FLOAT k,
    TIMESTAMP_MS '2024-02-29 23:59:58.007' l, TIMESTAMP '1969-12-31 23:59:59.5' m, DATE '2024-03-01' n,
    TIME '01:02:03.5' o, '\\x00\\xff'::BLOB p, [1, 2]::INTEGER[] q, {'x': 1, 'y': 'z'} r, MAP {'k': 2} s,
    true t, NULL::VARCHAR u, TIMESTAMPTZ '2024-01-01 00:00:00+00' v, INTERVAL 1 DAY w`);
  const cols = trinoColumns(r.columnNames(), r.columnTypes());
  assert.deepEqual(
    cols.map((c) => c.type),
    [
      "tinyint",
      "smallint",
      "integer",
      "bigint",
      "bigint",
      "decimal(20,0)",
      "decimal(38,0)",
      "varchar",
      "decimal(10,2)",
      "double",
      "real",
      "timestamp(3)",
      "timestamp(6)",
      "date",
      "time(6)",
      "varbinary",
      "array(integer)",
      "row(x integer, y varchar)",
      "map(varchar, integer)",
      "boolean",
      "varchar",
      "timestamp(6) with time zone",
      "varchar",
    ],
  );
  assert.deepEqual(cols[5]!.typeSignature, {
    rawType: "decimal",
    arguments: [
      { kind: "LONG", value: 20 },
      { kind: "LONG", value: 0 },
    ],
  });
  assert.deepEqual(cols[16]!.typeSignature, {
    rawType: "array",
    arguments: [{ kind: "TYPE", value: { rawType: "integer", arguments: [] } }],
  });
  const row = encodeRow(r.columnTypes(), r.getRows()[0]!);
  // 64-bit values are exact digits, never rounded through a double.
  assert.ok(row.includes(",9223372036854775807,"), row);
  assert.deepEqual(JSON.parse(row.replace("9223372036854775807", "0")), [
    1,
    2,
    3,
    4,
    0,
    "18446744073709551615",
    "170141183460469231731687303715884105727",
    "340282366920938463463374607431768211455",
    "1.25",
    "NaN",
    1.5,
    "2024-02-29 23:59:58.007",
    "1969-12-31 23:59:59.500000",
    "2024-03-01",
    "01:02:03.500000",
    "AP8=",
    [1, 2],
    [1, "z"],
    { k: 2 },
    true,
    null,
    "2024-01-01 00:00:00.000000 UTC",
    "1 day",
  ]);
  conn.closeSync();
});

test("statements: control, SHOW/DESCRIBE, EXECUTE literals, leading comments", () => {
  const views = ["flows", "flows_1m"];
  assert.deepEqual(parseStatement("/* re:dash */ START TRANSACTION READ ONLY", views), {
    kind: "startTransaction",
  });
  assert.deepEqual(parseStatement("commit;", views), { kind: "commit" });
  assert.deepEqual(parseStatement("SET SESSION query_max_run_time = '10m'", views), {
    kind: "setSession",
    name: "query_max_run_time",
    value: "10m",
  });
  assert.deepEqual(parseStatement('USE nagare."default"', views), {
    kind: "use",
    catalog: "nagare",
    schema: "default",
  });
  assert.deepEqual(parseStatement("PREPARE st1 FROM SELECT ?", views), {
    kind: "prepare",
    name: "st1",
    sql: "SELECT ?",
  });
  const ex = parseStatement(
    "EXECUTE st1 USING 5, 'it''s', TIMESTAMP '2024-01-02 03:04:05.678000', NULL, DOUBLE '1.5'",
    views,
  );
  assert.equal(ex.kind, "execute");
  if (ex.kind === "execute") {
    assert.deepEqual(
      ex.params.map((p) => (typeof p.value === "object" && p.value !== null ? String(p.value) : p.value)),
      [5n, "it's", "2024-01-02 03:04:05.678", null, 1.5],
    );
  }
  const imm = parseStatement("EXECUTE IMMEDIATE 'SELECT ''a'', ?' USING 1", views);
  assert.deepEqual(imm.kind === "executeImmediate" && imm.sql, "SELECT 'a', ?");
  const show = parseStatement("SHOW TABLES FROM nagare.default LIKE 'flows%'", views);
  assert.match(
    show.kind === "query" ? show.sql : "",
    /FROM information_schema\.tables WHERE table_schema = 'default' AND table_name LIKE 'flows%'/,
  );
  assert.throws(
    () => parseStatement("DESCRIBE nope", views),
    (e: unknown) => e instanceof TrinoSqlError && e.errorName === "TABLE_NOT_FOUND",
  );
  assert.throws(() => parseStatement("SHOW TABLES FROM hive.web", views), /Catalog 'hive' does not exist/);
  assert.throws(() => parseLiteral("1); DROP TABLE x; --"), /unsupported parameter/);
  assert.equal(parseTimestampMicros("2024-02-30 00:00:00"), null);
  assert.equal(parseTimestampMicros("1970-01-01 00:00:01.25 UTC"), 1_250_000n);
  // Anything else is the user's SQL, untouched.
  assert.deepEqual(parseStatement("SELECT 1", views), { kind: "query", sql: "SELECT 1" });
});

test("Trino names: information_schema becomes the virtual tables, nagare.default.v becomes v; strings stay", () => {
  const info = (t: string): string => `<${t}>`;
  assert.equal(
    rewriteSql(
      `SELECT * FROM "nagare".information_schema.columns WHERE x = 'default.flows'`,
      ["flows"],
      info,
    ),
    `SELECT * FROM <columns> AS columns WHERE x = 'default.flows'`,
  );
  assert.equal(
    rewriteSql("SELECT c.x FROM information_schema.tables c", ["flows"], info),
    "SELECT c.x FROM <tables> c",
  );
  assert.equal(
    rewriteSql("SELECT TABLE_NAME FROM system.jdbc.tables WHERE TABLE_CAT = 'nagare'", ["flows"], info),
    "SELECT TABLE_NAME FROM <jdbc.tables> AS tables WHERE TABLE_CAT = 'nagare'",
  );
  assert.equal(
    rewriteSql(
      'SELECT 1 FROM nagare."default".flows JOIN default.flows_1m USING (a)',
      ["flows", "flows_1m"],
      info,
    ),
    "SELECT 1 FROM flows JOIN flows_1m USING (a)",
  );
  assert.equal(
    rewriteSql("SELECT t.default FROM other.default.flows", ["flows"], info),
    "SELECT t.default FROM other.default.flows",
  );
  assert.deepEqual(
    parsePreparedHeader(["st1=SELECT+%3F%2C+%27a%2Cb%27, st2=SELECT+1"]),
    new Map([
      ["st1", "SELECT ?, 'a,b'"],
      ["st2", "SELECT 1"],
    ]),
  );
  assert.deepEqual(
    errorLocation(
      'Parser Error: syntax error at or near "FORM"\n\nLINE 2: SELECT 1 FORM x\n                 ^',
      "-- c\nSELECT 1 FORM x",
    ),
    {
      lineNumber: 2,
      columnNumber: 10,
    },
  );
});

test("config: defaults off, unknown keys and clear-text listeners refused with the key path", () => {
  assert.equal(defaultTrinoConfig().enabled, false);
  assert.throws(() => validateTrinoConfig({ listne: "x" }), /trino\.listne: unknown key/);
  assert.throws(() => validateTrinoConfig({ httpListen: "0.0.0.0:8080" }), /trino\.httpListen: .*loopback/);
  assert.throws(() => validateTrinoConfig({ tlsCert: "/a.pem" }), /trino\.tlsCert/);
  assert.equal(validateTrinoConfig({ pageRows: 5 }).pageRows, 5);
});

test("protocol: pages of a big result, a page retried, typed columns", async () => {
  const r = await all("SELECT range AS i, range::UBIGINT * 1000 AS big FROM range(250)");
  assert.equal(r.error, undefined);
  assert.equal(r.pages, 3);
  assert.equal(r.rows.length, 250);
  assert.deepEqual(r.rows[249], [249, "249000"]);
  assert.deepEqual(
    r.columns.map((c: Json) => c.type),
    ["bigint", "decimal(20,0)"],
  );
  // A client retrying the page it just got receives the same page again.
  const first = await post("SELECT range FROM range(150)");
  const next = first.j.nextUri as string;
  const a = await call("GET", next);
  const b = await call("GET", next);
  assert.equal(a.body, b.body);
  assert.equal(JSON.parse(a.body).stats.state, "FINISHED");
  assert.equal(trino.openQueries, 0);
});

test("protocol: DELETE cancels, an abandoned query is closed, another user cannot read it", async () => {
  const { j } = await post("SELECT range FROM range(1000)");
  assert.ok(j.nextUri);
  await users.set("bo", "viewer", "bo-password");
  const other = await call("GET", j.nextUri, "", {
    Authorization: "Basic " + Buffer.from("bo:bo-password").toString("base64"),
  });
  assert.equal(other.status, 404);
  assert.equal((await call("DELETE", j.nextUri)).status, 204);
  assert.equal((await call("GET", j.nextUri)).status, 404);
  const abandoned = await post("SELECT range FROM range(1000)");
  assert.equal(trino.openQueries, 1);
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(trino.openQueries, 0, "closed after idleTimeoutMs");
  assert.equal((await call("GET", abandoned.j.nextUri)).status, 404);
});

test("protocol: header families, session and prepared statements, errors, authentication", async () => {
  const set = await post("SET SESSION a = 'b c'", { "X-Presto-User": "ana" });
  assert.equal(set.r.headers["x-presto-set-session"], "a=b+c");
  assert.equal(set.r.headers["x-trino-set-session"], undefined);
  const tx = await post("START TRANSACTION");
  assert.match(String(tx.r.headers["x-trino-started-transaction-id"]), /^[0-9a-f-]{36}$/);
  const prep = await post("PREPARE q1 FROM SELECT ? + 1 AS x");
  assert.equal(prep.r.headers["x-trino-added-prepare"], "q1=SELECT+%3F+%2B+1+AS+x");
  const ex = await all("EXECUTE q1 USING 41", {
    "X-Trino-Prepared-Statement": String(prep.r.headers["x-trino-added-prepare"]),
  });
  assert.deepEqual(ex.rows, [[42]]);
  const missing = await all("EXECUTE q9 USING 1");
  assert.equal(missing.error.errorName, "NOT_FOUND");
  const bad = await all("SELECT 1\nFROM nothing_here");
  assert.equal(bad.error.errorName, "TABLE_NOT_FOUND");
  assert.equal(bad.error.errorType, "USER_ERROR");
  assert.match(bad.error.message, /nothing_here/);
  const syntax = await all("SELECT 1 FORM x");
  assert.equal(syntax.error.errorName, "SYNTAX_ERROR");
  assert.deepEqual(syntax.error.errorLocation, { lineNumber: 1, columnNumber: 15 });
  const refused = await all("COPY (SELECT 1) TO '/tmp/x.csv'");
  assert.equal(refused.error.errorName, "PERMISSION_DENIED");
  const describe = await all("DESCRIBE flows");
  assert.deepEqual(
    describe.columns.map((c: Json) => c.name),
    ["Column", "Type", "Extra", "Comment"],
  );
  assert.deepEqual(describe.rows.find((r: Json) => r[0] === "time_received")?.[1], "timestamp(3)");
  const bearer = await call("POST", base() + "/v1/statement", "SELECT 1", {
    Authorization: `Bearer ${"k".repeat(32)}`,
  });
  assert.deepEqual(JSON.parse(bearer.body).data, [[1]]);
  const none = await call("POST", base() + "/v1/statement", "SELECT 1", {});
  assert.equal(none.status, 401);
  assert.match(String(none.headers["www-authenticate"]), /Basic realm="nagare"/);
  const wrong = await call("POST", base() + "/v1/statement", "SELECT 1", {
    Authorization: "Basic " + Buffer.from("ana:nope").toString("base64"),
  });
  assert.equal(wrong.status, 401);
});
