// The Hive half of issue 7 on a real PrestoSQL 350 server (not a test file:
// test/presto-kafka.test.ts and test/presto-engine.test.ts register these
// tests, the first on the server that also holds the Kafka catalog).
//
//   a capture decoded into a store, its hours exported to Parquet
//   (src/store/export.ts, Hive layout date=/hour=)
//   → an external table in Presto's `hive` catalog (lakeTableDdl, file://
//     location, sync_partition_metadata)
//   → the operators' old-pipeline queries in plain SQL equal Nagare's SQL,
//     and Nagare's explorer queries with query.engine.kind trino, protocol
//     presto, equal the DuckDB engine's answers — through TrinoQueryEngine and
//     through the HTTP API of a whole App.
//
// The lake itself and the comparisons are test/helpers/lake.ts, shared with
// test/trino-engine.test.ts; what stays here is Presto's: 350 needs file://
// where Trino 483 takes local://, and X-Presto-* headers. The query list is
// the same, so that a dialect difference shows as one failing query with
// Presto's message.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
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

/**
 * Register the lake tests against the Presto server `server()` names (read
 * when the hooks run, so a caller's own before() may start it). `skip` false
 * → every failure, an unreachable server included, fails the test.
 */
export function prestoLakeSuite(server: () => string, skip: string | false): void {
  // A suite of its own: its before() failing fails these tests, not the caller's.
  describe("PrestoSQL hive catalog over the Parquet export", { skip }, () => lakeTests(server, skip));
}

function lakeTests(server: () => string, skip: string | false): void {
  // Made in before(): a skipped suite runs no hook, so it would leave the directory behind.
  let dir = "";
  // A schema per run: runs never see each other's tables.
  const lake: LakeTable = { catalog: "hive", schema: `nagare_p${process.pid}`, table: "flows" };
  let local: LocalLake | undefined;
  let presto: TrinoQueryEngine;
  let client: TrinoClient | undefined;
  const q = (s: string) => client!.query(s);

  before(async () => {
    if (skip) return;
    dir = mkdtempSync(join(tmpdir(), "nagare-presto-lake-"));
    const url = server();
    client = new TrinoClient({ server: url, user: "nagare", timeoutMs: 120_000, protocol: "presto" });
    // Set but unreachable: fail here, loudly.
    await assertServerUp(url, `Presto server ${url}`);

    local = await buildLocalLake(dir);

    // Presto 350's file metastore refuses a schema location (it keeps the schema under
    // hive.metastore.catalog.dir); the table's location goes through Hadoop's
    // FileSystem: file://, not Trino's local://.
    await registerLake(q, lake, `file://${local.lakeDir}`);
    presto = new TrinoQueryEngine({
      server: url,
      user: "nagare",
      timeoutMs: 120_000,
      protocol: "presto",
      ...lake,
    });
  });

  after(async () => {
    if (client) await dropLake(q, lake);
    await local?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const T = `${lake.catalog}.${lake.schema}.${lake.table}`;

  test("hive: the lake in Presto holds every flow of the store, in 3 hour partitions", { skip }, async () => {
    const t = await q(`SELECT count(*), sum(bytes), count(DISTINCT "hour") FROM ${T}`);
    const d = await local!.sql.query("SELECT count(*), sum(bytes), 3 FROM flows_raw");
    assert.deepEqual(t.rows[0]!.map(String), d.rows[0]!.map(String));
    assert.ok(Number(t.rows[0]![0]) > 3000);
    // Time columns read back as the same instants (Parquet TIMESTAMP millis, UTC).
    const tr = await q(
      `SELECT CAST(min(time_received) AS varchar), CAST(max(time_flow_end) AS varchar) FROM ${T}`,
    );
    const dr = await local!.sql.query(
      `SELECT strftime(min(time_received), '%Y-%m-%d %H:%M:%S.%g'),
              strftime(max(time_flow_end), '%Y-%m-%d %H:%M:%S.%g') FROM flows_raw`,
    );
    assert.deepEqual(tr.rows[0]!.map(String), dr.rows[0]!.map(String));
  });

  test("hive: old pipeline select * limit 10 and a TopN in plain SQL equal Nagare's", { skip }, async () => {
    await assertOldPipeline(q, T, local!.sql);
  });

  for (const [name, make] of EXPLORER_QUERIES) {
    test(`explorer on Presto = explorer on DuckDB: ${name}`, { skip }, async () => {
      await assertExplorerEqual(local!.duck, presto, make(local!.base));
    });
  }

  test(
    "Nagare's HTTP API with query.engine {kind trino, protocol presto}: flow queries and /api/v1/engine/sql on Presto",
    { skip },
    async () => {
      const url = server();
      const app = await startEngineApp(join(dir, "app"), { server: url, protocol: "presto", ...lake });
      try {
        const api = appApi(app);
        await assertHttpExplorer(app, local!.duck, local!.base);

        const n = await api("POST", "/api/v1/engine/sql", { sql: `SELECT count(*) FROM ${lake.table}` });
        assert.equal(n.status, 200, JSON.stringify(n.json));
        const d = await local!.sql.query("SELECT count(*) FROM flows_raw");
        assert.deepEqual(
          (n.json.rows as unknown[][]).map((r) => r.map(String)),
          d.rows.map((r) => r.map(String)),
        );
        const bad = await api("POST", "/api/v1/engine/sql", { sql: "SELECT nope FROM nowhere" });
        assert.equal(bad.status, 400);
      } finally {
        await app.stop();
      }
    },
  );
}
