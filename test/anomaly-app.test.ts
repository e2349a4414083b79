// The anomaly service wired into the real App: a real capture (NetFlow v5,
// 30 flows; tshark's decode in expected/) sent over loopback UDP to the
// collector, steps closed with advance(), then anomaly_scores read back
// through the HTTP SQL API and /api/v1/anomalies*, and the state file written
// at stop.
import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { App } from "../src/app.js";
import { readCapture } from "../src/collector/capture.js";
import { validateConfig } from "../src/config/schema.js";
import { silentLogger } from "../src/log.js";

const CAPTURES = "/work/shared/captures";
const UNIT = "logstash__netflow5_test_microtik";

test("App: flows over UDP → per-minute series → anomaly_scores via /api/v1/sql and /api/v1/anomalies", async () => {
  const exp = readFileSync(join(CAPTURES, "expected", `${UNIT}.jsonl`), "utf8")
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as { bytes: number });
  assert.equal(exp.length, 30);
  const totalBytes = exp.reduce((s, r) => s + r.bytes, 0);
  const dir = mkdtempSync(join(tmpdir(), "nagare-anomaly-app-"));
  const config = validateConfig({
    dataDir: dir,
    collector: { listen: ["127.0.0.1:0"], sflowListen: ["127.0.0.1:0"] },
    http: { listen: "127.0.0.1:0" },
    demo: { enabled: false },
    store: { intervalMs: 100 },
    detect: { anomaly: { stepSeconds: 60 } },
  });
  const app = new App({ config, log: silentLogger });
  await app.start();
  const base = `http://${app.http.address}`;
  const api = async (
    method: string,
    path: string,
    body?: unknown,
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON bodies of several shapes, checked field by field
  ): Promise<{ status: number; json: any }> => {
    const r = await fetch(base + path, {
      method,
      headers: { Authorization: `Bearer ${app.token!.token}`, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: r.status, json: await r.json() };
  };
  try {
    // Before any step: the view exists and is empty, the API answers.
    const views = await api("GET", "/api/v1/views");
    assert.ok((views.json as string[]).includes("anomaly_scores"));
    const empty = await api("POST", "/api/v1/sql", { sql: "SELECT count(*) FROM anomaly_scores" });
    assert.equal(empty.status, 200, JSON.stringify(empty.json));
    assert.equal(Number(empty.json.rows[0][0]), 0);
    assert.deepEqual((await api("GET", "/api/v1/anomalies")).json, []);

    // Open a full step now (the flows' arrival minute is then not partial), send the capture.
    const t0 = Date.now();
    app.anomaly.advance(t0 - 60_000);
    const sock = createSocket("udp4");
    for (const d of readCapture(join(CAPTURES, `${UNIT}.dat`)))
      await new Promise<void>((res, rej) =>
        sock.send(d.payload, app.collector.bound[0]!.port, "127.0.0.1", (e) => (e ? rej(e) : res())),
      );
    sock.close();
    const deadline = Date.now() + 3000;
    while (app.pipeline.flows < 30 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(app.pipeline.flows, 30);
    // Close the flows' step and the next one (empty: 0 bps).
    app.anomaly.advance(Math.floor(Date.now() / 60_000) * 60_000 + 120_000);
    await app.anomaly.flush();

    const r = await api("POST", "/api/v1/sql", {
      sql: "SELECT series, key, value FROM anomaly_scores WHERE series = 'total' ORDER BY time",
    });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    const rows = r.json.rows as [string, string, number][];
    assert.ok(rows.length >= 2, JSON.stringify(rows));
    // All 30 flows (unsampled v5) in one minute: bits / 60 (the capture is sent within the minute
    // unless it straddles a minute boundary; then the two minutes add up).
    const sum = rows.reduce((s, x) => s + Number(x[2]), 0);
    assert.ok(Math.abs(sum - (totalBytes * 8) / 60) < 1e-6, `${sum} vs ${(totalBytes * 8) / 60}`);
    assert.equal(Number(rows[rows.length - 1]![2]), 0, "the empty step is a 0");

    const status = await api("GET", "/api/v1/anomalies/status");
    assert.equal(status.json.stepMs, 60_000);
    assert.equal(status.json.series.total, 1);
    assert.ok(status.json.series.src_as >= 1);
    const series = await api(
      "GET",
      `/api/v1/anomalies/series?series=total&start=${t0 - 120_000}&end=${t0 + 600_000}`,
    );
    assert.equal(series.status, 200);
    assert.equal(series.json.points.length, rows.length);
    // Viewer-only GET: writes are not routes here.
    assert.equal((await api("POST", "/api/v1/anomalies")).status >= 400, true);
  } finally {
    await app.stop();
  }
  assert.ok(existsSync(join(dir, "anomaly-state.json")), "state saved at stop");
  rmSync(dir, { recursive: true, force: true });
});
