// FlowDecoder against real captures (/work/shared/captures) and expected/
// (tshark's per-record decode). Raw files are split into datagrams as the
// captures README describes; the exporter is one synthetic address.
import { test } from "node:test";
import assert from "node:assert/strict";
import { CollectorStats } from "./stats.js";
import { FlowDecoder } from "./decoder.js";
import { RecordSink } from "./types.js";
import { createLogger } from "../log.js";
import {
  decodeAll,
  expected,
  project,
  projectExpected,
  readPcapUdp,
  readRaw,
  source,
  unitFiles,
  EXPORTER,
} from "./netflow/testing.js";

function unitDatagrams(unit: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const f of unitFiles(unit))
    out.push(...(f.endsWith(".pcap") ? readPcapUdp(f).map((x) => x.payload) : readRaw(f)));
  assert.ok(out.length > 0, `unit ${unit} has datagrams`);
  return out;
}

/** Every expected flow record must be among the decoded rows (multiset match on the 11 compared keys). */
function assertExpectedFlows(unit: string, rows: Record<string, string | number>[], map = project): number {
  const have = new Map<string, number>();
  for (const r of rows) {
    const k = JSON.stringify(map(r));
    have.set(k, (have.get(k) ?? 0) + 1);
  }
  const exp = expected(unit).filter((e) => e.kind === "flow");
  for (const e of exp) {
    const p = projectExpected(e);
    // Our address columns hold all-zero for "absent"; tshark prints 0.0.0.0.
    if (p.src === "0.0.0.0") p.src = "";
    if (p.dst === "0.0.0.0") p.dst = "";
    const k = JSON.stringify(p);
    const n = have.get(k) ?? 0;
    assert.ok(
      n > 0,
      `${unit}: expected record not decoded: ${k}\nfirst decoded: ${JSON.stringify(map(rows[0] ?? {}))}`,
    );
    have.set(k, n - 1);
  }
  return exp.length;
}

// Raw-file units whose records must all match expected/ exactly (and in number).
const RAW_UNITS: [unit: string, flows: number][] = [
  ["logstash__netflow5_test_microtik", 30],
  ["logstash__netflow5", 30],
  ["graylog__netflow-v5-2", 30],
  ["telegraf__netflow_v5_example__netflow_v5", 8],
  ["graylog__netflow-v9-2__group", 2],
  ["logstash__netflow9_cisco_asr1001x_tpl259", 25],
  ["logstash__netflow9_test__group", 8],
  ["logstash__netflow9_test_cisco_aci__group", 3],
  ["logstash__netflow9_test_cisco_nbar__group", 5],
  ["logstash__netflow9_test_fortigate_fortios_542_appid__group", 17],
  ["logstash__netflow9_test_macaddr__group", 29],
  ["logstash__netflow9_test_streamcore_tpl_data2__group", 4],
  ["logstash__netflow9_test_field_layer2segmentid__group", 1],
  ["logstash__netflow9_test_paloalto_81__group", 1],
  ["logstash__netflow9_test_unknown_tpl266_292_data", 2],
  ["logstash__netflow9_test_iptnetflow_reduced_size_encoding_tpldata260", 12],
  ["telegraf__netflow_v9_example__netflow_v9", 8],
  ["logstash__ipfix", 12],
  ["logstash__ipfix_test_barracuda__group", 8],
  ["logstash__ipfix_test_barracuda_extended_uniflow__group", 2],
  ["logstash__ipfix_test_ixia_tpldata256", 1],
  ["logstash__ipfix_test_mikrotik__group", 46],
  ["logstash__ipfix_test_netscaler__group", 3],
  ["logstash__ipfix_test_openbsd_pflow__group", 26],
  ["logstash__ipfix_test_yaf__group", 2],
  ["telegraf__ipfix_example", 29],
  ["ipfixcol2__example_flows", 3979],
];

for (const [unit, flows] of RAW_UNITS) {
  test(`expected/ records match: ${unit}`, () => {
    const d = decodeAll(unitDatagrams(unit));
    assert.equal(assertExpectedFlows(unit, d.rows), flows);
    assert.equal(d.rows.length, flows, "no extra flow rows");
    assert.equal(d.returned, flows, "decode() returns the rows written");
    const st = d.stats.exporter(EXPORTER);
    assert.equal(st.flowRecords, flows);
    for (const r of d.rows) {
      assert.equal(r.exporter_address, EXPORTER);
      assert.ok((r.time_flow_start as number) <= (r.time_flow_end as number), "start <= end");
      assert.ok((r.time_flow_end as number) > Date.UTC(2000, 0, 1), `absolute end time: ${r.time_flow_end}`);
      assert.ok(r.ip_version === 4 || r.ip_version === 6 || (r.src_addr === "" && r.dst_addr === ""));
    }
  });
}

test("NetFlow v5 header: engine → observation domain, sysUptime-relative times made absolute", () => {
  const [g] = readRaw("logstash__netflow5_test_microtik.dat");
  const dv = new DataView(g!.buffer, g!.byteOffset, g!.byteLength);
  const d = decodeAll([g!]);
  const sysUptime = dv.getUint32(4);
  const exportMs = dv.getUint32(8) * 1000 + Math.floor(dv.getUint32(12) / 1e6);
  const first = dv.getUint32(24 + 24);
  const last = dv.getUint32(24 + 28);
  const r = d.rows[0]!;
  assert.equal(r.time_flow_start, exportMs - (sysUptime - first));
  assert.equal(r.time_flow_end, exportMs - (sysUptime - last));
  assert.equal(r.observation_domain_id, dv.getUint16(20));
  assert.equal(r.sampling_rate, dv.getUint16(22) & 0x3fff); // microtik exports 0 = unknown
  assert.equal(d.stats.exporter(EXPORTER).unknownSamplingRecords, 30);
  assert.equal(r.flows, 1);
  assert.equal(r.direction, 255);
});

test("NetFlow v5 with a lying count: the 30 records present are decoded, bad_count counted", () => {
  for (const unit of ["logstash__netflow5_test_invalid01", "logstash__netflow5_test_invalid02"]) {
    const g = unitDatagrams(unit);
    assert.equal(g.length, 1);
    const count = new DataView(g[0]!.buffer, g[0]!.byteOffset).getUint16(2);
    assert.ok(count === 55582 || count === 163);
    const d = decodeAll(g);
    assert.equal(assertExpectedFlows(unit, d.rows), 30);
    assert.equal(d.rows.length, 30);
    assert.equal(d.stats.exporter(EXPORTER).errors.bad_count, 1);
  }
});

test("NetFlow v9 datagrams whose header count is wrong: flowsets walked by length (nfcapd numbers)", () => {
  // tshark stops at the header count; nfcapd 1.7.1 decodes 6 / 21 / 2 flows (SUMMARY notes).
  assert.equal(decodeAll(unitDatagrams("graylog__netflow-v9-1")).rows.length, 6);
  assert.equal(decodeAll(unitDatagrams("graylog__netflow9")).rows.length, 21);
  const inv = decodeAll(unitDatagrams("logstash__netflow9_test_invalid01"));
  assert.equal(inv.rows.length, 2);
  assert.equal(inv.options.length, 1);
});

test("NetFlow v9 header count: the readings seen in the wild are accepted, any other is bad_count", () => {
  // logstash__netflow9_test_invalid01 is a softflowd export: 2 template
  // flowsets + 1 options template + 2 flow records + 1 options record, count 2
  // (softflowd counts flow records only). RFC 3954 §5.1 would say 6 records;
  // nProbe & co. write the number of flowsets (6 here too). Any other value is
  // reported, and the records are decoded all the same.
  const [dg] = unitDatagrams("logstash__netflow9_test_invalid01");
  const withCount = (n: number): ReturnType<typeof decodeAll> => {
    const copy = Uint8Array.from(dg!);
    new DataView(copy.buffer).setUint16(2, n);
    return decodeAll([copy]);
  };
  for (const ok of [2, 6])
    assert.equal(withCount(ok).stats.exporter(EXPORTER).errors.bad_count, 0, `count ${ok}`);
  for (const bad of [0, 3, 5, 200]) {
    const d = withCount(bad);
    assert.equal(d.stats.exporter(EXPORTER).errors.bad_count, 1, `count ${bad}`);
    assert.equal(d.rows.length, 2);
    assert.equal(d.options.length, 1);
  }
});

test("H3C NetStream (records tshark cannot decode): nfcapd's 16 and 1 records", () => {
  const a = decodeAll(unitDatagrams("logstash__netflow9_test_h3c__group"));
  assert.equal(a.rows.length, 16);
  assert.deepEqual(
    [a.rows[0]!.src_addr, a.rows[0]!.dst_addr, a.rows[0]!.protocol],
    ["10.22.166.30", "10.22.163.21", 6],
  );
  const b = decodeAll(unitDatagrams("logstash__netflow9_test_h3c_netstream_varstring__group"));
  assert.equal(b.rows.length, 1);
  const r = b.rows[0]!;
  assert.deepEqual(
    [r.src_addr, r.dst_addr, r.protocol, r.src_port, r.dst_port],
    ["20.20.20.20", "20.20.255.255", 17, 137, 137],
  );
  assert.equal(a.stats.exporter(EXPORTER).errorTotal + b.stats.exporter(EXPORTER).errorTotal, 0);
});

test("zero-length template fields are accepted and skipped", () => {
  const d = decodeAll(unitDatagrams("logstash__netflow9_test_0length_fields_tpl_data"));
  assert.equal(assertExpectedFlows("logstash__netflow9_test_0length_fields_tpl_data", d.rows), 10);
  assert.equal(d.rows.length, 10);
  assert.equal(d.stats.exporter(EXPORTER).errorTotal, 0);
});

test("Cisco ASA NSEL: fw_event set, bytes never from NSEL counters, initiator octets kept", () => {
  const unit = "logstash__netflow9_test_cisco_asa_1__group";
  const d = decodeAll(unitDatagrams(unit));
  assert.equal(d.rows.length, 14);
  for (const r of d.rows) {
    assert.ok((r.fw_event as number) > 0);
    assert.equal(r.bytes, 0, "NSEL byte counts are not traffic bytes");
    assert.equal(r.packets, 0);
  }
  assert.equal(d.stats.exporter(EXPORTER).fwEventRecords, 14);
  // tshark reads IE 85 as bytes; for ASA that is NF_F_FWD_FLOW_DELTA_BYTES, stored as initiator_octets.
  assertExpectedFlows(unit, d.rows, (r) => ({ ...project(r), bytes: r.initiator_octets! }));
  assert.ok(
    d.rows.some((r) => r.post_nat_src_addr !== ""),
    "NAT addresses (40001) decoded",
  );
});

test("IPFIX enterprise and variable-length fields: Netscaler (PEN 5951) and Barracuda", () => {
  const ns = decodeAll(unitDatagrams("logstash__ipfix_test_netscaler__group"));
  assert.equal(ns.rows.length, 3);
  assert.equal(ns.stats.exporter(EXPORTER).errors.truncated, 0);
  // RFC 5103 reverse counters (PEN 29305) must not be added to forward counters.
  const bx = decodeAll(unitDatagrams("logstash__ipfix_test_barracuda_extended_uniflow__group"));
  assert.equal(assertExpectedFlows("logstash__ipfix_test_barracuda_extended_uniflow__group", bx.rows), 2);
});

test("data before template is held and decoded when the template arrives", () => {
  const data = readRaw("logstash__ipfix_test_barracuda_data256.dat");
  const tpl = readRaw("logstash__ipfix_test_barracuda_tpl.dat");
  const d = decodeAll([...data, ...tpl]);
  const st = d.stats.exporter(EXPORTER);
  assert.equal(st.errors.template_missing, data.length);
  assert.equal(st.pendingDecoded, data.length);
  assert.equal(st.pendingSets, 0);
  assert.equal(assertExpectedFlows("logstash__ipfix_test_barracuda__group", d.rows), 8);
  assert.equal(d.rows.length, 8);
  assert.equal(d.returned, 8, "rows decoded from the pending buffer count for the template's datagram");
});

test("options data: sampler table from options records drives sampling_rate per samplerId", () => {
  const d = decodeAll(unitDatagrams("akvorado__netflow__multiplesamplingrates__group"));
  assert.equal(d.options.length, 2);
  const bySampler = new Map(d.options.map((o) => [o.fields.samplerId, o.fields.samplerRandomInterval]));
  assert.deepEqual([...bySampler.entries()].sort(), [
    [1, 2000],
    [2, 4000],
  ]);
  assert.equal(d.rows.length, 12);
  for (const r of d.rows)
    assert.equal(r.sampling_rate, bySampler.get(r.sampler_id as number), `sampler ${r.sampler_id}`);
  assert.equal(d.stats.exporter(EXPORTER).unknownSamplingRecords, 0);
  assert.equal(d.stats.exporter(EXPORTER).optionsRecords, 2);
});

test("sampling: per-exporter override wins, configured default fills unknown", () => {
  const g = unitDatagrams("akvorado__netflow__multiplesamplingrates__group");
  const o = decodeAll(g, { sampling: { exporters: { [EXPORTER]: 10 } } });
  assert.ok(o.rows.every((r) => r.sampling_rate === 10));
  const v5 = decodeAll(readRaw("logstash__netflow5_test_microtik.dat"), { sampling: { default: 7 } });
  assert.ok(v5.rows.every((r) => r.sampling_rate === 7));
  assert.equal(v5.stats.exporter(EXPORTER).unknownSamplingRecords, 0);
});

test("two headers in one record (SRv6 / IP-in-IP): top-level fields from the outer header", () => {
  for (const unit of ["pmacct__400", "pmacct__500__traffic-00"]) {
    const d = decodeAll(unitDatagrams(unit));
    const exp = expected(unit).filter((e) => e.kind === "flow" && e.inner);
    assert.ok(exp.length > 0, `${unit} has two-header records`);
    const count = (xs: string[]): Map<string, number> => {
      const m = new Map<string, number>();
      for (const x of xs) m.set(x, (m.get(x) ?? 0) + 1);
      return m;
    };
    const got = count(d.rows.map((r) => `${r.src_addr}>${r.dst_addr}/${r.protocol}/${r.src_port}`));
    const top = count(
      expected(unit)
        .filter((e) => e.kind === "flow")
        .map((e) => `${e.src}>${e.dst}/${e.proto}/${e.sport}`),
    );
    for (const e of exp) {
      const inner = e.inner as { src: string; dst: string; proto: number; sport: number };
      const o = `${e.src}>${e.dst}/${e.proto}/${e.sport}`;
      const i = `${inner.src}>${inner.dst}/${inner.proto}/${inner.sport}`;
      assert.equal(got.get(o), top.get(o), `${unit}: outer ${o} on top`);
      assert.equal(got.get(i) ?? 0, top.get(i) ?? 0, `${unit}: inner ${i} never promoted to top level`);
    }
  }
  // akvorado SRv6: the outer IPv6 (tshark's dissected section) is what the record carries on top.
  const srv6 = decodeAll(unitDatagrams("akvorado__netflow__ipfix-srv6__group"));
  const dl = expected("akvorado__netflow__ipfix-srv6__group")[0]!.datalink as {
    src: string;
    dst: string;
    proto: number;
  };
  assert.deepEqual(
    [srv6.rows[0]!.src_addr, srv6.rows[0]!.dst_addr, srv6.rows[0]!.protocol],
    [dl.src, dl.dst, dl.proto],
  );
});

test("sFlow datagram on a NetFlow port: bad_version unless an sFlow decoder is plugged in", () => {
  const sflow = new Uint8Array([0, 0, 0, 5, 0, 0, 0, 1, 1, 2, 3, 4]);
  const lines: string[] = [];
  const d = decodeAll([sflow], { log: createLogger({ write: (l) => lines.push(l) }) });
  assert.equal(d.stats.exporter(EXPORTER).errors.bad_version, 1);
  assert.ok(lines.some((l) => l.includes("sFlow datagram on a NetFlow port")));
  let called = 0;
  const s = decodeAll([sflow], { sflow: () => (called++, 3) });
  assert.equal(called, 1);
  assert.equal(s.returned, 3);
  assert.equal(s.stats.exporter(EXPORTER).errors.bad_version, 0);
  const junk = decodeAll([new Uint8Array([0, 42, 1, 2, 3, 4])]);
  assert.equal(junk.stats.exporter(EXPORTER).errors.bad_version, 1);
});

test("never throws and always terminates on truncated / corrupted real datagrams", () => {
  const files = [
    "logstash__netflow5_test_microtik.dat",
    "logstash__netflow9_cisco_asr1001x_tpl259.dat",
    "logstash__ipfix_test_netscaler_tpl.dat",
    "logstash__ipfix_test_netscaler_data.dat",
    "logstash__netflow9_test_cisco_asa_1_tpl.dat",
    "logstash__netflow9_test_cisco_asa_1_data.dat",
    "logstash__ipfix_test_yaf_tpls_option_tpl.dat",
    "telegraf__issue_14370__message.bin",
  ];
  const stats = new CollectorStats();
  const dec = new FlowDecoder({ stats });
  const sink = new RecordSink(
    () => {},
    () => {},
    64,
  );
  let seed = 12345;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  for (const f of files) {
    for (const g of readRaw(f)) {
      dec.decode(g, source(), sink); // learn templates so data paths are exercised
      for (let k = 0; k < 300; k++) {
        const m = g.slice(0, rnd(g.length + 1));
        for (let j = 0; j < 4; j++) if (m.length) m[rnd(m.length)] = rnd(256);
        const n = dec.decode(m, source(), sink);
        assert.ok(n >= 0);
      }
    }
  }
  const st = stats.exporter(EXPORTER);
  assert.ok(st.errorTotal > 0);
  assert.equal(st.errors.other, 0, "no unexpected exceptions");
});

test("IPFIX dataLinkFrameSection (RFC 7133): sampled header parsed into the row, 1 packet of frame size", () => {
  for (const unit of [
    "akvorado__netflow__datalink__group",
    "akvorado__netflow__ethernet-over-mpls-with-control-word__group",
  ]) {
    const d = decodeAll(unitDatagrams(unit));
    const exp = expected(unit);
    assert.equal(d.rows.length, exp.length);
    exp.forEach((e, k) => {
      const dl = e.datalink as {
        src: string;
        dst: string;
        sport: number;
        dport: number;
        proto: number;
      } | null;
      const r = d.rows[k]!;
      if (!dl) {
        // tshark gave up on this EoMPLS frame (control word); our parser still reaches IP.
        assert.notEqual(r.src_addr, "");
        return;
      }
      assert.deepEqual(
        [r.src_addr, r.dst_addr, r.src_port, r.dst_port, r.protocol],
        [dl.src, dl.dst, dl.sport, dl.dport, dl.proto],
      );
      assert.equal(r.in_if, e.in_if);
      assert.equal(r.packets, 1);
      assert.ok((r.bytes as number) > 0);
    });
  }
});
