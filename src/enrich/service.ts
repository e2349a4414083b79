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
// allocation. Routes are cached per router in the RIB (routing/rib.ts,
// dropped on any RIB change). Column groups whose sources are not configured
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

/** Words 8-11 of an IPv4-mapped address (00 00 ff ff) read in host byte order. */
const MAPPED_W2 = new Int32Array(new Uint8Array([0, 0, 0xff, 0xff]).buffer)[0]!;

/** What the static sources answer for one address; shared by every address with the same answer. */
export interface AddrAnswer {
  net: NetworkInfo | null;
  geo: GeoAnswer;
  /** Last AS number named for this answer, and its name (0: none yet; -1: an uncached answer, never memoized). */
  memoAsn: number;
  memoName: string;
}

/**
 * Per-address answers of the static sources (networks file, GeoIP, AS name),
 * keyed by the 16-byte address: a 4-way set-associative table in one
 * Int32Array (hash of the 4 address words → set; clock / second-chance
 * eviction within the set), so it is bounded whatever the traffic (spoofed
 * sources included) and a hit is one probe of two cache lines with no
 * allocation. A slot is 4 words, so a set is one 64-byte cache line: the
 * address's last word, a check word (0 for IPv4-mapped addresses, else an
 * odd hash of the first three words, which are kept in a side table and
 * compared only for IPv6), the generation it was written in, and the index
 * of its interned AddrAnswer × 2 + the second-chance bit. (8-word slots made
 * every probe two cache misses: the probe was 40 % of the enrichment time.)
 * Answers are interned (few distinct ones: networks × countries × ASes seen),
 * which keeps the table a flat typed array and lets the AS-name memo serve
 * every address of an answer. A reload of any source bumps the generation,
 * which drops every entry in O(1).
 */
export class AddrCache {
  private mask: number;
  private slots: Int32Array;
  /** Words 0-2 of each slot's address (IPv6 only needs them). */
  private full: Int32Array;
  private hand: Uint8Array;
  readonly answers: AddrAnswer[] = [];
  /** Answer index by (GeoAnswer id × 2^32 + NetworkInfo id). */
  private readonly interned = new Map<number, number>();
  private readonly netIds = new Map<NetworkInfo, number>();
  private readonly geoIds = new Map<GeoAnswer, number>();
  private readonly geoKeys = new Map<string, number>();
  gen = 1;
  /** Slots written in the current generation (for the metric). */
  size = 0;
  /** Slots now; grows (doubling) up to maxCapacity while the table fills. */
  capacity: number;
  readonly maxCapacity: number;
  // The last probe's words and set, so put() after a miss does not recompute them.
  private w0 = 0;
  private w1 = 0;
  private w2 = 0;
  private w3 = 0;
  private chk = 0;
  private base = 0;

  constructor(entries: number) {
    // Twice the slots asked for: with 4 ways, sets overflow by chance well
    // before the table is full (measured: 3.7 % of 20 k addresses kept missing
    // in a 64 k-slot table; 0.2 % at 128 k).
    let sets = 1;
    while (sets * 4 < entries * 2) sets *= 2;
    this.maxCapacity = sets * 4;
    // Start small and grow with the distinct addresses actually seen: a
    // table much larger than the working set costs a cache and TLB miss per
    // probe (measured: an 8 MB table made every probe a miss on a VM).
    this.capacity = Math.min(this.maxCapacity, 4096);
    this.mask = this.capacity / 4 - 1;
    this.slots = new Int32Array(this.capacity * 4);
    this.full = new Int32Array(this.capacity * 4);
    this.hand = new Uint8Array(this.capacity / 4);
  }

  /** Forget every entry (a source was reloaded). */
  clear(): void {
    this.gen++;
    this.size = 0;
    this.answers.length = 0;
    this.interned.clear();
    this.netIds.clear();
    this.geoIds.clear();
    this.geoKeys.clear();
  }

  /** First slot of the set of an address (multiplicative mixing, murmur3 constants). */
  private setOf(w3: number, chk: number): number {
    // IPv4-mapped addresses differ only in w3: it must reach every bit of the set index.
    let h = Math.imul(w3, 0xcc9e2d51) ^ chk;
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    return (h & this.mask) << 2;
  }

  /**
   * The AddrAnswer of the address at words w[i…i+4] (the 16-byte address
   * read as four 32-bit words in host order: only equality and the hash need
   * them), or null (then put() stores it).
   */
  find(w: Int32Array, i: number): AddrAnswer | null {
    const w0 = w[i]!;
    const w1 = w[i + 1]!;
    const w2 = w[i + 2]!;
    const w3 = w[i + 3]!;
    const v4 = w0 === 0 && w1 === 0 && w2 === MAPPED_W2;
    const chk = v4 ? 0 : (Math.imul(w0, 0x1b873593) ^ Math.imul(w1 ^ (w2 >>> 7), 0xcc9e2d51) ^ w2) | 1;
    const base = this.setOf(w3, chk);
    this.w0 = w0;
    this.w1 = w1;
    this.w2 = w2;
    this.w3 = w3;
    this.chk = chk;
    this.base = base;
    const t = this.slots;
    const gen = this.gen;
    for (let k = base << 2, end = k + 16; k < end; k += 4) {
      if (t[k] === w3 && t[k + 1] === chk && t[k + 2] === gen) {
        if (!v4) {
          const f = this.full;
          if (f[k] !== w0 || f[k + 1] !== w1 || f[k + 2] !== w2) continue;
        }
        const m = t[k + 3]!;
        t[k + 3] = m | 1;
        return this.answers[m >>> 1]!;
      }
    }
    return null;
  }

  /** The set of the last find() has no free way. */
  private setFull(): boolean {
    const t = this.slots;
    for (let k = this.base << 2, end = k + 16; k < end; k += 4) if (t[k + 2] !== this.gen) return false;
    return true;
  }

  /** Double the table, keeping the live entries (those whose new set is full are dropped). */
  private grow(): void {
    const old = this.slots;
    const oldFull = this.full;
    const gen = this.gen;
    this.capacity *= 2;
    this.mask = this.capacity / 4 - 1;
    this.slots = new Int32Array(this.capacity * 4);
    this.full = new Int32Array(this.capacity * 4);
    this.hand = new Uint8Array(this.capacity / 4);
    this.size = 0;
    const t = this.slots;
    for (let k = 0; k < old.length; k += 4) {
      if (old[k + 2] !== gen) continue;
      const base = this.setOf(old[k]!, old[k + 1]!);
      for (let j = base << 2, end = j + 16; j < end; j += 4)
        if (t[j + 2] !== gen) {
          t.set(old.subarray(k, k + 4), j);
          this.full.set(oldFull.subarray(k, k + 4), j);
          this.size++;
          break;
        }
    }
    this.base = this.setOf(this.w3, this.chk);
  }

  /** Store the answer for the address of the last find() (which missed); returns the interned answer. */
  put(net: NetworkInfo | null, geo: GeoAnswer): AddrAnswer {
    // Bounded even if every answer differs.
    if (this.answers.length >= this.maxCapacity || this.geoIds.size >= this.maxCapacity) this.clear();
    // Grow at a quarter full, or on an eviction once 3/16 full: with 4 ways,
    // sets overflow by chance well before the table is full (at half full
    // ~10 % of entries would keep evicting each other, each eviction a
    // lookup of the sources when its address comes back). Not earlier: with
    // the eviction rule at 1/8 the bench stream's 4.9 k addresses grew the
    // table to 64 k slots (2 MB with the side table), and the probes missed
    // the CPU caches; a miss costs a GeoIP tree walk now, not a mmdb-lib
    // text lookup, so a rare eviction is cheaper than a bigger table.
    if (this.capacity < this.maxCapacity && this.size * 4 >= this.capacity) this.grow();
    else if (this.capacity < this.maxCapacity && this.size * 16 >= this.capacity * 3 && this.setFull())
      this.grow();
    let nid = 0;
    if (net) {
      nid = this.netIds.get(net) ?? 0;
      if (nid === 0) this.netIds.set(net, (nid = this.netIds.size + 1));
    }
    // Interned by identity first: the GeoIP databases return one object per
    // record, so a miss costs two Map probes and no string (the text key only
    // for an answer object not seen before).
    let gid = this.geoIds.get(geo);
    if (gid === undefined) {
      const text = `${geo.country}|${geo.asn}|${geo.asName}`;
      gid = this.geoKeys.get(text);
      if (gid === undefined) this.geoKeys.set(text, (gid = this.geoKeys.size));
      this.geoIds.set(geo, gid);
    }
    const key = gid * 4294967296 + nid;
    let idx = this.interned.get(key);
    if (idx === undefined) {
      idx = this.answers.length;
      this.answers.push({ net, geo, memoAsn: 0, memoName: "" });
      this.interned.set(key, idx);
    }
    const t = this.slots;
    const gen = this.gen;
    const base = this.base;
    let s = -1;
    for (let k = base; k < base + 4; k++)
      if (t[(k << 2) + 2] !== gen) {
        s = k;
        this.size++;
        break;
      }
    if (s < 0) {
      // Second chance: skip (and clear) recently used slots, at most one full turn.
      const set = base >>> 2;
      let h = this.hand[set]!;
      for (let n = 0; n < 4; n++) {
        const r = ((base + h) << 2) + 3;
        if ((t[r]! & 1) === 0) break;
        t[r] = t[r]! & ~1;
        h = (h + 1) & 3;
      }
      s = base + h;
      this.hand[set] = (h + 1) & 3;
    }
    const k = s << 2;
    t[k] = this.w3;
    t[k + 1] = this.chk;
    t[k + 2] = gen;
    t[k + 3] = idx * 2;
    const f = this.full;
    f[k] = this.w0;
    f[k + 1] = this.w1;
    f[k + 2] = this.w2;
    return this.answers[idx]!;
  }
}

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
    this.addrs = cfg.cacheSize > 0 && (this.networks || this.geoip) ? new AddrCache(cfg.cacheSize) : null;
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
    }
    const rowE = this.rowE;
    const rowIn = this.rowIn;
    const rowOut = this.rowOut;
    const rowS = this.rowS;
    const rowD = this.rowD;
    const rowRD = this.rowRD;

    // ---- resolve: exporter, interfaces, per-address answers, AS numbers, prefix lengths
    {
      const { exporter_address: exp, in_if, out_if, ip_version, src_addr: src, dst_addr: dst } = cols;
      const { src_as, dst_as, src_prefix_len, dst_prefix_len } = cols;
      const srcW = c ? words(src) : null;
      const dstW = c ? words(dst) : null;
      const expW = withExporter ? words(exp) : null;
      const over = this.routingFirst;
      let last: ExporterEntry | null = null;
      let lastOff = -1;
      for (let i = 0; i < n; i++) {
        const off = i * 16;
        let e: ExporterEntry | null = null;
        if (withExporter) {
          // Rows of a batch mostly share one exporter: compare with the previous row first.
          if (
            last !== null &&
            (expW !== null ? sameWords(expW, off >> 2, lastOff >> 2) : sameAddr(exp, off, lastOff))
          )
            e = last;
          else e = this.exporterOf(exp, off);
          last = e;
          lastOff = off;
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
        rowE[i] = e;
        const ver = ip_version[i]!;
        if (!withAddrs || (ver !== 4 && ver !== 6)) {
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
    if (withNames) {
      this.nameColumn(n, rowS, cols.src_as, cols.src_as_name);
      this.nameColumn(n, rowD, cols.dst_as, cols.dst_as_name);
    }
    // ---- the destination route's BGP attributes
    if (routing !== null) {
      const { as_path, bgp_communities, bgp_large_communities, bgp_next_hop, local_pref } = cols;
      const over = this.routingFirst;
      for (let i = 0; i < n; i++) {
        const rd = rowRD[i];
        if (rd === null || rd === undefined) continue;
        if (over || as_path[i] === "") as_path[i] = rd.asPath;
        if (over || bgp_communities[i] === "") bgp_communities[i] = rd.communities;
        if (over || bgp_large_communities[i] === "") bgp_large_communities[i] = rd.largeCommunities;
        if (over || local_pref[i] === 0) local_pref[i] = rd.localPref;
        const nh = rd.nextHop;
        if (nh.length === 16 && (over || isZero(bgp_next_hop, i * 16)))
          // A loop, not set(): a builtin call per row costs more than 16 stores.
          for (let k = 0, o = i * 16; k < 16; k++) bgp_next_hop[o + k] = nh[k]!;
      }
    }
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
