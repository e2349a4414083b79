import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { FlowDecoder } from "../collector/decoder.js";
import { formatIp, parseIp } from "../collector/ip.js";
import { CollectorStats } from "../collector/stats.js";
import { RecordSink } from "../collector/types.js";
import { writeSyntheticPcap } from "../../test/helpers/pcap.js";
import { tsharkRecords } from "../../test/helpers/tshark.js";
import { diurnal, FlowModel, NetflowV9Exporter, type DemoFlow } from "./generator.js";

const addrText = (b: Uint8Array): string => (b.length === 4 ? b.join(".") : formatIp(b, 0));

function demoPackets(n: number, seed = 42): { flows: DemoFlow[]; packets: Buffer[] } {
  const now = Date.UTC(2025, 0, 15, 20, 0, 0);
  const model = new FlowModel(seed);
  const exp = new NetflowV9Exporter({ sourceId: 1, samplingRate: 1000 }, now - 86_400_000);
  const flows = model.flows(n, now);
  return { flows, packets: exp.encode(flows, now) };
}

test("demo model: realistic mix (IPv4 and IPv6, several protocols and ASes)", () => {
  const { flows } = demoPackets(2000);
  const v6 = flows.filter((f) => f.v6).length;
  assert.ok(v6 > 300 && v6 < 900, `IPv6 share ${v6}/2000`);
  const protos = new Set(flows.map((f) => f.protocol));
  for (const p of [1, 6, 17]) assert.ok(protos.has(p), `protocol ${p} present`);
  assert.ok(new Set(flows.map((f) => f.srcAs)).size >= 8);
  assert.ok(flows.every((f) => f.packets >= 1 && f.bytes >= f.packets && f.firstMs <= f.lastMs));
  // The diurnal curve: evening peak above the morning trough.
  assert.ok(diurnal(new Date(2025, 0, 15, 21).getTime()) > 0.95);
  assert.ok(diurnal(new Date(2025, 0, 15, 9).getTime()) < 0.35);
});

test("demo datagrams are NetFlow v9 that tshark decodes to the generated values", () => {
  const { flows, packets } = demoPackets(300);
  assert.ok(packets.length >= 10, `${packets.length} datagrams`);
  assert.ok(packets.every((p) => p.length <= 1400 && p.readUInt16BE(0) === 9));
  const dir = mkdtempSync(join(tmpdir(), "nagare-demo-"));
  const pcap = join(dir, "demo.pcap");
  writeSyntheticPcap(pcap, packets, 2055);
  const recs = tsharkRecords(pcap, [2055]);
  assert.equal(recs.length, flows.length);
  recs.forEach((r, i) => {
    const f = flows[i]!;
    assert.equal(r.src, addrText(f.src), `record ${i} src`);
    assert.equal(r.dst, addrText(f.dst), `record ${i} dst`);
    assert.equal(r.proto, f.protocol);
    assert.equal(r.bytes, f.bytes);
    assert.equal(r.packets, f.packets);
    assert.equal(r.src_as, f.srcAs);
    assert.equal(r.dst_as, f.dstAs);
    assert.equal(r.in_if, f.inIf);
    assert.equal(r.out_if, f.outIf);
    if (f.protocol === 6 || f.protocol === 17) {
      assert.equal(r.sport, f.srcPort);
      assert.equal(r.dport, f.dstPort);
    }
  });
});

test("demo datagrams decode through FlowDecoder with the generated values", () => {
  const { flows, packets } = demoPackets(500, 7);
  const stats = new CollectorStats();
  const decoder = new FlowDecoder({ stats });
  const rows: Record<string, string | number>[] = [];
  const sink = new RecordSink((b) => {
    for (let i = 0; i < b.length; i++) rows.push(b.row(i));
  });
  const src = {
    exporter: "127.0.0.11",
    exporterIp: parseIp("127.0.0.11")!,
    receivedMs: Date.UTC(2025, 0, 15, 20),
  };
  for (const p of packets) decoder.decode(p, src, sink);
  sink.flush();
  assert.equal(rows.length, flows.length);
  const s = stats.exporters.get("127.0.0.11")!;
  assert.equal(s.errorTotal, 0, JSON.stringify(s.toJSON()));
  assert.equal(s.sequenceLost, 0);
  rows.forEach((r, i) => {
    const f = flows[i]!;
    assert.equal(r.src_addr, addrText(f.src));
    assert.equal(r.dst_addr, addrText(f.dst));
    assert.equal(r.bytes, f.bytes);
    assert.equal(r.packets, f.packets);
    assert.equal(r.protocol, f.protocol);
    assert.equal(r.sampling_rate, 1000);
    assert.equal(r.ip_version, f.v6 ? 6 : 4);
    // Flow times come back from sysUptime-relative LAST/FIRST_SWITCHED within the export second.
    assert.ok(
      Math.abs((r.time_flow_end as number) - f.lastMs) < 1000,
      `end ${r.time_flow_end} vs ${f.lastMs}`,
    );
  });
});
