// Schema migrations on real data: a database really created at version 1
// (ip columns as 16-byte BLOBs, filled from a decoded capture the way the
// version-1 writer filled it) is opened by the current StoreWriter; every
// address must read back with the same text; migration 3 turns the wide
// rollups into the narrow append-only ones, which must agree with flows_raw
// and keep closing buckets.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import {
  DuckDBInstance,
  DuckDBTimestampMillisecondsValue,
  type DuckDBAppender,
  type DuckDBConnection,
} from "@duckdb/node-api";
import { BatchPool, type FlowBatch } from "../collector/batch.js";
import { FlowDecoder } from "../collector/decoder.js";
import { formatIp, parseIp } from "../collector/ip.js";
import { CollectorStats } from "../collector/stats.js";
import { RecordSink } from "../collector/types.js";
import { ipToBigInt } from "../query/filter/index.js";
import { MACROS } from "../query/sql/macros.js";
import { FLOW_COLUMNS } from "../schema.js";
import { readUnitDatagrams, unit } from "../../test/helpers/captures.js";
import { migrate, schemaVersion } from "./migrate.js";
import { MIGRATIONS, ROLLUPS, blobToIpSql, rollupMergeSql } from "./schema.js";
import { ROLLUP_STATE_TABLE, ROLLUP_TABLES, TOPK_K, TOPK_TABLES } from "./rollups.js";
import { assertRollupsAgree } from "../../test/helpers/rollups.js";
import { StoreWriter } from "./writer.js";

const UNIT = "ipfixcol2__example_flows"; // 3979 IPFIX flows, IPv4 and IPv6
const IP_COLS = FLOW_COLUMNS.filter((c) => c.kind === "ip").map((c) => c.name);
const dir = mkdtempSync(join(tmpdir(), "nagare-migrate-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Decode the unit; each batch is handed on synchronously (batches are not kept). */
function decodeUnit(onBatch: (b: FlowBatch) => void): void {
  const dec = new FlowDecoder({ stats: new CollectorStats() });
  const sink = new RecordSink(
    onBatch,
    () => {},
    512,
    () => {},
    new BatchPool(512, 2),
  );
  for (const d of readUnitDatagrams(unit(UNIT))) {
    const exporterIp = parseIp(d.srcAddr) ?? new Uint8Array(16);
    dec.decode(d.payload, { exporter: d.srcAddr, exporterIp, receivedMs: d.timeMs }, sink);
  }
  sink.flush();
}

/** What the version-1 writer did: one row at a time, ip columns as 16-byte BLOBs. */
function appendV1(ap: DuckDBAppender, b: FlowBatch): void {
  const cols = b.cols as unknown as Record<string, Float64Array | Uint8Array | Uint16Array | string[]>;
  for (let i = 0; i < b.length; i++) {
    for (const c of FLOW_COLUMNS) {
      const a = cols[c.name]!;
      switch (c.kind) {
        case "time":
          ap.appendTimestampMilliseconds(new DuckDBTimestampMillisecondsValue(BigInt(a[i] as number)));
          break;
        case "u8":
          ap.appendUTinyInt(a[i] as number);
          break;
        case "u16":
          ap.appendUSmallInt(a[i] as number);
          break;
        case "u32":
          ap.appendUInteger(a[i] as number);
          break;
        case "u64":
        case "mac":
          ap.appendDouble(a[i] as number);
          break;
        case "ip":
          ap.appendBlob((a as Uint8Array).slice(i * 16, i * 16 + 16));
          break;
        case "string":
          ap.appendVarchar(a[i] as string);
          break;
      }
    }
    ap.endRow();
  }
}

/** Every row's ip columns as text, "a|b|…", sorted (a multiset). */
async function ipTexts(conn: DuckDBConnection, table: string): Promise<string[]> {
  const sel = IP_COLS.map((c) => `nagare_ip(${c})`).join(" || '|' || ");
  return (await conn.runAndReadAll(`SELECT ${sel} FROM ${table}`))
    .getRowsJS()
    .map((r) => String(r[0]))
    .sort();
}

async function types(conn: DuckDBConnection, table: string): Promise<Map<string, string>> {
  const r = await conn.runAndReadAll(
    "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = $1 AND schema_name = 'main' AND database_name = current_database()",
    [table],
  );
  return new Map(r.getRowsJS().map((x) => [String(x[0]), String(x[1])]));
}

async function rowsText(conn: DuckDBConnection, sql: string): Promise<string[]> {
  return (await conn.runAndReadAll(sql)).getRowsJS().map((r) => r.map(String).join("|"));
}

/**
 * Every top-K list equals the K largest per-key sums of its source table's
 * bucket (ranked here in JS, ties by key), the bound the K-th of them (0
 * when the bucket has at most K keys), total and keys the bucket's; returns
 * the number of (bucket, metric) lists checked.
 */
async function assertTopKAgree(conn: DuckDBConnection): Promise<number> {
  let lists = 0;
  for (const t of TOPK_TABLES) {
    const sums = (
      await conn.runAndReadAll(
        `SELECT epoch_ms(bucket), ${t.key}, sum(bytes), sum(packets), sum(flows) FROM ${t.source} GROUP BY ALL`,
      )
    ).getRowsJS() as [number, bigint, bigint, bigint, bigint][];
    const byBucket = new Map<number, [bigint, bigint[]][]>();
    for (const [b, k, ...v] of sums) byBucket.set(Number(b), [...(byBucket.get(Number(b)) ?? []), [k, v]]);
    for (const [mi, metric] of ["bytes", "packets", "flows"].entries()) {
      for (const [bucket, keys] of byBucket) {
        const ranked = [...keys].sort((x, y) =>
          x[1][mi]! !== y[1][mi]! ? (x[1][mi]! > y[1][mi]! ? -1 : 1) : x[0] < y[0] ? -1 : 1,
        );
        const want = ranked.slice(0, TOPK_K).map(([k, v]) => `${k}=${v[mi]}`);
        const got = (
          await conn.runAndReadAll(
            `SELECT ${t.key}, value FROM ${t.top} WHERE bucket = epoch_ms(${bucket}::BIGINT) AND metric = '${metric}' ORDER BY value DESC, ${t.key}`,
          )
        )
          .getRowsJS()
          .map(([k, v]) => `${String(k)}=${String(v)}`);
        assert.deepEqual(got, want, `${t.top} ${metric} ${new Date(bucket).toISOString()}`);
        const bound = ranked.length > TOPK_K ? ranked[TOPK_K - 1]![1][mi]! : 0n;
        const total = ranked.reduce((a, [, v]) => a + v[mi]!, 0n);
        assert.deepEqual(
          await rowsText(
            conn,
            `SELECT bound, total, keys FROM ${t.bound} WHERE bucket = epoch_ms(${bucket}::BIGINT) AND metric = '${metric}'`,
          ),
          [`${bound}|${total}|${ranked.length}`],
        );
        lists++;
      }
    }
    // No list for a bucket the table does not hold.
    assert.deepEqual(await rowsText(conn, `SELECT count(DISTINCT bucket) FROM ${t.bound}`), [
      String(byBucket.size),
    ]);
  }
  return lists;
}

test("blobToIpSql: a 16-byte BLOB becomes the big-endian UHUGEINT, edge values included", async () => {
  const inst = await DuckDBInstance.create(":memory:");
  const c = await inst.connect();
  for (const t of [
    "::",
    "::1",
    "0.0.0.0",
    "10.1.2.3",
    "255.255.255.255",
    "2001:db8::1",
    "fe80::1",
    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
  ]) {
    const b = parseIp(t)!;
    const hex = Buffer.from(b).toString("hex");
    const r = await c.runAndReadAll(`SELECT ${blobToIpSql(`from_hex('${hex}')`)}`);
    assert.equal(r.getRowsJS()[0]![0], BigInt(`0x${hex}`), t);
    assert.equal(r.getRowsJS()[0]![0], ipToBigInt(b), t);
  }
  c.closeSync();
  inst.closeSync();
});

test("migrations step by step: empty → 1 (BLOB) → 2 (UHUGEINT)", async () => {
  const inst = await DuckDBInstance.create(join(dir, "steps.duckdb"));
  const c = await inst.connect();
  assert.deepEqual(await migrate(c, 1), [1]);
  assert.equal(await schemaVersion(c), 1);
  for (const t of ["flows_raw", "flows_stage"])
    for (const ip of IP_COLS) assert.equal((await types(c, t)).get(ip), "BLOB", `${t}.${ip} at v1`);
  assert.deepEqual(await migrate(c, 2), [2]);
  for (const t of ["flows_raw", "flows_stage"])
    for (const ip of IP_COLS) assert.equal((await types(c, t)).get(ip), "UHUGEINT", `${t}.${ip} at v2`);
  for (const r of ROLLUPS) assert.equal((await types(c, r.table)).get("exporter_address"), "UHUGEINT");
  assert.ok((await types(c, "flows_1m")).has("bytes_scaled"), "v2: wide flows_1m");
  assert.deepEqual(await migrate(c, 3), [3]);
  assert.deepEqual(await migrate(c, 4), [4]);
  for (const t of TOPK_TABLES) {
    assert.deepEqual([...(await types(c, t.top)).keys()], ["bucket", "metric", t.key, "value"], t.top);
    assert.deepEqual([...(await types(c, t.bound)).keys()], ["bucket", "metric", "bound", "total", "keys"]);
  }
  await migrate(c);
  assert.equal(await schemaVersion(c), MIGRATIONS.at(-1)!.version);
  for (const t of ROLLUP_TABLES) {
    const ty = await types(c, t.table);
    assert.deepEqual([...ty.keys()], ["bucket", ...t.set.dims, "bytes", "packets", "flows"], t.table);
  }
  assert.deepEqual(await rowsText(c, `SELECT count(*) FROM ${ROLLUP_STATE_TABLE}`), ["0"]);
  assert.deepEqual(await migrate(c), []);
  c.closeSync();
  inst.closeSync();
});

test("a version-1 database with BLOB rows, opened by the current writer: values, texts, rollups preserved", async () => {
  const path = join(dir, "v1.duckdb");
  const inst = await DuckDBInstance.create(path);
  const c = await inst.connect();
  await migrate(c, 1);
  for (const m of MACROS) await c.run(m);
  const raw = await c.createAppender("flows_raw");
  const stage = await c.createAppender("flows_stage");
  // The expected texts come from the batches (formatIp), not from SQL.
  const expected: string[] = [];
  let batches = 0;
  let stageRows = 0;
  decodeUnit((b) => {
    // Every 5th batch is left in the on-disk flows_stage, as an older version could have.
    const toStage = batches++ % 5 === 4;
    appendV1(toStage ? stage : raw, b);
    if (toStage) stageRows += b.length;
    for (let i = 0; i < b.length; i++)
      expected.push(
        IP_COLS.map((col) => formatIp((b.cols as unknown as Record<string, Uint8Array>)[col]!, i * 16)).join(
          "|",
        ),
      );
  });
  raw.closeSync();
  stage.closeSync();
  assert.equal(expected.length, 3979);
  assert.ok(stageRows > 0 && stageRows < expected.length);
  for (const r of ROLLUPS) await c.run(rollupMergeSql(r, "flows_raw"));
  // At version 1 the BLOB texts are the batches' texts (nagare_ip reads both layouts).
  const v1Texts = [...(await ipTexts(c, "flows_raw")), ...(await ipTexts(c, "flows_stage"))].sort();
  assert.deepEqual(v1Texts, [...expected].sort());
  const v1Exporters = await rowsText(
    c,
    "SELECT DISTINCT nagare_ip(exporter_address) FROM flows_1m ORDER BY 1",
  );
  assert.equal((await types(c, "flows_1m")).get("exporter_address"), "BLOB");
  c.closeSync();
  inst.closeSync();

  const w = new StoreWriter({ config: { path, intervalMs: 60_000 } });
  await w.start();
  const wc = w.connection;
  for (const m of MACROS) await wc.run(m);
  assert.equal(await schemaVersion(wc), MIGRATIONS.at(-1)!.version);
  for (const t of ["flows_raw", "flows_stage", ...ROLLUP_TABLES.map((r) => r.table)]) {
    const ty = await types(wc, t);
    for (const ip of IP_COLS) if (ty.has(ip)) assert.equal(ty.get(ip), "UHUGEINT", `${t}.${ip}`);
  }
  // start() merged the old stage rows; every address reads back with the same text.
  assert.deepEqual(await rowsText(wc, "SELECT count(*) FROM flows_stage"), ["0"]);
  assert.deepEqual(await ipTexts(wc, "flows_raw"), [...expected].sort());
  // The minutes the old flows_1m held before the newest one are in the new flows_1m, same exporters.
  assert.deepEqual(
    await rowsText(wc, "SELECT DISTINCT nagare_ip(exporter_address) FROM flows_1m ORDER BY 1"),
    v1Exporters,
  );
  // Migrated rollups + the rebuilt pending rows (and the old stage's rows, late for closed buckets) agree with raw.
  await assertRollupsAgree(wc, "after migration");
  const pk = await rowsText(
    wc,
    "SELECT table_name FROM duckdb_constraints() WHERE constraint_type = 'PRIMARY KEY' AND table_name LIKE 'flows_1%' ORDER BY 1",
  );
  assert.deepEqual(pk, [], "no primary key (no index) on the new rollups");

  // The new writer keeps ingesting: same unit again, a day later (closes every old bucket).
  decodeUnit((b) => {
    for (let i = 0; i < b.length; i++) b.cols.time_received[i] = b.cols.time_received[i]! + 86_400_000;
    w.consume(b);
  });
  await w.flush();
  assert.deepEqual(await ipTexts(wc, "flows_raw"), [...expected, ...expected].sort());
  // Migration 5: string columns nullable; the new rows store "" as NULL, the old ones kept "".
  assert.deepEqual(
    await rowsText(
      wc,
      "SELECT DISTINCT is_nullable FROM duckdb_columns() WHERE table_name = 'flows_raw' AND column_name IN ('as_path', 'bgp_communities')",
    ),
    ["true"],
  );
  assert.deepEqual(
    await rowsText(wc, "SELECT count(*) FILTER (WHERE as_path IS NULL) = count(*) / 2 FROM flows_raw"),
    ["true"],
  );
  const checks = await assertRollupsAgree(wc, "after more ingest");
  assert.ok((await assertTopKAgree(wc)) > 0, "the closed day has its top-K lists");
  assert.ok(
    checks.find((x) => x.table === "flows_1h")!.rollupRows > 0,
    "the old hours are closed into flows_1h",
  );
  await w.stop();
});

test("a version-3 database with closed days: migration 4 builds flows_1s and the top-K lists", async () => {
  const path = join(dir, "v3.duckdb");
  // The unit three times, a day apart: two days close in dst_addr_1d.
  const w = new StoreWriter({ config: { path, intervalMs: 60_000 } });
  await w.start();
  for (let day = 0; day < 3; day++)
    decodeUnit((b) => {
      for (let i = 0; i < b.length; i++)
        b.cols.time_received[i] = b.cols.time_received[i]! + day * 86_400_000 + (i % 7) * 3_600_000;
      w.consume(b);
    });
  await w.flush();
  await w.stop();
  // Back to version 3: no lists, version 4 not recorded.
  const inst = await DuckDBInstance.create(path);
  const c = await inst.connect();
  for (const t of TOPK_TABLES) {
    await c.run(`DROP TABLE ${t.top}`);
    await c.run(`DROP TABLE ${t.bound}`);
  }
  // flows_1s came with migration 4 for a database already at version 3.
  await c.run("DROP TABLE flows_1s");
  await c.run(`DELETE FROM ${ROLLUP_STATE_TABLE} WHERE table_name = 'flows_1s'`);
  await c.run("DELETE FROM nagare_schema_version WHERE version >= 4");
  assert.equal(await schemaVersion(c), 3);
  const days = await rowsText(c, `SELECT count(DISTINCT bucket) FROM ${TOPK_TABLES[0]!.source}`);
  assert.ok(Number(days[0]) >= 2, `closed days ${days[0]}`);
  assert.ok((await migrate(c)).includes(4));
  assert.equal(await assertTopKAgree(c), Number(days[0]) * 3);
  const checks = await assertRollupsAgree(c, "after migration 4");
  assert.ok(checks.find((x) => x.table === "flows_1s")!.rollupRows > 0, "flows_1s filled from flows_raw");
  c.closeSync();
  inst.closeSync();
});
