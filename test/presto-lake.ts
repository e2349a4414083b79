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
// Why a module and not a copy of test/trino-engine.test.ts: Presto 350 needs
// file:// where Trino 483 takes local://, and X-Presto-* headers; the query
// list is the same shape so that a dialect difference shows as one failing
// query with Presto's message.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
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

const UNIT = "ipfixcol2__example_flows"; // IPFIX, IPv4 and IPv6
const HOUR = 3_600_000;

/** The explorer's queries compared across engines (the same shapes as test/trino-engine.test.ts). */
export const EXPLORER_QUERIES: [string, (b: number) => FlowQuery][] = [
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
    "table by src_addr, protocol (ip text), packets",
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
    "filtered table: proto tcp or an IPv4 net, flows",
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

/** The answer without the fields that name the engine's tables. */
function comparable(a: { status: number; body: unknown }): unknown {
  assert.equal(a.status, 200, JSON.stringify(a.body));
  const { table: _t, engine: _e, ...rest } = a.body as Record<string, unknown>;
  return rest;
}

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
  let writer: StoreWriter | undefined;
  let sql: SqlService | undefined;
  let duck: FlowQueryRunner | undefined;
  let presto: TrinoQueryEngine;
  let client: TrinoClient | undefined;
  let base = 0;
  const q = (s: string) => client!.query(s);

  before(async () => {
    if (skip) return;
    dir = mkdtempSync(join(tmpdir(), "nagare-presto-lake-"));
    const lakeDir = join(dir, "lake");
    const url = server();
    client = new TrinoClient({ server: url, user: "nagare", timeoutMs: 120_000, protocol: "presto" });
    // Set but unreachable: fail here, loudly.
    const info = await fetch(`${url}/v1/info`).catch((err: Error) => {
      throw new Error(`Presto server ${url} is unreachable: ${err.message}`);
    });
    assert.equal(info.status, 200, `Presto server ${url} answered ${info.status}`);

    writer = new StoreWriter({ config: { ...defaultStoreConfig(), path: join(dir, "db.duckdb") } });
    await writer.start();
    // The capture's flows moved into three whole hours ending two hours ago (inside every retention).
    base = Math.floor(Date.now() / HOUR) * HOUR - 5 * HOUR;
    let i = 0;
    decodeUnit(UNIT, (b) => {
      for (let k = 0; k < b.length; k++, i++) {
        b.cols.time_received[k] = base + (i % 3) * HOUR + (i % 1800) * 2000 + 17;
      }
      writer!.consume(b);
    });
    await writer.flush();
    const exp = new ParquetExport({
      db: () => writer!.database,
      config: { ...defaultStoreConfig().export, enabled: true, dir: lakeDir, intervalMs: 3_600_000 },
      protect: [join(dir, "db.duckdb")],
    });
    await exp.start();
    await exp.run(base + 3 * HOUR + 10 * 60_000);
    await exp.stop();
    assert.equal(exp.stats.hoursWritten, 3);
    sql = new SqlService(() => writer!.database);
    await sql.start();
    duck = new FlowQueryRunner(() => writer!.database, 60_000, defaultStoreConfig().retention);

    // Presto 350's file metastore refuses a schema location (it keeps the schema under
    // hive.metastore.catalog.dir); the table's location goes through Hadoop's
    // FileSystem: file://, not Trino's local://.
    await q(`CREATE SCHEMA IF NOT EXISTS ${lake.catalog}.${lake.schema}`);
    await q(lakeTableDdl(lake, `file://${lakeDir}`));
    await q(`CALL ${lake.catalog}.system.sync_partition_metadata('${lake.schema}', '${lake.table}', 'ADD')`);
    presto = new TrinoQueryEngine({
      server: url,
      user: "nagare",
      timeoutMs: 120_000,
      protocol: "presto",
      ...lake,
    });
  });

  after(async () => {
    if (client) {
      await q(`DROP TABLE IF EXISTS ${lake.catalog}.${lake.schema}.${lake.table}`).catch(() => undefined);
      await q(`DROP SCHEMA IF EXISTS ${lake.catalog}.${lake.schema}`).catch(() => undefined);
    }
    duck?.close();
    await sql?.stop();
    await writer?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const T = `${lake.catalog}.${lake.schema}.${lake.table}`;

  test("hive: the lake in Presto holds every flow of the store, in 3 hour partitions", { skip }, async () => {
    const t = await q(`SELECT count(*), sum(bytes), count(DISTINCT "hour") FROM ${T}`);
    const d = await sql!.query("SELECT count(*), sum(bytes), 3 FROM flows_raw");
    assert.deepEqual(t.rows[0]!.map(String), d.rows[0]!.map(String));
    assert.ok(Number(t.rows[0]![0]) > 3000);
    // Time columns read back as the same instants (Parquet TIMESTAMP millis, UTC).
    const tr = await q(
      `SELECT CAST(min(time_received) AS varchar), CAST(max(time_flow_end) AS varchar) FROM ${T}`,
    );
    const dr = await sql!.query(
      `SELECT strftime(min(time_received), '%Y-%m-%d %H:%M:%S.%g'),
              strftime(max(time_flow_end), '%Y-%m-%d %H:%M:%S.%g') FROM flows_raw`,
    );
    assert.deepEqual(tr.rows[0]!.map(String), dr.rows[0]!.map(String));
  });

  test("hive: old pipeline select * limit 10 and a TopN in plain SQL equal Nagare's", { skip }, async () => {
    const star = await q(`SELECT * FROM ${T} LIMIT 10`);
    assert.equal(star.rows.length, 10);
    assert.ok(star.columns.some((c) => c.name === "src_addr" && c.type === "varchar"));
    assert.ok(star.columns.some((c) => c.name === "date") && star.columns.some((c) => c.name === "hour"));
    const top = await q(
      `SELECT dst_addr, sum(bytes) AS b FROM ${T} GROUP BY dst_addr ORDER BY b DESC, dst_addr LIMIT 10`,
    );
    const mine = await sql!.query(
      "SELECT nagare_ip(dst_addr) AS d, sum(bytes) AS b FROM flows_raw GROUP BY d ORDER BY b DESC, d LIMIT 10",
    );
    assert.equal(top.rows.length, 10);
    assert.deepEqual(
      top.rows.map((r) => r.map(String)),
      mine.rows.map((r) => r.map(String)),
    );
  });

  for (const [name, make] of EXPLORER_QUERIES) {
    test(`explorer on Presto = explorer on DuckDB: ${name}`, { skip }, async () => {
      const fq = make(base);
      const d = await duck!.run(fq);
      const t = await presto.run(fq);
      assert.equal((t.body as { engine?: string }).engine, "trino", JSON.stringify(t.body));
      const dc = comparable(d) as { rows: unknown[] };
      assert.ok(dc.rows.length > 0, "the query must return rows to compare");
      assert.deepEqual(comparable(t), dc);
    });
  }

  test(
    "Nagare's HTTP API with query.engine {kind trino, protocol presto}: flow queries and /api/v1/engine/sql on Presto",
    { skip },
    async () => {
      const url = server();
      const config = validateConfig({
        dataDir: join(dir, "app"),
        collector: { listen: ["127.0.0.1:0"], sflowListen: ["127.0.0.1:0"] },
        http: { listen: "127.0.0.1:0" },
        demo: { enabled: false },
        query: { engine: { kind: "trino", trino: { server: url, protocol: "presto", ...lake } } },
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
        // The app's own store is empty: these rows can only come from the lake in Presto.
        const fq = EXPLORER_QUERIES[0]![1](base);
        const viaHttp = await api("POST", "/api/v1/flows/query", fq);
        assert.equal(viaHttp.status, 200, JSON.stringify(viaHttp.json));
        assert.equal(viaHttp.json.engine, "trino");
        assert.deepEqual(comparable({ status: 200, body: viaHttp.json }), comparable(await duck!.run(fq)));

        const n = await api("POST", "/api/v1/engine/sql", { sql: `SELECT count(*) FROM ${lake.table}` });
        assert.equal(n.status, 200, JSON.stringify(n.json));
        const d = await sql!.query("SELECT count(*) FROM flows_raw");
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
