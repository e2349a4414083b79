// `npm run bench -- enrich [--seconds S] [--networks N] [--geo N] [--runs R] [--ribv4 N] [--ribv6 N]`
// — what enrichment costs the collector (issue 8: "collector throughput with
// all enrichment on, next to the figure with it off; at most 25 % slower").
//
//   1. decode + enrich: the synthetic IPFIX stream of the decode bench
//      (bench/synth.ts, 20 fields, ~1400-byte packets, 512 packets so ~18 k
//      distinct source addresses) decoded by one FlowDecoder on one core, the
//      batches (recycled through a BatchPool of 2048 rows, as the collector
//      does) handed to the EnrichmentService (on) or dropped (off); runs
//      alternate off/on so machine noise hits both; throughput is per second
//      of this process's CPU time (the machine may be shared). "All on" is: a networks
//      file (--networks prefixes, IPv4 + IPv6), an AS-names file (70 k ASes),
//      GeoLite2-layout Country and ASN databases (--geo prefixes each,
//      written by test/tools/mmdbgen: needs NAGARE_MMDBGEN, see
//      .ci/setup.d/45-mmdb.sh), exporter and interface classifier rules,
//      static interfaces, and routing: a generated full-size table (--ribv4
//      1 M + --ribv6 200 k routes, the generator of bench/enrich-rib.ts)
//      loaded into the RIB of the stream's exporter before timing, so each
//      flow needs two routes (kept per address in the service's AddrCache
//      with the RIB's generation; looked up, through the RIB's lookup cache,
//      only on an address-cache miss) and the BGP columns. Prints the
//      address-cache hit rate and the RIB cache's over the lookups made. The bare RIB (memory, uncached lookups): `npm run bench -- rib`.
//   2. lookup cost per flow: prebuilt 4096-row FlowBatches whose addresses
//      are drawn from pools of 1 k / 100 k / 1 M distinct addresses, one
//      source at a time and all together, GeoIP with its per-address cache
//      off (every lookup walks the .mmdb tree) and routing with the RIB's
//      lookup cache on and off — CPU ns per flow. Every
//      variant includes the exporter / interface pass (the interface source
//      is always present), and the pools are uniform: a worst case for the
//      per-address cache, real traffic repeats addresses far more.
// Prints tables and writes bench/results-enrich.json.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { BatchPool, FlowBatch } from "../src/collector/batch.js";
import { FlowDecoder } from "../src/collector/decoder.js";
import { putIpv4 } from "../src/collector/ip.js";
import { CollectorStats } from "../src/collector/stats.js";
import { RecordSink } from "../src/collector/types.js";
import { validateEnrichConfig, type EnrichConfig } from "../src/enrich/config.js";
import { createInterfaceSource } from "../src/enrich/interfaces/index.js";
import { RoutingTables } from "../src/enrich/routing/tables.js";
import type { Rib } from "../src/enrich/routing/rib.js";
import { EnrichmentService, type RibRouting } from "../src/enrich/service.js";
import type { EnrichSource, RouteLookup } from "../src/enrich/types.js";
import { loadGeneratedTable } from "./enrich-rib.js";
import { writeMmdb } from "../test/helpers/mmdb.js";
import { BENCH_SRC } from "./stream.js";
import { ipfixPackets } from "./synth.js";

interface Args {
  seconds: number;
  networks: number;
  geo: number;
  runs: number;
  /** Generated routing table loaded for the bench exporter (bench/enrich-rib.ts). */
  ribv4: number;
  ribv6: number;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { seconds: 3, networks: 10_000, geo: 20_000, runs: 2, ribv4: 1_000_000, ribv6: 200_000 };
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i]!.replace(/^--/, "") as keyof Args;
    const v = Number(argv[i + 1]);
    // --ribv4 0 --ribv6 0: no routes (routing lookups then find no RIB to walk).
    if (!(k in a) || !Number.isFinite(v) || v < 0 || (v === 0 && k !== "ribv4" && k !== "ribv6"))
      throw new Error(`bench enrich: bad argument ${argv[i]} ${argv[i + 1]}`);
    a[k] = v;
  }
  return a;
}

class Rng {
  constructor(private s: number) {}
  next(): number {
    this.s = (this.s * 1664525 + 1013904223) >>> 0;
    return this.s;
  }
}

const ip4 = (w: number): string => `${w >>> 24}.${(w >>> 16) & 255}.${(w >>> 8) & 255}.${w & 255}`;

/** Data files in `dir`; returns the enrich section for them. */
export function writeSources(dir: string, a: Args): EnrichConfig {
  return validateEnrichConfig(writeSourcesRaw(dir, a, BENCH_SRC.exporter));
}

/**
 * The "all on" sources written into `dir`, as the `enrich` section of a
 * config file (unvalidated); static interfaces for `exporter`. Also used by
 * `bench receive --enrich` (bench/receive.ts) for the forked collector.
 */
export function writeSourcesRaw(
  dir: string,
  a: Pick<Args, "networks" | "geo">,
  exporter: string,
): Record<string, unknown> {
  const rng = new Rng(42);
  // Networks: random /16../28 prefixes over 10/8 (where the synthetic sources live), 192.168/16 and 2001:db8::/32.
  const lines = ["prefix,name,role,site,tenant,asn"];
  for (let i = 0; i < a.networks; i++) {
    if (i % 10 === 9) {
      const len = 40 + (rng.next() % 25);
      lines.push(
        `2001:db8:${(rng.next() & 0xffff).toString(16)}::/${len},v6-${i},customer,s${i % 7},t${i % 3},${64512 + (i % 1000)}`,
      );
      continue;
    }
    const len = 16 + (rng.next() % 13);
    const base = i % 3 === 0 ? (192 << 24) | (168 << 16) : (10 << 24) | ((rng.next() & 0xff) << 16);
    const w = (base | (rng.next() & 0xffff)) & (len === 0 ? 0 : (~0 << (32 - len)) >>> 0);
    lines.push(`${ip4(w >>> 0)}/${len},net-${i},customer,s${i % 7},t${i % 3},${64512 + (i % 1000)}`);
  }
  writeFileSync(join(dir, "networks.csv"), lines.join("\n") + "\n");
  const names = Array.from({ length: 70_000 }, (_, i) => `AS${i + 1} NAME-${i + 1}, ZZ`);
  writeFileSync(join(dir, "asnames.txt"), names.join("\n") + "\n");
  const countries = ["JP", "US", "DE", "FR", "GB", "NL", "SG", "BR"];
  const prefixes = (n: number): string[] => {
    const out = new Set<string>();
    while (out.size < n) {
      const len = 12 + (rng.next() % 13);
      const w = ((rng.next() >>> 0) & ((~0 << (32 - len)) >>> 0)) >>> 0;
      out.add(`${ip4(w)}/${len}`);
    }
    // The synthetic traffic's ranges, so lookups hit.
    out.add("10.0.0.0/12").add("192.168.0.0/16");
    return [...out];
  };
  writeMmdb(join(dir, "country.mmdb"), {
    databaseType: "GeoLite2-Country",
    networks: prefixes(a.geo).map((prefix, i) => ({
      prefix,
      data: { country: { iso_code: countries[i % countries.length], geoname_id: i, names: { en: "x" } } },
    })),
  });
  writeMmdb(join(dir, "asn.mmdb"), {
    databaseType: "GeoLite2-ASN",
    networks: prefixes(a.geo).map((prefix, i) => ({
      prefix,
      data: { autonomous_system_number: (i % 70_000) + 1, autonomous_system_organization: `ORG-${i}` },
    })),
  });
  const ifs: Record<string, { name: string; description: string; speedBps: number }> = {};
  for (let k = 0; k < 256; k++)
    ifs[String(k)] = {
      name: `xe-0/0/${k}`,
      description: k % 4 === 0 ? `Transit: P${k % 5}` : k % 4 === 1 ? `Peer: IX${k % 3}` : `Cust: C${k}`,
      speedBps: 10e9,
    };
  return {
    networksFile: join(dir, "networks.csv"),
    asNamesFile: join(dir, "asnames.txt"),
    geoipDatabases: [join(dir, "country.mmdb"), join(dir, "asn.mmdb")],
    pollSeconds: 0,
    exporterClassifiers: [
      { match: { exporter: "10.0.0.0/8" }, set: { role: "core" } },
      // The exporter of `bench receive --enrich` (loopback).
      { match: { exporter: "127.0.0.0/8" }, set: { name: "bench", role: "edge", site: "lo" } },
      {
        match: { exporter: "192.0.2.0/24" },
        set: { name: "edge1", role: "edge", site: "osaka", region: "jp" },
      },
    ],
    interfaceClassifiers: [
      {
        match: { interfaceDescription: "^Transit: (\\S+)" },
        set: { connectivity: "transit", provider: "$1", boundary: "external" },
      },
      {
        match: { interfaceDescription: "^Peer: (\\S+)" },
        set: { connectivity: "peering", provider: "$1", boundary: "external" },
      },
      {
        match: { interfaceDescription: "^Cust: (\\S+)" },
        set: { connectivity: "customer", provider: "$1", boundary: "external" },
      },
      { set: { boundary: "internal" } },
    ],
    interfaces: { static: { [exporter]: ifs } },
  };
}

/**
 * A routing source over one RIB holding a generated full-size table for the
 * bench stream's exporter (as a BMP router's would be), loaded before timing.
 */
export function benchRouting(a: Args): { source: RouteLookup & EnrichSource; rib: Rib } {
  const tables = new RoutingTables({}, false);
  const router = tables.add("bmp", BENCH_SRC.exporter);
  loadGeneratedTable(router, a.ribv4, a.ribv6);
  // router(): the service then caches each address's route (with the RIB's generation) in its AddrCache.
  const source: RouteLookup & EnrichSource & RibRouting = {
    name: "routing",
    lookup: (exporter, addr, off) => tables.lookup(exporter, addr, off),
    router: (exporter) => tables.router(exporter),
    start: async () => {},
    stop: async () => {},
    state: () => [router.baseState("bmp", "loaded")],
  };
  return { source, rib: router.rib };
}

export async function service(
  cfg: EnrichConfig,
  routing: (RouteLookup & EnrichSource) | null = null,
): Promise<EnrichmentService> {
  const svc = new EnrichmentService({
    config: cfg,
    interfaces: createInterfaceSource(cfg.interfaces),
    routing,
  });
  await svc.start();
  for (const s of svc.states())
    if (s.status === "error") throw new Error(`bench enrich: source ${s.name}: ${s.lastError ?? "error"}`);
  return svc;
}

/** Decode the synthetic IPFIX stream for `seconds`; batches to `onBatch`. Records/s. */
export function decodeRun(onBatch: (b: FlowBatch) => void, seconds: number): number {
  const stats = new CollectorStats();
  const dec = new FlowDecoder({ stats });
  const p = ipfixPackets(512);
  // Recycled batches, as the collector's (src/collector/service.ts: BatchPool of 2048 rows).
  const sink = new RecordSink(
    onBatch,
    () => {},
    2048,
    () => {},
    new BatchPool(2048),
  );
  dec.decode(p.template, BENCH_SRC, sink);
  const loop = (ms: number): number => {
    const until = cpuMs() + ms;
    let n = 0;
    while (cpuMs() < until) for (const d of p.data) n += dec.decode(d, BENCH_SRC, sink);
    sink.flush();
    return n;
  };
  loop(500);
  const t0 = cpuMs();
  const n = loop(seconds * 1000);
  return n / ((cpuMs() - t0) / 1000);
}

/** Prebuilt batches: addresses from a pool of `distinct` (IPv4 in 10/8 and 192.168/16, 10 % IPv6). */
export function batches(distinct: number, rows: number): FlowBatch[] {
  const rng = new Rng(distinct);
  const pool = Array.from({ length: distinct }, () => rng.next());
  const out: FlowBatch[] = [];
  for (let done = 0; done < rows;) {
    const b = new FlowBatch(4096);
    const c = b.cols;
    for (let i = 0; i < 4096; i++) {
      const o = i * 16;
      c.exporter_address.set(BENCH_SRC.exporterIp, o);
      const s = pool[rng.next() % distinct]!;
      const d = pool[rng.next() % distinct]!;
      if (s % 10 === 0) {
        c.ip_version[i] = 6;
        c.src_addr.set(
          [0x20, 0x01, 0x0d, 0xb8, s & 0xff, (s >>> 8) & 0xff, 0, 0, 0, 0, 0, 0, s >>> 24, 1, 2, 3],
          o,
        );
        c.dst_addr.set(
          [0x20, 0x01, 0x0d, 0xb8, d & 0xff, (d >>> 8) & 0xff, 0, 0, 0, 0, 0, 0, d >>> 24, 1, 2, 3],
          o,
        );
      } else {
        c.ip_version[i] = 4;
        putIpv4(
          c.src_addr,
          o,
          s % 3 === 0
            ? ((192 << 24) | (168 << 16) | (s & 0xffff)) >>> 0
            : ((10 << 24) | (s & 0xffffff)) >>> 0,
        );
        putIpv4(
          c.dst_addr,
          o,
          d % 3 === 0
            ? ((192 << 24) | (168 << 16) | (d & 0xffff)) >>> 0
            : ((10 << 24) | (d & 0xffffff)) >>> 0,
        );
      }
      c.in_if[i] = s & 0xff;
      c.out_if[i] = d & 0xff;
    }
    b.length = 4096;
    out.push(b);
    done += 4096;
  }
  return out;
}

/** ns per flow of `svc` over `bs` (one warm pass, then timed passes for ~`ms`). */
export function perFlow(svc: EnrichmentService, bs: FlowBatch[], ms: number): number {
  for (const b of bs) svc.consume(b);
  let flows = 0;
  const c0 = cpuMs();
  while (cpuMs() - c0 < ms) {
    for (const b of bs) svc.consume(b);
    flows += bs.length * 4096;
  }
  return ((cpuMs() - c0) * 1e6) / flows;
}

/**
 * This process's CPU time in ms (user + system). The machine may be shared:
 * wall time would charge other processes' time slices to the code measured.
 */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

function table(head: string[], rows: string[][]): string {
  const w = head.map((h, k) => Math.max(h.length, ...rows.map((r) => (r[k] ?? "").length)));
  const fmt = (r: string[]): string => "| " + r.map((c, k) => c.padEnd(w[k]!)).join(" | ") + " |";
  return [fmt(head), "|" + w.map((n) => "-".repeat(n + 2)).join("|") + "|", ...rows.map(fmt)].join("\n");
}

export async function runEnrichPart(machine: Record<string, unknown>, argv: string[]): Promise<void> {
  const a = parseArgs(argv);
  const dir = mkdtempSync(join(tmpdir(), "nagare-bench-enrich-"));
  try {
    const cfg = writeSources(dir, a);
    const t0 = cpuMs();
    const routing = benchRouting(a);
    console.log(
      `routing: ${routing.rib.routesV4} IPv4 + ${routing.rib.routesV6} IPv6 generated routes loaded for exporter ` +
        `${BENCH_SRC.exporter} in ${((cpuMs() - t0) / 1000).toFixed(1)} s CPU`,
    );
    const all = await service(cfg, routing.source);
    console.log(
      `Decode + enrich (synthetic IPFIX, one core; ${a.networks} networks, ${a.geo} GeoIP prefixes per database, ` +
        `${cfg.exporterClassifiers.length + cfg.interfaceClassifiers.length} classifier rules, ` +
        `routing over ${a.ribv4 + a.ribv6} routes; ${a.runs} × ${a.seconds} s each, alternating)`,
    );
    const off: number[] = [];
    const on: number[] = [];
    const m0 = all.metrics();
    const r0 = [routing.rib.cacheHits, routing.rib.cacheMisses];
    for (let r = 0; r < a.runs; r++) {
      off.push(decodeRun(() => {}, a.seconds));
      on.push(decodeRun((b) => all.consume(b), a.seconds));
    }
    const m1 = all.metrics();
    const addrHits = m1.enrich_geoip_cache_hits! - m0.enrich_geoip_cache_hits!;
    const addrMiss = m1.enrich_geoip_cache_misses! - m0.enrich_geoip_cache_misses!;
    const ribHits = routing.rib.cacheHits - r0[0]!;
    const ribMiss = routing.rib.cacheMisses - r0[1]!;
    const pct = (h: number, m: number): string => ((100 * h) / Math.max(1, h + m)).toFixed(1) + " %";
    const best = (xs: number[]): number => Math.max(...xs);
    const slower = 1 - best(on) / best(off);
    console.log(
      table(
        ["enrichment", "records/s (best run)", "runs"],
        [
          ["off", (best(off) / 1e6).toFixed(2) + " M", off.map((x) => (x / 1e6).toFixed(2)).join(", ")],
          ["all on", (best(on) / 1e6).toFixed(2) + " M", on.map((x) => (x / 1e6).toFixed(2)).join(", ")],
        ],
      ),
    );
    const addedNs = 1e9 / best(on) - 1e9 / best(off);
    console.log(
      `  all on is ${(slower * 100).toFixed(1)} % slower (target: at most 25 %); enrichment adds ${addedNs.toFixed(0)} ns per flow ` +
        `to ${(1e9 / best(off)).toFixed(0)} ns of decode (CPU time, best runs); cache hit rates over the stream: ` +
        `addresses ${pct(addrHits, addrMiss)}, RIB lookups ${ribHits + ribMiss} (on address misses), their RIB-cache hits ${pct(ribHits, ribMiss)}\n`,
    );

    console.log("Lookup cost per flow (4096-row batches, addresses from a pool of N distinct; ns per flow)");
    // Every source off but those in `over` (and routing, when given).
    const only = async (
      over: Partial<EnrichConfig>,
      routes: (RouteLookup & EnrichSource) | null = null,
    ): Promise<EnrichmentService> =>
      service(
        {
          ...cfg,
          networksFile: "",
          asNamesFile: "",
          geoipDatabases: [],
          exporterClassifiers: [],
          interfaceClassifiers: [],
          interfaces: { ...cfg.interfaces, static: {} },
          ...over,
        },
        routes,
      );
    const routed = await only({}, routing.source);
    // [name, service, RIB lookup cache on]
    const variants: [string, EnrichmentService, boolean][] = [
      ["networks file", await only({ networksFile: cfg.networksFile }), true],
      ["GeoIP (cached)", await only({ geoipDatabases: cfg.geoipDatabases }), true],
      ["GeoIP (no address cache)", await only({ geoipDatabases: cfg.geoipDatabases, cacheSize: 0 }), true],
      ["routing (cached)", routed, true],
      ["routing (no cache)", routed, false],
      [
        "interfaces + classifiers",
        await only({
          interfaces: cfg.interfaces,
          exporterClassifiers: cfg.exporterClassifiers,
          interfaceClassifiers: cfg.interfaceClassifiers,
        }),
        true,
      ],
      ["all on", all, true],
    ];
    const pools = [1_000, 100_000, 1_000_000];
    const rowsOut: string[][] = [];
    const lookup: Record<string, Record<string, number>> = {};
    for (const [name, svc, ribCache] of variants) {
      const r: string[] = [name];
      routing.rib.useCache = ribCache;
      for (const n of pools) {
        const bs = batches(n, 65_536);
        const ns = perFlow(svc, bs, Math.min(1500, a.seconds * 500));
        (lookup[name] ??= {})[String(n)] = ns;
        r.push(ns.toFixed(0));
      }
      rowsOut.push(r);
    }
    routing.rib.useCache = true;
    console.log(table(["source", ...pools.map((n) => `${n.toLocaleString("en-US")} addrs`)], rowsOut));
    const out = {
      machine,
      args: a,
      decode: {
        offRecordsPerSecond: off,
        onRecordsPerSecond: on,
        slowerFraction: slower,
        addedNsPerFlow: addedNs,
        addrCacheHitRate: addrHits / Math.max(1, addrHits + addrMiss),
        routeCacheHitRate: ribHits / Math.max(1, ribHits + ribMiss),
      },
      routes: { v4: routing.rib.routesV4, v6: routing.rib.routesV6 },
      lookupNsPerFlow: lookup,
      metrics: all.metrics(),
    };
    // From dist/bench/ (npm run bench), write beside the sources, as the other parts do.
    const here = dirname(fileURLToPath(import.meta.url));
    const file = import.meta.url.endsWith(".ts")
      ? join(here, "results-enrich.json")
      : join(here, "..", "..", "bench", "results-enrich.json");
    writeFileSync(file, JSON.stringify(out, null, 2) + "\n");
    console.log(`\nwrote ${file}`);
    for (const svc of new Set(variants.map((v) => v[1]))) await svc.stop();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
