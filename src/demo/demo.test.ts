// The demo: DemoTraffic sends the generator's model (src/gen) as NetFlow v9
// over real UDP sockets; what arrives decodes (our decoder and tshark) to
// the flows sent, from three exporters, with a short attack in the mix.
import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { writeSyntheticPcap } from "../../test/helpers/pcap.js";
import { tsharkRecords } from "../../test/helpers/tshark.js";
import { FlowDecoder } from "../collector/decoder.js";
import { parseIp } from "../collector/ip.js";
import { CollectorStats } from "../collector/stats.js";
import { RecordSink } from "../collector/types.js";
import { TrafficModel } from "../gen/model.js";
import { DemoTraffic } from "./traffic.js";

interface Received {
  from: string;
  data: Buffer;
}

async function runDemo(ms: number): Promise<{ demo: DemoTraffic; got: Received[] }> {
  const sock = createSocket("udp4");
  await new Promise<void>((r) => sock.bind(0, "127.0.0.1", () => r()));
  const got: Received[] = [];
  sock.on("message", (data, rinfo) => got.push({ from: rinfo.address, data }));
  const demo = new DemoTraffic({
    targetHost: "127.0.0.1",
    targetPort: sock.address().port,
    flowsPerSecond: 1500,
    idleSeconds: 0,
    lastRealTrafficMs: () => 0,
    seed: 42,
    tickMs: 20,
    attackFirstMs: 300,
    attackEveryMs: 60_000,
    attackDurationMs: 1000,
  });
  await demo.start();
  await new Promise((r) => setTimeout(r, ms));
  await demo.stop();
  await new Promise((r) => setTimeout(r, 200));
  sock.close();
  return { demo, got };
}

test("demo: NetFlow v9 from three exporters decodes to every flow sent, a short attack included", async () => {
  const { demo, got } = await runDemo(2000);
  assert.ok(demo.flowsSent > 1000, `${demo.flowsSent} flows sent`);
  assert.equal(got.length, demo.packetsSent);
  assert.ok(
    got.every((g) => g.data.readUInt16BE(0) === 9 && g.data.length <= 1400),
    "v9 datagrams ≤ 1400 bytes",
  );
  const stats = new CollectorStats();
  const decoder = new FlowDecoder({ stats });
  const rows: Record<string, string | number>[] = [];
  const sink = new RecordSink((b) => {
    for (let i = 0; i < b.length; i++) rows.push(b.row(i));
  });
  for (const g of got)
    decoder.decode(g.data, { exporter: g.from, exporterIp: parseIp(g.from)!, receivedMs: Date.now() }, sink);
  sink.flush();
  assert.equal(rows.length, demo.flowsSent);
  for (const s of stats.exporters.values()) {
    assert.equal(s.errorTotal, 0, JSON.stringify(s.toJSON()));
    assert.equal(s.sequenceLost, 0);
  }
  // Source ids 1-3 (from 127.0.0.11-13 where the host allows it), sampling 1000/1000/100.
  const rate = new Map<number, number>();
  for (const r of rows) rate.set(r.observation_domain_id as number, r.sampling_rate as number);
  assert.deepEqual([...rate].sort(), [
    [1, 1000],
    [2, 1000],
    [3, 100],
  ]);
  assert.ok(
    rows.some((r) => r.ip_version === 6) && rows.some((r) => r.protocol === 1),
    "IPv6 and ICMP present",
  );
  // The attack: flows towards the model's default target, all of them decoded.
  const target = new TrafficModel({ seed: 42 }).defaultTarget();
  const attack = rows.filter(
    (r) =>
      r.dst_addr === target &&
      r.src_as !== 0 &&
      (r.in_if as number) < 10 &&
      (r.src_port === 53 || (r.protocol === 6 && r.tcp_flags === 2)),
  );
  assert.ok(demo.attackFlowsSent >= 300, `${demo.attackFlowsSent} attack flows sent`);
  assert.ok(
    attack.length >= demo.attackFlowsSent,
    `${attack.length} attack flows decoded of ${demo.attackFlowsSent}`,
  );
});

test("demo datagrams decode in tshark to the same records as in our decoder", async () => {
  const { got } = await runDemo(700);
  const from = got[0]!.from;
  const mine = got.filter(
    (g) => g.from === from && g.data.readUInt32BE(16) === got[0]!.data.readUInt32BE(16),
  );
  const stats = new CollectorStats();
  const decoder = new FlowDecoder({ stats });
  const rows: Record<string, string | number>[] = [];
  const sink = new RecordSink((b) => {
    for (let i = 0; i < b.length; i++) rows.push(b.row(i));
  });
  for (const g of mine)
    decoder.decode(g.data, { exporter: from, exporterIp: parseIp(from)!, receivedMs: 0 }, sink);
  sink.flush();
  const pcap = join(mkdtempSync(join(tmpdir(), "nagare-demo-")), "demo.pcap");
  writeSyntheticPcap(
    pcap,
    mine.map((g) => g.data),
    2055,
  );
  const recs = tsharkRecords(pcap, [2055]);
  assert.ok(recs.length > 50, `${recs.length} records`);
  assert.equal(recs.length, rows.length);
  recs.forEach((r, i) => {
    const x = rows[i]!;
    const at = `record ${i}`;
    assert.equal(r.src, x.src_addr, at);
    assert.equal(r.dst, x.dst_addr, at);
    assert.equal(r.proto, x.protocol, at);
    assert.equal(r.bytes, x.bytes, at);
    assert.equal(r.packets, x.packets, at);
    assert.equal(r.src_as, x.src_as, at);
    assert.equal(r.dst_as, x.dst_as, at);
    assert.equal(r.in_if, x.in_if, at);
    assert.equal(r.out_if, x.out_if, at);
    if (x.protocol === 6 || x.protocol === 17) {
      assert.equal(r.sport, x.src_port, at);
      assert.equal(r.dport, x.dst_port, at);
    }
  });
});
