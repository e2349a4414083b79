// The visualizations' data logic (web/src/viz/data.ts) against results made
// the way /api/v1/sql makes them: real DuckDB queries converted with
// JsonDuckDBValueConverter (BIGINT as strings, TIMESTAMP as UTC text …),
// over the tshark decode of a real capture where flows are needed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { DuckDBInstance, JsonDuckDBValueConverter, type DuckDBConnection } from "@duckdb/node-api";
import {
  buildHeatmap,
  buildPie,
  buildScatter,
  buildSeries,
  counterValue,
  detectStep,
  formatSI,
  formatTick,
  formatTime,
  formatValue,
  guessVizType,
  isTimeColumn,
  layoutSankey,
  linkPath,
  pointRow,
  sankeyLinks,
  stack,
  timeZoneLabel,
  toMs,
  type QueryResult,
} from "../web/src/viz/data.js";

const CAPTURE = "/work/shared/captures/expected/ipfixcol2__example_flows.jsonl";

let conn: DuckDBConnection | null = null;
async function sql(text: string): Promise<QueryResult> {
  if (!conn) conn = await (await DuckDBInstance.create(":memory:")).connect();
  const r = await conn.runAndReadAll(text);
  return {
    columns: r.columnNames().map((name, i) => ({ name, type: r.columnTypes()[i]!.toString() })),
    rows: r.convertRows(JsonDuckDBValueConverter) as unknown[][],
  };
}

test("time values: DuckDB TIMESTAMP text is UTC, TIMESTAMPTZ offsets and epoch ms are honoured", async () => {
  const r = await sql(
    `SELECT TIMESTAMP '2024-03-31 00:59:59.25' AS a, TIMESTAMPTZ '2024-01-01 10:00:00+02' AS b,
            DATE '2024-01-02' AS d, epoch_ms(TIMESTAMP '2024-01-01 00:00:00') AS time_ms, 5::BIGINT AS n`,
  );
  const [row] = r.rows;
  assert.equal(toMs(row![0], r.columns[0]!.type), Date.UTC(2024, 2, 31, 0, 59, 59, 250));
  assert.equal(toMs(row![1], r.columns[1]!.type), Date.UTC(2024, 0, 1, 8, 0, 0));
  assert.equal(toMs(row![2], r.columns[2]!.type), Date.UTC(2024, 0, 2));
  assert.equal(toMs(row![3], r.columns[3]!.type), Date.UTC(2024, 0, 1));
  assert.deepEqual(
    r.columns.map(isTimeColumn),
    [true, true, true, true, false],
    "TIMESTAMP, TIMESTAMPTZ, DATE and a *_ms integer are time axes; a plain BIGINT is not",
  );
});

test("long → wide pivot over a time axis, gaps filled with 0 and never bridged", async () => {
  // One row per (minute, proto), minutes 2 and 3 missing for everything, minute 4 missing for udp.
  const r = await sql(`
    SELECT TIMESTAMP '2024-01-01 00:00:00' + INTERVAL (m) MINUTE AS t, proto, (m + 1) * mult::BIGINT AS bytes
    FROM range(0, 7) AS r(m), (VALUES ('tcp', 100), ('udp', 10)) AS p(proto, mult)
    WHERE m NOT IN (2, 3) AND NOT (m = 4 AND proto = 'udp')
    ORDER BY random()`);
  const d = buildSeries(r, { x: "t", series: "proto", y: ["bytes"] });
  assert.equal(d.xKind, "time");
  assert.equal(d.stepMs, 60_000);
  assert.equal(d.x.length, 7, "minutes 0..6 on a regular grid");
  assert.equal(d.x[0], Date.UTC(2024, 0, 1));
  assert.deepEqual(
    d.series.map((s) => s.label),
    ["tcp", "udp"],
    "largest total first",
  );
  assert.deepEqual(d.series[0]!.values, [100, 200, 0, 0, 500, 600, 700]);
  assert.deepEqual(d.series[1]!.values, [10, 20, 0, 0, 0, 60, 70]);
  assert.equal(d.series[0]!.total, 2100);
  // Without filling, the missing steps are null: uPlot breaks the line there.
  const nf = buildSeries(r, { x: "t", series: "proto", y: ["bytes"], fillGaps: false });
  assert.deepEqual(nf.series[1]!.values, [10, 20, null, null, null, 60, 70]);
  // An explicit stepMs sets the grid (it does not re-aggregate): a 30 s grid over 6 minutes has 13 points.
  const fine = buildSeries(r, { x: "t", series: "proto", y: ["bytes"], stepMs: 30_000 });
  assert.equal(fine.x.length, 13);
  assert.equal(fine.series[0]!.values[1], 0);
  // Drill-down: the point maps back to its result row; a filled gap gets a synthetic row.
  const real = pointRow(r, d, 0, 4);
  assert.equal(real.proto, "tcp");
  assert.equal(real.bytes, "500");
  assert.equal(toMs(real.t, "TIMESTAMP"), Date.UTC(2024, 0, 1, 0, 4));
  const gap = pointRow(r, d, 1, 2);
  assert.equal(gap.proto, "udp");
  assert.equal(gap.value, 0);
  assert.equal(gap.t, "2024-01-01T00:02:00.000Z");
  // Stacking: cumulative from the first series up.
  const st = stack(d.series);
  assert.deepEqual(st[1], [110, 220, 0, 0, 500, 660, 770]);
});

test("wide format: every numeric column is a series; step detection uses the smallest step", async () => {
  const r = await sql(`
    SELECT epoch_ms(TIMESTAMP '2024-01-01' + INTERVAL (s * 10) SECOND) AS time_ms, s * 2 AS packets, s * 3.5 AS bps
    FROM range(0, 30) AS r(s) WHERE s % 7 <> 3`);
  const d = buildSeries(r, {});
  assert.equal(d.xColumn, "time_ms");
  assert.deepEqual(
    d.series.map((s) => s.label),
    ["packets", "bps"],
  );
  assert.equal(d.stepMs, 10_000);
  assert.equal(d.x.length, 30);
  assert.equal(d.series[0]!.values[3], 0);
  assert.equal(d.series[1]!.values[29], 29 * 3.5);
  assert.equal(detectStep([5, 1, 3, 3, 9]), 2);
  assert.equal(detectStep([7]), 0);
});

test("many series: the smallest are summed into Other; categories keep their order", async () => {
  const r = await sql(`
    SELECT dport::VARCHAR AS port, proto, sum(bytes)::BIGINT AS bytes
    FROM read_json_auto('${CAPTURE}') WHERE kind = 'flow' GROUP BY ALL ORDER BY bytes DESC`);
  assert.ok(r.rows.length > 25, `capture gives ${r.rows.length} (port, proto) rows`);
  const total = r.rows.reduce<number>((a, row) => a + Number(row[2]), 0);
  const d = buildSeries(r, { x: "port", series: "proto", y: ["bytes"] }, 2);
  assert.equal(d.xKind, "category");
  assert.equal(d.categories[0], r.rows[0]![0], "first category = first row's port");
  const sum = d.series.reduce((a, s) => a + s.total, 0);
  assert.equal(sum, total, "pivot keeps every byte");
  const ports = buildSeries(r, { x: "proto", series: "port", y: ["bytes"] }, 5);
  assert.equal(ports.series.length, 5);
  assert.equal(ports.series[4]!.label, "Other");
  assert.equal(
    ports.series.reduce((a, s) => a + s.total, 0),
    total,
  );
});

test("pie, counter and heatmap from the capture's flows", async () => {
  const r = await sql(`
    SELECT proto, sum(bytes)::BIGINT AS bytes, count(*) AS flows FROM read_json_auto('${CAPTURE}')
    WHERE kind = 'flow' GROUP BY proto ORDER BY proto`);
  const p = buildPie(r, { value: "bytes" }, 2);
  const total = r.rows.reduce<number>((a, row) => a + Number(row[1]), 0);
  assert.equal(p.total, total);
  assert.ok(p.slices.length <= 2);
  assert.ok(p.slices[0]!.value >= (p.slices[1]?.value ?? 0));
  if (r.rows.length > 2) assert.equal(p.slices[1]!.label, "Other");
  const c = await sql(`SELECT count(*) AS flows FROM read_json_auto('${CAPTURE}') WHERE kind = 'flow'`);
  const cv = counterValue(c, {});
  assert.equal(cv.value, Number(c.rows[0]![0]));
  assert.ok(cv.value! > 100);
  const hm = await sql(`
    SELECT TIMESTAMP '2024-01-01' + INTERVAL (i % 5) HOUR AS t, CASE WHEN i % 2 = 0 THEN 'a' ELSE 'b' END AS k, 1 AS v
    FROM range(0, 20) r(i) WHERE i % 5 <> 2`);
  const h = buildHeatmap(hm, {});
  assert.equal(h.seriesColumn, "k");
  assert.equal(h.x.length, 5);
  assert.deepEqual(
    h.series.map((s) => s.values),
    [
      [2, 2, 0, 2, 2],
      [2, 2, 0, 2, 2],
    ],
  );
  assert.equal(h.max, 2);
});

test("sankey: path columns, cycles drawn two-column, bands stacked without overlap", async () => {
  const r = await sql(`
    SELECT src_as::VARCHAR AS src_as, proto::VARCHAR AS proto, dst_as::VARCHAR AS dst_as, sum(bytes)::BIGINT AS bytes
    FROM read_json_auto('${CAPTURE}') WHERE kind = 'flow' GROUP BY ALL`);
  const total = r.rows.reduce<number>((a, row) => a + Number(row[3]), 0);
  const lay = layoutSankey(sankeyLinks(r, {}), { width: 600, height: 400, maxNodesPerColumn: 6 });
  assert.equal(lay.columns, 3);
  for (let c = 0; c < 3; c++) {
    const col = lay.nodes.filter((n) => n.column === c);
    assert.ok(col.length <= 6);
    assert.equal(Math.round(col.reduce((a, n) => a + n.value, 0)), total, `column ${c} carries every byte`);
    col.sort((a, b) => a.y - b.y);
    for (let i = 1; i < col.length; i++)
      assert.ok(col[i]!.y >= col[i - 1]!.y + col[i - 1]!.h, "nodes do not overlap");
    for (const n of col) assert.ok(n.y >= 0 && n.y + n.h <= 400.0001);
  }
  // Bands leaving a node tile it exactly.
  for (let i = 0; i < lay.nodes.length; i++) {
    const out = lay.links.filter((l) => l.source === i).sort((a, b) => a.sy - b.sy);
    if (out.length === 0) continue;
    const n = lay.nodes[i]!;
    assert.ok(Math.abs(out[0]!.sy - n.y) < 1e-6);
    const last = out[out.length - 1]!;
    assert.ok(last.sy + last.width <= n.y + n.h + 1e-6, "bands stay inside their node");
    for (let k = 1; k < out.length; k++)
      assert.ok(Math.abs(out[k]!.sy - (out[k - 1]!.sy + out[k - 1]!.width)) < 1e-6);
  }
  assert.match(linkPath(lay.links[0]!, lay.nodes, 12), /^M[\d.]+,[\d.]+C/);

  // source/target naming the same ASes on both sides: a cycle → two columns, labels without the side prefix.
  const st = await sql(
    `SELECT * FROM (VALUES ('65001', '65002', 5), ('65002', '65001', 3), ('65001', '65001', 1)) t(src, dst, v)`,
  );
  const cyc = layoutSankey(sankeyLinks(st, { source: "src", target: "dst", value: "v" }), {
    width: 300,
    height: 100,
  });
  assert.equal(cyc.columns, 2);
  assert.deepEqual(
    cyc.nodes
      .filter((n) => n.column === 0)
      .map((n) => n.label)
      .sort(),
    ["65001", "65002"],
  );
  // a → b → c without cycle: three columns, longest path.
  const chain = await sql(`SELECT * FROM (VALUES ('a', 'b', 5), ('b', 'c', 4), ('a', 'c', 1)) t(s, t, v)`);
  const ch = layoutSankey(sankeyLinks(chain, { source: "s", target: "t", value: "v" }), {
    width: 300,
    height: 100,
  });
  assert.equal(ch.columns, 3);
  assert.equal(ch.nodes.find((n) => n.label === "c")!.column, 2);
  assert.equal(ch.nodes.find((n) => n.label === "b")!.value, 5);
});

test("formatting: SI units, percent as a ratio, time zone label and zoned ticks", () => {
  assert.equal(formatSI(1234567, "B"), "1.23 MB");
  assert.equal(formatSI(999), "999");
  assert.equal(formatSI(1_500_000_000, "b/s"), "1.50 Gb/s");
  assert.equal(formatValue("123456789012", "bytes"), "123 GB", "BIGINT strings are numbers");
  assert.equal(formatValue(0.256, "percent"), "25.6 %");
  assert.equal(formatValue(42), "42");
  assert.equal(formatValue(12345), "12.3 k");
  assert.equal(formatValue(null), "");
  assert.equal(timeZoneLabel(Date.UTC(2024, 0, 15), "Europe/Paris"), "Europe/Paris (UTC+01:00)");
  assert.equal(timeZoneLabel(Date.UTC(2024, 6, 15), "Europe/Paris"), "Europe/Paris (UTC+02:00)");
  assert.equal(timeZoneLabel(Date.UTC(2024, 6, 15), "UTC"), "UTC (UTC+00:00)");
  assert.equal(timeZoneLabel(Date.UTC(2024, 0, 15), "Australia/Adelaide"), "Australia/Adelaide (UTC+10:30)");
  // 23:30 UTC is 00:30 next day in Paris (winter).
  assert.match(formatTime(Date.UTC(2024, 0, 1, 23, 30), 3_600_000 * 3, "Europe/Paris"), /00:30/);
  assert.match(formatTime(Date.UTC(2024, 0, 1, 23, 30, 15), 60_000, "Europe/Paris"), /00:30:15/);
  // Ticks are as precise as their spacing: 5-minute ticks have no seconds, 10 s ticks do, daily ticks are dates.
  const t = Date.UTC(2024, 6, 1, 22, 5, 0);
  assert.equal(formatTick(t, 300_000, "Europe/Paris"), "00:05");
  assert.equal(formatTick(t, 10_000, "Europe/Paris"), "00:05:00");
  assert.doesNotMatch(formatTick(t, 86_400_000, "Europe/Paris"), /:/);
  assert.match(formatTick(t, 86_400_000, "Europe/Paris"), /2/, "July 2 in Paris (July 1 in UTC)");
});

test("guessViz defaults: time → line, one number → counter, else table", async () => {
  const ts = await sql(`SELECT TIMESTAMP '2024-01-01' + INTERVAL (i) MINUTE AS t, i AS v FROM range(3) r(i)`);
  assert.deepEqual(guessVizType(ts), { type: "line", options: { x: "t", y: ["v"] } });
  const long = await sql(
    `SELECT TIMESTAMP '2024-01-01' + INTERVAL (i) MINUTE AS t, 'x' AS k, i AS v FROM range(3) r(i)`,
  );
  assert.deepEqual(guessVizType(long), { type: "line", options: { x: "t", series: "k", y: ["v"] } });
  const one = await sql(`SELECT count(*) AS n FROM range(10)`);
  assert.equal(guessVizType(one).type, "counter");
  const tab = await sql(`SELECT 'a' AS k, 1 AS v, 2 AS w`);
  assert.equal(guessVizType(tab).type, "table");
});

test("scatter keeps every row as a point (no summing, no gap filling), sorted by x", async () => {
  const r = await sql(`
    SELECT packets, bytes, proto FROM read_json_auto('${CAPTURE}') WHERE kind = 'flow' AND packets IS NOT NULL`);
  const d = buildScatter(r, { x: "packets", y: ["bytes"], series: "proto" });
  assert.equal(d.xKind, "number");
  assert.equal(d.x.length, r.rows.length, "one x per row");
  for (let i = 1; i < d.x.length; i++) assert.ok(d.x[i]! >= d.x[i - 1]!);
  const points = d.series.reduce((a, s) => a + s.values.filter((v) => v !== null).length, 0);
  assert.equal(points, r.rows.length, "every row is exactly one point");
  const bytes = r.rows.reduce<number>((a, row) => a + Number(row[1]), 0);
  assert.equal(
    d.series.reduce((a, s) => a + s.total, 0),
    bytes,
  );
  // Each point maps back to its own row.
  const s0 = d.series[0]!;
  const i = s0.values.findIndex((v) => v !== null);
  assert.equal(Number(r.rows[s0.rows[i]!]![1]), s0.values[i]);
  assert.equal(String(r.rows[s0.rows[i]!]![2]), s0.label);
});

test("bars: a numeric x (ports) is a category in row order, not a linear axis", () => {
  const result = {
    columns: [
      { name: "dst_port", type: "USMALLINT" },
      { name: "bytes", type: "HUGEINT" },
    ],
    rows: [
      [443, "900"],
      [53, "300"],
      [8080, "100"],
    ],
  };
  const bars = buildSeries(result, { x: "dst_port", y: ["bytes"] }, 20, true);
  assert.equal(bars.xKind, "category");
  assert.deepEqual(bars.categories, ["443", "53", "8080"]);
  assert.deepEqual(bars.series[0]!.values, [900, 300, 100]);
  assert.equal(buildSeries(result, { x: "dst_port", y: ["bytes"] }).xKind, "number");
});
