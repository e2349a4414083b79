// flows_live (src/store/live.ts): rows visible before their file commit,
// counted once before, during and after it, and after their stage leaves
// flows_hot — checked on real capture flows, with the file commit held back,
// and under a reader polling while stages are published, committed and
// retired every 50 ms.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { DuckDBInstance, type DuckDBConnection } from "@duckdb/node-api";
import type { FlowBatch } from "../collector/batch.js";
import { decodeUnit } from "../../test/helpers/captures.js";
import { SqlService } from "../query/sql/service.js";
import { LIVE_VIEW, RETIRE_AFTER_MS, ensureLiveView, hotRawFilter } from "./live.js";
import { migrate } from "./migrate.js";
import { StoreWriter } from "./writer.js";

const UNIT = "ipfixcol2__example_flows"; // 3979 IPFIX flows, IPv4 and IPv6
const dir = mkdtempSync(join(tmpdir(), "nagare-live-"));
after(() => rmSync(dir, { recursive: true, force: true }));

async function one(c: DuckDBConnection, sql: string): Promise<unknown[]> {
  return (await c.runAndReadAll(sql)).getRowsJS()[0]!;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The unit's batches (retained: release them), and its row and byte totals. */
function unitBatches(offsetMs = 0): { batches: FlowBatch[]; rows: number; bytes: number } {
  const batches: FlowBatch[] = [];
  let rows = 0;
  let bytes = 0;
  decodeUnit(
    UNIT,
    (b) => {
      rows += b.length;
      for (let i = 0; i < b.length; i++) bytes += b.cols.bytes[i]!;
      batches.push(b.retain());
    },
    offsetMs,
  );
  return { batches, rows, bytes };
}

/** A reader counting flows_live without pause until stopped: each count, with the rows appended by its end. */
function pollLive(w: StoreWriter, reader: DuckDBConnection): () => Promise<{ n: number; after: number }[]> {
  let polling = true;
  const seen: { n: number; after: number }[] = [];
  const loop = (async () => {
    while (polling) {
      const n = Number((await one(reader, `SELECT count(*) FROM ${LIVE_VIEW}`))[0]);
      seen.push({ n, after: w.rowsAppended });
    }
  })();
  return async () => {
    polling = false;
    await loop;
    return seen;
  };
}

/** Never more than was appended by the end of a query (a row counted twice), never fewer than before (a row lost); all at the end. */
function assertCountedOnce(seen: readonly { n: number; after: number }[], appended: number): void {
  let prev = 0;
  for (const s of seen) {
    assert.ok(s.n <= s.after, `poll saw ${s.n} rows, only ${s.after} appended`);
    assert.ok(s.n >= prev, `poll saw ${s.n} rows after ${prev}`);
    prev = s.n;
  }
  assert.equal(seen.at(-1)!.n, appended);
}

interface Inner {
  publish(): Promise<void>;
  switchStage(): Promise<boolean>;
  commitAll(): Promise<void>;
  commitStages(batch: readonly unknown[]): Promise<boolean>;
}

test("rows are visible to SQL (flows_live, the sandbox's flows view) before their file commit, and counted once after it", async () => {
  const w = new StoreWriter({ config: { path: join(dir, "gate.duckdb"), intervalMs: 1000 } });
  await w.start();
  const sql = new SqlService(() => w.database);
  await sql.start();
  const inner = w as unknown as Inner;
  // Hold every file commit until the gate opens.
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  const commit = inner.commitStages.bind(w);
  inner.commitStages = async (batch) => {
    await gate;
    return commit(batch);
  };
  const u = unitBatches();
  for (const b of u.batches) w.consume(b);
  await inner.publish();
  const c = await w.database.connect();
  // Visible, not durable.
  assert.deepEqual(await one(c, `SELECT count(*), sum(bytes) FROM ${LIVE_VIEW}`), [
    BigInt(u.rows),
    BigInt(u.bytes),
  ]);
  assert.deepEqual(await one(c, "SELECT count(*) FROM flows_raw"), [0n]);
  assert.equal(w.rowsVisible, u.rows);
  assert.equal(w.rowsCommitted, 0);
  const page = await sql.query("SELECT count(*)::INTEGER AS n, sum(bytes)::DOUBLE AS b FROM flows", {
    limit: 10,
  });
  assert.deepEqual(page.rows[0], [u.rows, u.bytes]);
  // The visibility delay is recorded at publish; nothing is durable yet.
  assert.equal(w.freshness().rows, u.rows);
  assert.equal(w.durability().rows, 0);

  open();
  await inner.commitAll();
  assert.deepEqual(await one(c, "SELECT count(*), sum(bytes) FROM flows_raw"), [
    BigInt(u.rows),
    BigInt(u.bytes),
  ]);
  // In flows_raw and still in flows_hot (not retired yet): the mark hides the stage's copy.
  assert.deepEqual(await one(c, `SELECT count(*), sum(bytes) FROM ${LIVE_VIEW}`), [
    BigInt(u.rows),
    BigInt(u.bytes),
  ]);
  assert.deepEqual(await one(c, "SELECT count(*) FROM nagare_stage.main.flows_hot"), [BigInt(u.rows)]);
  assert.equal(w.durability().rows, u.rows);
  await w.flush();
  // Retired RETIRE_AFTER_MS after the commit (the timer's publish steps, every 500 ms): flows_hot is empty.
  await sleep(RETIRE_AFTER_MS + 1500);
  assert.deepEqual(await one(c, "SELECT count(*) FROM nagare_stage.main.flows_hot"), [0n]);
  assert.deepEqual(await one(c, `SELECT count(*), sum(bytes) FROM ${LIVE_VIEW}`), [
    BigInt(u.rows),
    BigInt(u.bytes),
  ]);
  for (const b of u.batches) b.release();
  c.closeSync();
  await sql.stop();
  await w.stop();
});

test("a reader polling flows_live while stages are published, committed and retired every 50 ms never sees a row twice or loses one", async () => {
  const w = new StoreWriter({ config: { path: join(dir, "poll.duckdb"), intervalMs: 100 } });
  await w.start();
  const reader = await w.database.connect();
  const rounds = 30;
  const units = Array.from({ length: rounds }, (_, k) => unitBatches(k * 1000));
  const perRound = units[0]!.rows;
  let appended = 0;
  const stop = pollLive(w, reader);
  for (const u of units) {
    for (const b of u.batches) {
      w.consume(b);
      appended += b.length;
    }
    // Let the timer's publish steps, the commits and the retirements run between rounds.
    await sleep(40);
  }
  await w.flush();
  // Long enough for every stage to be retired while the reader still polls.
  await sleep(RETIRE_AFTER_MS + 800);
  const seen = await stop();
  assert.equal(appended, rounds * perRound);
  assert.ok(seen.length > 20, `polls ${seen.length}`);
  assert.ok(w.stagesPublished >= 5, `stages published ${w.stagesPublished}`);
  assert.ok(w.flushes >= 2, `file commits ${w.flushes}`);
  assertCountedOnce(seen, appended);
  assert.deepEqual(await one(reader, "SELECT count(*) FROM flows_raw"), [BigInt(appended)]);
  assert.deepEqual(await one(reader, "SELECT count(*) FROM nagare_stage.main.flows_hot"), [0n]);
  for (const u of units) for (const b of u.batches) b.release();
  reader.closeSync();
  await w.stop();
});

test("a reader polling flows_live while stages of more than a row group commit never sees a row twice or loses one", async () => {
  // DuckDB writes an INSERT of more than a row group (122 880 rows) straight to the file and, while
  // its COMMIT runs, a reader that starts can see those rows before the rest of the transaction:
  // with a mark in the same transaction deciding raw-or-stage, a stage was counted twice
  // (src/store/live.ts, "Commit window"). Stages of ~255 k rows here, a reader polling without pause.
  const w = new StoreWriter({ config: { path: join(dir, "big.duckdb"), intervalMs: 1000 } });
  await w.start();
  const reader = await w.database.connect();
  const u = unitBatches();
  const stop = pollLive(w, reader);
  const commits = 6;
  for (let k = 0; k < commits; k++) {
    for (let r = 0; r < 64; r++) for (const b of u.batches) w.consume(b);
    await (w as unknown as Inner).commitAll();
  }
  await sleep(RETIRE_AFTER_MS + 500);
  const seen = await stop();
  const appended = commits * 64 * u.rows;
  assert.equal(w.rowsAppended, appended);
  assert.ok(seen.length > 50, `polls ${seen.length}`);
  assertCountedOnce(seen, appended);
  assert.deepEqual(await one(reader, "SELECT count(*), count(DISTINCT seq) FROM flows_raw"), [
    BigInt(appended),
    BigInt(commits),
  ]);
  for (const b of u.batches) b.release();
  reader.closeSync();
  await w.stop();
});

test("a publish step while the new current stage's flows_hot definition is still queued does not list the stage twice", async () => {
  const w = new StoreWriter({ config: { path: join(dir, "race.duckdb"), intervalMs: 1000 } });
  await w.start();
  const inner = w as unknown as Inner;
  const a = unitBatches();
  const b = unitBatches(1000);
  for (const x of a.batches) w.consume(x);
  // The switch is synchronous; the new stage's definition waits on the publisher's connection …
  const switched = inner.switchStage();
  for (const x of b.batches) w.consume(x);
  // … when the publish step finds the current stage not yet shown and shows it too.
  const published = inner.publish();
  await Promise.all([switched, published]);
  const c = await w.database.connect();
  assert.deepEqual(await one(c, `SELECT count(*), sum(bytes) FROM ${LIVE_VIEW}`), [
    BigInt(a.rows + b.rows),
    BigInt(a.bytes + b.bytes),
  ]);
  await w.flush();
  assert.deepEqual(await one(c, `SELECT count(*), sum(bytes) FROM ${LIVE_VIEW}`), [
    BigInt(a.rows + b.rows),
    BigInt(a.bytes + b.bytes),
  ]);
  for (const x of [...a.batches, ...b.batches]) x.release();
  c.closeSync();
  await w.stop();
});

test("a store opened without a writer gets flows_live over flows_raw (benchmarks reusing a file, the planner)", async () => {
  const inst = await DuckDBInstance.create(join(dir, "bare.duckdb"));
  const c = await inst.connect();
  await migrate(c);
  await ensureLiveView(c);
  await ensureLiveView(c); // idempotent
  assert.deepEqual(await one(c, `SELECT count(*) FROM ${LIVE_VIEW}`), [0n]);
  const cols = (await c.runAndReadAll(`DESCRIBE ${LIVE_VIEW}`)).getRowsJS().map((r) => `${r[0]} ${r[1]}`);
  // flows_raw's own seq (the stage a row came from) is not for readers.
  const raw = (await c.runAndReadAll("DESCRIBE flows_raw"))
    .getRowsJS()
    .filter((r) => r[0] !== "seq")
    .map((r) => `${r[0]} ${r[1]}`);
  assert.deepEqual(cols.sort(), raw.sort());
  c.closeSync();
  inst.closeSync();
});

test("without a writer, flows_live reads a file of an older version as it is (columns added since are missing, not an error)", async () => {
  const inst = await DuckDBInstance.create(join(dir, "older.duckdb"));
  const c = await inst.connect();
  await migrate(c);
  // A file written before the BGP large-communities column existed (a writer would add it at start).
  await c.run("ALTER TABLE flows_raw DROP COLUMN bgp_large_communities");
  await ensureLiveView(c);
  assert.deepEqual(await one(c, `SELECT count(*), sum(bytes) FROM ${LIVE_VIEW}`), [0n, null]);
  const cols = (await c.runAndReadAll(`DESCRIBE ${LIVE_VIEW}`)).getRowsJS().map((r) => String(r[0]));
  assert.ok(!cols.includes("bgp_large_communities") && cols.includes("dst_as"), cols.join(","));
  c.closeSync();
  inst.closeSync();
});

test("flows_live has flows_raw's columns and types exactly, whatever the stages' shapes", async () => {
  const w = new StoreWriter({ config: { path: join(dir, "types.duckdb"), intervalMs: 1000 } });
  await w.start();
  const u = unitBatches();
  for (const b of u.batches) w.consume(b);
  await (w as unknown as Inner).publish();
  // Its own connection: the writer's commits (started by publish) run on w.connection.
  const c = await w.database.connect();
  const cols = (await c.runAndReadAll(`DESCRIBE ${LIVE_VIEW}`)).getRowsJS().map((r) => `${r[0]} ${r[1]}`);
  const raw = (await c.runAndReadAll("DESCRIBE flows_raw"))
    .getRowsJS()
    .filter((r) => r[0] !== "seq")
    .map((r) => `${r[0]} ${r[1]}`);
  assert.deepEqual(cols.sort(), raw.sort());
  // The unit carries no enrichment: the stage lacks those columns, flows_hot fills them ("" as NULL, 0).
  assert.deepEqual(
    await one(c, `SELECT count(*) FILTER (WHERE dst_as_name IS NULL), max(dst_as) FROM ${LIVE_VIEW}`),
    [BigInt(u.rows), 0],
  );
  for (const b of u.batches) b.release();
  c.closeSync();
  await w.stop();
});

test("hotRawFilter: flows_raw without the stages in flows_hot, as a range the row groups' statistics can skip", () => {
  assert.equal(hotRawFilter([]), "");
  assert.equal(hotRawFilter([7, 5, 6]), "(seq < 5 OR seq > 7)");
  // Stage 6 is not in flows_hot (its definition failed): its rows are read from flows_raw.
  assert.equal(hotRawFilter([5, 7, 8]), "(seq < 5 OR seq > 8 OR seq IN (6))");
});
