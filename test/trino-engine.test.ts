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
import { TrinoClient } from "../src/query/engine/trino-client.js";
import type { LakeTable } from "../src/query/engine/trino-sql.js";
import { TrinoQueryEngine } from "../src/query/engine/trino.js";
import {
  EXPLORER_QUERIES,
  type LocalLake,
  appApi,
  assertExplorerEqual,
  assertHttpExplorer,
  assertOldPipeline,
  assertServerUp,
  buildLocalLake,
  dropLake,
  registerLake,
  startEngineApp,
} from "./helpers/lake.js";

const SERVER = process.env.NAGARE_TRINO_SERVER ?? "";

const dir = mkdtempSync(join(tmpdir(), "nagare-trino-"));
// A schema per run: runs never see each other's tables.
const lake: LakeTable = { catalog: "hive", schema: `nagare_t${process.pid}`, table: "flows" };
const T = `${lake.catalog}.${lake.schema}.${lake.table}`;
let local: LocalLake;
let trino: TrinoQueryEngine;
let client: TrinoClient;

before(async () => {
  if (!SERVER) return;
  client = new TrinoClient({ server: SERVER, user: "nagare", timeoutMs: 120_000 });
  // Set but unreachable: fail here, loudly.
  await assertServerUp(SERVER, `NAGARE_TRINO_SERVER=${SERVER} is set but`);

  local = await buildLocalLake(dir);

  await registerLake(
    (s) => client.query(s),
    lake,
    `local://${local.lakeDir}`,
    ` WITH (location = 'local://${dir}/schema')`,
  );
  trino = new TrinoQueryEngine({ server: SERVER, user: "nagare", timeoutMs: 120_000, ...lake });
});

after(async () => {
  if (!SERVER) return;
  if (client) await dropLake((s) => client.query(s), lake);
  await local?.close();
  rmSync(dir, { recursive: true, force: true });
});

const skip = SERVER
  ? false
  : "NAGARE_TRINO_SERVER not set (scripts/trino/run.sh demo runs this file against a real Trino)";

test("the lake in Trino holds every flow of the store", { skip }, async () => {
  const t = await client.query(`SELECT count(*), sum(bytes) FROM ${T}`);
  const d = await local.sql.query("SELECT count(*), sum(bytes) FROM flows_raw");
  assert.deepEqual(t.rows[0]!.map(String), d.rows[0]!.map(String));
  assert.ok(Number(t.rows[0]![0]) > 3000);
});

test("old pipeline: select * limit 10 and a TopN in plain SQL equal Nagare's", { skip }, async () => {
  await assertOldPipeline((s) => client.query(s), T, local.sql);
});

for (const [name, make] of EXPLORER_QUERIES) {
  test(`explorer on Trino = explorer on DuckDB: ${name}`, { skip }, async () => {
    await assertExplorerEqual(local.duck, trino, make(local.base));
  });
}

test(
  "Nagare's HTTP API with query.engine.kind trino: /api/v1/flows/query answers from Trino as the DuckDB engine does; /api/v1/engine/sql runs read-only SQL",
  { skip },
  async () => {
    const app = await startEngineApp(join(dir, "app"), { server: SERVER, ...lake });
    try {
      const api = appApi(app);
      const info = await api("GET", "/api/v1/engine");
      assert.deepEqual(info.json, {
        kind: "trino",
        server: SERVER,
        table: `${lake.catalog}.${lake.schema}.${lake.table}`,
        label: `Trino ${SERVER} (${lake.catalog}.${lake.schema})`,
      });
      await assertHttpExplorer(app, local.duck, local.base);

      const show = await api("POST", "/api/v1/engine/sql", {
        sql: `SHOW TABLES FROM ${lake.catalog}.${lake.schema}`,
      });
      assert.equal(show.status, 200, JSON.stringify(show.json));
      assert.deepEqual(show.json.rows, [[lake.table]]);
      const n = await api("POST", "/api/v1/engine/sql", { sql: `SELECT count(*) FROM ${lake.table}` });
      const d = await local.sql.query("SELECT count(*) FROM flows_raw");
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
      const mine = await local.sql.query(
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
        `n\n${String((await local.sql.query("SELECT count(*) FROM flows_raw")).rows[0]![0])}\n`,
      );
    } finally {
      await app.stop();
    }
  },
);
