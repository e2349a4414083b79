// AnomalyService end to end in simulated time: FlowBatches (sampled, two
// exporters, three ASes) go to a real StoreWriter (DuckDB file in a temp dir)
// and to the service; a ×6 spike on one destination AS becomes an
// anomaly_started / anomaly_ended pair on the DetectEvents hub; the scores
// are read back through the SQL sandbox (view anomaly_scores) and line up
// with the flows of the same minutes; the HTTP routes answer; a restart
// restores the models from the state file instead of relearning.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { DuckDBInstance } from "@duckdb/node-api";
import { FlowBatch } from "../src/collector/batch.js";
import { putIpv4 } from "../src/collector/ip.js";
import { AnomalyRoutes } from "../src/detect/anomaly-routes.js";
import { AnomalyService, STATE_FILE } from "../src/detect/anomaly-service.js";
import { DetectEvents, type DetectEvent } from "../src/detect/types.js";
import { Rng } from "../src/gen/model.js";
import { SqlService } from "../src/query/sql/index.js";
import { StoreWriter } from "../src/store/index.js";
import type { Principal } from "../src/api/auth.js";

const MIN = 60_000;
const dir = mkdtempSync(join(tmpdir(), "nagare-anomaly-"));
const writer = new StoreWriter({ config: { path: join(dir, "flows.duckdb"), intervalMs: 1000 } });
const sql = new SqlService(() => writer.database, { timeoutMs: 10_000, maxRows: 10_000 });
const hub = new DetectEvents();
const seen: DetectEvent[] = [];
hub.on((e) => seen.push(e));
// Simulated time: 26 hours ending about now (the store's retention works on real time).
const HOURS = 26;
const T0 = Math.floor(Date.now() / 3_600_000) * 3_600_000 - HOURS * 3_600_000;
const SPIKE_AT = T0 + 25 * 3_600_000; // 10 minutes of ×6 towards AS 15169 (via exporter 192.0.2.2)
const SPIKE_MIN = 10;
const SAMPLING = 100;
// Defaults: one-minute steps, scores after 24 hours of history.
const config = { stepSeconds: 60 };
let svc: AnomalyService;

/** One simulated minute of flows: AS 15169, 13335, 2906 towards us, through two exporters. */
function minute(t: number, rng: Rng): FlowBatch {
  const b = new FlowBatch(512);
  const c = b.cols;
  const spike = t >= SPIKE_AT && t < SPIKE_AT + SPIKE_MIN * MIN;
  const ases = [15169, 13335, 2906];
  for (let k = 0; k < 90; k++) {
    const as = ases[k % 3]!;
    const reps = spike && as === 15169 ? 6 : 1;
    for (let j = 0; j < reps; j++) {
      const r = b.length;
      c.time_received[r] = t + Math.floor(((k * reps + j) / (90 * reps)) * MIN);
      c.bytes[r] = Math.round(1500 * 20 * (1 + 0.1 * (rng.next() - 0.5)));
      c.packets[r] = 20;
      c.flows[r] = 1;
      c.sampling_rate[r] = SAMPLING;
      c.src_as[r] = as;
      c.dst_as[r] = 64500;
      putIpv4(c.exporter_address, r * 16, k % 2 === 0 ? 0xc0000201 : 0xc0000202);
      c.in_if[r] = as === 15169 ? 3 : 7;
      c.protocol[r] = 6;
      b.length++;
    }
  }
  // Sorted by time, as a collector delivers them.
  return b;
}

async function feed(service: AnomalyService, from: number, to: number, rng: Rng): Promise<void> {
  for (let t = from; t < to; t += MIN) {
    const b = minute(t, rng);
    writer.consume(b);
    service.consume(b);
    service.advance(t + MIN);
  }
  await service.flush();
}

before(async () => {
  await writer.start();
  svc = new AnomalyService({ config, events: hub, db: () => writer.database, dataDir: dir, timer: false });
  await svc.start();
  await feed(svc, T0, T0 + HOURS * 3_600_000, new Rng(3));
  await writer.flush();
  await sql.start();
});

after(async () => {
  await sql.stop();
  await writer.stop();
  rmSync(dir, { recursive: true, force: true });
});

test("the spike on AS 15169 is an event on src_as, its exporter and interface, and total; nothing else", () => {
  const started = seen
    .filter((e) => e.type === "anomaly_started")
    .map((e) => e.type === "anomaly_started" && e.event);
  const ended = seen
    .filter((e) => e.type === "anomaly_ended")
    .map((e) => e.type === "anomaly_ended" && e.event);
  const names = started.map((e) => e && `${e.series}:${e.key}:${e.kind}`).sort();
  // Exporter 192.0.2.1/.2 each carry half of every AS; total and both exporters see ×(1 + 5/3) = ×2.67;
  // every flow goes to AS 64500, so dst_as 64500 is the total too.
  assert.deepEqual(names, [
    "dst_as:64500:spike",
    "exporter:192.0.2.1:spike",
    "exporter:192.0.2.2:spike",
    "interface:192.0.2.1/3:spike",
    "interface:192.0.2.2/3:spike",
    "src_as:15169:spike",
    "total::spike",
  ]);
  for (const e of started) {
    assert.ok(e);
    assert.equal(e.startMs, SPIKE_AT, `${e.series}:${e.key} starts with the spike`);
  }
  assert.equal(ended.length, started.length, "every event ended");
  for (const e of ended) assert.ok(e && e.endMs === SPIKE_AT + SPIKE_MIN * MIN, JSON.stringify(e));
  const api = svc.listEvents({ series: "src_as", key: "15169" });
  assert.equal(api.length, 1);
  assert.equal(api[0]!.endMs, SPIKE_AT + SPIKE_MIN * MIN);
});

test("anomaly_scores through the SQL sandbox: one row per series per scored step, values = the flows' bps", async () => {
  // Series: total, 3 src ASes, 1 dst AS, 2 exporters, 4 interfaces = 11; the first (partial) minute is not scored.
  const n = await sql.query(
    "SELECT count(DISTINCT (series, key)) AS s, count(*) AS n, min(time) AS first FROM anomaly_scores",
  );
  assert.equal(Number(n.rows[0]![0]), 11);
  assert.equal(Number(n.rows[0]![1]), 11 * (HOURS * 60 - 1));
  // The total series equals sum(bytes × sampling) × 8 / 60 of the flows of that minute.
  const cmp = await sql.query(`
    WITH f AS (SELECT time_bucket(INTERVAL 1 minute, time_received::TIMESTAMP) AS m,
                      sum(bytes * greatest(sampling_rate, 1)) * 8 / 60 AS bps
               FROM flows GROUP BY m)
    SELECT count(*) AS n, max(abs(a.value - f.bps) / f.bps) AS err
    FROM anomaly_scores a JOIN f ON f.m = a.time::TIMESTAMP WHERE a.series = 'total'`);
  assert.equal(Number(cmp.rows[0]![0]), HOURS * 60 - 1);
  assert.ok(Number(cmp.rows[0]![1]) < 1e-9, `relative error ${String(cmp.rows[0]![1])}`);
  // The spike minutes score ≥ 1 on src_as 15169; the hour before it stays at 0.
  const spike = await sql.query(`
    SELECT count(*) FILTER (WHERE score >= 1), count(*) FILTER (WHERE score > 0 AND time < epoch_ms(${SPIKE_AT}::BIGINT))
    FROM anomaly_scores WHERE series = 'src_as' AND key = '15169' AND time >= epoch_ms(${SPIKE_AT - 3_600_000}::BIGINT)`);
  assert.equal(Number(spike.rows[0]![0]), SPIKE_MIN);
  assert.equal(Number(spike.rows[0]![1]), 0);
  // Before minHistoryHours the score is 0 everywhere.
  const warm = await sql.query(
    `SELECT max(score) FROM anomaly_scores WHERE time < epoch_ms(${T0 + 24 * 3_600_000 - MIN}::BIGINT)`,
  );
  assert.equal(Number(warm.rows[0]![0]), 0);
  // Read-only: the sandbox refuses writes to it.
  await assert.rejects(sql.query("DELETE FROM anomaly_scores"), /refused|read-only|delete from base table/i);
  await assert.rejects(sql.query("INSERT INTO anomaly_scores VALUES (now(), 'total', '', 1, 1, 9)"));
});

test("HTTP routes: events, series, top", async () => {
  const routes = new AnomalyRoutes(svc, () => T0 + HOURS * 3_600_000);
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    if (!routes.handles(url.pathname)) {
      res.writeHead(404).end();
      return;
    }
    void routes.handle(
      { user: "t", role: "viewer" } as unknown as Principal,
      req.method ?? "GET",
      url,
      req,
      res,
    );
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const evs = (await (await fetch(`${base}/api/v1/anomalies?series=src_as&key=15169`)).json()) as {
      kind: string;
    }[];
    assert.equal(evs.length, 1);
    assert.equal(evs[0]!.kind, "spike");
    const s = (await (
      await fetch(
        `${base}/api/v1/anomalies/series?series=src_as&key=15169&start=${SPIKE_AT - 5 * MIN}&end=${SPIKE_AT + 15 * MIN}`,
      )
    ).json()) as { stepMs: number; points: { t: number; value: number; expected: number; score: number }[] };
    assert.equal(s.stepMs, MIN);
    assert.equal(s.points.length, 20);
    assert.equal(s.points[0]!.t, SPIKE_AT - 5 * MIN);
    const inSpike = s.points.filter((p) => p.t >= SPIKE_AT && p.t < SPIKE_AT + SPIKE_MIN * MIN);
    for (const p of inSpike) {
      assert.ok(p.score >= 1);
      assert.ok(
        p.value / p.expected > 4 && p.value / p.expected < 8,
        `value/expected ${p.value / p.expected}`,
      );
    }
    const top = (await (
      await fetch(
        `${base}/api/v1/anomalies/top?start=${SPIKE_AT - 3_600_000}&end=${SPIKE_AT + 3_600_000}&limit=3`,
      )
    ).json()) as { series: string; key: string; maxScore: number }[];
    assert.equal(top.length, 3);
    const spiked = new Set(["src_as:15169", "interface:192.0.2.1/3", "interface:192.0.2.2/3"]);
    for (const x of top) {
      assert.ok(spiked.has(`${x.series}:${x.key}`), JSON.stringify(top));
      assert.ok(x.maxScore >= 1);
    }
    const bad = await fetch(`${base}/api/v1/anomalies/series?series=nope&key=1`);
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { error: string }).error, /series/);
    assert.equal((await fetch(`${base}/api/v1/anomalies/top?start=x`)).status, 400);
  } finally {
    server.close();
  }
});

test("restart: the models come back from the state file, scoring resumes without a new warm-up", async () => {
  await svc.stop();
  assert.ok(existsSync(join(dir, STATE_FILE)));
  const seen2: DetectEvent[] = [];
  const hub2 = new DetectEvents();
  hub2.on((e) => seen2.push(e));
  const svc2 = new AnomalyService({
    config,
    events: hub2,
    db: () => writer.database,
    dataDir: dir,
    timer: false,
  });
  await svc2.start();
  try {
    assert.equal(svc2.status().stats.restored, 11);
    assert.equal(svc2.listEvents().length, svc.listEvents().length);
    // 20 more minutes, the second with a ×6 spike again: detected at once (no warm-up after restart).
    const from = T0 + HOURS * 3_600_000;
    const rng = new Rng(9);
    for (let t = from; t < from + 20 * MIN; t += MIN) {
      const b = minute(t, rng);
      if (t >= from + 5 * MIN && t < from + 8 * MIN) {
        // Triple the rows of AS 15169 of this minute: a spike.
        const c = b.cols;
        const n = b.length;
        for (let r = 0; r < n; r++) if (c.src_as[r] === 15169) c.bytes[r] = c.bytes[r]! * 6;
      }
      svc2.consume(b);
      svc2.advance(t + MIN);
    }
    await svc2.flush();
    const st = seen2.filter((e) => e.type === "anomaly_started");
    assert.ok(
      st.some((e) => e.type === "anomaly_started" && e.event.series === "src_as" && e.event.key === "15169"),
      JSON.stringify(st),
    );
    const pts = await svc2.points("src_as", "15169", from + MIN, from + 5 * MIN);
    assert.equal(pts.length, 4);
    // Expected carried over: within 20 % of the value right away.
    for (const p of pts) assert.ok(Math.abs(p.value / p.expected - 1) < 0.2, JSON.stringify(p));
  } finally {
    await svc2.stop();
  }
});

test("bounded: at most maxSeries series per dimension, the busiest; a much busier newcomer replaces the least busy", () => {
  const hub3 = new DetectEvents();
  const s = new AnomalyService({ config: { maxSeries: 5, series: ["src_as"] }, events: hub3, timer: false });
  const t0 = Date.UTC(2026, 0, 5);
  // 50 ASes, AS 100+k sending 1.3^k × 10 kB per minute (the five smallest are seen first and tracked).
  for (let m = 0; m < 400; m++) {
    const b = new FlowBatch(64);
    for (let k = 0; k < 50; k++) {
      const r = b.length++;
      b.cols.time_received[r] = t0 + m * MIN + k;
      b.cols.bytes[r] = Math.round(1e4 * 1.3 ** k);
      b.cols.src_as[r] = 100 + k;
    }
    s.consume(b);
    s.advance(t0 + (m + 1) * MIN);
  }
  const st = s.status();
  assert.equal(st.series.src_as, 5);
  assert.ok(st.stats.evicted > 0);
  assert.equal(s.listEvents().length, 0, "steady traffic: no events");
  // The documented guarantee: no untracked key is twice as busy as the least busy tracked one;
  // so here the busiest ones (AS 148, 149) are tracked.
  const tracked = [
    ...(s as unknown as { dims: Map<string, { series: Map<string, unknown> }> }).dims
      .get("src_as")!
      .series.keys(),
  ].map(Number);
  const size = (as: number): number => 1.3 ** (as - 100);
  const minTracked = Math.min(...tracked.map(size));
  for (let as = 100; as < 150; as++)
    if (!tracked.includes(as)) assert.ok(size(as) < 2 * minTracked, `AS ${as}`);
  assert.ok(tracked.includes(149) && tracked.includes(148), String(tracked));
  assert.ok(st.memoryBytes < 5 * 20_000, `memory ${st.memoryBytes}`);
});

test("retention: anomaly_scores rows older than retentionDays are deleted (hourly)", async () => {
  const db = await DuckDBInstance.create(":memory:");
  const s = new AnomalyService({
    config: { retentionDays: 1 / 24, series: ["total"] },
    events: new DetectEvents(),
    db: () => db,
    timer: false,
  });
  await s.start();
  const t0 = Date.UTC(2026, 0, 5);
  const rng = new Rng(1);
  for (let t = t0; t < t0 + 3 * 3_600_000 + 5 * MIN; t += MIN) {
    s.consume(minute(t, rng));
    s.advance(t + MIN);
  }
  await s.flush();
  const c = await db.connect();
  const r = (
    await c.runAndReadAll(
      "SELECT epoch_ms(min(time))::DOUBLE, epoch_ms(max(time))::DOUBLE, count(*) FROM anomaly_scores",
    )
  ).getRowsJS()[0]!;
  c.closeSync();
  await s.stop();
  // Scored steps start at t0 + 1 min (the first is partial); the hourly run on the 181st
  // (t0 + 181 min) deleted everything more than an hour older than that step.
  assert.equal(Number(r[0]), t0 + 121 * MIN);
  assert.equal(Number(r[1]), t0 + 3 * 3_600_000 + 4 * MIN);
  assert.equal(Number(r[2]), 64);
});
