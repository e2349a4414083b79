// Kafka over TLS and SASL against a real broker (test/helpers/kafka.ts,
// startKafka({ secure: true }): Apache Kafka 4.x in KRaft mode with an SSL
// listener whose certificate a throwaway openssl CA signed, SASL_SSL with
// SCRAM-SHA-512 and SASL_PLAINTEXT with PLAIN).
//
// Through the config sections users write (bus.brokers / bus.tls / bus.sasl,
// docs/kafka.md "TLS and SASL"): a collector-mode App receives a real NetFlow
// v9 capture over UDP and publishes; the flows are consumed back over the same
// secured listener (a store-mode App for SCRAM, the KafkaFlowSource the App
// builds, with the App's connection options, for the others) and their
// totals equal tshark's count of the capture. Wrong CA and wrong passwords:
// the collector keeps decoding UDP, the failures are counted by cause in
// /metrics and described in GET /api/v1/kafka, nothing crashes or hangs.
import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { App } from "../src/app.js";
import type { FlowBatch } from "../src/collector/batch.js";
import { validateConfig } from "../src/config/schema.js";
import { NagareBinaryDecoder } from "../src/bus/binary.js";
import { KafkaFlowSource } from "../src/bus/consumer.js";
import type { BusError } from "../src/bus/errors.js";
import { PmacctJsonDecoder } from "../src/bus/pmacct.js";
import { connectionOptions } from "../src/bus/producer.js";
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
  dir = mkdtempSync(join(tmpdir(), "nagare-kafka-sec-"));
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
const zero = (): Totals => ({ flows: 0, bytes: 0, packets: 0 });
function add(t: Totals, b: FlowBatch): void {
  t.flows += b.length;
  for (let i = 0; i < b.length; i++) {
    t.bytes += b.cols.bytes[i]!;
    t.packets += b.cols.packets[i]!;
  }
}

/** The `bus` section a user writes for one listener (tls / sasl as in docs/kafka.md). */
function busSection(brokers: string, topic: string, extra: Record<string, unknown>): Record<string, unknown> {
  return {
    enabled: true,
    brokers: [brokers],
    topic,
    producer: { lingerMs: 5, retryBackoffMs: 100, retryMaxMs: 500, requestTimeoutMs: 3000 },
    ...extra,
  };
}

let n = 0;
/** A collector-mode App publishing to `bus`; `decoded` counts what its pipeline saw (the UDP path). */
async function collectorApp(bus: Record<string, unknown>): Promise<{ app: App; decoded: Totals }> {
  const decoded = zero();
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

async function sendCapture(app: App): Promise<void> {
  const datagrams = readPcapUdp(join(CAPTURES_DIR, CAPTURE));
  const port = app.collector.bound[0]!.port;
  const sock = createSocket("udp4");
  for (const d of datagrams)
    await new Promise<void>((r, j) => sock.send(d.payload, port, "127.0.0.1", (e) => (e ? j(e) : r())));
  sock.close();
}

/** The consumer a store-mode App builds (src/app.ts), from the same bus section; flows counted instead of stored. */
function consumerFor(bus: Record<string, unknown>, groupId: string): { src: KafkaFlowSource; got: Totals } {
  const cfg = validateConfig({ mode: "store", bus }).bus;
  const got = zero();
  const src = new KafkaFlowSource({
    brokers: cfg.brokers,
    topic: cfg.topic,
    groupId,
    format: "auto",
    decoders: { "nagare-binary": new NagareBinaryDecoder(), "pmacct-json": new PmacctJsonDecoder() },
    startFrom: "earliest",
    commitIntervalMs: 200,
    lagIntervalMs: 0,
    maxWaitMs: 200,
    connection: connectionOptions(cfg),
    push: (b) => add(got, b),
  });
  return { src, got };
}

async function api<T>(app: App, path: string): Promise<T> {
  const res = await fetch(`http://${app.http.address}${path}`, {
    headers: { Authorization: `Bearer ${app.token!.token}` },
  });
  assert.equal(res.status, 200, path);
  return (await res.json()) as T;
}

async function metricsText(app: App): Promise<string> {
  return (await fetch(`http://${app.http.address}/metrics`)).text();
}

const metricValue = (text: string, name: string): number => {
  const m = new RegExp(`^${name} (\\S+)$`, "m").exec(text);
  assert.ok(m, `${name} in /metrics`);
  return Number(m[1]);
};

describe("round trips over secured listeners", () => {
  it("TLS with CA verification: collector App → SSL listener → consumer, every flow", async () => {
    const topic = "sec.tls";
    await kafka.createTopic(topic, 2);
    const bus = busSection(sec.ssl, topic, { tls: { enabled: true, ca: sec.caFile } });
    const { app, decoded } = await collectorApp(bus);
    const { src, got } = consumerFor(bus, "sec-tls");
    try {
      await src.start();
      await sendCapture(app);
      await until("every flow consumed over TLS", () => got.flows >= EXPECTED.flows);
      assert.deepEqual(decoded, EXPECTED);
      assert.deepEqual(got, EXPECTED);
      const pm = app.producer!.metrics();
      assert.equal(pm.produce_errors, 0);
      assert.equal(pm.produced_flows, EXPECTED.flows);
      assert.equal(src.lastError, null);
    } finally {
      await src.stop();
      await app.stop();
    }
  });

  it("SASL_SSL SCRAM-SHA-512: collector App → store-mode App, SQL totals equal the capture", async () => {
    const topic = "sec.scram";
    await kafka.createTopic(topic, 3);
    const bus = busSection(sec.saslSsl, topic, {
      tls: { enabled: true, ca: sec.caFile },
      sasl: { mechanism: "scram-sha-512", username: sec.scram.username, password: sec.scram.password },
    });
    const { app, decoded } = await collectorApp(bus);
    const store = new App({
      config: validateConfig({
        mode: "store",
        dataDir: join(dir, "store-scram"),
        http: { listen: "127.0.0.1:0" },
        demo: { enabled: false },
        store: { intervalMs: 100 },
        bus: { ...bus, consumer: { groupId: "sec-scram", commitIntervalMs: 200, lagIntervalMs: 0 } },
      }),
      log: silentLogger,
    });
    await store.start();
    try {
      await sendCapture(app);
      const src = store.kafka!;
      await until("every flow stored and committed over SASL_SSL", async () => {
        await src.commitNow();
        await src.refreshLag();
        return src.flows >= EXPECTED.flows && src.partitions().every((p) => p.lag === 0);
      });
      assert.deepEqual(decoded, EXPECTED);
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
      assert.equal(state.consumer.metrics.errors_auth, 0);
    } finally {
      await store.stop();
      await app.stop();
    }
  });

  it("SASL_SSL SCRAM-SHA-256: collector App → consumer, every flow", async () => {
    const topic = "sec.scram256";
    await kafka.createTopic(topic, 1);
    const bus = busSection(sec.saslSsl, topic, {
      tls: { enabled: true, ca: sec.caFile },
      sasl: { mechanism: "scram-sha-256", username: sec.scram.username, password: sec.scram.password },
    });
    const { app, decoded } = await collectorApp(bus);
    const { src, got } = consumerFor(bus, "sec-scram256");
    try {
      await src.start();
      await sendCapture(app);
      await until("every flow consumed over SCRAM-SHA-256", () => got.flows >= EXPECTED.flows);
      assert.deepEqual(decoded, EXPECTED);
      assert.deepEqual(got, EXPECTED);
      assert.equal(app.producer!.metrics().produce_errors, 0);
    } finally {
      await src.stop();
      await app.stop();
    }
  });

  it("SASL_PLAINTEXT PLAIN: collector App → consumer, every flow", async () => {
    const topic = "sec.plain";
    await kafka.createTopic(topic, 1);
    const bus = busSection(sec.saslPlaintext, topic, {
      sasl: { mechanism: "plain", username: sec.plain.username, password: sec.plain.password },
    });
    const { app, decoded } = await collectorApp(bus);
    const { src, got } = consumerFor(bus, "sec-plain");
    try {
      await src.start();
      await sendCapture(app);
      await until("every flow consumed over SASL PLAIN", () => got.flows >= EXPECTED.flows);
      assert.deepEqual(decoded, EXPECTED);
      assert.deepEqual(got, EXPECTED);
      assert.equal(app.producer!.metrics().produce_errors, 0);
    } finally {
      await src.stop();
      await app.stop();
    }
  });
});

describe("failures are counted and described, never a crash or a hang", () => {
  it("wrong CA: the collector keeps decoding UDP; produce and join fail as tls errors", async () => {
    const topic = "sec.wrongca";
    await kafka.createTopic(topic, 1);
    const bus = busSection(sec.ssl, topic, { tls: { enabled: true, ca: sec.otherCaFile } });
    const { app, decoded } = await collectorApp(bus);
    const { src } = consumerFor(bus, "sec-wrongca");
    try {
      const t0 = Date.now();
      await src.start(); // resolves: the join failure is retried in the background
      assert.ok(Date.now() - t0 < 30_000, "consumer start does not hang on a TLS failure");
      await sendCapture(app);
      await until("the collector decoded the capture", () => decoded.flows >= EXPECTED.flows);
      assert.deepEqual(decoded, EXPECTED, "UDP path unaffected");
      await until("a produce failed", () => app.producer!.metrics().produce_errors_tls! > 0);
      const pm = app.producer!.metrics();
      assert.equal(pm.produced_flows, 0);
      assert.equal(pm.produce_errors_auth, 0);
      assert.equal(pm.dropped_flows_buffer_full, 0, "held in the buffer for when the CA is fixed");

      const state = await api<{ producerLastError: BusError | null }>(app, "/api/v1/kafka");
      assert.equal(state.producerLastError?.kind, "tls");
      assert.match(state.producerLastError!.message, /certificate/i);
      assert.match(state.producerLastError!.message, /bus\.tls\.ca/);
      const text = await metricsText(app);
      assert.ok(metricValue(text, "nagare_kafka_producer_produce_errors_tls_total") > 0);

      assert.equal(src.lastError?.kind, "tls");
      assert.match(src.lastError!.message, /self-signed certificate in certificate chain/);
      assert.ok(src.metrics().errors_tls! > 0);
    } finally {
      await src.stop();
      await app.stop();
    }
  });

  it("TLS client against a plaintext listener: a handshake error, not a hang", async () => {
    const bus = busSection(sec.saslPlaintext, "sec.plain", { tls: { enabled: true, ca: sec.caFile } });
    const { src } = consumerFor(bus, "sec-tls-on-plain");
    try {
      await src.start();
      await until("a join failure", () => src.lastError !== null);
      assert.equal(src.lastError!.kind, "tls");
    } finally {
      await src.stop();
    }
  });

  it("wrong SCRAM password: collector keeps decoding; producer and store-mode App report auth errors", async () => {
    const topic = "sec.badpass";
    await kafka.createTopic(topic, 1);
    const bus = busSection(sec.saslSsl, topic, {
      tls: { enabled: true, ca: sec.caFile },
      sasl: { mechanism: "scram-sha-512", username: sec.scram.username, password: "not-the-password" },
    });
    const { app, decoded } = await collectorApp(bus);
    const store = new App({
      config: validateConfig({
        mode: "store",
        dataDir: join(dir, "store-badpass"),
        http: { listen: "127.0.0.1:0" },
        demo: { enabled: false },
        bus: { ...bus, consumer: { groupId: "sec-badpass", lagIntervalMs: 0 } },
      }),
      log: silentLogger,
    });
    const t0 = Date.now();
    await store.start();
    assert.ok(Date.now() - t0 < 30_000, "store start does not hang on a SASL failure");
    try {
      await sendCapture(app);
      await until("the collector decoded the capture", () => decoded.flows >= EXPECTED.flows);
      assert.deepEqual(decoded, EXPECTED, "UDP path unaffected");
      await until("a produce failed", () => app.producer!.metrics().produce_errors_auth! > 0);
      const ps = await api<{ producerLastError: BusError | null }>(app, "/api/v1/kafka");
      assert.equal(ps.producerLastError?.kind, "auth");
      assert.match(ps.producerLastError!.message, /invalid credentials with SASL mechanism SCRAM-SHA-512/);
      assert.ok(metricValue(await metricsText(app), "nagare_kafka_producer_produce_errors_auth_total") > 0);

      await until("the store's consumer reported the failure", () => store.kafka!.lastError !== null);
      const ss = await api<{ consumer: { lastError: BusError | null; metrics: Record<string, number> } }>(
        store,
        "/api/v1/kafka",
      );
      assert.equal(ss.consumer.lastError?.kind, "auth");
      assert.match(ss.consumer.lastError!.message, /bus\.sasl\.password/);
      assert.ok(ss.consumer.metrics.errors_auth! > 0);
      assert.ok(metricValue(await metricsText(store), "nagare_kafka_consumer_errors_auth_total") > 0);
      // The store node still serves: SQL answers (no flows).
      const page = await store.sql!.query("SELECT count(*)::BIGINT FROM flows");
      assert.equal(Number(page.rows[0]![0]), 0);
    } finally {
      await store.stop();
      await app.stop();
    }
  });

  it("wrong PLAIN password and an unoffered mechanism: auth errors naming the cause", async () => {
    const wrong = busSection(sec.saslPlaintext, "sec.plain", {
      sasl: { mechanism: "plain", username: sec.plain.username, password: "wrong" },
    });
    const mech = busSection(sec.saslPlaintext, "sec.plain", {
      sasl: { mechanism: "scram-sha-512", username: sec.scram.username, password: sec.scram.password },
    });
    const cases = [
      [wrong, /Invalid username or password/],
      [mech, /offers PLAIN/],
    ] as const;
    // Side by side: each join failure takes the client's retries (a few seconds).
    await Promise.all(
      cases.map(async ([bus, re], i) => {
        const { src } = consumerFor(bus, `sec-auth-${i}`);
        try {
          await src.start();
          await until("a join failure", () => src.lastError !== null);
          assert.equal(src.lastError!.kind, "auth");
          assert.match(src.lastError!.message, re);
          assert.ok(src.metrics().errors_auth! > 0);
        } finally {
          await src.stop();
        }
      }),
    );
  });
});
