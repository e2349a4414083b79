// The labelled anomaly set (src/gen/anomaly-set.ts): our model against the
// rolling mean ± 3σ baseline on the same series in the same run, with the
// event matching rule of evaluate(). Ours must beat the baseline on both
// precision and recall (issue 6 acceptance). A smaller set than the bench
// (bench/anomaly.ts), fixed seed, a few seconds.
import assert from "node:assert/strict";
import test from "node:test";
import { runBaseline, runModel } from "../src/detect/anomaly-baseline.js";
import { buildAnomalySet, evaluate } from "../src/gen/anomaly-set.js";

test("labelled set: the model beats rolling mean ± 3σ on precision and recall", () => {
  const set = buildAnomalySet({ seed: 42, series: 10, days: 21, anomaliesPerSeries: 3 });
  // The set is what it says: labels of each kind, after the history period, sorted per series.
  assert.equal(set.labels.length, 30);
  assert.ok(set.labels.every((l) => l.startMs >= set.evalStartMs && l.endMs > l.startMs));
  assert.equal(new Set(set.labels.map((l) => l.kind)).size, 4, "all four kinds present");
  assert.equal(set.series.length, 10);
  assert.equal(set.series[0]!.values.length, 21 * 1440);

  const ours = evaluate(set, runModel(set));
  const base = evaluate(set, runBaseline(set));
  const show = (e: typeof ours): string =>
    `P=${e.precision.toFixed(3)} R=${e.recall.toFixed(3)} events=${e.events} tp=${e.truePositives} delay p50=${e.delayMedian} p90=${e.delayP90}`;
  console.log(`ours     ${show(ours)}\nbaseline ${show(base)}`);
  assert.ok(ours.precision > base.precision, `precision ${show(ours)} vs ${show(base)}`);
  assert.ok(ours.recall > base.recall, `recall ${show(ours)} vs ${show(base)}`);
  // And in absolute terms: most anomalies found, few false alarms, spikes/dips within 2 steps (median).
  assert.ok(ours.recall >= 0.85, show(ours));
  assert.ok(ours.precision >= 0.75, show(ours));
  assert.ok(ours.delayMedian <= 3, show(ours));
});

test("labelled set is deterministic for a seed", () => {
  const a = buildAnomalySet({ seed: 7, series: 3, days: 10, historyDays: 4, anomaliesPerSeries: 1 });
  const b = buildAnomalySet({ seed: 7, series: 3, days: 10, historyDays: 4, anomaliesPerSeries: 1 });
  assert.deepEqual(a.labels, b.labels);
  assert.deepEqual(a.series[2]!.values, b.series[2]!.values);
  const c = buildAnomalySet({ seed: 8, series: 3, days: 10, historyDays: 4, anomaliesPerSeries: 1 });
  assert.notDeepEqual(a.series[0]!.values, c.series[0]!.values);
});
