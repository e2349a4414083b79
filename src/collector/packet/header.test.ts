import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { FlowBatch } from "../batch.js";
import { capturesDir, readUnit } from "../capture.js";
import { parsePacketHeader, type FirstLayer, type HeaderResult } from "./header.js";

// ---------------------------------------------------------------------------
// Frame builders (network byte order).

const hex = (s: string): number[] => s.match(/../g)!.map((h) => parseInt(h, 16));
const u16 = (v: number): number[] => [(v >> 8) & 0xff, v & 0xff];
const u32 = (v: number): number[] => [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
const v4 = (s: string): number[] => s.split(".").map(Number);
const MAC_DST = hex("001122334455");
const MAC_SRC = hex("66778899aabb");

function eth(etherType: number, payload: number[], tags: [number, number][] = []): number[] {
  const t = tags.flatMap(([tpid, tci]) => [...u16(tpid), ...u16(tci)]);
  return [...MAC_DST, ...MAC_SRC, ...t, ...u16(etherType), ...payload];
}

function ipv4(
  proto: number,
  payload: number[],
  o: { src?: string; dst?: string; frag?: number; ihl?: number; tos?: number; ttl?: number } = {},
): number[] {
  const ihl = o.ihl ?? 5;
  const opts = new Array<number>((ihl - 5) * 4).fill(1); // NOP options
  const total = ihl * 4 + payload.length;
  return [
    0x40 | ihl,
    o.tos ?? 0x28,
    ...u16(total),
    ...u16(0x1234),
    ...u16(o.frag ?? 0x4000),
    o.ttl ?? 63,
    proto,
    0,
    0,
    ...v4(o.src ?? "192.0.2.1"),
    ...v4(o.dst ?? "198.51.100.2"),
    ...opts,
    ...payload,
  ];
}

const V6_SRC = hex("20010db8000000000000000000000001");
const V6_DST = hex("20010db8000000000000000000000002");

function ipv6(nh: number, payload: number[], o: { tc?: number; hop?: number } = {}): number[] {
  const tc = o.tc ?? 0xb8;
  return [
    0x60 | (tc >> 4),
    (tc & 0x0f) << 4,
    0,
    0,
    ...u16(payload.length),
    nh,
    o.hop ?? 64,
    ...V6_SRC,
    ...V6_DST,
    ...payload,
  ];
}

const tcp = (sport: number, dport: number, flags: number, ns = false): number[] => [
  ...u16(sport),
  ...u16(dport),
  ...u32(1),
  ...u32(0),
  0x50 | (ns ? 1 : 0),
  flags,
  ...u16(65535),
  0,
  0,
  0,
  0,
];
const udp = (sport: number, dport: number, data: number[] = []): number[] => [
  ...u16(sport),
  ...u16(dport),
  ...u16(8 + data.length),
  0,
  0,
  ...data,
];
const mplsEntry = (label: number, bottom: boolean, ttl = 64): number[] =>
  u32(((label << 12) | (bottom ? 0x100 : 0) | ttl) >>> 0);

function parse(
  frame: number[] | Uint8Array,
  first: FirstLayer = "ethernet",
  inner = false,
): { r: HeaderResult; row: Record<string, string | number> } {
  const b = new FlowBatch(4);
  const buf = frame instanceof Uint8Array ? frame : Uint8Array.from(frame);
  const r = parsePacketHeader(buf, 0, buf.length, first, b.cols, 1, inner);
  return { r, row: b.row(1) };
}

// ---------------------------------------------------------------------------

describe("parsePacketHeader: hand-built frames", () => {
  it("Ethernet + IPv4 + TCP with the NS bit", () => {
    const { r, row } = parse(eth(0x0800, ipv4(6, tcp(443, 51000, 0x12, true), { tos: 0xb8, ttl: 57 })));
    assert.equal(r.depth, "l4");
    assert.equal(r.ipLength, 40);
    assert.equal(r.l3Offset, 14);
    assert.equal(r.l4Offset, 34);
    assert.equal(row.dst_mac, "00:11:22:33:44:55");
    assert.equal(row.src_mac, "66:77:88:99:aa:bb");
    assert.equal(row.ip_version, 4);
    assert.equal(row.src_addr, "192.0.2.1");
    assert.equal(row.dst_addr, "198.51.100.2");
    assert.equal(row.protocol, 6);
    assert.equal(row.tos, 0xb8);
    assert.equal(row.ttl, 57);
    assert.equal(row.src_port, 443);
    assert.equal(row.dst_port, 51000);
    assert.equal(row.tcp_flags, 0x112);
    assert.equal(row.fragment, 0);
  });

  it("IPv4 options (IHL 7) are skipped to reach UDP", () => {
    const { r, row } = parse(eth(0x0800, ipv4(17, udp(53, 3333), { ihl: 7 })));
    assert.equal(r.l4Offset, 14 + 28);
    assert.equal(row.src_port, 53);
    assert.equal(row.dst_port, 3333);
  });

  it("802.1Q: VLAN id into src_vlan; QinQ keeps the OUTER tag (88a8 and 9100)", () => {
    let { row } = parse(eth(0x0800, ipv4(17, udp(1, 2)), [[0x8100, 0x2064]]));
    assert.equal(row.src_vlan, 100);
    assert.equal(row.dst_port, 2);
    for (const tpid of [0x88a8, 0x9100]) {
      ({ row } = parse(
        eth(0x86dd, ipv6(17, udp(7, 8)), [
          [tpid, 0x00c8],
          [0x8100, 0x012c],
        ]),
      ));
      assert.equal(row.src_vlan, 200);
      assert.equal(row.ip_version, 6);
      assert.equal(row.dst_port, 8);
    }
  });

  it("802.3 length frame with LLC/SNAP carries the EtherType", () => {
    const payload = ipv4(17, udp(9, 10));
    const frame = [
      ...MAC_DST,
      ...MAC_SRC,
      ...u16(8 + payload.length),
      0xaa,
      0xaa,
      0x03,
      0,
      0,
      0,
      ...u16(0x0800),
      ...payload,
    ];
    const { r, row } = parse(frame);
    assert.equal(r.depth, "l4");
    assert.equal(row.dst_port, 10);
    // Plain LLC (no SNAP): L2 only.
    const llc = [...MAC_DST, ...MAC_SRC, ...u16(3), 0x42, 0x42, 0x03];
    assert.equal(parse(llc).r.depth, "l2");
  });

  it("MPLS stack: three labels kept, then IPv4 / IPv6 by first nibble", () => {
    const stack = [
      ...mplsEntry(16001, false),
      ...mplsEntry(24002, false),
      ...mplsEntry(300, false),
      ...mplsEntry(17, true),
    ];
    let { r, row } = parse(eth(0x8847, [...stack, ...ipv4(6, tcp(22, 40000, 0x18))]));
    assert.equal(row.mpls_label_1, 16001);
    assert.equal(row.mpls_label_2, 24002);
    assert.equal(row.mpls_label_3, 300);
    assert.equal(row.src_port, 22);
    assert.equal(row.tcp_flags, 0x18);
    assert.equal(r.l3Offset, 14 + 16);
    ({ r, row } = parse(eth(0x8848, [...mplsEntry(42, true), ...ipv6(58, [128, 0, 0, 0])])));
    assert.equal(row.mpls_label_1, 42);
    assert.equal(row.ip_version, 6);
    assert.equal(row.protocol, 58);
    assert.equal(row.icmp_type, 128);
    // first layer "mpls" (sFlow header protocol 137).
    ({ row } = parse([...mplsEntry(5, true), ...ipv4(1, [8, 0, 0, 0])], "mpls"));
    assert.equal(row.mpls_label_1, 5);
    assert.equal(row.icmp_type, 8);
  });

  it("EoMPLS: control word then Ethernet; outer MACs kept, inner IP parsed", () => {
    const innerEth = [
      ...hex("aaaaaaaaaaaa"),
      ...hex("bbbbbbbbbbbb"),
      ...u16(0x0800),
      ...ipv4(17, udp(5000, 6000), { src: "10.0.0.1", dst: "10.0.0.2" }),
    ];
    const { r, row } = parse(
      eth(0x8847, [...mplsEntry(1000, false), ...mplsEntry(2000, true), 0, 0, 0, 7, ...innerEth]),
    );
    assert.equal(r.depth, "l4");
    assert.equal(row.mpls_label_1, 1000);
    assert.equal(row.mpls_label_2, 2000);
    assert.equal(row.dst_mac, "00:11:22:33:44:55");
    assert.equal(row.src_addr, "10.0.0.1");
    assert.equal(row.dst_port, 6000);
  });

  it("IPv4 fragments: MF on the first fragment keeps ports, a later fragment has none", () => {
    let { r, row } = parse(eth(0x0800, ipv4(17, udp(111, 222), { frag: 0x2000 })));
    assert.equal(row.fragment, 1);
    assert.equal(row.dst_port, 222);
    assert.equal(r.depth, "l4");
    ({ r, row } = parse(eth(0x0800, ipv4(17, udp(111, 222), { frag: 0x00b9 }))));
    assert.equal(row.fragment, 1);
    assert.equal(row.src_port, 0);
    assert.equal(row.dst_port, 0);
    assert.equal(row.protocol, 17);
    assert.equal(r.depth, "l3");
  });

  it("IPv6 extension headers: hop-by-hop, destination options, AH, then TCP", () => {
    const t = tcp(80, 1234, 0x10);
    const ah = [6, 4, 0, 0, ...u32(0x100), ...u32(1), ...u32(0), ...u32(0), ...u32(0)]; // (4+2)*4 = 24 bytes
    const dst = [51, 0, 1, 4, 0, 0, 0, 0];
    const hbh = [60, 0, 5, 2, 0, 0, 1, 0];
    const { r, row } = parse(eth(0x86dd, ipv6(0, [...hbh, ...dst, ...ah, ...t], { tc: 0x2e << 2, hop: 3 })));
    assert.equal(row.protocol, 6);
    assert.equal(row.tos, 0xb8);
    assert.equal(row.ttl, 3);
    assert.equal(row.src_addr, "2001:db8::1");
    assert.equal(row.dst_addr, "2001:db8::2");
    assert.equal(row.src_port, 80);
    assert.equal(r.l4Offset, 14 + 40 + 8 + 8 + 24);
    assert.equal(r.ipLength, 40 + 40 + t.length);
  });

  it("IPv6 fragment header: first fragment has ports, later fragment not", () => {
    let { row } = parse(ipv6(44, [17, 0, 0, 1, ...u32(7), ...udp(1, 2)]), "ipv6");
    assert.equal(row.fragment, 1);
    assert.equal(row.protocol, 17);
    assert.equal(row.dst_port, 2);
    ({ row } = parse(ipv6(44, [17, 0, 0x05, 0x38, ...u32(7), ...udp(1, 2)]), "ipv6"));
    assert.equal(row.fragment, 1);
    assert.equal(row.protocol, 17);
    assert.equal(row.dst_port, 0);
  });

  it("SRv6 (routing header type 4) is flagged; inner IPv4 is an IP-in-IP tunnel", () => {
    const inner = ipv4(17, udp(1111, 2222), { src: "192.0.2.13", dst: "192.0.2.12" });
    const srh = [4, 2, 4, 0, 0, 0, 0, 0, ...new Array<number>(16).fill(0xfe)]; // one segment
    const frame = eth(0x86dd, ipv6(43, [...srh, ...inner]));
    let { r, row } = parse(frame);
    assert.equal(r.srv6, true);
    assert.equal(r.tunnel, "ipip");
    assert.equal(r.innerLayer, "ipv4");
    assert.equal(r.innerOffset, 14 + 40 + 24);
    assert.equal(row.protocol, 4);
    assert.equal(row.src_addr, "2001:db8::1");
    assert.equal(row.src_port, 0);
    ({ r, row } = parse(frame, "ethernet", true));
    assert.equal(r.innerDepth, "l4");
    assert.equal(row.ip_version, 4);
    assert.equal(row.src_addr, "192.0.2.13");
    assert.equal(row.protocol, 17);
    assert.equal(row.dst_port, 2222);
    assert.equal(row.src_mac, "66:77:88:99:aa:bb"); // IP-in-IP brings no L2: outer MACs stay
    assert.equal(r.ipLength, 40 + 24 + inner.length); // outer packet's length
  });

  it("IPv6-in-IPv4 (41) and GRE carry inner IP", () => {
    const in6 = ipv6(17, udp(3, 4));
    let { r, row } = parse(eth(0x0800, ipv4(41, in6)));
    assert.equal(r.innerLayer, "ipv6");
    assert.equal(row.ip_version, 4);
    ({ r, row } = parse(eth(0x0800, ipv4(41, in6)), "ethernet", true));
    assert.equal(row.ip_version, 6);
    assert.equal(row.dst_port, 4);
    const gre = [0x20, 0, ...u16(0x0800), ...u32(99), ...ipv4(6, tcp(10, 20, 2), { src: "10.1.1.1" })]; // K bit: key present
    ({ r, row } = parse(eth(0x0800, ipv4(47, gre))));
    assert.equal(r.tunnel, "gre");
    assert.equal(r.innerOffset, 14 + 20 + 8);
    ({ r, row } = parse(eth(0x0800, ipv4(47, gre)), "ethernet", true));
    assert.equal(row.src_addr, "10.1.1.1");
    assert.equal(row.tcp_flags, 2);
  });

  it("VXLAN: outer by default, inner Ethernet with inner=true", () => {
    const innerFrame = [
      ...hex("020000000001"),
      ...hex("020000000002"),
      ...u16(0x0800),
      ...ipv4(6, tcp(8080, 9090, 0x02), { src: "172.16.0.1", dst: "172.16.0.2" }),
    ];
    const vx = [0x08, 0, 0, 0, 0x00, 0x13, 0x88, 0];
    const frame = eth(0x0800, ipv4(17, udp(45833, 4789, [...vx, ...innerFrame])), [[0x8100, 10]]);
    let { r, row } = parse(frame);
    assert.equal(r.tunnel, "vxlan");
    assert.equal(r.vni, 5000);
    assert.equal(r.innerLayer, "ethernet");
    assert.equal(r.innerOffset, 18 + 20 + 8 + 8);
    assert.equal(row.dst_port, 4789);
    assert.equal(row.src_vlan, 10);
    ({ r, row } = parse(frame, "ethernet", true));
    assert.equal(r.innerDepth, "l4");
    assert.equal(row.src_addr, "172.16.0.1");
    assert.equal(row.dst_port, 9090);
    assert.equal(row.src_mac, "02:00:00:00:00:02");
    assert.equal(row.src_vlan, 0);
  });

  it("ICMP, ICMPv6, SCTP and first layer 'ip'", () => {
    let { row } = parse(ipv4(1, [3, 13, 0, 0]), "ip");
    assert.deepEqual([row.icmp_type, row.icmp_code, row.src_port], [3, 13, 0]);
    ({ row } = parse(ipv6(58, [1, 4, 0, 0]), "ip"));
    assert.deepEqual([row.icmp_type, row.icmp_code], [1, 4]);
    ({ row } = parse(ipv4(132, [...u16(2905), ...u16(36412), ...u32(0), ...u32(0)]), "ipv4"));
    assert.deepEqual([row.src_port, row.dst_port], [2905, 36412]);
  });

  it("truncation: fills what is complete and reports the depth", () => {
    const frame = eth(0x0800, ipv4(6, tcp(443, 51000, 0x12)));
    // IP header complete, TCP cut after 3 bytes: addresses yes, ports no.
    let { r, row } = parse(frame.slice(0, 14 + 20 + 3));
    assert.equal(r.depth, "l3");
    assert.equal(row.src_addr, "192.0.2.1");
    assert.equal(row.src_port, 0);
    assert.equal(r.ipLength, 40);
    // Ports but no flags.
    ({ r, row } = parse(frame.slice(0, 14 + 20 + 4)));
    assert.equal(r.depth, "l4");
    assert.equal(row.dst_port, 51000);
    assert.equal(row.tcp_flags, 0);
    // Only Ethernet.
    ({ r, row } = parse(frame.slice(0, 20)));
    assert.equal(r.depth, "l2");
    assert.equal(row.ip_version, 0);
    assert.equal(parse(frame.slice(0, 13)).r.depth, "none");
  });

  it("never reads outside [off, end) and never throws on garbage", () => {
    const b = new FlowBatch(2);
    const frame = Uint8Array.from(eth(0x0800, ipv4(6, tcp(1, 2, 3))));
    // Bytes beyond `end` must not be used: cut inside TCP ports, put a TCP header after.
    const r = parsePacketHeader(frame, 0, 14 + 20 + 2, "ethernet", b.cols, 0);
    assert.equal(r.depth, "l3");
    assert.equal(b.cols.src_port[0], 0);
    // Offset window in the middle of a bigger buffer.
    const padded = new Uint8Array(frame.length + 10);
    padded.set(frame, 5);
    const r2 = parsePacketHeader(padded, 5, 5 + frame.length, "ethernet", b.cols, 1);
    assert.equal(r2.l3Offset, 19);
    assert.equal(b.cols.dst_port[1], 2);
    // Bad arguments.
    assert.equal(parsePacketHeader(frame, -1, 10, "ethernet", b.cols, 0).depth, "none");
    assert.equal(parsePacketHeader(frame, 0, 1e9, "ethernet", b.cols, 0).depth, "l4");
    assert.equal(parsePacketHeader(frame, 0, NaN, "ethernet", b.cols, 0).depth, "l4");
    // Random bytes, every first layer, inner mode.
    let seed = 12345;
    const rnd = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
    const layers: FirstLayer[] = ["ethernet", "ipv4", "ipv6", "mpls", "ip"];
    for (let k = 0; k < 3000; k++) {
      const g = new Uint8Array(1 + (k % 200));
      for (let j = 0; j < g.length; j++) g[j] = rnd();
      if (k % 3 === 0) g[0] = 0x45;
      if (k % 3 === 1) g[0] = 0x60;
      parsePacketHeader(g, 0, g.length, layers[k % layers.length]!, b.cols, 0, k % 2 === 0);
    }
  });
});

// ---------------------------------------------------------------------------
// Real captures: the IPFIX dataLinkFrameSection (IE 315) of the akvorado
// units, against tshark's dissection of the same bytes (the "datalink" key of
// expected/<unit>.jsonl).

/**
 * Minimal IPFIX walk (RFC 7011 §3): learns templates (set 2) and returns the
 * value of IE `ie` in every data record, in order. Variable-length fields
 * (length 65535) use the 1- or 3-byte length prefix of §7.
 */
function ipfixFieldValues(messages: Uint8Array[], ie: number): Uint8Array[] {
  const templates = new Map<number, { id: number; len: number }[]>();
  const out: Uint8Array[] = [];
  for (const m of messages) {
    const dv = new DataView(m.buffer, m.byteOffset, m.byteLength);
    assert.equal(dv.getUint16(0), 10, "IPFIX message");
    let p = 16;
    const end = dv.getUint16(2);
    while (p + 4 <= end) {
      const setId = dv.getUint16(p);
      const setLen = dv.getUint16(p + 2);
      const setEnd = p + setLen;
      let q = p + 4;
      if (setId === 2) {
        while (q + 4 <= setEnd) {
          const tid = dv.getUint16(q);
          const count = dv.getUint16(q + 2);
          q += 4;
          const fields: { id: number; len: number }[] = [];
          for (let k = 0; k < count; k++) {
            const id = dv.getUint16(q);
            fields.push({ id: id & 0x7fff, len: dv.getUint16(q + 2) });
            q += id & 0x8000 ? 8 : 4;
          }
          templates.set(tid, fields);
        }
      } else if (setId >= 256) {
        const t = templates.get(setId);
        assert.ok(t, `template ${setId} known`);
        while (q < setEnd) {
          for (const f of t) {
            let len = f.len;
            if (len === 65535) {
              len = m[q]!;
              q++;
              if (len === 255) {
                len = dv.getUint16(q);
                q += 2;
              }
            }
            if (f.id === ie) out.push(m.subarray(q, q + len));
            q += len;
          }
          if (setEnd - q < 4) break; // padding
        }
      }
      p = setEnd;
    }
  }
  return out;
}

interface Datalink {
  src: string | null;
  dst: string | null;
  sport: number | null;
  dport: number | null;
  proto: number | null;
}

function checkUnit(unit: string, files: string[], fill: Record<number, Datalink> = {}): FlowBatch {
  const dir = capturesDir();
  const expected = readFileSync(join(dir, "expected", `${unit}.jsonl`), "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => (JSON.parse(l) as { datalink: Datalink | null }).datalink);
  const sections = ipfixFieldValues(
    readUnit(files.map((f) => join(dir, f))).map((d) => d.payload),
    315,
  );
  assert.equal(sections.length, expected.length, "one IE 315 per expected record");
  const b = new FlowBatch(sections.length);
  sections.forEach((sec, i) => {
    const r = parsePacketHeader(sec, 0, sec.length, "ethernet", b.cols, i);
    const row = b.row(i);
    const want = expected[i] ?? fill[i];
    assert.ok(want, `record ${i}: expected datalink`);
    assert.equal(row.src_addr, want.src, `record ${i} src`);
    assert.equal(row.dst_addr, want.dst, `record ${i} dst`);
    assert.equal(row.protocol, want.proto, `record ${i} proto`);
    assert.equal(row.src_port, want.sport ?? 0, `record ${i} sport`);
    assert.equal(row.dst_port, want.dport ?? 0, `record ${i} dport`);
    assert.ok(r.depth === "l4" || (r.depth === "l3" && want.sport === null), `record ${i} depth ${r.depth}`);
  });
  // Every prefix of every real section parses without throwing, and never
  // reports more than the prefix allows.
  const scratch = new FlowBatch(1);
  for (const sec of sections) {
    for (let n = 0; n <= sec.length; n++) {
      const r = parsePacketHeader(sec, 0, n, "ethernet", scratch.cols, 0, true);
      assert.ok(r.l3Offset < n && r.l4Offset <= n, "offsets within the prefix");
    }
  }
  return b;
}

describe("parsePacketHeader: real IPFIX dataLinkFrameSection (IE 315) vs tshark", () => {
  it("akvorado datalink unit (Ethernet/IPv4/UDP)", () => {
    checkUnit("akvorado__netflow__datalink__group", [
      "akvorado__netflow__datalink-template.pcap",
      "akvorado__netflow__datalink-data.pcap",
    ]);
  });

  it("akvorado EoMPLS with control word (10 records)", () => {
    // tshark 4.0 does not guess the pseudowire control word, so record 4 (the
    // only EoMPLS one) has datalink null; Akvorado's own test of this capture
    // (outlet/flow/decoder/netflow TestDecodeEVPN) expects, for flow #4:
    // 198.51.100.1 -> 198.51.100.2 TCP 443 -> 55427, flags 16, TTL 62, ToS 32,
    // MPLS labels [300012, 17], dst MAC 02:00:00:00:00:03, src 02:00:00:00:00:04, 1492 bytes.
    const b = checkUnit(
      "akvorado__netflow__ethernet-over-mpls-with-control-word__group",
      [
        "akvorado__netflow__ethernet-over-mpls-with-control-word-template.pcap",
        "akvorado__netflow__ethernet-over-mpls-with-control-word-data.pcap",
      ],
      { 3: { src: "198.51.100.1", dst: "198.51.100.2", sport: 443, dport: 55427, proto: 6 } },
    );
    const row = b.row(3);
    assert.equal(row.mpls_label_1, 300012);
    assert.equal(row.mpls_label_2, 17);
    assert.equal(row.mpls_label_3, 0);
    assert.equal(row.tcp_flags, 16);
    assert.equal(row.ttl, 62);
    assert.equal(row.tos, 32);
    assert.equal(row.dst_mac, "02:00:00:00:00:03");
    assert.equal(row.src_mac, "02:00:00:00:00:04");
    // The other nine are plain Ethernet/802.1Q frames: no labels.
    assert.equal(b.row(0).mpls_label_1, 0);
  });

  it("akvorado SRv6 (IPv6 + SRH + IPv4 inside)", () => {
    checkUnit("akvorado__netflow__ipfix-srv6__group", [
      "akvorado__netflow__ipfix-srv6-template.pcap",
      "akvorado__netflow__ipfix-srv6-data.pcap",
    ]);
    const dir = capturesDir();
    const [sec] = ipfixFieldValues(
      readUnit([
        join(dir, "akvorado__netflow__ipfix-srv6-template.pcap"),
        join(dir, "akvorado__netflow__ipfix-srv6-data.pcap"),
      ]).map((d) => d.payload),
      315,
    );
    // This capture is reduced SRv6 encapsulation (RFC 8986 H.Encaps.Red): IPv6
    // next header 4 straight away, no SRH. The inner packet is IPv4 ICMP.
    const b = new FlowBatch(1);
    const r = parsePacketHeader(sec!, 0, sec!.length, "ethernet", b.cols, 0, true);
    assert.equal(r.srv6, false);
    assert.equal(r.tunnel, "ipip");
    assert.equal(r.innerLayer, "ipv4");
    assert.equal(r.innerDepth, "l4");
    assert.equal(b.row(0).src_addr, "8.8.8.8");
    assert.equal(b.row(0).dst_addr, "213.36.140.100");
    assert.equal(b.row(0).protocol, 1);
    assert.equal(b.cols.ip_version[0], 4, "inner IPv4 parsed with inner=true");
  });
});
