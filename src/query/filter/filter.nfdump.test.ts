// Same answers as nfdump: one capture is replayed over loopback to nfcapd
// and decoded by Nagare's FlowDecoder; each filter's row count from the
// generated SQL (in DuckDB) must equal nfdump's count for the same filter on
// nfcapd's file. nfcapd/nfdump missing is a failure, never a skip.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createSocket } from "node:dgram";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { DuckDBInstance, type DuckDBConnection } from "@duckdb/node-api";
import { parseIp } from "../../collector/ip.js";
import { readUnitDatagrams, unit } from "../../../test/helpers/captures.js";
import { decodeDatagrams } from "../../../test/helpers/decode.js";
import { compileFilter, duckdbParams, ipToBigInt } from "./index.js";

const NFCAPD = "/usr/bin/nfcapd";
const NFDUMP = "/usr/bin/nfdump";
// ipfixcol2's example: 3979 IPv4/IPv6 TCP/UDP/ICMP flows that nfcapd and
// FlowDecoder decode identically. (pmacct__400 is not used: nfcapd files some
// of its IPv4 flows as IPv6 "::192.0.2.13" and address-less records as "::",
// a decoding difference that would hide filter differences.)
const UNITS = ["ipfixcol2__example_flows"];
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let dir = "";
let conn: DuckDBConnection;

async function replayToNfcapd(unitName: string, out: string): Promise<void> {
  mkdirSync(out, { recursive: true });
  const sock = createSocket("udp4");
  await new Promise<void>((r) => sock.bind(0, "127.0.0.1", r));
  const probe = createSocket("udp4");
  await new Promise<void>((r) => probe.bind(0, "127.0.0.1", r));
  const port = probe.address().port;
  probe.close();
  const child = spawn(
    NFCAPD,
    ["-B", "4000000", "-b", "127.0.0.1", "-p", String(port), "-t", "3600", "-w", out],
    {
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let log = "";
  child.stdout.on("data", (d: Buffer) => (log += d.toString()));
  child.stderr.on("data", (d: Buffer) => (log += d.toString()));
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  await sleep(500);
  assert.equal(child.exitCode, null, `nfcapd did not start: ${log}`);
  for (const d of readUnitDatagrams(unit(unitName))) {
    await new Promise<void>((r, j) => sock.send(d.payload, port, "127.0.0.1", (e) => (e ? j(e) : r())));
    await sleep(1);
  }
  sock.close();
  await sleep(300);
  child.kill("SIGTERM");
  await exited;
}

before(async () => {
  for (const tool of [NFCAPD, NFDUMP]) {
    assert.ok(existsSync(tool), `${tool} is required: install the Debian package "nfdump"`);
  }
  dir = mkdtempSync(join(tmpdir(), "nagare-filter-"));
  const db = await DuckDBInstance.create(":memory:");
  conn = await db.connect();
  await conn.run(
    `CREATE TABLE flows (unit VARCHAR, src_addr UHUGEINT, dst_addr UHUGEINT, src_port USMALLINT, dst_port USMALLINT,
      protocol UTINYINT, tcp_flags USMALLINT, tos UTINYINT, in_if UINTEGER, out_if UINTEGER, ip_version UTINYINT,
      bytes UBIGINT, packets UBIGINT, icmp_type UTINYINT, icmp_code UTINYINT,
      time_flow_start DOUBLE, time_flow_end DOUBLE)`,
  );
  const app = await conn.createAppender("flows");
  for (const u of UNITS) {
    await replayToNfcapd(u, join(dir, u));
    for (const r of decodeDatagrams(readUnitDatagrams(unit(u))).flows) {
      app.appendVarchar(u);
      for (const c of ["src_addr", "dst_addr"])
        app.appendUHugeInt(ipToBigInt(parseIp(String(r[c])) ?? new Uint8Array(16)));
      for (const c of ["src_port", "dst_port"]) app.appendUSmallInt(Number(r[c]));
      app.appendUTinyInt(Number(r.protocol));
      app.appendUSmallInt(Number(r.tcp_flags));
      app.appendUTinyInt(Number(r.tos));
      app.appendUInteger(Number(r.in_if));
      app.appendUInteger(Number(r.out_if));
      app.appendUTinyInt(Number(r.ip_version));
      app.appendUBigInt(BigInt(r.bytes!));
      app.appendUBigInt(BigInt(r.packets!));
      app.appendUTinyInt(Number(r.icmp_type));
      app.appendUTinyInt(Number(r.icmp_code));
      app.appendDouble(Number(r.time_flow_start));
      app.appendDouble(Number(r.time_flow_end));
      app.endRow();
    }
  }
  app.closeSync();
});

after(() => {
  conn?.closeSync();
  if (dir && !process.env.KEEP) rmSync(dir, { recursive: true, force: true });
});

function nfdumpCount(u: string, filter: string): number {
  const files = readdirSync(join(dir, u)).filter((f) => f.startsWith("nfcapd."));
  assert.ok(files.length > 0, `nfcapd wrote no file for ${u}`);
  const r = spawnSync(NFDUMP, ["-R", join(dir, u), "-q", "-o", "fmt:%pr", filter], { encoding: "utf8" });
  assert.equal(r.status, 0, `nfdump ${filter}: ${r.stderr}${r.stdout}`);
  // One line per flow; nfdump prints "No matching flows" instead of nothing.
  return r.stdout.split("\n").filter((l) => l.trim() !== "" && !l.startsWith("No matching flows")).length;
}

async function ourCount(u: string, filter: string): Promise<number> {
  const { sql, params } = compileFilter(filter);
  const b = duckdbParams([u, ...params]);
  const r = await conn.runAndReadAll(
    `SELECT count(*) FROM flows WHERE unit = ? AND ${sql}`,
    b.values,
    b.types,
  );
  return Number(r.getRows()[0]![0]);
}

const FILTERS = [
  "any",
  "ipv4",
  "ipv6",
  "proto tcp",
  "proto udp",
  "proto icmp",
  "not proto tcp and not proto udp",
  "not (proto tcp or port 53) and ipv4",
  "port 53",
  "dst port 443",
  "src port > 1024",
  "port in [ 80 443 53 ]",
  "src and dst port > 1024",
  "net 228.55.0.0/16",
  "net 228.55/16",
  "dst net 228.55.0.0 255.255.0.0",
  "src and dst net 0.0.0.0/1",
  "net df01::/16",
  "src ip in [ 228.55.228.116 215.25.53.107 ]",
  "host 215.25.53.109",
  "flags S",
  "flags SA",
  "flags S and not flags A",
  "flags F",
  "tos > 0",
  "bytes > 1000",
  "bytes > 1k",
  "packets < 2",
  "bytes > 100 and packets > 1 or proto udp",
  "in if 2",
  "if 3",
  "icmp-type 3",
  "duration > 1000",
  "bps > 10k",
  "pps > 5",
  "bpp > 500",
];

test("each filter selects as many flows as nfdump does on the same export", async () => {
  let compared = 0;
  let selective = 0;
  for (const u of UNITS) {
    const total = nfdumpCount(u, "any");
    assert.ok(total > 100, `${u}: nfdump read ${total} flows`);
    for (const f of FILTERS) {
      const want = nfdumpCount(u, f);
      assert.equal(await ourCount(u, f), want, `${u}: ${f}`);
      if (want > 0 && want < total) selective++;
      compared++;
    }
  }
  assert.equal(compared, UNITS.length * FILTERS.length);
  // The comparison means something: most filters select a strict, non-empty subset.
  assert.ok(selective >= FILTERS.length - 4, `${selective} selective filters`);
});
