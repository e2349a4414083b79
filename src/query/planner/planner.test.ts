// The planner on a real store: a real IPFIX capture decoded by FlowDecoder,
// its receive times spread over three hours and part of it marked sampled,
// written by StoreWriter (raw + rollups). Every planned statement is run in
// DuckDB and compared with a plain-JS computation over the decoded flows.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { DuckDBTypeId, type DuckDBConnection } from "@duckdb/node-api";
import { duckdbParams } from "../filter/index.js";
import { decodeSpread, type SpreadFlow } from "../../../test/helpers/captures.js";
import { StoreWriter } from "../../store/writer.js";
import { MACROS } from "../sql/macros.js";
import { MAX_FILL_ROWS, PlanError, fillSeries, planFlowQuery, type FlowQuery } from "./planner.js";

// 3979 IPFIX flows, IPv4 and IPv6, no AS numbers; plus a NetFlow v9 unit with six destination ASes.
const UNITS = ["ipfixcol2__example_flows", "akvorado__netflow__data+templates"];
const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2026, 0, 10); // data: T0 .. T0 + 3 h
const SPAN = 3 * HOUR;

type Flow = SpreadFlow;
const flows: Flow[] = [];
const dir = mkdtempSync(join(tmpdir(), "nagare-planner-"));
const w = new StoreWriter({ config: { path: join(dir, "flows.duckdb") } });
let conn: DuckDBConnection;

before(async () => {
  await w.start();
  flows.push(...decodeSpread(UNITS, T0, SPAN, (b) => w.consume(b)));
  await w.flush();
  conn = w.connection;
  for (const m of MACROS) await conn.run(m);
});
after(async () => {
  await w.stop();
  rmSync(dir, { recursive: true, force: true });
});

type Row = Record<string, unknown>;
/** The store's closed-until watermarks (what FlowQueryRunner passes to the planner). */
async function watermarks(): Promise<Map<string, number>> {
  const r = await conn.runAndReadAll("SELECT table_name, epoch_ms(closed_until) FROM nagare_rollup_state");
  return new Map(r.getRowsJS().map(([t, ms]) => [String(t), Number(ms)]));
}

async function run(
  q: FlowQuery,
  now: number,
  wm?: Map<string, number>,
): Promise<{ rows: Row[]; table: string; resolutionMs: number }> {
  const plan = planFlowQuery(q, now, undefined, wm ?? (await watermarks()));
  for (const v of plan.params) assert.ok(typeof v === "number" || typeof v === "bigint", "params are values");
  const b = duckdbParams(plan.params);
  const r = await conn.runAndReadAll(plan.sql, b.values, b.types);
  let rows = r.getRowObjectsJS();
  // A single series comes back unfilled; the runner fills it (FlowPlan.fill), as here.
  if (plan.fill) {
    const zero = r.columnTypes()[1]?.typeId === DuckDBTypeId.DOUBLE ? 0 : 0n;
    rows = fillSeries(
      plan.fill,
      rows,
      (x) => Number(x.time_ms),
      (t) => ({ time_ms: BigInt(t), value: zero }),
    );
  }
  return { rows, table: plan.table, resolutionMs: plan.resolutionMs };
}

/** Sum of `metric` (× sampling) per key over flows passing `keep`. */
function group(
  key: (f: Flow) => string,
  metric: (f: Flow) => number,
  keep: (f: Flow) => boolean = () => true,
): Map<string, number> {
  const m = new Map<string, number>();
  for (const f of flows) if (keep(f)) m.set(key(f), (m.get(key(f)) ?? 0) + metric(f) * f.scale);
  return m;
}
const total = (m: Map<string, number>): number => [...m.values()].reduce((a, b) => a + b, 0);
/** Top n keys by value desc (ties by key, as the SQL orders them). */
function topN(m: Map<string, number>, n: number, numeric = true): [string, number][] {
  return [...m]
    .sort((a, b) => b[1] - a[1] || (numeric ? Number(a[0]) - Number(b[0]) : a[0] < b[0] ? -1 : 1))
    .slice(0, n);
}

test("store holds the decoded unit, part of it sampled", () => {
  assert.ok(flows.length > 3979, `flows ${flows.length}`);
  assert.ok(flows.some((f) => f.scale === 100) && flows.some((f) => f.scale === 1));
  assert.ok(new Set(flows.map((f) => Math.floor(f.t / MIN))).size >= 150, "many minutes covered");
});

test("month TopN by dst_as → dst_as_1d + dst_as_1h + flows_raw; top + other = total", async () => {
  const end = T0 + DAY;
  const { rows, table } = await run(
    {
      start: end - 30 * DAY,
      end,
      resolution: "auto",
      dimensions: ["dst_as"],
      metric: "bytes",
      topN: 3,
      shape: "table",
    },
    end,
  );
  // Whole days from dst_as_1d (closed until T0), closed hours of T0's day from dst_as_1h, the rest raw.
  assert.equal(table, "dst_as_1d+dst_as_1h+flows_raw");
  const exp = group(
    (f) => String(f.dstAs),
    (f) => f.bytes,
  );
  assert.ok(exp.size > 3, `dst_as values ${exp.size}`);
  const top = topN(exp, 3);
  const got = rows.filter((r) => r.other === false).map((r) => [String(r.dst_as), Number(r.value)]);
  assert.deepEqual(got, top);
  const other = rows.filter((r) => r.other === true);
  assert.equal(other.length, 1);
  assert.equal(other[0]!.dst_as, null);
  assert.equal(Number(other[0]!.value), total(exp) - top.reduce((a, [, v]) => a + v, 0));
});

test("minute series by protocol → flows_1m + flows_raw, per-bucket sums", async () => {
  const { rows, table, resolutionMs } = await run(
    {
      start: T0,
      end: T0 + SPAN,
      resolution: "minute",
      dimensions: ["protocol"],
      metric: "packets",
      shape: "timeseries",
    },
    T0 + SPAN,
  );
  assert.equal(table, "flows_1m+flows_raw");
  assert.equal(resolutionMs, MIN);
  const exp = group(
    (f) => `${Math.floor(f.t / MIN) * MIN}|${f.protocol}`,
    (f) => f.packets,
  );
  // Zero-filled buckets aside (their own test below), the sums are the flows'.
  const got = new Map(
    rows
      .filter((r) => Number(r.value) !== 0)
      .map((r) => [`${Number(r.time_ms)}|${Number(r.protocol)}`, Number(r.value)]),
  );
  assert.deepEqual(got, exp);
});

test("time series are zero-filled: every bucket of the range for every series", async () => {
  // 10-minute buckets over the data and one empty hour after it.
  const q: FlowQuery = {
    start: T0,
    end: T0 + SPAN + HOUR,
    resolution: "minute",
    dimensions: ["protocol"],
    metric: "bytes",
    shape: "timeseries",
  };
  const { rows } = await run(q, T0 + SPAN + HOUR);
  const buckets = (SPAN + HOUR) / MIN;
  const protocols = new Set(flows.map((f) => f.protocol));
  assert.ok(protocols.size >= 2);
  assert.equal(rows.length, buckets * protocols.size);
  for (const pr of protocols) {
    const series = rows.filter((r) => Number(r.protocol) === pr).map((r) => Number(r.time_ms));
    assert.deepEqual(
      series,
      Array.from({ length: buckets }, (_, i) => T0 + i * MIN),
      `protocol ${pr}: one row per bucket, in time order`,
    );
  }
  const exp = group(
    (f) => `${Math.floor(f.t / MIN) * MIN}|${f.protocol}`,
    (f) => f.bytes,
  );
  for (const r of rows) {
    assert.equal(Number(r.value), exp.get(`${Number(r.time_ms)}|${Number(r.protocol)}`) ?? 0);
  }
  // The empty last hour is all zeros; so is a range with no flow at all, without dimensions (bps).
  assert.ok(rows.filter((r) => Number(r.time_ms) >= T0 + SPAN).every((r) => Number(r.value) === 0));
  const empty = await run(
    { ...q, start: T0 + SPAN, dimensions: [], metric: "bps", resolution: "hour" },
    T0 + SPAN + HOUR,
  );
  assert.deepEqual(
    empty.rows.map((r) => [Number(r.time_ms), Number(r.value)]),
    [[T0 + SPAN, 0]],
  );
  // TopN series, "other" included, are filled too; comparePrevious fills both periods.
  const top = await run({ ...q, resolution: "hour", topN: 1, comparePrevious: true }, T0 + SPAN + HOUR);
  const keys = new Set(top.rows.map((r) => `${String(r.period)}|${String(r.protocol)}|${String(r.other)}`));
  assert.equal(top.rows.length, keys.size * 4);
  assert.ok(keys.has("previous|null|true") && keys.has("current|null|true"));

  // Over MAX_FILL_ROWS (buckets × series) the series comes back sparse, not multiplied out.
  const fine: FlowQuery = {
    ...q,
    end: T0 + SPAN,
    resolution: "second",
    dimensions: ["src_addr", "src_port"],
  };
  const tuples = new Set(flows.map((f) => `${f.srcAddr}|${f.srcPort}`)).size;
  assert.ok((SPAN / 1000) * tuples > MAX_FILL_ROWS, `${tuples} tuples`);
  const sparse = await run(fine, T0 + SPAN);
  const perSecond = group(
    (f) => `${Math.floor(f.t / 1000) * 1000}|${f.srcAddr}|${f.srcPort}`,
    (f) => f.bytes,
  );
  assert.equal(sparse.rows.length, perSecond.size);
});

test("filter on src_port → src_port_1h + flows_raw; rate metric per range second", async () => {
  const port = topN(
    group(
      (f) => String(f.srcPort),
      () => 1,
    ),
    1,
  )[0]![0];
  const { rows, table } = await run(
    {
      start: T0,
      end: T0 + SPAN,
      resolution: "auto",
      dimensions: ["protocol"],
      filter: `src port ${port}`,
      metric: "pps",
      shape: "table",
    },
    T0 + SPAN,
  );
  assert.equal(table, "src_port_1h+flows_raw");
  const exp = group(
    (f) => String(f.protocol),
    (f) => f.packets,
    (f) => f.srcPort === Number(port),
  );
  assert.ok(exp.size >= 1);
  const got = new Map(rows.map((r) => [String(r.protocol), r.value as number]));
  assert.equal(got.size, exp.size);
  for (const [k, v] of exp) assert.ok(Math.abs(got.get(k)! - v / (SPAN / 1000)) < 1e-9, k);
});

test("dimension src_addr → flows_raw, TopN as text, bps, other", async () => {
  const { rows, table } = await run(
    {
      start: T0,
      end: T0 + SPAN,
      resolution: "hour",
      dimensions: ["src_addr"],
      metric: "bps",
      topN: 5,
      shape: "table",
    },
    T0 + SPAN,
  );
  assert.equal(table, "flows_raw");
  const exp = group(
    (f) => f.srcAddr,
    (f) => f.bytes,
  );
  const top = topN(exp, 5, false);
  const secs = SPAN / 1000;
  const got = rows.filter((r) => r.other === false);
  assert.deepEqual(
    got.map((r) => r.src_addr),
    top.map(([k]) => k),
  );
  got.forEach((r, i) => assert.ok(Math.abs((r.value as number) - (top[i]![1] * 8) / secs) < 1e-6));
  const rest = total(exp) - top.reduce((a, [, v]) => a + v, 0);
  const other = rows.find((r) => r.other === true)!;
  assert.ok(Math.abs((other.value as number) - (rest * 8) / secs) < 1e-6);
});

test("timeseries TopN: other per bucket = bucket total − top", async () => {
  const { rows, table } = await run(
    {
      start: T0,
      end: T0 + SPAN,
      resolution: "hour",
      dimensions: ["dst_as"],
      metric: "flows",
      topN: 2,
      shape: "timeseries",
    },
    T0 + SPAN,
  );
  assert.equal(table, "dst_as_1h+flows_raw");
  const perHour = group(
    (f) => String(Math.floor(f.t / HOUR) * HOUR),
    (f) => f.flows,
  );
  const top = topN(
    group(
      (f) => String(f.dstAs),
      (f) => f.flows,
    ),
    2,
  ).map(([k]) => k);
  for (const [h, tot] of perHour) {
    const inBucket = rows.filter((r) => String(r.time_ms) === h);
    const topRows = inBucket.filter((r) => r.other === false);
    for (const r of topRows) assert.ok(top.includes(String(r.dst_as)));
    const sum = inBucket.reduce((a, r) => a + Number(r.value), 0);
    assert.equal(sum, tot, `hour ${h}`);
    const exp = group(
      (f) => String(f.dstAs),
      (f) => f.flows,
      (f) => String(Math.floor(f.t / HOUR) * HOUR) === h && top.includes(String(f.dstAs)),
    );
    assert.equal(Number(inBucket.find((r) => r.other === true)?.value ?? 0), tot - total(exp));
  }
});

test("auto resolution: 300–1500 points, series sums to the total", async () => {
  const { rows, table, resolutionMs } = await run(
    { start: T0, end: T0 + SPAN, resolution: "auto", dimensions: [], metric: "bytes", shape: "timeseries" },
    T0 + SPAN,
  );
  const points = SPAN / resolutionMs;
  assert.ok(points >= 300 && points <= 1500, `points ${points}`);
  assert.equal(table, "flows_1s+flows_raw"); // 10 s buckets: from the per-second totals
  assert.equal(
    rows.reduce((a, r) => a + Number(r.value), 0),
    total(
      group(
        () => "",
        (f) => f.bytes,
      ),
    ),
  );
});

test("comparePrevious: both periods, previous shifted onto the current buckets", async () => {
  const mid = T0 + 90 * MIN;
  const { rows, table } = await run(
    {
      start: mid,
      end: T0 + SPAN,
      resolution: "minute",
      dimensions: [],
      metric: "bytes",
      shape: "timeseries",
      comparePrevious: true,
    },
    T0 + SPAN,
  );
  assert.equal(table, "flows_1m+flows_raw");
  const exp = group(
    (f) =>
      f.t >= mid
        ? `current|${Math.floor(f.t / MIN) * MIN}`
        : `previous|${Math.floor(f.t / MIN) * MIN + 90 * MIN}`,
    (f) => f.bytes,
  );
  const got = new Map(rows.map((r) => [`${String(r.period)}|${Number(r.time_ms)}`, Number(r.value)]));
  assert.deepEqual(got, exp);
  // Table shape: one total per period.
  const t = await run(
    {
      start: mid,
      end: T0 + SPAN,
      resolution: "minute",
      dimensions: [],
      metric: "bytes",
      shape: "table",
      comparePrevious: true,
    },
    T0 + SPAN,
  );
  const totals = new Map(t.rows.map((r) => [r.period, Number(r.value)]));
  assert.equal(
    totals.get("current"),
    total(
      group(
        () => "",
        (f) => f.bytes,
        (f) => f.t >= mid,
      ),
    ),
  );
  assert.equal(
    totals.get("previous"),
    total(
      group(
        () => "",
        (f) => f.bytes,
        (f) => f.t < mid,
      ),
    ),
  );
});

test("user values never reach the SQL text", () => {
  const plan = planFlowQuery(
    {
      start: T0,
      end: T0 + HOUR,
      resolution: "minute",
      dimensions: ["dst_as"],
      filter: "dst as 65123 and src net 10.99.0.0/16",
      metric: "bytes",
      topN: 777,
      shape: "table",
    },
    T0,
  );
  for (const s of ["65123", "777", String(T0), "10.99"]) assert.ok(!plan.sql.includes(s), s);
  assert.equal(plan.table, "flows_raw"); // src_addr is not in the rollups
  assert.ok(plan.params.some((v) => typeof v === "bigint" && v === 0xffff0a630000n)); // 10.99.0.0 mapped
});

test("errors", () => {
  const base: FlowQuery = {
    start: T0,
    end: T0 + HOUR,
    resolution: "minute",
    dimensions: [],
    metric: "bytes",
    shape: "table",
  };
  const code = (q: Partial<FlowQuery>, c: string, now = T0 + HOUR): void =>
    assert.throws(
      () => planFlowQuery({ ...base, ...q } as FlowQuery, now),
      (e: unknown) => e instanceof PlanError && e.code === c && e.message.length > 10,
      c,
    );
  code({ dimensions: ["nope"] }, "unknown_dimension");
  code({ dimensions: ["time_received"] }, "unknown_dimension");
  code({ metric: "bits" as never }, "unknown_metric");
  code({ end: T0 }, "bad_range");
  code({ start: "yesterday" }, "bad_range");
  code({ resolution: "week" as never }, "bad_resolution");
  code({ topN: 0, dimensions: ["dst_as"] }, "bad_topn");
  // Seconds 30 days ago: raw keeps 7 days.
  code({ resolution: "second" }, "too_fine", T0 + 30 * DAY);
  // Minutes 100 days ago: flows_1m keeps 90 days; hours still answer (from a closed flows_1h).
  code({}, "too_fine", T0 + 100 * DAY);
  const wm = new Map([
    ["flows_1h", T0 + DAY],
    ["flows_1m", T0 + HOUR],
    ["dst_port_1h", T0 + DAY],
  ]);
  assert.equal(
    planFlowQuery({ ...base, resolution: "hour" }, T0 + 100 * DAY, undefined, wm).table,
    "flows_1h",
  );
  // Nothing closed yet (no watermark): the same question needs raw, gone after 7 days.
  code({ resolution: "hour" }, "too_fine", T0 + 100 * DAY);
  // A port filter is answered by dst_port_1h; a source net needs raw: refused once raw is gone.
  assert.equal(
    planFlowQuery({ ...base, resolution: "hour", filter: "dst port 443" }, T0 + 30 * DAY, undefined, wm)
      .table,
    "dst_port_1h",
  );
  code({ resolution: "hour", filter: "src net 10.0.0.0/8" }, "too_fine", T0 + 30 * DAY);
  assert.equal(
    planFlowQuery({ ...base, start: "2026-01-10T00:00:00Z" }, T0 + HOUR, undefined, wm).table,
    "flows_1m",
  );
});

test("day resolution from flows_1h (flows_1d not closed yet), range widened to whole days, ISO times", async () => {
  const { rows, table, resolutionMs } = await run(
    {
      start: new Date(T0 + HOUR).toISOString(),
      end: new Date(T0 + 2 * HOUR).toISOString(),
      resolution: "day",
      dimensions: ["exporter_address"],
      metric: "bytes",
      shape: "timeseries",
    },
    T0 + DAY,
  );
  assert.equal(table, "flows_1h+flows_raw");
  assert.equal(resolutionMs, DAY);
  assert.deepEqual(
    rows.map((r) => Number(r.time_ms)),
    rows.map(() => T0),
  );
  assert.ok(rows.every((r) => typeof r.exporter_address === "string" && r.exporter_address !== ""));
  assert.equal(
    rows.reduce((a, r) => a + Number(r.value), 0),
    total(
      group(
        () => "",
        (f) => f.bytes,
      ),
    ),
  );
});

test("tiers change nothing: every question answered through the rollups equals flows_raw alone", async () => {
  const none = new Map<string, number>();
  const qs: FlowQuery[] = [
    {
      start: T0 - DAY,
      end: T0 + DAY,
      resolution: "auto",
      dimensions: ["dst_as"],
      metric: "bytes",
      shape: "table",
      topN: 5,
    },
    {
      start: T0 + 7 * MIN + 3,
      end: T0 + SPAN - 1000,
      resolution: "auto",
      dimensions: ["protocol", "dst_port"],
      metric: "packets",
      shape: "table",
    },
    {
      start: T0,
      end: T0 + SPAN,
      resolution: "minute",
      dimensions: ["exporter_address"],
      metric: "flows",
      shape: "timeseries",
    },
    {
      start: T0,
      end: T0 + SPAN,
      resolution: "hour",
      dimensions: ["src_port"],
      filter: "proto udp",
      metric: "bytes",
      shape: "timeseries",
      topN: 3,
    },
    {
      start: T0 + 61 * MIN,
      end: T0 + SPAN,
      resolution: "auto",
      dimensions: ["exporter_address", "in_if"],
      metric: "bps",
      shape: "table",
      comparePrevious: true,
    },
    // Per-second series (flows_1s), not aligned to a second at either end, and by IP version with a filter on it.
    {
      start: T0 + 20 * MIN + 250,
      end: T0 + 30 * MIN + 999,
      resolution: "second",
      dimensions: [],
      metric: "bytes",
      shape: "timeseries",
    },
    {
      start: T0,
      end: T0 + SPAN,
      resolution: "auto",
      dimensions: ["ip_version"],
      filter: "ipv6",
      metric: "pps",
      shape: "timeseries",
    },
    {
      start: T0 - DAY,
      end: T0 + 2 * DAY,
      resolution: "auto",
      dimensions: ["dst_addr"],
      metric: "bytes",
      shape: "table",
      topN: 10,
    },
  ];
  for (const q of qs) {
    const a = await run(q, T0 + 2 * DAY);
    const b = await run(q, T0 + 2 * DAY, none);
    assert.equal(b.table, "flows_raw");
    assert.notEqual(a.table, "flows_raw", `${q.dimensions.join(",")} uses a rollup`);
    const text = (rows: Row[]): string[] =>
      rows.map((r) => JSON.stringify(r, (_, v: unknown) => (typeof v === "bigint" ? String(v) : v))).sort();
    assert.deepEqual(text(a.rows), text(b.rows), `${q.dimensions.join(",")} via ${a.table}`);
  }
});

test("table shape older than raw keeps: the start is widened to the bucket of the rollup that holds it", () => {
  const wm = new Map([
    ["dst_as_1h", T0 + 19 * DAY + 5 * HOUR],
    ["dst_as_1d", T0 + 19 * DAY],
  ]);
  const q: FlowQuery = {
    start: T0 + 90 * MIN + 5,
    end: T0 + 20 * DAY,
    resolution: "auto",
    dimensions: ["dst_as"],
    metric: "bytes",
    shape: "table",
  };
  const plan = planFlowQuery(q, T0 + 20 * DAY, undefined, wm);
  assert.equal(plan.startMs, T0 + 1 * HOUR, "widened down to the hour dst_as_1h holds");
  assert.equal(plan.endMs, T0 + 20 * DAY);
  assert.equal(plan.table, "dst_as_1d+dst_as_1h+flows_raw");
});
