import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { parseListen, type ListenAddress } from "../config/address.js";
import { CollectorStats } from "../collector/stats.js";
import { escapeLabel, renderMetrics } from "./metrics.js";
import { HttpApi } from "./server.js";
import { checkBearer, ensureToken } from "./token.js";

function sampleStats(): CollectorStats {
  const stats = new CollectorStats();
  const a = stats.exporter("192.0.2.1");
  a.packets = 10;
  a.bytes = 14_000;
  a.flowRecords = 300;
  a.errors.truncated = 2;
  a.versions["9"] = 10;
  a.templates = 3;
  const b = stats.exporter('we"ird\\name');
  b.packets = 1;
  stats.kernelDrops = 7;
  return stats;
}

test("metrics: HELP/TYPE once per family, labels escaped", () => {
  const text = renderMetrics(sampleStats(), { version: "1.2.3" });
  assert.match(
    text,
    /^# HELP nagare_collector_packets_total .+\n# TYPE nagare_collector_packets_total counter$/m,
  );
  assert.match(text, /^nagare_collector_packets_total\{exporter="192\.0\.2\.1"\} 10$/m);
  assert.match(
    text,
    /^nagare_collector_decode_errors_total\{exporter="192\.0\.2\.1",reason="truncated"\} 2$/m,
  );
  assert.match(text, /^nagare_collector_templates\{exporter="192\.0\.2\.1"\} 3$/m);
  assert.match(text, /^# TYPE nagare_collector_templates gauge$/m);
  assert.match(
    text,
    /^nagare_collector_packets_by_version_total\{exporter="192\.0\.2\.1",version="9"\} 10$/m,
  );
  assert.match(text, /^nagare_collector_kernel_drops_total 7$/m);
  assert.match(text, /^nagare_collector_packets_total\{exporter="we\\"ird\\\\name"\} 1$/m);
  assert.equal(escapeLabel('a"b\\c\nd'), 'a\\"b\\\\c\\nd');
  // Every sample line belongs to a family declared just above it.
  let family = "";
  for (const line of text.trim().split("\n")) {
    const m = /^# TYPE (\S+) (counter|gauge)$/.exec(line);
    if (m) family = m[1]!;
    else if (!line.startsWith("#")) assert.ok(line.startsWith(family), `${line} outside ${family}`);
  }
  assert.equal((text.match(/^# TYPE nagare_collector_packets_total /gm) ?? []).length, 1);
});

test("token: generated once, mode 0600, reused; bearer check", () => {
  const dir = mkdtempSync(join(tmpdir(), "nagare-token-"));
  const t1 = ensureToken(join(dir, "data"), "");
  assert.ok(t1.created);
  assert.equal(statSync(t1.path).mode & 0o777, 0o600);
  assert.equal(readFileSync(t1.path, "utf8").trim(), t1.token);
  const t2 = ensureToken(join(dir, "data"), "");
  assert.equal(t2.created, false);
  assert.equal(t2.token, t1.token);
  assert.equal(ensureToken(dir, "configured-token-123456").token, "configured-token-123456");
  assert.ok(checkBearer(`Bearer ${t1.token}`, t1.token));
  assert.ok(!checkBearer(`Bearer ${t1.token}x`, t1.token));
  assert.ok(!checkBearer(undefined, t1.token));
  assert.ok(!checkBearer(t1.token, t1.token));
});

test("http: /healthz and /metrics open on loopback, /api/v1 needs the token", async () => {
  const stats = sampleStats();
  const api = new HttpApi({
    listen: parseListen("127.0.0.1:0") as ListenAddress,
    token: "secret-token-0123456789",
    stats,
  });
  await api.start();
  try {
    const base = `http://${api.address}`;
    const h = await fetch(`${base}/healthz`);
    assert.equal(h.status, 200);
    assert.equal(await h.text(), "ok\n");
    const m = await fetch(`${base}/metrics`);
    assert.equal(m.status, 200);
    assert.match(m.headers.get("content-type")!, /^text\/plain; version=0\.0\.4/);
    assert.match(await m.text(), /nagare_collector_flow_records_total\{exporter="192\.0\.2\.1"\} 300/);
    const denied = await fetch(`${base}/api/v1/exporters`);
    assert.equal(denied.status, 401);
    assert.match(denied.headers.get("www-authenticate")!, /Bearer/);
    const wrong = await fetch(`${base}/api/v1/exporters`, { headers: { Authorization: "Bearer nope" } });
    assert.equal(wrong.status, 401);
    const ok = await fetch(`${base}/api/v1/exporters`, {
      headers: { Authorization: "Bearer secret-token-0123456789" },
    });
    assert.equal(ok.status, 200);
    const list = (await ok.json()) as {
      exporter: string;
      flowRecords: number;
      errors: Record<string, number>;
    }[];
    assert.deepEqual(
      list.map((e) => e.exporter),
      ["192.0.2.1", 'we"ird\\name'],
    );
    assert.equal(list[0]!.flowRecords, 300);
    assert.deepEqual(list[0]!.errors, { truncated: 2 });
    assert.equal((await fetch(`${base}/nope`)).status, 404);
    assert.equal((await fetch(`${base}/metrics`, { method: "POST" })).status, 405);
  } finally {
    await api.stop();
  }
});

test("http: on a non-loopback bind /metrics needs the token unless publicMetrics", () => {
  const stats = new CollectorStats();
  const wild = parseListen("0.0.0.0:0") as ListenAddress;
  assert.equal(new HttpApi({ listen: wild, token: "x".repeat(16), stats }).metricsNeedToken, true);
  assert.equal(
    new HttpApi({ listen: wild, token: "x".repeat(16), stats, publicMetrics: true }).metricsNeedToken,
    false,
  );
  assert.equal(
    new HttpApi({ listen: parseListen("[::1]:0") as ListenAddress, token: "x".repeat(16), stats })
      .metricsNeedToken,
    false,
  );
});
