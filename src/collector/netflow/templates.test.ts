// Template lifecycle: withdrawal, caps, pending buffer limits, persistence,
// sequence accounting, malformed set lengths. Synthetic messages are built
// here because no capture withdraws templates or floods them; the persistence
// test uses real captures.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CollectorStats } from "../stats.js";
import { FlowDecoder } from "../decoder.js";
import { RecordSink } from "../types.js";
import { createLogger } from "../../log.js";
import { decodeAll, readRaw, source, EXPORTER } from "./testing.js";

/** Big-endian byte writer. */
function bytes(...parts: [number, number][]): number[] {
  const out: number[] = [];
  for (const [v, n] of parts) for (let k = n - 1; k >= 0; k--) out.push(Math.floor(v / 2 ** (8 * k)) & 0xff);
  return out;
}

function ipfix(seq: number, sets: number[][], domain = 1, exportTime = 1_700_000_000): Uint8Array {
  const body = sets.flat();
  return new Uint8Array([
    ...bytes([10, 2], [16 + body.length, 2], [exportTime, 4], [seq, 4], [domain, 4]),
    ...body,
  ]);
}

function set(id: number, content: number[]): number[] {
  return [...bytes([id, 2], [4 + content.length, 2]), ...content];
}

/** Template: sourceIPv4Address(8,4) destinationIPv4Address(12,4) octetDeltaCount(1,8) packetDeltaCount(2,4). */
function tpl(id: number): number[] {
  return bytes([id, 2], [4, 2], [8, 2], [4, 2], [12, 2], [4, 2], [1, 2], [8, 2], [2, 2], [4, 2]);
}

function rec(src: number, dst: number, octets: number, packets: number): number[] {
  return bytes([src, 4], [dst, 4], [octets, 8], [packets, 4]);
}

const A = 0x0a000001;
const B = 0x0a000002;

test("IPFIX template withdrawal: one template (field count 0) and all templates (id 2)", () => {
  const d = decodeAll([
    ipfix(0, [set(2, [...tpl(256), ...tpl(257)])]),
    ipfix(0, [set(256, rec(A, B, 100, 1)), set(257, rec(B, A, 200, 2))]),
    ipfix(2, [set(2, bytes([256, 2], [0, 2]))]), // withdraw 256
    ipfix(2, [set(256, rec(A, B, 1, 1)), set(257, rec(B, A, 300, 3))]),
    ipfix(3, [set(2, bytes([2, 2], [0, 2]))]), // withdraw all data templates
    ipfix(3, [set(257, rec(B, A, 1, 1))]),
  ]);
  const st = d.stats.exporter(EXPORTER);
  assert.deepEqual(
    d.rows.map((r) => [r.src_addr, r.bytes, r.packets]),
    [
      ["10.0.0.1", 100, 1],
      ["10.0.0.2", 200, 2],
      ["10.0.0.2", 300, 3],
    ],
  );
  assert.equal(st.errors.template_missing, 2);
  assert.equal(st.templates, 0);
  assert.equal(st.sequenceLost, 0, "IPFIX sequence counts data records");
});

test("template cap per scope: a template flood does not grow the cache", () => {
  const stats = new CollectorStats();
  const ids = Array.from({ length: 20 }, (_, k) => 300 + k);
  const d = decodeAll(
    [
      ipfix(0, [
        set(
          2,
          ids.flatMap((id) => tpl(id)),
        ),
      ]),
    ],
    { stats, templates: { maxTemplatesPerScope: 4 } },
  );
  const st = d.stats.exporter(EXPORTER);
  assert.equal(st.templates, 4);
  assert.equal(st.errors.template_limit, 16);
  // A redefinition of a live template is still accepted at the cap.
  const dec = d.decoder;
  const sink = new RecordSink(
    () => {},
    () => {},
  );
  dec.decode(ipfix(0, [set(2, tpl(300))]), source(), sink);
  assert.equal(st.errors.template_limit, 16);
});

test("pending buffer: bounded by sets (oldest dropped), expired by age, decoded on template", () => {
  const stats = new CollectorStats();
  const dec = new FlowDecoder({ stats, templates: { maxPendingSetsPerExporter: 2, pendingMaxAgeMs: 1000 } });
  const rows: number[] = [];
  const sink = new RecordSink((b) => {
    for (let i = 0; i < b.length; i++) rows.push(b.cols.bytes[i]!);
  });
  const t0 = 1_700_000_000_000;
  for (const [k, octets] of [10, 20, 30].entries())
    dec.decode(ipfix(k, [set(256, rec(A, B, octets, 1))]), source(EXPORTER, t0 + k), sink);
  const st = stats.exporter(EXPORTER);
  assert.equal(st.errors.template_missing, 3);
  assert.equal(st.errors.pending_overflow, 1);
  assert.equal(st.pendingSets, 2);
  dec.decode(ipfix(3, [set(2, tpl(256))]), source(EXPORTER, t0 + 5), sink);
  sink.flush();
  assert.deepEqual(rows, [20, 30]);
  assert.equal(st.pendingDecoded, 2);
  assert.equal(st.pendingSets, 0);
  // Expiry: data for a template that never comes.
  dec.decode(ipfix(3, [set(999, rec(A, B, 1, 1))]), source(EXPORTER, t0 + 10), sink);
  assert.equal(st.pendingSets, 1);
  dec.tick(t0 + 10 + 1001);
  assert.equal(st.errors.pending_expired, 1);
  assert.equal(st.pendingSets, 0);
});

test("template persistence: save, reload in a new decoder, decode data at once; corrupt file ignored", async () => {
  const dir = mkdtempSync(join(tmpdir(), "nagare-tpl-"));
  const path = join(dir, "templates.json");
  const first = decodeAll(readRaw("logstash__netflow9_test_cisco_asa_1_tpl.dat"), {
    templates: { persistPath: path },
  });
  assert.equal(first.stats.exporter(EXPORTER).templates, 13);
  await first.decoder.saveTemplates();
  const saved = JSON.parse(readFileSync(path, "utf8")) as { scopes: unknown[] };
  assert.equal(saved.scopes.length, 1);

  const stats = new CollectorStats();
  const second = new FlowDecoder({ stats, templates: { persistPath: path } });
  await second.loadTemplates();
  assert.equal(stats.exporter(EXPORTER).templates, 13);
  const d = decodeAll(readRaw("logstash__netflow9_test_cisco_asa_1_data.dat"), { stats }, second);
  assert.equal(d.rows.length, 14);
  assert.equal(stats.exporter(EXPORTER).errors.template_missing, 0);

  for (const bad of [
    "{not json",
    JSON.stringify({
      format: "nagare-templates",
      version: 1,
      scopes: [
        {
          exporter: EXPORTER,
          exportVersion: 9,
          domain: 0,
          templates: [{ id: 5, options: false, scopeCount: 0, fields: [] }],
          samplers: [],
          defaultRate: 0,
          sysInitMs: 0,
        },
      ],
    }),
  ]) {
    writeFileSync(path, bad);
    const lines: string[] = [];
    const s3 = new CollectorStats();
    const third = new FlowDecoder({
      stats: s3,
      templates: { persistPath: path },
      log: createLogger({ write: (l) => lines.push(l) }),
    });
    await third.loadTemplates();
    assert.ok(
      lines.some((l) => l.includes("ignoring saved template file")),
      lines.join("\n"),
    );
    assert.equal(third.cache.templateCount(EXPORTER), 0);
  }
});

test("sequence numbers: v9 counts packets per source id, gaps are loss, big jumps are resets", () => {
  const v9 = (seq: number, sourceId = 7): Uint8Array =>
    new Uint8Array([...bytes([9, 2], [0, 2], [1000, 4], [1_700_000_000, 4], [seq, 4], [sourceId, 4])]);
  const d = decodeAll([v9(1), v9(2), v9(5), v9(6), v9(3_000_000), v9(100, 8), v9(101, 8)]);
  const st = d.stats.exporter(EXPORTER);
  assert.equal(st.sequenceLost, 2);
  assert.equal(st.sequenceResets, 1);
  assert.equal(st.errorTotal, 0);
});

test("a set length below 4 stops the walk (bad_length), never loops", () => {
  const d = decodeAll([ipfix(0, [set(2, tpl(256)), bytes([256, 2], [2, 2], [0, 4])])]);
  const st = d.stats.exporter(EXPORTER);
  assert.equal(st.errors.bad_length, 1);
  assert.equal(st.templates, 1);
  // v9 flowset length 0 in non-zero bytes
  const v9 = new Uint8Array([
    ...bytes([9, 2], [1, 2], [0, 4], [0, 4], [0, 4], [0, 4], [300, 2], [0, 2], [1, 4]),
  ]);
  assert.equal(decodeAll([v9]).stats.exporter(EXPORTER).errors.bad_length, 1);
});

test("variable-length fields (1-byte and 255 + 2-byte lengths) and unknown enterprise IEs are skipped safely", () => {
  // Template: sourceIPv4Address, interfaceName varlen, enterprise 9999/7 varlen, octetDeltaCount(4)
  const t = bytes(
    [400, 2],
    [4, 2],
    [8, 2],
    [4, 2],
    [82, 2],
    [65535, 2],
    [0x8007, 2],
    [65535, 2],
    [9999, 4],
    [1, 2],
    [4, 2],
  );
  const long = new Array(300).fill(0x41);
  const r1 = [...bytes([A, 4]), 3, 0x65, 0x74, 0x68, 255, ...bytes([300, 2]), ...long, ...bytes([1234, 4])];
  const r2 = [...bytes([B, 4]), 0, 0, ...bytes([99, 4])];
  const d = decodeAll([ipfix(0, [set(2, t), set(400, [...r1, ...r2])])]);
  assert.deepEqual(
    d.rows.map((r) => [r.src_addr, r.bytes]),
    [
      ["10.0.0.1", 1234],
      ["10.0.0.2", 99],
    ],
  );
  assert.equal(d.stats.exporter(EXPORTER).errorTotal, 0);
  // A varlen length that overruns the set: row abandoned, counted.
  const bad = [...bytes([A, 4]), 200, ...new Array<number>(10).fill(1)];
  const e = decodeAll([ipfix(0, [set(2, t), set(400, bad)])]);
  assert.equal(e.rows.length, 0);
  assert.equal(e.stats.exporter(EXPORTER).errors.truncated, 1);
});
