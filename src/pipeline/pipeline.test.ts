import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { FlowBatch } from "../collector/batch.js";
import { putIpv4 } from "../collector/ip.js";
import { createLogger } from "../log.js";
import { JsonlWriter, Pipeline, RateMeter, type FlowConsumer } from "./index.js";

function batchOf(rows: { t: number; bytes: number; packets: number; src?: number }[]): FlowBatch {
  const b = new FlowBatch(16);
  for (const r of rows) {
    const i = b.length;
    b.cols.time_received[i] = r.t;
    b.cols.bytes[i] = r.bytes;
    b.cols.packets[i] = r.packets;
    b.cols.flows[i] = 1;
    putIpv4(b.cols.src_addr, i * 16, r.src ?? 0x0a000001);
    b.length++;
  }
  return b;
}

test("RateMeter: per-second buckets, series and averages", () => {
  let now = 1_700_000_010_500;
  const m = new RateMeter({ now: () => now });
  m.consume(
    batchOf([
      { t: 1_700_000_008_100, bytes: 100, packets: 1 },
      { t: 1_700_000_008_900, bytes: 300, packets: 3 },
      { t: 1_700_000_009_000, bytes: 50, packets: 5 },
    ]),
  );
  const s = m.series(3);
  assert.deepEqual(
    s.map((x) => [x.t, x.flows, x.bytes, x.packets]),
    [
      [1_700_000_007_000, 0, 0, 0],
      [1_700_000_008_000, 2, 400, 4],
      [1_700_000_009_000, 1, 50, 5],
    ],
  );
  assert.deepEqual(m.average(2), { flows: 1.5, bytes: 225, packets: 4.5 });
  assert.equal(m.totalFlows, 3);
  // Ten minutes later the old buckets no longer count.
  now += 600_000;
  assert.equal(
    m.series(600).reduce((n, x) => n + x.flows, 0),
    0,
  );
});

test("Pipeline fans out, survives a throwing consumer, stops consumers", async () => {
  const seen: number[] = [];
  const lines: string[] = [];
  const p = new Pipeline({ log: createLogger({ write: (l) => lines.push(l) }) });
  const bad: FlowConsumer = {
    name: "bad",
    consume() {
      throw new Error("boom");
    },
  };
  let stopped = false;
  const good: FlowConsumer = {
    name: "good",
    consume: (b) => seen.push(b.length),
    stop: async () => void (stopped = true),
  };
  p.add(bad).add(good);
  await p.start();
  p.push(batchOf([{ t: Date.now(), bytes: 1, packets: 1 }]));
  p.push(new FlowBatch(4)); // empty: not delivered
  assert.deepEqual(seen, [1]);
  assert.equal(p.consumerErrors, 1);
  assert.match(lines[0]!, /pipeline consumer failed.*boom/);
  await p.stop();
  assert.ok(stopped);
});

test("JsonlWriter writes one JSON line per flow", async () => {
  const dir = mkdtempSync(join(tmpdir(), "nagare-jsonl-"));
  const path = join(dir, "sub", "flows.jsonl");
  const w = new JsonlWriter(path);
  await w.start();
  w.consume(
    batchOf([
      { t: 1000, bytes: 10, packets: 1, src: 0xc0000201 },
      { t: 2000, bytes: 20, packets: 2, src: 0xc0000202 },
    ]),
  );
  await w.stop();
  const rows = readFileSync(path, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(rows.length, 2);
  assert.equal(rows[0]!.src_addr, "192.0.2.1");
  assert.equal(rows[1]!.bytes, 20);
  assert.equal(rows[1]!.time_received, 2000);
});
