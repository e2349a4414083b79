// Enrichment runs once (issue 8): nagare-binary messages from a collector that
// enriched carry the PREENRICHED header flag (format version 2), and a
// store-mode App does not enrich those rows again (src/bus/preenriched.ts);
// pmacct JSON rows (and unflagged binary) are still enriched by the store.
//
//  - codec: the flag and the version in the header of messages encoded from a
//    real capture; version-1 messages (no flag defined) still decode, read as
//    not enriched;
//  - end to end on a real broker (test/helpers/kafka.ts): a collector-mode
//    App with networks file A publishes nagare-binary, another publishes the
//    same capture as pmacct JSON, into one topic; a store-mode App with
//    networks file B consumes both (in the same fetches): the binary rows
//    keep A's names, the pmacct rows get B's, and the store's enrichment
//    counters moved for the pmacct rows only.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import {
  BINARY_VERSION,
  FLAG_PREENRICHED,
  NagareBinaryDecoder,
  NagareBinaryEncoder,
  binaryPreenriched,
} from "../src/bus/binary.js";
import type { KafkaBroker } from "./helpers/kafka.js";
import {
  CollectSink,
  capturePath,
  copiedBatches,
  metricsText,
  sendPcap,
  startCollectorApp,
  startStoreApp,
  until,
  untilDrained,
  useKafka,
} from "./helpers/kafka-apps.js";

const UNIT = "graylog__nprobe-netflow9-3";
// expected/SUMMARY.tsv: 892 flow records in this unit (tshark).
const FLOWS = 892;

describe("nagare-binary header: PREENRICHED flag, version 2, version 1 still read", () => {
  const batches = copiedBatches(UNIT);

  it("the flag is set only by an enriching producer, and both decode to the same rows", () => {
    assert.equal(BINARY_VERSION, 2);
    const plain = batches.flatMap((b) => new NagareBinaryEncoder().encode(b));
    const pre = batches.flatMap((b) => new NagareBinaryEncoder({ enriched: true }).encode(b));
    assert.equal(
      pre.reduce((n, m) => n + (m.flows ?? 1), 0),
      FLOWS,
    );
    for (const m of plain) {
      assert.equal(m.value[4], 2);
      assert.equal(m.value[5], 0);
      assert.equal(binaryPreenriched(m.value), false);
    }
    for (const m of pre) {
      assert.equal(m.value[4], 2);
      assert.equal(m.value[5], FLAG_PREENRICHED);
      assert.equal(binaryPreenriched(m.value), true);
    }
    const a = new CollectSink();
    const b = new CollectSink();
    for (const m of plain) assert.equal(new NagareBinaryDecoder().decode(m.value, a).ok, true);
    for (const m of pre) assert.equal(new NagareBinaryDecoder().decode(m.value, b).ok, true);
    assert.equal(a.rows().length, FLOWS);
    assert.deepEqual(b.rows(), a.rows());
  });

  it("a version-1 message (what earlier producers wrote) decodes; its flags byte means nothing", () => {
    const msgs = batches.flatMap((b) => new NagareBinaryEncoder({ enriched: true }).encode(b));
    const want = new CollectSink();
    const got = new CollectSink();
    for (const m of msgs) {
      const v1 = Buffer.from(m.value);
      v1[4] = 1;
      assert.equal(binaryPreenriched(v1), false, "version 1 defines no flag");
      assert.deepEqual(new NagareBinaryDecoder().decode(v1, got), { ok: true, flows: m.flows });
      new NagareBinaryDecoder().decode(m.value, want);
    }
    assert.deepEqual(got.rows(), want.rows());
    // Not ours / too short: never "preenriched".
    assert.equal(binaryPreenriched(Buffer.from('{"event_type":"purge"}')), false);
    assert.equal(binaryPreenriched(Buffer.from("NGRB")), false);
  });
});

describe("store mode does not enrich what a Nagare collector enriched", () => {
  let kafka: KafkaBroker;
  let dir: string;
  useKafka({}, "nagare-preenriched-", (k, d) => {
    [kafka, dir] = [k, d];
  });

  /** A networks file naming every address (IPv4 and IPv6) `name`. */
  function networks(file: string, name: string): string {
    const path = join(dir, file);
    writeFileSync(
      path,
      `0.0.0.0/0: { name: ${name}, role: ${name}-role }\n::/0: { name: ${name}, role: ${name}-role }\n`,
    );
    return path;
  }

  async function publish(
    name: string,
    topic: string,
    format: string,
    networksFile: string,
  ): Promise<Record<string, number>> {
    const { app, decoded } = await startCollectorApp(
      join(dir, name),
      { enabled: true, brokers: [kafka.bootstrap], topic, producer: { format, lingerMs: 5 } },
      { enrich: { networksFile } },
    );
    try {
      await sendPcap(app, capturePath(UNIT));
      await until(`${name} decoded the capture`, () => decoded.flows >= FLOWS);
      await until(`${name} published`, () => app.producer!.metrics().produced_flows! >= FLOWS);
      assert.equal(app.enrich.metrics().enrich_flows, FLOWS, `${name} enriched what it publishes`);
      return app.producer!.metrics();
    } finally {
      await app.stop();
    }
  }

  it("binary rows keep the collector's values, pmacct JSON rows get the store's; counted", async () => {
    const topic = "pre.flows";
    await kafka.createTopic(topic, 1);
    const atCollector = networks("collector.yaml", "at-collector");
    const atStore = networks("store.yaml", "at-store");
    // Both publish before the store starts: its fetches then hold binary and JSON messages together.
    await publish("collector-binary", topic, "nagare-binary", atCollector);
    await publish("collector-pmacct", topic, "pmacct-json", atCollector);

    const store = await startStoreApp(
      join(dir, "store"),
      { enabled: true, brokers: [kafka.bootstrap], topic },
      { groupId: "pre-store", commitIntervalMs: 200, lagIntervalMs: 0 },
      { enrich: { networksFile: atStore } },
    );
    try {
      const src = store.kafka!;
      await untilDrained(src, "both copies stored and committed", 2 * FLOWS);
      const page = await store.sql!.query(
        "SELECT src_net_name, dst_net_role, count(*)::BIGINT FROM flows GROUP BY ALL ORDER BY 1",
      );
      assert.deepEqual(
        page.rows.map((r) => [r[0], r[1], Number(r[2])]),
        [
          ["at-collector", "at-collector-role", FLOWS], // nagare-binary: the collector's enrichment, untouched
          ["at-store", "at-store-role", FLOWS], // pmacct JSON carries no network names: the store's
        ],
      );
      const m = src.metrics();
      assert.equal(m.flows_preenriched, FLOWS);
      assert.ok(m.batches_preenriched! >= 1);
      assert.ok(m.batches! > m.batches_preenriched!, "the pmacct rows came in batches of their own");
      assert.equal(
        store.enrich.metrics().enrich_flows,
        FLOWS,
        "the store enriched only the pmacct JSON rows",
      );
      const text = await metricsText(store);
      assert.match(text, new RegExp(`^nagare_kafka_consumer_flows_preenriched_total ${FLOWS}$`, "m"));
      assert.match(text, /^nagare_kafka_consumer_batches_preenriched_total [1-9]\d*$/m);
    } finally {
      await store.stop();
    }
  });

  it("a collector with enrich.enabled false publishes unflagged binary: the store enriches it", async () => {
    const topic = "pre.bare";
    await kafka.createTopic(topic, 1);
    const { app: collector, decoded } = await startCollectorApp(
      join(dir, "collector-bare"),
      { enabled: true, brokers: [kafka.bootstrap], topic, producer: { lingerMs: 5 } },
      { enrich: { enabled: false } },
    );
    const store = await startStoreApp(
      join(dir, "store-bare"),
      { enabled: true, brokers: [kafka.bootstrap], topic },
      { groupId: "pre-bare", commitIntervalMs: 200, lagIntervalMs: 0 },
      { enrich: { networksFile: networks("store-bare.yaml", "at-store") } },
    );
    try {
      await sendPcap(collector, capturePath(UNIT));
      const src = store.kafka!;
      await untilDrained(src, "every flow stored", FLOWS);
      assert.equal(decoded.flows, FLOWS);
      const page = await store.sql!.query("SELECT src_net_name, count(*)::BIGINT FROM flows GROUP BY ALL");
      assert.deepEqual(
        page.rows.map((r) => [r[0], Number(r[1])]),
        [["at-store", FLOWS]],
      );
      assert.equal(src.metrics().flows_preenriched, 0);
      assert.equal(store.enrich.metrics().enrich_flows, FLOWS);
    } finally {
      await store.stop();
      await collector.stop();
    }
  });
});
