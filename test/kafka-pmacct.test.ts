// Interop with real pmacct: Debian's nfacctd (built with --enable-kafka)
// reads a real NetFlow v9 capture (pcap_savefile replay), aggregates on the
// 5-tuple and publishes with its kafka plugin (kafka_output: json) to a real
// Apache Kafka broker (test/helpers/kafka.ts); the same nfacctd writes the
// same aggregates with its print plugin to a CSV. A `nagare` App in store
// mode consumes the topic; per 5-tuple, the bytes and packets in its SQL
// equal what nfacctd printed. Fails (never skips) without nfacctd or the broker.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { App } from "../src/app.js";
import { validateConfig } from "../src/config/schema.js";
import { silentLogger } from "../src/log.js";
import { CAPTURES_DIR, loadSummary } from "./helpers/captures.js";
import { startKafka, type KafkaBroker } from "./helpers/kafka.js";

const NFACCTD = "/usr/sbin/nfacctd";
const CAPTURE = "graylog__nprobe-netflow9-3.pcap";
const PROTO: Record<string, number> = { icmp: 1, tcp: 6, udp: 17, ipv6_icmp: 58, "ipv6-icmp": 58 };

let kafka: KafkaBroker;
before(async () => {
  const v = spawnSync(NFACCTD, ["-V"], { encoding: "utf8" });
  if (v.status !== 0 || !/--enable-kafka/.test(v.stdout + v.stderr))
    throw new Error(`${NFACCTD} missing or built without --enable-kafka (apt-get install pmacct)`);
  kafka = await startKafka();
});
after(async () => {
  await kafka?.stop();
});

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Run nfacctd on the capture with the kafka and print plugins until both have purged everything. */
async function runNfacctd(dir: string, topic: string): Promise<{ csv: string; log: string }> {
  const [host, port] = kafka.bootstrap.split(":");
  const csv = join(dir, "print.csv");
  const log = join(dir, "nfacctd.log");
  const conf = join(dir, "nfacctd.conf");
  const capture = join(CAPTURES_DIR, CAPTURE);
  assert.ok(existsSync(capture), capture);
  writeFileSync(
    conf,
    [
      "daemonize: false",
      `logfile: ${log}`,
      `pcap_savefile: ${capture}`,
      // Keep running after the file: the plugins purge on their refresh timers.
      "pcap_savefile_wait: true",
      "plugins: kafka[k], print[p]",
      "aggregate[k]: src_host,dst_host,src_port,dst_port,proto",
      "aggregate[p]: src_host,dst_host,src_port,dst_port,proto",
      "kafka_output[k]: json",
      `kafka_broker_host[k]: ${host}`,
      `kafka_broker_port[k]: ${port}`,
      `kafka_topic[k]: ${topic}`,
      "kafka_refresh_time[k]: 1",
      "print_output[p]: csv",
      `print_output_file[p]: ${csv}`,
      // Every purge appends (the default rewrites the file with the last purge only).
      "print_output_file_append[p]: true",
      "print_refresh_time[p]: 1",
      // /work/shared/peers/README.md: small plugin buffers lose records.
      "plugin_pipe_size: 102400000",
      "plugin_buffer_size: 102400",
      "",
    ].join("\n"),
  );
  // Its own process group, stopped with SIGINT to the whole group (what
  // `timeout -s INT` does): signalled alone, nfacctd's core re-sends its last
  // plugin buffer to the plugins on the way out (measured here: 310 of the 888
  // aggregates purged twice, in both the print and the kafka output).
  const p = spawn(NFACCTD, ["-f", conf], { stdio: "ignore", detached: true });
  const exited = new Promise<void>((r) => p.once("exit", () => r()));
  try {
    // Both plugins purged a non-empty cache (QN: n/n) after the file was read.
    const purged = (plugin: string): boolean => {
      if (!existsSync(log)) return false;
      const text = readFileSync(log, "utf8");
      if (!text.includes("finished reading PCAP capture file")) return false;
      return new RegExp(`\\( ${plugin} \\): \\*\\*\\* Purging cache - END \\(PID: \\d+, QN: [1-9]\\d*/`).test(
        text,
      );
    };
    await until("nfacctd's kafka and print plugins to purge", () => purged("k/kafka") && purged("p/print"));
    // A few more 1 s purge cycles: records still in the plugin pipes go out too.
    await new Promise((r) => setTimeout(r, 3000));
  } finally {
    process.kill(-p.pid!, "SIGINT");
    await exited;
  }
  return { csv: readFileSync(csv, "utf8"), log: readFileSync(log, "utf8") };
}

test("nfacctd (kafka plugin, JSON) → Kafka → nagare store mode: per 5-tuple bytes and packets equal nfacctd's own print output", async () => {
  const dir = mkdtempSync(join(tmpdir(), "nagare-pmacct-"));
  // A dotted topic name on purpose (pmacct's default is "pmacct.acct").
  const topic = "pmacct.acct";
  await kafka.createTopic(topic, 2);
  const nf = await runNfacctd(dir, topic);

  // nfacctd's print plugin: SRC_IP,DST_IP,SRC_PORT,DST_PORT,PROTOCOL,PACKETS,BYTES
  const HEADER = "SRC_IP,DST_IP,SRC_PORT,DST_PORT,PROTOCOL,PACKETS,BYTES";
  const all = nf.csv.trim().split("\n");
  assert.equal(all[0], HEADER);
  // Appended purges repeat the header.
  const lines = all.filter((l) => l !== HEADER);
  const expected = new Map<string, { packets: number; bytes: number }>();
  for (const l of lines) {
    const [src, dst, sp, dp, proto, packets, bytes] = l.split(",");
    const pn = PROTO[proto!] ?? Number(proto);
    assert.ok(Number.isInteger(pn), `protocol ${proto}`);
    const k = `${src} ${dst} ${sp} ${dp} ${pn}`;
    const e = expected.get(k) ?? { packets: 0, bytes: 0 };
    e.packets += Number(packets);
    e.bytes += Number(bytes);
    expected.set(k, e);
  }
  assert.ok(expected.size > 500, `nfacctd printed ${expected.size} 5-tuples`);

  const config = validateConfig({
    mode: "store",
    dataDir: join(dir, "store"),
    http: { listen: "127.0.0.1:0" },
    demo: { enabled: false },
    store: { intervalMs: 100 },
    bus: {
      enabled: true,
      brokers: [kafka.bootstrap],
      topic,
      consumer: { groupId: "nagare-pmacct", format: "pmacct-json", commitIntervalMs: 200, lagIntervalMs: 0 },
    },
  });
  const app = new App({ config, log: silentLogger });
  await app.start();
  try {
    const src = app.kafka!;
    assert.equal(app.collector.bound.length, 0, "store mode opens no UDP socket");
    await until("the topic consumed and committed", async () => {
      await src.commitNow();
      await src.refreshLag();
      const ps = src.partitions();
      // librdkafka places unkeyed messages itself (sticky): one partition may hold them all.
      const end = ps.reduce((n, p) => n + Math.max(0, p.highWatermark), 0);
      return ps.length === 2 && end > 0 && src.messages === end && ps.every((p) => p.lag === 0);
    });
    const m = src.metrics();
    assert.equal(m.malformed, 0, JSON.stringify(src.status().malformed));
    assert.equal(m.messages, lines.length, "one pmacct message per printed aggregate");

    const page = await app.sql!.query(
      "SELECT src_addr_text, dst_addr_text, src_port, dst_port, protocol, sum(packets)::BIGINT, sum(bytes)::BIGINT, count(*)::BIGINT " +
        "FROM flows GROUP BY ALL",
      { limit: 100_000 },
    );
    const got = new Map<string, { packets: number; bytes: number }>();
    let rows = 0;
    for (const r of page.rows) {
      const [src, dst, sp, dp, proto, packets, bytes, n] = r as (string | number)[];
      got.set(`${src} ${dst} ${sp} ${dp} ${proto}`, { packets: Number(packets), bytes: Number(bytes) });
      rows += Number(n);
    }
    assert.equal(rows, lines.length, "one stored flow per pmacct message");
    assert.equal(got.size, expected.size);
    assert.deepEqual(got, expected);
    // And both equal the capture's totals (expected/SUMMARY.tsv, tshark's decode of the unit).
    const sum = (mp: Map<string, { bytes: number; packets: number }>) =>
      [...mp.values()].reduce((s, v) => ({ bytes: s.bytes + v.bytes, packets: s.packets + v.packets }), {
        bytes: 0,
        packets: 0,
      });
    const unitRow = loadSummary().get(CAPTURE.replace(/\.pcap$/, ""))!;
    assert.ok(unitRow, "SUMMARY.tsv row of the capture");
    assert.deepEqual(sum(got), { bytes: unitRow.bytesSum, packets: unitRow.packetsSum });
  } finally {
    await app.stop();
  }
});
