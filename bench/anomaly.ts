// `npm run bench -- anomaly [--series N] [--days D] [--seeds 1,2,3] [--per-series K]`
//
// Anomaly scores (issue 6): the labelled set of src/gen/anomaly-set.ts (per-AS
// per-minute series with daily and weekly cycles, AR(1) noise, unlabelled
// one-step outliers, and injected spikes, dips, level shifts and slow drifts)
// scored by our model (src/detect/anomaly.ts) and by the baseline (rolling
// mean ± 3σ over the previous 60 steps, src/detect/anomaly-baseline.ts) in the
// same run, on the same series, through the same event rule (2 anomalous steps
// start an event, 5 normal ones end it). Precision and recall are event-level
// with the matching rule of evaluate() (docs/detection.md): an event is a true
// positive when it starts inside [label start, label end + 1 h] of a label of
// its series; a label is found when at least one event matches it. Delay is
// in steps (minutes) from the label's start to the step that raised the event.
// Prints a table per seed and over all seeds; writes bench/results-anomaly.json.
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { runBaseline, runModel, DEFAULT_BASELINE } from "../src/detect/anomaly-baseline.js";
import {
  buildAnomalySet,
  evaluate,
  type AnomalySet,
  type DetectedEvent,
  type Evaluation,
} from "../src/gen/anomaly-set.js";

const FLAGS = ["series", "days", "seeds", "per-series"];

function flagsOf(argv: readonly string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith("--")) throw new Error(`anomaly: unexpected argument ${a}`);
    const k = a.slice(2);
    if (!FLAGS.includes(k)) throw new Error(`anomaly: unknown option --${k} (${FLAGS.join(", ")})`);
    m.set(k, argv[++i] ?? "");
  }
  return m;
}

function table(head: string[], rows: string[][]): string {
  const w = head.map((h, k) => Math.max(h.length, ...rows.map((r) => (r[k] ?? "").length)));
  const fmt = (r: string[]): string => "| " + r.map((c, k) => c.padEnd(w[k]!)).join(" | ") + " |";
  return [fmt(head), "|" + w.map((n) => "-".repeat(n + 2)).join("|") + "|", ...rows.map(fmt)].join("\n");
}

const pct = (x: number): string => (100 * x).toFixed(1) + " %";

function row(name: string, e: Evaluation): string[] {
  const k = e.byKind;
  // Found/labels and the median delay of each kind.
  const kinds = (["spike", "dip", "level shift", "drift"] as const).map(
    (x) => `${k[x].detected}/${k[x].labels} (${Number.isNaN(k[x].delayMedian) ? "–" : k[x].delayMedian})`,
  );
  return [
    name,
    pct(e.precision),
    pct(e.recall),
    `${e.truePositives}/${e.events}`,
    `${e.detected}/${e.labels}`,
    String(e.delayMedian),
    String(e.delayP90),
    ...kinds,
  ];
}

const HEAD = [
  "detector",
  "precision",
  "recall",
  "TP/events",
  "found/labels",
  "delay p50",
  "delay p90",
  "spike (p50)",
  "dip (p50)",
  "level shift (p50)",
  "drift (p50)",
];

/** Merge several sets' evaluations (sums; delays recomputed from the union of matches). */
function merge(sets: AnomalySet[], events: DetectedEvent[][]): Evaluation {
  // Re-evaluate as one set: series indices shifted per set.
  let offset = 0;
  const labels: AnomalySet["labels"] = [];
  const series: AnomalySet["series"] = [];
  const all: DetectedEvent[] = [];
  sets.forEach((s, i) => {
    labels.push(...s.labels.map((l) => ({ ...l, series: l.series + offset })));
    series.push(...s.series);
    all.push(...events[i]!.map((e) => ({ ...e, series: e.series + offset })));
    offset += s.series.length;
  });
  const s0 = sets[0]!;
  return evaluate({ ...s0, series, labels }, all);
}

export async function runAnomalyPart(
  machine: Record<string, unknown>,
  argv: readonly string[],
): Promise<void> {
  const f = flagsOf(argv);
  const nSeries = Number(f.get("series") ?? 50);
  const days = Number(f.get("days") ?? 28);
  const perSeries = Number(f.get("per-series") ?? 3);
  const seeds = (f.get("seeds") ?? "1,2,3").split(",").map(Number);
  console.log(
    `Anomaly scores: ${seeds.length} labelled set(s) of ${nSeries} per-AS series × ${days} days at 1-minute steps, ` +
      `${perSeries} anomalies per series after 8 days of history; baseline = rolling mean ± ${DEFAULT_BASELINE.k}σ over ${DEFAULT_BASELINE.window} steps`,
  );
  const sets: AnomalySet[] = [];
  const ours: DetectedEvent[][] = [];
  const base: DetectedEvent[][] = [];
  const perSeed: unknown[] = [];
  let oursMs = 0;
  let baseMs = 0;
  let points = 0;
  for (const seed of seeds) {
    const set = buildAnomalySet({ seed, series: nSeries, days, anomaliesPerSeries: perSeries });
    const t0 = performance.now();
    const o = runModel(set);
    const t1 = performance.now();
    const b = runBaseline(set);
    const t2 = performance.now();
    oursMs += t1 - t0;
    baseMs += t2 - t1;
    points += set.steps * set.series.length;
    sets.push(set);
    ours.push(o);
    base.push(b);
    const eo = evaluate(set, o);
    const eb = evaluate(set, b);
    console.log(`\nseed ${seed}\n` + table(HEAD, [row("ours", eo), row("rolling ±3σ", eb)]));
    perSeed.push({ seed, ours: eo, baseline: eb });
  }
  const eo = merge(sets, ours);
  const eb = merge(sets, base);
  console.log(`\nall seeds (${eo.labels} labels)\n` + table(HEAD, [row("ours", eo), row("rolling ±3σ", eb)]));
  console.log(
    `\nscoring speed: ours ${(((points / oursMs) * 1000) / 1e6).toFixed(2)} M points/s, baseline ${(((points / baseMs) * 1000) / 1e6).toFixed(2)} M points/s (${points} points)`,
  );
  const beats = eo.precision > eb.precision && eo.recall > eb.recall;
  console.log(
    beats ? "ours beats the baseline on precision and recall" : "WARNING: ours does not beat the baseline",
  );
  // bench/results-anomaly.json, from dist/bench/ or (under tsx) bench/.
  const here = dirname(fileURLToPath(import.meta.url));
  const out = import.meta.url.endsWith(".ts")
    ? join(here, "results-anomaly.json")
    : join(here, "..", "..", "bench", "results-anomaly.json");
  writeFileSync(
    out,
    JSON.stringify(
      {
        started: new Date().toISOString(),
        machine,
        options: { series: nSeries, days, perSeries, seeds, baseline: DEFAULT_BASELINE },
        all: { ours: eo, baseline: eb },
        perSeed,
        pointsPerSecond: { ours: (points / oursMs) * 1000, baseline: (points / baseMs) * 1000 },
      },
      null,
      2,
    ) + "\n",
  );
  console.log(`written ${out}`);
  if (!beats) process.exitCode = 1;
}
