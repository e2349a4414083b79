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
// Why caches: the per-flow budget is a couple of hundred nanoseconds (target:
// at most 25 % below the collector's throughput without enrichment, whose
// decode costs ~0.5-0.9 µs a flow). Exporters and interfaces are few, so their
// tags are computed once and each flow costs one Map probe. Addresses repeat
// (flow addresses are Zipf-like), so the networks-file match, the GeoIP answer
// (a tree walk over the .mmdb bytes, records memoized: ~0.1-0.3 µs) and the
// last AS name are kept per distinct address in one AddrCache: a repeated
// address costs one hash probe over typed arrays, no string and no
// allocation. The same probe answers the route (kept on the entry with the
// id and generation of the RIB it was read from: a RIB change or another RIB
// for the exporter reads it again, through the RIB's own lookup cache,
// routing/rib.ts) and the AS numbers and AS name derived per address, so a
// repeated address costs one probe for everything (resolveCached). Column groups whose sources are not configured
// are skipped per batch, and string columns are written only when the value
// is not "" (FlowBatch rows arrive with "" in every string column). The
// columns are written in short passes per column group after one resolve
// pass (see enrich()): a FlowBatch is columnar.
//
// Never throws into the pipeline: a source that throws answers ""/0 for that
// flow and counts an error (metrics, and the source's state via `errors`).
import type { FlowBatch } from "../collector/batch.js";
import { formatIp } from "../collector/ip.js";
import { silentLogger, type Logger } from "../log.js";
import type { FlowConsumer } from "../pipeline/index.js";
import {
  AddrCache,
  SIDE,
  SIDE_AS_POST,
  SIDE_AS_PRE,
  SIDE_GEN,
  SIDE_NAME,
  SIDE_NAME_AS,
  SIDE_RIB,
  SIDE_ROUTE,
  type AddrAnswer,
} from "./addrcache.js";
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
const DENSE_IFINDEX = 4096;
const NAME_MEMO = 4096;

interface IfEntry {
  checkedMs: number;
  /** Any tag non-empty, or a speed: rows with this interface get columns written. */
  any: boolean;
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
  /**
   * The same entries for ifIndex < DENSE_IFINDEX, by index: an element load
   * instead of a Map probe per interface per flow (most ifIndexes are small).
   */
  dense: (IfEntry | undefined)[];
}

export { AddrCache, type AddrAnswer };

/** The answer of every address when neither the networks file nor GeoIP is configured (never memoized). */
const NO_ANSWER: AddrAnswer = Object.freeze({ net: null, geo: NO_GEO, memoAsn: -1, memoName: "" });

const NO_IF: InterfaceTags = Object.freeze({
  name: "",
  description: "",
  connectivity: "",
  provider: "",
  boundary: "",
});
const NO_IF_ENTRY: IfEntry = Object.freeze({
  checkedMs: Infinity,
  any: false,
  name: "",
  description: "",
  speedBps: 0,
  tags: NO_IF,
});

/** A RIB as the cached path sees it (routing/rib.ts Rib): answers are cached per (id, generation). */
interface RibLike {
  readonly id: number;
  readonly generation: number;
  lookup(addr: Uint8Array, off: number): RouteInfo | null;
}

/** A routing source that names the RIB lookup() would answer from for an exporter (routing/tables.ts). */
export interface RibRouting {
  router(exporter: string): RibLike | null;
}

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
  /** "flow" is in asOrder (else the flow's own AS number is never used). */
  private readonly hasFlowAs: boolean;
  /** The routing source, when it can name the RIB it answers from (routing/tables.ts): routes are then cached per address. */
  private readonly ribs: RibRouting | null;
  private readonly exporters4 = new Map<number, ExporterEntry>();
  private readonly exporters6 = new Map<string, ExporterEntry>();
  /** Per-address answers of networks / GeoIP / AS names; null when none is configured or cacheSize is 0. */
  private readonly addrs: AddrCache | null;
  /** What the cached answers were computed from (a change drops the cache). */
  private seenNetworks: unknown = null;
  private seenAsNames: unknown = null;
  private seenGeoGen = -1;
  /** AS number → name memo of the AS-names file (slot: asn mod NAME_MEMO; 0: empty). */
  private readonly nameAsn = new Uint32Array(NAME_MEMO);
  private readonly nameStr = new Array<string>(NAME_MEMO).fill("");
  /** Set by a source that threw during a miss: that answer is not cached. */
  private failed = false;
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
    this.hasFlowAs = f >= 0;
    const rr = this.routing as Partial<RibRouting> | null;
    this.ribs = rr !== null && typeof rr.router === "function" ? (rr as RibRouting) : null;
    this.addrs =
      cfg.cacheSize > 0 && (this.networks || this.geoip || this.ribs) ? new AddrCache(cfg.cacheSize) : null;
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
      enrich_geoip_cache_entries: this.addrs?.size ?? 0,
      enrich_exporters: this.exporters4.size + this.exporters6.size,
      enrich_ns_per_flow: this.flows ? Math.round(this.busyNs / this.flows) : 0,
    };
  }

  private sourceError(source: string, err: unknown): void {
    this.errors++;
    this.failed = true;
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
    return { text: formatIp(bytes, 0), bytes, tags, ifaces: new Map(), dense: [] };
  }

  /** Interface tags of (exporter, ifIndex), from the cache when checked within IF_RECHECK_MS. */
  private ifaceOf(e: ExporterEntry, ifIndex: number, now: number): IfEntry {
    if (ifIndex === 0) return NO_IF_ENTRY;
    const cached = ifIndex < DENSE_IFINDEX ? e.dense[ifIndex] : e.ifaces.get(ifIndex);
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
    const any =
      speedBps !== 0 ||
      tags.name !== "" ||
      tags.description !== "" ||
      tags.connectivity !== "" ||
      tags.provider !== "" ||
      tags.boundary !== "";
    const entry: IfEntry = { checkedMs: now, any, name, description, speedBps, tags };
    if (!cached && e.ifaces.size >= MAX_IFACES_PER_EXPORTER) {
      e.ifaces.clear();
      e.dense = [];
    }
    e.ifaces.set(ifIndex, entry);
    if (ifIndex < DENSE_IFINDEX) e.dense[ifIndex] = entry;
    return entry;
  }

  /** GeoIP answer for one address (the AddrCache sits in front; the databases memoize per record). */
  private geoOf(a: Uint8Array, off: number): GeoAnswer {
    try {
      return this.geoip!.lookup(a, off);
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
      // Direct-mapped memo in front of the AS-names Map (tens of thousands of
      // entries: a probe there is a cache miss; the ASes of the traffic are few).
      const k = asn & (NAME_MEMO - 1);
      if (this.nameAsn[k] === asn) name = this.nameStr[k]!;
      else
        try {
          name = this.asNames.name(asn);
          this.nameAsn[k] = asn;
          this.nameStr[k] = name;
        } catch (err) {
          this.sourceError("asnames", err);
        }
    }
    return name !== "" ? name : geo.asn === asn ? geo.asName : "";
  }

  /** Pick the AS number per asOrder: the first non-zero. */
  private pickAs(flow: number, route: RouteInfo | null, ans: AddrAnswer): number {
    const order = this.asOrder;
    for (let k = 0; k < order.length; k++) {
      const s = order[k]!;
      const v =
        s === AS_FLOW
          ? flow
          : s === AS_ROUTING
            ? (route?.originAs ?? 0)
            : s === AS_GEOIP
              ? ans.geo.asn
              : (ans.net?.asn ?? 0);
      if (v !== 0) return v;
    }
    return 0;
  }

  // Per-row scratch of the resolve pass (see enrich()), reused across batches.
  private rowE: (ExporterEntry | null)[] = [];
  private rowIn: IfEntry[] = [];
  private rowOut: IfEntry[] = [];
  private rowS: (AddrAnswer | null)[] = [];
  private rowD: (AddrAnswer | null)[] = [];
  private rowRD: (RouteInfo | null)[] = [];
  /** AS names of the rows (cached path). */
  private rowSN: string[] = [];
  private rowDN: string[] = [];
  /** The answer of an address that was not cached (a source threw), from addrSlot(). */
  private fresh: AddrAnswer = NO_ANSWER;

  /**
   * Two phases, for memory rather than for logic: a FlowBatch is columnar
   * (one array per column, ~45 of them touched here), and a row-at-a-time
   * loop writing every enrichment column touches a new cache line in each
   * of them per row — more streams than the hardware prefetcher follows,
   * so most stores missed (measured: ~200 ns per flow with every answer
   * cached). So: one resolve pass reads the key columns (exporter, ifIndexes,
   * addresses) and keeps each row's answers (object references) in scratch
   * arrays, then one short pass per column group copies the answers out.
   * Exporter tags, the same for runs of rows, are written with fill().
   */
  private enrich(batch: FlowBatch): void {
    const n = batch.length;
    if (n === 0) return;
    const cols = batch.cols;
    const now = this.now();
    const withExporter = this.classifier.empty === false || this.interfaces !== null || this.routing !== null;
    const withIfaces = this.interfaces !== null || this.classifier.hasInterfaceRules;
    const withAddrs =
      this.networks !== null || this.geoip !== null || this.routing !== null || this.asNames !== null;
    if (!withExporter && !withAddrs) return;
    const routing = this.routing;
    // Networks file / GeoIP / AS names: any of them (AS names need the AS from the others or the flow).
    const withStatic = this.networks !== null || this.geoip !== null;
    const withNames = this.asNames !== null || this.geoip !== null;
    const c = this.addrs;
    // A source was (re)loaded since the last batch: cached answers may be stale.
    const nets = this.networks?.file.data ?? null;
    const names = this.asNames?.file.data ?? null;
    const gen = this.geoip?.generation ?? 0;
    if (nets !== this.seenNetworks || names !== this.seenAsNames || gen !== this.seenGeoGen) {
      c?.clear();
      this.nameAsn.fill(0);
      this.seenNetworks = nets;
      this.seenAsNames = names;
      this.seenGeoGen = gen;
    }
    if (this.rowE.length < n) {
      const grow = <T>(a: T[], v: T): T[] => {
        while (a.length < n) a.push(v);
        return a;
      };
      grow(this.rowE, null);
      grow(this.rowIn, NO_IF_ENTRY);
      grow(this.rowOut, NO_IF_ENTRY);
      grow(this.rowS, null);
      grow(this.rowD, null);
      grow(this.rowRD, null);
      grow(this.rowSN, "");
      grow(this.rowDN, "");
    }
    const rowE = this.rowE;
    const rowIn = this.rowIn;
    const rowOut = this.rowOut;
    const rowS = this.rowS;
    const rowD = this.rowD;
    const rowRD = this.rowRD;

    // ---- resolve, 1: exporter and interfaces
    if (withExporter) {
      const { exporter_address: exp, in_if, out_if } = cols;
      const expW = words(exp);
      let last: ExporterEntry | null = null;
      let lastOff = -1;
      for (let i = 0; i < n; i++) {
        const off = i * 16;
        let e: ExporterEntry;
        // Rows of a batch mostly share one exporter: compare with the previous row first.
        if (
          last !== null &&
          (expW !== null ? sameWords(expW, off >> 2, lastOff >> 2) : sameAddr(exp, off, lastOff))
        )
          e = last;
        else e = this.exporterOf(exp, off);
        last = e;
        lastOff = off;
        rowE[i] = e;
        if (withIfaces) {
          // Fast path inline: a small ifIndex checked within the interval is one element load.
          const ii = in_if[i]!;
          let fi = ii < DENSE_IFINDEX ? e.dense[ii] : undefined;
          if (fi === undefined || now - fi.checkedMs >= IF_RECHECK_MS) fi = this.ifaceOf(e, ii, now);
          rowIn[i] = fi;
          const oi = out_if[i]!;
          let fo = oi < DENSE_IFINDEX ? e.dense[oi] : undefined;
          if (fo === undefined || now - fo.checkedMs >= IF_RECHECK_MS) fo = this.ifaceOf(e, oi, now);
          rowOut[i] = fo;
        }
      }
    } else for (let i = 0; i < n; i++) rowE[i] = null;

    // ---- resolve, 2: per-address answers, AS numbers, prefix lengths (and AS names on the cached path)
    const { ip_version, src_addr: src, dst_addr: dst } = cols;
    const srcW = c !== null ? words(src) : null;
    const dstW = c !== null ? words(dst) : null;
    // The cached path: one AddrCache probe per address answers the static
    // sources, the route (when the routing source names its RIBs) and the AS
    // numbers; else (no cache, unaligned columns, a routing source that
    // cannot say which RIB answers) every source is asked per row.
    const cached = c !== null && srcW !== null && dstW !== null && (routing === null || this.ribs !== null);
    if (cached) this.resolveCached(n, cols, c, srcW, dstW, withNames);
    else if (withAddrs) {
      const { src_as, dst_as, src_prefix_len, dst_prefix_len } = cols;
      const over = this.routingFirst;
      for (let i = 0; i < n; i++) {
        const off = i * 16;
        const e = rowE[i]!;
        const ver = ip_version[i]!;
        if (ver !== 4 && ver !== 6) {
          rowS[i] = rowD[i] = null;
          rowRD[i] = null;
          continue;
        }
        const rs = routing !== null && e !== null ? this.route(e.text, src, off) : null;
        const as = withStatic ? this.addrLookup(src, srcW, off) : NO_ANSWER;
        src_as[i] = this.pickAs(src_as[i]!, rs, as);
        if (rs !== null && (over || src_prefix_len[i] === 0)) src_prefix_len[i] = rs.prefixLen;
        const rd = routing !== null && e !== null ? this.route(e.text, dst, off) : null;
        const ad = withStatic ? this.addrLookup(dst, dstW, off) : NO_ANSWER;
        dst_as[i] = this.pickAs(dst_as[i]!, rd, ad);
        if (rd !== null && (over || dst_prefix_len[i] === 0)) dst_prefix_len[i] = rd.prefixLen;
        rowS[i] = as;
        rowD[i] = ad;
        rowRD[i] = rd;
      }
    }

    // ---- exporter tags: runs of one exporter, filled (rows arrive with "" in every string column)
    if (withExporter) {
      const { exporter_name, exporter_role, exporter_site, exporter_region, exporter_tenant } = cols;
      for (let i = 0; i < n;) {
        const e = rowE[i]!;
        let j = i + 1;
        while (j < n && rowE[j] === e) j++;
        const t = e.tags;
        if (t !== EMPTY_EXPORTER) {
          if (t.name !== "") exporter_name.fill(t.name, i, j);
          if (t.role !== "") exporter_role.fill(t.role, i, j);
          if (t.site !== "") exporter_site.fill(t.site, i, j);
          if (t.region !== "") exporter_region.fill(t.region, i, j);
          if (t.tenant !== "") exporter_tenant.fill(t.tenant, i, j);
        }
        i = j;
      }
    }
    // ---- interfaces, one direction at a time
    if (withExporter && withIfaces) {
      const {
        in_if_name,
        in_if_description,
        in_if_speed,
        in_if_connectivity,
        in_if_provider,
        in_if_boundary,
      } = cols;
      for (let i = 0; i < n; i++) {
        const f = rowIn[i]!;
        if (!f.any) continue;
        const t = f.tags;
        if (t.name !== "") in_if_name[i] = t.name;
        if (t.description !== "") in_if_description[i] = t.description;
        in_if_speed[i] = f.speedBps;
        if (t.connectivity !== "") in_if_connectivity[i] = t.connectivity;
        if (t.provider !== "") in_if_provider[i] = t.provider;
        if (t.boundary !== "") in_if_boundary[i] = t.boundary;
      }
      const { out_if_name, out_if_description, out_if_speed, out_if_connectivity, out_if_provider } = cols;
      const { out_if_boundary } = cols;
      for (let i = 0; i < n; i++) {
        const f = rowOut[i]!;
        if (!f.any) continue;
        const t = f.tags;
        if (t.name !== "") out_if_name[i] = t.name;
        if (t.description !== "") out_if_description[i] = t.description;
        out_if_speed[i] = f.speedBps;
        if (t.connectivity !== "") out_if_connectivity[i] = t.connectivity;
        if (t.provider !== "") out_if_provider[i] = t.provider;
        if (t.boundary !== "") out_if_boundary[i] = t.boundary;
      }
    }
    if (!withAddrs) return;
    // ---- per-address columns: networks file, country, AS name
    if (withStatic) {
      const { src_net_name, src_net_role, src_net_site, src_net_tenant, src_country } = cols;
      this.netColumns(n, rowS, src_net_name, src_net_role, src_net_site, src_net_tenant, src_country);
      const { dst_net_name, dst_net_role, dst_net_site, dst_net_tenant, dst_country } = cols;
      this.netColumns(n, rowD, dst_net_name, dst_net_role, dst_net_site, dst_net_tenant, dst_country);
    }
    if (withNames && cached) {
      copyNames(n, this.rowSN, cols.src_as_name);
      copyNames(n, this.rowDN, cols.dst_as_name);
    } else if (withNames) {
      this.nameColumn(n, rowS, cols.src_as, cols.src_as_name);
      this.nameColumn(n, rowD, cols.dst_as, cols.dst_as_name);
    }
    // ---- the destination route's BGP attributes
    if (routing !== null) {
      const { as_path, bgp_communities, bgp_large_communities, bgp_next_hop, local_pref } = cols;
      const over = this.routingFirst;
      // The next hop as 4 words (read once per distinct next hop: rows of a
      // route share one array) written through a word view of the column:
      // 4 compares and 4 stores a row instead of 16 + 16 byte accesses.
      const nhW = words(bgp_next_hop);
      let lastNh: Uint8Array | null = null;
      let h0 = 0;
      let h1 = 0;
      let h2 = 0;
      let h3 = 0;
      for (let i = 0; i < n; i++) {
        const rd = rowRD[i];
        if (rd === null || rd === undefined) continue;
        if (over || as_path[i] === "") as_path[i] = rd.asPath;
        if (over || bgp_communities[i] === "") bgp_communities[i] = rd.communities;
        if (over || bgp_large_communities[i] === "") bgp_large_communities[i] = rd.largeCommunities;
        if (over || local_pref[i] === 0) local_pref[i] = rd.localPref;
        const nh = rd.nextHop;
        if (nh.length !== 16) continue;
        if (nhW !== null) {
          if (nh !== lastNh) {
            lastNh = nh;
            h0 = hostWord(nh, 0);
            h1 = hostWord(nh, 4);
            h2 = hostWord(nh, 8);
            h3 = hostWord(nh, 12);
          }
          const o = i * 4;
          if (over || (nhW[o]! | nhW[o + 1]! | nhW[o + 2]! | nhW[o + 3]!) === 0) {
            nhW[o] = h0;
            nhW[o + 1] = h1;
            nhW[o + 2] = h2;
            nhW[o + 3] = h3;
          }
        } else if (over || isZero(bgp_next_hop, i * 16))
          // A loop, not set(): a builtin call per row costs more than 16 stores.
          for (let k = 0, o = i * 16; k < 16; k++) bgp_next_hop[o + k] = nh[k]!;
      }
    }
  }

  /**
   * Resolve pass 2 on the cached path: per address one AddrCache probe. A
   * hit whose route was read from the same RIB in its current generation
   * needs nothing else: the AS numbers of the non-flow sources (asPre /
   * asPost) and the last AS name are on the entry, so a row costs two probes,
   * a few compares and the stores of its own columns.
   */
  private resolveCached(
    n: number,
    cols: FlowBatch["cols"],
    c: AddrCache,
    srcW: Int32Array,
    dstW: Int32Array,
    withNames: boolean,
  ): void {
    const { ip_version, src_addr: src, dst_addr: dst } = cols;
    const { src_as, dst_as, src_prefix_len, dst_prefix_len } = cols;
    const { rowE, rowS, rowD, rowRD, rowSN, rowDN } = this;
    const over = this.routingFirst;
    const hasFlow = this.hasFlowAs;
    const ribs = this.ribs;
    let ribE: ExporterEntry | null | undefined;
    let rib: RibLike | null = null;
    let ribId = 0;
    let ribGen = 0;
    let hits = 0;
    let side = c.side;
    const routes = c.routes;
    const names = c.names;
    for (let i = 0; i < n; i++) {
      const ver = ip_version[i]!;
      if (ver !== 4 && ver !== 6) {
        rowS[i] = rowD[i] = null;
        rowRD[i] = null;
        rowSN[i] = rowDN[i] = "";
        continue;
      }
      const e = rowE[i];
      if (e !== ribE) {
        // Another exporter: which RIB answers it, in which generation (fixed for the batch).
        ribE = e;
        rib = null;
        ribId = 0;
        ribGen = 0;
        if (ribs !== null && e !== null && e !== undefined) {
          try {
            rib = ribs.router(e.text);
            if (rib !== null) {
              ribId = rib.id;
              ribGen = rib.generation;
            }
          } catch (err) {
            this.sourceError("routing", err);
            ribId = -2; // never cached (see addrSlot)
          }
        }
      }
      const off = i * 16;
      // source
      // The hit path inline (addrSlot, with the miss path, is too large to be inlined).
      let s = c.probe(srcW, off >> 2);
      if (s >= 0 && side[s * SIDE + SIDE_RIB] === ribId && side[s * SIDE + SIDE_GEN] === ribGen) hits++;
      else {
        s = this.addrSlot(c, src, off, s, rib, ribId, ribGen);
        side = c.side; // a new table when it grew
      }
      let flowAs = src_as[i]!;
      let asn: number;
      if (s >= 0) {
        const b = s * SIDE;
        const pre = side[b + SIDE_AS_PRE]! >>> 0;
        asn = pre !== 0 ? pre : hasFlow && flowAs !== 0 ? flowAs : side[b + SIDE_AS_POST]! >>> 0;
        const r = routes[side[b + SIDE_ROUTE]!]!;
        if (r !== null && (over || src_prefix_len[i] === 0)) src_prefix_len[i] = r.prefixLen;
        rowS[i] = c.answerAt(s);
        if (withNames)
          rowSN[i] =
            asn === 0
              ? ""
              : side[b + SIDE_NAME_AS]! >>> 0 === asn
                ? names[side[b + SIDE_NAME]!]!
                : this.slotName(c, s, asn);
      } else {
        const ans = this.fresh;
        const r = rib !== null ? this.ribRoute(rib, src, off) : null;
        asn = this.pickAs(flowAs, r, ans);
        if (r !== null && (over || src_prefix_len[i] === 0)) src_prefix_len[i] = r.prefixLen;
        rowS[i] = ans;
        if (withNames) rowSN[i] = this.asNameAt(asn, ans);
      }
      if (asn !== flowAs) src_as[i] = asn;
      // destination (its route's attributes fill the BGP columns)
      s = c.probe(dstW, off >> 2);
      if (s >= 0 && side[s * SIDE + SIDE_RIB] === ribId && side[s * SIDE + SIDE_GEN] === ribGen) hits++;
      else {
        s = this.addrSlot(c, dst, off, s, rib, ribId, ribGen);
        side = c.side; // a new table when it grew
      }
      flowAs = dst_as[i]!;
      if (s >= 0) {
        const b = s * SIDE;
        const pre = side[b + SIDE_AS_PRE]! >>> 0;
        asn = pre !== 0 ? pre : hasFlow && flowAs !== 0 ? flowAs : side[b + SIDE_AS_POST]! >>> 0;
        const r = routes[side[b + SIDE_ROUTE]!]!;
        if (r !== null && (over || dst_prefix_len[i] === 0)) dst_prefix_len[i] = r.prefixLen;
        rowD[i] = c.answerAt(s);
        rowRD[i] = r;
        if (withNames)
          rowDN[i] =
            asn === 0
              ? ""
              : side[b + SIDE_NAME_AS]! >>> 0 === asn
                ? names[side[b + SIDE_NAME]!]!
                : this.slotName(c, s, asn);
      } else {
        const ans = this.fresh;
        const r = rib !== null ? this.ribRoute(rib, dst, off) : null;
        asn = this.pickAs(flowAs, r, ans);
        if (r !== null && (over || dst_prefix_len[i] === 0)) dst_prefix_len[i] = r.prefixLen;
        rowD[i] = ans;
        rowRD[i] = r;
        if (withNames) rowDN[i] = this.asNameAt(asn, ans);
      }
      if (asn !== flowAs) dst_as[i] = asn;
    }
    this.geoHits += hits;
  }

  /**
   * The miss path of resolveCached: `probed` is the address's AddrCache
   * slot (-1: not cached), whose route is stale. Returns the AddrCache slot
   * of the address at a[off…off+16] with its route read
   * from `rib` in generation `ribGen` (ribId 0: no RIB; < 0: the routing
   * source failed, the answer is not kept) and its AS numbers computed; -1
   * when a static source threw (nothing cached: `fresh` holds the answer).
   */
  private addrSlot(
    c: AddrCache,
    a: Uint8Array,
    off: number,
    probed: number,
    rib: RibLike | null,
    ribId: number,
    ribGen: number,
  ): number {
    let s = probed;
    if (s >= 0) this.geoHits++;
    else {
      this.geoMisses++;
      this.failed = false;
      const net = this.networks !== null ? this.network(a, off) : null;
      const geo = this.geoip !== null ? this.geoOf(a, off) : NO_GEO;
      if (this.failed) {
        this.fresh = { net, geo, memoAsn: -1, memoName: "" };
        return -1;
      }
      s = c.store(net, geo);
    }
    // The route (first sight of the address, or the RIB changed) and the AS numbers that depend on it.
    this.failed = false;
    const r = rib !== null ? this.ribRoute(rib, a, off) : null;
    const ans = c.answerAt(s);
    const order = this.asOrder;
    let pre = 0;
    let post = 0;
    let after = false;
    for (let k = 0; k < order.length; k++) {
      const src = order[k]!;
      if (src === AS_FLOW) {
        after = true;
        continue;
      }
      const v =
        src === AS_ROUTING ? (r?.originAs ?? 0) : src === AS_GEOIP ? ans.geo.asn : (ans.net?.asn ?? 0);
      if (v === 0) continue;
      if (!after) {
        if (pre === 0) pre = v;
      } else if (post === 0) post = v;
    }
    c.setRoute(s, r, this.failed || ribId < 0 ? -1 : ribId, ribGen);
    c.side[s * SIDE + SIDE_AS_PRE] = pre;
    c.side[s * SIDE + SIDE_AS_POST] = post;
    return s;
  }

  private ribRoute(rib: RibLike, a: Uint8Array, off: number): RouteInfo | null {
    try {
      return rib.lookup(a, off);
    } catch (err) {
      this.sourceError("routing", err);
      return null;
    }
  }

  /** AS name of `asn` for the address of slot `s`, remembered there (unless a source threw). */
  private slotName(c: AddrCache, s: number, asn: number): string {
    this.failed = false;
    const name = this.asName(asn, c.answerAt(s).geo);
    if (!this.failed) {
      c.setName(s, asn, name);
    }
    return name;
  }

  /** src_net_* / dst_net_* and the country, from each row's answer. */
  private netColumns(
    n: number,
    rows: (AddrAnswer | null)[],
    name: string[],
    role: string[],
    site: string[],
    tenant: string[],
    country: string[],
  ): void {
    for (let i = 0; i < n; i++) {
      const a = rows[i];
      if (a === null || a === undefined) continue; // skipped row
      const ns = a.net;
      if (ns !== null) {
        if (ns.name !== "") name[i] = ns.name;
        if (ns.role !== "") role[i] = ns.role;
        if (ns.site !== "") site[i] = ns.site;
        if (ns.tenant !== "") tenant[i] = ns.tenant;
      }
      const cc = a.geo.country;
      if (cc !== "") country[i] = cc;
    }
  }

  /** src_as_name / dst_as_name for the rows' AS numbers (set by the resolve pass). */
  private nameColumn(n: number, rows: (AddrAnswer | null)[], asCol: Uint32Array, out: string[]): void {
    for (let i = 0; i < n; i++) {
      const a = rows[i];
      // null: a row the resolve pass skipped (IP version neither 4 nor 6).
      if (a === null || a === undefined) continue;
      const asn = asCol[i]!;
      if (asn === 0) continue;
      const name = this.asNameAt(asn, a);
      if (name !== "") out[i] = name;
    }
  }

  /**
   * Networks-file match and GeoIP answer of the address at a[off…off+16],
   * from the AddrCache when it has them. Not cached (no cache, or a source
   * threw: it is asked again next time rather than the failure being cached
   * as "unknown"): a fresh answer with memoAsn -1 (never memoized).
   */
  private addrLookup(a: Uint8Array, w: Int32Array | null, off: number): AddrAnswer {
    const c = this.addrs;
    if (c !== null && w !== null) {
      const hit = c.find(w, off >> 2);
      if (hit !== null) {
        this.geoHits++;
        return hit;
      }
    }
    this.geoMisses++;
    this.failed = false;
    const net = this.networks ? this.network(a, off) : null;
    const geo = this.geoip ? this.geoOf(a, off) : NO_GEO;
    if (c !== null && w !== null && !this.failed) return c.put(net, geo);
    return { net, geo, memoAsn: -1, memoName: "" };
  }

  /** AS name of `asn`, remembered on the address's answer (unless its memoAsn is -1). */
  private asNameAt(asn: number, ans: AddrAnswer): string {
    if (ans.memoAsn === asn) return ans.memoName;
    this.failed = false;
    const name = this.asName(asn, ans.geo);
    if (ans.memoAsn >= 0 && !this.failed) {
      ans.memoAsn = asn;
      ans.memoName = name;
    }
    return name;
  }
}

/**
 * The ip column as 32-bit words over the same memory (4 loads per address
 * instead of 16 byte loads and shifts in the cache probe); null if the
 * column is not 4-byte aligned (then the cache is bypassed).
 */
function words(a: Uint8Array): Int32Array | null {
  return a.byteOffset % 4 === 0 ? new Int32Array(a.buffer, a.byteOffset, a.length >> 2) : null;
}

/** The AS names resolved per row into their column ("" is what rows arrive with). */
function copyNames(n: number, names: string[], out: string[]): void {
  for (let i = 0; i < n; i++) {
    const s = names[i]!;
    if (s !== "") out[i] = s;
  }
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** The 32-bit word at a[o…o+4] as an Int32Array view would read it (host order). */
function hostWord(a: Uint8Array, o: number): number {
  return LITTLE_ENDIAN
    ? (a[o + 3]! << 24) | (a[o + 2]! << 16) | (a[o + 1]! << 8) | a[o]!
    : (a[o]! << 24) | (a[o + 1]! << 16) | (a[o + 2]! << 8) | a[o + 3]!;
}

function sameAddr(a: Uint8Array, ao: number, bo: number): boolean {
  for (let k = 15; k >= 0; k--) if (a[ao + k] !== a[bo + k]) return false;
  return true;
}

function sameWords(w: Int32Array, a: number, b: number): boolean {
  return w[a + 3] === w[b + 3] && w[a + 2] === w[b + 2] && w[a + 1] === w[b + 1] && w[a] === w[b];
}

function isZero(a: Uint8Array, off: number): boolean {
  for (let k = 0; k < 16; k++) if (a[off + k] !== 0) return false;
  return true;
}
