// Deployment modes end to end on a real broker (test/helpers/kafka.ts):
// a `collector`-mode App receives a real NetFlow v9 capture over UDP and
// publishes to Kafka; a `store`-mode App consumes the topic into its store;
// the store's SQL totals equal what the collector decoded, the lag goes to 0,
// and the collector runs no store and no UI. Also: mode validation and the
// CLI flag.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createSocket } from "node:dgram";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { App } from "../src/app.js";
import type { FlowBatch } from "../src/collector/batch.js";
import { ConfigError, validateConfig } from "../src/config/schema.js";
import { parseStartArgs } from "../src/cli/main.js";
import { silentLogger } from "../src/log.js";
import { CAPTURES_DIR } from "./helpers/captures.js";
import { startKafka, type KafkaBroker } from "./helpers/kafka.js";
import { readPcapUdp } from "./helpers/pcap.js";
import { launchChromium, signIn, waitText } from "./helpers/nagare-proc.js";
import { repoRoot } from "./helpers/repo.js";

const CAPTURE = "graylog__nprobe-netflow9-3.pcap";

let kafka: KafkaBroker;
before(async () => {
  // The web UI (web/dist) for the Kafka section check; the apps find it when built.
  execFileSync(process.execPath, [join(repoRoot(), "web", "build.mjs")], {
    cwd: repoRoot(),
    stdio: "ignore",
  });
  kafka = await startKafka();
});
after(async () => {
  await kafka?.stop();
});

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

test("mode: validated, needs the bus for collector/store, set by --mode", () => {
  assert.equal(validateConfig({}).mode, "all");
  assert.throws(
    () => validateConfig({ mode: "both" }),
    (e: unknown) => e instanceof ConfigError && e.key === "mode",
  );
  const dir = mkdtempSync(join(tmpdir(), "nagare-modes-"));
  for (const mode of ["collector", "store"]) {
    const config = validateConfig({ mode, dataDir: dir, http: { listen: "127.0.0.1:0" } });
    assert.throws(
      () => new App({ config, log: silentLogger }),
      (e: unknown) => e instanceof ConfigError && e.key === "mode" && /bus\.enabled/.test(e.message),
    );
  }
  const args = parseStartArgs(["--mode", "store"], {});
  assert.deepEqual(args.flags, [{ key: "mode", value: "store", origin: "--mode" }]);
});

test("collector mode → Kafka → store mode: the store's SQL totals equal the collector's, lag 0, collector without store/UI", async () => {
  const dir = mkdtempSync(join(tmpdir(), "nagare-modes-"));
  const topic = "nagare.flows";
  await kafka.createTopic(topic, 3);
  const bus = { enabled: true, brokers: [kafka.bootstrap], topic };

  // What the collector decoded: a test consumer beside the producer in its pipeline.
  const decoded = { flows: 0, bytes: 0, packets: 0 };
  const collector = new App({
    config: validateConfig({
      mode: "collector",
      dataDir: join(dir, "collector"),
      collector: { listen: ["127.0.0.1:0"], sflowListen: ["127.0.0.1:0"] },
      http: { listen: "127.0.0.1:0" },
      demo: { enabled: false },
      bus,
    }),
    log: silentLogger,
    consumers: [
      {
        name: "test-totals",
        consume(b: FlowBatch): void {
          decoded.flows += b.length;
          for (let i = 0; i < b.length; i++) {
            decoded.bytes += b.cols.bytes[i]!;
            decoded.packets += b.cols.packets[i]!;
          }
        },
      },
    ],
  });
  const store = new App({
    config: validateConfig({
      mode: "store",
      dataDir: join(dir, "store"),
      http: { listen: "127.0.0.1:0", adminPassword: "admin-password-k2" },
      demo: { enabled: false },
      store: { intervalMs: 100 },
      bus: { ...bus, consumer: { groupId: "nagare-modes", commitIntervalMs: 200, lagIntervalMs: 0 } },
    }),
    log: silentLogger,
  });
  await collector.start();
  await store.start();
  try {
    assert.equal(collector.store, null, "collector mode runs no store");
    assert.equal(collector.sql, null);
    assert.equal(store.collector.bound.length, 0, "store mode opens no UDP socket");
    const metrics = await fetch(`http://${collector.http.address}/metrics`);
    assert.equal(metrics.status, 200);
    const ui = await fetch(`http://${collector.http.address}/`);
    assert.notEqual(ui.status, 200, "collector mode serves no web UI");

    // Replay the capture's export datagrams to the collector.
    const datagrams = readPcapUdp(join(CAPTURES_DIR, CAPTURE));
    assert.equal(datagrams.length, 72);
    const port = collector.collector.bound[0]!.port;
    const sock = createSocket("udp4");
    for (const d of datagrams) {
      await new Promise<void>((r, j) => sock.send(d.payload, port, "127.0.0.1", (e) => (e ? j(e) : r())));
    }
    sock.close();
    // expected/SUMMARY.tsv: 892 flow records, 224593 bytes, 2949 packets (tshark's decode of the unit).
    await until("the collector decoded the capture", () => decoded.flows >= 892);
    assert.deepEqual(decoded, { flows: 892, bytes: 224_593, packets: 2949 });

    const src = store.kafka!;
    await until("every flow in the store and committed", async () => {
      await src.commitNow();
      await src.refreshLag();
      const ps = src.partitions();
      return src.flows >= 892 && ps.length === 3 && ps.every((p) => p.lag === 0);
    });
    const page = await store.sql!.query(
      "SELECT count(*)::BIGINT, sum(bytes)::BIGINT, sum(packets)::BIGINT, count(DISTINCT exporter_address_text)::BIGINT FROM flows",
    );
    const [n, bytes, packets, exporters] = page.rows[0]!.map(Number);
    assert.deepEqual(
      { flows: n, bytes, packets },
      { flows: decoded.flows, bytes: decoded.bytes, packets: decoded.packets },
    );
    assert.equal(exporters, 1, "the exporter address travels with the flows");
    assert.equal(src.metrics().lag, 0);
    assert.equal(src.metrics().malformed, 0);

    // The API and the UI's source of the Kafka section.
    const res = await fetch(`http://${store.http.address}/api/v1/kafka?refresh=1`, {
      headers: { Authorization: `Bearer ${store.token!.token}` },
    });
    assert.equal(res.status, 200);
    const body = (await res.json()) as {
      mode: string;
      consumer: { topic: string; partitions: { lag: number }[]; metrics: Record<string, number> };
    };
    assert.equal(body.mode, "store");
    assert.equal(body.consumer.topic, topic);
    assert.equal(body.consumer.partitions.length, 3);
    assert.ok(body.consumer.partitions.every((p) => p.lag === 0));
    assert.equal(body.consumer.metrics.flows, 892);

    // Prometheus: per-partition lag on the store node, the producer's counters on the collector.
    const sm = await (await fetch(`http://${store.http.address}/metrics`)).text();
    for (let p = 0; p < 3; p++)
      assert.match(
        sm,
        new RegExp(`^nagare_kafka_consumer_lag\\{topic="${topic}",partition="${p}"\\} 0$`, "m"),
      );
    assert.match(sm, /^nagare_kafka_consumer_flows_total 892$/m);
    const cm = await (await fetch(`http://${collector.http.address}/metrics`)).text();
    assert.match(cm, /^nagare_kafka_producer_produced_flows_total 892$/m);

    // The web UI: the Exporters page's Kafka section, one row per partition, lag 0.
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const base = `http://${store.http.address}`;
      await signIn(page, base, "admin", "admin-password-k2");
      await page.goto(base + "/#/exporters");
      await waitText(page, "#kafka", /consuming nagare\.flows \(group nagare-modes/);
      const rows = await page.$$eval("#kafka-partitions tr", (trs) =>
        trs.map((tr) =>
          Array.from(
            (
              tr as unknown as { querySelectorAll(s: string): ArrayLike<{ textContent: string | null }> }
            ).querySelectorAll("td"),
          ).map((td) => td.textContent ?? ""),
        ),
      );
      // partition, position, committed, log end, lag
      assert.equal(rows.length, 3);
      for (const r of rows) {
        assert.equal(r[4], "0", JSON.stringify(r));
        // Partition key "exporter" (the default): one exporter, one partition holds everything.
        if (r[3] === "0") assert.equal(r[2], "none", JSON.stringify(r));
        else assert.equal(r[2], r[3], "committed = log end");
      }
      assert.deepEqual(
        rows.map((r) => r[0]),
        ["0", "1", "2"],
      );
      assert.equal(rows.filter((r) => Number(r[3]) > 0).length, 1, "one exporter's flows on one partition");
    } finally {
      await browser.close();
    }
  } finally {
    await store.stop();
    await collector.stop();
  }
});
