// sFlow conformance on the real captures: every sFlow unit decodes; the
// number of samples by type and the record formats equal MANIFEST.tsv
// (tshark) — or, where SUMMARY.tsv says tshark is wrong (unknown counter
// formats not skipped), tcpdump's / Telegraf's golden output; each sample
// equals tshark's per-sample decode in expected/<unit>.jsonl; the tcpdump
// and Telegraf golden outputs agree field by field; NetFlow on the sFlow
// port and sFlow on the NetFlow port are decoded, never misread.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { decodeSflow, errorsOf, type SflowRun } from "../src/collector/sflow/testing.js";
import {
  CAPTURES_DIR,
  isSflow,
  loadExpected,
  loadSummary,
  loadUnits,
  readUnitDatagrams,
  type Datagram,
} from "./helpers/captures.js";
import { loadTelegraf } from "./helpers/golden.js";

const units = [...loadUnits().values()].filter((u) => u.sflow);
const summary = loadSummary();
const cache = new Map<string, { datagrams: Datagram[]; run: SflowRun }>();
function run(name: string): { datagrams: Datagram[]; run: SflowRun } {
  let r = cache.get(name);
  if (!r) {
    const u = loadUnits().get(name)!;
    const datagrams = readUnitDatagrams(u);
    r = { datagrams, run: decodeSflow(datagrams) };
    cache.set(name, r);
  }
  return r;
}

function parseJsonCounts(s: string): Record<string, number> {
  return s ? (JSON.parse(s) as Record<string, number>) : {};
}

function sumCounts(objs: Record<string, number>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const o of objs) for (const [k, v] of Object.entries(o)) out[k] = (out[k] ?? 0) + v;
  return out;
}

function asStrKeys(o: Record<number, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [String(k), v]));
}

/** tcpdump -v text: per counter sample (seq, idx) and its records; per flow sample its rate/interfaces. */
function tcpdumpGolden(file: string): {
  counterSamples: {
    seq: number;
    idx: number;
    formats: number[];
    ifindex?: number;
    inOctets?: number;
    outOctets?: number;
  }[];
  counterFormats: Record<string, number>;
  flowSamples: {
    seq: number;
    rate: number;
    pool: number;
    input: number;
    output: number;
    formats: number[];
  }[];
  notSupported: number;
  datagrams: { agent: string; agentId: number; seq: number }[];
} {
  const text = readFileSync(join(CAPTURES_DIR, file), "utf8");
  const counterSamples: ReturnType<typeof tcpdumpGolden>["counterSamples"] = [];
  const flowSamples: ReturnType<typeof tcpdumpGolden>["flowSamples"] = [];
  const datagrams: ReturnType<typeof tcpdumpGolden>["datagrams"] = [];
  const counterFormats: Record<string, number> = {};
  let cur: { formats: number[] } | undefined;
  let inCounter = false;
  let notSupported = 0;
  for (const line of text.split("\n")) {
    let m: RegExpExecArray | null;
    if ((m = /sFlowv5, IPv4 agent ([\d.]+), agent-id (\d+), seqnum (\d+)/.exec(line))) {
      datagrams.push({ agent: m[1]!, agentId: Number(m[2]), seq: Number(m[3]) });
    } else if (/sFlow version \d+ packet not supported/.test(line)) notSupported++;
    else if (
      (m = /counter sample \((?:2|4)\), length \d+, seqnum (\d+), type \d+, idx (\d+), records/.exec(line))
    ) {
      const c = { seq: Number(m[1]), idx: Number(m[2]), formats: [] as number[] };
      counterSamples.push(c);
      cur = c;
      inCounter = true;
    } else if (
      (m =
        /flow sample \((?:1|3)\), length \d+, seqnum (\d+), type \d+, idx \d+, rate (\d+), pool (\d+), drops \d+, input (\d+).*output (\d+)/.exec(
          line,
        ))
    ) {
      const f = {
        seq: Number(m[1]),
        rate: Number(m[2]),
        pool: Number(m[3]),
        input: Number(m[4]),
        output: Number(m[5]),
        formats: [] as number[],
      };
      flowSamples.push(f);
      cur = f;
      inCounter = false;
    } else if ((m = /enterprise 0,? .*\((\d+)\) length/.exec(line)) && cur) {
      const fmt = Number(m[1]);
      cur.formats.push(fmt);
      if (inCounter) counterFormats[fmt] = (counterFormats[fmt] ?? 0) + 1;
    } else if ((m = /ifindex (\d+), iftype/.exec(line)) && inCounter) {
      (cur as (typeof counterSamples)[number]).ifindex = Number(m[1]);
    } else if ((m = /^\s+In octets (\d+),/.exec(line)) && inCounter) {
      (cur as (typeof counterSamples)[number]).inOctets = Number(m[1]);
    } else if ((m = /^\s+Out octets (\d+),/.exec(line)) && inCounter) {
      (cur as (typeof counterSamples)[number]).outOctets = Number(m[1]);
    }
  }
  return { counterSamples, counterFormats, flowSamples, notSupported, datagrams };
}

/**
 * Counter record formats where SUMMARY.tsv marks tshark WRONG (it does not skip
 * unknown counter formats and misreads what follows). The truth comes from
 * another decoder's golden output, checked in the tests below.
 */
const COUNTER_FORMAT_TRUTH: Record<string, () => { formats: Record<string, number>; withIf: number }> = {
  tcpdump__sflow_multiple_counter_30_pdus: () => {
    const g = tcpdumpGolden("tcpdump__sflow_multiple_counter_30_pdus.golden.tcpdump.out");
    const withIf = g.counterSamples.filter((c) => c.formats.includes(1) || c.formats.includes(2)).length;
    return { formats: g.counterFormats, withIf };
  },
  // Telegraf's golden decodes port_name="eno1" (format 1005) and the generic
  // record (format 1: ifIndex 3, in_bytes 3910) that tshark misreads as format 4.
  telegraf__sflow_v5_example__sflow_v5: () => {
    const [line] = loadTelegraf("sflow_v5_example");
    assert.equal(line!.fields.port_name, "eno1");
    assert.equal(Number(line!.fields.in_bytes), 3910);
    return { formats: { "1005": 1, "1": 1 }, withIf: 1 };
  },
};

/**
 * Flow record formats tshark cannot see: it does not decode discarded-packet
 * samples (type 5, SUMMARY: "Unknown sample format"). Telegraf's golden shows
 * the sample's one record: out_queue=42, the extended egress queue (1036).
 */
const FLOW_FORMAT_TRUTH: Record<string, () => Record<string, number>> = {
  telegraf__sflow_issue_15375__sflow_drop_1036: () => {
    const [line] = loadTelegraf("sflow_issue_15375");
    assert.equal(Number(line!.fields.out_queue), 42);
    return { "1036": 1 };
  },
};

describe("sFlow units: samples and record formats equal MANIFEST.tsv (tshark) and the goldens", () => {
  assert.ok(units.length >= 13, `sFlow units found: ${units.length}`);
  for (const u of units) {
    it(`${u.name}`, () => {
      const { datagrams, run: r } = run(u.name);
      assert.deepEqual(r.thrown, [], "decoder threw");
      const want = sumCounts(u.files.map((f) => parseJsonCounts(f.raw.sflow_samples_by_type ?? "")));
      assert.deepEqual(asStrKeys(r.tally.samples), want, "samples by type");
      let flowFmts = sumCounts(u.files.map((f) => parseJsonCounts(f.raw.sflow_flow_record_formats ?? "")));
      const flowTruth = FLOW_FORMAT_TRUTH[u.name];
      if (flowTruth) {
        assert.match(
          summary.get(u.name)!.notes,
          /tshark does not decode/,
          "override only where tshark cannot decode",
        );
        flowFmts = flowTruth();
      }
      assert.deepEqual(asStrKeys(r.tally.flowRecords), flowFmts, "flow record formats");
      let counterFmts = sumCounts(
        u.files.map((f) => parseJsonCounts(f.raw.sflow_counter_record_formats ?? "")),
      );
      const truth = COUNTER_FORMAT_TRUTH[u.name]?.();
      if (truth) {
        assert.match(
          summary.get(u.name)!.notes,
          /TSHARK WRONG/,
          "override only where SUMMARY says tshark is wrong",
        );
        counterFmts = truth.formats;
      }
      assert.deepEqual(asStrKeys(r.tally.counterRecords), counterFmts, "counter record formats");

      // One flow row per flow / expanded flow / discarded-packet sample.
      const flowSamples = (want["1"] ?? 0) + (want["3"] ?? 0) + (want["5"] ?? 0);
      const sflowRows = r.rows.filter((_, k) => isSflow(datagrams[r.rowDatagram[k]!]!.payload));
      assert.equal(sflowRows.length, flowSamples, "flow rows");
      // One interface-counters record per counter sample holding generic (1) or Ethernet (2) counters.
      const expectedCounters = loadExpected(u.name).filter((e) => e.kind === "counter_sample");
      const withIf = expectedCounters.filter(
        (e) => (e as unknown as { in_octets: number | null }).in_octets !== null,
      );
      assert.equal(r.counters.length, truth ? truth.withIf : withIf.length, "interface-counter records");
      // Every record format we do not decode is counted, none silently.
      const decoded = new Set(["1", "2", "3", "4", "1001", "1002", "1003"]);
      const skippedFlow = Object.entries(flowFmts).filter(([k]) => !decoded.has(k));
      const skippedCounter = Object.entries(counterFmts).filter(([k]) => k !== "1" && k !== "2");
      const skipped = [...skippedFlow, ...skippedCounter].reduce((a, [, n]) => a + n, 0);
      assert.equal(
        errorsOf(r.stats).sample_unknown ?? 0,
        skipped,
        "sample_unknown = records of formats not decoded",
      );
    });
  }
});

describe("sFlow samples equal tshark's per-sample decode (expected/<unit>.jsonl)", () => {
  for (const u of units) {
    const expected = loadExpected(u.name).filter(
      (e) => e.kind === "flow_sample" || e.kind === "counter_sample",
    );
    if (expected.length === 0) continue;
    it(`${u.name}: ${expected.length} samples`, () => {
      const { datagrams, run: r } = run(u.name);
      const rows = r.rows.filter((_, k) => isSflow(datagrams[r.rowDatagram[k]!]!.payload));
      const flowSeqs = r.tally.sampleSeqs.filter((s) => s.type !== 2 && s.type !== 4);
      let fi = 0;
      let ci = 0;
      for (const e of expected as unknown as Record<string, string | number | null>[]) {
        if (e.kind === "flow_sample") {
          const row = rows[fi]!;
          const at = `flow sample ${fi}`;
          assert.equal(row.exporter_address, e.agent, `${at} agent`);
          assert.equal(flowSeqs[fi]!.seq, e.seq, `${at} seq`);
          assert.equal(row.sampling_rate, e.sampling_rate, `${at} sampling rate`);
          assert.equal(row.in_if, e.in_if, `${at} in_if`);
          if (e.out_if_format === 0) assert.equal(row.out_if, e.out_if, `${at} out_if`);
          else if (e.out_if_format === 1) {
            // Discarded: the value is the reason, not an interface.
            assert.equal(row.out_if, 0, `${at} out_if`);
            assert.equal(row.drop_reason, e.out_if, `${at} drop reason`);
            assert.ok(Number(row.forwarding_status) >= 128, `${at} forwarding status dropped`);
          } else assert.equal(row.out_if, 0, `${at} multiple output interfaces (count ${e.out_if}) → 0`);
          assert.equal(row.src_addr, e.src ?? "", `${at} src`);
          assert.equal(row.dst_addr, e.dst ?? "", `${at} dst`);
          assert.equal(row.src_port, e.sport ?? 0, `${at} sport`);
          assert.equal(row.dst_port, e.dport ?? 0, `${at} dport`);
          assert.equal(row.protocol, e.proto ?? 0, `${at} proto`);
          assert.equal(row.bytes, e.frame_length, `${at} bytes = frame length`);
          assert.equal(row.packets, 1, `${at} packets`);
          fi++;
        } else {
          if (e.in_octets === null) continue; // no generic record in this sample (Host sFlow)
          const c = r.counters[ci]!;
          const at = `counter sample ${ci}`;
          assert.equal(c.agent, e.agent, `${at} agent`);
          assert.equal(c.ifIndex, e.if_index, `${at} ifIndex`);
          assert.equal(c.generic?.inOctets, e.in_octets, `${at} in octets`);
          assert.equal(c.generic?.outOctets, e.out_octets, `${at} out octets`);
          ci++;
        }
      }
      assert.equal(fi, rows.length, "all flow rows compared");
      // Where tshark misread the counters (TSHARK WRONG), the goldens check them below.
      if (!COUNTER_FORMAT_TRUTH[u.name]) assert.equal(ci, r.counters.length, "all counter records compared");
    });
  }
});

describe("sFlow vs tcpdump golden output", () => {
  it("tcpdump__sflow_multiple_counter_30_pdus: 144 counter samples, datagram headers, 5 NetFlow frames", () => {
    const g = tcpdumpGolden("tcpdump__sflow_multiple_counter_30_pdus.golden.tcpdump.out");
    const { run: r } = run("tcpdump__sflow_multiple_counter_30_pdus");
    assert.equal(g.counterSamples.length, 144);
    const seqs = r.tally.sampleSeqs.filter((s) => s.type === 2 || s.type === 4).map((s) => s.seq);
    assert.deepEqual(
      seqs,
      g.counterSamples.map((c) => c.seq),
      "counter sample sequence numbers",
    );
    const withGeneric = g.counterSamples.filter((c) => c.ifindex !== undefined);
    assert.equal(withGeneric.length, 142);
    assert.deepEqual(
      r.counters.map((c) => [
        c.sourceIdIndex,
        c.sequence,
        c.ifIndex,
        c.generic?.inOctets,
        c.generic?.outOctets,
      ]),
      withGeneric.map((c) => [c.idx, c.seq, c.ifindex, c.inOctets, c.outOctets]),
    );
    assert.deepEqual(
      r.tally.datagrams.map((d) => [d.agent, d.subAgent, d.seq]),
      g.datagrams.map((d) => [d.agent, d.agentId, d.seq]),
      "agent, sub-agent, sequence per datagram",
    );
    // tcpdump refuses the 5 NetFlow v5 datagrams ("sFlow version 327681"); we decode them as NetFlow.
    assert.equal(g.notSupported, 5);
    assert.equal(r.tally.datagrams.length, 25);
    const v5 = [...r.stats.exporters.values()].reduce((a, s) => a + (s.versions["5"] ?? 0), 0);
    assert.equal(v5, 5, "NetFlow v5 datagrams on the sFlow port decoded as NetFlow v5");
    const nf = loadExpected("tcpdump__sflow_multiple_counter_30_pdus").filter((e) => e.kind === "flow");
    assert.equal(r.rows.length, nf.length);
    assert.deepEqual(
      r.rows.map((x) => [x.src_addr, x.dst_addr, x.src_port, x.dst_port, x.protocol, x.bytes, x.packets]),
      nf.map((e) => [e.src, e.dst, e.sport, e.dport, e.proto, e.bytes, e.packets]),
    );
    // Four agents send consecutive datagrams twice or more: nothing is missing between them.
    assert.equal(
      [...r.stats.exporters.values()].reduce((a, s) => a + s.sequenceLost, 0),
      0,
    );
  });

  it("tcpdump__sflow_expanded: rate, pool, interfaces, record formats", () => {
    const g = tcpdumpGolden("tcpdump__sflow_expanded.golden.tcpdump.out");
    const { run: r } = run("tcpdump__sflow_expanded");
    assert.equal(g.flowSamples.length, 1);
    const f = g.flowSamples[0]!;
    const row = r.rows[0]!;
    assert.equal(row.sampling_rate, f.rate);
    assert.equal(row.in_if, f.input);
    assert.equal(row.out_if, f.output);
    assert.deepEqual(Object.keys(r.tally.flowRecords).map(Number).sort(), [...f.formats].sort());
    assert.equal(r.tally.sampleSeqs[0]!.seq, f.seq);
    // Extended gateway (1003) and router (1002), kept: AS path, communities, local pref.
    assert.equal(row.as_path, "8218 29605 203361");
    assert.equal(row.dst_as, 203361);
    assert.equal(row.src_as, 203476);
    assert.equal(row.bgp_communities, "8218:101 29169:100 29169:50000 29169:51706");
    assert.equal(row.local_pref, 100);
    assert.equal(row.bgp_next_hop, "54.54.54.54");
    assert.equal(row.next_hop, "54.54.54.54");
    assert.equal(row.src_prefix_len, 32);
    assert.equal(row.dst_prefix_len, 22);
  });

  it("tcpdump__sflow_print-segv (crash regression): counted as truncated, nothing emitted", () => {
    const g = readFileSync(join(CAPTURES_DIR, "tcpdump__sflow_print-segv.golden.tcpdump.out"), "utf8");
    assert.match(g, /sFlowv5 \[length 8 < 28\] \(invalid\)/);
    const { run: r } = run("tcpdump__sflow_print-segv");
    assert.deepEqual(r.thrown, []);
    assert.equal(r.rows.length + r.counters.length, 0);
    assert.deepEqual(errorsOf(r.stats), { truncated: 1 });
  });
});

describe("sFlow vs Telegraf golden output", () => {
  it("telegraf__sflow_issue_15918: 6 flow samples and 1 counter sample", () => {
    const lines = loadTelegraf("sflow_issue_15918");
    const { run: r } = run("telegraf__sflow_issue_15918__message");
    const counterLine = lines.find((l) => l.fields.in_bytes !== undefined)!;
    const flowLines = lines.filter((l) => l.fields.in_bytes === undefined);
    assert.equal(flowLines.length, 6);
    const c = r.counters[0]!;
    assert.equal(c.ifIndex, Number(counterLine.fields.interface));
    assert.equal(c.generic!.inOctets, Number(counterLine.fields.in_bytes));
    assert.equal(c.generic!.outOctets, Number(counterLine.fields.out_bytes));
    assert.equal(c.generic!.ifSpeed, Number(counterLine.fields.speed));
    assert.equal(c.generic!.outUcastPkts, Number(counterLine.fields.out_unicast_packets_total));
    assert.equal(c.ethernet!.fcsErrors, Number(counterLine.fields.errors_fcs));
    flowLines.forEach((l, k) => {
      const row = r.rows[k]!;
      const at = `sample ${k}`;
      assert.equal(row.exporter_address, l.fields.agent_ip, at);
      assert.equal(row.src_addr, l.fields.src, at);
      assert.equal(row.dst_addr, l.fields.dst, at);
      assert.equal(row.src_port, Number(l.fields.src_port ?? 0), at);
      assert.equal(row.dst_port, Number(l.fields.dst_port ?? 0), at);
      assert.equal(row.bytes, Number(l.fields.l2_bytes), at);
      assert.equal(row.sampling_rate, Number(l.fields.sampling_interval), at);
      assert.equal(row.ttl, Number(l.fields.ttl), at);
      assert.equal(row.src_vlan, Number(l.fields.vlan_src), at);
      assert.equal(row.dst_vlan, Number(l.fields.vlan_dst), at);
      assert.equal(row.src_mac, l.fields.in_src_mac, at);
      assert.equal(row.dst_mac, l.fields.out_dst_mac, at);
      assert.equal(
        r.tally.sampleSeqs.filter((x) => x.type === 1 || x.type === 3)[k]!.seq,
        Number(l.fields.seq_number),
        at,
      );
      // Telegraf's in_snmp is the data source index (SUMMARY review note); ours is that index in sampler_id.
      assert.equal(row.sampler_id, Number(l.fields.in_snmp), at);
      // Telegraf says "egress" whenever the data source is not the input; we say
      // unknown (255) when the source is neither interface (e.g. multiple outputs).
      if (row.direction !== 255)
        assert.equal(row.direction, l.fields.direction === "ingress" ? 0 : 1, `${at} direction`);
      else
        assert.ok(row.sampler_id !== row.in_if && row.sampler_id !== row.out_if, `${at} direction unknown`);
    });
  });

  it("telegraf__sflow_issue_15375: discarded packet sample (type 5)", () => {
    const [l] = loadTelegraf("sflow_issue_15375");
    const { run: r } = run("telegraf__sflow_issue_15375__sflow_drop_1036");
    assert.equal(r.rows.length, 1);
    const row = r.rows[0]!;
    assert.equal(row.in_if, Number(l!.fields.in_snmp));
    assert.equal(row.out_if, Number(l!.fields.out_snmp));
    assert.equal(row.drop_reason, Number(l!.fields.reason));
    assert.equal(row.forwarding_status, 131, "reason 1 (host unreachable) → dropped, unroutable");
    assert.equal(row.exporter_address, l!.fields.agent_ip);
    assert.equal(row.observation_domain_id, Number(l!.fields.agent_subid));
    assert.equal(r.tally.sampleSeqs[0]!.seq, Number(l!.fields.seq_number));
    assert.equal(row.packets, 1);
    assert.equal(row.sampling_rate, 1);
    // Record 1036 (egress queue) is not stored: skipped by its length and counted.
    assert.deepEqual(errorsOf(r.stats), { sample_unknown: 1 });
  });

  it("telegraf__sflow_v5_example: generic counters after a port-name record", () => {
    const [l] = loadTelegraf("sflow_v5_example");
    const { run: r } = run("telegraf__sflow_v5_example__sflow_v5");
    assert.equal(r.counters.length, 1);
    const c = r.counters[0]!;
    assert.equal(c.ifIndex, Number(l!.fields.interface));
    assert.equal(c.agent, l!.fields.agent_ip);
    assert.equal(c.subAgentId, Number(l!.fields.agent_subid));
    assert.equal(c.generic!.inOctets, Number(l!.fields.in_bytes));
    assert.equal(c.generic!.outOctets, Number(l!.fields.out_bytes));
    assert.equal(c.generic!.inUcastPkts, Number(l!.fields.in_unicast_packets_total));
    assert.equal(c.generic!.ifType, Number(l!.fields.interface_type));
  });
});

describe("sFlow specifics on the akvorado captures", () => {
  it("VXLAN: outer flow in the normal columns, inner packet in inner_*", () => {
    const { run: r } = run("akvorado__sflow__data-encap-vxlan");
    const row = r.rows[0]!;
    assert.equal(row.dst_port, 4789);
    assert.equal(row.layer2_segment_id, 100);
    assert.equal(row.inner_src_addr, "2001:db8:4::1");
    assert.equal(row.inner_dst_addr, "2001:db8:4::3");
    assert.equal(row.inner_protocol, 58);
    // Output interface "local" (0x3FFFFFFF): delivered to the agent itself.
    assert.equal(row.out_if, 0x3fffffff);
    assert.equal(row.forwarding_status, 192);
  });

  it("extended switch VLANs win over the header tag; invalid VLAN values are ignored", () => {
    const { run: r } = run("akvorado__sflow__data-1140");
    assert.equal(r.rows[0]!.src_vlan, 100);
    assert.equal(r.rows[0]!.dst_vlan, 100);
    assert.equal(r.rows[1]!.dst_vlan, 100); // src VLAN 0xFFFFFFFF in the record: not a VLAN
  });

  it("sampled Ethernet + IPv4 records (expanded sample) with a raw header: the header wins", () => {
    const { run: r } = run("akvorado__sflow__data-sflow-ipv4-data");
    const row = r.rows[0]!;
    assert.equal(row.src_addr, "50.50.50.50");
    assert.equal(row.bytes, 1390);
    assert.equal(row.dst_vlan, 3001);
  });
});

describe("NetFlow and sFlow on each other's port", () => {
  for (const u of units) {
    it(`${u.name}: the same rows and counters whichever port it arrives on`, () => {
      const { datagrams, run: a } = run(u.name);
      const b = decodeSflow(datagrams, "netflow-port");
      assert.deepEqual(b.thrown, []);
      assert.deepEqual(b.rows, a.rows);
      assert.deepEqual(b.counters, a.counters);
      assert.deepEqual(errorsOf(b.stats), errorsOf(a.stats));
      // Each datagram counted once, whichever decoder got it first.
      const pk = (s: SflowRun["stats"]): number =>
        [...s.exporters.values()].reduce((x, e) => x + e.packets, 0);
      assert.equal(pk(a.stats), datagrams.length);
      assert.equal(pk(b.stats), datagrams.length);
    });
  }
});
