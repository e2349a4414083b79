// Cross-check against the REAL tshark, run now (not the stored expected/
// decodes): a representative set of captures — NetFlow v5, v9, IPFIX,
// options, IPv6, enterprise fields, IPv4+IPv6 in one record — is decoded by
// tshark and by us, and compared record by record (addresses, ports,
// protocol, bytes, packets, AS numbers, interfaces). Fails loudly if
// /usr/bin/tshark is missing.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { filePorts, readUnitDatagrams, unit, type ExpectedRecord } from "./helpers/captures.js";
import { alignAndDiff, describe as describeMismatches } from "./helpers/compare.js";
import { decodeDatagrams } from "./helpers/decode.js";
import { writeSyntheticPcap } from "./helpers/pcap.js";
import { requireTshark, tsharkRecords, type TsharkRecord } from "./helpers/tshark.js";

interface Case {
  unit: string;
  what: string;
  /** tshark's record count, as a guard that the run decoded what MANIFEST says. */
  records: number;
}

const CASES: Case[] = [
  { unit: "akvorado__netflow__nfv5", what: "NetFlow v5 pcap on port 9990", records: 29 },
  { unit: "logstash__netflow5", what: "NetFlow v5, 12 raw datagrams", records: 30 },
  { unit: "graylog__nprobe-netflow9", what: "NetFlow v5 and v9 on one port, 2 exporters", records: 154 },
  {
    unit: "logstash__netflow9_test_fortigate_fortios_542_appid__group",
    what: "NetFlow v9 raw, template file then data file",
    records: 17,
  },
  { unit: "akvorado__netflow__group", what: "NetFlow v9 options template + options data + data", records: 8 },
  { unit: "akvorado__netflow__icmp__group", what: "NetFlow v9 IPv6 and ICMP flows", records: 4 },
  {
    unit: "pmacct__101__traffic-00",
    what: "NetFlow v9 records with IPv4 and IPv6 address fields",
    records: 51,
  },
  { unit: "pmacct__100__traffic-00", what: "IPFIX pcap on port 9991", records: 12 },
  { unit: "pmacct__501__traffic-00", what: "IPFIX over IPv6, MPLS, options", records: 113 },
  {
    unit: "logstash__ipfix_test_yaf__group",
    what: "IPFIX enterprise (CERT PEN 6871) and options, 5 raw files",
    records: 3,
  },
  {
    unit: "logstash__ipfix_test_barracuda__group",
    what: "IPFIX enterprise fields, delta and total counters",
    records: 8,
  },
  { unit: "ipfixcol2__example_flows", what: "IPFIX RFC 5655 file, 68 messages", records: 3979 },
];

let dir = "";

/** The unit as one pcap tshark can read: the capture itself when it is one pcap, else a synthetic one. */
function pcapFor(name: string): { path: string; ports: number[] } {
  const u = unit(name);
  const first = u.files[0]!;
  if (u.files.length === 1 && first.format === "pcap")
    return { path: first.path, ports: filePorts(first).map((p) => p.port) };
  // Raw files (and multi-file units, which tshark must see as one stream so the
  // templates of file 1 apply to file 2): synthetic 192.0.2.1:50000 → 192.0.2.2.
  const payloads = readUnitDatagrams(u).map((d) => d.payload);
  const port = u.protocols.has("IPFIX") ? 4739 : 2055;
  const path = join(dir, `${name}.pcap`);
  writeSyntheticPcap(path, payloads, port);
  return { path, ports: [port] };
}

function asExpected(t: TsharkRecord): ExpectedRecord {
  // tshark's rule, as in expected/*.jsonl: a record without a source address
  // field is reported as "options".
  return { ...t, kind: t.src !== null ? "flow" : "options", sampling: null };
}

describe("cross-check with the real tshark", () => {
  before(() => {
    requireTshark();
    dir = mkdtempSync(join(tmpdir(), "nagare-tshark-"));
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  for (const c of CASES) {
    it(`${c.unit}: ${c.what}`, () => {
      const { path, ports } = pcapFor(c.unit);
      const theirs = tsharkRecords(path, ports).map(asExpected);
      assert.equal(theirs.length, c.records, "tshark's record count");
      const r = decodeDatagrams(readUnitDatagrams(unit(c.unit)));
      assert.deepEqual(r.thrown, []);
      assert.equal(r.produced.length, theirs.length, "record count");
      const { mismatches } = alignAndDiff(theirs, r.produced, true);
      assert.equal(
        mismatches.length,
        0,
        `${mismatches.length} differences\n${describeMismatches(mismatches)}`,
      );
      assert.ok(
        theirs.some((t) => t.kind === "flow"),
        "the case has flow records",
      );
    });
  }

  it("the set covers v5, v9, IPFIX, options, IPv6 and enterprise fields", () => {
    const protos = new Set(CASES.flatMap((c) => [...unit(c.unit).protocols]));
    for (const p of ["NetFlow v5", "NetFlow v9", "IPFIX"]) assert.ok(protos.has(p), p);
  });
});
