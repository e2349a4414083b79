// The Kafka consumer (src/bus/consumer.ts) against a real broker
// (test/helpers/kafka.ts: Apache Kafka jars from Maven Central, KRaft):
// two members of one group split the partitions; offsets are committed only
// behind the durability barrier (lag stays at the log end while the store
// does not commit, goes to 0 once it does); malformed messages are counted by
// reason and skipped.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Producer } from "@platformatic/kafka";
import type { FlowBatch } from "../src/collector/batch.js";
import { putIpv4 } from "../src/collector/ip.js";
import { KafkaFlowSource } from "../src/bus/consumer.js";
import {
  NagareBinaryEncoder as BinaryEncoder,
  NagareBinaryDecoder as BinaryDecoder,
} from "../src/bus/binary.js";
import { PmacctJsonDecoder } from "../src/bus/pmacct.js";
import { FlowBatch as Batch } from "../src/collector/batch.js";
import { startKafka, type KafkaBroker } from "./helpers/kafka.js";

let kafka: KafkaBroker;
before(async () => {
  kafka = await startKafka();
});
after(async () => {
  await kafka?.stop();
});

const decoders = () => ({ "nagare-binary": new BinaryDecoder(), "pmacct-json": new PmacctJsonDecoder() });

/** A batch of `n` flows; flow i of message m has bytes = 1000·m + i + 1, packets = 1, dst 10.0.m.i. */
function flows(m: number, n: number): FlowBatch {
  const b = new Batch(n);
  for (let i = 0; i < n; i++) {
    b.cols.bytes[i] = 1000 * m + i + 1;
    b.cols.packets[i] = 1;
    b.cols.time_received[i] = 1_700_000_000_000 + m;
    b.cols.protocol[i] = 6;
    putIpv4(b.cols.dst_addr, i * 16, (10 << 24) | ((m & 255) << 8) | (i & 255));
    b.length++;
  }
  return b;
}

/** Produce `count` binary messages of `per` flows round robin over `partitions`; per-partition byte totals. */
async function produce(
  topic: string,
  partitions: number,
  count: number,
  per: number,
  m0 = 0,
): Promise<number[]> {
  const producer = new Producer({ clientId: "k2-test", bootstrapBrokers: [kafka.bootstrap] });
  const enc = new BinaryEncoder();
  const totals = new Array<number>(partitions).fill(0);
  try {
    const messages = [];
    for (let m = m0; m < m0 + count; m++) {
      const b = flows(m, per);
      for (const msg of enc.encode(b)) {
        messages.push({ topic, partition: m % partitions, value: msg.value });
      }
      for (let i = 0; i < per; i++) totals[m % partitions]! += b.cols.bytes[i]!;
    }
    await producer.send({ messages });
  } finally {
    await producer.close();
  }
  return totals;
}

/** A source collecting what it pushes: flows and byte totals. */
function source(
  topic: string,
  groupId: string,
  extra: Partial<ConstructorParameters<typeof KafkaFlowSource>[0]> = {},
) {
  // seen: distinct flows (bytes are unique per message and row), to tell redeliveries from losses.
  const got = { flows: 0, bytes: 0, seen: new Set<number>() };
  const src = new KafkaFlowSource({
    brokers: [kafka.bootstrap],
    topic,
    groupId,
    format: "auto",
    decoders: decoders(),
    commitIntervalMs: 200,
    lagIntervalMs: 0,
    maxWaitMs: 100,
    sessionTimeoutMs: 6000,
    heartbeatIntervalMs: 500,
    push: (b) => {
      got.flows += b.length;
      for (let i = 0; i < b.length; i++) {
        got.bytes += b.cols.bytes[i]!;
        got.seen.add(b.cols.bytes[i]!);
      }
    },
    ...extra,
  });
  return { src, got };
}

async function until(what: string, cond: () => boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test("two consumers in one group split the partitions: disjoint, non-empty, together every flow", async () => {
  const topic = "k2.split";
  const P = 4;
  await kafka.createTopic(topic, P);
  const a = source(topic, "k2-split");
  const b = source(topic, "k2-split");
  await a.src.start();
  await b.src.start();
  try {
    // A stable assignment first (both members joined): then no partition moves while flows arrive.
    await until("both members assigned", () => {
      const x = a.src.assigned();
      const y = b.src.assigned();
      return x.length > 0 && y.length > 0 && x.length + y.length === P;
    });
    const x = a.src.assigned();
    const y = b.src.assigned();
    assert.deepEqual(
      [...x, ...y].sort((p, q) => p - q),
      [0, 1, 2, 3],
    );
    assert.equal(x.filter((p) => y.includes(p)).length, 0, "partitions are disjoint");

    // Fetches sent before the rebalance may still be in flight: let them return (their
    // records for partitions now the other member's are dropped, see stale_dropped).
    await new Promise((r) => setTimeout(r, 500));
    const totals = await produce(topic, P, 40, 25);
    const all = totals.reduce((s, t) => s + t, 0);
    await until("all flows consumed", () => a.got.flows + b.got.flows === 40 * 25).catch((e: Error) => {
      throw new Error(
        `${e.message}: a ${JSON.stringify(a.got)} ${JSON.stringify(a.src.assigned())} ${JSON.stringify(a.src.metrics())}; b ${JSON.stringify(b.got)} ${JSON.stringify(b.src.assigned())} ${JSON.stringify(b.src.metrics())}`,
      );
    });
    assert.equal(a.got.bytes + b.got.bytes, all);
    // Each member got exactly its partitions' flows.
    assert.equal(
      a.got.bytes,
      x.reduce((s, p) => s + totals[p]!, 0),
    );
    assert.equal(
      b.got.bytes,
      y.reduce((s, p) => s + totals[p]!, 0),
    );
    assert.ok(a.got.flows > 0 && b.got.flows > 0);

    // Caught up and committed: every partition's lag is 0.
    await a.src.commitNow();
    await b.src.commitNow();
    await a.src.refreshLag();
    await b.src.refreshLag();
    for (const p of [...a.src.partitions(), ...b.src.partitions()]) {
      assert.equal(p.lag, 0, `partition ${p.partition} lag`);
      assert.equal(p.committed, p.highWatermark);
      assert.equal(p.highWatermark, 10); // 40 messages round robin over 4 partitions
    }
    assert.equal(a.src.metrics().lag, 0);
  } finally {
    await a.src.stop();
    await b.src.stop();
  }
});

test("offsets wait for the barrier: lag stays at the log end while the store does not commit, 0 once it does", async () => {
  const topic = "k2.barrier";
  await kafka.createTopic(topic, 2);
  await produce(topic, 2, 10, 3);
  let durable = false;
  const c = source(topic, "k2-barrier", { barrier: async () => durable });
  await c.src.start();
  try {
    await until("all flows consumed", () => c.got.flows === 30);
    await c.src.commitNow();
    await c.src.refreshLag();
    assert.ok(c.src.barrierFailures >= 1);
    assert.deepEqual(
      c.src.partitions().map((p) => [p.partition, p.committed, p.lag]),
      [
        [0, -1, 5],
        [1, -1, 5],
      ],
    );
    durable = true;
    await c.src.commitNow();
    await c.src.refreshLag();
    assert.deepEqual(
      c.src.partitions().map((p) => [p.partition, p.committed, p.lag]),
      [
        [0, 5, 0],
        [1, 5, 0],
      ],
    );
  } finally {
    await c.src.stop();
  }
  // A new member of the group starts at the committed offsets: nothing again.
  const d = source(topic, "k2-barrier");
  await d.src.start();
  try {
    await until("assigned", () => d.src.assigned().length === 2);
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(d.got.flows, 0);
  } finally {
    await d.src.stop();
  }
});

test("malformed messages are counted by reason and skipped; good ones around them still arrive", async () => {
  const topic = "k2.malformed";
  await kafka.createTopic(topic, 1);
  const producer = new Producer({ clientId: "k2-test", bootstrapBrokers: [kafka.bootstrap] });
  const good = new BinaryEncoder().encode(flows(1, 4))[0]!.value;
  try {
    await producer.send({
      messages: [
        { topic, partition: 0, value: Buffer.from("{not json") },
        { topic, partition: 0, value: good.subarray(0, 7) },
        { topic, partition: 0, value: Buffer.alloc(0) },
        { topic, partition: 0, value: good },
      ],
    });
  } finally {
    await producer.close();
  }
  const c = source(topic, "k2-malformed");
  await c.src.start();
  try {
    await until("good flows", () => c.got.flows === 4);
    await until("all messages", () => c.src.metrics().messages === 4);
    const m = c.src.metrics();
    assert.equal(m.malformed, 3);
    assert.equal(c.src.status().malformed.empty, 1);
    assert.equal(
      Object.values(c.src.status().malformed).reduce((s, n) => s + n, 0),
      3,
    );
    await c.src.commitNow();
    await c.src.refreshLag();
    assert.equal(c.src.partitions()[0]!.committed, 4, "committed past the malformed ones");
  } finally {
    await c.src.stop();
  }
});

test("broker killed (SIGKILL) and restarted: the consumer reopens, reads what was produced after, nothing lost", async () => {
  const topic = "k2.outage";
  await kafka.createTopic(topic, 2);
  const before = await produce(topic, 2, 10, 5);
  const c = source(topic, "k2-outage");
  await c.src.start();
  try {
    await until("first flows", () => c.got.seen.size === 50).catch((e: Error) => {
      throw new Error(`${e.message}: ${c.got.flows} flows, ${JSON.stringify(c.src.status())}`);
    });
    await c.src.commitNow();
    await kafka.kill();
    // Commits and fetches fail meanwhile: counted, never thrown.
    await new Promise((r) => setTimeout(r, 2000));
    await c.src.commitNow();
    await kafka.restart();
    const after = await produce(topic, 2, 10, 5, 10);
    const all = [...before, ...after].reduce((s, t) => s + t, 0);
    await until("flows produced after the restart", () => c.got.seen.size === 100, 60_000);
    await c.src.commitNow();
    await c.src.refreshLag();
    // At-least-once: every flow arrived. Duplicates only if the group rebalanced in between
    // (a heartbeat lost on a loaded machine): then what was not committed is read again.
    assert.equal(c.got.seen.size, 100);
    if (c.src.rebalances === 1) assert.equal(c.got.bytes, all, "no rebalance: no duplicate");
    else assert.ok(c.got.bytes >= all);
    assert.ok(c.src.partitions().every((p) => p.lag === 0));
  } finally {
    await c.src.stop();
  }
});

test("at-least-once: what a member pushed but could not make durable is read again by the next member, and only that", async () => {
  const topic = "k2.redeliver";
  await kafka.createTopic(topic, 1);
  await produce(topic, 1, 10, 2);
  let durable = true;
  const a = source(topic, "k2-redeliver", { barrier: async () => durable });
  await a.src.start();
  try {
    await until("first 10 messages", () => a.got.flows === 20);
    await a.src.commitNow();
    // The store stops committing (disk full, crash …): nothing more is acknowledged to Kafka.
    durable = false;
    await produce(topic, 1, 6, 2);
    await until("6 more messages", () => a.got.flows === 32);
  } finally {
    await a.src.stop(); // its final commit round is refused by the barrier
  }
  const b = source(topic, "k2-redeliver");
  await b.src.start();
  try {
    await until("redelivered messages", () => b.got.flows === 12);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(b.got.flows, 12, "exactly the 6 unacknowledged messages, nothing before them");
    await b.src.commitNow();
    await b.src.refreshLag();
    assert.deepEqual(
      b.src.partitions().map((p) => [p.committed, p.lag]),
      [[16, 0]],
    );
  } finally {
    await b.src.stop();
  }
});
