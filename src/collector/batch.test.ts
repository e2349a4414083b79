// BatchPool / FlowBatch ownership: recycled batches must read exactly like
// fresh ones (no field of an earlier flow may survive a reset), and a batch a
// consumer retains must not be recycled under it.
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { capturesDir, readCapture } from "./capture.js";
import { BatchPool, FlowBatch } from "./batch.js";
import { FlowDecoder } from "./decoder.js";
import { parseIp } from "./ip.js";
import { CollectorStats } from "./stats.js";
import { RecordSink, type PacketSource } from "./types.js";

// Two real exports with different field sets (v9 from nProbe with ports and
// flags; v5 from a MikroTik with next hops and AS numbers), interleaved, so a
// value left over from one would show up in a row of the other.
const V9 = readCapture(join(capturesDir(), "graylog__nprobe-netflow9-3.pcap")).map((d) => d.payload);
const V5 = readCapture(join(capturesDir(), "logstash__netflow5_test_microtik.dat")).map((d) => d.payload);

function src(text: string): PacketSource {
  return { exporter: text, exporterIp: parseIp(text)!, receivedMs: 1_700_000_000_000 };
}

function decodeAll(pool: BatchPool | null): {
  rows: Record<string, string | number>[];
  batches: FlowBatch[];
} {
  const rows: Record<string, string | number>[] = [];
  const batches: FlowBatch[] = [];
  const dec = new FlowDecoder({ stats: new CollectorStats() });
  // Small batches: many flushes, so pooled batches are reused many times.
  const sink = new RecordSink(
    (b) => {
      batches.push(b);
      for (let i = 0; i < b.length; i++) rows.push(b.row(i));
    },
    () => {},
    37,
    () => {},
    pool,
  );
  const a = src("192.0.2.1");
  const b = src("192.0.2.2");
  for (let loop = 0; loop < 3; loop++) {
    for (let i = 0; i < V9.length; i++) {
      dec.decode(V9[i]!, a, sink);
      dec.decode(V5[i % V5.length]!, b, sink);
    }
  }
  sink.flush();
  return { rows, batches };
}

test("recycled batches decode to exactly the rows fresh batches give", () => {
  const fresh = decodeAll(null);
  const pool = new BatchPool(37);
  const pooled = decodeAll(pool);
  assert.ok(fresh.rows.length > 2000, `${fresh.rows.length} rows`);
  assert.deepEqual(pooled.rows, fresh.rows);
  // Every flush reused the one idle batch: only two were ever created.
  assert.equal(pool.created, 2);
  assert.equal(pool.reused, pooled.batches.length - 1);
  // And a recycled batch is all zeros again, beyond the rows just written too.
  const idle = pool.get();
  const zero = new FlowBatch(37);
  for (let i = 0; i < 37; i++) assert.deepEqual(idle.row(i), zero.row(i));
});

test("a retained batch is not recycled until released; misuse throws", () => {
  const pool = new BatchPool(8, 1);
  const kept: FlowBatch[] = [];
  const sink = new RecordSink(
    (b) => kept.push(b.retain()),
    () => {},
    8,
    () => {},
    pool,
  );
  for (let i = 0; i < 20; i++) {
    sink.batch.cols.bytes[sink.batch.length] = i + 1;
    sink.commit();
  }
  sink.flush();
  // 20 rows in batches of 8: 8, 8, 4; each kept intact and distinct.
  assert.deepEqual(
    kept.map((b) => Array.from(b.cols.bytes.subarray(0, b.length))),
    [
      [1, 2, 3, 4, 5, 6, 7, 8],
      [9, 10, 11, 12, 13, 14, 15, 16],
      [17, 18, 19, 20],
    ],
  );
  assert.equal(new Set(kept).size, 3);
  assert.equal(pool.idleCount, 0);
  for (const b of kept) b.release();
  assert.equal(pool.idleCount, 1, "maxIdle 1: the other released batches go to the GC");
  assert.throws(() => kept[0]!.release(), /more often than retain/);
  assert.throws(() => kept[0]!.retain(), /already released/);
  // Unpooled batches (tests, `nagare decode`) just count.
  const plain = new FlowBatch(2);
  plain.retain();
  plain.release();
  plain.release();
  assert.equal(plain.refs, 0);
});

test("reset zeroes the written rows and the abandoned row being written", () => {
  const b = new FlowBatch(4);
  b.cols.bytes[0] = 5;
  b.cols.src_addr[16 + 15] = 9;
  b.cols.bytes[2] = 7; // row being written when the batch was handed on
  b.length = 2;
  b.reset();
  assert.equal(b.length, 0);
  assert.deepEqual(Array.from(b.cols.bytes), [0, 0, 0, 0]);
  assert.ok(b.cols.src_addr.every((x) => x === 0));
});
