import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { capturesDir, loadManifest, manifestUnits, readCapture } from "../collector/capture.js";
import { runDecode, type DatagramDecoder } from "./decode.js";

const units = manifestUnits(loadManifest());

/** expected/SUMMARY.tsv: tshark's per-unit flow and options record counts. */
function summary(unit: string): { flows: number; options: number; bytes: number } {
  const lines = readFileSync(join(capturesDir(), "expected", "SUMMARY.tsv"), "utf8").split("\n");
  const head = lines[0]!.split("\t");
  const line = lines.find((l) => l.split("\t")[0] === unit);
  assert.ok(line, `unit ${unit} in SUMMARY.tsv`);
  const f = line.split("\t");
  const col = (c: string): number => Number(f[head.indexOf(c)]);
  return { flows: col("flow_records"), options: col("options_records"), bytes: col("bytes_sum") };
}

interface Run {
  code: number;
  lines: Record<string, unknown>[];
  flows: Record<string, unknown>[];
  options: Record<string, unknown>[];
  summary: Record<string, unknown> & { records: number; options: number; errors: Record<string, number> };
  stderr: string[];
}

async function run(args: string[], opts = {}): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runDecode(
    args,
    (l) => out.push(l),
    (l) => err.push(l),
    opts,
  );
  const lines = out.map((l) => JSON.parse(l) as Record<string, unknown>);
  const sum = err
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .find((o) => o.kind === "summary");
  return {
    code,
    lines,
    flows: lines.filter((l) => l.kind === "flow"),
    options: lines.filter((l) => l.kind === "options"),
    summary: sum as Run["summary"],
    stderr: err,
  };
}

const unitFiles = (unit: string): string[] => {
  const rows = units.get(unit);
  assert.ok(rows, unit);
  return rows.map((r) => r.path);
};

describe("nagare decode", () => {
  it("a 4-file NetFlow v9 unit (options template, options data, template, data) through one decoder", async () => {
    const unit = "akvorado__netflow__group";
    const want = summary(unit);
    const r = await run(unitFiles(unit));
    assert.equal(r.code, 0);
    assert.equal(r.flows.length, want.flows);
    assert.equal(r.options.length, want.options);
    assert.equal(
      r.flows.reduce((n, f) => n + (f.bytes as number), 0),
      want.bytes,
    );
    assert.equal(r.summary.records, want.flows);
    assert.equal(r.summary.options, want.options);
    assert.equal(r.summary.datagrams, 4);
    assert.deepEqual(r.summary.errors, {});
    // Received time = capture time of the data packet; exporter = its source address.
    const data = readCapture(unitFiles(unit)[3]!)[0]!;
    for (const f of r.flows) {
      assert.equal(f.time_received, data.timeMs);
      assert.equal(f.exporter_address, data.srcAddr);
      assert.equal(typeof f.sampling_rate, "number");
    }
    // Fed alone, the data file has no template: nothing decoded, counted.
    const alone = await run([unitFiles(unit)[3]!]);
    assert.equal(alone.flows.length, 0);
    assert.ok((alone.summary.errors.template_missing ?? 0) > 0);
  });

  it("pmacct 400: IPFIX over IPv6 split over two pcaps, options interleaved in order", async () => {
    const unit = "pmacct__400";
    const want = summary(unit);
    const r = await run(unitFiles(unit));
    assert.equal(r.code, 0);
    assert.equal(r.flows.length, want.flows);
    assert.equal(r.options.length, want.options);
    assert.equal(r.flows.length + r.options.length, units.get(unit)![0]!.dataRecordsInUnit);
    assert.equal(r.summary.datagrams, 583 + 277);
    // Output is in time order across both files (files fed in unit order).
    const times = r.flows.map((f) => f.time_received as number);
    for (let k = 1; k < times.length; k++) assert.ok(times[k]! >= times[k - 1]!);
  });

  it("raw files: 9 IPFIX messages (options only) and a 3-file MikroTik unit", async () => {
    let r = await run(unitFiles("telegraf__ipfix_options"));
    assert.equal(r.options.length, summary("telegraf__ipfix_options").options);
    assert.equal(r.flows.length, 0);
    r = await run(unitFiles("logstash__ipfix_test_mikrotik__group"));
    const want = summary("logstash__ipfix_test_mikrotik__group");
    assert.equal(r.flows.length, want.flows);
    assert.equal(
      r.flows.reduce((n, f) => n + (f.bytes as number), 0),
      want.bytes,
    );
    assert.ok(r.flows.every((f) => f.exporter_address === "192.0.2.1"));
  });

  it("--sflow-port routes datagrams; without an sFlow decoder they are counted as skipped", async () => {
    const file = join(capturesDir(), "tcpdump__sflow_multiple_counter_30_pdus.pcap");
    let r = await run([file]);
    assert.equal(r.summary.sflowSkipped, 30);
    assert.equal(r.flows.length, 0);
    // An sFlow decoder receives every datagram sent to the sFlow port.
    let calls = 0;
    const sflow = (): DatagramDecoder => ({
      decode: () => {
        calls++;
        return 0;
      },
    });
    r = await run([file], { sflow });
    assert.equal(calls, 30);
    assert.equal(r.summary.sflowSkipped, undefined);
    // Another sFlow port: everything goes to the NetFlow/IPFIX decoder, which
    // decodes the 5 NetFlow v5 datagrams hidden in this capture.
    calls = 0;
    r = await run(["--sflow-port", "9", file], { sflow });
    assert.equal(calls, 0);
    const v5 = readCapture(file).filter((d) => d.payload[0] === 0 && d.payload[1] === 5);
    assert.equal(v5.length, 5);
    const v5Records = v5.reduce((n, d) => n + ((d.payload[2]! << 8) | d.payload[3]!), 0);
    assert.equal(r.flows.length, v5Records);
    assert.ok((r.summary.errors.bad_version ?? 0) >= 25, "sFlow datagrams are not NetFlow");
  });

  it("usage errors exit 2, unreadable files exit 1, streams work as output", async () => {
    assert.equal((await run([])).code, 2);
    assert.equal((await run(["--sflow-port"])).code, 2);
    assert.equal((await run(["--sflow-port", "70000", "x"])).code, 2);
    assert.equal((await run(["--bogus", "x"])).code, 2);
    const missing = await run([join(capturesDir(), "does-not-exist.pcap")]);
    assert.equal(missing.code, 1);
    assert.equal(missing.lines.length, 0);
    let text = "";
    let errText = "";
    const code = await runDecode(
      [join(capturesDir(), "akvorado__netflow__nfv5.pcap")],
      { write: (s: string) => (text += s) },
      { write: (s: string) => (errText += s) },
    );
    assert.equal(code, 0);
    const lines = text.trim().split("\n");
    assert.equal(lines.length, summary("akvorado__netflow__nfv5").flows);
    assert.ok(errText.includes('"kind":"summary"'));
  });
});
