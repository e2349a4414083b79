// Round trips of the generator's encoders: generated flows → NetFlow v9 /
// IPFIX / sFlow datagrams → our decoders (FlowDecoder, SflowDecoder) → the
// same flows, field by field; and the same datagrams decoded by tshark, the
// reference decoder, agree with the generated values.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { writeSyntheticPcap } from "../../test/helpers/pcap.js";
import { requireTshark, TSHARK, tsharkRecords } from "../../test/helpers/tshark.js";
import { FlowBatch } from "../collector/batch.js";
import { FlowDecoder } from "../collector/decoder.js";
import { formatMac, parseIp } from "../collector/ip.js";
import { decodeSflow } from "../collector/sflow/testing.js";
import { CollectorStats } from "../collector/stats.js";
import { RecordSink } from "../collector/types.js";
import { ExportSet, type Proto } from "./encode.js";
import { historyDatagrams, writeHistory } from "./history.js";
import { IpfixEncoder } from "./ipfix.js";
import { cloneFlow, ipText, newFlow, TrafficModel, writeFlowRow, type Flow } from "./model.js";
import { NetflowV9Encoder } from "./netflow9.js";
import { macsOf, SFLOW_LOCAL_PREF, sflowFrameLength, SflowEncoder, vlanOf } from "./sflow.js";

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 10, 20, 18, 0, 0);

function flowsOf(n: number, seed: number, startMs = NOW - 3_600_000, endMs = NOW): Flow[] {
  const model = new TrafficModel({ seed });
  const s = model.schedule({
    startMs,
    endMs,
    flows: n,
    attacks: [{ kind: "dns", startMs: startMs + 60_000, durationMs: 10_000, rate: 5 }],
  });
  const f = newFlow();
  const out: Flow[] = [];
  while (s.next(f)) out.push(cloneFlow(f));
  return out;
}

/** The rows writeHistory would store for `flows` (the expected decode). */
function expectedRows(flows: Flow[], model = new TrafficModel()): Record<string, string | number>[] {
  const b = new FlowBatch(flows.length);
  flows.forEach((f, i) => writeFlowRow(b, i, f, model.exporters));
  b.length = flows.length;
  return flows.map((_, i) => b.row(i));
}

function decodeNetflow(
  packets: Uint8Array[],
  exporter = "192.0.2.1",
): {
  rows: Record<string, string | number>[];
  stats: CollectorStats;
} {
  const stats = new CollectorStats();
  const decoder = new FlowDecoder({ stats });
  const rows: Record<string, string | number>[] = [];
  const sink = new RecordSink((b) => {
    for (let i = 0; i < b.length; i++) rows.push(b.row(i));
  });
  const src = { exporter, exporterIp: parseIp(exporter)!, receivedMs: NOW };
  for (const p of packets) decoder.decode(p, src, sink);
  sink.flush();
  return { rows, stats };
}

const SKIP = new Set(["time_received", "exporter_address"]);

function assertSameRows(
  got: Record<string, string | number>[],
  want: Record<string, string | number>[],
): void {
  assert.equal(got.length, want.length);
  got.forEach((g, i) => {
    for (const k of Object.keys(want[i]!)) {
      if (SKIP.has(k)) continue;
      assert.equal(g[k], want[i]![k], `row ${i} column ${k}`);
    }
  });
}

for (const [name, Encoder] of [
  ["NetFlow v9", NetflowV9Encoder],
  ["IPFIX", IpfixEncoder],
] as const) {
  test(`${name}: generated flows (IPv4 + IPv6, ICMP, attack) decode back field by field`, () => {
    const flows = flowsOf(6000, 11).filter((f) => f.exporter === 0);
    assert.ok(flows.some((f) => f.v6) && flows.some((f) => !f.v6) && flows.some((f) => f.attack), "mix");
    assert.ok(flows.some((f) => f.protocol === 58) && flows.some((f) => f.protocol === 1), "ICMP and ICMPv6");
    const enc = new Encoder({ domain: 1 });
    const packets = enc.encode(flows);
    assert.ok(
      packets.every((p) => p.length <= 1400),
      "datagrams fit a 1500-byte MTU",
    );
    // Templates are resent: more than one datagram carries them.
    const setIdAt = name === "IPFIX" ? 16 : 20;
    const withTemplates = packets.filter(
      (p) => p.readUInt16BE(setIdAt) === (name === "IPFIX" ? 2 : 0),
    ).length;
    assert.ok(
      withTemplates >= Math.floor(packets.length / 20),
      `${withTemplates} of ${packets.length} with templates`,
    );
    const { rows, stats } = decodeNetflow(packets);
    const st = stats.exporters.get("192.0.2.1")!;
    assert.equal(st.errorTotal, 0, JSON.stringify(st.toJSON()));
    assert.equal(st.sequenceLost, 0);
    assertSameRows(rows, expectedRows(flows));
  });
}

test("IPFIX: flows from 30 days ago keep their exact millisecond times", () => {
  const flows = flowsOf(1500, 12, NOW - 30 * DAY, NOW - 30 * DAY + 600_000).filter((f) => f.exporter === 0);
  const { rows } = decodeNetflow(new IpfixEncoder({ domain: 7 }).encode(flows));
  assert.equal(rows.length, flows.length);
  rows.forEach((r, i) => {
    assert.equal(r.time_flow_start, flows[i]!.startMs);
    assert.equal(r.time_flow_end, flows[i]!.endMs);
    assert.equal(r.observation_domain_id, 7);
    assert.equal(r.dst_addr, ipText(flows[i]!.dst));
  });
});

test("historyDatagrams (IPFIX) decode to exactly the rows writeHistory stores", async () => {
  const opts = { startMs: NOW - 2 * DAY, endMs: NOW, flows: 20_000, seed: 21 };
  const stored: Record<string, string | number>[] = [];
  await writeHistory(
    {
      consume: (b) => {
        for (let i = 0; i < b.length; i++) stored.push(b.row(i));
      },
      flush: async () => {},
    },
    opts,
  );
  // Per exporter, as a collector keys its template scopes by exporter address.
  const model = new TrafficModel(opts);
  const byExporter = new Map<number, Uint8Array[]>();
  for (const { data, exporter } of historyDatagrams(opts, "ipfix")) {
    if (!byExporter.has(exporter)) byExporter.set(exporter, []);
    byExporter.get(exporter)!.push(data);
  }
  const decoded: Record<string, string | number>[] = [];
  for (const [e, packets] of byExporter) {
    const { rows, stats } = decodeNetflow(packets, model.exporters[e]!.address);
    assert.equal([...stats.exporters.values()][0]!.errorTotal, 0);
    decoded.push(...rows);
  }
  assert.equal(decoded.length, stored.length);
  const key = (r: Record<string, string | number>): string => JSON.stringify({ ...r, time_received: 0 });
  const want = stored.map(key).sort();
  const got = decoded.map((r) => key({ ...r, exporter_address: r.exporter_address! })).sort();
  assert.deepEqual(got, want);
});

test("sFlow: flow samples decode back to the flows' packets; counter samples carry the interface totals", () => {
  const flows = flowsOf(1500, 13);
  const model = new TrafficModel({ seed: 13 });
  const e = model.exporters[0]!;
  const enc = new SflowEncoder({ agent: e.ip, subAgent: 1, interfaces: [...e.uplinks, ...e.customerPorts] });
  const mine = flows.filter((f) => f.exporter === 0);
  const packets = enc.encode(mine);
  const run = decodeSflow(packets.map((payload, i) => ({ payload, srcAddr: e.address, timeMs: NOW + i })));
  assert.deepEqual(run.thrown, []);
  assert.equal(
    Object.values(run.stats.exporters.get(e.address)!.errors).reduce((n, v) => n + v, 0),
    0,
  );
  assert.equal(run.rows.length, mine.length);
  run.rows.forEach((r, i) => {
    const f = mine[i]!;
    const at = `sample ${i}`;
    assert.equal(r.src_addr, ipText(f.src), at);
    assert.equal(r.dst_addr, ipText(f.dst), at);
    assert.equal(r.ip_version, f.v6 ? 6 : 4, at);
    assert.equal(r.protocol, f.protocol, at);
    if (f.protocol === 1 || f.protocol === 58) {
      assert.equal(r.icmp_type, f.dstPort >> 8, at);
      assert.equal(r.icmp_code, f.dstPort & 0xff, at);
    } else {
      assert.equal(r.src_port, f.srcPort, at);
      assert.equal(r.dst_port, f.dstPort, at);
    }
    assert.equal(r.tcp_flags, f.tcpFlags, at);
    assert.equal(r.tos, f.tos, at);
    assert.equal(r.ttl, f.ttl, at);
    assert.equal(r.bytes, sflowFrameLength(f), at);
    assert.equal(r.packets, 1, at);
    assert.equal(r.sampling_rate, f.samplingRate, at);
    assert.equal(r.in_if, f.inIf, at);
    assert.equal(r.out_if, f.outIf, at);
    assert.equal(r.src_as, f.srcAs, at);
    assert.equal(r.dst_as, f.dstAs, at);
    assert.equal(r.as_path, String(f.dstAs), at);
    assert.equal(r.bgp_communities, "64500:100", at);
    assert.equal(r.local_pref, SFLOW_LOCAL_PREF, at);
    assert.equal(r.src_prefix_len, f.srcMask, at);
    assert.equal(r.dst_prefix_len, f.dstMask, at);
    if (!f.v6)
      assert.equal(
        r.next_hop,
        ipText(
          parseIp(
            `${f.nextHop >>> 24}.${(f.nextHop >>> 16) & 255}.${(f.nextHop >>> 8) & 255}.${f.nextHop & 255}`,
          )!,
        ),
        at,
      );
    assert.equal(r.src_vlan, vlanOf(f.inIf), at);
    assert.equal(r.dst_vlan, vlanOf(f.outIf), at);
    assert.equal(r.src_mac, formatMac(macsOf(f).src), at);
    assert.equal(r.dst_mac, formatMac(macsOf(f).dst), at);
    assert.equal(r.exporter_address, e.address, at);
  });
  // Counter samples: every 20 s of flow time, one per interface, growing
  // with the scaled frame bytes of the flows in on the interface.
  assert.ok(run.counters.length >= 36 * 3, `${run.counters.length} counter records`);
  const up1 = run.counters.filter((c) => c.ifIndex === 1).map((c) => c.generic!.inOctets);
  let total = 0;
  for (const f of mine) if (f.inIf === 1) total += sflowFrameLength(f) * f.samplingRate;
  assert.ok(
    up1.every((v, i) => i === 0 || v >= up1[i - 1]!),
    "uplink 1 inOctets never decrease",
  );
  assert.ok(up1.at(-1)! > 0 && up1.at(-1)! <= total, `last inOctets ${up1.at(-1)} of ${total}`);
  const seqs = run.tally.datagrams.map((d) => d.seq);
  assert.deepEqual(
    seqs,
    seqs.map((_, i) => i),
    "datagram sequence numbers count up from 0",
  );
});

function pcapOf(packets: Uint8Array[], port: number): string {
  const dir = mkdtempSync(join(tmpdir(), "nagare-gen-"));
  const path = join(dir, "gen.pcap");
  writeSyntheticPcap(path, packets, port);
  return path;
}

for (const proto of ["v9", "ipfix"] as const) {
  test(`tshark decodes the generator's ${proto} datagrams to the generated values`, () => {
    requireTshark();
    const flows = flowsOf(800, 14).filter((f) => f.exporter === 1);
    const enc = proto === "v9" ? new NetflowV9Encoder({ domain: 2 }) : new IpfixEncoder({ domain: 2 });
    const recs = tsharkRecords(pcapOf(enc.encode(flows), 2055), [2055]);
    assert.equal(recs.length, flows.length);
    recs.forEach((r, i) => {
      const f = flows[i]!;
      const at = `record ${i}`;
      assert.equal(r.src, ipText(f.src), at);
      assert.equal(r.dst, ipText(f.dst), at);
      assert.equal(r.proto, f.protocol, at);
      assert.equal(r.bytes, f.bytes, at);
      assert.equal(r.packets, f.packets, at);
      assert.equal(r.src_as, f.srcAs, at);
      assert.equal(r.dst_as, f.dstAs, at);
      assert.equal(r.in_if, f.inIf, at);
      assert.equal(r.out_if, f.outIf, at);
      assert.equal(r.sport, f.srcPort, at);
      assert.equal(r.dport, f.dstPort, at);
    });
  });
}

test("tshark: IPFIX flowEndMilliseconds of 30-day-old flows", () => {
  requireTshark();
  const flows = flowsOf(150, 15, NOW - 30 * DAY, NOW - 30 * DAY + 60_000).filter((f) => f.exporter === 0);
  const pcap = pcapOf(new IpfixEncoder({ domain: 1 }).encode(flows), 4739);
  const out = execFileSync(
    TSHARK,
    [
      "-r",
      pcap,
      "-n",
      "-d",
      "udp.port==4739,cflow",
      "-T",
      "fields",
      "-e",
      "cflow.abstimeend",
      "-E",
      "occurrence=a",
      "-E",
      "aggregator=;",
    ],
    { stdio: ["ignore", "pipe", "ignore"] },
  ).toString();
  const ends = out.trim().split(/[\n;]/).filter(Boolean);
  assert.equal(ends.length, flows.length);
  ends.forEach((t, i) => {
    // tshark prints e.g. "Oct 21, 2026 18:00:00.123000000 UTC": compare to the millisecond.
    const ms = Date.parse(
      t
        .replace(/\.(\d{3})\d*/, ".$1")
        .replace(" UTC", "Z")
        .replace(/,/, ""),
    );
    assert.equal(ms, flows[i]!.endMs, `record ${i}: ${t}`);
  });
});

test("tshark decodes the generator's sFlow samples to the generated packets", () => {
  requireTshark();
  const model = new TrafficModel({ seed: 16 });
  const flows = flowsOf(300, 16).filter((f) => f.exporter === 0);
  // One sample per datagram, so every frame is one flow.
  const enc = new SflowEncoder({ agent: model.exporters[0]!.ip, maxPacket: 400, counterEveryMs: 0 });
  const packets = enc.encode(flows);
  assert.equal(packets.length, flows.length);
  const fields = [
    "sflow_245.header.frame_length",
    "ip.src",
    "ip.dst",
    "ipv6.src",
    "ipv6.dst",
    "tcp.srcport",
    "tcp.dstport",
    "udp.srcport",
    "udp.dstport",
    "sflow.flow_sample.sampling_rate",
    "sflow.flow_sample.input_interface",
    "sflow.flow_sample.output_interface",
    "sflow_245.srcAS",
    "sflow_245.nexthop.src_mask",
    "sflow_245.nexthop.dst_mask",
    "sflow_245.vlan.in",
    "sflow_245.vlan.out",
  ];
  const out = execFileSync(
    TSHARK,
    [
      "-r",
      pcapOf(packets, 6343),
      "-n",
      "-T",
      "fields",
      ...fields.flatMap((f) => ["-e", f]),
      "-E",
      "occurrence=l",
    ],
    { stdio: ["ignore", "pipe", "ignore"], maxBuffer: 1 << 26 },
  ).toString();
  const lines = out.split("\n").filter((l) => l.trim());
  assert.equal(lines.length, flows.length);
  lines.forEach((line, i) => {
    const v = Object.fromEntries(line.split("\t").map((x, k) => [fields[k]!, x]));
    const f = flows[i]!;
    const at = `frame ${i + 1}: ${line}`;
    assert.equal(Number(v["sflow_245.header.frame_length"]), sflowFrameLength(f), at);
    assert.equal(f.v6 ? v["ipv6.src"] : v["ip.src"], ipText(f.src), at);
    assert.equal(f.v6 ? v["ipv6.dst"] : v["ip.dst"], ipText(f.dst), at);
    if (f.protocol === 6) {
      assert.equal(Number(v["tcp.srcport"]), f.srcPort, at);
      assert.equal(Number(v["tcp.dstport"]), f.dstPort, at);
    } else if (f.protocol === 17) {
      // occurrence=l: the inner (sampled) UDP header, not the export's own.
      assert.equal(Number(v["udp.srcport"]), f.srcPort, at);
      assert.equal(Number(v["udp.dstport"]), f.dstPort, at);
    }
    assert.equal(Number(v["sflow.flow_sample.sampling_rate"]), f.samplingRate, at);
    assert.equal(Number(v["sflow.flow_sample.input_interface"]), f.inIf, at);
    assert.equal(Number(v["sflow.flow_sample.output_interface"]), f.outIf, at);
    assert.equal(Number(v["sflow_245.srcAS"]), f.srcAs, at);
    assert.equal(Number(v["sflow_245.nexthop.src_mask"]), f.srcMask, at);
    assert.equal(Number(v["sflow_245.nexthop.dst_mask"]), f.dstMask, at);
    assert.equal(Number(v["sflow_245.vlan.in"]), vlanOf(f.inIf), at);
    assert.equal(Number(v["sflow_245.vlan.out"]), vlanOf(f.outIf), at);
  });
});

test("ExportSet: one encoder per exporter, each flow to its router's domain", () => {
  for (const proto of ["v9", "ipfix", "sflow"] as Proto[]) {
    const model = new TrafficModel({ seed: 17, exporters: 2 });
    const set = new ExportSet(model, proto);
    const s = model.schedule({ startMs: NOW, endMs: NOW + 60_000, flows: 600 });
    const f = newFlow();
    while (s.next(f)) set.add(f);
    set.flush();
    const seen = new Map<number, number>();
    set.take((d, e) => seen.set(e, (seen.get(e) ?? 0) + d.length));
    assert.deepEqual([...seen.keys()].sort(), [0, 1], proto);
    assert.equal(
      set.encoders.reduce((n, e) => n + e.flows, 0),
      600,
      proto,
    );
  }
});
