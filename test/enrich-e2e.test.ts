// End to end: a real capture (CESNET ipfixcol2 example_flows, 3979 IPFIX
// records, IPv4 and IPv6) decoded by the collector's decoder, enriched by the
// EnrichmentService with a networks file, an AS-names file, GeoLite2-layout
// Country and ASN databases written by MaxMind's own writer (mmdbgen), E3's
// interface source (static interfaces) and classifier rules; then every row
// is checked against an independent oracle (node's BlockList over the same
// prefixes) and the per-network counts against tshark's decode of the
// capture. Then reloads (networks file, .mmdb) and broken files.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { BlockList } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import type { FlowBatch } from "../src/collector/batch.js";
import { validateEnrichConfig } from "../src/enrich/config.js";
import { createInterfaceSource } from "../src/enrich/interfaces/index.js";
import { EnrichmentService } from "../src/enrich/service.js";
import { CAPTURES_DIR, decodeUnit } from "./helpers/captures.js";
import { writeMmdb } from "./helpers/mmdb.js";

const UNIT = "ipfixcol2__example_flows";
const dir = mkdtempSync(join(tmpdir(), "nagare-enrich-e2e-"));
after(() => rmSync(dir, { recursive: true, force: true }));

// Networks (nested prefixes for longest match; one IPv6).
const NETS: [string, string, string, string, number][] = [
  // prefix, name, role, site, asn
  ["79.120.0.0/16", "dtag-big", "transit", "fra", 3320],
  ["79.120.172.0/24", "customer-osaka", "customer", "osaka", 64500],
  ["215.25.53.0/24", "lab", "internal", "tokyo", 0],
  ["df01:401f::/32", "v6-customers", "customer", "osaka", 64501],
];
// Countries (GeoLite2-Country layout) and ASNs (GeoLite2-ASN layout).
const COUNTRIES: [string, string][] = [
  ["79.0.0.0/8", "DE"],
  ["228.55.0.0/16", "JP"],
  ["9.0.0.0/8", "US"],
  ["1500:1457::/32", "FR"],
];
const ASNS: [string, number, string][] = [
  ["9.0.0.0/8", 3356, "LEVEL3"],
  ["79.120.172.0/24", 65111, "GEO-AS-65111"], // the networks file's AS comes later in asOrder
  ["228.55.228.0/24", 2914, "NTT-FROM-GEOIP"],
];

const networksPath = join(dir, "networks.csv");
const asNamesPath = join(dir, "asnames.txt");
const countryPath = join(dir, "country.mmdb");
const asnPath = join(dir, "asn.mmdb");

function writeNetworks(rows: typeof NETS): void {
  writeFileSync(
    networksPath,
    "prefix,name,role,site,tenant,asn\n" +
      rows.map(([p, n, r, s, a]) => `${p},${n},${r},${s},acme,${a || ""}`).join("\n") +
      "\n",
  );
}

function writeCountries(rows: typeof COUNTRIES): void {
  writeMmdb(countryPath, {
    databaseType: "GeoLite2-Country",
    networks: rows.map(([prefix, iso]) => ({
      prefix,
      data: { country: { iso_code: iso, geoname_id: 1, names: { en: iso } }, continent: { code: "EU" } },
    })),
  });
}

/** Longest-prefix oracle over node's BlockList (independent of src/enrich/prefixes.ts). */
function oracle<T>(entries: [string, T][]): (addr: string) => T | undefined {
  const lists = entries.map(([p, v]) => {
    const [a, l] = p.split("/");
    const v6 = a!.includes(":");
    const b = new BlockList();
    b.addSubnet(a!, Number(l), v6 ? "ipv6" : "ipv4");
    return { b, len: Number(l), v6, v };
  });
  return (addr) => {
    if (addr === "") return undefined;
    const v6 = addr.includes(":");
    return lists
      .filter((x) => x.v6 === v6 && x.b.check(addr, v6 ? "ipv6" : "ipv4"))
      .sort((a, b) => b.len - a.len)[0]?.v;
  };
}

function enrichConfig(extra: Record<string, unknown> = {}): ReturnType<typeof validateEnrichConfig> {
  return validateEnrichConfig({
    networksFile: networksPath,
    asNamesFile: asNamesPath,
    geoipDatabases: [countryPath, asnPath],
    pollSeconds: 1,
    exporterClassifiers: [
      { match: { exporter: "192.0.2.0/24" }, set: { name: "edge-fra-1", role: "edge", region: "eu" } },
    ],
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
    ...extra,
  });
}

function decodeEnriched(svc: EnrichmentService): Record<string, string | number>[] {
  const rows: Record<string, string | number>[] = [];
  decodeUnit(UNIT, (b: FlowBatch) => {
    svc.consume(b);
    for (let i = 0; i < b.length; i++) rows.push(b.row(i));
  });
  return rows;
}

async function until(what: string, ok: () => boolean, ms = 8000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test("capture → enrichment: networks, GeoIP country/ASN, AS names, interfaces, classifiers", async () => {
  writeNetworks(NETS);
  writeFileSync(
    asNamesPath,
    "AS3320   DTAG Deutsche Telekom AG, DE\n64500 ACME-OSAKA\n3356|LEVEL3-NAME-FROM-FILE\n",
  );
  writeCountries(COUNTRIES);
  writeMmdb(asnPath, {
    databaseType: "GeoLite2-ASN",
    networks: ASNS.map(([prefix, asn, org]) => ({
      prefix,
      data: { autonomous_system_number: asn, autonomous_system_organization: org },
    })),
  });
  const cfg = enrichConfig();
  const interfaces = createInterfaceSource(cfg.interfaces);
  const svc = new EnrichmentService({ config: cfg, interfaces });
  await svc.start();
  try {
    const rows = decodeEnriched(svc);
    assert.equal(rows.length, 3979);
    const net = oracle(NETS.map(([p, ...rest]) => [p, rest] as [string, typeof rest]));
    const country = oracle(COUNTRIES);
    const geoAs = oracle(
      ASNS.map(([p, a, o]) => [p, [a, o] as const] as [string, readonly [number, string]]),
    );
    const names = new Map<number, string>([
      [3320, "DTAG Deutsche Telekom AG, DE"],
      [64500, "ACME-OSAKA"],
      [3356, "LEVEL3-NAME-FROM-FILE"],
    ]);
    const seen = { net: 0, country: 0, geoAs: 0, v6net: 0 };
    for (const r of rows) {
      for (const side of ["src", "dst"] as const) {
        const addr = r[`${side}_addr`] as string;
        const n = net(addr);
        assert.equal(r[`${side}_net_name`], n?.[0] ?? "", `${side} ${addr}`);
        assert.equal(r[`${side}_net_role`], n?.[1] ?? "");
        assert.equal(r[`${side}_net_site`], n?.[2] ?? "");
        assert.equal(r[`${side}_net_tenant`], n ? "acme" : "");
        assert.equal(r[`${side}_country`], country(addr) ?? "", `${side} country ${addr}`);
        // asOrder flow, routing, geoip, networks: the capture has no AS numbers, no routing here.
        const g = geoAs(addr);
        const want = g?.[0] ?? n?.[3] ?? 0;
        assert.equal(r[`${side}_as`], want, `${side} as ${addr}`);
        const wantName = want === 0 ? "" : (names.get(want) ?? (g && g[0] === want ? g[1] : ""));
        assert.equal(r[`${side}_as_name`], wantName, `${side} as name ${addr}`);
        if (n) seen.net++;
        if (n && addr.includes(":")) seen.v6net++;
        if (country(addr)) seen.country++;
        if (g) seen.geoAs++;
      }
      assert.equal(r.exporter_name, "edge-fra-1");
      assert.equal(r.exporter_role, "edge");
      assert.equal(r.exporter_region, "eu");
      assert.equal(r.exporter_site, "");
      if (r.in_if === 2) {
        assert.equal(r.in_if_name, "xe-0/0/1");
        assert.equal(r.in_if_description, "Transit: NTT [10G]");
        assert.equal(r.in_if_speed, 10e9);
        assert.equal(r.in_if_connectivity, "transit");
        assert.equal(r.in_if_provider, "ntt");
        assert.equal(r.in_if_boundary, "external");
      } else {
        assert.equal(r.in_if, 3);
        assert.equal(r.in_if_name, "ae0");
        assert.equal(r.in_if_connectivity, "internal");
        assert.equal(r.in_if_boundary, "internal");
        assert.equal(r.in_if_provider, "");
      }
      // out_if is 0 in this capture: nothing to say about it.
      assert.equal(r.out_if_name, "");
      assert.equal(r.out_if_speed, 0);
    }
    // Every kind of match happened, on both families.
    assert.ok(
      seen.net > 100 && seen.country > 100 && seen.geoAs > 50 && seen.v6net > 0,
      JSON.stringify(seen),
    );
    // Cross-check with tshark's decode of the same capture: flows per destination network.
    const expected = readFileSync(join(CAPTURES_DIR, "expected", `${UNIT}.jsonl`), "utf8")
      .split("\n")
      .filter((l) => l.includes('"kind": "flow"'))
      .map((l) => JSON.parse(l) as { dst: string; src: string });
    assert.equal(expected.length, rows.length);
    for (const [prefix, name] of NETS) {
      for (const side of ["src", "dst"] as const) {
        const tshark = expected.filter((e) => net(e[side])?.[0] === name).length;
        const ours = rows.filter((r) => r[`${side}_net_name`] === name).length;
        assert.equal(ours, tshark, `flows ${side === "src" ? "from" : "to"} ${prefix}`);
      }
      const any = rows.filter((r) => r.src_net_name === name || r.dst_net_name === name).length;
      assert.ok(any > 0, `some flows from or to ${prefix}`);
    }
    const m = svc.metrics();
    assert.equal(m.enrich_flows, 3979);
    assert.equal(m.enrich_errors, 0);
    assert.ok(m.enrich_geoip_cache_hits! > 0, "repeated addresses come from the cache");
    const states = new Map(svc.states().map((s) => [s.name, s]));
    assert.equal(states.get("networks")?.status, "loaded");
    assert.equal(states.get("networks")?.entries, NETS.length);
    assert.equal(states.get("asnames")?.entries, 3);
    assert.equal(states.get("geoip:country.mmdb")?.status, "loaded");
    assert.equal(states.get("geoip:country.mmdb")?.detail?.databaseType, "GeoLite2-Country");
    assert.equal(states.get("geoip:asn.mmdb")?.detail?.databaseType, "GeoLite2-ASN");
    assert.equal(states.get("classifier")?.entries, 3);
  } finally {
    await svc.stop();
  }
});

test("files reload without restart; a broken reload keeps the old data and reports the error", async () => {
  writeNetworks(NETS);
  writeFileSync(asNamesPath, "3320,DTAG\n");
  writeCountries(COUNTRIES);
  const svc = new EnrichmentService({ config: enrichConfig({ asNamesFile: "" }) });
  await svc.start();
  try {
    const countOf = (col: string, v: string): number =>
      decodeEnriched(svc).filter((r) => r[col] === v).length;
    const osaka = countOf("dst_net_name", "customer-osaka");
    assert.ok(osaka > 0);
    const de = countOf("dst_country", "DE");
    assert.ok(de > 0);

    // 1. The networks file changes: the new name is served after the next poll.
    const loads = svc.networks!.file.loads;
    writeNetworks(
      NETS.map((n) =>
        n[1] === "customer-osaka" ? ([n[0], "customer-kobe", n[2], n[3], n[4]] as typeof n) : n,
      ),
    );
    await until("networks reload", () => svc.networks!.file.loads > loads);
    assert.equal(countOf("dst_net_name", "customer-osaka"), 0);
    assert.equal(countOf("dst_net_name", "customer-kobe"), osaka);

    // 2. A broken networks file: the old data stays, the state says why.
    const errs = svc.networks!.state().errors;
    writeFileSync(networksPath, "prefix,name\n79.120.0.0/16,ok\n300.1.2.0/24,bad\n");
    await until("networks error", () => svc.networks!.state().errors > errs);
    const st = svc.networks!.state();
    assert.equal(st.status, "error");
    assert.match(st.lastError!, /line 3: "300\.1\.2\.0" is not an IP address/);
    assert.equal(countOf("dst_net_name", "customer-kobe"), osaka, "the previous data is still served");

    // 3. Fixed again: loaded, error cleared.
    writeNetworks(NETS);
    await until("networks fixed", () => svc.networks!.state().status === "loaded");
    assert.equal(countOf("dst_net_name", "customer-osaka"), osaka);

    // 4. The country database changes (79/8 becomes NL): the per-address cache is dropped.
    const geoLoads = svc.geoip!.dbs[0]!.file.loads;
    writeCountries(COUNTRIES.map(([p, c]) => [p, c === "DE" ? "NL" : c]));
    await until("mmdb reload", () => svc.geoip!.dbs[0]!.file.loads > geoLoads);
    assert.equal(countOf("dst_country", "DE"), 0);
    assert.equal(countOf("dst_country", "NL"), de);

    // 5. A truncated .mmdb: error state, old database still answers.
    const geoErrs = svc.geoip!.dbs[0]!.state().errors;
    writeFileSync(countryPath, readFileSync(countryPath).subarray(0, 40));
    await until("mmdb error", () => svc.geoip!.dbs[0]!.state().errors > geoErrs);
    assert.equal(svc.geoip!.dbs[0]!.state().status, "error");
    assert.equal(countOf("dst_country", "NL"), de);
  } finally {
    await svc.stop();
  }
});

test("a source broken from the start: columns stay empty, the pipeline goes on, the state says why", async () => {
  const bad = join(dir, "bad.mmdb");
  writeFileSync(bad, "this is not a MaxMind database");
  const missing = join(dir, "missing.csv");
  const svc = new EnrichmentService({
    config: validateEnrichConfig({ geoipDatabases: [bad], networksFile: missing, pollSeconds: 0 }),
  });
  await svc.start();
  const rows = decodeEnriched(svc);
  assert.equal(rows.length, 3979);
  assert.ok(rows.every((r) => r.src_country === "" && r.dst_net_name === "" && r.dst_as === 0));
  const states = new Map(svc.states().map((s) => [s.name, s]));
  assert.equal(states.get("geoip:bad.mmdb")?.status, "error");
  assert.match(states.get("geoip:bad.mmdb")!.lastError!, /bad\.mmdb/);
  assert.equal(states.get("networks")?.status, "error");
  assert.match(states.get("networks")!.lastError!, /ENOENT/);
  await svc.stop();
});

test("IPinfo country_asn layout in one database", async () => {
  const p = join(dir, "country_asn.mmdb");
  writeMmdb(p, {
    databaseType: "ipinfo country_asn.mmdb",
    networks: [
      {
        prefix: "9.0.0.0/8",
        data: {
          country: "US",
          country_name: "United States",
          asn: "AS3356",
          as_name: "Lumen",
          as_domain: "lumen.com",
        },
      },
      { prefix: "1500:1457::/32", data: { country: "FR", asn: "AS5410", as_name: "Bouygues" } },
    ],
  });
  const svc = new EnrichmentService({
    config: validateEnrichConfig({ geoipDatabases: [p], pollSeconds: 0 }),
  });
  await svc.start();
  const rows = decodeEnriched(svc);
  const nine = rows.filter((r) => (r.dst_addr as string).startsWith("9."));
  assert.ok(nine.length > 0);
  for (const r of nine) {
    assert.equal(r.dst_country, "US");
    assert.equal(r.dst_as, 3356);
    assert.equal(r.dst_as_name, "Lumen");
  }
  const v6 = rows.filter((r) => (r.src_addr as string).startsWith("1500:1457:"));
  assert.ok(v6.length > 0);
  for (const r of v6) assert.deepEqual([r.src_country, r.src_as, r.src_as_name], ["FR", 5410, "Bouygues"]);
  await svc.stop();
});
