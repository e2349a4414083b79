// Runs generated filter SQL in real DuckDB over real decoded flows and checks
// each filter selects exactly the rows an independent JS predicate selects.
// Filter values are taken from the data (so every case selects something)
// rather than hard-coded.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { DuckDBInstance, type DuckDBConnection } from "@duckdb/node-api";
import { FLOW_COLUMNS } from "../../schema.js";
import { formatIp, parseIp } from "../../collector/ip.js";
import { readUnitDatagrams, unit } from "../../../test/helpers/captures.js";
import { decodeDatagrams, type Row } from "../../../test/helpers/decode.js";
import { blob16Ip, compileFilter, duckdbParams, type IpColumnSql } from "./index.js";

const UNITS = [
  "ipfixcol2__example_flows",
  "pmacct__400",
  "pmacct__101__traffic-00",
  "akvorado__netflow__mpls",
  "telegraf__netflow_v5_example__netflow_v5",
  "logstash__ipfix_test_mikrotik__group",
];

const SQL_TYPE: Record<string, string> = {
  time: "DOUBLE",
  u8: "UTINYINT",
  u16: "USMALLINT",
  u32: "UINTEGER",
  u64: "UBIGINT",
  ip: "UHUGEINT", // the store's layout
  mac: "DOUBLE",
  string: "VARCHAR",
};

let conn: DuckDBConnection;
let rows: Row[] = [];

before(async () => {
  rows = UNITS.flatMap((u) => decodeDatagrams(readUnitDatagrams(unit(u))).flows);
  assert.ok(rows.length > 4000, `decoded ${rows.length} flows`);
  const db = await DuckDBInstance.create(":memory:");
  conn = await db.connect();
  const cols = FLOW_COLUMNS.filter((c) => c.kind !== "string");
  await conn.run(
    `CREATE TABLE flows (id INTEGER, ${cols.map((c) => `${c.name} ${SQL_TYPE[c.kind]}`).join(", ")})`,
  );
  // The same ip columns as 16-byte BLOBs (a version-1 store), for blob16Ip.
  const ipCols = cols.filter((c) => c.kind === "ip").map((c) => c.name);
  await conn.run(
    `CREATE VIEW flows_blob AS SELECT * REPLACE (${ipCols.map((c) => `unhex(lpad(hex(${c}), 32, '0')) AS ${c}`).join(", ")}) FROM flows`,
  );
  const app = await conn.createAppender("flows");
  rows.forEach((r, id) => {
    app.appendInteger(id);
    for (const c of cols) {
      const v = r[c.name]!;
      switch (c.kind) {
        case "ip":
          // Row formatting renders the all-zero address as "".
          app.appendUHugeInt(ipBig(String(v)));
          break;
        case "u8":
          app.appendUTinyInt(Number(v));
          break;
        case "u16":
          app.appendUSmallInt(Number(v));
          break;
        case "u32":
          app.appendUInteger(Number(v));
          break;
        case "u64":
          app.appendUBigInt(BigInt(v));
          break;
        default:
          app.appendDouble(typeof v === "number" ? v : 0);
      }
    }
    app.endRow();
  });
  app.closeSync();
});

after(() => conn?.closeSync());

async function selected(filter: string, ip?: IpColumnSql): Promise<number[]> {
  const { sql, params } = compileFilter(filter, ip ? { ip } : {});
  const b = duckdbParams(params);
  const table = ip === blob16Ip ? "flows_blob" : "flows";
  const r = await conn.runAndReadAll(`SELECT id FROM ${table} WHERE ${sql} ORDER BY id`, b.values, b.types);
  return r.getRows().map((x) => Number(x[0]));
}

// --- JS side: independent of the parser ------------------------------------
const n = (r: Row, k: string): number => Number(r[k]);
const ipBig = (s: string): bigint => {
  const b = s === "" ? new Uint8Array(16) : parseIp(s)!;
  return b.reduce((acc, x) => (acc << 8n) | BigInt(x), 0n);
};
/** Address `a` inside net `net`/`len` (len counted on the 128-bit mapped form). */
const inNet = (a: string, net: string, len: number): boolean => {
  const shift = BigInt(128 - len);
  return ipBig(a) >> shift === ipBig(net) >> shift;
};
const dur = (r: Row): number => n(r, "time_flow_end") - n(r, "time_flow_start");
const first = (p: (r: Row) => boolean): Row => {
  const r = rows.find(p);
  assert.ok(r, "the test data holds a matching row");
  return r;
};

type Case = [string, (r: Row) => boolean, { nonEmpty?: boolean }?];

function cases(): Case[] {
  const tcp = first((r) => n(r, "protocol") === 6 && n(r, "dst_port") !== 0);
  const port = n(tcp, "dst_port");
  const v4 = first((r) => n(r, "ip_version") === 4);
  const v6 = first((r) => n(r, "ip_version") === 6);
  const a4 = String(v4.src_addr);
  const a6 = String(v6.dst_addr);
  const net16 = a4.split(".").slice(0, 2).join(".");
  const d4 = String(v4.dst_addr);
  const dnet16 = d4.split(".").slice(0, 2).join(".");
  const v6net = formatIp(
    parseIp(a6)!.map((b, k) => (k < 4 ? b : 0)),
    0,
  );
  const inIf = n(
    first((r) => n(r, "in_if") !== 0),
    "in_if",
  );
  const outIf = n(
    first((r) => n(r, "out_if") !== 0),
    "out_if",
  );
  const vlan = n(
    first((r) => n(r, "src_vlan") !== 0),
    "src_vlan",
  );
  const label = n(
    first((r) => n(r, "mpls_label_2") !== 0),
    "mpls_label_2",
  );
  const tos = n(
    first((r) => n(r, "tos") !== 0),
    "tos",
  );
  const icmp = first((r) => (n(r, "protocol") === 1 || n(r, "protocol") === 58) && n(r, "icmp_type") !== 0);
  const ports = [
    port,
    n(
      first((r) => n(r, "src_port") === 53 || n(r, "dst_port") === 53),
      "dst_port",
    ),
    443,
  ];
  const flags = (r: Row, m: number): boolean => (n(r, "tcp_flags") & m) === m;
  // nfdump's integer (truncating) rates.
  const bps = (r: Row): number => (dur(r) > 0 ? Math.floor((n(r, "bytes") * 8000) / dur(r)) : 0);
  const pps = (r: Row): number => (dur(r) > 0 ? Math.floor((n(r, "packets") * 1000) / dur(r)) : 0);
  const bpp = (r: Row): number => (n(r, "packets") > 0 ? Math.floor(n(r, "bytes") / n(r, "packets")) : 0);
  const sp = (r: Row, p: number): boolean => n(r, "src_port") === p || n(r, "dst_port") === p;
  return [
    ["any", () => true],
    ["ipv4", (r) => n(r, "ip_version") === 4],
    ["inet6", (r) => n(r, "ip_version") === 6],
    ["proto tcp", (r) => n(r, "protocol") === 6],
    ["proto udp", (r) => n(r, "protocol") === 17],
    ["proto icmp", (r) => n(r, "protocol") === 1],
    ["proto 17", (r) => n(r, "protocol") === 17],
    [`port ${port}`, (r) => sp(r, port)],
    [`dst port ${port}`, (r) => n(r, "dst_port") === port],
    [`src port > 1024`, (r) => n(r, "src_port") > 1024],
    [`dst port <= 1024`, (r) => n(r, "dst_port") <= 1024],
    [`port in [ ${ports.join(" ")} ]`, (r) => ports.some((p) => sp(r, p))],
    [`src port in [${ports.join(",")}]`, (r) => ports.includes(n(r, "src_port"))],
    [`host ${a4}`, (r) => r.src_addr === a4 || r.dst_addr === a4],
    [`src ip ${a4}`, (r) => r.src_addr === a4],
    [`dst host ${a6}`, (r) => r.dst_addr === a6],
    [`ip ${a6}`, (r) => r.src_addr === a6 || r.dst_addr === a6],
    [`net ${net16}.0.0/16`, (r) => inNet(String(r.src_addr), a4, 112) || inNet(String(r.dst_addr), a4, 112)],
    [`src net ${net16}/16`, (r) => inNet(String(r.src_addr), a4, 112)],
    [`dst net ${dnet16}.0.0 mask 255.255.0.0`, (r) => inNet(String(r.dst_addr), d4, 112)],
    [
      "net 10.0.0.0/8",
      (r) => inNet(String(r.src_addr), "10.0.0.0", 104) || inNet(String(r.dst_addr), "10.0.0.0", 104),
      { nonEmpty: false },
    ],
    [
      "net 0.0.0.0/0",
      (r) => inNet(String(r.src_addr), "0.0.0.0", 96) || inNet(String(r.dst_addr), "0.0.0.0", 96),
    ],
    [`net ${v6net}/32`, (r) => inNet(String(r.src_addr), a6, 32) || inNet(String(r.dst_addr), a6, 32)],
    [`dst net ${a6}/128`, (r) => r.dst_addr === a6],
    [`src as 0`, (r) => n(r, "src_as") === 0],
    [`as in [ 0 15169 ]`, (r) => [0, 15169].includes(n(r, "src_as")) || [0, 15169].includes(n(r, "dst_as"))],
    [`not dst as 15169`, (r) => n(r, "dst_as") !== 15169],
    [`in if ${inIf}`, (r) => n(r, "in_if") === inIf],
    [`out if ${outIf}`, (r) => n(r, "out_if") === outIf],
    [`if ${inIf}`, (r) => n(r, "in_if") === inIf || n(r, "out_if") === inIf],
    [`vlan ${vlan}`, (r) => n(r, "src_vlan") === vlan || n(r, "dst_vlan") === vlan],
    [`src vlan ${vlan}`, (r) => n(r, "src_vlan") === vlan],
    [`src and dst port > 1024`, (r) => n(r, "src_port") > 1024 && n(r, "dst_port") > 1024],
    [`src or dst port ${port}`, (r) => sp(r, port)],
    [
      `dst and src net ${net16}/16`,
      (r) => inNet(String(r.src_addr), a4, 112) && inNet(String(r.dst_addr), a4, 112),
      { nonEmpty: false },
    ],
    [
      "src and dst net 0.0.0.0/0",
      (r) => inNet(String(r.src_addr), "0.0.0.0", 96) && inNet(String(r.dst_addr), "0.0.0.0", 96),
    ],
    [`ip in [ ${a4} ${a6} ]`, (r) => [a4, a6].some((a) => r.src_addr === a || r.dst_addr === a)],
    [`dst ip in [${d4}, ${a6}]`, (r) => r.dst_addr === d4 || r.dst_addr === a6],
    [
      `net ${net16}.0.0 255.255.0.0`,
      (r) => inNet(String(r.src_addr), a4, 112) || inNet(String(r.dst_addr), a4, 112),
    ],
    [`mpls any ${label}`, (r) => [1, 2, 3].some((k) => n(r, `mpls_label_${k}`) === label)],
    ["flags S", (r) => flags(r, 2)],
    ["flags SA", (r) => flags(r, 0x12)],
    ["flags S and not flags A", (r) => flags(r, 2) && !flags(r, 0x10)],
    ["flags F", (r) => flags(r, 1)],
    [`tos ${tos}`, (r) => n(r, "tos") === tos],
    [`src tos > 0`, (r) => n(r, "tos") > 0],
    ["bytes > 1000", (r) => n(r, "bytes") > 1000],
    ["bytes > 1k", (r) => n(r, "bytes") > 1000],
    ["packets < 2", (r) => n(r, "packets") < 2],
    ["packets >= 1M", (r) => n(r, "packets") >= 1e6, { nonEmpty: false }],
    ["duration > 1000", (r) => dur(r) > 1000],
    ["bps > 10k", (r) => bps(r) > 10000],
    ["pps < 10", (r) => pps(r) < 10],
    ["pps > 5", (r) => pps(r) > 5],
    ["bpp > 500", (r) => bpp(r) > 500],
    [`mpls label ${label}`, (r) => [1, 2, 3].some((k) => n(r, `mpls_label_${k}`) === label)],
    [`mpls label2 ${label}`, (r) => n(r, "mpls_label_2") === label],
    [
      `icmp-type ${n(icmp, "icmp_type")}`,
      (r) => [1, 58].includes(n(r, "protocol")) && n(r, "icmp_type") === n(icmp, "icmp_type"),
    ],
    [
      `icmp-code ${n(icmp, "icmp_code")}`,
      (r) => [1, 58].includes(n(r, "protocol")) && n(r, "icmp_code") === n(icmp, "icmp_code"),
    ],
    // Boolean structure and precedence on real data.
    [
      `proto tcp and dst port ${port} or proto udp`,
      (r) => (n(r, "protocol") === 6 && n(r, "dst_port") === port) || n(r, "protocol") === 17,
    ],
    [
      `proto tcp and (dst port ${port} or proto udp)`,
      (r) => n(r, "protocol") === 6 && (n(r, "dst_port") === port || n(r, "protocol") === 17),
    ],
    [`not proto tcp and ipv4`, (r) => n(r, "protocol") !== 6 && n(r, "ip_version") === 4],
    [`! (proto tcp || ipv6)`, (r) => !(n(r, "protocol") === 6 || n(r, "ip_version") === 6)],
    [
      `proto tcp && dst port ${port} and src net ${net16}/16 and not dst as 15169`,
      (r) =>
        n(r, "protocol") === 6 &&
        n(r, "dst_port") === port &&
        inNet(String(r.src_addr), a4, 112) &&
        n(r, "dst_as") !== 15169,
      { nonEmpty: false },
    ],
  ];
}

test("every primitive selects exactly the rows the JS predicate selects", async () => {
  let nonEmpty = 0;
  for (const [filter, pred, o] of cases()) {
    const want = rows.flatMap((r, i) => (pred(r) ? [i] : []));
    const got = await selected(filter);
    assert.equal(got.length, want.length, `${filter}: ${got.length} rows, JS predicate ${want.length}`);
    assert.deepEqual(got, want, filter);
    if (o?.nonEmpty !== false) {
      assert.ok(want.length > 0, `${filter} selects something in the test data`);
      nonEmpty++;
    }
  }
  assert.ok(nonEmpty > 40);
});

test("blob16Ip on 16-byte BLOB columns (a version-1 store) selects what uhugeintIp selects", async () => {
  let ipCases = 0;
  for (const [filter] of cases()) {
    if (!/net|host|ip /.test(filter)) continue;
    assert.deepEqual(await selected(filter, blob16Ip), await selected(filter), filter);
    ipCases++;
  }
  assert.ok(ipCases > 10, `${ipCases} ip filters`);
});

test("a filter never selects everything by accident: narrow filters are strict subsets", async () => {
  for (const f of ["proto tcp", "ipv6", "flags SA", "bytes > 1k"]) {
    const got = await selected(f);
    assert.ok(got.length > 0 && got.length < rows.length, `${f}: ${got.length}/${rows.length}`);
  }
});

test("hostile values stay parameters: the table survives and SQL text is value-free", async () => {
  const { sql, params } = compileFilter("port 80 or port 443 and src host 10.0.0.1");
  assert.doesNotMatch(sql, /80|443|10\.0/);
  assert.equal(params.length, 5);
  const before = await conn.runAndReadAll("SELECT count(*) FROM flows");
  await selected("port 80");
  const afterCount = await conn.runAndReadAll("SELECT count(*) FROM flows");
  assert.deepEqual(afterCount.getRows(), before.getRows());
});
