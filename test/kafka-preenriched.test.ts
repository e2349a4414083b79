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
import { createSocket } from "node:dgram";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { App } from "../src/app.js";
import { FlowBatch } from "../src/collector/batch.js";
import { validateConfig } from "../src/config/schema.js";
import {
  BINARY_VERSION,
  FLAG_PREENRICHED,
  NagareBinaryDecoder,
  NagareBinaryEncoder,
  binaryPreenriched,
} from "../src/bus/binary.js";
import type { BatchSink } from "../src/bus/types.js";
import { FLOW_COLUMNS } from "../src/schema.js";
import { silentLogger } from "../src/log.js";
import { CAPTURES_DIR, decodeUnit } from "./helpers/captures.js";
import { startKafka, type KafkaBroker } from "./helpers/kafka.js";
import { readPcapUdp } from "./helpers/pcap.js";

const UNIT = "graylog__nprobe-netflow9-3";
// expected/SUMMARY.tsv: 892 flow records in this unit (tshark).
const FLOWS = 892;

class CollectSink implements BatchSink {
  readonly batches: FlowBatch[] = [];
  batch(): FlowBatch {
    let b = this.batches.at(-1);
    if (!b || b.full) this.batches.push((b = new FlowBatch(1024)));
    return b;
  }
  rows(): Record<string, string | number>[] {
    return this.batches.flatMap((b) => Array.from({ length: b.length }, (_, i) => b.row(i)));
  }
}

/** The capture's flows, copied out of the decoder's recycled batches. */
function captureBatches(): FlowBatch[] {
  const out: FlowBatch[] = [];
  decodeUnit(UNIT, (b) => {
    const c = new FlowBatch(b.length);
    const src = b.cols as unknown as Record<string, ArrayLike<number> | string[]>;
    const dst = c.cols as unknown as Record<string, unknown[]>;
    for (const col of FLOW_COLUMNS) {
      const s = src[col.name]!;
      const d = dst[col.name]!;
      const n = col.kind === "ip" ? b.length * 16 : b.length;
      for (let i = 0; i < n; i++) d[i] = s[i];
    }
    c.length = b.length;
    out.push(c);
  });
  return out;
}

describe("nagare-binary header: PREENRICHED flag, version 2, version 1 still read", () => {
  const batches = captureBatches();

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
  before(async () => {
    kafka = await startKafka();
    dir = mkdtempSync(join(tmpdir(), "nagare-preenriched-"));
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
    let decoded = 0;
    const app = new App({
      config: validateConfig({
        mode: "collector",
        dataDir: join(dir, name),
        collector: { listen: ["127.0.0.1:0"], sflowListen: ["127.0.0.1:0"] },
        http: { listen: "127.0.0.1:0" },
        demo: { enabled: false },
        enrich: { networksFile },
        bus: { enabled: true, brokers: [kafka.bootstrap], topic, producer: { format, lingerMs: 5 } },
      }),
      log: silentLogger,
      consumers: [{ name: "count", consume: (b: FlowBatch) => void (decoded += b.length) }],
    });
    await app.start();
    try {
      const port = app.collector.bound[0]!.port;
      const sock = createSocket("udp4");
      for (const d of readPcapUdp(join(CAPTURES_DIR, `${UNIT}.pcap`)))
        await new Promise<void>((r, j) => sock.send(d.payload, port, "127.0.0.1", (e) => (e ? j(e) : r())));
      sock.close();
      await until(`${name} decoded the capture`, () => decoded >= FLOWS);
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

    const store = new App({
      config: validateConfig({
        mode: "store",
        dataDir: join(dir, "store"),
        http: { listen: "127.0.0.1:0" },
        demo: { enabled: false },
        store: { intervalMs: 100 },
        enrich: { networksFile: atStore },
        bus: {
          enabled: true,
          brokers: [kafka.bootstrap],
          topic,
          consumer: { groupId: "pre-store", commitIntervalMs: 200, lagIntervalMs: 0 },
        },
      }),
      log: silentLogger,
    });
    await store.start();
    try {
      const src = store.kafka!;
      await until("both copies stored and committed", async () => {
        await src.commitNow();
        await src.refreshLag();
        return src.flows >= 2 * FLOWS && src.partitions().every((p) => p.lag === 0);
      });
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
      const text = await (await fetch(`http://${store.http.address}/metrics`)).text();
      assert.match(text, new RegExp(`^nagare_kafka_consumer_flows_preenriched_total ${FLOWS}$`, "m"));
      assert.match(text, /^nagare_kafka_consumer_batches_preenriched_total [1-9]\d*$/m);
    } finally {
      await store.stop();
    }
  });

  it("a collector with enrich.enabled false publishes unflagged binary: the store enriches it", async () => {
    const topic = "pre.bare";
    await kafka.createTopic(topic, 1);
    let decoded = 0;
    const collector = new App({
      config: validateConfig({
        mode: "collector",
        dataDir: join(dir, "collector-bare"),
        collector: { listen: ["127.0.0.1:0"], sflowListen: ["127.0.0.1:0"] },
        http: { listen: "127.0.0.1:0" },
        demo: { enabled: false },
        enrich: { enabled: false },
        bus: { enabled: true, brokers: [kafka.bootstrap], topic, producer: { lingerMs: 5 } },
      }),
      log: silentLogger,
      consumers: [{ name: "count", consume: (b: FlowBatch) => void (decoded += b.length) }],
    });
    const store = new App({
      config: validateConfig({
        mode: "store",
        dataDir: join(dir, "store-bare"),
        http: { listen: "127.0.0.1:0" },
        demo: { enabled: false },
        store: { intervalMs: 100 },
        enrich: { networksFile: networks("store-bare.yaml", "at-store") },
        bus: {
          enabled: true,
          brokers: [kafka.bootstrap],
          topic,
          consumer: { groupId: "pre-bare", commitIntervalMs: 200, lagIntervalMs: 0 },
        },
      }),
      log: silentLogger,
    });
    await collector.start();
    await store.start();
    try {
      const port = collector.collector.bound[0]!.port;
      const sock = createSocket("udp4");
      for (const d of readPcapUdp(join(CAPTURES_DIR, `${UNIT}.pcap`)))
        await new Promise<void>((r, j) => sock.send(d.payload, port, "127.0.0.1", (e) => (e ? j(e) : r())));
      sock.close();
      const src = store.kafka!;
      await until("every flow stored", async () => {
        await src.commitNow();
        await src.refreshLag();
        return src.flows >= FLOWS && src.partitions().every((p) => p.lag === 0);
      });
      assert.equal(decoded, FLOWS);
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
