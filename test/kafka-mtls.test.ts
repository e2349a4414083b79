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
import { join } from "node:path";
import { describe, it } from "node:test";
import type { KafkaBroker, SecureListeners } from "./helpers/kafka.js";
import {
  type ConsumerState,
  apiGet,
  assertProducerFails,
  assertStoreConsumerFails,
  NPROBE_V9,
  sendPcap,
  sqlTotals,
  startCollectorApp,
  startStoreApp,
  untilDrained,
  useKafka,
} from "./helpers/kafka-apps.js";

// graylog__nprobe-netflow9-3 and tshark's totals for it (expected/SUMMARY.tsv).
const { pcap: CAPTURE, totals: EXPECTED } = NPROBE_V9;

let kafka: KafkaBroker;
let sec: SecureListeners;
let dir: string;
useKafka({ secure: true }, "nagare-kafka-mtls-", (k, d) => {
  [kafka, sec, dir] = [k, k.secure!, d];
});

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
const collectorApp = (bus: Record<string, unknown>) => startCollectorApp(join(dir, `collector-${++n}`), bus);
/** A store-mode App consuming `bus` into its own store. */
const storeApp = (bus: Record<string, unknown>, groupId: string) =>
  startStoreApp(join(dir, `store-${++n}`), bus, { groupId, commitIntervalMs: 200, lagIntervalMs: 0 });

describe("mutual TLS (ssl.client.auth=required)", () => {
  it("client certificate from the broker's CA: collector App → store-mode App, SQL totals equal the capture", async () => {
    const topic = "mtls.flows";
    await kafka.createTopic(topic, 2);
    const bus = busSection(topic, { cert: sec.client.cert, key: sec.client.key });
    const { app, decoded } = await collectorApp(bus);
    const store = await storeApp(bus, "mtls-ok");
    try {
      await sendPcap(app, CAPTURE);
      await untilDrained(store.kafka!, "every flow stored and committed over mutual TLS", EXPECTED.flows);
      assert.deepEqual(decoded, EXPECTED);
      const pm = app.producer!.metrics();
      assert.equal(pm.produce_errors, 0);
      assert.equal(pm.produced_flows, EXPECTED.flows);
      assert.deepEqual(await sqlTotals(store), EXPECTED);
      const state = await apiGet<ConsumerState>(store, "/api/v1/kafka");
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
      refused.map(async ([, which, re], i) => {
        const topic = `mtls.refused.${i}`;
        await kafka.createTopic(topic, 1);
        const tls = which === "other" ? { cert: sec.otherClient.cert, key: sec.otherClient.key } : which;
        const bus = busSection(topic, tls);
        const { app, decoded } = await collectorApp(bus);
        const store = await storeApp(bus, `mtls-refused-${i}`);
        try {
          const pm = await assertProducerFails(app, decoded, CAPTURE, EXPECTED, "tls", [
            re,
            /bus\.tls\.cert/,
          ]);
          assert.equal(pm.produced_flows, 0);
          assert.equal(
            pm.dropped_flows_buffer_full,
            0,
            "held in the buffer for when the certificate is fixed",
          );
          await assertStoreConsumerFails(store, "tls", [re, /bus\.tls\.cert/]);
        } finally {
          await store.stop();
          await app.stop();
        }
      }),
    );
  });
});
