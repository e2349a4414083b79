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
import { join } from "node:path";
import { describe, it } from "node:test";
import { validateConfig } from "../src/config/schema.js";
import { NagareBinaryDecoder } from "../src/bus/binary.js";
import { KafkaFlowSource } from "../src/bus/consumer.js";
import { PmacctJsonDecoder } from "../src/bus/pmacct.js";
import { connectionOptions } from "../src/bus/producer.js";
import type { KafkaBroker, SecureListeners } from "./helpers/kafka.js";
import {
  type ConsumerState,
  type Totals,
  assertProducerFails,
  assertStoreConsumerFails,
  addTotals,
  apiGet,
  NPROBE_V9,
  sendPcap,
  sqlTotals,
  startCollectorApp,
  startStoreApp,
  until,
  untilDrained,
  useKafka,
  zeroTotals,
} from "./helpers/kafka-apps.js";

// graylog__nprobe-netflow9-3 and tshark's totals for it (expected/SUMMARY.tsv).
const { pcap: CAPTURE, totals: EXPECTED } = NPROBE_V9;

let kafka: KafkaBroker;
let sec: SecureListeners;
let dir: string;
useKafka({ secure: true }, "nagare-kafka-sec-", (k, d) => {
  [kafka, sec, dir] = [k, k.secure!, d];
});

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
const collectorApp = (bus: Record<string, unknown>) => startCollectorApp(join(dir, `collector-${++n}`), bus);

/** The consumer a store-mode App builds (src/app.ts), from the same bus section; flows counted instead of stored. */
function consumerFor(bus: Record<string, unknown>, groupId: string): { src: KafkaFlowSource; got: Totals } {
  const cfg = validateConfig({ mode: "store", bus }).bus;
  const got = zeroTotals();
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
    push: (b) => addTotals(got, b),
  });
  return { src, got };
}

describe("round trips over secured listeners", () => {
  // Collector App → secured listener → the consumer a store App builds: every flow, no error.
  const roundTrips: [string, string, number, (topic: string) => Record<string, unknown>][] = [
    [
      "TLS with CA verification",
      "sec.tls",
      2,
      (topic) => busSection(sec.ssl, topic, { tls: { enabled: true, ca: sec.caFile } }),
    ],
    [
      "SASL_SSL SCRAM-SHA-256",
      "sec.scram256",
      1,
      (topic) =>
        busSection(sec.saslSsl, topic, {
          tls: { enabled: true, ca: sec.caFile },
          sasl: { mechanism: "scram-sha-256", username: sec.scram.username, password: sec.scram.password },
        }),
    ],
    [
      "SASL_PLAINTEXT PLAIN",
      "sec.plain",
      1,
      (topic) =>
        busSection(sec.saslPlaintext, topic, {
          sasl: { mechanism: "plain", username: sec.plain.username, password: sec.plain.password },
        }),
    ],
  ];
  for (const [what, topic, partitions, section] of roundTrips)
    it(`${what}: collector App → consumer, every flow`, async () => {
      await kafka.createTopic(topic, partitions);
      const bus = section(topic);
      const { app, decoded } = await collectorApp(bus);
      const { src, got } = consumerFor(bus, topic.replace(".", "-"));
      try {
        await src.start();
        await sendPcap(app, CAPTURE);
        await until(`every flow consumed over ${what}`, () => got.flows >= EXPECTED.flows);
        assert.deepEqual(decoded, EXPECTED);
        assert.deepEqual(got, EXPECTED);
        // The broker may serve the consumer before the producer has read its acknowledgement.
        await until("the producer counted its acknowledged flows", () => {
          return app.producer!.metrics().produced_flows! >= EXPECTED.flows;
        });
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
    const store = await startStoreApp(join(dir, "store-scram"), bus, {
      groupId: "sec-scram",
      commitIntervalMs: 200,
      lagIntervalMs: 0,
    });
    try {
      await sendPcap(app, CAPTURE);
      await untilDrained(store.kafka!, "every flow stored and committed over SASL_SSL", EXPECTED.flows);
      assert.deepEqual(decoded, EXPECTED);
      assert.deepEqual(await sqlTotals(store), EXPECTED);
      const state = await apiGet<ConsumerState>(store, "/api/v1/kafka");
      assert.equal(state.consumer.lastError, null);
      assert.equal(state.consumer.metrics.errors_auth, 0);
    } finally {
      await store.stop();
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
      const pm = await assertProducerFails(app, decoded, CAPTURE, EXPECTED, "tls", [
        /certificate/i,
        /bus\.tls\.ca/,
      ]);
      assert.equal(pm.produced_flows, 0);
      assert.equal(pm.produce_errors_auth, 0);
      assert.equal(pm.dropped_flows_buffer_full, 0, "held in the buffer for when the CA is fixed");

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
    const store = await startStoreApp(join(dir, "store-badpass"), bus, {
      groupId: "sec-badpass",
      lagIntervalMs: 0,
    });
    try {
      await assertProducerFails(app, decoded, CAPTURE, EXPECTED, "auth", [
        /invalid credentials with SASL mechanism SCRAM-SHA-512/,
      ]);

      await assertStoreConsumerFails(store, "auth", [/bus\.sasl\.password/]);
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
