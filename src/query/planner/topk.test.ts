// The threshold TopN (./topk.ts) on a real store: five and a half days of
// generated traffic (src/gen/history.ts: Zipf destinations, 30 % IPv6)
// written by StoreWriter, so dst_addr_1d and its per-day top-K lists are
// built the way production builds them (day closes, late rows). Every
// answer is compared with the same question answered from flows_raw alone.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { DuckDBConnection } from "@duckdb/node-api";
import { FlowQueryRunner } from "../../api/query.js";
import { writeHistory } from "../../gen/history.js";
import { defaultStoreConfig } from "../../store/config.js";
import { TOPK_K, TOPK_TABLES } from "../../store/rollups.js";
import { StoreWriter } from "../../store/writer.js";
import { duckdbParams } from "../filter/index.js";
import { MACROS } from "../sql/macros.js";
import { planFlowQuery, type FlowQuery } from "./planner.js";
import type { TopKPairs } from "./topk.js";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const D0 = Date.UTC(2026, 2, 2);
// Not day-aligned on either side: the edges come from flows_raw.
const START = D0 - 7 * HOUR;
const END = D0 + 5 * DAY + 5 * HOUR;
const NOW = END + HOUR;
const RETENTION = { ...defaultStoreConfig().retention, rawDays: 10_000 };

const dir = mkdtempSync(join(tmpdir(), "nagare-topk-"));
const w = new StoreWriter({ config: { path: join(dir, "flows.duckdb"), retention: RETENTION } });
let conn: DuckDBConnection;
let runner: FlowQueryRunner;

before(async () => {
  await w.start();
  await writeHistory(w, { seed: 7, startMs: START, endMs: END, flows: 150_000, flushEveryRows: 10_000 });
  await w.flush();
  conn = w.connection;
  for (const m of MACROS) await conn.run(m);
  runner = new FlowQueryRunner(() => w.database, 60_000, RETENTION);
});
after(async () => {
  runner.close();
  await w.stop();
  rmSync(dir, { recursive: true, force: true });
});

type Row = unknown[];
async function watermarks(): Promise<Map<string, number>> {
  const r = await conn.runAndReadAll("SELECT table_name, epoch_ms(closed_until) FROM nagare_rollup_state");
  return new Map(r.getRowsJS().map(([t, ms]) => [String(t), Number(ms)]));
}
async function rows(sql: string, params: unknown[]): Promise<Row[]> {
  const b = duckdbParams(params);
  return (await conn.runAndReadAll(sql, b.values, b.types)).getRowsJS();
}
const text = (rs: Row[]): string =>
  JSON.stringify(rs.map((r) => r.map((v) => (typeof v === "bigint" ? String(v) : v))));

function query(n: number, metric: FlowQuery["metric"], start = START, end = END): FlowQuery {
  return { start, end, resolution: "auto", dimensions: ["dst_addr"], metric, topN: n, shape: "table" };
}

/** The raw-only answer (no watermarks: no rollup is read). */
async function rawOnly(q: FlowQuery): Promise<Row[]> {
  const p = planFlowQuery(q, NOW, RETENTION, new Map());
  assert.equal(p.table, "flows_raw");
  assert.equal(p.fast, undefined);
  return rows(p.sql, p.params);
}

/** Which path the runner takes for q: "direct" (first statement), "pairs" (after reading missing pairs) or "fallback". */
async function fastPath(q: FlowQuery): Promise<{ path: string; rows: Row[]; pairs: number }> {
  const p = planFlowQuery(q, NOW, RETENTION, await watermarks());
  assert.ok(p.fast, "the threshold plan is offered");
  assert.equal(p.table, "dst_addr_1d+flows_raw");
  const a = p.fast.answer();
  const first = await rows(a.sql, a.params);
  if (first.length) return { path: "direct", rows: first, pairs: 0 };
  const m = await rows(p.fast.missing.sql, p.fast.missing.params);
  if (m.length === 0 || m.length > p.fast.maxPairs)
    return { path: "fallback", rows: await rows(p.sql, p.params), pairs: m.length };
  const pairs = new Map<number, bigint[]>();
  for (const [d, k] of m) pairs.set(Number(d), [...(pairs.get(Number(d)) ?? []), BigInt(String(k))]);
  const b = p.fast.answer(pairs as TopKPairs);
  const second = await rows(b.sql, b.params);
  assert.ok(second.length > 0, "the answer with the missing pairs read is exact");
  return { path: "pairs", rows: second, pairs: m.length };
}

test("the lists: K per closed day and metric, bound = the K-th value, totals = the day's sums", async () => {
  const t = TOPK_TABLES[0]!;
  const days = await rows(
    `SELECT epoch_ms(bucket), count(DISTINCT dst_addr), sum(bytes) FROM ${t.source} GROUP BY 1 ORDER BY 1`,
    [],
  );
  assert.equal(days.length, 6, "six closed days, the partial first one included (the open last one is not)");
  for (const [day, n, bytes] of days) {
    assert.ok(Number(n) > TOPK_K, `day ${String(day)} has more than K addresses (${String(n)})`);
    const b = await rows(
      `SELECT bound, total, keys FROM ${t.bound} WHERE bucket = epoch_ms(?::BIGINT) AND metric = 'bytes'`,
      [Number(day)],
    );
    // Independent: the K-th largest per-address sum of the day.
    const kth = await rows(
      `SELECT v FROM (SELECT sum(bytes) v FROM ${t.source} WHERE bucket = epoch_ms(?::BIGINT) GROUP BY dst_addr) ORDER BY v DESC LIMIT 1 OFFSET ${TOPK_K - 1}`,
      [Number(day)],
    );
    assert.deepEqual(text(b), text([[kth[0]![0], bytes, n]]));
  }
});

test("month-style TopN by address (not day-aligned): the threshold answer equals flows_raw alone", async () => {
  const paths = new Set<string>();
  for (const metric of ["bytes", "packets", "flows", "bps"] as const) {
    const q = query(10, metric);
    const f = await fastPath(q);
    paths.add(f.path);
    const raw = await rawOnly(q);
    assert.equal(text(f.rows), text(raw), `${metric} via ${f.path}`);
    assert.equal(f.rows.length, 11, "10 + other");
    // And through the runner (the path the API and the benchmark take).
    const r = await runner.run(q);
    const body = r.body as { rows: unknown[][] };
    assert.equal(
      JSON.stringify(body.rows.map((x) => x.map(String))),
      JSON.stringify(raw.map((x) => x.map(String))),
    );
  }
  assert.ok(paths.has("direct"), `the lists alone answer (paths: ${[...paths].join(",")})`);
});

test("IPv6 targets are ranked like IPv4 ones", async () => {
  const q = query(40, "bytes");
  const f = await fastPath(q);
  assert.notEqual(f.path, "fallback");
  assert.ok(
    f.rows.some((r) => String(r[0]).includes(":")),
    "an IPv6 address in the top 40",
  );
  assert.equal(text(f.rows), text(await rawOnly(q)));
});

test("every path: direct, missing pairs read, bound fails → full plan; all equal flows_raw alone", async () => {
  const seen = new Map<string, number>();
  for (const n of [1, 3, 10, 25, 60, 150, 400, 999]) {
    for (const metric of ["bytes", "flows"] as const) {
      const q = query(n, metric, START + 3 * HOUR, END - 2 * HOUR);
      const f = await fastPath(q);
      seen.set(f.path, (seen.get(f.path) ?? 0) + 1);
      assert.equal(text(f.rows), text(await rawOnly(q)), `top ${n} ${metric} via ${f.path}`);
    }
  }
  for (const p of ["direct", "pairs", "fallback"]) assert.ok(seen.has(p), `path ${p} taken (${[...seen]})`);
});

test("ties: flows are small integers, the N-th place is shared; ranked by address like the full plan", async () => {
  const q = query(30, "flows");
  const raw = await rawOnly(q);
  const vals = raw.slice(0, 30).map((r) => String(r[2]));
  assert.ok(new Set(vals).size < vals.length, "ties among the top 30");
  const f = await fastPath(q);
  assert.equal(text(f.rows), text(raw));
});

test("edges inside closed days are bounded by their lists and probed for the candidates only", async () => {
  // Both edges in closed days (D0 − 1 and D0 + 3): no edge is grouped.
  const q = query(10, "bytes", START, D0 + 3 * DAY + 5 * HOUR);
  const p = planFlowQuery(q, NOW, RETENTION, await watermarks());
  const sql = p.fast!.answer().sql;
  assert.match(sql, /IN \(SELECT a FROM cand\)/);
  assert.match(sql, /e AS \(SELECT NULL::UHUGEINT AS a, NULL::HUGEINT AS e WHERE false\)/, "no exact edge");
  const f = await fastPath(q);
  assert.equal(f.path, "direct");
  assert.equal(text(f.rows), text(await rawOnly(q)));
  // The month-style range: the start edge bounded, the end edge (open day) exact.
  const m = planFlowQuery(query(10, "bytes"), NOW, RETENTION, await watermarks()).fast!.answer().sql;
  assert.match(m, /IN \(SELECT a FROM cand\)/);
  assert.match(m, /e AS MATERIALIZED/);
});

test("day-aligned range (no edge) and a range inside one day", async () => {
  for (const q of [query(10, "bytes", D0, D0 + 3 * DAY), query(10, "bytes", D0 + HOUR, D0 + 5 * HOUR)]) {
    const p = planFlowQuery(q, NOW, RETENTION, await watermarks());
    const r = await runner.run(q);
    assert.equal(
      JSON.stringify((r.body as { rows: unknown[][] }).rows.map((x) => x.map(String))),
      JSON.stringify((await rawOnly(q)).map((x) => x.map(String))),
      p.table,
    );
  }
});

test("late rows into a closed day recompute its lists; answers stay equal to flows_raw alone", async () => {
  // More traffic into day 2 (closed): its lists and bound must follow.
  await writeHistory(w, { seed: 99, startMs: D0 + DAY + HOUR, endMs: D0 + DAY + 9 * HOUR, flows: 20_000 });
  await w.flush();
  for (const metric of ["bytes", "packets"] as const) {
    const q = query(10, metric);
    const f = await fastPath(q);
    assert.equal(text(f.rows), text(await rawOnly(q)), `${metric} via ${f.path}`);
  }
  const t = TOPK_TABLES[0]!;
  const b = await rows(
    `SELECT total FROM ${t.bound} WHERE bucket = epoch_ms(?::BIGINT) AND metric = 'flows'`,
    [D0 + DAY],
  );
  const s = await rows(`SELECT sum(flows) FROM ${t.source} WHERE bucket = epoch_ms(?::BIGINT)`, [D0 + DAY]);
  assert.equal(String(b[0]![0]), String(s[0]![0]));
});
