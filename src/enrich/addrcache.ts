// AddrCache: the per-address cache of the EnrichmentService (service.ts).
// One probe per flow address answers everything about that address that does
// not depend on the flow's own fields: the networks-file match and GeoIP
// answer (interned AddrAnswer), the route read from the exporter's RIB (with
// the RIB's identity and generation, so a RIB change or another router makes
// it stale), the AS numbers the routing / GeoIP / networks sources give, and
// the last AS name asked for this address.
import type { GeoAnswer } from "./geoip.js";
import type { NetworkInfo } from "./networks.js";
import type { RouteInfo } from "./types.js";

/** Words 8-11 of an IPv4-mapped address (00 00 ff ff) read in host byte order. */
const MAPPED_W2 = new Int32Array(new Uint8Array([0, 0, 0xff, 0xff]).buffer)[0]!;

/** Words of a side record (AddrCache.side). */
export const SIDE = 8;
/** The id of the RIB the route was read from (-1: not read yet, or not to be reused; 0: no RIB). */
export const SIDE_RIB = 0;
/** That RIB's generation then. */
export const SIDE_GEN = 1;
/**
 * The AS numbers the address gets when the flow's own is not used (as int32:
 * read with >>> 0): the first non-zero of the sources before "flow" in
 * asOrder, and of those after it (computed by the EnrichmentService).
 */
export const SIDE_AS_PRE = 2;
export const SIDE_AS_POST = 3;
/** The index of the route in AddrCache.routes (0: none). */
export const SIDE_ROUTE = 4;
/** The last AS number named for this address (0: none), and its name's index in AddrCache.names. */
export const SIDE_NAME_AS = 5;
export const SIDE_NAME = 6;

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
  /**
   * Per slot s, words side[s × 8 …] (the SIDE_* offsets): what the
   * EnrichmentService derived for the address, in one 32-byte record beside
   * the probed table, so a hit reads two cache lines (its set, its record).
   * (Seven parallel per-slot arrays, tried first, cost a cache miss each on
   * an 18 k-address working set.) Routes and AS names are interned indexes.
   */
  side: Int32Array;
  /** Interned routes (index 0: none) and AS names (index 0: ""), for the side records. */
  readonly routes: (RouteInfo | null)[] = [null];
  readonly names: string[] = [""];
  private readonly routeIds = new Map<RouteInfo, number>();
  private readonly nameIds = new Map<string, number>();
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
    this.side = new Int32Array(this.capacity * SIDE);
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
    this.routes.length = 1;
    this.names.length = 1;
    this.routeIds.clear();
    this.nameIds.clear();
  }

  /** Keep route `r` (read from RIB `rib` in generation `gen`; rib -1: not to be reused) for slot `s`. */
  setRoute(s: number, r: RouteInfo | null, rib: number, gen: number): void {
    let id = 0;
    if (r !== null) {
      id = this.routeIds.get(r) ?? 0;
      if (id === 0) {
        id = this.routes.length;
        this.routes.push(r);
        this.routeIds.set(r, id);
      }
    }
    const b = s * SIDE;
    this.side[b + SIDE_ROUTE] = id;
    this.side[b + SIDE_RIB] = rib;
    this.side[b + SIDE_GEN] = gen;
  }

  /** Remember AS `asn`'s name for slot `s`. */
  setName(s: number, asn: number, name: string): void {
    let id = this.nameIds.get(name) ?? 0;
    if (id === 0 && name !== "") {
      id = this.names.length;
      this.names.push(name);
      this.nameIds.set(name, id);
    }
    const b = s * SIDE;
    this.side[b + SIDE_NAME_AS] = asn;
    this.side[b + SIDE_NAME] = id;
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
    const s = this.probe(w, i);
    return s < 0 ? null : this.answerAt(s);
  }

  /** The interned answer of slot `s` (from probe() or store()). */
  answerAt(s: number): AddrAnswer {
    return this.answers[this.slots[(s << 2) + 3]! >>> 1]!;
  }

  /** find(), returning the slot number (its per-slot data is valid until the next store()), or -1. */
  probe(w: Int32Array, i: number): number {
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
        t[k + 3] = t[k + 3]! | 1;
        return k >> 2;
      }
    }
    return -1;
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
    const side = this.side;
    const gen = this.gen;
    this.capacity *= 2;
    this.mask = this.capacity / 4 - 1;
    this.slots = new Int32Array(this.capacity * 4);
    this.full = new Int32Array(this.capacity * 4);
    this.hand = new Uint8Array(this.capacity / 4);
    this.side = new Int32Array(this.capacity * SIDE);
    this.size = 0;
    const t = this.slots;
    for (let k = 0; k < old.length; k += 4) {
      if (old[k + 2] !== gen) continue;
      const base = this.setOf(old[k]!, old[k + 1]!);
      for (let j = base << 2, end = j + 16; j < end; j += 4)
        if (t[j + 2] !== gen) {
          t.set(old.subarray(k, k + 4), j);
          this.full.set(oldFull.subarray(k, k + 4), j);
          this.side.set(side.subarray((k >> 2) * SIDE, (k >> 2) * SIDE + SIDE), (j >> 2) * SIDE);
          this.size++;
          break;
        }
    }
    this.base = this.setOf(this.w3, this.chk);
  }

  /** Store the answer for the address of the last find() (which missed); returns the interned answer. */
  put(net: NetworkInfo | null, geo: GeoAnswer): AddrAnswer {
    return this.answerAt(this.store(net, geo));
  }

  /** put(), returning the slot number (no route read yet, no AS name: SIDE_RIB -1, SIDE_NAME_AS 0). */
  store(net: NetworkInfo | null, geo: GeoAnswer): number {
    // Bounded even if every answer (route, name) differs.
    if (
      this.answers.length >= this.maxCapacity ||
      this.geoIds.size >= this.maxCapacity ||
      this.routes.length >= this.maxCapacity ||
      this.names.length >= this.maxCapacity
    )
      this.clear();
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
    const b = s * SIDE;
    this.side[b + SIDE_RIB] = -1;
    this.side[b + SIDE_ROUTE] = 0;
    this.side[b + SIDE_NAME_AS] = 0;
    return s;
  }
}
