// Freshness histogram (receipt → COMMIT delay) and its wiring in StoreWriter.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { FlowDecoder } from "../collector/decoder.js";
import type { FlowBatch } from "../collector/batch.js";
import { parseIp } from "../collector/ip.js";
import { CollectorStats } from "../collector/stats.js";
import { RecordSink } from "../collector/types.js";
import { renderMetrics } from "../api/metrics.js";
import { readUnitDatagrams, unit } from "../../test/helpers/captures.js";
import { FreshnessWindow, ReceiveRuns } from "./freshness.js";
import { StoreWriter } from "./writer.js";

const dir = mkdtempSync(join(tmpdir(), "nagare-fresh-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Exact quantile of a sample (nearest rank), the reference for the histogram. */
function exact(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil(p * s.length) - 1)]!;
}

test("quantiles within one bucket (≤ 4.4 %) of the exact ones, max exact, window slides", () => {
  const w = new FreshnessWindow(60);
  const t0 = 1_700_000_000_000;
  // Delays spread over four decades, as a loaded store could show (lognormal-ish, seeded LCG).
  let seed = 12345;
  const rnd = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const delays: number[] = [];
  for (let i = 0; i < 20_000; i++) {
    const d = Math.round(10 ** (0.5 + 3.5 * rnd() * rnd()));
    delays.push(d);
    const commit = t0 + 500 + (i % 30) * 1000; // commits spread over 30 s
    w.add(commit - d, 1, commit);
  }
  const now = t0 + 30_000;
  const s = w.snapshot(now);
  assert.equal(s.rows, delays.length);
  assert.equal(s.maxMs, Math.max(...delays));
  for (const [p, got] of [
    [0.5, s.p50Ms],
    [0.99, s.p99Ms],
  ] as const) {
    const want = exact(delays, p);
    assert.ok(got >= want && got <= want * 1.045, `p${p * 100}: ${got} vs exact ${want}`);
  }
  // 45 s later the first 15 s of commits have left the 60 s window; 70 s later all of them.
  const later = w.snapshot(t0 + 75_000);
  assert.ok(later.rows > 0 && later.rows < delays.length, `${later.rows}`);
  assert.equal(w.snapshot(t0 + 100_000).rows, 0);
  assert.equal(w.snapshot(t0 + 100_000).p99Ms, 0);
});

test("ReceiveRuns: runs of equal receive times, counts add up", () => {
  const r = new ReceiveRuns();
  r.addColumn(new Float64Array([5, 5, 5, 7, 7, 5, 9, 0]), 7); // the 8th value is past n
  r.addColumn(new Float64Array([9, 9, 10]), 3);
  assert.deepEqual(r.times, [5, 7, 5, 9, 10]);
  assert.deepEqual(r.counts, [3, 2, 1, 3, 1]);
});

test("StoreWriter: every committed row is counted with its receipt → COMMIT delay; /metrics lines", async () => {
  const w = new StoreWriter({ config: { path: join(dir, "f.duckdb"), intervalMs: 60_000 } });
  await w.start();
  // A real capture, its receive times moved to "age" ms before now, as if the rows had waited in a queue.
  const age = 2_000;
  let rows = 0;
  const stats = new CollectorStats();
  const dec = new FlowDecoder({ stats });
  const sink = new RecordSink((b: FlowBatch) => {
    const now = Date.now();
    for (let i = 0; i < b.length; i++) b.cols.time_received[i] = now - age - (i % 3);
    rows += b.length;
    w.consume(b);
  });
  const t0 = Date.now();
  for (const d of readUnitDatagrams(unit("ipfixcol2__example_flows"))) {
    dec.decode(
      d.payload,
      { exporter: d.srcAddr, exporterIp: parseIp(d.srcAddr)!, receivedMs: d.timeMs },
      sink,
    );
  }
  sink.flush();
  assert.equal(w.freshness().rows, 0, "nothing committed yet");
  await w.flush();
  const elapsed = Date.now() - t0;
  const f = w.freshness();
  assert.equal(f.rows, rows);
  assert.equal(rows, w.rowsCommitted);
  assert.ok(f.p50Ms >= age && f.p50Ms <= (age + elapsed + 3) * 1.045, `p50 ${f.p50Ms}`);
  assert.ok(f.maxMs >= age && f.maxMs <= age + elapsed + 3, `max ${f.maxMs}`);
  assert.ok(f.p99Ms >= f.p50Ms && f.p99Ms <= f.maxMs);
  const text = renderMetrics(stats, { storeFreshness: f });
  assert.match(
    text,
    new RegExp(`^nagare_store_freshness_seconds\\{quantile="0.99"\\} ${f.p99Ms / 1000}$`, "m"),
  );
  assert.match(text, new RegExp(`^nagare_store_freshness_rows ${rows}$`, "m"));
  await w.stop();
});
