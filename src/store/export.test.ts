// Parquet export and retention on real data: a real IPFIX capture decoded by
// FlowDecoder goes into a StoreWriter (temporary DuckDB file); the export is
// read back with DuckDB's read_parquet(hive_partitioning) and compared with
// flows_raw; the disk budget is checked against DuckDB's own used size.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { BatchPool, type FlowBatch } from "../collector/batch.js";
import { FlowDecoder } from "../collector/decoder.js";
import { parseIp } from "../collector/ip.js";
import { CollectorStats } from "../collector/stats.js";
import { RecordSink } from "../collector/types.js";
import { readUnitDatagrams, unit } from "../../test/helpers/captures.js";
import { SqlService } from "../query/sql/index.js";
import { defaultStoreConfig, validateStoreConfig, type ExportConfig } from "./config.js";
import { EXPORT_STATE_FILE, ParquetExport, hourPath } from "./export.js";
import { Retention, runBudgetRetention, usedBytes } from "./retention.js";
import { StoreWriter } from "./writer.js";
import { FLOW_COLUMNS } from "../schema.js";
import type { DuckDBConnection } from "@duckdb/node-api";

const UNIT = "ipfixcol2__example_flows"; // 3979 IPFIX flows, IPv4 and IPv6
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const dir = mkdtempSync(join(tmpdir(), "nagare-export-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Decode the unit into `w`; `shiftMs` moves time_received (to place the rows in chosen hours). Returns rows. */
function feed(w: StoreWriter, shiftMs: (i: number) => number): number {
  let rows = 0;
  const stats = new CollectorStats();
  const decoder = new FlowDecoder({ stats });
  const sink = new RecordSink(
    (b: FlowBatch) => {
      for (let i = 0; i < b.length; i++)
        b.cols.time_received[i] = b.cols.time_received[i]! + shiftMs(rows + i);
      rows += b.length;
      w.consume(b);
    },
    () => {},
    512,
    () => {},
    new BatchPool(512, 2),
  );
  for (const d of readUnitDatagrams(unit(UNIT))) {
    decoder.decode(
      d.payload,
      { exporter: d.srcAddr, exporterIp: parseIp(d.srcAddr)!, receivedMs: d.timeMs },
      sink,
    );
  }
  sink.flush();
  return rows;
}

async function rows(conn: DuckDBConnection, sql: string): Promise<unknown[][]> {
  return (await conn.runAndReadAll(sql)).getRowsJS();
}

/** The export's clock in the first test: before the data, so start()'s own run writes nothing. */
const EARLY = (): number => 0;

function exportConfig(d: string): ExportConfig {
  return { ...defaultStoreConfig().export, enabled: true, dir: d, intervalMs: 3_600_000, delayMs: 60_000 };
}

/**
 * Every column of every row as one text line, sorted: flows_raw through
 * nagare_ip (the SQL API's address text) and the Parquet files as written.
 */
const line = (expr: (name: string, kind: string) => string): string =>
  `concat_ws('|', ${FLOW_COLUMNS.map((c) => `coalesce(${expr(c.name, c.kind)}::VARCHAR, 'NULL')`).join(", ")})`;
// String columns are stored NULL when empty and exported as "" (export.ts).
const RAW_AS_TEXT = `SELECT list_sort(list(${line((n, k) =>
  k === "ip"
    ? `nagare_ip(${n})`
    : k === "time"
      ? `epoch_ms(${n})`
      : k === "string"
        ? `coalesce(${n}, '')`
        : n,
)})) FROM flows_raw`;
const PARQUET_AS_TEXT = (glob: string): string =>
  `SELECT list_sort(list(${line((n, k) => (k === "time" ? `epoch_ms(${n})` : n))})) FROM read_parquet('${glob}', hive_partitioning = true)`;

test("export: closed hours to Hive-partitioned Parquet, equal to flows_raw, once across restarts, with the sandbox locked", async () => {
  const path = join(dir, "exp.duckdb");
  const out = join(dir, "lake");
  const w = new StoreWriter({ config: { path } });
  await w.start();
  // The capture's flows spread over three hours of a fixed day (a third each), far in the past.
  const base = Date.UTC(2026, 0, 15, 9);
  const orig = Number(readUnitDatagrams(unit(UNIT))[0]!.timeMs);
  const n = feed(w, (i) => base - orig + (i % 3) * HOUR + (i % 1000) * 1000);
  await w.flush();
  assert.ok(n > 3000);

  const exp = new ParquetExport({
    db: () => w.database,
    config: exportConfig(out),
    protect: [dir + "/data"],
    now: EARLY,
  });
  await exp.start();
  // The sandbox locks the instance after the export allowed its directory.
  const sql = new SqlService(() => w.database);
  await sql.start();

  // "now" inside the third hour: only the first two are closed.
  await exp.run(base + 2 * HOUR + 30 * 60_000);
  assert.equal(exp.stats.errors, 0);
  assert.equal(exp.stats.hoursWritten, 2);
  assert.ok(existsSync(join(out, "date=2026-01-15", "hour=09", "flows-20260115T09.parquet")));
  assert.ok(existsSync(join(out, "date=2026-01-15", "hour=10", "flows-20260115T10.parquet")));
  assert.ok(!existsSync(join(out, "date=2026-01-15", "hour=11")));
  // An hour closes delayMs after its end, not before.
  await exp.run(base + 3 * HOUR + 30_000);
  assert.equal(exp.stats.hoursWritten, 2);
  await exp.run(base + 3 * HOUR + 61_000);
  assert.equal(exp.stats.hoursWritten, 3);
  assert.equal(exp.stats.rowsWritten, n);

  // Read back through the sandbox itself (read_parquet is allowed in the export directory only).
  const c = await w.database.connect();
  const { MACROS } = await import("../query/sql/macros.js");
  for (const m of MACROS) await c.run(m);
  const glob = `${out}/**/*.parquet`;
  const [[raw]] = (await rows(c, RAW_AS_TEXT)) as [[string[]]];
  const [[lake]] = (await rows(c, PARQUET_AS_TEXT(glob))) as [[string[]]];
  assert.equal(raw.length, n);
  assert.deepEqual(lake, raw);
  // The unit has both families, so both address paths (IPv4 fast path, IPv6 via nagare_ip) were compared.
  const fam = await rows(
    c,
    `SELECT count(*) FILTER (WHERE contains(src_addr, ':')), count(*) FILTER (WHERE contains(src_addr, '.')) FROM read_parquet('${glob}')`,
  );
  assert.ok(Number(fam[0]![0]) > 0 && Number(fam[0]![1]) > 0, String(fam));
  // Partition columns come from the directory names and match each row's hour (UTC).
  const bad = await rows(
    c,
    `SELECT count(*) FROM read_parquet('${glob}', hive_partitioning = true)
     WHERE strftime(time_received, '%Y-%m-%d') <> date::VARCHAR OR hour(time_received) <> hour`,
  );
  assert.deepEqual(bad, [[0n]]);
  const types = await rows(
    c,
    `SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet('${glob}')) WHERE column_name IN ('src_addr', 'bytes', 'src_port', 'time_received') ORDER BY 1`,
  );
  assert.deepEqual(types, [
    ["bytes", "BIGINT"],
    ["src_addr", "VARCHAR"],
    ["src_port", "INTEGER"],
    ["time_received", "TIMESTAMP"],
  ]);
  // The user's SQL can read the export but write nowhere and read nothing outside it.
  const page = await sql.query(`SELECT count(*) AS n FROM read_parquet('${glob}')`);
  assert.deepEqual(page.rows, [[String(n)]]);
  await assert.rejects(sql.query(`COPY flows_raw TO '${out}/x.parquet'`), /refused/);
  const secret = join(dir, "secret.csv");
  writeFileSync(secret, "a,b\n1,2\n");
  await assert.rejects(sql.query(`SELECT * FROM read_csv('${secret}')`), /Permission|disabled/i);
  await assert.rejects(sql.query(`SELECT * FROM read_csv('${out}-other/x.csv')`), /Permission|disabled/i);

  // Restart: a leftover temp file is removed, no hour is written twice.
  const mtime = statSync(join(out, hourPath(base))).mtimeMs;
  const tmp = join(out, "date=2026-01-15", "hour=10", ".flows-20260115T10.parquet.tmp");
  writeFileSync(tmp, "partial");
  await exp.stop();
  c.closeSync();
  await sql.stop();
  await w.stop();
  const w2 = new StoreWriter({ config: { path } });
  await w2.start();
  const exp2 = new ParquetExport({ db: () => w2.database, config: exportConfig(out), now: EARLY });
  await exp2.start();
  assert.ok(!existsSync(tmp));
  await exp2.run(base + 5 * HOUR);
  assert.equal(exp2.stats.hoursWritten, 0);
  assert.equal(statSync(join(out, hourPath(base))).mtimeMs, mtime);
  // Even a file moved away (a lake compacting) is not written again: the state says it is done.
  rmSync(join(out, hourPath(base)));
  await exp2.run(base + 6 * HOUR);
  assert.equal(exp2.stats.hoursWritten, 0);
  assert.ok(existsSync(join(out, EXPORT_STATE_FILE)));

  // An hour after the recorded state but with its file present (crash after rename) is skipped, not rewritten;
  // a missing one is written.
  feed(w2, (i) => base - orig + 10 * HOUR + (i % 2) * HOUR);
  await w2.flush();
  await exp2.stop();
  const done = join(out, hourPath(base + 10 * HOUR));
  const exp3 = new ParquetExport({ db: () => w2.database, config: exportConfig(out), now: EARLY });
  await exp3.start();
  // Simulate the crash: the 10th-hour file exists, the state predates it.
  await exp3.run(base + 11 * HOUR + 61_000);
  assert.equal(exp3.stats.hoursWritten, 1);
  const m10 = statSync(done).mtimeMs;
  writeFileSync(join(out, EXPORT_STATE_FILE), JSON.stringify({ through: base + 10 * HOUR }));
  await exp3.stop();
  const exp4 = new ParquetExport({ db: () => w2.database, config: exportConfig(out), now: EARLY });
  await exp4.start();
  await exp4.run(base + 12 * HOUR + 61_000);
  assert.equal(exp4.stats.hoursWritten, 1); // hour 11 only
  assert.equal(statSync(done).mtimeMs, m10);
  const files = readdirSync(join(out, "date=2026-01-15"), { recursive: true }).filter((f) =>
    String(f).endsWith(".parquet"),
  );
  assert.equal(files.length, 4); // 10, 11, 19, 20 (09 was removed above)
  await exp4.stop();
  await w2.stop();
});

test("export: refuses a directory holding the data directory; config errors name the key", () => {
  assert.throws(
    () =>
      new ParquetExport({ db: () => null as never, config: exportConfig(dir), protect: [join(dir, "data")] }),
    /must not contain/,
  );
  assert.throws(() => validateStoreConfig({ export: { enabled: "yes" } }), /store\.export\.enabled/);
  assert.throws(() => validateStoreConfig({ export: { compression: "lz4" } }), /store\.export\.compression/);
  assert.throws(() => validateStoreConfig({ export: { dirr: "x" } }), /store\.export\.dirr: unknown key/);
  assert.throws(() => validateStoreConfig({ retention: { maxBytes: 1000 } }), /store\.retention\.maxBytes/);
  const v = validateStoreConfig({ export: { enabled: true, dir: "/x" }, retention: { maxBytes: 2 ** 30 } });
  assert.equal(v.export.dir, "/x");
  assert.equal(v.retention.maxBytes, 2 ** 30);
});

test("retention: disk budget deletes the oldest raw rows first and gets under the budget", async () => {
  const path = join(dir, "budget.duckdb");
  const w = new StoreWriter({ config: { path } });
  await w.start();
  const now = Date.now();
  const orig = Number(readUnitDatagrams(unit(UNIT))[0]!.timeMs);
  const fed = feed(w, () => now - HOUR - orig);
  await w.flush();
  // The same flows two hours later close the first copy's buckets into the rollups (raw is replaced below).
  feed(w, () => now + HOUR - orig);
  await w.flush();
  const c = w.connection;
  // DuckDB frees space by whole row groups (122880 rows): the real rows are copied, oldest
  // first (as ingest appends), 8 times for each of the 40 hours before, ~1.3M rows.
  await c.run(
    `CREATE TEMP TABLE base AS SELECT * FROM flows_raw WHERE time_received < epoch_ms(${now}::BIGINT)`,
  );
  await c.run("DELETE FROM flows_raw");
  for (let h = 40; h >= 1; h--) {
    await c.run(
      `INSERT INTO flows_raw SELECT base.* REPLACE (time_received - INTERVAL ${h - 1} HOUR AS time_received) FROM base, range(8)`,
    );
  }
  const total = fed * 8 * 40;
  await c.run("CHECKPOINT");
  const full = await usedBytes(c);
  const [[m1Before]] = (await rows(c, "SELECT sum(flows) FROM flows_1m")) as [[bigint]];
  const left = async (): Promise<[number, number, number]> => {
    const [[n, oldest, newest]] = (await rows(
      c,
      "SELECT count(*), epoch_ms(min(time_received)), epoch_ms(max(time_received)) FROM flows_raw",
    )) as [[bigint, bigint, bigint]];
    return [Number(n), Number(oldest), Number(newest)];
  };
  const [[minBase]] = (await rows(c, "SELECT epoch_ms(min(time_received)) FROM base")) as [[bigint]];

  // 1. A budget of 80 % of the data: one run gets under it, deleting the oldest rows only.
  const b1 = Math.floor(full * 0.8);
  const r = new Retention({ db: () => w.database, config: { ...w.config.retention, maxBytes: b1 } });
  await r.run(now);
  assert.equal(r.stats.errors, 0);
  assert.ok(r.stats.usedBytes <= b1, `${r.stats.usedBytes} > ${b1} (was ${full})`);
  assert.ok(r.stats.budgetDeletes > 0 && r.stats.budgetDeletes < total * 0.4, String(r.stats.budgetDeletes));
  let [n, oldest, newest] = await left();
  assert.equal(n + r.stats.budgetDeletes, total);
  // What went is the oldest: the newest hour is whole, the oldest left is past the first hours.
  assert.ok(oldest > Number(minBase) - 39 * HOUR);
  assert.ok(newest >= Number(minBase));
  // The rollups are untouched while raw rows remain.
  assert.deepEqual(await rows(c, "SELECT sum(flows) FROM flows_1m"), [[m1Before]]);
  await r.stop();

  // 2. A reader's open transaction keeps deleted row groups from being freed: the run
  // stops instead of deleting on and on; once the reader is done, the next run
  // reclaims that space and gets under the budget without deleting much more.
  const b2 = Math.floor(full * 0.5);
  const r2 = new Retention({ db: () => w.database, config: { ...w.config.retention, maxBytes: b2 } });
  const reader = await w.database.connect();
  await reader.run("BEGIN TRANSACTION");
  await reader.run("SELECT count(*) FROM flows_raw");
  await r2.run(now);
  const held = r2.stats.budgetDeletes;
  assert.ok(held > 0 && r2.stats.usedBytes > b2, `${held} deleted, ${r2.stats.usedBytes} used`);
  // At most two shares (overshoot + margin of what was left, each rounded up to a whole copy
  // of the capture: its rows share a few timestamps; the first checkpoint may free a little
  // before the held row groups stop it) plus a few touched rows — not round after round.
  const share = (r.stats.usedBytes - b2) / r.stats.usedBytes + 0.05;
  assert.ok(held <= n * Math.min(0.75, 2 * share) + 2 * fed * 8 + 5, `${held} of ${n} deleted while held`);
  await reader.run("COMMIT");
  reader.closeSync();
  await r2.run(now);
  assert.ok(r2.stats.usedBytes <= b2, `${r2.stats.usedBytes} > ${b2}`);
  [n, oldest, newest] = await left();
  // Half the space, so about half the rows less the file's fixed part (catalog, metadata, the
  // empty rollups: ~10 % of this small file): not the 90 % a second full delete would have taken.
  assert.ok(n > total * 0.3, `${n} of ${total} left`);
  assert.equal(n + r.stats.budgetDeletes + r2.stats.budgetDeletes, total);
  assert.ok(newest >= Number(minBase));
  await r2.stop();

  // Age: a run with "now" 8 days later empties flows_raw (7 days) and keeps the rollups.
  const age = new Retention({ db: () => w.database, config: w.config.retention });
  await age.run(now + 8 * DAY);
  assert.deepEqual(await rows(c, "SELECT count(*) FROM flows_raw"), [[0n]]);
  assert.deepEqual(await rows(c, "SELECT sum(flows) FROM flows_1h"), [[BigInt(fed)]]);
  await age.stop();

  // With raw empty, an impossible budget goes on to the rollups, flows_1m before flows_1h.
  const [[m0]] = (await rows(c, "SELECT count(*) FROM flows_1m")) as [[bigint]];
  const [[h0]] = (await rows(c, "SELECT count(*) FROM flows_1h")) as [[bigint]];
  const gone = await runBudgetRetention(c, 1);
  const [[m1]] = (await rows(c, "SELECT count(*) FROM flows_1m")) as [[bigint]];
  const [[h1]] = (await rows(c, "SELECT count(*) FROM flows_1h")) as [[bigint]];
  assert.ok(gone > 0 && m1 < m0);
  assert.ok(h1 === h0 || m1 === 0n, "flows_1h is trimmed only once flows_1m is empty");
  await w.stop();
});
