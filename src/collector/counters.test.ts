// The interface counter store: deltas and rates, 32/64-bit wraps, resets
// (agent restart, cleared counters, implausible wraps), duplicates and late
// samples, retention, and the series / point budgets.
import assert from "node:assert/strict";
import { test } from "node:test";
import { counterDelta, CounterStore, POINT_FIELDS } from "./counters.js";
import type { InterfaceCounters } from "./types.js";

type Generic = NonNullable<InterfaceCounters["generic"]>;

const T0 = 1_700_000_000_000;

function generic(over: Partial<Generic> = {}): Generic {
  return {
    ifType: 6,
    ifSpeed: 1_000_000_000,
    ifDirection: 1,
    ifStatus: 3,
    inOctets: 0,
    inUcastPkts: 0,
    inMulticastPkts: 0,
    inBroadcastPkts: 0,
    inDiscards: 0,
    inErrors: 0,
    inUnknownProtos: 0,
    outOctets: 0,
    outUcastPkts: 0,
    outMulticastPkts: 0,
    outBroadcastPkts: 0,
    outDiscards: 0,
    outErrors: 0,
    promiscuousMode: 2,
    ...over,
  };
}

function rec(
  seq: number,
  uptimeMs: number | undefined,
  g: Partial<Generic>,
  opts: { agent?: string; ifIndex?: number; receivedMs?: number; subAgentId?: number } = {},
): InterfaceCounters {
  const r: InterfaceCounters = {
    exporter: "192.0.2.1",
    agent: opts.agent ?? "192.0.2.1",
    subAgentId: opts.subAgentId ?? 0,
    receivedMs: opts.receivedMs ?? T0,
    sequence: seq,
    sourceIdType: 0,
    sourceIdIndex: opts.ifIndex ?? 7,
    ifIndex: opts.ifIndex ?? 7,
    generic: generic(g),
  };
  if (uptimeMs !== undefined) r.uptimeMs = uptimeMs;
  return r;
}

function only(store: CounterStore, agent = "192.0.2.1", ifIndex = 7) {
  const s = store.get(agent, ifIndex);
  assert.ok(s, `series ${agent}/${ifIndex}`);
  return { summary: store.summary(s), points: store.points(s) };
}

test("counterDelta: forward, 32-bit wrap, 64-bit wrap, reset, plausibility", () => {
  assert.equal(counterDelta(150, 100, 32, Infinity), 50);
  assert.equal(counterDelta(50, 2 ** 32 - 100, 32, Infinity), 150);
  // 64-bit octet field filled from a 32-bit counter: wraps at 2^32.
  assert.equal(counterDelta(1000, 4_294_967_000, 64, Infinity), 1296);
  // True 64-bit wrap (values chosen exactly representable as doubles).
  assert.equal(counterDelta(2 ** 20, 2 ** 64 - 2 ** 20, 64, Infinity), 2 ** 21);
  // Backwards from beyond 32 bits, far from 2^64: a reset.
  assert.equal(counterDelta(100, 5e9, 64, Infinity), -1);
  // A "wrap" larger than the line can carry is a reset.
  assert.equal(counterDelta(1e9, 3e9, 32, 75e6), -1);
  assert.equal(counterDelta(10, 2 ** 32 - 10, 32, 75e6), 20);
  // Without a speed, a wrap must be under half the range.
  assert.equal(counterDelta(10, 1000, 32, Infinity), -1);
});

test("rates from deltas over the agent uptime, utilization from ifSpeed", () => {
  const store = new CounterStore({ now: () => T0 });
  store.add(rec(1, 100_000, { inOctets: 1_000_000, outOctets: 5_000, inUcastPkts: 10, inErrors: 1 }));
  // Received 1 ms later (replayed), but the agent says 30 s passed: rates use the agent's clock.
  store.add(
    rec(
      2,
      130_000,
      {
        inOctets: 1_000_000 + 30 * 12_500_000, // 100 Mb/s = 10% of 1 Gb/s
        outOctets: 5_000 + 30 * 1000,
        inUcastPkts: 10 + 3000,
        inMulticastPkts: 60,
        inBroadcastPkts: 30,
        inErrors: 4,
        outDiscards: 9,
      },
      { receivedMs: T0 + 1 },
    ),
  );
  const { summary, points } = only(store);
  assert.equal(points.length, 2);
  assert.equal(points[0]!.rates, null, "first point has no rate");
  const r = summary.rates!;
  assert.equal(r.intervalSeconds, 30);
  assert.equal(r.inOctetsPerSecond, 12_500_000);
  assert.equal(r.outOctetsPerSecond, 1000);
  assert.equal(r.inUtilizationPercent, 10);
  assert.ok(Math.abs(r.outUtilizationPercent! - 0.0008) < 1e-12);
  assert.equal(r.inUcastPktsPerSecond, 100);
  assert.equal(r.inPacketsPerSecond, 103);
  assert.ok(Math.abs(r.inErrorsPerSecond - 0.1) < 1e-12);
  assert.ok(Math.abs(r.outDiscardsPerSecond - 0.3) < 1e-12);
  assert.equal(summary.latest.inOctets, 1_000_000 + 30 * 12_500_000);
  assert.equal(summary.samples, 2);
  assert.deepEqual([summary.adminUp, summary.operUp], [true, true]);
});

test("without uptime the receive time is the interval; speed 0 gives no utilization", () => {
  const store = new CounterStore({ now: () => T0 });
  store.add(rec(1, undefined, { ifSpeed: 0, inOctets: 100 }));
  store.add(rec(2, undefined, { ifSpeed: 0, inOctets: 2100 }, { receivedMs: T0 + 20_000 }));
  const r = only(store).summary.rates!;
  assert.equal(r.intervalSeconds, 20);
  assert.equal(r.inOctetsPerSecond, 100);
  assert.equal(r.inUtilizationPercent, null);
});

test("32-bit and 64-bit wraps give the right rate and are counted", () => {
  const store = new CounterStore({ now: () => T0 });
  store.add(rec(1, 0, { inUcastPkts: 2 ** 32 - 500, inOctets: 4_294_000_000, outOctets: 2 ** 64 - 2 ** 20 }));
  store.add(rec(2, 10_000, { inUcastPkts: 500, inOctets: 33_032_704, outOctets: 2 ** 20 }));
  const { summary } = only(store);
  assert.equal(summary.wraps, 1);
  assert.equal(summary.resets, 0);
  assert.equal(summary.rates!.inUcastPktsPerSecond, 100);
  // (2^32 - 4 294 000 000 + 33 032 704) / 10 s
  assert.equal(summary.rates!.inOctetsPerSecond, (2 ** 32 - 4_294_000_000 + 33_032_704) / 10);
  assert.equal(summary.rates!.outOctetsPerSecond, 2 ** 21 / 10);
  assert.equal(store.snapshot().wraps, 1);
});

test("uptime wrapping at 2^32 ms is not a restart", () => {
  const store = new CounterStore({ now: () => T0 });
  store.add(rec(1, 2 ** 32 - 5000, { inOctets: 0 }));
  store.add(rec(2, 15_000, { inOctets: 20_000 }));
  const r = only(store).summary.rates!;
  assert.equal(r.intervalSeconds, 20);
  assert.equal(r.inOctetsPerSecond, 1000);
});

test("a counter going backwards is a reset, not a huge negative; rates resume after it", () => {
  const store = new CounterStore({ now: () => T0 });
  // Cleared counters: 64-bit octets from 5e9 back to 1000.
  store.add(rec(1, 0, { inOctets: 5e9, outOctets: 10 }));
  store.add(rec(2, 30_000, { inOctets: 1000, outOctets: 20 }));
  let s = only(store);
  assert.equal(s.summary.resets, 1);
  assert.equal(s.summary.rates, null);
  store.add(rec(3, 60_000, { inOctets: 31_000, outOctets: 50 }));
  s = only(store);
  assert.equal(s.summary.rates!.inOctetsPerSecond, 1000);
  assert.equal(s.points.length, 3);
  for (const p of s.points) if (p.rates) assert.ok(p.rates.inOctetsPerSecond >= 0);

  // An implausible 32-bit "wrap" on a 10 Mb/s interface: 3e9 → 1e9 in 30 s is a reset.
  const slow = new CounterStore({ now: () => T0 });
  slow.add(rec(1, 0, { ifSpeed: 10_000_000, inUcastPkts: 3e9 }));
  slow.add(rec(2, 30_000, { ifSpeed: 10_000_000, inUcastPkts: 1e9 }));
  assert.equal(only(slow).summary.resets, 1);
  assert.equal(only(slow).summary.wraps, 0);
});

test("agent restart (uptime backwards) and data source restart (sequence backwards) are resets", () => {
  const store = new CounterStore({ now: () => T0 });
  store.add(rec(1000, 9_000_000, { inOctets: 100 }));
  // Counters went UP, but the agent rebooted (uptime small): the difference means nothing.
  store.add(rec(1, 20_000, { inOctets: 5000 }));
  assert.equal(only(store).summary.resets, 1);
  assert.equal(only(store).summary.rates, null);
  store.add(rec(2, 50_000, { inOctets: 35_000 }));
  assert.equal(only(store).summary.rates!.inOctetsPerSecond, 1000);
  // Sequence back to 0 with the uptime moving on (the data source was reconfigured).
  store.add(rec(0, 80_000, { inOctets: 36_000 }));
  assert.equal(only(store).summary.resets, 2);
  assert.equal(store.snapshot().resets, 2);
});

test("duplicates and late samples are ignored and counted", () => {
  const store = new CounterStore({ now: () => T0 });
  store.add(rec(10, 100_000, { inOctets: 100 }));
  store.add(rec(11, 130_000, { inOctets: 30_100 }));
  store.add(rec(11, 130_000, { inOctets: 30_100 })); // the same datagram twice
  store.add(rec(10, 100_000, { inOctets: 100 })); // late
  const { summary, points } = only(store);
  assert.equal(points.length, 2);
  assert.equal(summary.rates!.inOctetsPerSecond, 1000);
  assert.equal(store.snapshot().duplicates, 1);
  assert.equal(store.snapshot().late, 1);
});

test("retention: old points and silent series expire", () => {
  let now = T0;
  const store = new CounterStore({ retentionSeconds: 60, now: () => now });
  for (let k = 0; k < 10; k++)
    store.add(rec(k, k * 20_000, { inOctets: k * 1000 }, { receivedMs: T0 + k * 20_000 }));
  // Last point at T0+180 s: points before T0+120 s are gone.
  const pts = only(store).points;
  assert.deepEqual(
    pts.map((p) => (p.t - T0) / 1000),
    [120, 140, 160, 180],
  );
  store.add(rec(0, 0, { inOctets: 1 }, { ifIndex: 8, receivedMs: T0 + 180_000 }));
  now = T0 + 180_000 + 61_000;
  store.sweep();
  assert.equal(store.size, 0);
  assert.equal(store.snapshot().points, 0);
  assert.equal(store.snapshot().seriesExpired, 2);
});

test("maxSeries evicts the least recently updated series, counted", () => {
  const store = new CounterStore({ maxSeries: 3, now: () => T0 });
  for (let i = 1; i <= 3; i++) store.add(rec(1, 0, {}, { ifIndex: i }));
  store.add(rec(2, 30_000, { inOctets: 30 }, { ifIndex: 1 })); // 1 is now the newest
  store.add(rec(1, 0, {}, { ifIndex: 4 })); // evicts 2
  store.add(rec(1, 0, {}, { agent: "2001:db8::1", ifIndex: 5 })); // evicts 3
  assert.equal(store.size, 3);
  assert.equal(store.snapshot().seriesEvicted, 2);
  assert.deepEqual(
    store.list().series.map((s) => `${s.agent}/${s.ifIndex}`),
    ["192.0.2.1/1", "192.0.2.1/4", "2001:db8::1/5"],
  );
  assert.equal(store.snapshot().points, 4);
  // Any spelling of the agent finds the series.
  assert.ok(store.get("2001:0db8:0:0::1", 5));
  assert.equal(store.list({ agent: "2001:db8::1" }).total, 1);
});

test("maxPoints bounds memory: the least recently updated series lose their oldest points", () => {
  const store = new CounterStore({ maxPoints: 100, now: () => T0 });
  for (let i = 0; i < 10; i++)
    for (let k = 0; k < 20; k++)
      store.add(rec(k + 1, k * 1000, { inOctets: k * 1000 }, { ifIndex: i, receivedMs: T0 + k }));
  const snap = store.snapshot();
  assert.equal(snap.points, 100);
  assert.equal(snap.pointsEvicted, 100);
  // The newest series are complete; the oldest were drained and evicted.
  assert.equal(only(store, "192.0.2.1", 9).points.length, 20);
  assert.equal(store.get("192.0.2.1", 0), undefined);
  assert.ok(snap.seriesEvicted >= 4);
  // Ring memory stays proportional to the points kept.
  let ringBytes = 0;
  for (const s of store.list({ limit: 100 }).series) ringBytes += s.points * POINT_FIELDS * 8;
  assert.ok(ringBytes <= 100 * POINT_FIELDS * 8);
});

test("Ethernet-only samples attach to an existing series, else are ignored", () => {
  const store = new CounterStore({ now: () => T0 });
  const eth = {
    alignmentErrors: 1,
    fcsErrors: 2,
    singleCollisionFrames: 0,
    multipleCollisionFrames: 0,
    sqeTestErrors: 0,
    deferredTransmissions: 0,
    lateCollisions: 0,
    excessiveCollisions: 0,
    internalMacTransmitErrors: 0,
    carrierSenseErrors: 0,
    frameTooLongs: 0,
    internalMacReceiveErrors: 0,
    symbolErrors: 3,
  };
  const bare: InterfaceCounters = { ...rec(1, 0, {}), ethernet: eth };
  delete bare.generic;
  store.add(bare);
  assert.equal(store.size, 0);
  assert.equal(store.snapshot().ignored, 1);
  store.add(rec(1, 0, {}));
  store.add({ ...bare, sequence: 2 });
  assert.deepEqual(only(store).summary.ethernet, eth);
});
