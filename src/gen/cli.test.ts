// `nagare gen` as a user runs it: a child process sending to a UDP socket
// that our decoders read; bad options; history into a store.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createSocket } from "node:dgram";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { DuckDBInstance } from "@duckdb/node-api";
import { FlowDecoder } from "../collector/decoder.js";
import { parseIp } from "../collector/ip.js";
import { SflowDecoder } from "../collector/sflow/decoder.js";
import { CollectorStats } from "../collector/stats.js";
import { RecordSink } from "../collector/types.js";

const MAIN = new URL(`../cli/main${import.meta.url.endsWith(".ts") ? ".ts" : ".js"}`, import.meta.url).href;

/** Run the CLI in a child process (compiled or under tsx, like this test). */
function nagare(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const script = `import(${JSON.stringify(MAIN)}).then(async (m) => { process.exitCode = await m.main(process.argv.slice(1)); })`;
  const child = spawn(process.execPath, [...process.execArgv, "-e", script, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (err += d.toString()));
  return new Promise((resolve) => child.on("close", (code) => resolve({ code: code ?? -1, out, err })));
}

async function receive(
  args: string[],
  sflow = false,
): Promise<{ rows: Record<string, string | number>[]; stats: CollectorStats; out: string; code: number }> {
  const sock = createSocket("udp4");
  await new Promise<void>((r) => sock.bind(0, "127.0.0.1", () => r()));
  const port = sock.address().port;
  const stats = new CollectorStats();
  const rows: Record<string, string | number>[] = [];
  const sink = new RecordSink((b) => {
    for (let i = 0; i < b.length; i++) rows.push(b.row(i));
  });
  const flow = new FlowDecoder({ stats });
  const sf = new SflowDecoder({ stats });
  sock.on("message", (msg, rinfo) => {
    const src = { exporter: rinfo.address, exporterIp: parseIp(rinfo.address)!, receivedMs: Date.now() };
    if (sflow) sf.decode(msg, src, sink);
    else flow.decode(msg, src, sink);
  });
  const r = await nagare(["gen", "--to", `127.0.0.1:${port}`, ...args]);
  await new Promise((res) => setTimeout(res, 300));
  sock.close();
  sink.flush();
  return { rows, stats, out: r.out + r.err, code: r.code };
}

function sentFlows(out: string): { flows: number; attack: number; datagrams: number } {
  const m = /sent (\d+) flows \((\d+) attack\) in (\d+) datagrams/.exec(out);
  assert.ok(m, out);
  return { flows: Number(m[1]), attack: Number(m[2]), datagrams: Number(m[3]) };
}

test("nagare gen --proto v9 --attack: the collector's decoder gets every flow, the attack included", async () => {
  const r = await receive([
    "--proto",
    "v9",
    "--rate",
    "1500",
    "--duration",
    "3s",
    "--seed",
    "5",
    "--attack",
    "--attack-every",
    "1s",
    "--attack-duration",
    "500ms",
    "--attack-kind",
    "ntp",
    "--attack-target",
    "100.64.0.99",
  ]);
  assert.equal(r.code, 0, r.out);
  const sent = sentFlows(r.out);
  assert.equal(sent.flows - sent.attack, 4500, `3 s at 1500 flows/s: ${r.out}`);
  assert.equal(r.rows.length, sent.flows, "every sent flow decoded (loopback)");
  const errors = [...r.stats.exporters.values()].reduce((n, s) => n + s.errorTotal, 0);
  assert.equal(errors, 0);
  const ntp = r.rows.filter((x) => x.dst_addr === "100.64.0.99" && x.src_port === 123);
  assert.equal(ntp.length, sent.attack);
  assert.ok(sent.attack >= 1000, `attack flows ${sent.attack}`);
  // Three exporters: source ids 1-3.
  assert.deepEqual([...new Set(r.rows.map((x) => x.observation_domain_id))].sort(), [1, 2, 3]);
});

test("nagare gen --proto sflow: flow samples and counter samples reach the sFlow decoder", async () => {
  const r = await receive(
    ["--proto", "sflow", "--rate", "500", "--duration", "2s", "--exporters", "2"],
    true,
  );
  assert.equal(r.code, 0, r.out);
  const sent = sentFlows(r.out);
  assert.equal(r.rows.length, sent.flows);
  const st = [...r.stats.exporters.values()][0]!;
  assert.equal(st.errorTotal, 0, JSON.stringify(st.toJSON()));
  assert.ok(st.counterRecords > 0, "counter samples received");
  assert.deepEqual([...new Set(r.rows.map((x) => x.exporter_address))].sort(), ["192.0.2.1", "192.0.2.2"]);
});

test("nagare gen: bad options exit 2 naming the option", async () => {
  for (const [args, want] of [
    [["gen", "--proto", "v8"], /--proto: expected one of v9, ipfix, sflow/],
    [["gen", "--rate", "fast"], /--rate: expected a whole number/],
    [["gen", "--to", "nowhere"], /--to: expected HOST:PORT/],
    [["gen", "--duration", "soon"], /--duration: expected a duration/],
    [["gen", "--attack-kind", "smurf"], /--attack-kind: unknown attack "smurf"/],
    [["gen", "--bogus"], /unknown option "--bogus"/],
    [["gen", "history", "--flows", "10"], /--data-dir: required/],
    [["gen", "history", "--data-dir", "/tmp/x"], /--flows: required/],
    [
      ["gen", "history", "--data-dir", "/tmp/x", "--flows", "10", "--days", "-1"],
      /--days: expected a number/,
    ],
  ] as const) {
    const r = await nagare([...args]);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.err}`);
    assert.match(r.err, want, args.join(" "));
  }
});

test("nagare gen history: N flows over the days land in the store with time_received = flow end", async () => {
  const dir = mkdtempSync(join(tmpdir(), "nagare-gen-history-"));
  const end = "2026-11-01T00:00:00Z";
  const r = await nagare([
    "gen",
    "history",
    "--data-dir",
    dir,
    "--days",
    "3",
    "--flows",
    "30000",
    "--seed",
    "3",
    "--end",
    end,
  ]);
  assert.equal(r.code, 0, r.err + r.out);
  assert.match(r.out, /wrote 30000 flows/);
  const db = await DuckDBInstance.create(join(dir, "nagare.duckdb"));
  const conn = await db.connect();
  const res = await conn.runAndReadAll(
    "SELECT count(*)::INT, min(epoch_ms(time_received))::BIGINT, max(epoch_ms(time_received))::BIGINT, " +
      "count(*) FILTER (WHERE time_received <> time_flow_end)::INT, count(DISTINCT src_as)::INT FROM flows_raw",
  );
  const [n, min, max, mismatched, ases] = res.getRowsJS()[0]!.map(Number);
  conn.closeSync();
  db.closeSync();
  const endMs = Date.parse(end);
  assert.equal(n, 30000);
  assert.ok(min! >= endMs - 3 * 86_400_000 && max! < endMs, `${min}…${max}`);
  assert.equal(mismatched, 0);
  assert.ok(ases! > 500, `${ases} source ASes`);
});
