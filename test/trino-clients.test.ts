// Real Trino/Presto clients against Nagare's Trino protocol endpoint
// (src/api/trino.ts): the Trino CLI jar (io.trino:trino-cli 476 from Maven
// Central) and the Python clients re:dash's data sources use (trino for the
// Trino source, PyHive for the Presto source), over HTTPS with a generated
// self-signed certificate and Nagare users' passwords, on a store holding a
// real IPFIX capture (ipfixcol2 example_flows, decoded by FlowDecoder).
//
// Each answer is compared with Nagare's own HTTP SQL API (/api/v1/sql) on the
// same store: SHOW TABLES, a TopN, a parameterised time range (the clients'
// own parameter mechanisms: trino's EXECUTE IMMEDIATE … USING, PyHive's
// client-side pyformat), re:dash's schema-browser query on
// information_schema.columns, a result of several pages, bad SQL (the client
// shows DuckDB's message) and a wrong password (refused).
//
// Needs: java (NAGARE_TRINO_JAVA or PATH), the CLI jar (NAGARE_TRINO_CLI),
// python3 with trino and pyhive (NAGARE_TRINO_PYTHON): .ci/setup.d/30-trino-clients.sh
// installs them. Missing ones fail the test, they do not skip it.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { CollectorStats } from "../src/collector/stats.js";
import { parseListen, type ListenAddress } from "../src/config/address.js";
import { UserStore, ensureAdmin } from "../src/api/auth.js";
import { HttpAuth } from "../src/api/auth-http.js";
import { FlowQueryRunner } from "../src/api/query.js";
import { HttpApi } from "../src/api/server.js";
import { TrinoServer } from "../src/api/trino.js";
import { defaultTrinoConfig } from "../src/api/trino-config.js";
import { SqlService } from "../src/query/sql/index.js";
import { StoreWriter } from "../src/store/writer.js";
import { decodeUnit } from "./helpers/captures.js";
import { repoRoot } from "./helpers/repo.js";

const UNIT = "ipfixcol2__example_flows";
const TOKEN = "t".repeat(32);
const PASSWORD = "admin-password";
const PAGE_ROWS = 500;
const COPIES_MS = [-7_200_000, -3_600_000, 0];
const UNIT_FLOWS = 3979;
const TOPN = "SELECT dst_port, sum(bytes) AS bytes FROM flows GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10";
const dir = mkdtempSync(join(tmpdir(), "nagare-trino-"));
const writer = new StoreWriter({ config: { path: join(dir, "flows.duckdb"), intervalMs: 1000 } });
const sql = new SqlService(() => writer.database, { timeoutMs: 20_000, maxRows: 10_000 });
const flows = new FlowQueryRunner(() => writer.database, 5000);
let api: HttpApi;
let trino: TrinoServer;
let server = "";
/** The capture's time span, from the store directly. */
let span = { start: "", end: "" };
let totalFlows = 0;

const JAVA =
  process.env.NAGARE_TRINO_JAVA ??
  (existsSync("/usr/lib/jvm/temurin-25-jdk-amd64/bin/java")
    ? "/usr/lib/jvm/temurin-25-jdk-amd64/bin/java"
    : "java");
const JAR = process.env.NAGARE_TRINO_CLI ?? join(homedir(), ".cache/nagare/trino-cli-476-executable.jar");
const PYTHON = process.env.NAGARE_TRINO_PYTHON ?? "python3";
const JDBC = process.env.NAGARE_TRINO_JDBC ?? join(homedir(), ".cache/nagare/trino-jdbc-476.jar");

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], env: Record<string, string> = {}, input?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    p.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    p.on("error", reject);
    const timer = setTimeout(() => p.kill("SIGKILL"), 60_000);
    p.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    p.stdin.end(input ?? "");
  });
}

/** The Trino CLI, one statement, CSV without header. */
function cli(statement: string, password = PASSWORD): Promise<Run> {
  return run(
    JAVA,
    [
      // Start-up dominates a one-statement CLI run: C1 only, serial GC.
      "-XX:TieredStopAtLevel=1",
      "-XX:+UseSerialGC",
      "-jar",
      JAR,
      "--server",
      server,
      "--insecure",
      "--user",
      "admin",
      "--password",
      "--catalog",
      "nagare",
      "--schema",
      "default",
      "--output-format",
      "CSV_UNQUOTED",
      "--execute",
      statement,
    ],
    { TRINO_PASSWORD: password },
  );
}

/** Nagare's own answer: POST /api/v1/sql. */
async function apiSql(text: string): Promise<{ columns: { name: string }[]; rows: unknown[][] }> {
  const r = await fetch(`http://${api.address}/api/v1/sql`, {
    method: "POST",
    headers: { Authorization: `Bearer ${TOKEN}`, "Content-Type": "application/json" },
    body: JSON.stringify({ sql: text }),
  });
  assert.equal(r.status, 200, await r.clone().text());
  return (await r.json()) as { columns: { name: string }[]; rows: unknown[][] };
}

const csvRows = (out: string): string[][] =>
  out
    .trim()
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => l.split(","));
const asText = (rows: unknown[][]): string[][] => rows.map((r) => r.map((v) => String(v)));

before(async () => {
  for (const [what, path] of [
    ["java", JAVA],
    ["trino-cli jar (NAGARE_TRINO_CLI; run .ci/setup.d/30-trino-clients.sh)", JAR],
    ["trino-jdbc jar (NAGARE_TRINO_JDBC; run .ci/setup.d/30-trino-clients.sh)", JDBC],
  ] as const) {
    if (path.includes("/")) assert.ok(existsSync(path), `${what} missing: ${path}`);
  }
  const py = await run(PYTHON, ["-c", "import trino, pyhive.presto, requests"]);
  assert.equal(
    py.code,
    0,
    `python clients missing (pip install trino pyhive; .ci/setup.d/30-trino-clients.sh): ${py.stderr}`,
  );

  await writer.start();
  const stats = new CollectorStats();
  // The raw capture's flows share one receive time: three copies an hour apart give a time range something to cut.
  for (const offset of COPIES_MS) decodeUnit(UNIT, (b) => writer.consume(b), offset, stats);
  await writer.flush();
  await sql.start();
  // [first copy, first copy + 90 min): the first two copies.
  const r = await writer.connection.runAndReadAll(
    `SELECT strftime(min(time_received), '%Y-%m-%d %H:%M:%S.%f'),
            strftime(min(time_received) + INTERVAL 90 MINUTE, '%Y-%m-%d %H:%M:%S.%f'), count(*)::INTEGER FROM flows_raw`,
  );
  const row = r.getRowsJS()[0]!;
  span = { start: String(row[0]), end: String(row[1]) };
  totalFlows = Number(row[2]);
  assert.equal(totalFlows, COPIES_MS.length * UNIT_FLOWS);

  const users = new UserStore(join(dir, "data"));
  await ensureAdmin(users, PASSWORD, undefined);
  api = new HttpApi({
    listen: parseListen("127.0.0.1:0") as ListenAddress,
    token: TOKEN,
    stats,
    auth: new HttpAuth({ users, sessionTtlMs: 3600_000, secureCookies: false }),
    query: { sql, flows },
  });
  await api.start();
  trino = new TrinoServer({
    config: { ...defaultTrinoConfig(), enabled: true, listen: "127.0.0.1:0", pageRows: PAGE_ROWS },
    sql,
    users,
    token: () => TOKEN,
    dataDir: join(dir, "data"),
  });
  await trino.start();
  server = `https://127.0.0.1:${trino.port}`;
  // The first CLI runs start together (JVM start-up is most of each); the tests await them.
  early.tables = cli("SHOW TABLES");
  early.topn = cli(TOPN);
  early.pages = cli(PAGES);
});

after(async () => {
  await trino?.stop();
  await api?.stop();
  flows.close();
  await sql.stop();
  await writer.stop();
  rmSync(dir, { recursive: true, force: true });
});

const early: { tables?: Promise<Run>; topn?: Promise<Run>; pages?: Promise<Run> } = {};
const PAGES = "SELECT time_received, src_addr_text, dst_port, bytes FROM flows ORDER BY ALL LIMIT 5000";

test("Trino CLI: SHOW TABLES equals the API's views", async () => {
  const r = await early.tables!;
  assert.equal(r.code, 0, r.stderr);
  const views = (await (
    await fetch(`http://${api.address}/api/v1/views`, { headers: { Authorization: `Bearer ${TOKEN}` } })
  ).json()) as string[];
  assert.deepEqual(
    csvRows(r.stdout).map((x) => x[0]),
    [...views].sort(),
  );
  assert.ok(views.includes("flows"));
});

test("Trino CLI: a TopN equals the API's answer", async () => {
  const r = await early.topn!;
  assert.equal(r.code, 0, r.stderr);
  const want = await apiSql(TOPN);
  assert.equal(want.rows.length, 10);
  assert.deepEqual(csvRows(r.stdout), asText(want.rows));
});

test("Trino CLI: a result of several pages arrives whole and in order", async () => {
  const r = await early.pages!;
  assert.equal(r.code, 0, r.stderr);
  const got = csvRows(r.stdout);
  assert.equal(got.length, 5000);
  assert.ok(got.length > 3 * PAGE_ROWS, "the result spans several pages");
  const want = await apiSql(PAGES);
  // The API gives timestamps as DuckDB text; the endpoint as timestamp(3) "YYYY-MM-DD HH:MM:SS.sss".
  const norm = (t: string): string => t.replace(/\.(\d{1,3})$/, (_, f: string) => "." + f.padEnd(3, "0"));
  assert.deepEqual(
    got.map((x) => [x[0]!, x[1]!, x[2]!, x[3]!]),
    want.rows.map((x) => [
      norm(String(x[0]).replace(/^(\S+ \d\d:\d\d:\d\d)$/, "$1.000")),
      String(x[1]),
      String(x[2]),
      String(x[3]),
    ]),
  );
  assert.equal(trino.openQueries, 0, "the finished query holds no cursor");
});

test("Trino CLI: bad SQL shows DuckDB's message; a wrong password is refused", async () => {
  // Three JVMs at once: each CLI start costs seconds.
  const [bad, refused, write] = await Promise.all([
    cli("SELECT dst_port FORM flows"),
    cli("SELECT 1", "wrong-password"),
    cli("CREATE TABLE x AS SELECT 1"),
  ]);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr + bad.stdout, /syntax error at or near "flows"/);
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr + refused.stdout, /401|Authentication failed|Unauthorized/i);
  assert.notEqual(write.code, 0);
  assert.match(write.stderr + write.stdout, /refused|read-only|not allowed/i);
});

/** Run a Python client script; it prints one JSON document. */
async function python(script: string): Promise<unknown> {
  const r = await run(PYTHON, ["-c", script], {
    NAGARE_PORT: String(trino.port),
    NAGARE_PASSWORD: PASSWORD,
    NAGARE_START: span.start,
    NAGARE_END: span.end,
    NAGARE_TOPN: TOPN,
    PYTHONWARNINGS: "ignore",
    // requests lets these override verify=False (as re:dash runs without them).
    REQUESTS_CA_BUNDLE: "",
    CURL_CA_BUNDLE: "",
  });
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

const PY_COMMON = String.raw`
import os, json, datetime
port = int(os.environ["NAGARE_PORT"]); pw = os.environ["NAGARE_PASSWORD"]
start = datetime.datetime.strptime(os.environ["NAGARE_START"], "%Y-%m-%d %H:%M:%S.%f")
end = datetime.datetime.strptime(os.environ["NAGARE_END"], "%Y-%m-%d %H:%M:%S.%f")
RANGE = "SELECT count(*) AS n, sum(bytes) AS bytes, min(time_received) AS first FROM flows WHERE time_received >= {p} AND time_received < {p}"
def norm(rows): return [[str(v) for v in r] for r in rows]
`;

/** The time-range answer from the API, with the same bounds as literals. */
async function apiRange(startText: string, endText: string): Promise<string[][]> {
  const a = await apiSql(
    `SELECT count(*) AS n, sum(bytes) AS bytes FROM flows WHERE time_received >= TIMESTAMP '${startText}' AND time_received < TIMESTAMP '${endText}'`,
  );
  return asText(a.rows);
}

test("Python trino client (re:dash Trino source): SHOW TABLES, TopN, parameterised range, schema browser", async () => {
  const out = (await python(
    PY_COMMON +
      String.raw`
import trino
from trino.auth import BasicAuthentication
conn = trino.dbapi.connect(host="127.0.0.1", port=port, user="admin", catalog="nagare", schema="default",
                           http_scheme="https", auth=BasicAuthentication("admin", pw), verify=False)
cur = conn.cursor()
cur.execute("SHOW TABLES"); tables = [r[0] for r in cur.fetchall()]
cur.execute(os.environ["NAGARE_TOPN"]); topn = norm(cur.fetchall()); topn_types = [d[1] for d in cur.description]
cur.execute(RANGE.format(p="?"), [start, end]); rng = cur.fetchall()
cur.execute("SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns WHERE table_schema NOT IN ('pg_catalog', 'information_schema')")
schema = cur.fetchall()
# Older servers: PREPARE, then EXECUTE with the statement in X-Trino-Prepared-Statement, then DEALLOCATE.
legacy = trino.dbapi.connect(host="127.0.0.1", port=port, user="admin", http_scheme="https",
                             auth=BasicAuthentication("admin", pw), verify=False, legacy_prepared_statements=True)
lcur = legacy.cursor()
lcur.execute(RANGE.format(p="?"), [start, end]); lrng = lcur.fetchall()
print(json.dumps({"legacy": [str(lrng[0][0]), str(lrng[0][1])], "tables": tables, "topn": topn, "types": topn_types, "range": [str(rng[0][0]), str(rng[0][1]), rng[0][2].isoformat(sep=" ")], "schema": schema}))
`,
  )) as {
    tables: string[];
    topn: string[][];
    types: string[];
    range: string[];
    schema: string[][];
    legacy: string[];
  };
  assert.deepEqual(out.tables, [...sql.listViews()].sort());
  assert.deepEqual(out.topn, asText((await apiSql(TOPN)).rows));
  assert.deepEqual(out.types, ["integer", "decimal(38,0)"]);
  const want = await apiRange(span.start, span.end);
  assert.deepEqual(out.range.slice(0, 2), want[0]);
  assert.deepEqual(out.legacy, want[0]);
  assert.equal(Number(out.range[0]), 2 * UNIT_FLOWS, "the range holds two of the three copies");
  assert.equal(out.range[2], span.start);
  const flowCols = out.schema.filter((r) => r[0] === "default" && r[1] === "flows");
  const apiCols = (await (
    await fetch(`http://${api.address}/api/v1/views/flows/columns`, {
      headers: { Authorization: `Bearer ${TOKEN}` },
    })
  ).json()) as { name: string }[];
  assert.deepEqual(
    flowCols.map((r) => r[2]),
    apiCols.map((c) => c.name),
  );
  assert.deepEqual(flowCols.find((r) => r[2] === "time_received")?.[3], "timestamp(3)");
});

test("PyHive (re:dash Presto source): SHOW TABLES, TopN, parameterised range, bad SQL", async () => {
  const out = (await python(
    PY_COMMON +
      String.raw`
from pyhive import presto
conn = presto.connect(host="127.0.0.1", port=port, protocol="https", username="admin", password=pw,
                      catalog="nagare", schema="default", requests_kwargs={"verify": False})
cur = conn.cursor()
cur.execute("SHOW TABLES"); tables = [r[0] for r in cur.fetchall()]
cur.execute(os.environ["NAGARE_TOPN"]); topn = norm(cur.fetchall())
cur.execute(RANGE.format(p="%(t)s").replace("%(t)s", "%(a)s", 1).replace("%(t)s", "%(b)s"), {"a": start, "b": end}); rng = cur.fetchall()
err = None
try:
    cur.execute("SELECT nope FROM flows"); cur.fetchall()
except Exception as e:
    err = str(e)
print(json.dumps({"tables": tables, "topn": topn, "range": [str(v) for v in rng[0]], "err": err}))
`,
  )) as { tables: string[]; topn: string[][]; range: string[]; err: string | null };
  assert.deepEqual(out.tables, [...sql.listViews()].sort());
  assert.deepEqual(out.topn, asText((await apiSql(TOPN)).rows));
  const want = await apiRange(span.start, span.end);
  assert.deepEqual(out.range.slice(0, 2), want[0]);
  assert.match(out.err ?? "", /nope/);
  assert.match(out.err ?? "", /COLUMN_NOT_FOUND|Referenced column/);
});

test("Trino JDBC driver (DBeaver): metadata browser, TopN, PreparedStatement with timestamps", async () => {
  const r = await run(
    JAVA,
    [
      "-XX:TieredStopAtLevel=1",
      "-XX:+UseSerialGC",
      "-Duser.timezone=UTC",
      "-cp",
      JDBC,
      join(repoRoot(), "test", "trino", "JdbcProbe.java"),
      `jdbc:trino://127.0.0.1:${trino.port}/nagare/default`,
      "admin",
      span.start,
      span.end,
      TOPN,
    ],
    { NAGARE_PASSWORD: PASSWORD },
  );
  assert.equal(r.code, 0, r.stderr);
  const out = new Map(
    r.stdout
      .trim()
      .split("\n")
      .map((l) => l.split("\t") as [string, string]),
  );
  assert.equal(out.get("catalogs"), "nagare");
  assert.deepEqual(out.get("tables")?.split(","), [...sql.listViews()].sort());
  const cols = out.get("columns")!.split(";");
  const apiCols = (await (
    await fetch(`http://${api.address}/api/v1/views/flows/columns`, {
      headers: { Authorization: `Bearer ${TOKEN}` },
    })
  ).json()) as { name: string }[];
  assert.deepEqual(
    cols.map((c) => c.split(":")[0]),
    apiCols.map((c) => c.name),
  );
  // java.sql.Types.TIMESTAMP = 93, DECIMAL = 3.
  assert.ok(cols.includes("time_received:timestamp(3):93"), cols.join(" "));
  assert.ok(cols.includes("bytes:decimal(20,0):3"), cols.join(" "));
  assert.deepEqual(
    out.get("topn")?.split(","),
    (await apiSql(TOPN)).rows.map((x) => `${String(x[0])}:${String(x[1])}`),
  );
  const want = await apiRange(span.start, span.end);
  assert.equal(out.get("range"), want[0]!.join(":"));
});
