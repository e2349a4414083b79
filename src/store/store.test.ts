// StoreWriter on real data: a real capture unit decoded by FlowDecoder goes
// through the pipeline's batch path into a temporary DuckDB file.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import type { FlowBatch } from "../collector/batch.js";
import { formatIp } from "../collector/ip.js";
import { decodeUnit as decodeCaptureUnit } from "../../test/helpers/captures.js";
import { defaultStoreConfig, validateStoreConfig } from "./config.js";
import { migrate, schemaVersion } from "./migrate.js";
import { MIGRATIONS } from "./schema.js";
import { ROLLUP_STATE_TABLE, ROLLUP_TABLES, TOPK_TABLES } from "./rollups.js";
import { assertRollupsAgree } from "../../test/helpers/rollups.js";
import { FLOW_COLUMNS } from "../schema.js";
import { APPEND_FLUSH_ROWS, StoreWriter, commitPeriodMs } from "./writer.js";
import { LIVE_VIEW, RETIRE_AFTER_MS } from "./live.js";
import { DuckDBInstance, type DuckDBConnection } from "@duckdb/node-api";
import { ConfigError } from "../config/schema.js";

const UNIT = "ipfixcol2__example_flows"; // 3979 IPFIX flows, IPv4 and IPv6
const DAY = 86_400_000;
const dir = mkdtempSync(join(tmpdir(), "nagare-store-"));
after(() => rmSync(dir, { recursive: true, force: true }));

interface Expected {
  rows: number;
  bytes: number;
  packets: number;
  scaledBytes: number;
  /** "src|dst" of every row, formatted from the batch. */
  addrs: string[];
  minStart: number;
  maxEnd: number;
  maxRate: number;
}

/**
 * Decode the unit through one FlowDecoder with pooled batches (as the
 * collector does) and hand each batch to `onBatch`; `mutate` may edit a batch
 * before it is handed on. Returns sums taken from the batches themselves.
 */
function decodeUnit(
  onBatch: (b: FlowBatch) => void,
  mutate?: (b: FlowBatch) => void,
  capacity = 512,
  unitName = UNIT,
): Expected {
  const exp: Expected = {
    rows: 0,
    bytes: 0,
    packets: 0,
    scaledBytes: 0,
    addrs: [],
    minStart: Infinity,
    maxEnd: -Infinity,
    maxRate: 0,
  };
  // As the collector wires it: sFlow datagrams handed to the sFlow decoder.
  decodeCaptureUnit(
    unitName,
    (b) => {
      mutate?.(b);
      for (let i = 0; i < b.length; i++) {
        exp.bytes += b.cols.bytes[i]!;
        exp.packets += b.cols.packets[i]!;
        exp.scaledBytes += b.cols.bytes[i]! * Math.max(b.cols.sampling_rate[i]!, 1);
        exp.minStart = Math.min(exp.minStart, b.cols.time_flow_start[i]!);
        exp.maxEnd = Math.max(exp.maxEnd, b.cols.time_flow_end[i]!);
        exp.maxRate = Math.max(exp.maxRate, b.cols.sampling_rate[i]!);
        exp.addrs.push(`${formatIp(b.cols.src_addr, i * 16)}|${formatIp(b.cols.dst_addr, i * 16)}`);
      }
      exp.rows += b.length;
      onBatch(b);
    },
    0,
    undefined,
    capacity,
  );
  return exp;
}

async function one(conn: DuckDBConnection, sql: string): Promise<unknown[]> {
  return (await conn.runAndReadAll(sql)).getRowsJS()[0] ?? [];
}

/** A batch mutator moving every row's receive time `days` into the past. */
const shift = (days: number) => (b: FlowBatch) => {
  for (let i = 0; i < b.length; i++) b.cols.time_received[i] = b.cols.time_received[i]! - days * DAY;
};

/** Sums of one rollup table (sampling-corrected). */
async function rollupSums(conn: DuckDBConnection, table: string): Promise<unknown[]> {
  return one(conn, `SELECT sum(bytes), sum(packets), sum(flows) FROM ${table}`);
}

test("real unit into a file DB: counts, sums, IP round-trip, rollups, reopen", async () => {
  const path = join(dir, "a", "flows.duckdb"); // parent directory created by start()
  const w = new StoreWriter({ config: { path, intervalMs: 1000 } });
  await w.start();
  const exp = decodeUnit((b) => w.consume(b));
  assert.equal(exp.rows, 3979);
  await w.flush();
  const c = w.connection;
  assert.deepEqual(await one(c, "SELECT count(*), sum(bytes), sum(packets) FROM flows_raw"), [
    BigInt(exp.rows),
    BigInt(exp.bytes),
    BigInt(exp.packets),
  ]);
  assert.deepEqual(await one(c, "SELECT count(*) FROM flows_stage"), [0n]);
  assert.deepEqual(
    await one(c, "SELECT epoch_ms(min(time_flow_start)), epoch_ms(max(time_flow_end)) FROM flows_raw"),
    [BigInt(exp.minStart), BigInt(exp.maxEnd)],
  );
  // IPs round-trip: the UHUGEINT values, written back as 16 big-endian bytes and formatted by
  // formatIp, give the batch's addresses (order-insensitive).
  const bytesOf = (v: unknown): Uint8Array => {
    assert.equal(typeof v, "bigint");
    const b = new Uint8Array(16);
    new DataView(b.buffer).setBigUint64(0, (v as bigint) >> 64n);
    new DataView(b.buffer).setBigUint64(8, (v as bigint) & 0xffffffffffffffffn);
    return b;
  };
  const back = (await c.runAndReadAll("SELECT src_addr, dst_addr FROM flows_raw")).getRowsJS().map((r) => {
    return `${formatIp(bytesOf(r[0]), 0)}|${formatIp(bytesOf(r[1]), 0)}`;
  });
  assert.deepEqual(back.sort(), [...exp.addrs].sort());
  assert.ok(
    exp.addrs.some((a) => a.includes(":")),
    "unit holds IPv6 flows",
  );
  assert.ok(
    exp.addrs.some((a) => /^\d+\.\d+\.\d+\.\d+\|/.test(a)),
    "unit holds IPv4 flows",
  );
  // Nothing is closed yet (no newer row): the rollups agree with raw through the watermark rule.
  await assertRollupsAgree(c);
  await w.stop();

  // Reopen: data still there, migration not re-applied.
  const w2 = new StoreWriter({ config: { path } });
  await w2.start();
  assert.deepEqual(await one(w2.connection, "SELECT count(*), sum(bytes) FROM flows_raw"), [
    BigInt(exp.rows),
    BigInt(exp.bytes),
  ]);
  assert.deepEqual(await one(w2.connection, "SELECT count(*) FROM nagare_schema_version"), [
    BigInt(MIGRATIONS.length),
  ]);
  await w2.stop();
});

test("rollups: buckets close once a newer row is committed; many micro-batches, late rows, restart", async () => {
  const path = join(dir, "inc.duckdb");
  const w = new StoreWriter({ config: { path } });
  await w.start();
  let batches = 0;
  // The unit two days ago, flushed after every other batch: many micro-batches into the same buckets.
  const old = decodeUnit(
    (b) => {
      w.consume(b);
      if (++batches % 2 === 0) void w.flush();
    },
    shift(2),
    256,
  );
  await w.flush();
  assert.ok(w.stagesPublished >= 2, `stages published ${w.stagesPublished}`);
  // Nothing newer yet: nothing closed, every rollup still empty.
  for (const t of ROLLUP_TABLES)
    assert.deepEqual(await one(w.connection, `SELECT count(*) FROM ${t.table}`), [0n]);
  // The same flows now: every bucket of two days ago closes, in every table.
  const now = decodeUnit((b) => w.consume(b));
  await w.flush();
  const c = w.connection;
  const checks = await assertRollupsAgree(c, "after close");
  for (const x of checks) assert.ok(x.rollupRows > 0, `${x.table} holds the closed buckets`);
  const want = [BigInt(old.scaledBytes), BigInt(old.packets), BigInt(old.rows)];
  for (const t of ROLLUP_TABLES) assert.deepEqual(await rollupSums(c, t.table), want, t.table);
  // Late rows: the two-day-old flows once more, after their buckets closed.
  decodeUnit((b) => w.consume(b), shift(2));
  await w.flush();
  await assertRollupsAgree(c, "after late rows");
  for (const t of ROLLUP_TABLES)
    assert.deepEqual(
      await rollupSums(c, t.table),
      want.map((v) => 2n * v),
      `${t.table} with late rows`,
    );
  await w.stop();
  // Restart: the open buckets' pending rows are rebuilt from flows_raw; a newer row closes them.
  const w2 = new StoreWriter({ config: { path } });
  await w2.start();
  decodeUnit(
    (b) => w2.consume(b),
    (b) => {
      for (let i = 0; i < b.length; i++) b.cols.time_received[i] = b.cols.time_received[i]! + DAY;
    },
  );
  await w2.flush();
  const after = await assertRollupsAgree(w2.connection, "after restart");
  // The "now" copy is closed too now, in every table whose bucket ended (the 1-day ones may not have).
  const oneHour = after.find((x) => x.table === "flows_1h")!;
  assert.ok(oneHour.closedUntil! > Math.max(...[now.maxEnd]), "flows_1h closed past the second copy");
  assert.deepEqual(await rollupSums(w2.connection, "flows_1m"), [
    BigInt(3 * old.scaledBytes),
    BigInt(3 * old.packets),
    BigInt(3 * old.rows),
  ]);
  await w2.stop();
});

test("flush timer makes rows queryable without an explicit flush", async () => {
  const w = new StoreWriter({ config: { path: join(dir, "timer.duckdb"), intervalMs: 50 } });
  await w.start();
  const exp = decodeUnit((b) => w.consume(b));
  const deadline = Date.now() + 5000;
  while (w.rowsCommitted < exp.rows && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(await one(w.connection, "SELECT count(*) FROM flows_raw"), [BigInt(exp.rows)]);
  await w.stop();
});

test("retention deletes old rows only, per table", async () => {
  const w = new StoreWriter({ config: { path: join(dir, "ret.duckdb") } });
  await w.start();
  const recent = decodeUnit((b) => w.consume(b));
  // The same real flows again, received 10 days and 100 days earlier (their buckets close: recent is newer).
  decodeUnit((b) => w.consume(b), shift(10));
  decodeUnit((b) => w.consume(b), shift(100));
  await w.flush();
  const c = w.connection;
  const [maxMs] = (await one(c, "SELECT epoch_ms(max(time_received)) FROM flows_raw")) as [bigint];
  await w.runRetention(Number(maxMs) + 3_600_000);
  assert.deepEqual(await one(c, "SELECT count(*), sum(bytes) FROM flows_raw"), [
    BigInt(recent.rows),
    BigInt(recent.bytes),
  ]);
  // 1m keeps 90 days: the 10-day-old copy (the recent one is not closed); 1h and 1d keep both old copies.
  assert.deepEqual(await one(c, "SELECT sum(bytes) FROM flows_1m"), [BigInt(recent.scaledBytes)]);
  assert.deepEqual(await one(c, "SELECT sum(bytes) FROM flows_1h"), [BigInt(recent.scaledBytes * 2)]);
  assert.deepEqual(await one(c, "SELECT sum(bytes) FROM dst_addr_1d"), [BigInt(recent.scaledBytes * 2)]);
  await w.runRetention(Number(maxMs) + 800 * DAY);
  // 1h keeps 730 days, 1d 1825: only the 1-day tables still hold the copies.
  assert.deepEqual(await one(c, "SELECT count(*) FROM flows_1h"), [0n]);
  assert.deepEqual(await one(c, "SELECT sum(bytes) FROM flows_1d"), [BigInt(recent.scaledBytes * 2)]);
  await w.stop();
});

test("migration from empty works and is idempotent", async () => {
  const inst = await DuckDBInstance.create(join(dir, "mig.duckdb"));
  const c = await inst.connect();
  assert.deepEqual(
    await migrate(c),
    MIGRATIONS.map((m) => m.version),
  );
  assert.equal(await schemaVersion(c), MIGRATIONS.at(-1)!.version);
  assert.deepEqual(await migrate(c), []);
  const tables = (await c.runAndReadAll("SELECT table_name FROM duckdb_tables() ORDER BY 1"))
    .getRowsJS()
    .flat();
  assert.deepEqual(
    tables,
    [
      ...ROLLUP_TABLES.map((t) => t.table),
      ...TOPK_TABLES.flatMap((t) => [t.top, t.bound]),
      "flows_raw",
      "flows_stage",
      ROLLUP_STATE_TABLE,
      "nagare_schema_version",
    ].sort(),
  );
  // Raw columns come from the schema table, typed by kind.
  const cols = (
    await c.runAndReadAll(
      "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 'flows_raw'",
    )
  ).getRowsJS();
  // Every schema column, and seq: the stage a row was copied from (migration 6, src/store/live.ts).
  assert.equal(cols.length, FLOW_COLUMNS.length + 1);
  assert.deepEqual(cols.find((r) => r[0] === "seq")?.[1], "BIGINT");
  assert.deepEqual(cols.find((r) => r[0] === "src_addr")?.[1], "UHUGEINT");
  assert.deepEqual(cols.find((r) => r[0] === "time_received")?.[1], "TIMESTAMP_MS");
  c.closeSync();
  inst.closeSync();
});

test("config validation", () => {
  assert.deepEqual(validateStoreConfig(undefined), defaultStoreConfig());
  assert.equal(validateStoreConfig({ retention: { rawDays: 3 } }).retention.rawDays, 3);
  assert.throws(
    () => validateStoreConfig({ intervalMs: 5000 }),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.equal(e.key, "store.intervalMs");
      return true;
    },
  );
  assert.throws(
    () => validateStoreConfig({ retention: { rawdays: 3 } }),
    /store\.retention\.rawdays: unknown key/,
  );
});

test("the two append paths (DataChunks, row-by-row Appender) store identical rows", async () => {
  const paths = ["chunks", "rows"].map((m) => join(dir, `${m}.duckdb`));
  const ws = paths.map((path) => new StoreWriter({ config: { path } }));
  ws[1]!.chunkMode = false;
  for (const w of ws) await w.start();
  const exp = decodeUnit((batch) => {
    for (const w of ws) w.consume(batch);
  });
  for (const w of ws) await w.stop();
  const inst = await DuckDBInstance.create();
  const c = await inst.connect();
  for (const [i, p] of paths.entries()) await c.run(`ATTACH '${p}' AS d${i} (READ_ONLY)`);
  for (const i of [0, 1]) {
    assert.deepEqual(await one(c, `SELECT count(*), sum(bytes) FROM d${i}.flows_raw`), [
      BigInt(exp.rows),
      BigInt(exp.bytes),
    ]);
  }
  for (const i of [1]) {
    assert.deepEqual(
      await one(
        c,
        // seq numbers the stages, which the two stores cut differently.
        `SELECT count(*) FROM (SELECT * EXCLUDE (seq) FROM d0.flows_raw EXCEPT ALL SELECT * EXCLUDE (seq) FROM d${i}.flows_raw)`,
      ),
      [0n],
    );
    for (const { table: t } of ROLLUP_TABLES) {
      assert.deepEqual(
        await one(c, `SELECT count(*) FROM (SELECT * FROM d0.${t} EXCEPT ALL SELECT * FROM d${i}.${t})`),
        [0n],
      );
    }
  }
  c.closeSync();
  inst.closeSync();
});

test("sampled sFlow: rollups hold bytes × sampling_rate", async () => {
  const w = new StoreWriter({ config: { path: join(dir, "sflow.duckdb") } });
  await w.start();
  const exp = decodeUnit((b) => w.consume(b), shift(1), 512, "akvorado__sflow__data-1140");
  decodeUnit((b) => w.consume(b), undefined, 512, "akvorado__sflow__data-1140");
  await w.flush();
  assert.ok(exp.rows > 0 && exp.maxRate > 1, `sampled flows: ${exp.rows} rows, max rate ${exp.maxRate}`);
  assert.ok(exp.scaledBytes > exp.bytes);
  for (const t of ["flows_1m", "flows_1h", "dst_as_1h", "dst_port_1h"]) {
    assert.deepEqual(await one(w.connection, `SELECT sum(bytes) FROM ${t}`), [BigInt(exp.scaledBytes)], t);
  }
  await assertRollupsAgree(w.connection);
  await w.stop();
});

test("docs/store.md lists every schema column with its DuckDB type", async () => {
  const { existsSync, readFileSync } = await import("node:fs");
  const { SQL_TYPE } = await import("./schema.js");
  // Walk up to the repo root (this file runs from src/ under tsx and from dist/ after a build).
  let root = new URL(".", import.meta.url);
  while (!existsSync(new URL("docs/store.md", root)) && root.pathname !== "/") root = new URL("..", root);
  const doc = readFileSync(new URL("docs/store.md", root), "utf8");
  for (const c of FLOW_COLUMNS) assert.ok(doc.includes(`| ${c.name} | ${SQL_TYPE[c.kind]} |`), c.name);
});

test("a database from an older schema gains the new columns and keeps ingesting", async () => {
  const path = join(dir, "old.duckdb");
  const inst = await DuckDBInstance.create(path);
  const c = await inst.connect();
  await migrate(c);
  // Simulate a database created before the schema had `packets` (a column in the middle of the table).
  for (const t of ["flows_raw", "flows_stage"]) await c.run(`ALTER TABLE ${t} DROP COLUMN packets`);
  c.closeSync();
  inst.closeSync();
  const w = new StoreWriter({ config: { path } });
  await w.start();
  const exp = decodeUnit((batch) => w.consume(batch));
  await w.flush();
  assert.deepEqual(await one(w.connection, "SELECT count(*), sum(bytes), sum(packets) FROM flows_raw"), [
    BigInt(exp.rows),
    BigInt(exp.bytes),
    BigInt(exp.packets),
  ]);
  await assertRollupsAgree(w.connection);
  await w.stop();
});

test("rows an older version left in the on-disk flows_stage are merged by start(), raw and rollups agree", async () => {
  const path = join(dir, "legacy-stage.duckdb");
  const w = new StoreWriter({ config: { path } });
  await w.start();
  const exp = decodeUnit((b) => w.consume(b));
  await w.stop();
  // As a crash of the on-disk-stage writer left it: rows staged, not merged.
  {
    const inst = await DuckDBInstance.create(path);
    const c = await inst.connect();
    await c.run("INSERT INTO flows_stage SELECT * EXCLUDE (seq) FROM flows_raw");
    c.closeSync();
    inst.closeSync();
  }
  const w2 = new StoreWriter({ config: { path } });
  await w2.start();
  const c = w2.connection;
  assert.deepEqual(await one(c, "SELECT count(*) FROM flows_stage"), [0n]);
  assert.deepEqual(await one(c, "SELECT count(*), sum(bytes) FROM flows_raw"), [
    BigInt(2 * exp.rows),
    BigInt(2 * exp.bytes),
  ]);
  await assertRollupsAgree(c);
  await w2.stop();
});

test("rows consumed while a merge runs go to the other stage and are committed by the next flush", async () => {
  const w = new StoreWriter({ config: { path: join(dir, "double.duckdb"), intervalMs: 1000 } });
  await w.start();
  const batches: FlowBatch[] = [];
  // Pooled batches: retain() keeps each one until it is released below.
  const exp = decodeUnit((b) => batches.push(b.retain()), undefined, 256, UNIT);
  const half = batches.length >> 1;
  for (const b of batches.slice(0, half)) w.consume(b);
  const first = w.flush(); // the stage switch happens synchronously, before the merge awaits
  for (const b of batches.slice(half)) w.consume(b);
  await first;
  const afterFirst = w.rowsCommitted;
  assert.ok(afterFirst > 0 && afterFirst < exp.rows, `first merge committed ${afterFirst} of ${exp.rows}`);
  await w.flush();
  assert.equal(w.rowsCommitted, exp.rows);
  const c = w.connection;
  assert.deepEqual(await one(c, "SELECT count(*), sum(bytes), sum(packets) FROM flows_raw"), [
    BigInt(exp.rows),
    BigInt(exp.bytes),
    BigInt(exp.packets),
  ]);
  await assertRollupsAgree(c);
  for (const b of batches) b.release();
  await w.stop();
});

test("rollups pin RLE on exporter_address (DuckDB would bit-pack it, which groups ~60× slower)", async () => {
  const inst = await DuckDBInstance.create(join(dir, "compression.duckdb"));
  const c = await inst.connect();
  await migrate(c);
  // Three exporters in random order, enough rows for several row groups' worth of segments.
  await c.run(`INSERT INTO flows_1h
    SELECT TIMESTAMP '2026-01-01' + INTERVAL (i // 1000) HOUR, 281473902969345 + (i * 7919 % 3), i % 50, 2, 6, 4, 100, 1, 1
    FROM range(200000) t(i)`);
  await c.run("CHECKPOINT");
  const methods = (
    await c.runAndReadAll(
      "SELECT DISTINCT compression FROM pragma_storage_info('flows_1h') WHERE column_name = 'exporter_address'",
    )
  )
    .getRowsJS()
    .map((r) => String(r[0]));
  assert.ok(methods.includes("RLE"), `exporter_address stored as ${methods.join(", ")}`);
  assert.ok(!methods.includes("BitPacking"), `exporter_address stored as ${methods.join(", ")}`);
  c.closeSync();
  inst.closeSync();
});

test("commits never wait for the rollup aggregation: stages committed meanwhile are visible, then aggregated in one pass", async () => {
  const w = new StoreWriter({ config: { path: join(dir, "coalesce.duckdb"), intervalMs: 1000 } });
  await w.start();
  // The writer's internals this test drives: the timer's publish step and
  // the file commits (flush() would wait for the aggregations) and the
  // aggregation chain, held shut by a gate.
  interface StageView {
    table: string;
    state: string;
  }
  const inner = w as unknown as {
    publish(): Promise<void>;
    commitAll(): Promise<void>;
    aggChain: Promise<void>;
    aggregateStage(stages: readonly StageView[]): Promise<void>;
  };
  const passes: StageView[][] = [];
  const aggregate = inner.aggregateStage.bind(w);
  inner.aggregateStage = (stages) => {
    passes.push([...stages]);
    return aggregate(stages);
  };
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  inner.aggChain = inner.aggChain.then(() => gate);

  const batches: FlowBatch[] = [];
  // Two days ago: buckets that close when the copy below ("now") is committed.
  const old = decodeUnit((b) => batches.push(b.retain()), shift(2), 256);
  const third = Math.ceil(batches.length / 3);
  for (let k = 0; k < 3; k++) {
    for (const b of batches.slice(k * third, (k + 1) * third)) w.consume(b);
    await inner.publish();
    await inner.commitAll();
  }
  // All three commits went through while no aggregation could run.
  assert.equal(w.rowsCommitted, old.rows);
  assert.ok(w.flushes >= 3, `file commits ${w.flushes}`);
  assert.deepEqual(await one(w.connection, "SELECT count(*), sum(bytes) FROM flows_raw"), [
    BigInt(old.rows),
    BigInt(old.bytes),
  ]);
  // flows_live counts every row once (in flows_raw now; the stages still in flows_hot are masked by the mark).
  assert.deepEqual(await one(w.connection, `SELECT count(*), sum(bytes) FROM ${LIVE_VIEW}`), [
    BigInt(old.rows),
    BigInt(old.bytes),
  ]);
  assert.equal(passes.length, 0);
  open();
  await w.flush();
  assert.equal(passes.length, 1, `one aggregation pass for the three stages: ${passes.length}`);
  assert.equal(passes[0]!.length, 3);
  // RETIRE_AFTER_MS after their commit the next publish steps (every 500 ms) empty and free them.
  await new Promise((r) => setTimeout(r, RETIRE_AFTER_MS + 1500));
  for (const s of passes[0]!) {
    assert.equal(s.state, "free");
    assert.deepEqual(await one(w.connection, `SELECT count(*) FROM ${s.table}`), [0n]);
  }
  // Newer rows close the old buckets: every rollup holds exactly the old rows, once.
  decodeUnit((b) => w.consume(b));
  await w.flush();
  const want = [BigInt(old.scaledBytes), BigInt(old.packets), BigInt(old.rows)];
  for (const t of ROLLUP_TABLES) assert.deepEqual(await rollupSums(w.connection, t.table), want, t.table);
  await assertRollupsAgree(w.connection, "after a coalesced aggregation");
  for (const b of batches) b.release();
  await w.stop();
});

test("consume() bounds what the appender buffers (APPEND_FLUSH_ROWS); commits start every half interval", async () => {
  assert.equal(commitPeriodMs(1000), 500);
  assert.equal(commitPeriodMs(500), 250);
  assert.equal(commitPeriodMs(10), 5);
  assert.equal(defaultStoreConfig().intervalMs, 500);
  const w = new StoreWriter({ config: { path: join(dir, "incremental.duckdb"), intervalMs: 1000 } });
  await w.start();
  const batches: FlowBatch[] = [];
  // The unit (3979 rows) enough times for two appender flushes, in batches of 512.
  const copies = Math.ceil((2 * APPEND_FLUSH_ROWS) / 3979) + 1;
  const exps = Array.from({ length: copies }, () =>
    decodeUnit((b) => batches.push(b.retain()), undefined, 512),
  );
  const rows = exps.reduce((a, e) => a + e.rows, 0);
  const bytes = exps.reduce((a, e) => a + e.bytes, 0);
  let fed = 0;
  let flushedAt = 0;
  for (const b of batches) {
    w.consume(b);
    fed += b.length;
    // The appender flushes once APPEND_FLUSH_ROWS or more rows are buffered.
    if (fed - flushedAt >= APPEND_FLUSH_ROWS) flushedAt = fed;
  }
  // No flush yet: stage_0's table already holds every row up to the last
  // appender flush (the switch then flushes only the rest).
  assert.ok(
    flushedAt >= 2 * APPEND_FLUSH_ROWS && rows - flushedAt < APPEND_FLUSH_ROWS,
    `${flushedAt} of ${rows}`,
  );
  assert.deepEqual(await one(w.connection, "SELECT count(*) FROM nagare_stage.main.stage_0"), [
    BigInt(flushedAt),
  ]);
  await w.flush();
  assert.deepEqual(await one(w.connection, "SELECT count(*), sum(bytes) FROM flows_raw"), [
    BigInt(rows),
    BigInt(bytes),
  ]);
  for (const b of batches) b.release();
  await w.stop();
});
