// Nagare Apps around a real Kafka broker (test/helpers/kafka.ts), shared by
// the end-to-end Kafka tests (kafka-security, kafka-mtls, kafka-preenriched,
// kafka-producer):
//
//   const { app, decoded } = await startCollectorApp(join(dir, "c"), bus);  // collector mode, UDP in
//   const store = await startStoreApp(join(dir, "s"), bus, { groupId: "g" }); // store mode, Kafka in
//   await sendPcap(app, capturePath(UNIT));          // replay a capture's UDP payloads
//   await untilDrained(store.kafka!, "every flow", N); // stored, committed, lag 0
//   assert.deepEqual(await sqlTotals(store), EXPECTED);
//
// Every App listens on ephemeral loopback ports; nothing here asserts on
// flows: the tests do.
import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before } from "node:test";
import { App } from "../../src/app.js";
import { FlowBatch } from "../../src/collector/batch.js";
import { validateConfig } from "../../src/config/schema.js";
import type { KafkaFlowSource } from "../../src/bus/consumer.js";
import type { BusError } from "../../src/bus/errors.js";
import type { BatchSink } from "../../src/bus/types.js";
import { silentLogger } from "../../src/log.js";
import { FLOW_COLUMNS } from "../../src/schema.js";
import { CAPTURES_DIR, decodeUnit } from "./captures.js";
import { type KafkaBroker, type KafkaOptions, startKafka } from "./kafka.js";
import { readPcapUdp } from "./pcap.js";

/** Poll `cond` every 100 ms until true; throws "timed out waiting for <what>" after `ms`. */
export async function until(
  what: string,
  cond: () => boolean | Promise<boolean>,
  ms = 45_000,
): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface Totals {
  flows: number;
  bytes: number;
  packets: number;
}
export const zeroTotals = (): Totals => ({ flows: 0, bytes: 0, packets: 0 });
export function addTotals(t: Totals, b: FlowBatch): void {
  t.flows += b.length;
  for (let i = 0; i < b.length; i++) {
    t.bytes += b.cols.bytes[i]!;
    t.packets += b.cols.packets[i]!;
  }
}

/**
 * A collector-mode App publishing to `bus` (the section a user writes);
 * `decoded` totals what its pipeline saw (the UDP path, whatever Kafka does).
 * `extra`: more top-level config sections (enrich, …).
 */
export async function startCollectorApp(
  dataDir: string,
  bus: Record<string, unknown>,
  extra: Record<string, unknown> = {},
): Promise<{ app: App; decoded: Totals }> {
  const decoded = zeroTotals();
  const app = new App({
    config: validateConfig({
      mode: "collector",
      dataDir,
      collector: { listen: ["127.0.0.1:0"], sflowListen: ["127.0.0.1:0"] },
      http: { listen: "127.0.0.1:0" },
      demo: { enabled: false },
      ...extra,
      bus,
    }),
    log: silentLogger,
    consumers: [{ name: "test-totals", consume: (b: FlowBatch) => addTotals(decoded, b) }],
  });
  await app.start();
  return { app, decoded };
}

/**
 * A store-mode App consuming `bus` with the `consumer` section into its own
 * store (flushed every 100 ms). Its start must not hang, whatever the broker
 * says (a join failure is retried in the background).
 */
export async function startStoreApp(
  dataDir: string,
  bus: Record<string, unknown>,
  consumer: Record<string, unknown>,
  extra: Record<string, unknown> = {},
): Promise<App> {
  const store = new App({
    config: validateConfig({
      mode: "store",
      dataDir,
      http: { listen: "127.0.0.1:0" },
      demo: { enabled: false },
      store: { intervalMs: 100 },
      ...extra,
      bus: { ...bus, consumer },
    }),
    log: silentLogger,
  });
  const t0 = Date.now();
  await store.start();
  assert.ok(Date.now() - t0 < 30_000, "store start does not hang on a broker failure");
  return store;
}

/** The path of a capture file in /work/shared/captures. */
export const capturePath = (unit: string): string => join(CAPTURES_DIR, `${unit}.pcap`);

/**
 * The capture the end-to-end Kafka tests replay (NetFlow v9 from nProbe) and
 * its totals: expected/SUMMARY.tsv, tshark decodes 892 flow records, 224593
 * bytes, 2949 packets in this unit.
 */
export const NPROBE_V9 = {
  pcap: capturePath("graylog__nprobe-netflow9-3"),
  totals: { flows: 892, bytes: 224_593, packets: 2949 } as Totals,
};

/** Replay every UDP payload of `pcap` to the App's first flow listener, in order. */
export async function sendPcap(app: App, pcap: string): Promise<void> {
  const datagrams = readPcapUdp(pcap);
  const port = app.collector.bound[0]!.port;
  const sock = createSocket("udp4");
  try {
    for (const d of datagrams)
      await new Promise<void>((r, j) => sock.send(d.payload, port, "127.0.0.1", (e) => (e ? j(e) : r())));
  } finally {
    sock.close();
  }
}

/** Until `src` consumed at least `flows` flows, committed them and has no lag left. */
export async function untilDrained(src: KafkaFlowSource, what: string, flows: number): Promise<void> {
  await until(what, async () => {
    // Counted first, then a commit round: the round pushes the batch being filled and
    // waits for the store's flush, so every flow counted here is in SQL once it returns.
    // (Counted after the round, a fetch decoded meanwhile would pass unflushed.)
    if (src.flows < flows) return false;
    await src.commitNow();
    await src.refreshLag();
    const parts = src.partitions();
    return parts.length > 0 && parts.every((p) => p.lag === 0);
  });
}

/** count / sum(bytes) / sum(packets) of the App's flows table, through its SQL service. */
export async function sqlTotals(app: App): Promise<Totals> {
  const page = await app.sql!.query(
    "SELECT count(*)::BIGINT, sum(bytes)::BIGINT, sum(packets)::BIGINT FROM flows",
  );
  const [flows, bytes, packets] = page.rows[0]!.map(Number);
  return { flows: flows!, bytes: bytes!, packets: packets! };
}

/** GET an API path with the App's token; asserts 200. */
export async function apiGet<T>(app: App, path: string): Promise<T> {
  const res = await fetch(`http://${app.http.address}${path}`, {
    headers: { Authorization: `Bearer ${app.token!.token}` },
  });
  assert.equal(res.status, 200, path);
  return (await res.json()) as T;
}

export async function metricsText(app: App): Promise<string> {
  return (await fetch(`http://${app.http.address}/metrics`)).text();
}

/** The value of the unlabelled sample `name` in the App's /metrics; asserts it is there. */
export async function metricValue(app: App, name: string): Promise<number> {
  const m = new RegExp(`^${name} (\\S+)$`, "m").exec(await metricsText(app));
  assert.ok(m, `${name} in /metrics`);
  return Number(m[1]);
}

/** Collects decoded messages' rows in batches of 1024. */
export class CollectSink implements BatchSink {
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

/** A capture unit's flows (decodeUnit), copied out of the decoder's recycled batches. */
export function copiedBatches(unit: string): FlowBatch[] {
  const out: FlowBatch[] = [];
  decodeUnit(unit, (b) => {
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

/** What GET /api/v1/kafka says of a store-mode App's consumer. */
export type ConsumerState = { consumer: { lastError: BusError | null; metrics: Record<string, number> } };

/**
 * A collector whose produces the broker refuses: `pcap` is sent, the UDP
 * path decodes all of it anyway (`expected`), the failure is counted as
 * `kind` (also in /metrics) and described in GET /api/v1/kafka by a message
 * matching every `res`. Returns the producer's metrics after the failure.
 */
export async function assertProducerFails(
  app: App,
  decoded: Totals,
  pcap: string,
  expected: Totals,
  kind: "tls" | "auth",
  res: RegExp[],
): Promise<Record<string, number>> {
  await sendPcap(app, pcap);
  await until("the collector decoded the capture", () => decoded.flows >= expected.flows);
  assert.deepEqual(decoded, expected, "UDP path unaffected");
  await until("a produce failed", () => app.producer!.metrics()[`produce_errors_${kind}`]! > 0);
  const pm = app.producer!.metrics();
  const state = await apiGet<{ producerLastError: BusError | null }>(app, "/api/v1/kafka");
  assert.equal(state.producerLastError?.kind, kind, JSON.stringify(state.producerLastError));
  for (const re of res) assert.match(state.producerLastError!.message, re);
  assert.ok((await metricValue(app, `nagare_kafka_producer_produce_errors_${kind}_total`)) > 0);
  return pm;
}

/**
 * A store-mode App whose consumer the broker refuses: the failure is counted
 * as `kind` (also in /metrics) and described in GET /api/v1/kafka by a
 * message matching every `res`; the node still serves SQL (no flows).
 */
export async function assertStoreConsumerFails(
  store: App,
  kind: "tls" | "auth",
  res: RegExp[],
): Promise<void> {
  await until("the store's consumer reported the failure", () => store.kafka!.lastError !== null);
  const ss = await apiGet<ConsumerState>(store, "/api/v1/kafka");
  assert.equal(ss.consumer.lastError?.kind, kind, JSON.stringify(ss.consumer.lastError));
  for (const re of res) assert.match(ss.consumer.lastError!.message, re);
  assert.ok(ss.consumer.metrics[`errors_${kind}`]! > 0);
  assert.ok((await metricValue(store, `nagare_kafka_consumer_errors_${kind}_total`)) > 0);
  const page = await store.sql!.query("SELECT count(*)::BIGINT FROM flows");
  assert.equal(Number(page.rows[0]![0]), 0);
}

/**
 * One broker for the file (or the describe() it is called in), started in
 * before() with `opts`, and a scratch directory `prefix`XXXXXX; both handed
 * to `ready`, both removed in after().
 */
export function useKafka(
  opts: KafkaOptions,
  prefix: string,
  ready: (kafka: KafkaBroker, dir: string) => void,
): void {
  let kafka: KafkaBroker | undefined;
  let dir = "";
  before(async () => {
    kafka = await startKafka(opts);
    dir = mkdtempSync(join(tmpdir(), prefix));
    ready(kafka, dir);
  });
  after(async () => {
    await kafka?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
}
