import assert from "node:assert/strict";
import { test } from "node:test";
import { FlowBatch } from "../collector/batch.js";
import { putIpv4 } from "../collector/ip.js";
import { LiveAggregator, OTHER, type LivePoint } from "./aggregator.js";

interface Row {
  exporter: number;
  proto: number;
  srcAs: number;
  dstAs: number;
  inIf: number;
  outIf: number;
  bytes: number;
  packets: number;
  sampling: number;
}

function batchOf(rows: Row[]): FlowBatch {
  const b = new FlowBatch(rows.length + 1);
  const c = b.cols;
  rows.forEach((r, i) => {
    putIpv4(c.exporter_address, i * 16, r.exporter);
    c.protocol[i] = r.proto;
    c.src_as[i] = r.srcAs;
    c.dst_as[i] = r.dstAs;
    c.in_if[i] = r.inIf;
    c.out_if[i] = r.outIf;
    c.bytes[i] = r.bytes;
    c.packets[i] = r.packets;
    c.flows[i] = 1;
    c.sampling_rate[i] = r.sampling;
  });
  b.length = rows.length;
  return b;
}

const ip = (a: number, b: number, c: number, d: number): number =>
  ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
const R1 = ip(192, 0, 2, 1);
const R2 = ip(192, 0, 2, 2);

test("live: per-second totals and per-dimension keys, scaled by sampling, pushed as the second closes", () => {
  let now = 1_700_000_000_000;
  const agg = new LiveAggregator({ now: () => now });
  const pushed: LivePoint[] = [];
  const off = agg.subscribe("protocol", (p) => pushed.push(p));
  agg.consume(
    batchOf([
      {
        exporter: R1,
        proto: 6,
        srcAs: 64500,
        dstAs: 15169,
        inIf: 1,
        outIf: 2,
        bytes: 1000,
        packets: 10,
        sampling: 1,
      },
      {
        exporter: R1,
        proto: 17,
        srcAs: 64500,
        dstAs: 13335,
        inIf: 1,
        outIf: 3,
        bytes: 500,
        packets: 5,
        sampling: 0,
      },
      {
        exporter: R2,
        proto: 6,
        srcAs: 64501,
        dstAs: 15169,
        inIf: 7,
        outIf: 2,
        bytes: 100,
        packets: 1,
        sampling: 100,
      },
    ]),
  );
  assert.equal(pushed.length, 0, "nothing before the second closes");
  now += 1000;
  agg.tick();
  assert.equal(pushed.length, 1);
  const p = pushed[0]!;
  assert.equal(p.t, 1_700_000_000_000);
  // sampling 0 (unknown) counts as 1; 1:100 multiplies by 100.
  assert.deepEqual(p.total, { bytes: 1000 + 500 + 100 * 100, packets: 10 + 5 + 100, flows: 1 + 1 + 100 });
  assert.deepEqual(
    p.top.map((e) => [e.key, e.bytes]),
    [
      ["tcp", 11_000],
      ["udp", 500],
    ],
  );
  const byExp = agg.window("exporter")[0]!.top.map((e) => [e.key, e.packets]);
  assert.deepEqual(byExp, [
    ["192.0.2.2", 100],
    ["192.0.2.1", 15],
  ]);
  assert.deepEqual(
    agg.window("dst_as")[0]!.top.map((e) => e.key),
    ["AS15169", "AS13335"],
  );
  assert.deepEqual(
    agg.window("in_if")[0]!.top.map((e) => e.key),
    ["192.0.2.2 if 7", "192.0.2.1 if 1"],
  );
  assert.equal(agg.sampling.get("192.0.2.2"), 100);
  // An empty second is still a point (zeros), so the chart has no gap.
  now += 1000;
  agg.tick();
  assert.equal(pushed.length, 2);
  assert.deepEqual(pushed[1]!.total, { bytes: 0, packets: 0, flows: 0 });
  off();
  now += 1000;
  agg.tick();
  assert.equal(pushed.length, 2, "unsubscribed");
});

test("live: memory is bounded — top N per closed second plus other, maxKeys while open, window length", () => {
  let now = 1_700_000_000_000;
  const agg = new LiveAggregator({ now: () => now, seconds: 5, topN: 3, maxKeys: 10 });
  const rows: Row[] = [];
  // 50 distinct destination ASes; AS n carries n bytes.
  for (let n = 1; n <= 50; n++)
    rows.push({
      exporter: R1,
      proto: 6,
      srcAs: 1,
      dstAs: n,
      inIf: 1,
      outIf: 1,
      bytes: n,
      packets: 1,
      sampling: 1,
    });
  for (let s = 0; s < 8; s++) {
    agg.consume(batchOf(rows));
    now += 1000;
    agg.tick();
  }
  const w = agg.window("dst_as");
  assert.equal(w.length, 5, "only the window's seconds are kept");
  for (const p of w) {
    // The first 10 keys (1..10) were tracked individually, 11..50 went to other while open;
    // closing keeps the 3 largest tracked ones.
    assert.deepEqual(
      p.top.map((e) => e.key),
      ["AS10", "AS9", "AS8", OTHER],
    );
    const sum = p.top.reduce((s, e) => s + e.bytes, 0);
    assert.equal(sum, (50 * 51) / 2, "nothing is lost: other holds the rest");
    assert.equal(p.total.bytes, (50 * 51) / 2);
  }
  assert.equal(w[4]!.t - w[0]!.t, 4000);
});

test("live: a long pause leaves a window of empty seconds, not an unbounded catch-up", () => {
  let now = 1_700_000_000_000;
  const agg = new LiveAggregator({ now: () => now, seconds: 10 });
  now += 3_600_000;
  agg.tick();
  const w = agg.window("protocol");
  assert.equal(w.length, 10);
  assert.equal(w[9]!.t, now - 1000);
});
