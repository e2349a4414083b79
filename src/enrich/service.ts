// EnrichmentService: the first pipeline consumer. It fills the enrichment
// columns of each FlowBatch in place, synchronously, so the store, detection,
// the live view and the bus all see enriched rows (src/enrich/types.ts has the
// picture; docs/enrichment.md the user's view).
//
// Per flow, in this order:
//   exporter   exporter_name/role/site/region/tenant  classifier rules, cached per exporter
//   interfaces in/out_if_name/description/speed,      InterfaceLookup (E3) + classifier rules,
//              connectivity/provider/boundary         cached per (exporter, ifIndex), re-checked ≤ 1/s
//   addresses  src/dst_as (+ routing attributes),     enrich.asOrder over flow fields, RouteLookup (E1),
//              src/dst_net_*, src/dst_country,        GeoIP (cached per address) and the networks file;
//              src/dst_as_name                        AS names from the AS-names file, else GeoIP ASN
//
// Why caches: the per-flow budget is a few hundred nanoseconds (target: at
// most 25 % below the collector's throughput without enrichment). Exporters
// and interfaces are few, so their tags are computed once and each flow costs
// one Map probe; GeoIP answers need the address as text (mmdb-lib's API), so
// they are cached per distinct address. The networks file is a per-length
// hash lookup (prefixes.ts), cheap enough per flow.
//
// Never throws into the pipeline: a source that throws answers ""/0 for that
// flow and counts an error (metrics, and the source's state via `errors`).
import type { FlowBatch } from "../collector/batch.js";
import { formatIp } from "../collector/ip.js";
import { silentLogger, type Logger } from "../log.js";
import type { FlowConsumer } from "../pipeline/index.js";
import { AsNamesSource } from "./asnames.js";
import { Classifier, EMPTY_EXPORTER, type ExporterTags, type InterfaceTags } from "./classify.js";
import type { AsSource, EnrichConfig } from "./config.js";
import { GeoIp, NO_GEO, type GeoAnswer } from "./geoip.js";
import { NetworksSource, type NetworkInfo } from "./networks.js";
import type {
  EnrichSource,
  InterfaceInfo,
  InterfaceLookup,
  RouteInfo,
  RouteLookup,
  SourceState,
} from "./types.js";

/** How often a cached interface is looked up again (names change rarely; SNMP polls hourly). */
const IF_RECHECK_MS = 1000;
/**
 * Cache bounds: flow records are unauthenticated UDP, so exporter addresses
 * and ifIndexes may be spoofed; a full cache is dropped and rebuilt (entries
 * are cheap to recompute), never grown without bound.
 */
const MAX_EXPORTERS = 10_000;
const MAX_IFACES_PER_EXPORTER = 100_000;

interface IfEntry {
  checkedMs: number;
  /** The looked-up info the tags were computed from (compared on re-check). */
  name: string;
  description: string;
  speedBps: number;
  tags: InterfaceTags;
}

interface ExporterEntry {
  text: string;
  bytes: Uint8Array;
  tags: ExporterTags;
  ifaces: Map<number, IfEntry>;
}

const NO_IF: InterfaceTags = Object.freeze({
  name: "",
  description: "",
  connectivity: "",
  provider: "",
  boundary: "",
});
const NO_IF_ENTRY: IfEntry = Object.freeze({
  checkedMs: Infinity,
  name: "",
  description: "",
  speedBps: 0,
  tags: NO_IF,
});

export interface EnrichmentServiceOptions {
  config: EnrichConfig;
  /** Routing data (BMP/BGP, src/enrich/routing); null = none. */
  routing?: (RouteLookup & EnrichSource) | null;
  /** Interface data (options, SNMP, static, src/enrich/interfaces); null = none. */
  interfaces?: (InterfaceLookup & EnrichSource) | null;
  log?: Logger;
  /** Clock (tests). */
  now?: () => number;
}

const AS_FLOW = 0;
const AS_ROUTING = 1;
const AS_GEOIP = 2;
const AS_NETWORKS = 3;
const AS_CODE: Record<AsSource, number> = {
  flow: AS_FLOW,
  routing: AS_ROUTING,
  geoip: AS_GEOIP,
  networks: AS_NETWORKS,
};

export class EnrichmentService implements FlowConsumer {
  readonly name = "enrich";
  readonly config: EnrichConfig;
  readonly networks: NetworksSource | null;
  readonly asNames: AsNamesSource | null;
  readonly geoip: GeoIp | null;
  readonly classifier: Classifier;
  readonly routing: (RouteLookup & EnrichSource) | null;
  readonly interfaces: (InterfaceLookup & EnrichSource) | null;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly asOrder: number[];
  /** "routing" comes before "flow" in asOrder: routing attributes override the exporter's. */
  private readonly routingFirst: boolean;
  private readonly exporters4 = new Map<number, ExporterEntry>();
  private readonly exporters6 = new Map<string, ExporterEntry>();
  private readonly geo4 = new Map<number, GeoAnswer>();
  private readonly geo6 = new Map<string, GeoAnswer>();
  private geoGen = -1;
  private readonly errorsBySource = new Map<string, number>();
  private readonly lastErrorBySource = new Map<string, string>();
  // metrics
  flows = 0;
  batches = 0;
  errors = 0;
  geoHits = 0;
  geoMisses = 0;
  /** Nanoseconds spent enriching (for the per-flow cost in /metrics). */
  busyNs = 0;

  constructor(opts: EnrichmentServiceOptions) {
    const cfg = (this.config = opts.config);
    this.log = opts.log ?? silentLogger;
    this.now = opts.now ?? Date.now;
    const pollMs = cfg.pollSeconds * 1000;
    this.networks = cfg.networksFile ? new NetworksSource(cfg.networksFile, pollMs) : null;
    this.asNames = cfg.asNamesFile ? new AsNamesSource(cfg.asNamesFile, pollMs) : null;
    this.geoip = cfg.geoipDatabases.length ? new GeoIp(cfg.geoipDatabases, pollMs) : null;
    this.classifier = new Classifier(cfg.exporterClassifiers, cfg.interfaceClassifiers);
    this.routing = opts.routing ?? null;
    this.interfaces = opts.interfaces ?? null;
    this.asOrder = cfg.asOrder.map((s) => AS_CODE[s]);
    const r = cfg.asOrder.indexOf("routing");
    const f = cfg.asOrder.indexOf("flow");
    this.routingFirst = r >= 0 && (f < 0 || r < f);
  }

  /**
   * Every source starts here, as the pipeline starts its consumers: files are
   * loaded before the first flow; routing sessions and SNMP polls begin.
   */
  async start(): Promise<void> {
    await this.routing?.start();
    await this.interfaces?.start();
    await Promise.all([
      this.networks?.start(),
      this.asNames?.start(),
      ...(this.geoip?.dbs.map((d) => d.start()) ?? []),
    ]);
  }

  async stop(): Promise<void> {
    await this.interfaces?.stop();
    await this.routing?.stop();
    await Promise.all([
      this.networks?.stop(),
      this.asNames?.stop(),
      ...(this.geoip?.dbs.map((d) => d.stop()) ?? []),
    ]);
  }

  /** Every source's state, for /api/v1/enrichment and the Exporters page. */
  states(): SourceState[] {
    const out: SourceState[] = [];
    const add = (s: SourceState, key = s.name): void => {
      const extra = this.errorsBySource.get(key) ?? 0;
      if (extra > 0) {
        s.errors += extra;
        s.lastError ??= this.lastErrorBySource.get(key) ?? null;
      }
      out.push(s);
    };
    if (this.routing) for (const s of this.safeStates(this.routing)) add(s, "routing");
    if (this.interfaces) for (const s of this.safeStates(this.interfaces)) add(s, "interfaces");
    if (this.networks) add(this.networks.state());
    if (this.asNames) add(this.asNames.state());
    if (this.geoip) for (const d of this.geoip.dbs) add(d.state(), "geoip");
    add(this.classifier.state());
    return out;
  }

  private safeStates(src: EnrichSource): SourceState[] {
    try {
      return src.state();
    } catch (err) {
      return [
        {
          name: src.name,
          kind: "unknown",
          status: "error",
          entries: 0,
          updatedMs: null,
          errors: 1,
          lastError: `state(): ${String(err)}`,
        },
      ];
    }
  }

  metrics(): Record<string, number> {
    return {
      enrich_flows: this.flows,
      enrich_batches: this.batches,
      enrich_errors: this.errors,
      enrich_geoip_cache_hits: this.geoHits,
      enrich_geoip_cache_misses: this.geoMisses,
      enrich_geoip_cache_entries: this.geo4.size + this.geo6.size,
      enrich_exporters: this.exporters4.size + this.exporters6.size,
      enrich_ns_per_flow: this.flows ? Math.round(this.busyNs / this.flows) : 0,
    };
  }

  private sourceError(source: string, err: unknown): void {
    this.errors++;
    this.errorsBySource.set(source, (this.errorsBySource.get(source) ?? 0) + 1);
    const msg = err instanceof Error ? err.message : String(err);
    this.lastErrorBySource.set(source, msg);
    this.log.limited(`enrich:${source}`, "warn", "enrichment source failed; flows get unknown values", {
      source,
      error: msg,
    });
  }

  consume(batch: FlowBatch): void {
    const t0 = process.hrtime.bigint();
    try {
      this.enrich(batch);
    } catch (err) {
      // A bug here must not cost the flows: they go on unenriched.
      this.sourceError("enrich", err);
    }
    this.busyNs += Number(process.hrtime.bigint() - t0);
    this.batches++;
    this.flows += batch.length;
  }

  private exporterOf(a: Uint8Array, off: number): ExporterEntry {
    const mapped =
      a[off] === 0 &&
      a[off + 1] === 0 &&
      a[off + 2] === 0 &&
      a[off + 3] === 0 &&
      a[off + 4] === 0 &&
      a[off + 5] === 0 &&
      a[off + 6] === 0 &&
      a[off + 7] === 0 &&
      a[off + 8] === 0 &&
      a[off + 9] === 0 &&
      a[off + 10] === 0xff &&
      a[off + 11] === 0xff;
    if (mapped) {
      const w = (a[off + 12]! << 24) | (a[off + 13]! << 16) | (a[off + 14]! << 8) | a[off + 15]!;
      let e = this.exporters4.get(w);
      if (!e) {
        if (this.exporters4.size >= MAX_EXPORTERS) this.exporters4.clear();
        this.exporters4.set(w, (e = this.newExporter(a, off)));
      }
      return e;
    }
    const text = formatIp(a, off);
    let e = this.exporters6.get(text);
    if (!e) {
      if (this.exporters6.size >= MAX_EXPORTERS) this.exporters6.clear();
      this.exporters6.set(text, (e = this.newExporter(a, off)));
    }
    return e;
  }

  private newExporter(a: Uint8Array, off: number): ExporterEntry {
    const bytes = a.slice(off, off + 16);
    let tags = EMPTY_EXPORTER;
    try {
      tags = this.classifier.exporter(bytes);
    } catch (err) {
      this.sourceError("classifier", err);
    }
    return { text: formatIp(bytes, 0), bytes, tags, ifaces: new Map() };
  }

  /** Interface tags of (exporter, ifIndex), from the cache when checked within IF_RECHECK_MS. */
  private ifaceOf(e: ExporterEntry, ifIndex: number, now: number): IfEntry {
    if (ifIndex === 0) return NO_IF_ENTRY;
    const cached = e.ifaces.get(ifIndex);
    if (cached && now - cached.checkedMs < IF_RECHECK_MS) return cached;
    let info: InterfaceInfo | null = null;
    if (this.interfaces) {
      try {
        info = this.interfaces.lookup(e.text, ifIndex);
      } catch (err) {
        this.sourceError("interfaces", err);
      }
    }
    const name = info?.name ?? "";
    const description = info?.description ?? "";
    const speedBps = info?.speedBps ?? 0;
    if (
      cached &&
      cached.name === name &&
      cached.description === description &&
      cached.speedBps === speedBps
    ) {
      cached.checkedMs = now;
      return cached;
    }
    let tags: InterfaceTags = { ...NO_IF, name, description };
    try {
      tags = this.classifier.interface(e.bytes, e.tags, ifIndex, { name, description, speedBps });
    } catch (err) {
      this.sourceError("classifier", err);
    }
    const entry: IfEntry = { checkedMs: now, name, description, speedBps, tags };
    if (!cached && e.ifaces.size >= MAX_IFACES_PER_EXPORTER) e.ifaces.clear();
    e.ifaces.set(ifIndex, entry);
    return entry;
  }

  private geoOf(a: Uint8Array, off: number, v4: boolean): GeoAnswer {
    const geo = this.geoip!;
    let ans: GeoAnswer | undefined;
    if (v4) {
      // Signed 32-bit key: a small integer for V8 (an unsigned one ≥ 2^31 would be a heap number).
      const w = (a[off + 12]! << 24) | (a[off + 13]! << 16) | (a[off + 14]! << 8) | a[off + 15]!;
      ans = this.geo4.get(w);
      if (ans !== undefined) {
        this.geoHits++;
        return ans;
      }
      ans = this.geoLookup(geo, formatIp(a, off));
      if (this.geo4.size >= this.config.cacheSize) this.geo4.clear();
      if (this.config.cacheSize > 0) this.geo4.set(w, ans);
      return ans;
    }
    const text = formatIp(a, off);
    ans = this.geo6.get(text);
    if (ans !== undefined) {
      this.geoHits++;
      return ans;
    }
    ans = this.geoLookup(geo, text);
    if (this.geo6.size >= this.config.cacheSize) this.geo6.clear();
    if (this.config.cacheSize > 0) this.geo6.set(text, ans);
    return ans;
  }

  private geoLookup(geo: GeoIp, text: string): GeoAnswer {
    this.geoMisses++;
    if (text === "") return NO_GEO;
    try {
      return geo.lookup(text);
    } catch (err) {
      this.sourceError("geoip", err);
      return NO_GEO;
    }
  }

  private route(exporter: string, a: Uint8Array, off: number): RouteInfo | null {
    try {
      return this.routing!.lookup(exporter, a, off);
    } catch (err) {
      this.sourceError("routing", err);
      return null;
    }
  }

  private network(a: Uint8Array, off: number): NetworkInfo | null {
    try {
      return this.networks!.lookup(a, off);
    } catch (err) {
      this.sourceError("networks", err);
      return null;
    }
  }

  private asName(asn: number, geo: GeoAnswer): string {
    if (asn === 0) return "";
    let name = "";
    if (this.asNames) {
      try {
        name = this.asNames.name(asn);
      } catch (err) {
        this.sourceError("asnames", err);
      }
    }
    return name !== "" ? name : geo.asn === asn ? geo.asName : "";
  }

  /** Pick the AS number per asOrder: the first non-zero. */
  private pickAs(flow: number, route: RouteInfo | null, geo: GeoAnswer, net: NetworkInfo | null): number {
    for (const s of this.asOrder) {
      const v =
        s === AS_FLOW
          ? flow
          : s === AS_ROUTING
            ? (route?.originAs ?? 0)
            : s === AS_GEOIP
              ? geo.asn
              : (net?.asn ?? 0);
      if (v !== 0) return v;
    }
    return 0;
  }

  private enrich(batch: FlowBatch): void {
    const n = batch.length;
    if (n === 0) return;
    // Column arrays in locals: one property load per batch, not per row.
    const {
      as_path,
      bgp_communities,
      bgp_large_communities,
      bgp_next_hop,
      dst_addr,
      dst_as,
      dst_as_name,
      dst_country,
      dst_net_name,
      dst_net_role,
      dst_net_site,
      dst_net_tenant,
      dst_prefix_len,
      exporter_address,
      exporter_name,
      exporter_region,
      exporter_role,
      exporter_site,
      exporter_tenant,
      in_if,
      in_if_boundary,
      in_if_connectivity,
      in_if_description,
      in_if_name,
      in_if_provider,
      in_if_speed,
      ip_version,
      local_pref,
      out_if,
      out_if_boundary,
      out_if_connectivity,
      out_if_description,
      out_if_name,
      out_if_provider,
      out_if_speed,
      src_addr,
      src_as,
      src_as_name,
      src_country,
      src_net_name,
      src_net_role,
      src_net_site,
      src_net_tenant,
      src_prefix_len,
    } = batch.cols;
    const now = this.now();
    const withExporter = this.classifier.empty === false || this.interfaces !== null || this.routing !== null;
    const withIfaces = this.interfaces !== null || this.classifier.hasInterfaceRules;
    const withAddrs =
      this.networks !== null || this.geoip !== null || this.routing !== null || this.asNames !== null;
    if (!withExporter && !withAddrs) return;
    if (this.geoip && this.geoip.generation !== this.geoGen) {
      // A database was (re)loaded: cached answers may be stale.
      this.geo4.clear();
      this.geo6.clear();
      this.geoGen = this.geoip.generation;
    }
    const exp = exporter_address;
    const src = src_addr;
    const dst = dst_addr;
    let last: ExporterEntry | null = null;
    let lastOff = -1;
    for (let i = 0; i < n; i++) {
      const off = i * 16;
      // ---- exporter (rows of a batch mostly share one: compare with the previous row first)
      let e: ExporterEntry | null = null;
      if (withExporter) {
        if (last !== null && sameAddr(exp, off, exp, lastOff)) e = last;
        else e = this.exporterOf(exp, off);
        last = e;
        lastOff = off;
        const t = e.tags;
        if (t !== EMPTY_EXPORTER) {
          exporter_name[i] = t.name;
          exporter_role[i] = t.role;
          exporter_site[i] = t.site;
          exporter_region[i] = t.region;
          exporter_tenant[i] = t.tenant;
        }
        // ---- interfaces
        if (withIfaces) {
          const fi = this.ifaceOf(e, in_if[i]!, now);
          if (fi !== NO_IF_ENTRY) {
            in_if_name[i] = fi.tags.name;
            in_if_description[i] = fi.tags.description;
            in_if_speed[i] = fi.speedBps;
            in_if_connectivity[i] = fi.tags.connectivity;
            in_if_provider[i] = fi.tags.provider;
            in_if_boundary[i] = fi.tags.boundary;
          }
          const fo = this.ifaceOf(e, out_if[i]!, now);
          if (fo !== NO_IF_ENTRY) {
            out_if_name[i] = fo.tags.name;
            out_if_description[i] = fo.tags.description;
            out_if_speed[i] = fo.speedBps;
            out_if_connectivity[i] = fo.tags.connectivity;
            out_if_provider[i] = fo.tags.provider;
            out_if_boundary[i] = fo.tags.boundary;
          }
        }
      }
      if (!withAddrs) continue;
      const ver = ip_version[i]!;
      if (ver !== 4 && ver !== 6) continue;
      const v4 = ver === 4;
      // ---- source address
      const rs = this.routing && e ? this.route(e.text, src, off) : null;
      const ns = this.networks ? this.network(src, off) : null;
      const gs = this.geoip ? this.geoOf(src, off, v4) : NO_GEO;
      const srcAs = this.pickAs(src_as[i]!, rs, gs, ns);
      src_as[i] = srcAs;
      if (rs && (this.routingFirst || src_prefix_len[i] === 0)) src_prefix_len[i] = rs.prefixLen;
      if (ns) {
        src_net_name[i] = ns.name;
        src_net_role[i] = ns.role;
        src_net_site[i] = ns.site;
        src_net_tenant[i] = ns.tenant;
      }
      // Rows arrive with "" in every string column (FlowBatch.reset): only known values are written.
      if (gs !== NO_GEO) src_country[i] = gs.country;
      if (srcAs !== 0) src_as_name[i] = this.asName(srcAs, gs);
      // ---- destination address (and the destination route's BGP attributes)
      const rd = this.routing && e ? this.route(e.text, dst, off) : null;
      const nd = this.networks ? this.network(dst, off) : null;
      const gd = this.geoip ? this.geoOf(dst, off, v4) : NO_GEO;
      const dstAs = this.pickAs(dst_as[i]!, rd, gd, nd);
      dst_as[i] = dstAs;
      if (rd) {
        const over = this.routingFirst;
        if (over || dst_prefix_len[i] === 0) dst_prefix_len[i] = rd.prefixLen;
        if (over || as_path[i] === "") as_path[i] = rd.asPath;
        if (over || bgp_communities[i] === "") bgp_communities[i] = rd.communities;
        if (over || bgp_large_communities[i] === "") bgp_large_communities[i] = rd.largeCommunities;
        if (over || local_pref[i] === 0) local_pref[i] = rd.localPref;
        if (rd.nextHop.length === 16 && (over || isZero(bgp_next_hop, off)))
          bgp_next_hop.set(rd.nextHop, off);
      }
      if (nd) {
        dst_net_name[i] = nd.name;
        dst_net_role[i] = nd.role;
        dst_net_site[i] = nd.site;
        dst_net_tenant[i] = nd.tenant;
      }
      if (gd !== NO_GEO) dst_country[i] = gd.country;
      if (dstAs !== 0) dst_as_name[i] = this.asName(dstAs, gd);
    }
  }
}

function sameAddr(a: Uint8Array, ao: number, b: Uint8Array, bo: number): boolean {
  for (let k = 15; k >= 0; k--) if (a[ao + k] !== b[bo + k]) return false;
  return true;
}

function isZero(a: Uint8Array, off: number): boolean {
  for (let k = 0; k < 16; k++) if (a[off + k] !== 0) return false;
  return true;
}
