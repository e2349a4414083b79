// The Parquet lake the Trino and Presto engine tests query (test/trino-engine.test.ts,
// test/presto-lake.ts): a capture decoded into a store, its hours exported to
// Parquet (src/store/export.ts, Hive layout date=/hour=), and the comparisons
// both make between the remote engine and Nagare's own DuckDB answers. What
// differs per server (the lake's location scheme, X-Trino-* / X-Presto-*
// headers, CREATE SCHEMA) stays in the test files.
import assert from "node:assert/strict";
import { join } from "node:path";
import { FlowQueryRunner } from "../../src/api/query.js";
import { App } from "../../src/app.js";
import { validateConfig } from "../../src/config/schema.js";
import { silentLogger } from "../../src/log.js";
import type { FlowQuery } from "../../src/query/planner/index.js";
import { SqlService } from "../../src/query/sql/index.js";
import { lakeTableDdl, type LakeTable } from "../../src/query/engine/trino-sql.js";
import type { TrinoQueryEngine } from "../../src/query/engine/trino.js";
import { defaultStoreConfig } from "../../src/store/config.js";
import { ParquetExport } from "../../src/store/export.js";
import { StoreWriter } from "../../src/store/writer.js";
import { decodeUnit } from "./captures.js";

const UNIT = "ipfixcol2__example_flows"; // IPFIX, IPv4 and IPv6
export const HOUR = 3_600_000;

/** The explorer's queries compared across engines, over the lake's three hours from `b`. */
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
export function comparable(a: { status: number; body: unknown }): unknown {
  assert.equal(a.status, 200, JSON.stringify(a.body));
  const { table: _t, engine: _e, ...rest } = a.body as Record<string, unknown>;
  return rest;
}

/** The store the lake is exported from, with Nagare's own SQL and flow-query engines on it. */
export interface LocalLake {
  writer: StoreWriter;
  sql: SqlService;
  duck: FlowQueryRunner;
  /** Start of the lake's first hour (epoch ms). */
  base: number;
  /** The Parquet export's directory (what the remote table's location names). */
  lakeDir: string;
  close(): Promise<void>;
}

/**
 * The capture's flows moved into three whole hours ending two hours ago
 * (inside every retention), stored in `dir`/db.duckdb and exported to
 * `dir`/lake: three hour partitions.
 */
export async function buildLocalLake(dir: string): Promise<LocalLake> {
  const lakeDir = join(dir, "lake");
  const writer = new StoreWriter({ config: { ...defaultStoreConfig(), path: join(dir, "db.duckdb") } });
  await writer.start();
  const base = Math.floor(Date.now() / HOUR) * HOUR - 5 * HOUR;
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
  const sql = new SqlService(() => writer.database);
  await sql.start();
  const duck = new FlowQueryRunner(() => writer.database, 60_000, defaultStoreConfig().retention);
  return {
    writer,
    sql,
    duck,
    base,
    lakeDir,
    async close() {
      duck.close();
      await sql.stop();
      await writer.stop();
    },
  };
}

/** A plain SQL query on the remote engine (TrinoClient.query, or a test's own Presto client). */
export type RemoteQuery = (
  sql: string,
) => Promise<{ columns: { name: string; type: string }[]; rows: unknown[][] }>;

/**
 * The old pipeline's TopN in plain SQL: the 10 destinations by bytes of the
 * remote table `T` (destination address column `dst`, text) equal Nagare's
 * SQL on the store.
 */
export async function assertTopDestinations(
  q: RemoteQuery,
  T: string,
  dst: string,
  sql: SqlService,
): Promise<void> {
  const top = await q(
    `SELECT ${dst}, sum(bytes) AS b FROM ${T} GROUP BY ${dst} ORDER BY b DESC, ${dst} LIMIT 10`,
  );
  const mine = await sql.query(
    "SELECT nagare_ip(dst_addr) AS d, sum(bytes) AS b FROM flows_raw GROUP BY d ORDER BY b DESC, d LIMIT 10",
  );
  assert.equal(top.rows.length, 10);
  assert.deepEqual(
    top.rows.map((r) => r.map(String)),
    mine.rows.map((r) => r.map(String)),
  );
}

/**
 * The old pipeline's queries in plain SQL on the remote lake table `T`:
 * select * limit 10 has the Hive columns, and the TopN of destinations
 * equals Nagare's SQL on the store.
 */
export async function assertOldPipeline(q: RemoteQuery, T: string, sql: SqlService): Promise<void> {
  const star = await q(`SELECT * FROM ${T} LIMIT 10`);
  assert.equal(star.rows.length, 10);
  assert.ok(star.columns.some((c) => c.name === "src_addr" && c.type === "varchar"));
  assert.ok(star.columns.some((c) => c.name === "date") && star.columns.some((c) => c.name === "hour"));
  await assertTopDestinations(q, T, "dst_addr", sql);
}

/** One explorer query answered by the remote engine and by DuckDB: equal, and not empty. */
export async function assertExplorerEqual(
  duck: FlowQueryRunner,
  remote: TrinoQueryEngine,
  fq: FlowQuery,
): Promise<void> {
  const d = await duck.run(fq);
  const t = await remote.run(fq);
  assert.equal((t.body as { engine?: string }).engine, "trino", JSON.stringify(t.body));
  const dc = comparable(d) as { rows: unknown[] };
  assert.ok(dc.rows.length > 0, "the query must return rows to compare");
  assert.deepEqual(comparable(t), dc);
}

/** A JSON call to the App's HTTP API with its token. */
export function appApi(
  app: App,
): (
  method: string,
  path: string,
  body?: unknown,
) => Promise<{ status: number; json: Record<string, unknown> }> {
  return async (method, path, body) => {
    const r = await fetch(`http://${app.http.address}${path}`, {
      method,
      headers: { Authorization: `Bearer ${app.token!.token}`, "Content-Type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: r.status, json: (await r.json()) as Record<string, unknown> };
  };
}

/**
 * The first explorer query through the App's POST /api/v1/flows/query (an
 * App whose own store is empty, so its rows can only come from the remote
 * engine): equal to DuckDB's answer on the lake's store.
 */
export async function assertHttpExplorer(app: App, duck: FlowQueryRunner, base: number): Promise<void> {
  const fq = EXPLORER_QUERIES[0]![1](base);
  const viaHttp = await appApi(app)("POST", "/api/v1/flows/query", fq);
  assert.equal(viaHttp.status, 200, JSON.stringify(viaHttp.json));
  assert.equal(viaHttp.json.engine, "trino");
  assert.deepEqual(comparable({ status: 200, body: viaHttp.json }), comparable(await duck.run(fq)));
}

/** The remote server answers GET /v1/info with 200; set but unreachable fails loudly, naming `label`. */
export async function assertServerUp(url: string, label: string): Promise<void> {
  const info = await fetch(`${url}/v1/info`).catch((err: Error) => {
    throw new Error(`${label} is unreachable: ${err.message}`);
  });
  assert.equal(info.status, 200, `${label} answered ${info.status}`);
}

/**
 * The exported lake as an external table of the remote Hive catalog:
 * schema (`schemaClause` appended to CREATE SCHEMA), the table over
 * `location` (lakeTableDdl), its hour partitions found by
 * sync_partition_metadata.
 */
export async function registerLake(
  q: RemoteQuery,
  lake: LakeTable,
  location: string,
  schemaClause = "",
): Promise<void> {
  await q(`CREATE SCHEMA IF NOT EXISTS ${lake.catalog}.${lake.schema}${schemaClause}`);
  await q(lakeTableDdl(lake, location));
  await q(`CALL ${lake.catalog}.system.sync_partition_metadata('${lake.schema}', '${lake.table}', 'ADD')`);
}

/** Drop what registerLake made (errors ignored: an after() hook's cleanup). */
export async function dropLake(q: RemoteQuery, lake: LakeTable): Promise<void> {
  await q(`DROP TABLE IF EXISTS ${lake.catalog}.${lake.schema}.${lake.table}`).catch(() => undefined);
  await q(`DROP SCHEMA IF EXISTS ${lake.catalog}.${lake.schema}`).catch(() => undefined);
}

/**
 * A whole App (ephemeral ports, its own empty store) whose query engine is
 * the remote server: `trino` is the user's query.engine.trino section.
 */
export async function startEngineApp(dataDir: string, trino: Record<string, unknown>): Promise<App> {
  const config = validateConfig({
    dataDir,
    collector: { listen: ["127.0.0.1:0"], sflowListen: ["127.0.0.1:0"] },
    http: { listen: "127.0.0.1:0" },
    demo: { enabled: false },
    query: { engine: { kind: "trino", trino } },
  });
  const app = new App({ config, log: silentLogger });
  await app.start();
  return app;
}
