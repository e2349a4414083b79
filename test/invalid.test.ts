// Acceptance: invalid and crash-regression captures are handled cleanly:
// decode() never throws, the exact DecodeReason is counted, and nothing
// bogus is emitted (records that come out agree with tshark / nfcapd).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DECODE_REASONS, type DecodeReason } from "../src/collector/errors.js";
import {
  loadExpected,
  readFileDatagrams,
  readUnitDatagrams,
  unit,
  type Datagram,
} from "./helpers/captures.js";
import { alignAndDiff, describe as describeMismatches } from "./helpers/compare.js";
import { decodeDatagrams, sumErrors, sumExporters, type DecodeRun } from "./helpers/decode.js";

function decodeUnit(name: string, datagrams: Datagram[] = readUnitDatagrams(unit(name))): DecodeRun {
  const r = decodeDatagrams(datagrams);
  assert.deepEqual(r.thrown, [], `${name}: decode() threw`);
  return r;
}

/** Exactly these reasons, with these counts, and no other. */
function assertErrors(r: DecodeRun, want: Partial<Record<DecodeReason, number>>): void {
  for (const k of Object.keys(want))
    assert.ok((DECODE_REASONS as readonly string[]).includes(k), `${k} is a DecodeReason`);
  assert.deepEqual(r.errors, want);
}

const DAY = 86_400_000;

describe("invalid on purpose", () => {
  for (const [name, count] of [
    ["logstash__netflow5_test_invalid01", 55582],
    ["logstash__netflow5_test_invalid02", 163],
  ] as const) {
    it(`${name}: v5 header count ${count} with 30 records present → bad_count, the 30 records as tshark decodes them`, () => {
      const d = readUnitDatagrams(unit(name));
      assert.equal(d.length, 1);
      assert.equal((d[0]!.payload[2]! << 8) | d[0]!.payload[3]!, count, "the header count lies");
      assert.equal(d[0]!.payload.length, 24 + 30 * 48);
      const r = decodeUnit(name, d);
      assertErrors(r, { bad_count: 1 });
      // nfcapd drops the datagram; we keep the records that are really there
      // (the length proves 30) and they must be exactly tshark's.
      assert.equal(r.flows.length, 30);
      const { mismatches } = alignAndDiff(loadExpected(name), r.produced, true);
      assert.equal(mismatches.length, 0, describeMismatches(mismatches));
    });
  }

  it("logstash__netflow9_test_invalid01: v9 header count 2 with 6 flowsets → softflowd's count, no error, 2 flows + 1 options decoded", () => {
    // RFC 3954 §5.1: count is the total of template, options template and data
    // records in the packet. Here it is 2 while the datagram holds 2 template
    // flowsets, an options template flowset and 3 data flowsets (tshark 4.0
    // stops after `count` records; nfcapd decodes the 2 flows). The layout
    // (templates 1024/2048, options template 256) is softflowd's, and softflowd
    // puts the number of FLOW records in the count (test/peers/softflowd.test.ts
    // sees it on every packet that carries templates): 2 here. The decoder
    // accepts that reading, so this "invalid" file is a valid softflowd export.
    const r = decodeUnit("logstash__netflow9_test_invalid01");
    assert.equal(r.flows.length, 2);
    assert.equal(r.options.length, 1);
    assertErrors(r, {});
  });

  it("telegraf__issue_14370: a set running past the IPFIX message length → bad_length; 2 stray bytes → truncated", () => {
    // Message length 290, last set (id 257, 84 bytes at offset 208) ends at 292.
    // The 2 bytes after the message are fed as a datagram of their own (MANIFEST
    // raw_messages 2): too short for any header.
    const d = readUnitDatagrams(unit("telegraf__issue_14370__message"));
    assert.deepEqual(
      d.map((x) => x.payload.length),
      [290, 2],
    );
    const r = decodeUnit("telegraf__issue_14370__message", d);
    assertErrors(r, { bad_length: 1, truncated: 1 });
    // The one record inside the message length is tshark's record.
    const { mismatches } = alignAndDiff(loadExpected("telegraf__issue_14370__message"), r.produced, true);
    assert.equal(mismatches.length, 0, describeMismatches(mismatches));
  });
});

describe("templates that never arrive", () => {
  it("graylog__netflow-v9-3_incomplete: data without template → template_missing, held, then pending_expired on tick", () => {
    const d = readUnitDatagrams(unit("graylog__netflow-v9-3_incomplete"));
    const r = decodeUnit("graylog__netflow-v9-3_incomplete", d);
    assertErrors(r, { template_missing: 1 });
    assert.equal(r.flows.length + r.options.length, 0);
    assert.equal(
      sumExporters(r.stats, (s) => s.pendingSets),
      1,
      "the data set waits for its template",
    );
    r.decoder.tick(d[d.length - 1]!.timeMs + DAY);
    assert.deepEqual(sumErrors(r.stats), { template_missing: 1, pending_expired: 1 });
    assert.equal(
      sumExporters(r.stats, (s) => s.pendingSets),
      0,
    );
    assert.equal(
      sumExporters(r.stats, (s) => s.flowRecords),
      0,
      "nothing emitted on expiry",
    );
  });

  it("ndpi__netflowv9: 10 packets, 23 data sets, no template ever → 23 template_missing, then 23 pending_expired", () => {
    const d = readUnitDatagrams(unit("ndpi__netflowv9"));
    assert.equal(d.length, 10);
    const r = decodeUnit("ndpi__netflowv9", d);
    assertErrors(r, { template_missing: 23 });
    assert.equal(r.produced.length, 0);
    assert.equal(
      sumExporters(r.stats, (s) => s.pendingSets),
      23,
    );
    // A tick before the age limit expires nothing.
    r.decoder.tick(d[d.length - 1]!.timeMs);
    assert.equal(sumErrors(r.stats).pending_expired ?? 0, 0);
    r.decoder.tick(d[d.length - 1]!.timeMs + DAY);
    assert.deepEqual(sumErrors(r.stats), { template_missing: 23, pending_expired: 23 });
    assert.equal(
      sumExporters(r.stats, (s) => s.pendingSets),
      0,
    );
    assert.equal(
      sumExporters(r.stats, (s) => s.flowRecords + s.optionsRecords),
      0,
    );
  });

  it("logstash__ipfix_test_netscaler__group: the data set whose template is not in the capture → template_missing, the rest decoded", () => {
    const r = decodeUnit("logstash__ipfix_test_netscaler__group");
    assertErrors(r, { template_missing: 1 });
    assert.equal(r.flows.length, 3);
  });

  it("ipt_NETFLOW reduced-size encoding: the 6 sets of templates 259/262 (absent from the file) → template_missing, 12 flows", () => {
    const r = decodeUnit("logstash__netflow9_test_iptnetflow_reduced_size_encoding_tpldata260");
    assertErrors(r, { template_missing: 6 });
    assert.equal(r.flows.length, 12);
  });
});

describe("crash regressions", () => {
  it("tcpdump__sflow_print-segv fed to the NetFlow decoder (as if sent to 2055) → bad_version, nothing emitted", () => {
    const d = readUnitDatagrams(unit("tcpdump__sflow_print-segv")).map((x) => ({ ...x, dstPort: 2055 }));
    assert.equal(d.length, 1);
    const r = decodeUnit("tcpdump__sflow_print-segv", d);
    assertErrors(r, { bad_version: 1 });
    assert.equal(r.produced.length, 0);
  });

  it("every capture file alone, every prefix of each first datagram, and every datagram with a flipped byte: no throw", () => {
    // Files fed standalone (templates missing) and damaged datagrams must only
    // ever be counted. Bounded so the test stays fast: the first 3 datagrams
    // of each file, 64 truncation points and 64 byte flips each.
    for (const u of [
      "logstash__netflow5",
      "graylog__netflow9",
      "logstash__ipfix",
      "akvorado__netflow__datalink__group",
      "logstash__ipfix_test_yaf__group",
      "logstash__ipfix_test_netscaler__group",
      "logstash__netflow9_test_h3c_netstream_varstring__group",
      "pmacct__500__traffic-00",
    ]) {
      for (const f of unit(u).files) {
        const d = readFileDatagrams(f).slice(0, 3);
        decodeUnit(`${f.file} alone`, d);
        for (const x of d) {
          const n = x.payload.length;
          const cuts = Array.from({ length: Math.min(64, n) }, (_, k) =>
            Math.floor((k * n) / Math.min(64, n)),
          );
          const damaged: Datagram[] = [];
          for (const c of cuts) {
            damaged.push({ ...x, payload: x.payload.slice(0, c) });
            const flipped = x.payload.slice();
            flipped[c] = flipped[c]! ^ 0xff;
            damaged.push({ ...x, payload: flipped });
          }
          // Templates first (the whole file), then the damaged copies through the same cache.
          decodeUnit(`${f.file} damaged`, [...readFileDatagrams(f), ...damaged]);
        }
      }
    }
  });
});
