// The running collector end to end on real loopback sockets: config → App →
// UDP → FlowDecoder → pipeline consumer, and the HTTP API reading the stats.
import assert from "node:assert/strict";
import { createSocket, type Socket } from "node:dgram";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { App } from "../app.js";
import { validateConfig } from "../config/schema.js";
import { FlowModel, NetflowV9Exporter } from "../demo/generator.js";
import type { FlowConsumer } from "../pipeline/index.js";
import type { FlowBatch } from "./batch.js";

const CAPTURES = "/work/shared/captures";
const MICROTIK = readFileSync(join(CAPTURES, "logstash__netflow5_test_microtik.dat"));
/** tshark's per-record decode of the same datagram (shared/captures/expected). */
const EXPECTED = readFileSync(join(CAPTURES, "expected/logstash__netflow5_test_microtik.jsonl"), "utf8")
  .trim()
  .split("\n")
  .map((l) => JSON.parse(l) as Record<string, string | number>);

class Collect implements FlowConsumer {
  readonly name = "test";
  rows: Record<string, string | number>[] = [];
  consume(b: FlowBatch): void {
    for (let i = 0; i < b.length; i++) this.rows.push(b.row(i));
  }
}

async function until(what: string, cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function send(sock: Socket, data: Uint8Array, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) =>
    sock.send(data, port, host, (err) => (err ? reject(err) : resolve())),
  );
}

async function startApp(
  extra: Record<string, unknown> = {},
): Promise<{ app: App; sink: Collect; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), "nagare-svc-"));
  const config = validateConfig({
    collector: { listen: ["127.0.0.1:0", "[::1]:0"], receiveBufferBytes: 1 << 20 },
    http: { listen: "127.0.0.1:0" },
    dataDir: join(dir, "data"),
    demo: { enabled: false },
    ...extra,
  });
  const sink = new Collect();
  const app = new App({ config, consumers: [sink], log: { ...silent } });
  await app.start();
  return { app, sink, dir };
}

const noop = (): void => {};
const silent = { debug: noop, info: noop, warn: noop, error: noop, limited: noop };

test("a real NetFlow v5 datagram over UDP arrives at the consumer, /metrics counts it, junk is counted", async () => {
  const { app, sink, dir } = await startApp();
  const sock = createSocket("udp4");
  try {
    const port = app.collector.bound[0]!.port;
    const t0 = Date.now();
    await send(sock, MICROTIK, port, "127.0.0.1");
    // Flushed by the 100 ms timer, not by a full batch.
    await until("30 flows", () => sink.rows.length >= 30, 2000);
    assert.ok(Date.now() - t0 < 1000, "flows delivered within a second");
    assert.equal(sink.rows.length, 30);
    assert.equal(EXPECTED.length, 30);
    sink.rows.forEach((r, i) => {
      const e = EXPECTED[i]!;
      assert.equal(r.src_addr, e.src, `row ${i} src`);
      assert.equal(r.dst_addr, e.dst, `row ${i} dst`);
      assert.equal(r.src_port, e.sport);
      assert.equal(r.dst_port, e.dport);
      assert.equal(r.protocol, e.proto);
      assert.equal(r.bytes, e.bytes);
      assert.equal(r.packets, e.packets);
      assert.equal(r.in_if, e.in_if);
      assert.equal(r.out_if, e.out_if);
      assert.equal(r.exporter_address, "127.0.0.1");
      assert.ok((r.time_received as number) >= t0 - 5 && (r.time_received as number) <= Date.now());
    });
    const totalBytes = EXPECTED.reduce((n, e) => n + (e.bytes as number), 0);
    assert.equal(app.rate.totalBytes, totalBytes);

    const base = `http://${app.http.address}`;
    let metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(metrics, /^nagare_collector_packets_total\{exporter="127\.0\.0\.1"\} 1$/m);
    assert.match(
      metrics,
      new RegExp(`^nagare_collector_bytes_total\\{exporter="127\\.0\\.0\\.1"\\} ${MICROTIK.length}$`, "m"),
    );
    assert.match(metrics, /^nagare_collector_flow_records_total\{exporter="127\.0\.0\.1"\} 30$/m);
    assert.match(
      metrics,
      /^nagare_collector_packets_by_version_total\{exporter="127\.0\.0\.1",version="5"\} 1$/m,
    );
    assert.match(metrics, /^nagare_pipeline_flows_total 30$/m);

    // Junk: an unknown export version. Counted under its reason; nothing breaks.
    const junk = Buffer.alloc(40, 0xab);
    junk.writeUInt16BE(99, 0);
    await send(sock, junk, port, "127.0.0.1");
    await send(sock, Buffer.from([0x00]), port, "127.0.0.1");
    await send(sock, MICROTIK, port, "127.0.0.1");
    await until("60 flows", () => sink.rows.length >= 60);
    metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(
      metrics,
      /^nagare_collector_decode_errors_total\{exporter="127\.0\.0\.1",reason="bad_version"\} 1$/m,
    );
    assert.match(
      metrics,
      /^nagare_collector_decode_errors_total\{exporter="127\.0\.0\.1",reason="truncated"\} 1$/m,
    );
    assert.match(metrics, /^nagare_collector_packets_total\{exporter="127\.0\.0\.1"\} 4$/m);
    assert.match(metrics, /^nagare_collector_flow_records_total\{exporter="127\.0\.0\.1"\} 60$/m);
    assert.match(metrics, /^nagare_collector_handler_errors_total 0$/m);

    // The API (token from dataDir/api-token).
    const token = readFileSync(join(dir, "data", "api-token"), "utf8").trim();
    const res = await fetch(`${base}/api/v1/exporters`, { headers: { Authorization: `Bearer ${token}` } });
    const list = (await res.json()) as {
      exporter: string;
      flowRecords: number;
      errors: Record<string, number>;
    }[];
    assert.equal(list.length, 1);
    assert.equal(list[0]!.exporter, "127.0.0.1");
    assert.equal(list[0]!.flowRecords, 60);
    assert.deepEqual(list[0]!.errors, { bad_version: 1, truncated: 1 });
  } finally {
    sock.close();
    await app.stop();
  }
  assert.equal(app.collector.isRunning, false);
});

test("IPv6 exporter, NetFlow v9 templates saved at stop and reloaded at start", async () => {
  const { app, sink, dir } = await startApp();
  const sock = createSocket("udp6");
  const now = Date.now();
  const exp = new NetflowV9Exporter({ sourceId: 9, samplingRate: 100 }, now - 3_600_000);
  const model = new FlowModel(1);
  try {
    const port = app.collector.bound[1]!.port;
    const flows = model.flows(40, now);
    for (const d of exp.encode(flows, now)) await send(sock, d, port, "::1");
    await until("40 flows", () => sink.rows.length >= flows.length);
    assert.equal(sink.rows.length, flows.length);
    assert.ok(sink.rows.every((r) => r.exporter_address === "::1" && r.sampling_rate === 100));
    assert.equal(app.stats.exporters.get("::1")!.templates, 2);
  } finally {
    await app.stop();
  }
  const saved = join(dir, "data", "templates.json");
  assert.ok(existsSync(saved), "templates saved at stop");

  // A new collector on the same data dir decodes data without a template in the datagram.
  const config = validateConfig({
    collector: { listen: ["[::1]:0"] },
    http: { listen: "127.0.0.1:0" },
    dataDir: join(dir, "data"),
    demo: { enabled: false },
  });
  const sink2 = new Collect();
  const app2 = new App({ config, consumers: [sink2], log: silent });
  await app2.start();
  try {
    const flows = model.flows(10, Date.now());
    const datagrams = exp.encode(flows, Date.now()); // templates not due: data only
    assert.equal(datagrams.length, 1);
    await send(sock, datagrams[0]!, app2.collector.bound[0]!.port, "::1");
    await until("10 flows after restart", () => sink2.rows.length >= 10);
  } finally {
    sock.close();
    await app2.stop();
  }
});

test("sampling overrides by prefix apply to exporters in that prefix", async () => {
  const { app, sink } = await startApp({
    collector: {
      listen: ["127.0.0.1:0"],
      sampling: { default: 0, exporters: { "127.0.0.0/8": 4096, "127.0.0.5": 7 } },
    },
  });
  const sock = createSocket("udp4");
  try {
    await send(sock, MICROTIK, app.collector.bound[0]!.port, "127.0.0.1");
    await until("30 flows", () => sink.rows.length >= 30);
    assert.ok(
      sink.rows.every((r) => r.sampling_rate === 4096),
      `rate ${sink.rows[0]!.sampling_rate}`,
    );
  } finally {
    sock.close();
    await app.stop();
  }
});

test("demo traffic flows through the real decoder and pauses while a real exporter sends", async () => {
  const { app, sink } = await startApp({
    collector: { listen: ["127.0.0.1:0"] },
    demo: { enabled: true, idleSeconds: 1, flowsPerSecond: 2000 },
  });
  const sock = createSocket("udp4");
  try {
    await until("demo flows", () => sink.rows.length >= 500, 4000);
    const demoExporters = new Set(sink.rows.map((r) => r.exporter_address));
    assert.ok(
      [...demoExporters].every((e) => app.demo!.addresses.has(e as string)),
      [...demoExporters].join(","),
    );
    assert.ok(demoExporters.size >= 1);
    assert.ok(app.demo!.active);
    for (const e of demoExporters) assert.equal(app.stats.exporters.get(e as string)!.errorTotal, 0);

    // A real exporter (127.0.0.1) starts sending: the demo pauses.
    const port = app.collector.bound[0]!.port;
    await send(sock, MICROTIK, port, "127.0.0.1");
    await until("demo paused", () => !app.demo!.active, 1000);
    const sent = app.demo!.flowsSent;
    await new Promise((r) => setTimeout(r, 400));
    await send(sock, MICROTIK, port, "127.0.0.1");
    assert.equal(app.demo!.flowsSent, sent, "no demo flows while the real exporter is active");
  } finally {
    sock.close();
    await app.stop();
  }
});

test("receive thread + recycled batches: a real v9 stream decodes exactly as a direct decode, retained batches stay intact", async () => {
  const { readCapture } = await import("./capture.js");
  const { FlowDecoder } = await import("./decoder.js");
  const { CollectorStats } = await import("./stats.js");
  const { RecordSink } = await import("./types.js");
  const { parseIp } = await import("./ip.js");
  const stream = readCapture(join(CAPTURES, "graylog__nprobe-netflow9-3.pcap")).map((d) => d.payload);

  // Reference: the same datagrams through a FlowDecoder directly (fresh batches, no sockets).
  const want: Record<string, string | number>[] = [];
  const dec = new FlowDecoder({ stats: new CollectorStats() });
  const ref = new RecordSink((b) => {
    for (let i = 0; i < b.length; i++) want.push(b.row(i));
  });
  const src = { exporter: "127.0.0.1", exporterIp: parseIp("127.0.0.1")!, receivedMs: 0 };
  for (let loop = 0; loop < 3; loop++) for (const d of stream) dec.decode(d, src, ref);
  ref.flush();
  assert.ok(want.length > 2000, `${want.length} reference rows`);

  // A consumer that keeps every batch (as an asynchronous store would) and reads it only at the end.
  const kept: FlowBatch[] = [];
  const keeper: FlowConsumer = { name: "keeper", consume: (b) => void kept.push(b.retain()) };
  const dir = mkdtempSync(join(tmpdir(), "nagare-svc-"));
  const config = validateConfig({
    collector: { listen: ["127.0.0.1:0"], receiveBufferBytes: 4 << 20 },
    http: { listen: "127.0.0.1:0" },
    dataDir: join(dir, "data"),
    demo: { enabled: false },
  });
  const app = new App({ config, consumers: [keeper], log: silent });
  await app.start();
  const sock = createSocket("udp4");
  try {
    const port = app.collector.bound[0]!.port;
    for (let loop = 0; loop < 3; loop++) for (const d of stream) await send(sock, d, port, "127.0.0.1");
    await until("all flows", () => app.pipeline.flows >= want.length, 5000);
    assert.ok(kept.length > 1, `${kept.length} batches`);
    assert.equal(app.collector.batchPool.idleCount, 0, "every batch is still held by the consumer");
    const got = kept.flatMap((b) => Array.from({ length: b.length }, (_, i) => b.row(i)));
    const strip = (r: Record<string, string | number>): Record<string, string | number> => ({
      ...r,
      time_received: 0,
    });
    assert.deepEqual(got.map(strip), want.map(strip));
    for (const b of kept) b.release();
    assert.ok(app.collector.batchPool.idleCount > 0, "released batches return to the pool");
    assert.equal(app.stats.queueDrops, 0);
  } finally {
    sock.close();
    await app.stop();
  }
});
