// Nagare's flow queries on a real Trino server (query.engine.kind "trino"):
// a capture decoded into a store, its hours exported to Parquet
// (src/store/export.ts), that lake registered in Trino's Hive catalog, then
// the explorer's queries answered by both engines must be equal, and the
// operators' old-pipeline queries (select * … limit 10, a TopN in plain SQL)
// must give Nagare's SQL answers.
//
// Gate (docs/trino.md "Tests"): runs only when NAGARE_TRINO_SERVER names a
// server (scripts/trino/run.sh start prints it; `run.sh demo` runs this file).
// Set but unreachable → the test FAILS. Unset → skipped with the reason, so
// default CI (no Trino: ~1 GB of jars and a JVM) does not start one.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { FlowQueryRunner } from "../src/api/query.js";
import { App } from "../src/app.js";
import { validateConfig } from "../src/config/schema.js";
import { silentLogger } from "../src/log.js";
import type { FlowQuery } from "../src/query/planner/index.js";
import { SqlService } from "../src/query/sql/index.js";
import { TrinoClient } from "../src/query/engine/trino-client.js";
import { lakeTableDdl, type LakeTable } from "../src/query/engine/trino-sql.js";
import { TrinoQueryEngine } from "../src/query/engine/trino.js";
import { defaultStoreConfig } from "../src/store/config.js";
import { ParquetExport } from "../src/store/export.js";
import { StoreWriter } from "../src/store/writer.js";
import { decodeUnit } from "./helpers/captures.js";

const SERVER = process.env.NAGARE_TRINO_SERVER ?? "";
const UNIT = "ipfixcol2__example_flows"; // IPFIX, IPv4 and IPv6
const HOUR = 3_600_000;

const dir = mkdtempSync(join(tmpdir(), "nagare-trino-"));
const lakeDir = join(dir, "lake");
// A schema per run: runs never see each other's tables.
const lake: LakeTable = { catalog: "hive", schema: `nagare_t${process.pid}`, table: "flows" };
let writer: StoreWriter;
let sql: SqlService;
let duck: FlowQueryRunner;
let trino: TrinoQueryEngine;
let client: TrinoClient;
let base = 0;

before(async () => {
  if (!SERVER) return;
  client = new TrinoClient({ server: SERVER, user: "nagare", timeoutMs: 120_000 });
  // Set but unreachable: fail here, loudly.
  const info = await fetch(`${SERVER}/v1/info`).catch((err: Error) => {
    throw new Error(`NAGARE_TRINO_SERVER=${SERVER} is set but unreachable: ${err.message}`);
  });
  assert.equal(info.status, 200, `NAGARE_TRINO_SERVER=${SERVER} answered ${info.status}`);

  writer = new StoreWriter({ config: { ...defaultStoreConfig(), path: join(dir, "db.duckdb") } });
  await writer.start();
  // The capture's flows moved into three whole hours ending two hours ago (inside every retention).
  base = Math.floor(Date.now() / HOUR) * HOUR - 5 * HOUR;
  let i = 0;
  decodeUnit(UNIT, (b) => {
    for (let k = 0; k < b.length; k++, i++) {
      b.cols.time_received[k] = base + (i % 3) * HOUR + (i % 1800) * 2000 + 17;
    }
    writer.consume(b);
  });
  await writer.flush();
  const exp = new ParquetExport({
    db: () => writer.database,
    config: { ...defaultStoreConfig().export, enabled: true, dir: lakeDir, intervalMs: 3_600_000 },
    protect: [join(dir, "db.duckdb")],
  });
  await exp.start();
  await exp.run(base + 3 * HOUR + 10 * 60_000);
  await exp.stop();
  assert.equal(exp.stats.hoursWritten, 3);
  sql = new SqlService(() => writer.database);
  await sql.start();
  duck = new FlowQueryRunner(() => writer.database, 60_000, defaultStoreConfig().retention);

  await client.query(
    `CREATE SCHEMA IF NOT EXISTS ${lake.catalog}.${lake.schema} WITH (location = 'local://${dir}/schema')`,
  );
  await client.query(lakeTableDdl(lake, `local://${lakeDir}`));
  await client.query(
    `CALL ${lake.catalog}.system.sync_partition_metadata('${lake.schema}', '${lake.table}', 'ADD')`,
  );
  trino = new TrinoQueryEngine({ server: SERVER, user: "nagare", timeoutMs: 120_000, ...lake });
});

after(async () => {
  if (!SERVER) return;
  await client
    ?.query(`DROP TABLE IF EXISTS ${lake.catalog}.${lake.schema}.${lake.table}`)
    .catch(() => undefined);
  await client?.query(`DROP SCHEMA IF EXISTS ${lake.catalog}.${lake.schema}`).catch(() => undefined);
  duck?.close();
  await sql?.stop();
  await writer?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const skip = SERVER
  ? false
  : "NAGARE_TRINO_SERVER not set (scripts/trino/run.sh demo runs this file against a real Trino)";

/** The answer without the fields that name the engine's tables. */
function comparable(a: { status: number; body: unknown }): unknown {
  assert.equal(a.status, 200, JSON.stringify(a.body));
  const { table: _t, engine: _e, ...rest } = a.body as Record<string, unknown>;
  return rest;
}

test("the lake in Trino holds every flow of the store", { skip }, async () => {
  const t = await client.query(
    `SELECT count(*), sum(bytes) FROM ${lake.catalog}.${lake.schema}.${lake.table}`,
  );
  const d = await sql.query("SELECT count(*), sum(bytes) FROM flows_raw");
  assert.deepEqual(t.rows[0]!.map(String), d.rows[0]!.map(String));
  assert.ok(Number(t.rows[0]![0]) > 3000);
});

test("old pipeline: select * limit 10 and a TopN in plain SQL equal Nagare's", { skip }, async () => {
  const star = await client.query(`SELECT * FROM ${lake.catalog}.${lake.schema}.${lake.table} LIMIT 10`);
  assert.equal(star.rows.length, 10);
  assert.ok(star.columns.some((c) => c.name === "src_addr" && c.type === "varchar"));
  assert.ok(star.columns.some((c) => c.name === "date") && star.columns.some((c) => c.name === "hour"));
  const top = await client.query(
    `SELECT dst_addr, sum(bytes) AS b FROM ${lake.catalog}.${lake.schema}.${lake.table} GROUP BY dst_addr ORDER BY b DESC, dst_addr LIMIT 10`,
  );
  const mine = await sql.query(
    "SELECT nagare_ip(dst_addr) AS d, sum(bytes) AS b FROM flows_raw GROUP BY d ORDER BY b DESC, d LIMIT 10",
  );
  assert.deepEqual(
    top.rows.map((r) => r.map(String)),
    mine.rows.map((r) => r.map(String)),
  );
});

const QUERIES: [string, (b: number) => FlowQuery][] = [
  [
    "table TopN dst_port by bytes with other",
    (b) => ({
      start: b,
      end: b + 3 * HOUR,
      resolution: "auto",
      dimensions: ["dst_port"],
      metric: "bytes",
      topN: 5,
      shape: "table",
    }),
  ],
  [
    "table by src_addr, dst_addr (ip text), packets",
    (b) => ({
      start: b,
      end: b + 3 * HOUR,
      resolution: "auto",
      dimensions: ["src_addr", "protocol"],
      metric: "packets",
      topN: 20,
      shape: "table",
    }),
  ],
  [
    "filtered table: proto tcp and an IPv4 net, flows",
    (b) => ({
      start: b,
      end: b + 3 * HOUR,
      resolution: "auto",
      dimensions: ["protocol", "dst_port"],
      metric: "flows",
      filter: "proto tcp or net 192.168.0.0/16",
      shape: "table",
    }),
  ],
  [
    "timeseries per minute, no dimension, bps (zero-filled)",
    (b) => ({
      start: b + HOUR,
      end: b + 2 * HOUR,
      resolution: "minute",
      dimensions: [],
      metric: "bps",
      shape: "timeseries",
    }),
  ],
  [
    "timeseries per hour by protocol top 3, compare previous",
    (b) => ({
      start: b + HOUR,
      end: b + 3 * HOUR,
      resolution: "hour",
      dimensions: ["protocol"],
      metric: "bytes",
      topN: 3,
      shape: "timeseries",
      comparePrevious: true,
    }),
  ],
  [
    "table filtered on IPv6 and a port range",
    (b) => ({
      start: b,
      end: b + 3 * HOUR,
      resolution: "auto",
      dimensions: ["src_addr"],
      metric: "bytes",
      filter: "net ::/0 and not net 0.0.0.0/0 or dst port > 1024",
      topN: 10,
      shape: "table",
    }),
  ],
];

for (const [name, make] of QUERIES) {
  test(`explorer on Trino = explorer on DuckDB: ${name}`, { skip }, async () => {
    const q = make(base);
    const d = await duck.run(q);
    const t = await trino.run(q);
    assert.equal((t.body as { engine?: string }).engine, "trino");
    const dc = comparable(d) as { rows: unknown[] };
    assert.ok(dc.rows.length > 0, "the query must return rows to compare");
    assert.deepEqual(comparable(t), dc);
  });
}

test(
  "Nagare's HTTP API with query.engine.kind trino: /api/v1/flows/query answers from Trino as the DuckDB engine does; /api/v1/engine/sql runs read-only SQL",
  { skip },
  async () => {
    const appDir = join(dir, "app");
    const config = validateConfig({
      dataDir: appDir,
      collector: { listen: ["127.0.0.1:0"], sflowListen: ["127.0.0.1:0"] },
      http: { listen: "127.0.0.1:0" },
      demo: { enabled: false },
      query: { engine: { kind: "trino", trino: { server: SERVER, ...lake } } },
    });
    const app = new App({ config, log: silentLogger });
    await app.start();
    try {
      const api = async (
        method: string,
        path: string,
        body?: unknown,
      ): Promise<{ status: number; json: Record<string, unknown> }> => {
        const r = await fetch(`http://${app.http.address}${path}`, {
          method,
          headers: { Authorization: `Bearer ${app.token!.token}`, "Content-Type": "application/json" },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
        return { status: r.status, json: (await r.json()) as Record<string, unknown> };
      };
      const info = await api("GET", "/api/v1/engine");
      assert.deepEqual(info.json, {
        kind: "trino",
        server: SERVER,
        table: `${lake.catalog}.${lake.schema}.${lake.table}`,
        label: `Trino ${SERVER} (${lake.catalog}.${lake.schema})`,
      });
      // The app's own store is empty: these rows can only come from the lake in Trino.
      const q = QUERIES[0]![1](base);
      const viaHttp = await api("POST", "/api/v1/flows/query", q);
      assert.equal(viaHttp.status, 200, JSON.stringify(viaHttp.json));
      assert.equal(viaHttp.json.engine, "trino");
      assert.deepEqual(comparable({ status: 200, body: viaHttp.json }), comparable(await duck.run(q)));

      const show = await api("POST", "/api/v1/engine/sql", {
        sql: `SHOW TABLES FROM ${lake.catalog}.${lake.schema}`,
      });
      assert.equal(show.status, 200, JSON.stringify(show.json));
      assert.deepEqual(show.json.rows, [[lake.table]]);
      const n = await api("POST", "/api/v1/engine/sql", { sql: `SELECT count(*) FROM ${lake.table}` });
      const d = await sql.query("SELECT count(*) FROM flows_raw");
      assert.deepEqual(
        (n.json.rows as unknown[][]).map((r) => r.map(String)),
        d.rows.map((r) => r.map(String)),
      );
      const drop = await api("POST", "/api/v1/engine/sql", { sql: `DROP TABLE ${lake.table}` });
      assert.equal(drop.status, 400);
      const bad = await api("POST", "/api/v1/engine/sql", { sql: "SELECT nope FROM nowhere" });
      assert.equal(bad.status, 400);
      assert.match(String(bad.json.error), /trino: .*nowhere/);

      // The whole UI on Trino (docs/trino.md): /api/v1/sql, views and downloads run in Trino's dialect.
      const top =
        `SELECT dst_addr, sum(bytes) AS b FROM ${lake.table} ` +
        `GROUP BY dst_addr ORDER BY b DESC, dst_addr LIMIT 10`;
      const viaSql = await api("POST", "/api/v1/sql", { sql: top });
      assert.equal(viaSql.status, 200, JSON.stringify(viaSql.json));
      const mine = await sql.query(
        "SELECT nagare_ip(dst_addr) AS d, sum(bytes) AS b FROM flows_raw GROUP BY d ORDER BY b DESC, d LIMIT 10",
      );
      assert.deepEqual(
        viaSql.json.rows,
        mine.rows.map((r) => r.map(String)),
      );
      assert.deepEqual(
        (viaSql.json.columns as { type: string }[]).map((c) => c.type),
        // Trino's sum of a bigint is a bigint (DuckDB's a HUGEINT): named as DuckDB names Trino's type.
        ["VARCHAR", "BIGINT"],
      );
      const paged = await api("POST", "/api/v1/sql", {
        sql: `SELECT src_port FROM ${lake.table} ORDER BY time_received, src_port, dst_port, bytes`,
        limit: 100,
        offset: 50,
      });
      assert.equal(paged.status, 200, JSON.stringify(paged.json));
      assert.equal((paged.json.rows as unknown[]).length, 100);
      assert.equal(paged.json.nextOffset, 150);
      const views = await api("GET", "/api/v1/views");
      assert.deepEqual(views.json, [lake.table]);
      const cols = await api("GET", `/api/v1/views/${lake.table}/columns`);
      assert.ok(
        (cols.json as unknown as { name: string; type: string }[]).some(
          (c) => c.name === "src_addr" && c.type === "VARCHAR",
        ),
        JSON.stringify(cols.json),
      );
      const refused = await api("POST", "/api/v1/sql", { sql: `CREATE TABLE x AS SELECT 1` });
      assert.equal(refused.status, 403);
      assert.match(String(refused.json.error), /^CREATE statement refused/);
      const pos = await api("POST", "/api/v1/sql", { sql: "SELECT nope\nFROM flows" });
      assert.equal(pos.status, 400, JSON.stringify(pos.json));
      assert.equal(pos.json.line, 1);
      assert.equal(pos.json.column, 8);
      assert.equal(pos.json.offset, 7);
      // Slow on purpose: a cross join Trino cannot finish in 500 ms.
      const slow = await api("POST", "/api/v1/sql", {
        sql: "SELECT count(*) FROM UNNEST(sequence(1, 10000)) a(x) CROSS JOIN UNNEST(sequence(1, 10000)) b(y) CROSS JOIN UNNEST(sequence(1, 100)) c(z) WHERE x * y * z = 7",
        timeoutMs: 500,
      });
      assert.equal(slow.status, 408, JSON.stringify(slow.json));
      const csv = await fetch(
        `http://${app.http.address}/api/v1/sql.csv?q=${encodeURIComponent(`SELECT count(*) AS n FROM ${lake.table}`)}`,
        { headers: { Authorization: `Bearer ${app.token!.token}` } },
      );
      assert.equal(
        await csv.text(),
        `n\n${String((await sql.query("SELECT count(*) FROM flows_raw")).rows[0]![0])}\n`,
      );
    } finally {
      await app.stop();
    }
  },
);
