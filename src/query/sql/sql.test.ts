// SqlService on a real store: a real capture unit decoded by FlowDecoder is
// written by StoreWriter into a temporary DuckDB file, then queried through
// the sandbox.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { FlowBatch } from "../../collector/batch.js";
import { formatIp, parseIp } from "../../collector/ip.js";
import { ConfigError } from "../../config/schema.js";
import { decodeUnit } from "../../../test/helpers/captures.js";
import { StoreWriter } from "../../store/writer.js";
import { defaultSqlConfig, validateSqlConfig } from "./config.js";
import { SqlCancelledError, SqlError, SqlInvalidError, SqlRefusedError, SqlTimeoutError } from "./errors.js";
import { IP_COLUMNS, VIEW_NAMES } from "./macros.js";
import { SqlService } from "./service.js";

const UNIT = "ipfixcol2__example_flows"; // 3979 IPFIX flows, IPv4 and IPv6
const dir = mkdtempSync(join(tmpdir(), "nagare-sql-"));
const writer = new StoreWriter({ config: { path: join(dir, "flows.duckdb"), intervalMs: 1000 } });
const sql = new SqlService(() => writer.database, { timeoutMs: 5000, maxRows: 1000 });
/** formatIp of every ip column of every row, in decode order: "col=text" lines. */
const expectedIps = new Map<string, number>();
let rows = 0;

function decode(onBatch: (b: FlowBatch) => void): void {
  decodeUnit(UNIT, (b) => {
    for (let i = 0; i < b.length; i++) {
      for (const c of IP_COLUMNS) {
        const col = (b.cols as unknown as Record<string, Uint8Array>)[c]!;
        const key = `${c}=${formatIp(col, i * 16)}`;
        expectedIps.set(key, (expectedIps.get(key) ?? 0) + 1);
      }
    }
    rows += b.length;
    onBatch(b);
  });
}

before(async () => {
  await writer.start();
  decode((b) => writer.consume(b));
  await writer.flush();
  await sql.start();
});
after(async () => {
  await sql.stop();
  await writer.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function count(table: string): Promise<number> {
  const r = await writer.connection.runAndReadAll(`SELECT count(*)::INTEGER FROM ${table}`);
  return r.getRowsJS()[0]![0] as number;
}

test("config: defaults and validation", () => {
  const d = defaultSqlConfig();
  assert.equal(d.timeoutMs, 30_000);
  assert.equal(d.memoryLimit, "1GB");
  assert.equal(d.maxRows, 10_000);
  assert.deepEqual(validateSqlConfig(undefined), d);
  assert.equal(validateSqlConfig({ memoryLimit: "512MiB", threads: 2 }).memoryLimit, "512MiB");
  assert.throws(() => validateSqlConfig({ memoryLimit: "1GB'; SET x" }), ConfigError);
  assert.throws(() => validateSqlConfig({ maxRows: 0 }), /sql\.maxRows/);
  assert.throws(() => validateSqlConfig({ bogus: 1 }), /sql\.bogus: unknown key/);
});

test("SELECT works on each view; listViews and listColumns", async () => {
  assert.equal(rows, 3979);
  assert.deepEqual(sql.listViews(), [...VIEW_NAMES]);
  const flows = await sql.query("SELECT count(*) AS n, sum(bytes) AS b FROM flows");
  assert.deepEqual(flows.columns, [
    { name: "n", type: "BIGINT" },
    { name: "b", type: "HUGEINT" },
  ]);
  const raw = await writer.connection.runAndReadAll(
    "SELECT count(*)::VARCHAR, sum(bytes)::VARCHAR FROM flows_raw",
  );
  assert.deepEqual(flows.rows[0]!.map(String), raw.getRowsJS()[0]);
  assert.equal(Number(flows.rows[0]![0]), 3979);
  // Every rollup view reads its table (closed buckets only; a bucket closes once a newer row is committed).
  for (const v of VIEW_NAMES.filter((x) => !["flows", "rollup_state", "anomaly_scores"].includes(x))) {
    const p = await sql.query(`SELECT sum(flows)::BIGINT AS f, count(*) AS n FROM ${v}`);
    const direct = await writer.connection.runAndReadAll(`SELECT sum(flows)::BIGINT, count(*) FROM ${v}`);
    assert.deepEqual(p.rows[0]!.map(String), direct.getRowsJS()[0]!.map(String), v);
  }
  const h = new Map((await sql.listColumns("flows_1h"))!.map((c) => [c.name, c.type]));
  assert.equal(h.get("exporter_address_text"), "VARCHAR");
  assert.equal(
    new Map((await sql.listColumns("dst_addr_1d"))!.map((c) => [c.name, c.type])).get("dst_addr_text"),
    "VARCHAR",
  );
  const st = await sql.query("SELECT count(*) FROM rollup_state");
  assert.ok(
    Number(st.rows[0]![0]) >= 1,
    "the writer closed at least the buckets before the capture's last minute",
  );
  const cols = await sql.listColumns("flows");
  assert.ok(cols);
  const byName = new Map(cols.map((c) => [c.name, c.type]));
  assert.equal(byName.get("src_addr"), "UHUGEINT");
  assert.equal(byName.get("src_addr_text"), "VARCHAR");
  assert.equal(byName.get("bytes"), "UBIGINT");
  for (const c of IP_COLUMNS) assert.equal(byName.get(`${c}_text`), "VARCHAR");
  const m = await sql.listColumns("flows_1m");
  assert.ok(m?.some((c) => c.name === "bucket" && c.type === "TIMESTAMP"));
  assert.equal(await sql.listColumns("flows_raw_nope"), null);
});

test("nagare_ip matches formatIp on every ip column of every real flow", async () => {
  const parts = IP_COLUMNS.map((c) => `SELECT '${c}=' || ${c}_text AS k FROM flows`).join(" UNION ALL ");
  const got = new Map<string, number>();
  let offset: number | null = 0;
  while (offset !== null) {
    const p = await sql.query(`SELECT k, count(*) AS n FROM (${parts}) GROUP BY k ORDER BY k`, { offset });
    for (const r of p.rows) got.set(String(r[0]), Number(r[1]));
    offset = p.nextOffset;
  }
  assert.deepEqual(got, expectedIps);
  // The unit really has both families, and zero (absent) addresses.
  const texts = [...expectedIps.keys()];
  assert.ok(texts.some((k) => k.startsWith("src_addr=") && k.includes(".")));
  assert.ok(texts.some((k) => k.startsWith("src_addr=") && k.includes(":")));
  assert.ok(texts.some((k) => k.endsWith("=")));
});

test("nagare_ip on RFC 5952 edge cases, against formatIp", async () => {
  const cases = [
    "::1",
    "1::",
    "2001:db8::1",
    "2001:db8:0:0:1:0:0:1",
    "2001:0:0:1:0:0:0:1",
    "1:0:2:0:3:0:4:0",
    "fe80::1:2:3:4",
    "::ffff:10.1.2.3",
    "0.0.0.1",
    "255.255.255.255",
    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    "0.0.0.0",
    "::",
  ];
  for (const t of cases) {
    const b = parseIp(t);
    assert.ok(b, t);
    const hex = Buffer.from(b).toString("hex");
    // The store's UHUGEINT (the bytes as one big-endian integer) and a version-1 BLOB print alike.
    const p = await sql.query(
      `SELECT nagare_ip(${BigInt(`0x${hex}`)}::UHUGEINT), nagare_ip(from_hex('${hex}'))`,
    );
    assert.equal(p.rows[0]![0], formatIp(b, 0), t);
    assert.equal(p.rows[0]![1], formatIp(b, 0), t);
  }
});

const REFUSED: readonly string[] = [
  "SELECT 1; DROP TABLE flows_raw",
  "SELECT 1; SELECT 2",
  "select * from read_csv('/etc/passwd')",
  "select * from read_text('/etc/passwd')",
  "select * from read_parquet('/tmp/x.parquet')",
  "select * from glob('/etc/*')",
  "select * from 'https://example.com/x.csv'",
  "ATTACH ':memory:' AS x",
  `ATTACH '${join(dir, "other.duckdb")}' AS x`,
  "DETACH flows",
  "INSTALL httpfs",
  "LOAD httpfs",
  "SET threads=1",
  "RESET threads",
  "PRAGMA threads=1",
  "PRAGMA enable_profiling",
  `COPY (select 1) TO '${join(dir, "x.csv")}'`,
  `EXPORT DATABASE '${join(dir, "exp")}'`,
  `IMPORT DATABASE '${join(dir, "exp")}'`,
  "CREATE TABLE t(x int)",
  "CREATE VIEW v AS SELECT 1",
  "DROP TABLE flows_raw",
  "DELETE FROM flows_raw",
  "INSERT INTO flows_raw SELECT * FROM flows_raw",
  "UPDATE flows_raw SET bytes = 0",
  "CALL checkpoint()",
  "CHECKPOINT",
  "VACUUM",
  "BEGIN TRANSACTION",
  "USE memory",
];

test("refused: everything but one read-only query, and file/network access inside a SELECT", async () => {
  const before = await count("flows_raw");
  for (const q of REFUSED) {
    await assert.rejects(
      sql.query(q),
      (e: unknown) => e instanceof SqlRefusedError && e.status === 403 && e.code === "refused",
      q,
    );
  }
  // 'file.csv' as a table name: DuckDB does not even try the file (external access off), it is an unknown table.
  await assert.rejects(
    sql.query("select * from '/etc/passwd'"),
    (e: unknown) => e instanceof SqlError && e.status < 500,
  );
  // query() only takes a SELECT.
  await assert.rejects(sql.query("select * from query('DELETE FROM flows_raw')"), SqlInvalidError);
  // Messages point at the problem.
  await assert.rejects(sql.query("SELECT 1; DROP TABLE flows_raw"), /2 statements/);
  await assert.rejects(sql.query("CREATE TABLE t(x int)"), /CREATE statement refused/);
  await assert.rejects(
    sql.query("select * from read_csv('/etc/passwd')"),
    /Permission Error.*\/etc\/passwd/s,
  );
  await assert.rejects(
    sql.query("SELEC 1"),
    (e: unknown) => e instanceof SqlInvalidError && /syntax/i.test(e.message),
  );
  // DB unchanged, nothing written to disk.
  assert.equal(await count("flows_raw"), before);
  const t = await writer.connection.runAndReadAll(
    "SELECT table_name FROM information_schema.tables WHERE table_name IN ('t', 'v') OR table_catalog = 'x'",
  );
  assert.deepEqual(t.getRowsJS(), []);
  assert.equal(existsSync(join(dir, "x.csv")), false);
  assert.equal(existsSync(join(dir, "exp")), false);
  assert.equal(existsSync(join(dir, "other.duckdb")), false);
  // Settings stayed as start() locked them.
  const s = await sql.query(
    "SELECT current_setting('enable_external_access'), current_setting('lock_configuration'), current_setting('memory_limit')",
  );
  assert.deepEqual(s.rows[0]!.slice(0, 2), [false, true]);
  assert.equal(String(s.rows[0]![2]), "953.6 MiB"); // 1GB = 10^9 bytes
  // A write-ish table function inside a SELECT meets the read-only transaction or runs harmlessly.
  await sql.query("SELECT * FROM checkpoint()").then(
    () => {},
    (e: unknown) => assert.ok(e instanceof SqlError && e.status < 500, String(e)),
  );
  // Read-only PRAGMAs that DuckDB rewrites into SELECTs are plain queries.
  const v = await sql.query("PRAGMA version");
  assert.match(String(v.rows[0]![0]), /^v1\./);
});

test("a runaway query is cut off by its time limit while ingest still flushes", async () => {
  const before = await count("flows_raw");
  const t0 = performance.now();
  await assert.rejects(
    sql.query("SELECT sum(a.range * b.range) FROM range(1000000) a, range(1000000) b", { timeoutMs: 300 }),
    (e: unknown) => e instanceof SqlTimeoutError && e.status === 408,
  );
  const took = performance.now() - t0;
  assert.ok(took < 3000, `interrupt took ${took} ms`);
  // Ingest goes on: decode the unit again into the writer and flush.
  decode((b) => writer.consume(b));
  await writer.flush();
  assert.equal(writer.flushErrors, 0);
  assert.equal(await count("flows_raw"), before + 3979);
  // The sandbox connection is usable again.
  const p = await sql.query("SELECT count(*) FROM flows");
  assert.equal(Number(p.rows[0]![0]), before + 3979);
});

test("cancel by id", async () => {
  const running = sql.query("SELECT sum(a.range * b.range) FROM range(1000000) a, range(1000000) b", {
    id: "q1",
  });
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(sql.runningIds(), ["q1"]);
  assert.equal(sql.cancel("q1"), true);
  await assert.rejects(running, (e: unknown) => e instanceof SqlCancelledError && e.message.includes("q1"));
  assert.equal(sql.cancel("q1"), false);
  assert.deepEqual(sql.runningIds(), []);
});

test("paging: consistent pages that together are the whole ordered result", async () => {
  const q = "SELECT time_received, src_addr_text, dst_addr_text, bytes FROM flows ORDER BY ALL";
  const all: string[] = [];
  let offset: number | null = 0;
  let pages = 0;
  while (offset !== null) {
    const p = await sql.query(q, { offset, limit: 700 });
    assert.ok(p.rows.length <= 700);
    assert.equal(p.offset, offset);
    for (const r of p.rows) all.push(JSON.stringify(r));
    offset = p.nextOffset;
    pages++;
  }
  const total = await count("flows_raw");
  assert.equal(all.length, total);
  assert.equal(pages, Math.ceil(total / 700));
  // Same page twice is the same rows; maxRows caps a larger limit.
  const a = await sql.query(q, { offset: 1400, limit: 700 });
  const b = await sql.query(q, { offset: 1400, limit: 700 });
  assert.deepEqual(a.rows, b.rows);
  assert.deepEqual(
    a.rows.map((r) => JSON.stringify(r)),
    all.slice(1400, 2100),
  );
  const big = await sql.query(q, { limit: 1_000_000 });
  assert.equal(big.rows.length, 1000);
  assert.equal(big.nextOffset, 1000);
  // A huge result is paged without being materialised.
  const huge = await sql.query("SELECT range AS i FROM range(100000000)", { offset: 5000, limit: 10 });
  assert.deepEqual(
    huge.rows.map((r) => Number(r[0])),
    [5000, 5001, 5002, 5003, 5004, 5005, 5006, 5007, 5008, 5009],
  );
  assert.equal(huge.nextOffset, 5010);
});
