// The DOM-free half of the dashboards (web/src/dashboard-core.ts) against real
// answers: a NetFlow v5 capture sent over UDP to a running App with the store
// on, then every flow widget chart built from what /api/v1/flows/query and the
// share API answer, checked against tshark's decode of the same capture
// (expected/<unit>.jsonl); saved-query parameters mapped the way a dashboard
// maps them and run by the server; relative and absolute times resolved as the
// server resolves them.
import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { App } from "../src/app.js";
import { readCapture } from "../src/collector/capture.js";
import { validateConfig } from "../src/config/schema.js";
import { resolveDate } from "../src/content/params.js";
import { silentLogger } from "../src/log.js";
import {
  combineFilters,
  flowQueryBody,
  flowShape,
  flowToViz,
  freeSlot,
  queryParamValues,
  resolveRange,
  resolveTime,
  type FlowAnswer,
} from "../web/src/dashboard-core.js";
import type { FlowWidgetSpec } from "../web/src/types.js";
import { formatValue } from "../web/src/viz/data.js";

const CAPTURES = "/work/shared/captures";
const UNIT = "logstash__netflow5_test_microtik";

interface Flow {
  dport: number;
  proto: number;
  bytes: number;
  packets: number;
  in_if: number;
  out_if: number;
}

const flows: Flow[] = readFileSync(join(CAPTURES, "expected", `${UNIT}.jsonl`), "utf8")
  .split("\n")
  .filter((l) => l.trim())
  .map((l) => JSON.parse(l) as Flow);

function sumBy<K>(key: (f: Flow) => K, val: (f: Flow) => number = (f) => f.bytes): Map<K, number> {
  const m = new Map<K, number>();
  for (const f of flows) m.set(key(f), (m.get(key(f)) ?? 0) + val(f));
  return m;
}

test("resolveTime reads relative and absolute times as the server does", () => {
  const now = Date.UTC(2026, 10, 27, 8, 30, 0);
  for (const s of [
    "now",
    "now-15m",
    "now-6h",
    "now-7d",
    "now-2w",
    "now+5m",
    "2026-11-27T08:00:00Z",
    "2026-11-27T08:00:00",
    "2026-11-27 08:00",
    "2026-11-27T09:00:00+01:00",
  ])
    assert.equal(resolveTime(s, now), resolveDate(s, now), s);
  assert.equal(resolveTime("now-6h", now), now - 6 * 3_600_000);
  assert.ok(Number.isNaN(resolveTime("yesterday", now)));
  assert.deepEqual(resolveRange({ start: "now-1h", end: "now" }, now), { start: now - 3_600_000, end: now });
  assert.throws(() => resolveRange({ start: "now", end: "now-1h" }, now), /ends before it starts/);
  assert.throws(() => resolveRange({ start: "soon", end: "now" }, now), /bad start time "soon"/);
});

test("freeSlot finds the first place a widget overlaps nothing", () => {
  const ws = [
    { x: 0, y: 0, w: 8, h: 4 },
    { x: 8, y: 0, w: 4, h: 2 },
  ];
  assert.deepEqual(freeSlot(ws, 4, 2), { x: 8, y: 2 });
  assert.deepEqual(freeSlot(ws, 6, 4), { x: 0, y: 4 });
  assert.deepEqual(freeSlot([], 12, 3), { x: 0, y: 0 });
});

test("flow widgets chart real answers: bar, pie, table, Sankey, area; filters; share; saved-query params", async () => {
  assert.equal(flows.length, 30);
  const totalBytes = flows.reduce((s, f) => s + f.bytes, 0);
  const dir = mkdtempSync(join(tmpdir(), "nagare-dash-core-"));
  const config = validateConfig({
    dataDir: dir,
    collector: { listen: ["127.0.0.1:0"], sflowListen: ["127.0.0.1:0"] },
    http: { listen: "127.0.0.1:0" },
    demo: { enabled: false },
    store: { intervalMs: 100 },
  });
  const app = new App({ config, log: silentLogger });
  await app.start();
  const call = async <T>(method: string, path: string, body?: unknown, auth = true): Promise<T> => {
    const r = await fetch(`http://127.0.0.1:${app.http.port}${path}`, {
      method,
      headers: {
        "Content-Type": "application/json",
        ...(auth ? { Authorization: `Bearer ${app.token!.token}` } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    assert.ok(r.ok, `${method} ${path}: ${r.status} ${text}`);
    return JSON.parse(text) as T;
  };
  try {
    const sock = createSocket("udp4");
    for (const d of readCapture(join(CAPTURES, `${UNIT}.dat`)))
      await new Promise<void>((res, rej) =>
        sock.send(d.payload, app.collector.bound[0]!.port, "127.0.0.1", (e) => (e ? rej(e) : res())),
      );
    sock.close();
    const end = Date.now() + 5000;
    for (;;) {
      const r = await call<{ rows: unknown[][] }>("POST", "/api/v1/sql", {
        sql: "select count(*) from flows",
      });
      if (Number(r.rows[0]![0]) === 30) break;
      assert.ok(Date.now() < end, "the 30 flows did not reach the store");
      await new Promise((r2) => setTimeout(r2, 50));
    }

    const ctx = { range: { start: "now-1h", end: "now+5m" }, filter: "", params: {} };
    const run = (spec: FlowWidgetSpec, c = ctx): Promise<FlowAnswer> =>
      call<FlowAnswer>("POST", "/api/v1/flows/query", flowQueryBody(spec, c));

    // ---- bar: top 3 destination ports by bytes, then "other", as tshark's decode sums them
    const barSpec: FlowWidgetSpec = {
      dimensions: ["dst_port"],
      metric: "bytes",
      topN: 3,
      shape: "table",
      chart: "bar",
    };
    const bar = flowToViz(barSpec, await run(barSpec));
    assert.equal(bar.viz.type, "bar");
    assert.deepEqual(bar.viz.options, { x: "Destination port", y: ["bytes"], format: "bytes" });
    const byPort = [...sumBy((f) => f.dport).entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0]);
    const top3 = byPort.slice(0, 3);
    assert.deepEqual(bar.result.rows, [
      ...top3.map(([p, b]) => [String(p), b]),
      ["other", totalBytes - top3.reduce((s, t) => s + t[1], 0)],
    ]);

    // ---- pie: flows per protocol, by name
    const pieSpec: FlowWidgetSpec = {
      dimensions: ["protocol"],
      metric: "flows",
      topN: 10,
      shape: "table",
      chart: "pie",
    };
    const pie = flowToViz(pieSpec, await run(pieSpec));
    assert.equal(pie.viz.type, "pie");
    const byProto = sumBy(
      (f) => f.proto,
      () => 1,
    );
    assert.deepEqual(pie.result.rows, [
      ["tcp", byProto.get(6)],
      ["udp", byProto.get(17)],
    ]);

    // ---- table: interface pairs with formatted bytes, largest first
    const tblSpec: FlowWidgetSpec = {
      dimensions: ["in_if", "out_if"],
      metric: "bytes",
      topN: 50,
      shape: "table",
      chart: "table",
    };
    const tbl = flowToViz(tblSpec, await run(tblSpec));
    assert.deepEqual(
      tbl.result.columns.map((c) => c.name),
      ["Input interface", "Output interface", "bytes"],
    );
    const pairs = [...sumBy((f) => `${f.in_if}|${f.out_if}`).entries()];
    assert.equal(tbl.result.rows.length, pairs.length);
    assert.deepEqual(
      new Set(tbl.result.rows.map((r) => r.join("|"))),
      new Set(pairs.map(([k, b]) => `${k}|${formatValue(b, "bytes")}`)),
    );
    const biggest = pairs.reduce((a, b) => (b[1] > a[1] ? b : a));
    assert.equal(tbl.result.rows[0]![2], formatValue(biggest[1], "bytes"));

    // ---- Sankey: input → output interface; target nodes are distinct from sources
    const skSpec: FlowWidgetSpec = { ...tblSpec, chart: "sankey" };
    const sk = flowToViz(skSpec, await run(skSpec));
    assert.equal(sk.viz.type, "sankey");
    assert.deepEqual(
      new Set(sk.result.rows.map((r) => `${String(r[0])}|${String(r[1])}|${String(r[2])}`)),
      new Set(pairs.map(([k, b]) => `${k.split("|")[0]}|→ ${k.split("|")[1]}|${b}`)),
    );

    // ---- area over time, stacked by protocol: every byte lands in some bucket
    const areaSpec: FlowWidgetSpec = {
      dimensions: ["protocol"],
      metric: "bytes",
      topN: 5,
      shape: "timeseries",
      chart: "area",
    };
    assert.equal(flowShape(areaSpec), "timeseries");
    const areaAns = await run(areaSpec);
    const area = flowToViz(areaSpec, areaAns);
    assert.equal(area.viz.type, "area");
    assert.equal(area.viz.options.stepMs, areaAns.resolutionMs);
    assert.deepEqual(area.result.columns[0], { name: "time", type: "TIMESTAMP_MS" });
    assert.equal(
      area.result.rows.reduce((s, r) => s + Number(r[2]), 0),
      totalBytes,
    );
    assert.deepEqual(
      new Set(area.result.rows.filter((r) => Number(r[2]) > 0).map((r) => r[1])),
      new Set(["tcp", "udp"]),
    );
    // The same answer drawn as a pie (a widget saved with the timeseries shape): summed per group.
    const asPie = flowToViz({ ...areaSpec, chart: "pie" }, areaAns);
    assert.deepEqual(asPie.result.rows, [
      ["tcp", sumBy((f) => f.proto).get(6)],
      ["udp", sumBy((f) => f.proto).get(17)],
    ]);

    // ---- the dashboard filter and the widget's filter both apply
    assert.equal(combineFilters("proto tcp", " ", "dst port 443"), "(proto tcp) and (dst port 443)");
    assert.equal(combineFilters("", undefined), undefined);
    const udp = flowToViz(pieSpec, await run({ ...pieSpec, filter: "proto udp" }));
    assert.deepEqual(udp.result.rows, [["udp", 1]]);
    const none = await run({ ...pieSpec, filter: "proto udp" }, { ...ctx, filter: "proto tcp" });
    assert.equal(none.rows.length, 0);

    // ---- the same widgets through a share link give the same charts
    const dash = await call<{ id: string }>("POST", "/api/v1/dashboards", {
      name: "core test",
      timeRange: ctx.range,
      refreshSec: 0,
      params: [{ name: "p", type: "number", default: 17 }],
      filter: "",
      widgets: [
        { id: "bar", type: "flow", title: "ports", x: 0, y: 0, w: 6, h: 3, flow: barSpec },
        { id: "area", type: "flow", title: "traffic", x: 6, y: 0, w: 6, h: 3, flow: areaSpec },
      ],
    });
    const share = await call<{ token: string }>("POST", `/api/v1/dashboards/${dash.id}/share`, {});
    const viaShare = async (wid: string): Promise<FlowAnswer> =>
      call<FlowAnswer>(
        "POST",
        `/api/v1/share/${share.token}/widgets/${wid}/run`,
        { params: {}, start: ctx.range.start, end: ctx.range.end, filter: "" },
        false,
      );
    assert.deepEqual(flowToViz(barSpec, await viaShare("bar")).result, bar.result);
    assert.equal(
      flowToViz(areaSpec, await viaShare("area")).result.rows.reduce((s, r) => s + Number(r[2]), 0),
      totalBytes,
    );

    // ---- a saved query on a dashboard: its daterange follows the dashboard's time, its number a dashboard parameter
    const q = await call<{ id: string; params: { name: string; type: "daterange" | "number" }[] }>(
      "POST",
      "/api/v1/queries",
      {
        name: "flows of a protocol",
        sql: "SELECT count(*) AS n, sum(bytes) AS b FROM flows WHERE time_received >= {{ r.start }} AND time_received < {{ r.end }} AND protocol = {{ proto }}",
        params: [
          { name: "r", type: "daterange", default: { start: "now-10m", end: "now-5m" } },
          { name: "proto", type: "number", default: 1 },
        ],
      },
    );
    const values = queryParamValues(
      q.params,
      { paramMap: { proto: "p" } },
      { range: ctx.range, params: { p: 6 } },
    );
    assert.deepEqual(values, { r: ctx.range, proto: 6 });
    const res = await call<{ rows: unknown[][] }>("POST", `/api/v1/queries/${q.id}/run`, { params: values });
    assert.deepEqual(res.rows[0]!.map(Number), [byProto.get(6), sumBy((f) => f.proto).get(6)]);
    // $time.start / $time.end and an unmapped parameter (left to the query's default).
    assert.deepEqual(
      queryParamValues(
        [
          { name: "from", type: "date" },
          { name: "x", type: "text" },
        ],
        { paramMap: { from: "$time.start" } },
        { range: ctx.range, params: {} },
      ),
      { from: "now-1h" },
    );
  } finally {
    await app.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
