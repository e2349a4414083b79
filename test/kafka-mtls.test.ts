// Kafka with client certificates (mutual TLS) against a real broker
// (test/helpers/kafka.ts, startKafka({ secure: true }): Apache Kafka 4.x in
// KRaft mode whose MTLS listener has ssl.client.auth=required and trusts only
// the per-run openssl CA).
//
// Through the config keys users write (bus.tls.ca / cert / key, docs/kafka.md
// "TLS and SASL"): a collector-mode App receives a real NetFlow v9 capture
// over UDP and publishes it with a client certificate the broker's CA signed;
// a store-mode App consumes it with the same kind of certificate and its SQL
// totals equal tshark's count of the capture. Without a client certificate,
// or with one from another CA, the broker refuses the connection: the
// collector keeps decoding UDP, the failure is counted as a tls error and
// described (naming bus.tls.cert / bus.tls.key) in GET /api/v1/kafka; nothing
// crashes or hangs. A separate file from kafka-security.test.ts to keep each
// under a minute.
import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { App } from "../src/app.js";
import type { FlowBatch } from "../src/collector/batch.js";
import { validateConfig } from "../src/config/schema.js";
import type { BusError } from "../src/bus/errors.js";
import { silentLogger } from "../src/log.js";
import { CAPTURES_DIR } from "./helpers/captures.js";
import { startKafka, type KafkaBroker, type SecureListeners } from "./helpers/kafka.js";
import { readPcapUdp } from "./helpers/pcap.js";

const CAPTURE = "graylog__nprobe-netflow9-3.pcap";
// expected/SUMMARY.tsv: tshark decodes 892 flow records, 224593 bytes, 2949 packets in this unit.
const EXPECTED = { flows: 892, bytes: 224_593, packets: 2949 };

let kafka: KafkaBroker;
let sec: SecureListeners;
let dir: string;
before(async () => {
  kafka = await startKafka({ secure: true });
  sec = kafka.secure!;
  dir = mkdtempSync(join(tmpdir(), "nagare-kafka-mtls-"));
});
after(async () => {
  await kafka?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 45_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface Totals {
  flows: number;
  bytes: number;
  packets: number;
}
function add(t: Totals, b: FlowBatch): void {
  t.flows += b.length;
  for (let i = 0; i < b.length; i++) {
    t.bytes += b.cols.bytes[i]!;
    t.packets += b.cols.packets[i]!;
  }
}

/** The `bus` section a user writes for the MTLS listener with `tls` (docs/kafka.md). */
function busSection(topic: string, tls: Record<string, unknown>): Record<string, unknown> {
  return {
    enabled: true,
    brokers: [sec.mtls],
    topic,
    tls: { enabled: true, ca: sec.caFile, ...tls },
    producer: { lingerMs: 5, retryBackoffMs: 100, retryMaxMs: 500, requestTimeoutMs: 3000 },
  };
}

let n = 0;
/** A collector-mode App publishing to `bus`; `decoded` counts what its pipeline saw (the UDP path). */
async function collectorApp(bus: Record<string, unknown>): Promise<{ app: App; decoded: Totals }> {
  const decoded: Totals = { flows: 0, bytes: 0, packets: 0 };
  const app = new App({
    config: validateConfig({
      mode: "collector",
      dataDir: join(dir, `collector-${++n}`),
      collector: { listen: ["127.0.0.1:0"], sflowListen: ["127.0.0.1:0"] },
      http: { listen: "127.0.0.1:0" },
      demo: { enabled: false },
      bus,
    }),
    log: silentLogger,
    consumers: [{ name: "test-totals", consume: (b: FlowBatch) => add(decoded, b) }],
  });
  await app.start();
  return { app, decoded };
}

/** A store-mode App consuming `bus` into its own store. */
async function storeApp(bus: Record<string, unknown>, groupId: string): Promise<App> {
  const store = new App({
    config: validateConfig({
      mode: "store",
      dataDir: join(dir, `store-${++n}`),
      http: { listen: "127.0.0.1:0" },
      demo: { enabled: false },
      store: { intervalMs: 100 },
      bus: { ...bus, consumer: { groupId, commitIntervalMs: 200, lagIntervalMs: 0 } },
    }),
    log: silentLogger,
  });
  const t0 = Date.now();
  await store.start();
  assert.ok(Date.now() - t0 < 30_000, "store start does not hang on a TLS failure");
  return store;
}

async function sendCapture(app: App): Promise<void> {
  const datagrams = readPcapUdp(join(CAPTURES_DIR, CAPTURE));
  const port = app.collector.bound[0]!.port;
  const sock = createSocket("udp4");
  for (const d of datagrams)
    await new Promise<void>((r, j) => sock.send(d.payload, port, "127.0.0.1", (e) => (e ? j(e) : r())));
  sock.close();
}

async function api<T>(app: App, path: string): Promise<T> {
  const res = await fetch(`http://${app.http.address}${path}`, {
    headers: { Authorization: `Bearer ${app.token!.token}` },
  });
  assert.equal(res.status, 200, path);
  return (await res.json()) as T;
}

const metricValue = async (app: App, name: string): Promise<number> => {
  const text = await (await fetch(`http://${app.http.address}/metrics`)).text();
  const m = new RegExp(`^${name} (\\S+)$`, "m").exec(text);
  assert.ok(m, `${name} in /metrics`);
  return Number(m[1]);
};

describe("mutual TLS (ssl.client.auth=required)", () => {
  it("client certificate from the broker's CA: collector App → store-mode App, SQL totals equal the capture", async () => {
    const topic = "mtls.flows";
    await kafka.createTopic(topic, 2);
    const bus = busSection(topic, { cert: sec.client.cert, key: sec.client.key });
    const { app, decoded } = await collectorApp(bus);
    const store = await storeApp(bus, "mtls-ok");
    try {
      await sendCapture(app);
      const src = store.kafka!;
      await until("every flow stored and committed over mutual TLS", async () => {
        await src.commitNow();
        await src.refreshLag();
        return src.flows >= EXPECTED.flows && src.partitions().every((p) => p.lag === 0);
      });
      assert.deepEqual(decoded, EXPECTED);
      const pm = app.producer!.metrics();
      assert.equal(pm.produce_errors, 0);
      assert.equal(pm.produced_flows, EXPECTED.flows);
      const page = await store.sql!.query(
        "SELECT count(*)::BIGINT, sum(bytes)::BIGINT, sum(packets)::BIGINT FROM flows",
      );
      const [flows, bytes, packets] = page.rows[0]!.map(Number);
      assert.deepEqual({ flows, bytes, packets }, EXPECTED);
      const state = await api<{ consumer: { lastError: BusError | null; metrics: Record<string, number> } }>(
        store,
        "/api/v1/kafka",
      );
      assert.equal(state.consumer.lastError, null);
      assert.equal(state.consumer.metrics.errors_tls, 0);
    } finally {
      await store.stop();
      await app.stop();
    }
  });

  // Refused client certificates: the collector keeps decoding and buffers,
  // the store node keeps serving; both count and describe a tls error.
  const refused = [
    // The alerts Kafka's JSSE sends: no certificate → bad_certificate (42), untrusted → certificate_unknown (46).
    [
      "no client certificate",
      {},
      /^TLS: the broker refused the connection: sslv3 alert bad certificate \(SSL alert number 42\)/,
    ],
    [
      "a client certificate from another CA",
      "other",
      /^TLS: the broker refused the connection: sslv3 alert certificate unknown \(SSL alert number 46\)/,
    ],
  ] as const;
  // Side by side: each case waits out the clients' retries (~20 s).
  it("no client certificate, and one from another CA: counted tls errors naming bus.tls.cert, UDP path unaffected, no crash", async () => {
    await Promise.all(
      refused.map(async ([what, which, re], i) => {
        const topic = `mtls.refused.${i}`;
        await kafka.createTopic(topic, 1);
        const tls = which === "other" ? { cert: sec.otherClient.cert, key: sec.otherClient.key } : which;
        const bus = busSection(topic, tls);
        const { app, decoded } = await collectorApp(bus);
        const store = await storeApp(bus, `mtls-refused-${i}`);
        try {
          await sendCapture(app);
          await until("the collector decoded the capture", () => decoded.flows >= EXPECTED.flows);
          assert.deepEqual(decoded, EXPECTED, "UDP path unaffected");
          await until("a produce failed", () => app.producer!.metrics().produce_errors_tls! > 0);
          const pm = app.producer!.metrics();
          assert.equal(pm.produced_flows, 0);
          assert.equal(
            pm.dropped_flows_buffer_full,
            0,
            "held in the buffer for when the certificate is fixed",
          );
          const ps = await api<{ producerLastError: BusError | null }>(app, "/api/v1/kafka");
          assert.equal(ps.producerLastError?.kind, "tls", `${what}: ${JSON.stringify(ps.producerLastError)}`);
          assert.match(ps.producerLastError!.message, re);
          assert.match(ps.producerLastError!.message, /bus\.tls\.cert/);
          assert.ok((await metricValue(app, "nagare_kafka_producer_produce_errors_tls_total")) > 0);

          await until("the store's consumer reported the failure", () => store.kafka!.lastError !== null);
          const ss = await api<{ consumer: { lastError: BusError | null; metrics: Record<string, number> } }>(
            store,
            "/api/v1/kafka",
          );
          assert.equal(ss.consumer.lastError?.kind, "tls", JSON.stringify(ss.consumer.lastError));
          assert.match(ss.consumer.lastError!.message, re);
          assert.match(ss.consumer.lastError!.message, /bus\.tls\.cert/);
          assert.ok(ss.consumer.metrics.errors_tls! > 0);
          assert.ok((await metricValue(store, "nagare_kafka_consumer_errors_tls_total")) > 0);
          // The store node still serves: SQL answers (no flows).
          const page = await store.sql!.query("SELECT count(*)::BIGINT FROM flows");
          assert.equal(Number(page.rows[0]![0]), 0);
        } finally {
          await store.stop();
          await app.stop();
        }
      }),
    );
  });
});
