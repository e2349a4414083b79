// Unit tests of the enrichment core: prefix matching, the networks and
// AS-names parsers, classifier rules, the enrich config section, and the
// service's source order, caches and error handling (with in-memory routing
// and interface sources; the end-to-end tests on a real capture are in
// test/enrich-e2e.test.ts).
import assert from "node:assert/strict";
import { BlockList } from "node:net";
import { test } from "node:test";
import { FlowBatch } from "../collector/batch.js";
import { parseIp, putIpv4 } from "../collector/ip.js";
import { ConfigError, validateConfig } from "../config/schema.js";
import { parseAsNamesCsv, parseAsNamesText } from "./asnames.js";
import { Classifier, validateExporterRules, validateInterfaceRules } from "./classify.js";
import { defaultEnrichConfig, validateEnrichConfig, type EnrichConfig } from "./config.js";
import { geoFromRecord } from "./geoip.js";
import { parseNetworksCsv, parseNetworksYaml } from "./networks.js";
import { PrefixTable, parsePrefixText, type ParsedPrefix } from "./prefixes.js";
import { EnrichmentService } from "./service.js";
import type {
  EnrichSource,
  InterfaceInfo,
  InterfaceLookup,
  RouteInfo,
  RouteLookup,
  SourceState,
} from "./types.js";

const ip = (s: string): Uint8Array => parseIp(s)!;

test("PrefixTable: longest match agrees with node's BlockList on random addresses", () => {
  const prefixes = [
    "10.0.0.0/8",
    "10.1.0.0/16",
    "10.1.2.0/24",
    "10.1.2.128/25",
    "10.1.2.200/32",
    "0.0.0.0/0",
    "192.168.0.0/22",
    "2001:db8::/32",
    "2001:db8:1::/48",
    "2001:db8:1:2::/64",
    "2001:db8:1:2:3::/80",
    "2001:db8:1:2:3:4:5:0/127",
    // Prefixes that end at the last address of their family.
    "255.255.255.0/24",
    "255.255.255.255/32",
    "ffff::/16",
  ];
  const t = new PrefixTable<string>();
  const lists = prefixes.map((p) => {
    const pp = parsePrefixText(p) as ParsedPrefix;
    t.set(pp, p);
    const b = new BlockList();
    const [a, l] = p.split("/");
    b.addSubnet(a!, Number(l), pp.v4 ? "ipv4" : "ipv6");
    return { p, len: pp.len, v4: pp.v4, b };
  });
  assert.equal(t.size, prefixes.length);
  let seed = 7;
  const rnd = (): number => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  const samples: string[] = [
    "10.1.2.200",
    "10.1.2.201",
    "10.1.2.129",
    "172.16.0.1",
    "2001:db8:1:2:3:4:5:1",
    "3000::1",
    "255.255.255.255",
    "255.255.255.254",
    "0.0.0.0",
    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    "fffe::1",
    "::1",
  ];
  for (let k = 0; k < 2000; k++) {
    if (rnd() < 0.5) {
      const base = rnd() < 0.7 ? [10, 1, 2] : [10, Math.floor(rnd() * 3), Math.floor(rnd() * 4)];
      samples.push(`${base.join(".")}.${Math.floor(rnd() * 256)}`);
    } else {
      const w = Array.from({ length: 8 }, () => Math.floor(rnd() * 4).toString(16));
      samples.push(`2001:db8:${w.slice(2).join(":")}`);
    }
  }
  for (const s of samples) {
    const v4 = !s.includes(":");
    const want = lists
      .filter((l) => l.v4 === v4 && l.b.check(s, v4 ? "ipv4" : "ipv6"))
      .sort((a, b) => b.len - a.len)[0]?.p;
    assert.equal(t.lookup(ip(s), 0), want ?? null, s);
  }
  // Offsets into a column: the 2nd row of a 16-byte-per-row array.
  const col = new Uint8Array(32);
  putIpv4(col, 16, 0x0a010203);
  assert.equal(t.lookup(col, 16), "10.1.2.0/24");
});

test("networks file: YAML map, YAML list, CSV; bad entries name their place", () => {
  const y = parseNetworksYaml(
    "192.0.2.0/24: { name: customer-osaka, role: customer, site: osaka, tenant: acme, asn: 64500 }\n" +
      "2001:db8::/32:\n  name: v6-net\n  asn: AS64501\n",
  );
  assert.deepEqual(y.table.lookup(ip("192.0.2.9"), 0), {
    name: "customer-osaka",
    role: "customer",
    site: "osaka",
    tenant: "acme",
    asn: 64500,
  });
  assert.equal(y.table.lookup(ip("2001:db8::1"), 0)?.asn, 64501);
  const l = parseNetworksYaml("networks:\n  - prefix: 198.51.100.0/24\n    name: lab\n");
  assert.equal(l.table.lookup(ip("198.51.100.1"), 0)?.name, "lab");
  const c = parseNetworksCsv(
    '# comment\nprefix,name,role,asn\n203.0.113.0/24,"web, tokyo",customer,64502\n10.0.0.0/8,lan,internal,\n',
  );
  assert.equal(c.table.lookup(ip("203.0.113.5"), 0)?.name, "web, tokyo");
  assert.equal(c.table.lookup(ip("10.9.9.9"), 0)?.asn, 0);
  assert.throws(() => parseNetworksCsv("prefix,name\n10.0.0.0/33,x\n"), /line 2: prefix length must be 0-32/);
  assert.throws(() => parseNetworksCsv("prefix,colour\n"), /unknown column "colour"/);
  assert.throws(() => parseNetworksYaml("10.0.0.0/8: { nmae: x }"), /10\.0\.0\.0\/8: unknown key "nmae"/);
  assert.throws(() => parseNetworksYaml("10.0.0.0/8: { asn: -1 }"), /not an AS number/);
});

test("AS-names file: CSV with and without header, asn-names text layouts", () => {
  const a = parseAsNamesCsv('asn,name\n2914,NTT-LTD-2914\nAS15169,"GOOGLE, US"\n');
  assert.equal(a.get(2914), "NTT-LTD-2914");
  assert.equal(a.get(15169), "GOOGLE, US");
  const b = parseAsNamesCsv("autonomous_system_organization,autonomous_system_number\nCloudflare,13335\n");
  assert.equal(b.get(13335), "Cloudflare");
  assert.equal(parseAsNamesCsv("64500,Example\n").get(64500), "Example");
  const t = parseAsNamesText(
    "AS2914   NTT-LTD-2914 NTT America, Inc., US\n15169 GOOGLE - Google LLC, US\n64496|DOC-AS\n# x\n",
  );
  assert.equal(t.get(2914), "NTT-LTD-2914 NTT America, Inc., US");
  assert.equal(t.get(15169), "GOOGLE - Google LLC, US");
  assert.equal(t.get(64496), "DOC-AS");
  assert.throws(() => parseAsNamesText("AS12x foo\n"), /line 1/);
  assert.throws(() => parseAsNamesCsv("asn,name\nfoo,bar\n"), /line 2: "foo" is not an AS number/);
});

test("GeoIP records: GeoLite2 and IPinfo layouts", () => {
  assert.deepEqual(geoFromRecord({ country: { iso_code: "JP", names: { en: "Japan" } } }), {
    country: "JP",
    asn: 0,
    asName: "",
  });
  assert.deepEqual(geoFromRecord({ registered_country: { iso_code: "US" } }).country, "US");
  assert.deepEqual(geoFromRecord({ autonomous_system_number: 2914, autonomous_system_organization: "NTT" }), {
    country: "",
    asn: 2914,
    asName: "NTT",
  });
  assert.deepEqual(geoFromRecord({ country: "de", asn: "AS3320", as_name: "DTAG" }), {
    country: "DE",
    asn: 3320,
    asName: "DTAG",
  });
  assert.deepEqual(geoFromRecord({ asn: "AS13335", name: "Cloudflare" }), {
    country: "",
    asn: 13335,
    asName: "Cloudflare",
  });
});

test("classifier: order, first writer wins, captures, stop, lower-casing", () => {
  const exp = validateExporterRules(
    [
      { match: { exporter: "192.0.2.1" }, set: { name: "edge1", role: "edge" } },
      { match: { exporter: ["192.0.2.0/24", "2001:db8::/32"] }, set: { role: "core", site: "osaka" } },
      { set: { region: "jp" } },
    ],
    "x",
  );
  const ifr = validateInterfaceRules(
    [
      {
        match: { interfaceDescription: "^Transit: (\\S+)" },
        set: { connectivity: "transit", provider: "$1", boundary: "external" },
      },
      {
        match: { interfaceDescription: "^(?<who>Peer|IX): (\\S+)" },
        set: { connectivity: "peering", provider: "$2 ${who}" },
        stop: true,
      },
      {
        match: { interfaceName: "^ae", speedMin: 100e9 },
        set: { connectivity: "core", boundary: "internal" },
      },
      {
        match: { exporterName: "^edge", ifIndex: [7] },
        set: { name: "renamed-$0", description: "Port seven" },
      },
      { set: { boundary: "internal" } },
    ],
    "y",
  );
  const c = new Classifier(exp, ifr);
  const e1 = c.exporter(ip("192.0.2.1"));
  assert.deepEqual(e1, { name: "edge1", role: "edge", site: "osaka", region: "jp", tenant: "" });
  assert.deepEqual(c.exporter(ip("2001:db8::9")), {
    name: "",
    role: "core",
    site: "osaka",
    region: "jp",
    tenant: "",
  });
  assert.deepEqual(c.exporter(ip("10.0.0.1")), { name: "", role: "", site: "", region: "jp", tenant: "" });
  const i1 = c.interface(ip("192.0.2.1"), e1, 3, {
    name: "xe-0/0/1",
    description: "Transit: NTT [10G]",
    speedBps: 10e9,
  });
  assert.deepEqual(i1, {
    name: "xe-0/0/1",
    description: "Transit: NTT [10G]",
    connectivity: "transit",
    provider: "ntt",
    boundary: "external",
  });
  const i2 = c.interface(ip("192.0.2.1"), e1, 4, { name: "et-1", description: "IX: JPNAP", speedBps: 0 });
  // stop: the catch-all boundary rule never runs.
  assert.deepEqual(i2, {
    name: "et-1",
    description: "IX: JPNAP",
    connectivity: "peering",
    provider: "jpnap ix",
    boundary: "",
  });
  const i3 = c.interface(ip("192.0.2.1"), e1, 5, { name: "ae1", description: "", speedBps: 400e9 });
  assert.equal(i3.connectivity, "core");
  assert.equal(i3.boundary, "internal");
  const i4 = c.interface(ip("192.0.2.1"), e1, 5, { name: "ae1", description: "", speedBps: 10e9 });
  assert.equal(i4.connectivity, "", "speedMin not met");
  const i5 = c.interface(ip("192.0.2.1"), e1, 7, { name: "ge-7", description: "old", speedBps: 1e9 });
  assert.equal(i5.description, "Port seven");
  assert.equal(i5.name, "renamed-$0", "$0 is not a group reference");
});

test("enrich config: defaults, validation errors name the key", () => {
  const d = validateConfig({}).enrich;
  assert.deepEqual(d.asOrder, ["flow", "routing", "geoip", "networks"]);
  assert.equal(d.enabled, true);
  const err = (raw: unknown): string => {
    try {
      validateEnrichConfig(raw);
    } catch (e) {
      assert.ok(e instanceof ConfigError);
      return e.message;
    }
    return "no error";
  };
  assert.match(err({ asOrder: ["flow", "bgp"] }), /enrich\.asOrder\[1\]: "bgp" — must be one of/);
  assert.match(err({ asOrder: ["flow", "flow"] }), /enrich\.asOrder: lists a source twice/);
  assert.match(err({ networkFile: "x" }), /enrich\.networkFile: unknown key/);
  assert.match(err({ geoipDatabases: [3] }), /enrich\.geoipDatabases\[0\]/);
  assert.match(
    err({ interfaceClassifiers: [{ match: { interfaceName: "(" }, set: { provider: "x" } }] }),
    /enrich\.interfaceClassifiers\[0\]\.match\.interfaceName: "\(" — Invalid regular expression/,
  );
  assert.match(
    err({ interfaceClassifiers: [{ set: { boundary: "outside" } }] }),
    /enrich\.interfaceClassifiers\[0\]\.set\.boundary: "outside" — must be external, internal or ""/,
  );
  assert.match(
    err({ exporterClassifiers: [{ match: { exporter: "10.0.0.0/40" }, set: { name: "x" } }] }),
    /exporter: "10\.0\.0\.0\/40" — prefix length/,
  );
  assert.match(
    err({ exporterClassifiers: [{ set: { colour: "x" } }] }),
    /exporterClassifiers\[0\]\.set\.colour: unknown key/,
  );
  assert.match(err({ interfaces: { nope: 1 } }), /enrich\.interfaces\.nope/);
  assert.match(err({ cacheSize: -1 }), /enrich\.cacheSize/);
  // Routing keys sit in the section and are validated by src/enrich/routing/config.ts.
  const withBmp = validateEnrichConfig({ bmp: { listen: "127.0.0.1:0" } });
  assert.equal(withBmp.bmp.enabled, true);
  assert.equal(withBmp.bmp.listen, "127.0.0.1:0");
  assert.match(err({ bmp: { colour: 1 } }), /enrich\.bmp\.colour/);
  // The validated section validates again unchanged (config layering re-validates merged sections).
  assert.deepEqual(validateEnrichConfig(structuredClone(withBmp)), withBmp);
});

// ---- the service, with in-memory routing / interface sources

function state(name: string, kind: string): SourceState {
  return { name, kind, status: "loaded", entries: 1, updatedMs: 0, errors: 0, lastError: null };
}

class FakeRouting implements RouteLookup, EnrichSource {
  readonly name = "routing";
  calls = 0;
  broken = false;
  readonly table = new PrefixTable<RouteInfo>();
  lookup(_exporter: string, addr: Uint8Array, off: number): RouteInfo | null {
    this.calls++;
    if (this.broken) throw new Error("rib exploded");
    return this.table.lookup(addr, off);
  }
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  state(): SourceState[] {
    return [state("bmp", "bmp")];
  }
}

class FakeInterfaces implements InterfaceLookup, EnrichSource {
  readonly name = "interfaces";
  calls = 0;
  readonly data = new Map<string, InterfaceInfo>();
  lookup(exporter: string, ifIndex: number): InterfaceInfo | null {
    this.calls++;
    return this.data.get(`${exporter}#${ifIndex}`) ?? null;
  }
  list(): ReadonlyMap<number, InterfaceInfo> {
    return new Map();
  }
  exporters(): string[] {
    return [];
  }
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  state(): SourceState[] {
    return [state("interfaces:static", "static")];
  }
}

function row(
  b: FlowBatch,
  f: {
    exp: string;
    src: string;
    dst: string;
    srcAs?: number;
    dstAs?: number;
    inIf?: number;
    outIf?: number;
    asPath?: string;
  },
): void {
  const i = b.length;
  const c = b.cols;
  c.exporter_address.set(ip(f.exp), i * 16);
  c.src_addr.set(ip(f.src), i * 16);
  c.dst_addr.set(ip(f.dst), i * 16);
  c.ip_version[i] = f.src.includes(":") ? 6 : 4;
  c.src_as[i] = f.srcAs ?? 0;
  c.dst_as[i] = f.dstAs ?? 0;
  c.in_if[i] = f.inIf ?? 0;
  c.out_if[i] = f.outIf ?? 0;
  c.as_path[i] = f.asPath ?? "";
  b.length++;
}

function route(originAs: number, extra: Partial<RouteInfo> = {}): RouteInfo {
  return {
    prefixLen: 24,
    originAs,
    asPath: `2914 ${originAs}`,
    communities: "2914:410",
    largeCommunities: "2914:1:2",
    nextHop: ip("192.0.2.254"),
    localPref: 200,
    ...extra,
  };
}

function cfg(over: Partial<EnrichConfig>): EnrichConfig {
  return { ...defaultEnrichConfig(), ...over };
}

test("service: AS order (flow, routing, networks), routing attributes, interfaces + classifier, caches", async () => {
  const routing = new FakeRouting();
  routing.table.set(parsePrefixText("198.51.100.0/24") as ParsedPrefix, route(64510));
  const ifs = new FakeInterfaces();
  ifs.data.set("192.0.2.1#3", { name: "xe-0/0/1", description: "Transit: NTT [10G]", speedBps: 10e9 });
  ifs.data.set("192.0.2.1#4", { name: "xe-0/0/2", description: "Cust: ACME", speedBps: 1e9 });
  const svc = new EnrichmentService({
    config: cfg({
      exporterClassifiers: validateExporterRules(
        [{ match: { exporter: "192.0.2.0/24" }, set: { name: "edge1", site: "osaka" } }],
        "e",
      ),
      interfaceClassifiers: validateInterfaceRules(
        [
          {
            match: { interfaceDescription: "^Transit: (\\S+)" },
            set: { connectivity: "transit", provider: "$1", boundary: "external" },
          },
          {
            match: { interfaceDescription: "^Cust: (\\S+)" },
            set: { connectivity: "customer", provider: "$1", boundary: "external" },
          },
        ],
        "i",
      ),
    }),
    routing,
    interfaces: ifs,
  });
  await svc.start();
  const b = new FlowBatch(16);
  row(b, { exp: "192.0.2.1", src: "203.0.113.1", dst: "198.51.100.7", inIf: 3, outIf: 4 }); // routing gives dst AS
  row(b, {
    exp: "192.0.2.1",
    src: "203.0.113.1",
    dst: "198.51.100.7",
    dstAs: 65000,
    asPath: "1 2",
    inIf: 3,
    outIf: 4,
  }); // flow wins
  row(b, { exp: "192.0.2.1", src: "203.0.113.1", dst: "10.0.0.1", inIf: 9 }); // unknown interface, no route
  svc.consume(b);
  const c = b.cols;
  assert.equal(c.dst_as[0], 64510);
  assert.equal(c.as_path[0], "2914 64510");
  assert.equal(c.bgp_communities[0], "2914:410");
  assert.equal(c.bgp_large_communities[0], "2914:1:2");
  assert.equal(c.local_pref[0], 200);
  assert.equal(c.dst_prefix_len[0], 24);
  assert.deepEqual([...c.bgp_next_hop.subarray(0, 16)], [...ip("192.0.2.254")]);
  assert.equal(c.dst_as[1], 65000, "the flow's own AS comes first");
  assert.equal(c.as_path[1], "1 2", "the flow's own AS path is kept");
  assert.equal(c.dst_as[2], 0);
  for (let i = 0; i < 3; i++) {
    assert.equal(c.exporter_name[i], "edge1");
    assert.equal(c.exporter_site[i], "osaka");
  }
  assert.equal(c.in_if_name[0], "xe-0/0/1");
  assert.equal(c.in_if_speed[0], 10e9);
  assert.equal(c.in_if_connectivity[0], "transit");
  assert.equal(c.in_if_provider[0], "ntt");
  assert.equal(c.in_if_boundary[0], "external");
  assert.equal(c.out_if_connectivity[0], "customer");
  assert.equal(c.out_if_provider[0], "acme");
  assert.equal(c.out_if_description[1], "Cust: ACME");
  assert.equal(c.in_if_name[2], "");
  assert.equal(c.in_if_connectivity[2], "");
  // Interface lookups are cached: 3 distinct (exporter, ifIndex) pairs, not 6 rows × lookups.
  assert.equal(ifs.calls, 3);
  // Routing order: "routing" before "flow" overrides the flow's AS.
  const svc2 = new EnrichmentService({ config: cfg({ asOrder: ["routing", "flow"] }), routing });
  const b2 = new FlowBatch(4);
  row(b2, { exp: "192.0.2.1", src: "203.0.113.1", dst: "198.51.100.7", dstAs: 65000, asPath: "1 2" });
  svc2.consume(b2);
  assert.equal(b2.cols.dst_as[0], 64510);
  assert.equal(b2.cols.as_path[0], "2914 64510");
  // A source left out of asOrder is not used for AS numbers.
  const svc3 = new EnrichmentService({ config: cfg({ asOrder: ["flow"] }), routing });
  const b3 = new FlowBatch(4);
  row(b3, { exp: "192.0.2.1", src: "203.0.113.1", dst: "198.51.100.7" });
  svc3.consume(b3);
  assert.equal(b3.cols.dst_as[0], 0);
  await svc.stop();
});

test("service: interface changes are picked up after the re-check interval", () => {
  let now = 1_000_000;
  const ifs = new FakeInterfaces();
  ifs.data.set("192.0.2.1#3", { name: "xe-0/0/1", description: "Transit: NTT", speedBps: 0 });
  const svc = new EnrichmentService({
    config: cfg({
      interfaceClassifiers: validateInterfaceRules(
        [{ match: { interfaceDescription: "^Transit: (\\S+)" }, set: { provider: "$1" } }],
        "i",
      ),
    }),
    interfaces: ifs,
    now: () => now,
  });
  const run = (): FlowBatch => {
    const b = new FlowBatch(2);
    row(b, { exp: "192.0.2.1", src: "10.0.0.1", dst: "10.0.0.2", inIf: 3 });
    svc.consume(b);
    return b;
  };
  assert.equal(run().cols.in_if_provider[0], "ntt");
  ifs.data.set("192.0.2.1#3", { name: "xe-0/0/1", description: "Transit: Arelion", speedBps: 0 });
  assert.equal(run().cols.in_if_provider[0], "ntt", "cached within the interval");
  now += 1500;
  assert.equal(run().cols.in_if_provider[0], "arelion");
});

test("service: a throwing source yields unknown values, counts errors, the batch goes on", () => {
  const routing = new FakeRouting();
  routing.table.set(parsePrefixText("198.51.100.0/24") as ParsedPrefix, route(64510));
  routing.broken = true;
  const svc = new EnrichmentService({
    config: cfg({ exporterClassifiers: validateExporterRules([{ set: { name: "r" } }], "e") }),
    routing,
  });
  const b = new FlowBatch(4);
  row(b, { exp: "192.0.2.1", src: "203.0.113.1", dst: "198.51.100.7" });
  row(b, { exp: "192.0.2.1", src: "203.0.113.1", dst: "198.51.100.8", dstAs: 7 });
  assert.doesNotThrow(() => svc.consume(b));
  assert.equal(b.cols.dst_as[0], 0);
  assert.equal(b.cols.dst_as[1], 7);
  assert.equal(b.cols.exporter_name[1], "r", "other sources still fill their columns");
  assert.equal(svc.metrics().enrich_errors, 4); // src + dst lookups of 2 rows
  const st = svc.states().find((s) => s.name === "bmp")!;
  assert.equal(st.errors, 4);
  assert.equal(st.lastError, "rib exploded");
  assert.equal(svc.metrics().enrich_flows, 2);
});
