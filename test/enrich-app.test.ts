// Enrichment wired into the real App: a real capture (MikroTik NetFlow v5,
// 30 flows; tshark's decode in expected/) sent over loopback UDP to the
// collector, with an enrich section (networks file, classifier rules, static
// interfaces) in the configuration. The store must hold enriched rows (the
// service runs before it in the pipeline), the filter language must select
// them through the HTTP flow query API, and /metrics must show the
// enrichment counters and per-source state.
import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { App } from "../src/app.js";
import { readCapture } from "../src/collector/capture.js";
import { validateConfig } from "../src/config/schema.js";
import { silentLogger } from "../src/log.js";
import { CAPTURES_DIR } from "./helpers/captures.js";

const UNIT = "logstash__netflow5_test_microtik";

test("App: UDP → enrichment → store; filters and /metrics see the enrichment", async () => {
  const exp = readFileSync(join(CAPTURES_DIR, "expected", `${UNIT}.jsonl`), "utf8")
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as { src: string; dst: string; in_if: number; bytes: number });
  assert.equal(exp.length, 30);
  const inLan = (a: string): boolean => a.startsWith("192.168.0.");
  const wantLanDst = exp.filter((e) => inLan(e.dst)).length;
  const wantIf13 = exp.filter((e) => e.in_if === 13).length;
  assert.ok(wantLanDst > 0 && wantIf13 > 0);

  const dir = mkdtempSync(join(tmpdir(), "nagare-enrich-app-"));
  writeFileSync(join(dir, "networks.csv"), "prefix,name,role\n192.168.0.0/24,office-lan,customer\n");
  const config = validateConfig({
    dataDir: dir,
    collector: { listen: ["127.0.0.1:0"], sflowListen: ["127.0.0.1:0"] },
    http: { listen: "127.0.0.1:0" },
    demo: { enabled: false },
    store: { intervalMs: 100 },
    enrich: {
      networksFile: join(dir, "networks.csv"),
      exporterClassifiers: [
        { match: { exporter: "127.0.0.0/8" }, set: { name: "mikrotik-lab", site: "lab" } },
      ],
      interfaceClassifiers: [
        { match: { interfaceName: "^ether(\\d+)" }, set: { connectivity: "customer", provider: "port$1" } },
      ],
      interfaces: {
        static: { "127.0.0.1": { "13": { name: "ether13", description: "uplink", speedBps: 1e9 } } },
      },
    },
  });
  const app = new App({ config, log: silentLogger });
  await app.start();
  const base = `http://${app.http.address}`;
  const auth = { Authorization: `Bearer ${app.token!.token}`, "Content-Type": "application/json" };
  try {
    assert.equal(app.pipeline.names[0], "enrich", "enrichment is the first consumer");
    const sock = createSocket("udp4");
    for (const d of readCapture(join(CAPTURES_DIR, `${UNIT}.dat`)))
      await new Promise<void>((res, rej) =>
        sock.send(d.payload, app.collector.bound[0]!.port, "127.0.0.1", (e) => (e ? rej(e) : res())),
      );
    sock.close();
    const deadline = Date.now() + 5000;
    while (app.pipeline.flows < 30 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(app.pipeline.flows, 30);
    await app.store!.flush();

    const sql = async (q: string): Promise<unknown[][]> => {
      const r = await fetch(`${base}/api/v1/sql`, {
        method: "POST",
        headers: auth,
        body: JSON.stringify({ sql: q }),
      });
      const j = (await r.json()) as { rows: unknown[][] };
      assert.equal(r.status, 200, JSON.stringify(j));
      return j.rows;
    };
    const [counts] = (await sql(
      "SELECT count(*), count(*) FILTER (exporter_name = 'mikrotik-lab' AND exporter_site = 'lab'), " +
        "count(*) FILTER (dst_net_name = 'office-lan' AND dst_net_role = 'customer'), " +
        "count(*) FILTER (in_if_name = 'ether13' AND in_if_speed = 1000000000 AND in_if_connectivity = 'customer'), " +
        "count(*) FILTER (in_if_provider = 'port13') FROM flows_raw",
    )) as number[][];
    assert.deepEqual(counts?.map(Number), [30, 30, wantLanDst, wantIf13, wantIf13]);

    // The same through the flow query API and the filter language.
    const r = await fetch(`${base}/api/v1/flows/query`, {
      method: "POST",
      headers: auth,
      body: JSON.stringify({
        start: Date.now() - 3_600_000,
        end: Date.now() + 60_000,
        resolution: "auto",
        dimensions: ["dst_net_name"],
        metric: "flows",
        shape: "table",
        filter: "dst net name office-lan and exporter name MIKROTIK-LAB",
      }),
    });
    const q = (await r.json()) as { columns: { name: string }[]; rows: unknown[][] };
    assert.equal(r.status, 200, JSON.stringify(q));
    const vi = q.columns.findIndex((c) => c.name === "value");
    assert.deepEqual(
      q.rows.map((x) => [x[0], Number(x[vi])]),
      [["office-lan", wantLanDst]],
    );

    const metrics = await (await fetch(`${base}/metrics`, { headers: auth })).text();
    assert.match(metrics, /^nagare_enrich_flows_total 30$/m);
    assert.match(metrics, /^nagare_enrich_errors_total 0$/m);
    assert.match(metrics, /^nagare_enrich_source_up\{source="networks",kind="networks"\} 1$/m);
    assert.match(metrics, /^nagare_enrich_source_entries\{source="networks",kind="networks"\} 1$/m);
    const api = (await (await fetch(`${base}/api/v1/enrichment`, { headers: auth })).json()) as {
      sources: { name: string; status: string; entries: number }[];
    };
    const net = api.sources.find((x) => x.name === "networks");
    assert.deepEqual([net?.status, net?.entries], ["loaded", 1]);
    const states = app.enrich.states();
    assert.ok(states.some((s) => s.name === "classifier" && s.status === "loaded" && s.entries === 2));
  } finally {
    await app.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
