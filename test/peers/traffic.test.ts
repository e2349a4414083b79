// The traffic generator that feeds the exporters: deterministic, and
// well-formed as tshark sees it (every checksum good, the byte and packet
// counts it claims as ground truth are the ones on the wire).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { writeTrafficPcap } from "./traffic.js";

const TSHARK = "/usr/bin/tshark";

describe("traffic generator", () => {
  const tmp = mkdtempSync(join(tmpdir(), "nagare-traffic-"));
  after(() => rmSync(tmp, { recursive: true, force: true }));

  test("the same seed gives the same bytes; another seed other traffic", () => {
    const a = join(tmp, "a.pcap");
    const b = join(tmp, "b.pcap");
    const c = join(tmp, "c.pcap");
    const sa = writeTrafficPcap(a, { conversations: 300 });
    writeTrafficPcap(b, { conversations: 300 });
    writeTrafficPcap(c, { conversations: 300, seed: 7 });
    assert.ok(readFileSync(a).equals(readFileSync(b)), "two runs with one seed differ");
    assert.ok(!readFileSync(a).equals(readFileSync(c)), "two seeds gave the same capture");
    assert.ok(sa.packets > 1000 && sa.flows.size > 300, `too little traffic: ${sa.packets} packets`);
  });

  test("tshark reads every frame with good checksums and the claimed counts", () => {
    assert.ok(existsSync(TSHARK), `tshark is required (${TSHARK}): install the Debian package "tshark"`);
    const pcap = join(tmp, "t.pcap");
    const s = writeTrafficPcap(pcap);
    const r = spawnSync(
      TSHARK,
      [
        "-n",
        "-r",
        pcap,
        "-o",
        "ip.check_checksum:TRUE",
        "-o",
        "tcp.check_checksum:TRUE",
        "-o",
        "udp.check_checksum:TRUE",
        "-T",
        "fields",
        "-E",
        "separator=|",
        "-e",
        "ip.len",
        "-e",
        "ipv6.plen",
        "-e",
        "ip.checksum.status",
        "-e",
        "tcp.checksum.status",
        "-e",
        "udp.checksum.status",
        "-e",
        "icmp.checksum.status",
        "-e",
        "icmpv6.checksum.status",
        "-e",
        "tcp.flags",
        "-e",
        "frame.time_epoch",
      ],
      { encoding: "utf8", maxBuffer: 1 << 28 },
    );
    assert.equal(r.status, 0, `tshark failed: ${r.stderr}`);
    const rows = r.stdout.trim().split("\n");
    assert.equal(rows.length, s.packets, "frames tshark read vs packets generated");
    let bytes = 0;
    let syn = 0;
    let fin = 0;
    let rst = 0;
    let firstMs = Infinity;
    let lastMs = 0;
    for (const [i, row] of rows.entries()) {
      const [ipLen, plen, ...rest] = row.split("|");
      const flags = Number(rest[5] || 0);
      const t = Number(rest[6]) * 1000;
      for (const st of rest.slice(0, 5)) {
        // Wireshark's checksum status: 0 bad, 1 good, 2 unverified.
        assert.ok(st === "" || st === "1", `frame ${i + 1}: a checksum is not good (${row})`);
      }
      bytes += ipLen ? Number(ipLen) : 40 + Number(plen);
      if (flags & 0x02) syn++;
      if (flags & 0x01) fin++;
      if (flags & 0x04) rst++;
      firstMs = Math.min(firstMs, t);
      lastMs = Math.max(lastMs, t);
    }
    let truthBytes = 0;
    for (const f of s.flows.values()) truthBytes += f.bytes;
    assert.equal(bytes, truthBytes, "IP bytes on the wire vs the generator's ground truth");
    // Realistic TCP: handshakes, teardowns and resets all present.
    assert.ok(syn > 100 && fin > 100 && rst > 10, `TCP flags: ${syn} SYN, ${fin} FIN, ${rst} RST`);
    const span = (lastMs - firstMs) / 1000;
    assert.ok(span > 2 && span < 15, `the capture spans ${span} s`);
  });
});
