// Value suggestions (GET /api/v1/flows/values) on a real store: two real
// captures (IPFIX with IPv4+IPv6, NetFlow v9 with destination ASes) decoded by
// FlowDecoder, receive times spread over three hours, part of them sampled,
// written by StoreWriter. Every answer is compared with a plain-JS top-N over
// the decoded flows; the HTTP route is driven through queryRoute. The
// explorer's 95th percentile (percentile.ts) over the planner's series is
// checked against DuckDB and JS computing it from the flows themselves.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import type { IncomingMessage } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { FlowQueryRunner, queryRoute } from "../../api/query.js";
import { decodeSpread, type SpreadFlow } from "../../../test/helpers/captures.js";
import { StoreWriter } from "../../store/writer.js";
import type { SqlService } from "../sql/index.js";
import { percentile95 } from "./percentile.js";
import { PlanError } from "./planner.js";
import { planValues } from "./values.js";

const UNITS = ["ipfixcol2__example_flows", "akvorado__netflow__data+templates"];
const MIN = 60_000;
const HOUR = 60 * MIN;
// Recent enough for every table's default retention (raw keeps the least).
const T0 = Math.floor((Date.now() - 6 * HOUR) / HOUR) * HOUR;
const SPAN = 3 * HOUR;

type Flow = SpreadFlow;
const flows: Flow[] = [];
const dir = mkdtempSync(join(tmpdir(), "nagare-values-"));
const w = new StoreWriter({ config: { path: join(dir, "flows.duckdb") } });
let runner: FlowQueryRunner;

before(async () => {
  await w.start();
  flows.push(...decodeSpread(UNITS, T0, SPAN, (b) => w.consume(b)));
  await w.flush();
  runner = new FlowQueryRunner(() => w.database, 10_000);
});
after(async () => {
  runner.close();
  await w.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Top `n` keys of the flows passing `keep`, by scaled bytes (ties by key), as [key, bytes]. */
function top(
  key: (f: Flow) => string | number,
  keep: (f: Flow) => boolean,
  n: number,
): [string | number, number][] {
  const m = new Map<string | number, number>();
  for (const f of flows) if (keep(f)) m.set(key(f), (m.get(key(f)) ?? 0) + f.bytes * f.scale);
  return [...m]
    .sort((a, b) => b[1] - a[1] || (typeof a[0] === "number" ? a[0] - Number(b[0]) : a[0] < b[0] ? -1 : 1))
    .slice(0, n);
}

type Answer = { status: number; body: { table?: string; rows?: unknown[][]; error?: string } };

async function get(query: string): Promise<Answer> {
  const req = { url: `/api/v1/flows/values?${query}`, headers: {} } as unknown as IncomingMessage;
  const a = await queryRoute(
    { sql: null as unknown as SqlService, flows: runner },
    "GET",
    "/api/v1/flows/values",
    req,
  );
  assert.ok(a, "route answered");
  return a as Answer;
}

test("store holds both units, some destination ASes and both address families", () => {
  assert.ok(flows.length > 3979, `${flows.length} flows`);
  assert.ok(new Set(flows.map((f) => f.dstAs)).size >= 6);
  assert.ok(flows.some((f) => f.srcAddr.includes(":")) && flows.some((f) => f.srcAddr.includes(".")));
});

test("dst_as over an unaligned range: top by scaled bytes over exactly that range", async () => {
  const s = T0 + 20 * MIN;
  const e = T0 + 2 * HOUR + 10 * MIN;
  const a = await get(`column=dst_as&start=${s}&end=${e}&limit=5`);
  assert.equal(a.status, 200, a.body.error);
  assert.notEqual(a.body.table, "flows_raw", "a rollup serves the whole hours in the range");
  const want = top(
    (f) => f.dstAs,
    (f) => f.t >= s && f.t < e,
    5,
  );
  assert.equal(want.length, 5);
  assert.deepEqual(
    a.body.rows!.map((r) => [Number(r[0]), Number(r[1])]),
    want,
  );
});

test("dst_port: prefix on the number's text", async () => {
  const s = T0 + 30 * MIN;
  const e = T0 + 90 * MIN;
  const a = await get(`column=dst_port&prefix=4&start=${s}&end=${e}`);
  assert.equal(a.status, 200, a.body.error);
  const want = top(
    (f) => f.dstPort,
    (f) => f.t >= s && f.t < e && String(f.dstPort).startsWith("4"),
    20,
  );
  assert.ok(want.length > 0, "the capture has ports starting with 4 in the range");
  assert.deepEqual(
    a.body.rows!.map((r) => [Number(r[0]), Number(r[1])]),
    want,
  );
});

test("src_addr renders addresses as text; an IPv6 prefix finds only IPv6 sources", async () => {
  const v6 = flows.find((f) => f.srcAddr.includes(":"))!.srcAddr;
  const prefix = v6.slice(0, 4);
  const a = await get(
    `column=src_addr&prefix=${encodeURIComponent(prefix)}&start=${T0}&end=${T0 + SPAN}&limit=10`,
  );
  assert.equal(a.status, 200, a.body.error);
  const want = top(
    (f) => f.srcAddr,
    (f) => f.srcAddr.startsWith(prefix),
    10,
  );
  assert.deepEqual(
    a.body.rows!.map((r) => [r[0], Number(r[1])]),
    want,
  );
  assert.ok(a.body.rows!.every((r) => String(r[0]).includes(":")));
});

test("protocol: a name prefix matches the IANA name, a digit prefix the number", async () => {
  const byName = await get(`column=protocol&prefix=tc&start=${T0}&end=${T0 + SPAN}`);
  assert.equal(byName.status, 200, byName.body.error);
  assert.deepEqual(
    byName.body.rows!.map((r) => [Number(r[0]), Number(r[1])]),
    top(
      (f) => f.protocol,
      (f) => f.protocol === 6,
      20,
    ),
  );
  const byNum = await get(`column=protocol&prefix=1&start=${T0}&end=${T0 + SPAN}`);
  assert.deepEqual(
    byNum.body.rows!.map((r) => [Number(r[0]), Number(r[1])]),
    top(
      (f) => f.protocol,
      (f) => String(f.protocol).startsWith("1"),
      20,
    ),
  );
});

test("prefix is text, not a pattern: % and quotes match nothing and reach SQL only as a parameter", async () => {
  const a = await get(
    `column=dst_as&prefix=${encodeURIComponent("%' OR 1=1 --")}&start=${T0}&end=${T0 + SPAN}`,
  );
  assert.equal(a.status, 200, a.body.error);
  assert.deepEqual(a.body.rows, []);
  const plan = planValues({ column: "dst_as", prefix: "%'x", start: T0, end: T0 + SPAN });
  assert.ok(!plan.sql.includes("%'x"));
  assert.ok(plan.params.includes("%'x"));
});

test("filter: only values of the flows it selects (and a bad filter is a 400 with its offset)", async () => {
  const proto = top(
    (f) => f.protocol,
    () => true,
    2,
  ).map(([p]) => Number(p));
  const p = proto[1]!; // the second protocol, so the unfiltered top differs
  const a = await get(
    `column=dst_port&filter=${encodeURIComponent(`proto ${p}`)}&start=${T0}&end=${T0 + SPAN}&limit=10`,
  );
  assert.equal(a.status, 200, a.body.error);
  const want = top(
    (f) => f.dstPort,
    (f) => f.protocol === p,
    10,
  );
  assert.deepEqual(
    a.body.rows!.map((r) => [Number(r[0]), Number(r[1])]),
    want,
  );
  assert.notDeepEqual(
    want,
    top(
      (f) => f.dstPort,
      () => true,
      10,
    ),
  );
  const bad = await get(
    `column=dst_port&filter=${encodeURIComponent("port 99999")}&start=${T0}&end=${T0 + SPAN}`,
  );
  assert.equal(bad.status, 400);
  assert.match(bad.body.error ?? "", /port number/);
});

test("bad requests are 400 with a message", async () => {
  for (const [q, re] of [
    [`column=nope&start=${T0}&end=${T0 + HOUR}`, /unknown column/],
    [`column=time_received&start=${T0}&end=${T0 + HOUR}`, /no value suggestions/],
    [`column=dst_as&start=${T0}&end=${T0 + HOUR}&limit=0`, /limit/],
    [`column=dst_as&end=${T0 + HOUR}`, /start is required/],
    [`column=dst_as&start=yesterday&end=${T0}`, /not epoch milliseconds/],
  ] as const) {
    const a = await get(q);
    assert.equal(a.status, 400, q);
    assert.match(a.body.error ?? "", re, q);
  }
  assert.throws(() => planValues({ column: "src_mac", start: 0, end: 1 }), PlanError);
});

/** Operators' 95th of the 5-minute average bps over [T0, T0+SPAN) of the flows passing `keep`, in JS. */
function js95(keep: (f: Flow) => boolean): number {
  const win = new Array<number>(SPAN / 300_000).fill(0);
  for (const f of flows) if (keep(f)) win[Math.floor((f.t - T0) / 300_000)]! += (f.bytes * f.scale * 8) / 300;
  win.sort((a, b) => a - b);
  return win[Math.ceil(0.95 * win.length) - 1]!;
}

test("95th percentile: 5-minute averages of the planner's series equal DuckDB and JS over the raw flows", async () => {
  const q = { start: T0, end: T0 + SPAN, resolution: "auto", metric: "bps", shape: "timeseries" } as const;
  const a = (await runner.run({ ...q, dimensions: [] })) as {
    body: { resolutionMs: number; rows: [number, number][] };
  };
  const step = a.body.resolutionMs;
  assert.ok(step < 300_000 && 300_000 % step === 0, `step ${step}`);
  const p = percentile95(
    a.body.rows.map((r) => Number(r[1])),
    a.body.rows.map((r) => Number(r[0]) / 1000),
    step,
    true,
  );
  assert.equal(p.fiveMinute, true);
  assert.equal(p.samples, SPAN / 300_000);
  // DuckDB, straight from flows_raw: every 5-minute window (empty ones 0), sorted, element ⌈0.95·n⌉.
  const sql = `WITH w AS (SELECT range AS ws FROM range(${T0}::BIGINT, ${T0 + SPAN}::BIGINT, 300000)),
    f AS (SELECT (epoch_ms(time_received) // 300000) * 300000 AS ws,
            sum(bytes::HUGEINT * greatest(sampling_rate, 1))::DOUBLE * 8 / 300 AS v FROM flows_raw GROUP BY 1)
    SELECT list_sort(list(coalesce(f.v, 0)))[ceil(0.95 * count(*))::BIGINT] FROM w LEFT JOIN f USING (ws)`;
  const duck = Number((await w.connection.runAndReadAll(sql)).getRowsJS()[0]![0]);
  const js = js95(() => true);
  assert.ok(duck > 0);
  assert.ok(Math.abs(p.value - duck) / duck < 1e-9, `${p.value} vs DuckDB ${duck}`);
  assert.ok(Math.abs(p.value - js) / js < 1e-9, `${p.value} vs JS ${js}`);

  // One series of a TopN: the largest destination AS.
  const t = (await runner.run({ ...q, dimensions: ["dst_as"], topN: 2 })) as {
    body: { columns: { name: string }[]; rows: unknown[][] };
  };
  const ci = (n: string): number => t.body.columns.findIndex((c) => c.name === n);
  const as = top(
    (f) => f.dstAs,
    () => true,
    1,
  )[0]![0];
  const rows = t.body.rows.filter((r) => r[ci("dst_as")] === as && r[ci("other")] === false);
  const ps = percentile95(
    rows.map((r) => Number(r[ci("value")])),
    rows.map((r) => Number(r[ci("time_ms")]) / 1000),
    step,
    true,
  );
  const jsAs = js95((f) => f.dstAs === as);
  assert.ok(jsAs > 0);
  assert.ok(Math.abs(ps.value - jsAs) / jsAs < 1e-9, `AS${as}: ${ps.value} vs JS ${jsAs}`);

  // Counts (not rates) and short ranges: one sample per shown bucket.
  const c = percentile95([5, 1, 9, 3], [0, 10, 20, 30], 10_000, false);
  assert.deepEqual(c, { value: 9, samples: 4, fiveMinute: false });
  const short = percentile95([1, 2, 3], [0, 60, 120], 60_000, true);
  assert.equal(short.fiveMinute, false, "under an hour: too few 5-minute windows");
});
