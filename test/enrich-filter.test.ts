// The enrichment columns in the store, the filter language and the planner:
// a real capture decoded, enriched (networks file, GeoIP .mmdb written by
// mmdbgen, static interfaces, classifier rules) and written by the real
// StoreWriter; each enrichment filter primitive then runs as SQL on
// flows_raw and must select exactly the rows a JS predicate over the enriched
// batches selects. Values come from the enriched data, so every case selects
// something (checked). Malformed primitives point at the offending token.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { FlowQueryRunner } from "../src/api/query.js";
import { validateEnrichConfig } from "../src/enrich/config.js";
import { createInterfaceSource } from "../src/enrich/interfaces/index.js";
import { EnrichmentService } from "../src/enrich/service.js";
import { compileFilter, duckdbParams, FilterError } from "../src/query/filter/index.js";
import { StoreWriter } from "../src/store/writer.js";
import { decodeUnit } from "./helpers/captures.js";
import { writeMmdb } from "./helpers/mmdb.js";

const UNIT = "ipfixcol2__example_flows";
const dir = mkdtempSync(join(tmpdir(), "nagare-enrich-filter-"));
const writer = new StoreWriter({ config: { path: join(dir, "flows.duckdb"), intervalMs: 1000 } });
type Row = Record<string, string | number>;
const rows: Row[] = [];

before(async () => {
  writeFileSync(
    join(dir, "networks.yaml"),
    [
      '"79.120.0.0/16": { name: dtag-big, role: transit, site: fra, tenant: acme }',
      '"79.120.172.0/24": { name: customer-osaka, role: customer, site: osaka, tenant: acme }',
      '"215.25.53.0/24": { name: "Lab Net", role: internal, site: tokyo, tenant: acme }',
      '"df01:401f::/32": { name: v6-customers, role: customer, site: osaka }',
    ].join("\n"),
  );
  writeMmdb(join(dir, "geo.mmdb"), {
    databaseType: "GeoLite2-Country",
    networks: [
      { prefix: "79.0.0.0/8", data: { country: { iso_code: "DE" } } },
      { prefix: "228.55.0.0/16", data: { country: { iso_code: "JP" } } },
      { prefix: "9.0.0.0/8", data: { country: { iso_code: "US" } } },
    ],
  });
  writeMmdb(join(dir, "asn.mmdb"), {
    databaseType: "GeoLite2-ASN",
    networks: [
      {
        prefix: "9.0.0.0/8",
        data: { autonomous_system_number: 3356, autonomous_system_organization: "LEVEL3" },
      },
      {
        prefix: "228.55.0.0/16",
        data: { autonomous_system_number: 15169, autonomous_system_organization: "GOOGLE" },
      },
    ],
  });
  const cfg = validateEnrichConfig({
    networksFile: join(dir, "networks.yaml"),
    geoipDatabases: [join(dir, "geo.mmdb"), join(dir, "asn.mmdb")],
    pollSeconds: 0,
    exporterClassifiers: [{ match: { exporter: "192.0.2.1" }, set: { name: "edge-fra-1", region: "eu" } }],
    interfaceClassifiers: [
      {
        match: { interfaceDescription: "^Transit: (\\S+)" },
        set: { connectivity: "transit", provider: "$1", boundary: "external" },
      },
      { match: { interfaceName: "^ae" }, set: { connectivity: "internal", boundary: "internal" } },
    ],
    interfaces: {
      static: {
        "192.0.2.1": {
          "2": { name: "xe-0/0/1", description: "Transit: NTT [10G]", speedBps: 10_000_000_000 },
          "3": { name: "ae0", description: "core uplink", speedBps: 100_000_000_000 },
        },
      },
    },
  });
  const svc = new EnrichmentService({ config: cfg, interfaces: createInterfaceSource(cfg.interfaces) });
  await svc.start();
  await writer.start();
  decodeUnit(UNIT, (b) => {
    svc.consume(b);
    for (let i = 0; i < b.length; i++) rows.push(b.row(i));
    writer.consume(b);
  });
  await writer.flush();
  await svc.stop();
  assert.equal(rows.length, 3979);
});

after(async () => {
  await writer.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function count(filter: string): Promise<number> {
  const f = compileFilter(filter);
  const { values, types } = duckdbParams(f.params);
  const r = await writer.connection.runAndReadAll(
    `SELECT count(*)::DOUBLE FROM flows_raw WHERE ${f.sql}`,
    values,
    types,
  );
  return Number(r.getRowsJS()[0]![0]);
}

const lc = (v: unknown): string => String(v).toLowerCase();
const CASES: [string, (r: Row) => boolean][] = [
  ["src country JP", (r) => r.src_country === "JP"],
  ["dst country de", (r) => r.dst_country === "DE"],
  ['src country ""', (r) => r.src_country === ""],
  ["country US", (r) => r.src_country === "US" || r.dst_country === "US"],
  [
    "src and dst country in [ US DE ]",
    (r) => ["US", "DE"].includes(r.src_country as string) && ["US", "DE"].includes(r.dst_country as string),
  ],
  ['dst as name "LEVEL3"', (r) => r.dst_as_name === "LEVEL3"],
  ["src as name google", (r) => r.src_as_name === "GOOGLE"],
  ['as name "goo*"', (r) => lc(r.src_as_name).startsWith("goo") || lc(r.dst_as_name).startsWith("goo")],
  ["in if name xe-0/0/1", (r) => r.in_if_name === "xe-0/0/1"],
  ['in if description "Transit: NTT [10G]"', (r) => r.in_if_description === "Transit: NTT [10G]"],
  ["in if boundary external", (r) => r.in_if_boundary === "external"],
  ["in if boundary internal", (r) => r.in_if_boundary === "internal"],
  ['out if boundary ""', (r) => r.out_if_boundary === ""],
  ["in if connectivity transit", (r) => r.in_if_connectivity === "transit"],
  ["in if provider ntt", (r) => r.in_if_provider === "ntt"],
  ["if provider NTT", (r) => r.in_if_provider === "ntt" || r.out_if_provider === "ntt"],
  ["in if speed >= 100G", (r) => (r.in_if_speed as number) >= 100e9],
  ["in if speed 10G", (r) => r.in_if_speed === 10e9],
  ["exporter name edge-fra-1", (r) => r.exporter_name === "edge-fra-1"],
  ["exporter region EU", (r) => r.exporter_region === "eu"],
  ['src net name "lab net"', (r) => r.src_net_name === "Lab Net"],
  ["dst net name customer-osaka", (r) => r.dst_net_name === "customer-osaka"],
  ["dst net role customer", (r) => r.dst_net_role === "customer"],
  ["dst net role != customer", (r) => r.dst_net_role !== "customer"],
  ["not dst net role customer", (r) => r.dst_net_role !== "customer"],
  ["dst net site in [ osaka fra ]", (r) => r.dst_net_site === "osaka" || r.dst_net_site === "fra"],
  [
    "net tenant acme and proto udp",
    (r) => (r.src_net_tenant === "acme" || r.dst_net_tenant === "acme") && r.protocol === 17,
  ],
  [
    'dst net name "customer-*" and dst country DE',
    (r) => String(r.dst_net_name).startsWith("customer-") && r.dst_country === "DE",
  ],
  ['dst net name "*_*"', (r) => String(r.dst_net_name).includes("_")], // _ is literal, not LIKE's any-char
];

test("each enrichment primitive selects in DuckDB exactly the rows the JS predicate selects", async () => {
  for (const [filter, pred] of CASES) {
    const want = rows.filter(pred).length;
    assert.equal(await count(filter), want, filter);
    if (!filter.endsWith('"*_*"') && !filter.startsWith("not ") && !filter.includes("!="))
      assert.ok(want > 0, `${filter} selects something`);
  }
  assert.equal(await count('dst net name "*_*"'), 0);
});

test("values are bound parameters, never SQL text", () => {
  const f = compileFilter(`dst as name "x' OR 1=1 --" or src net name "a\\"b"`);
  assert.doesNotMatch(f.sql, /OR 1=1|a"b/);
  assert.deepEqual(f.params, ["x' or 1=1 --", 'a"b']);
});

const MALFORMED: [string, number, string, string][] = [
  ["src country JPN", 12, "JPN", "a country code"],
  ["dst country > JP", 12, ">", `"=" or "!="`],
  ["in if boundary outside", 15, "outside", "an interface boundary"],
  ["exporter colour red", 9, "colour", `"name", "role"`],
  ["dst as name", 11, "", "an AS name"],
  ['in if name "xe-0/0/1', 11, '"', "a closing quote"],
  ["in if speed > fast", 14, "fast", "an interface speed"],
  ["src net name in [ ]", 18, "]", "a network name"],
  ['port "80"', 5, '"80"', "a port number"],
];

test("malformed enrichment primitives point at the offending token", () => {
  for (const [f, offset, token, expected] of MALFORMED) {
    assert.throws(
      () => compileFilter(f),
      (e: unknown) => {
        assert.ok(e instanceof FilterError, f);
        assert.equal(e.offset, offset, `${f}: ${e.message}`);
        assert.equal(e.token, token, `${f}: ${e.message}`);
        assert.ok(e.message.includes(expected), `${f}: ${e.message}`);
        return true;
      },
    );
  }
});

test("enrichment columns are explorer dimensions (planner, flows_raw)", async () => {
  const runner = new FlowQueryRunner(() => writer.database, 5000);
  try {
    const times = rows.map((r) => r.time_received as number);
    const a = await runner.run({
      start: Math.min(...times),
      end: Math.max(...times) + 1,
      resolution: "auto",
      dimensions: ["dst_country", "in_if_provider"],
      metric: "flows",
      shape: "table",
      filter: "dst country DE or dst country US",
    });
    assert.equal(a.status, 200, JSON.stringify(a.body));
    const body = a.body as { columns: { name: string }[]; rows: unknown[][] };
    const names = body.columns.map((c) => c.name);
    const got = new Map(
      body.rows.map((r) => [
        `${String(r[names.indexOf("dst_country")])}|${String(r[names.indexOf("in_if_provider")])}`,
        Number(r[names.indexOf("value")]),
      ]),
    );
    const want = new Map<string, number>();
    for (const r of rows)
      if (r.dst_country === "DE" || r.dst_country === "US") {
        const k = `${String(r.dst_country)}|${String(r.in_if_provider)}`;
        want.set(k, (want.get(k) ?? 0) + (r.flows as number));
      }
    assert.deepEqual(got, want);
  } finally {
    runner.close();
  }
});
