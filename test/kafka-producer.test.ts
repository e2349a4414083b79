// KafkaProducer (src/bus/producer.ts) against a real Apache Kafka broker
// (test/helpers/kafka.ts: the official jars, KRaft, one broker for this file):
//  - both formats produced and read back: nagare-binary with the Node client
//    (every column of every flow exact), pmacct JSON with Kafka's own console
//    consumer (an independent reader), flows from a real capture;
//  - the broker killed (SIGKILL) mid-stream and restarted: consume() never
//    blocks, the buffer never exceeds its limit, failed produces are counted
//    and retried, and every flow (numbered in `packets`) arrives;
//  - an outage longer than the buffer: new messages are dropped and counted,
//    and received + dropped = sent.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Consumer } from "@platformatic/kafka";
import { FlowBatch } from "../src/collector/batch.js";
import { parseIp } from "../src/collector/ip.js";
import { NagareBinaryDecoder } from "../src/bus/binary.js";
import { defaultBusConfig, type BusConfig } from "../src/bus/config.js";
import { PmacctJsonDecoder } from "../src/bus/pmacct.js";
import { KafkaProducer } from "../src/bus/producer.js";
import { consoleConsume, type KafkaBroker, startKafka } from "./helpers/kafka.js";
import { CollectSink, copiedBatches } from "./helpers/kafka-apps.js";

let kafka: KafkaBroker;
before(async () => {
  kafka = await startKafka();
});
after(async () => {
  await kafka?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function config(topic: string, over: Partial<BusConfig["producer"]> = {}): BusConfig {
  const c = defaultBusConfig();
  c.enabled = true;
  c.brokers = [kafka.bootstrap];
  c.topic = topic;
  c.producer = {
    ...c.producer,
    lingerMs: 5,
    retryBackoffMs: 100,
    retryMaxMs: 1000,
    requestTimeoutMs: 3000,
    ...over,
  };
  return c;
}

/** Read `topic` from the beginning with the Node client until `done(count, message)` or `timeoutMs`. */
async function readTopic(
  topic: string,
  done: (n: number, value: Buffer) => boolean,
  timeoutMs = 60_000,
): Promise<{ key: Buffer | undefined; value: Buffer }[]> {
  const consumer = new Consumer({
    clientId: "producer-test-reader",
    groupId: `reader-${topic}-${Date.now()}`,
    bootstrapBrokers: [kafka.bootstrap],
    maxWaitTime: 200,
  });
  const out: { key: Buffer | undefined; value: Buffer }[] = [];
  try {
    const stream = await consumer.consume({ topics: [topic], mode: "earliest" });
    const timer = setTimeout(() => void stream.close(), timeoutMs);
    try {
      for await (const m of stream) {
        out.push({ key: m.key as Buffer | undefined, value: m.value as Buffer });
        if (done(out.length, m.value as Buffer)) break;
      }
    } finally {
      clearTimeout(timer);
      await stream.close().catch(() => undefined);
    }
  } finally {
    await new Promise<void>((resolve) => consumer.close(true, () => resolve()));
  }
  return out;
}

/** Rows of a real capture (NetFlow v9), copied out of the pooled batches. */
const captureRows = (): FlowBatch[] => copiedBatches("graylog__nprobe-netflow9-3");

/** `n` flows numbered by `packets` = first … first+n-1 (the end-to-end id), one exporter. */
function numbered(first: number, n: number): FlowBatch {
  const b = new FlowBatch(n);
  const ex = parseIp("192.0.2.10")!;
  for (let i = 0; i < n; i++) {
    b.cols.exporter_address.set(ex, i * 16);
    b.cols.src_addr.set(parseIp(`10.0.${((first + i) >> 8) & 255}.${(first + i) & 255}`)!, i * 16);
    b.cols.packets[i] = first + i;
    b.cols.bytes[i] = 1000;
    b.cols.flows[i] = 1;
    b.cols.protocol[i] = 6;
  }
  b.length = n;
  return b;
}

/** Flow ids (`packets`) of decoded nagare-binary messages; add() returns how many distinct ids so far. */
function idsOf(): { ids: Set<number>; add(v: Buffer): number } {
  const ids = new Set<number>();
  const dec = new NagareBinaryDecoder();
  return {
    ids,
    add(v: Buffer) {
      const sink = new CollectSink();
      assert.equal(dec.decode(v, sink).ok, true);
      for (const b of sink.batches) for (let i = 0; i < b.length; i++) ids.add(b.cols.packets[i]!);
      return ids.size;
    },
  };
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe("KafkaProducer against a real broker", () => {
  it("nagare-binary: every column of every flow of a real capture arrives exactly (3 partitions, key = exporter, lz4)", async () => {
    await kafka.createTopic("flows.binary", 3);
    const batches = captureRows();
    const sent = batches.reduce((n, b) => n + b.length, 0);
    const p = new KafkaProducer(
      config("flows.binary", { format: "nagare-binary", maxFlowsPerMessage: 100, compression: "lz4" }),
    );
    await p.start();
    for (const b of batches) p.consume(b);
    await p.stop();
    const m = p.metrics();
    assert.equal(m.produced_flows, sent);
    assert.equal(m.dropped_flows_buffer_full, 0);
    assert.equal(m.buffer_bytes, 0);
    const msgs = await readTopic("flows.binary", (n) => n >= m.produced_messages!);
    assert.equal(msgs.length, m.produced_messages);
    const sink = new CollectSink();
    const dec = new NagareBinaryDecoder();
    for (const msg of msgs) {
      assert.ok(msg.key && msg.key.length > 0, "keyed by exporter");
      assert.equal(dec.decode(msg.value, sink).ok, true);
    }
    const got = sink
      .rows()
      .map((r) => JSON.stringify(r))
      .sort();
    const want = batches
      .flatMap((b) => Array.from({ length: b.length }, (_, i) => JSON.stringify(b.row(i))))
      .sort();
    assert.equal(got.length, sent);
    assert.deepEqual(got, want);
  });

  it("pmacct JSON: Kafka's console consumer reads one pmacct object per flow; our decoder gets the flows back", async () => {
    await kafka.createTopic("pmacct.flows", 2);
    const batches = captureRows();
    const sent = batches.reduce((n, b) => n + b.length, 0);
    const p = new KafkaProducer(
      config("pmacct.flows", { format: "pmacct-json", compression: "gzip", partitionKey: "dst_addr" }),
    );
    await p.start();
    for (const b of batches) p.consume(b);
    await p.stop();
    assert.equal(p.metrics().produced_messages, sent);
    const lines = consoleConsume(kafka.bootstrap, "pmacct.flows", sent, 60_000);
    assert.equal(lines.length, sent);
    const sink = new CollectSink();
    const dec = new PmacctJsonDecoder();
    let bytes = 0;
    for (const line of lines) {
      const [key, value] = line.split("\t") as [string, string];
      const o = JSON.parse(value) as Record<string, unknown>;
      assert.equal(o.event_type, "purge");
      assert.equal(key, o.ip_dst, "partition key = dst_addr as pmacct prints it");
      bytes += Number(o.bytes);
      assert.deepEqual(dec.decode(Buffer.from(value), sink), { ok: true, flows: 1 });
    }
    const wantBytes = batches.reduce(
      (n, b) => n + b.cols.bytes.subarray(0, b.length).reduce((x, y) => x + y, 0),
      0,
    );
    assert.equal(bytes, wantBytes);
    const tuple = (r: Record<string, string | number>) =>
      [r.src_addr, r.dst_addr, r.src_port, r.dst_port, r.protocol, r.bytes, r.packets].join("|");
    const want = batches.flatMap((b) => Array.from({ length: b.length }, (_, i) => tuple(b.row(i)))).sort();
    assert.deepEqual(sink.rows().map(tuple).sort(), want);
  });

  it("pmacct time bins (kafka_history / kafka_refresh_time): aggregates published every refresh, pmacct's stamps", async () => {
    await kafka.createTopic("pmacct.bins", 1);
    const p = new KafkaProducer(
      config("pmacct.bins", {
        format: "pmacct-json",
        pmacct: {
          fields: ["peer_ip_src", "ip_proto"],
          writerId: "nagare/test",
          historySeconds: 300,
          refreshSeconds: 1,
          maxEntries: 1000,
        },
      }),
    );
    await p.start();
    const t = Date.UTC(2026, 10, 27, 12, 7, 31);
    for (const first of [0, 100]) {
      const b = numbered(first, 100);
      for (let i = 0; i < 100; i++) b.cols.time_flow_start[i] = t + (first === 100 && i >= 50 ? 300_000 : 0);
      p.consume(b);
    }
    // Nothing is published before the refresh; then both bins at once.
    assert.equal(p.metrics().produced_messages, 0);
    assert.equal(p.metrics().history_entries, 2);
    await waitFor("the refresh purge", () => p.metrics().produced_messages === 2, 15_000);
    await p.stop();
    const objs = (await readTopic("pmacct.bins", (n) => n >= 2)).map(
      (m) => JSON.parse(m.value.toString()) as Record<string, unknown>,
    );
    objs.sort((a, b) => String(a.stamp_inserted).localeCompare(String(b.stamp_inserted)));
    const sum = (from: number, to: number) => ((from + to - 1) * (to - from)) / 2; // packets = ids
    assert.deepEqual(
      objs.map(
        ({ stamp_updated, ...o }) => (
          assert.match(String(stamp_updated), /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/),
          o
        ),
      ),
      [
        {
          event_type: "purge",
          peer_ip_src: "192.0.2.10",
          ip_proto: "tcp",
          stamp_inserted: "2026-11-27 12:05:00",
          flows: 150,
          packets: sum(0, 150),
          bytes: 150_000,
          writer_id: "nagare/test",
        },
        {
          event_type: "purge",
          peer_ip_src: "192.0.2.10",
          ip_proto: "tcp",
          stamp_inserted: "2026-11-27 12:10:00",
          flows: 50,
          packets: sum(150, 200),
          bytes: 50_000,
          writer_id: "nagare/test",
        },
      ],
    );
  });

  it("broker killed (SIGKILL) mid-stream and restarted: consume() never blocks, buffer bounded, retries counted, no flow lost", async () => {
    await kafka.createTopic("flows.outage", 2);
    const limit = 4 * 1024 * 1024;
    const p = new KafkaProducer(
      config("flows.outage", { format: "nagare-binary", bufferBytes: limit, maxFlowsPerMessage: 50 }),
    );
    await p.start();
    let next = 0;
    const consumeMs: number[] = [];
    let maxBuffer = 0;
    const push = (n: number) => {
      const b = numbered(next, n);
      next += n;
      const t = performance.now();
      p.consume(b);
      consumeMs.push(performance.now() - t);
      maxBuffer = Math.max(maxBuffer, p.metrics().buffer_bytes!);
    };
    for (let k = 0; k < 20; k++) {
      push(50);
      await sleep(10);
    }
    await waitFor("first flows produced", () => p.metrics().produced_flows! > 0);
    await kafka.kill();
    // Keep receiving during the outage, as the UDP collector would.
    const during = setInterval(() => push(50), 20);
    await sleep(2500);
    const restart = kafka.restart();
    await restart;
    clearInterval(during);
    for (let k = 0; k < 10; k++) {
      push(50);
      await sleep(10);
    }
    await waitFor("buffer drained", () => p.metrics().buffer_messages === 0, 90_000);
    await p.stop();
    const m = p.metrics();
    assert.ok(m.retried_messages! > 0, `retries counted (${JSON.stringify(m)})`);
    assert.ok(m.produce_errors! > 0);
    assert.equal(m.dropped_flows_buffer_full, 0);
    assert.ok(maxBuffer <= limit && m.buffer_bytes_max! <= limit, `buffer ${m.buffer_bytes_max} ≤ ${limit}`);
    // consume() is synchronous (returns void, never awaits the broker): its time is encoding only.
    // The max bound tolerates scheduler stalls of a shared 2-core machine; a blocking send would take seconds.
    consumeMs.sort((a, b) => a - b);
    const median = consumeMs[consumeMs.length >> 1]!;
    const max = consumeMs.at(-1)!;
    assert.ok(median < 5 && max < 250, `consume() median ${median.toFixed(2)} ms, max ${max.toFixed(1)} ms`);
    // End to end by id: every flow 0 … next-1 arrived (at-least-once: a resent produce may duplicate).
    const seen = idsOf();
    await readTopic("flows.outage", (_, v) => seen.add(v) >= next, 30_000);
    const missing = [...Array(next).keys()].filter((id) => !seen.ids.has(id));
    assert.deepEqual(missing.slice(0, 10), [], `${missing.length} of ${next} flows lost`);
    assert.equal(m.produced_flows, next);
  });

  it("an outage longer than the buffer: new flows are dropped and counted, received + dropped = sent", async () => {
    await kafka.createTopic("flows.drop", 1);
    const limit = 64 * 1024;
    const p = new KafkaProducer(
      config("flows.drop", { format: "nagare-binary", bufferBytes: limit, maxFlowsPerMessage: 10 }),
    );
    await p.start();
    let next = 0;
    let maxBuffer = 0;
    p.consume(numbered(next, 10));
    next += 10;
    await waitFor("first flows produced", () => p.metrics().produced_flows === 10);
    await kafka.kill();
    for (let k = 0; k < 400; k++) {
      p.consume(numbered(next, 10));
      next += 10;
      maxBuffer = Math.max(maxBuffer, p.metrics().buffer_bytes!);
      if (k % 50 === 0) await sleep(5);
    }
    const dropped = p.metrics().dropped_flows_buffer_full!;
    assert.ok(dropped > 0, "drops counted");
    assert.ok(maxBuffer <= limit, `buffer ${maxBuffer} ≤ ${limit}`);
    await kafka.restart();
    await waitFor("buffer drained", () => p.metrics().buffer_messages === 0, 90_000);
    await p.stop();
    const m = p.metrics();
    const got = idsOf();
    await readTopic("flows.drop", (_, v) => got.add(v) >= m.produced_flows!, 30_000);
    const seen = got.ids;
    assert.equal(
      seen.size + m.dropped_flows_buffer_full!,
      next,
      `received ${seen.size} + dropped ${m.dropped_flows_buffer_full} = sent ${next}`,
    );
    assert.equal(m.produced_flows, seen.size);
    // The oldest flows (buffered first) were kept; the newest were the ones dropped.
    for (let id = 0; id < 100; id++) assert.ok(seen.has(id), `flow ${id} kept`);
  });
});
