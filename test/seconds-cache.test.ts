// The in-memory per-second totals (src/query/seconds.ts) against the
// statement they replace: two runners on one store written by StoreWriter
// (generated traffic, rollups closed the production way), one with the
// cache, one without; every answer must be identical, and the cache must
// really have answered (its hit count), or have declined when it should.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { FlowQueryRunner } from "../src/api/query.js";
import { writeHistory } from "../src/gen/history.js";
import type { FlowQuery, Metric } from "../src/query/planner/planner.js";
import { SecondTotals } from "../src/query/seconds.js";
import { defaultStoreConfig } from "../src/store/config.js";
import { StoreWriter } from "../src/store/writer.js";

const HOUR = 3_600_000;
// Recent enough for the cache's age rule (it answers only inside raw retention).
const END = Math.floor(Date.now() / HOUR) * HOUR - 2 * HOUR;
const START = END - 30 * HOUR;
const RETENTION = { ...defaultStoreConfig().retention, rawDays: 7 };

const dir = mkdtempSync(join(tmpdir(), "nagare-seconds-"));
const w = new StoreWriter({ config: { path: join(dir, "flows.duckdb"), retention: RETENTION } });
let plain: FlowQueryRunner;
let cached: FlowQueryRunner;
let seconds: SecondTotals;

before(async () => {
  await w.start();
  await writeHistory(w, { seed: 11, startMs: START, endMs: END, flows: 120_000, flushEveryRows: 10_000 });
  await w.flush();
  seconds = new SecondTotals({ db: () => w.database, rawDays: RETENTION.rawDays });
  w.rollupChanged.push((table, from) => {
    if (table === "*") seconds.invalidateAll();
    else if (table === "flows_1s") seconds.invalidateFrom(from);
  });
  const wm = (): ReadonlyMap<string, number> => w.rollupWatermarks();
  plain = new FlowQueryRunner(() => w.database, 60_000, RETENTION, 1, wm);
  cached = new FlowQueryRunner(() => w.database, 60_000, RETENTION, 1, wm, seconds);
});
after(async () => {
  plain.close();
  cached.close();
  await w.stop();
  rmSync(dir, { recursive: true, force: true });
});

const q = (start: number, end: number, metric: Metric, extra: Partial<FlowQuery> = {}): FlowQuery => ({
  start,
  end,
  resolution: "second",
  dimensions: [],
  metric,
  shape: "timeseries",
  ...extra,
});

async function both(query: FlowQuery): Promise<{ a: unknown; b: unknown; hit: boolean }> {
  const before = seconds.hits;
  const a = await plain.run(query);
  const b = await cached.run(query);
  assert.equal(a.status, 200, JSON.stringify(a.body));
  return { a: a.body, b: b.body, hit: seconds.hits > before };
}

test("ten-minute windows at every metric: identical to the statement, answered from memory", async () => {
  let nonzero = 0;
  for (let i = 0; i < 12; i++) {
    const start = START + Math.floor(((i * 7919) % 1700) * 60_000);
    for (const metric of ["bytes", "packets", "flows", "bps", "pps"] as const) {
      const { a, b, hit } = await both(q(start, start + 600_000, metric));
      assert.ok(hit, `window ${new Date(start).toISOString()} ${metric} came from the cache`);
      assert.deepEqual(b, a, `${metric} at ${new Date(start).toISOString()}`);
      const rows = (a as { rows: unknown[][] }).rows;
      assert.equal(rows.length, 600);
      nonzero += rows.filter((r) => Number(r[1]) > 0).length;
    }
  }
  assert.ok(nonzero > 1000, `the windows hold traffic (${nonzero} non-zero seconds)`);
  assert.ok(seconds.stats().hours >= 28, `hours loaded: ${seconds.stats().hours}`);
});

test("a window past the watermark, a filter, dimensions or the previous period go to DuckDB", async () => {
  const wm = w.rollupWatermarks().get("flows_1s")!;
  for (const query of [
    q(wm - 300_000, wm + 300_000, "bytes"),
    q(START + HOUR, START + HOUR + 600_000, "bytes", { filter: "proto udp" }),
    q(START + HOUR, START + HOUR + 600_000, "bytes", { dimensions: ["ip_version"] }),
    q(START + 2 * HOUR, START + 2 * HOUR + 600_000, "bytes", { comparePrevious: true }),
  ]) {
    const { a, b, hit } = await both(query);
    assert.equal(hit, false, JSON.stringify(query));
    assert.deepEqual(b, a);
  }
});

test("late rows in closed seconds are reloaded: answers stay identical", async () => {
  const t0 = START + 5 * HOUR;
  const before = await both(q(t0, t0 + 600_000, "bytes"));
  assert.ok(before.hit);
  // More flows received in seconds whose flows_1s buckets are already closed.
  await writeHistory(w, { seed: 12, startMs: t0, endMs: t0 + 600_000, flows: 3_000 });
  await w.flush();
  const after = await both(q(t0, t0 + 600_000, "bytes"));
  assert.ok(after.hit, "answered from the cache after the reload");
  assert.deepEqual(after.b, after.a);
  assert.notDeepEqual(after.a, before.a, "the late flows changed the series");
});
