import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import {
  capturesDir,
  loadManifest,
  manifestUnits,
  parseCapture,
  readCapture,
  readUnit,
  splitRawPayloads,
  type CapturedDatagram,
} from "./capture.js";

const rows = loadManifest();
const tmp = mkdtempSync(join(tmpdir(), "nagare-capture-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

const u16 = (v: number): number[] => [(v >> 8) & 0xff, v & 0xff];
const u32 = (v: number): number[] => [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
const le16 = (v: number): number[] => [v & 0xff, (v >> 8) & 0xff];
const le32 = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];

/** Flow-export datagrams as tshark counts them: cflow ports carry v1/5/7/9/10, sFlow ports version 5. */
function flowDatagrams(ds: CapturedDatagram[], portsSpec: string): number {
  const ports = new Map<number, string>();
  for (const m of portsSpec.matchAll(/(\d+)\((\w+)\)/g)) ports.set(Number(m[1]), m[2]!);
  let n = 0;
  for (const d of ds) {
    const dis = ports.get(d.dstPort);
    const p = d.payload;
    if (dis === "cflow" && p.length >= 2 && [1, 5, 7, 9, 10].includes((p[0]! << 8) | p[1]!)) n++;
    else if (dis === "sflow" && p.length >= 4 && p[0] === 0 && p[1] === 0 && p[2] === 0 && p[3] === 5) n++;
  }
  return n;
}

describe("readCapture on the shared capture set", () => {
  it("MANIFEST: 141 capture files, sorted by unit and unit order", () => {
    assert.equal(rows.length, 141);
    const units = manifestUnits(rows);
    assert.equal(units.size, 87);
    for (const [, files] of units) {
      files.forEach((r, k) => {
        assert.equal(r.unitOrder, k + 1, r.file);
        assert.equal(r.unitSize, files.length, r.file);
      });
    }
    const ipfixcol = rows.find((r) => r.file === "ipfixcol2__example_flows.ipfix")!;
    assert.equal(ipfixcol.rawMessages, 68);
    assert.equal(ipfixcol.dataRecordsInUnit, 3979);
    assert.equal(ipfixcol.packets, null);
  });

  it("every file reads; pcap flow datagrams = flow_packets, raw datagrams = raw_messages", () => {
    let pcaps = 0;
    let raws = 0;
    for (const r of rows) {
      const ds = readCapture(r.path);
      assert.ok(ds.length > 0, r.file);
      if (r.format === "pcap") {
        pcaps++;
        assert.ok(r.flowPackets !== null, r.file);
        assert.equal(flowDatagrams(ds, r.udpDstPorts), r.flowPackets, r.file);
        assert.ok(ds.length <= r.packets!, r.file);
        for (const d of ds) assert.ok(d.timeMs > 1e12 && d.timeMs < 2e12, `${r.file}: capture time`);
      } else {
        raws++;
        assert.equal(ds.length, r.rawMessages, r.file);
        // Splitting loses and invents no byte.
        const file = readFileSync(r.path);
        assert.equal(
          ds.reduce((n, d) => n + d.payload.length, 0),
          file.length,
          r.file,
        );
        assert.equal(Buffer.concat(ds.map((d) => d.payload)).equals(file), true, r.file);
        for (const d of ds) {
          assert.equal(d.srcAddr, "192.0.2.1");
          assert.equal(d.srcPort, 50000);
        }
      }
    }
    assert.equal(pcaps, 50);
    assert.equal(raws, 91);
  });

  it("the 5 NetFlow v5 frames on the sFlow port are still read (30 UDP datagrams)", () => {
    const ds = readCapture(join(capturesDir(), "tcpdump__sflow_multiple_counter_30_pdus.pcap"));
    assert.equal(ds.length, 30);
    assert.equal(ds.filter((d) => d.payload[1] === 5 && d.payload[0] === 0 && d.payload[3] !== 5).length, 5);
  });

  it("TCP frames (BMP/BGP in pmacct captures) are skipped", () => {
    const r = rows.find((x) => x.file === "pmacct__403__traffic-00.pcap")!;
    const ds = readCapture(r.path);
    assert.equal(r.packets, 1234);
    assert.equal(ds.length, 357);
    assert.ok(ds.every((d) => d.dstPort === 9991));
  });

  it("addresses, ports, lengths and times agree with tshark (Ethernet, SLL, IPv6)", () => {
    const files = [
      "pktvisor__ipfix.pcap",
      "pmacct__112__traffic-00.pcap",
      "pmacct__403__traffic-00.pcap",
      "graylog__nprobe-netflow9-3.pcap",
      "akvorado__sflow__data-encap-vxlan.pcap",
    ];
    for (const f of files) {
      const path = join(capturesDir(), f);
      const out = execFileSync(
        "tshark",
        [
          "-r",
          path,
          "-Y",
          "udp",
          "-T",
          "fields",
          "-E",
          "separator=;",
          "-E",
          "occurrence=f",
          "-e",
          "ip.src",
          "-e",
          "ipv6.src",
          "-e",
          "udp.srcport",
          "-e",
          "ip.dst",
          "-e",
          "ipv6.dst",
          "-e",
          "udp.dstport",
          "-e",
          "udp.length",
          "-e",
          "frame.time_epoch",
        ],
        { encoding: "utf8" },
      );
      const want = out.trim().split("\n");
      const ds = readCapture(path);
      assert.equal(ds.length, want.length, f);
      ds.forEach((d, i) => {
        const [s4, s6, sp, d4, d6, dp, len, t] = want[i]!.split(";");
        assert.equal(d.srcAddr, s4 || s6, `${f} #${i} src`);
        assert.equal(d.dstAddr, d4 || d6, `${f} #${i} dst`);
        assert.equal(d.srcPort, Number(sp));
        assert.equal(d.dstPort, Number(dp));
        assert.equal(d.payload.length, Number(len) - 8, `${f} #${i} length`);
        // tshark prints seconds '.' nanoseconds; pmacct 403 has non-normalised
        // records (µs field = 1000000), which tshark prints as ".1000000000".
        const [sec, ns] = t!.split(".");
        assert.equal(d.timeMs, Number(sec) * 1000 + Math.floor(Number(ns) / 1e6), `${f} #${i} time`);
      });
    }
  });

  it("pcapng and nanosecond pcap written by editcap read the same", () => {
    const src = join(capturesDir(), "pmacct__501__traffic-00.pcap");
    const base = readCapture(src);
    for (const fmt of ["pcapng", "nsecpcap"]) {
      const out = join(tmp, `x.${fmt}`);
      execFileSync("editcap", ["-F", fmt, src, out]);
      const ds = readCapture(out);
      assert.equal(ds.length, base.length, fmt);
      ds.forEach((d, i) => {
        const b = base[i]!;
        assert.deepEqual(
          [d.srcAddr, d.srcPort, d.dstAddr, d.dstPort, d.timeMs],
          [b.srcAddr, b.srcPort, b.dstAddr, b.dstPort, b.timeMs],
        );
        assert.deepEqual(d.payload, b.payload);
      });
    }
  });

  it("readUnit feeds files in order", () => {
    const unit = manifestUnits(rows).get("akvorado__netflow__group")!;
    const ds = readUnit(unit.map((r) => r.path));
    assert.equal(ds.length, unit.length);
    // First file of the unit is the options template: an IPFIX/v9 template packet.
    assert.deepEqual(ds[0]!.payload, readCapture(unit[0]!.path)[0]!.payload);
  });
});

// ---------------------------------------------------------------------------
// Hand-built captures for what the shared set does not contain.

const PAYLOAD = [0, 10, 0, 20, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];

function udpPkt(sport: number, dport: number, data: number[]): number[] {
  return [...u16(sport), ...u16(dport), ...u16(8 + data.length), 0, 0, ...data];
}
function ipv4(proto: number, payload: number[], frag = 0, id = 7): number[] {
  return [
    0x45,
    0,
    ...u16(20 + payload.length),
    ...u16(id),
    ...u16(frag),
    64,
    proto,
    0,
    0,
    10,
    0,
    0,
    1,
    10,
    0,
    0,
    2,
    ...payload,
  ];
}
const V6A = [0x20, 0x01, 0x0d, 0xb8, ...new Array<number>(11).fill(0), 1];
const V6B = [0x20, 0x01, 0x0d, 0xb8, ...new Array<number>(11).fill(0), 2];
function ipv6(nh: number, payload: number[]): number[] {
  return [0x60, 0, 0, 0, ...u16(payload.length), nh, 64, ...V6A, ...V6B, ...payload];
}
const eth = (et: number, p: number[]): number[] => [...new Array<number>(12).fill(2), ...u16(et), ...p];

function pcap(linktype: number, frames: number[][], opts: { be?: boolean; nano?: boolean } = {}): Uint8Array {
  const w32 = opts.be ? u32 : le32;
  const w16 = opts.be ? u16 : le16;
  const out: number[] = [
    ...w32(opts.nano ? 0xa1b23c4d : 0xa1b2c3d4),
    ...w16(2),
    ...w16(4),
    ...w32(0),
    ...w32(0),
    ...w32(65535),
    ...w32(linktype),
  ];
  frames.forEach((f, k) =>
    out.push(
      ...w32(1700000000 + k),
      ...w32(opts.nano ? 123456789 : 123456),
      ...w32(f.length),
      ...w32(f.length),
      ...f,
    ),
  );
  return Uint8Array.from(out);
}

function block(type: number, body: number[]): number[] {
  while (body.length % 4) body.push(0);
  const len = 12 + body.length;
  return [...le32(type), ...le32(len), ...body, ...le32(len)];
}

describe("parseCapture: link types, IP versions, fragments, raw splitting", () => {
  it("pcap in both byte orders, µs and ns", () => {
    const frame = eth(0x0800, ipv4(17, udpPkt(40000, 2055, PAYLOAD)));
    for (const be of [false, true]) {
      for (const nano of [false, true]) {
        const [d] = parseCapture(pcap(1, [frame], { be, nano }));
        assert.ok(d, `be=${be} nano=${nano}`);
        assert.equal(d.srcAddr, "10.0.0.1");
        assert.equal(d.dstAddr, "10.0.0.2");
        assert.equal(d.srcPort, 40000);
        assert.equal(d.dstPort, 2055);
        assert.deepEqual([...d.payload], PAYLOAD);
        assert.equal(d.timeMs, 1700000000123);
      }
    }
  });

  it("Ethernet with 802.1Q + QinQ tags and Ethernet padding", () => {
    const ip = ipv4(17, udpPkt(1, 2, [9, 9]));
    const frame = [
      ...new Array<number>(12).fill(2),
      ...u16(0x88a8),
      0,
      10,
      ...u16(0x8100),
      0,
      20,
      ...u16(0x0800),
      ...ip,
      0,
      0,
      0,
      0,
      0,
      0,
    ];
    const [d] = parseCapture(pcap(1, [frame]));
    assert.deepEqual([...d!.payload], [9, 9]);
  });

  it("SLL, SLL2, raw IP (101, 228, 229), null (LE family) and loopback (BE family)", () => {
    const ip4 = ipv4(17, udpPkt(5, 6, PAYLOAD));
    const ip6 = ipv6(17, udpPkt(7, 8, PAYLOAD));
    const sll = [0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, ...u16(0x86dd), ...ip6];
    const sll2 = [...u16(0x0800), 0, 0, ...u32(3), 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, ...ip4];
    const cases: [number, number[], string, number][] = [
      [113, sll, "2001:db8::1", 8],
      [276, sll2, "10.0.0.1", 6],
      [101, ip6, "2001:db8::1", 8],
      [228, ip4, "10.0.0.1", 6],
      [229, ip6, "2001:db8::1", 8],
      [0, [...le32(2), ...ip4], "10.0.0.1", 6],
      [0, [...le32(30), ...ip6], "2001:db8::1", 8],
      [108, [...u32(24), ...ip6], "2001:db8::1", 8],
    ];
    for (const [lt, frame, src, dport] of cases) {
      const ds = parseCapture(pcap(lt, [frame]));
      assert.equal(ds.length, 1, `linktype ${lt}`);
      assert.equal(ds[0]!.srcAddr, src, `linktype ${lt}`);
      assert.equal(ds[0]!.dstPort, dport);
      assert.deepEqual([...ds[0]!.payload], PAYLOAD);
    }
  });

  it("IPv6 extension headers are skipped; non-UDP is skipped", () => {
    const hbh = [60, 0, 1, 4, 0, 0, 0, 0];
    const dst = [17, 0, 1, 4, 0, 0, 0, 0];
    const ds = parseCapture(
      pcap(1, [
        eth(0x86dd, ipv6(0, [...hbh, ...dst, ...udpPkt(9, 4739, PAYLOAD)])),
        eth(0x0800, ipv4(6, [0, 1, 0, 2, ...new Array<number>(16).fill(0)])),
        eth(0x0806, new Array<number>(28).fill(0)),
      ]),
    );
    assert.equal(ds.length, 1);
    assert.equal(ds[0]!.dstPort, 4739);
    assert.deepEqual([...ds[0]!.payload], PAYLOAD);
  });

  it("IPv4 and IPv6 fragments are reassembled, in any order", () => {
    const big = Array.from({ length: 3000 }, (_, k) => k & 0xff);
    const udp = udpPkt(50000, 4739, big);
    const pieces = [udp.slice(0, 1480), udp.slice(1480, 2960), udp.slice(2960)];
    const f4 = [
      eth(0x0800, ipv4(17, pieces[2]!, 370, 99)), // last (offset 2960/8), out of order
      eth(0x0800, ipv4(17, pieces[0]!, 0x2000, 99)),
      eth(0x0800, ipv4(17, udpPkt(1, 2, [1]))), // unrelated datagram in between
      eth(0x0800, ipv4(17, pieces[1]!, 0x2000 | 185, 99)),
    ];
    let ds = parseCapture(pcap(1, f4));
    assert.equal(ds.length, 2);
    assert.deepEqual([...ds[1]!.payload], big);
    assert.equal(ds[1]!.dstPort, 4739);
    const frag6 = (off: number, more: boolean, p: number[]): number[] =>
      eth(0x86dd, ipv6(44, [17, 0, ...u16(off | (more ? 1 : 0)), ...u32(0xabcd), ...p]));
    ds = parseCapture(
      pcap(1, [frag6(0, true, pieces[0]!), frag6(2960, false, pieces[2]!), frag6(1480, true, pieces[1]!)]),
    );
    assert.equal(ds.length, 1);
    assert.equal(ds[0]!.srcAddr, "2001:db8::1");
    assert.deepEqual([...ds[0]!.payload], big);
    // A missing fragment yields nothing (and does not throw).
    assert.equal(parseCapture(pcap(1, [f4[0]!, f4[1]!])).length, 0);
  });

  it("pcapng: two interfaces with their own link types, tsresol, EPB and SPB", () => {
    const shb = block(0x0a0d0d0a, [
      ...le32(0x1a2b3c4d),
      ...le16(1),
      ...le16(0),
      ...le32(0xffffffff),
      ...le32(0xffffffff),
    ]);
    const idbEth = block(1, [
      ...le16(1),
      0,
      0,
      ...le32(65535),
      ...le16(9),
      ...le16(1),
      9,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
    ]); // ns
    const idbRaw = block(1, [...le16(101), 0, 0, ...le32(65535)]); // default µs
    const f0 = eth(0x0800, ipv4(17, udpPkt(11, 2055, PAYLOAD)));
    const f1 = ipv6(17, udpPkt(12, 6343, PAYLOAD));
    const tsNs = 1700000000123456789n;
    const epb = (ifc: number, ts: bigint, f: number[]): number[] =>
      block(6, [
        ...le32(ifc),
        ...le32(Number(ts >> 32n)),
        ...le32(Number(ts & 0xffffffffn)),
        ...le32(f.length),
        ...le32(f.length),
        ...f,
      ]);
    const spb = block(3, [...le32(f0.length), ...f0]);
    const file = Uint8Array.from([
      ...shb,
      ...idbEth,
      ...idbRaw,
      ...epb(0, tsNs, f0),
      ...epb(1, 1700000000123456n, f1),
      ...spb,
    ]);
    const ds = parseCapture(file);
    assert.equal(ds.length, 3);
    assert.deepEqual(
      ds.map((d) => [d.srcAddr, d.srcPort, d.timeMs]),
      [
        ["10.0.0.1", 11, 1700000000123],
        ["2001:db8::1", 12, 1700000000123],
        ["10.0.0.1", 11, 0],
      ],
    );
    // Cut in the middle of the last block: the complete blocks still read.
    assert.equal(parseCapture(file.subarray(0, file.length - 10)).length, 2);
  });

  it("raw files: lying NetFlow v5 count, trailing bytes, v9 walk, IPFIX stream, sFlow", () => {
    const v5 = (count: number, recs: number): number[] => [
      0,
      5,
      ...u16(count),
      ...new Array<number>(20 + 48 * recs).fill(1),
    ];
    // Two honest v5 datagrams then one whose count lies: the rest is one datagram.
    let parts = splitRawPayloads(Uint8Array.from([...v5(1, 1), ...v5(2, 2), ...v5(30, 3)]));
    assert.deepEqual(
      parts.map((p) => p.length),
      [72, 120, 168],
    );
    const ipfix = (len: number): number[] => [0, 10, ...u16(len), ...new Array<number>(len - 4).fill(0)];
    parts = splitRawPayloads(Uint8Array.from([...ipfix(40), ...ipfix(16), 0xde, 0xad]));
    assert.deepEqual(
      parts.map((p) => p.length),
      [40, 16, 2],
    );
    const v9 = [0, 9, 0, 1, ...new Array<number>(16).fill(0), ...u16(256), ...u16(8), 1, 2, 3, 4];
    parts = splitRawPayloads(Uint8Array.from([...v9, ...v9, 0, 0, 0, 0, 0, 0]));
    assert.deepEqual(
      parts.map((p) => p.length),
      [28, 34], // zero padding (flowset length 0) stays with the datagram it follows
    );
    const sflow = [0, 0, 0, 5, 0, 0, 0, 1, ...new Array<number>(30).fill(3)];
    const ds = parseCapture(Uint8Array.from(sflow), 42);
    assert.equal(ds.length, 1);
    assert.equal(ds[0]!.dstPort, 6343);
    assert.equal(ds[0]!.timeMs, 42);
    assert.equal(parseCapture(Uint8Array.from(v9))[0]!.dstPort, 2055);
    assert.equal(splitRawPayloads(new Uint8Array(0)).length, 0);
  });

  it("garbage and truncated files never throw", () => {
    const real = readFileSync(join(capturesDir(), "pmacct__112__traffic-00.pcap"));
    const data = new Uint8Array(real);
    for (let n = 0; n < data.length; n += 97) parseCapture(data.subarray(0, n));
    writeFileSync(join(tmp, "empty.bin"), new Uint8Array(0));
    assert.equal(readCapture(join(tmp, "empty.bin")).length, 0);
  });
});
