// The RIB: routes of one router (all its BMP peers, or one BGP neighbor) with
// longest-prefix match, in typed arrays.
//
// A full table is ~1M IPv4 + ~200k IPv6 routes per peer but only some tens or
// hundreds of thousands of distinct attribute sets (AS path + communities +
// next hop + local pref): attributes are interned once in an AttrTable shared
// by every RIB, and each route is a small fixed-size slot pointing to one.
//
// Prefixes live in a path-compressed binary trie (one for IPv4 with 1 key
// word per node, one for IPv6 with 4): a node holds a prefix (key bits +
// length), its two children by the bit after that length, and the head of its
// route list (several peers, or ADD-PATH paths, may announce one prefix).
// Lookup walks at most one node per distinct prefix length on the way down,
// comparing whole 32-bit words, so a lookup is a handful of array reads.
import type { RouteInfo } from "../types.js";
import type { PathAttrs } from "./bgp.js";
import { formatIp } from "../../collector/ip.js";

// ---------------------------------------------------------------- attributes

interface AttrEntry {
  /** "asPath|communities|largeCommunities|nextHop|localPref|med": the identity, and the storage of the texts. */
  key: string;
  refs: number;
  asPathLen: number;
  originAs: number;
  localPref: number;
  med: number;
  /** Shared by every set with this next hop (few distinct ones per router). */
  nextHop: Uint8Array;
  /** One RouteInfo per matched prefix length, made on first use: lookups allocate nothing after. */
  byLen: (RouteInfo | undefined)[] | null;
}

/**
 * Interned attribute sets, reference-counted so churn does not leak them.
 * Each set keeps one flat key string; the RouteInfo texts are slices of it
 * (V8 shares the characters of slices), made when a lookup first needs them.
 */
export class AttrTable {
  private readonly entries: (AttrEntry | null)[] = [];
  private readonly ids = new Map<string, number>();
  private readonly nextHops = new Map<string, Uint8Array>();
  private readonly free: number[] = [];
  private keyChars = 0;

  /** Take a reference on the set equal to `a` (interning it if new); returns its id. */
  retain(a: PathAttrs): number {
    const nh = formatIp(a.nextHop, 0);
    const key = `${a.asPath}|${a.communities}|${a.largeCommunities}|${nh}|${a.localPref}|${a.med}`;
    let id = this.ids.get(key);
    if (id !== undefined) {
      this.entries[id]!.refs++;
      return id;
    }
    // Reading a character flattens V8's concatenation tree into one string:
    // kept as a tree, the key held its parts too (measured 277 → 131 bytes
    // per 60-character key).
    key.charCodeAt(0);
    let nextHop = this.nextHops.get(nh);
    if (!nextHop) {
      nextHop = a.nextHop.slice();
      if (this.nextHops.size < 100_000) this.nextHops.set(nh, nextHop);
    }
    id = this.free.pop() ?? this.entries.length;
    this.entries[id] = {
      key,
      refs: 1,
      asPathLen: a.asPathLen,
      originAs: a.originAs,
      localPref: a.localPref,
      med: a.med,
      nextHop,
      byLen: null,
    };
    this.ids.set(key, id);
    this.keyChars += key.length;
    return id;
  }

  /** Take one more reference on an existing id. */
  ref(id: number): void {
    this.entries[id]!.refs++;
  }

  release(id: number): void {
    const e = this.entries[id];
    if (!e) return;
    if (--e.refs > 0) return;
    this.ids.delete(e.key);
    this.keyChars -= e.key.length;
    this.entries[id] = null;
    this.free.push(id);
  }

  info(id: number, prefixLen: number): RouteInfo {
    const e = this.entries[id]!;
    const byLen = (e.byLen ??= []);
    let ri = byLen[prefixLen];
    if (!ri) {
      const k = e.key;
      const i1 = k.indexOf("|");
      const i2 = k.indexOf("|", i1 + 1);
      const i3 = k.indexOf("|", i2 + 1);
      ri = {
        prefixLen,
        originAs: e.originAs,
        asPath: k.slice(0, i1),
        communities: k.slice(i1 + 1, i2),
        largeCommunities: k.slice(i2 + 1, i3),
        nextHop: e.nextHop,
        localPref: e.localPref,
      };
      byLen[prefixLen] = ri;
    }
    return ri;
  }

  localPref(id: number): number {
    return this.entries[id]!.localPref;
  }
  asPathLen(id: number): number {
    return this.entries[id]!.asPathLen;
  }
  med(id: number): number {
    return this.entries[id]!.med;
  }

  get size(): number {
    return this.ids.size;
  }

  /**
   * Approximate heap bytes, for the state page: the key (1 byte per char for
   * one-byte strings, + header), the entry object and its map slot. The bench
   * measures the real heap (bench/enrich-rib.ts).
   */
  approxBytes(): number {
    return this.keyChars + this.ids.size * 150;
  }
}

// ---------------------------------------------------------------- trie

// Node layout, interleaved in one Int32Array so that one step of a lookup
// touches one cache line (separate arrays per field measured ~4× slower on
// random lookups: each step missed in four arrays):
//   [key word 0 .. W-1, prefix length, child 0, child 1, route list head, parent]
const F_LEN = 0;
const F_C0 = 1;
const F_C1 = 2;
const F_VAL = 3;
const F_PARENT = 4;
const FIELDS = 5;

/** Path-compressed binary trie over W-word keys (W=1: IPv4, W=4: IPv6). Node ids are record offsets. */
export class PrefixTrie {
  readonly W: number;
  private readonly S: number;
  nd: Int32Array;
  root = -1;
  private freeHead = -1;
  private hwm = 0;
  private used = 0;
  /** Scratch query key. */
  private readonly q: Int32Array;
  /**
   * Once the trie is big: for each value of the top 16 bits, the
   * node where a search continues (the first with length ≥ 16 on the path)
   * and the best route node above it. A lookup starts there instead of at the
   * root, skipping the ~10 upper levels (most of its cache misses). Changes
   * mark the ranges they touch; the next lookup recomputes those entries.
   */
  private jump: Int32Array | null = null;
  private dirty: number[] = [];
  private dirtyAll = false;

  constructor(W: number, cap = 1024) {
    this.W = W;
    this.S = W + FIELDS;
    this.nd = new Int32Array(cap * this.S);
    this.q = new Int32Array(W);
  }

  get nodes(): number {
    return this.used;
  }

  bytes(): number {
    return this.nd.byteLength;
  }

  /** Head slot of node n's route list (-1: a glue node). */
  val(n: number): number {
    return this.nd[n + this.W + F_VAL]!;
  }
  setVal(n: number, v: number): void {
    const old = this.nd[n + this.W + F_VAL]!;
    this.nd[n + this.W + F_VAL] = v;
    if (old < 0 !== v < 0) this.touch(n);
  }

  /** Note that node n (its prefix's range of /16s) changed: the jump table entries are stale. */
  private touch(n: number): void {
    if (this.dirtyAll) return;
    if (this.dirty.length >= 8192) {
      this.dirtyAll = true;
      this.dirty.length = 0;
      return;
    }
    // The first key word's top 16 bits and the length give the range of entries.
    this.dirty.push(this.nd[n]!, this.nd[n + this.W + F_LEN]!);
  }

  private flushJump(): void {
    let j = this.jump;
    if (!j) {
      if (this.used < 4096) return;
      j = this.jump = new Int32Array(65536 * 2);
      this.dirtyAll = true;
    }
    if (this.dirtyAll) {
      for (let x = 0; x < 65536; x++) this.jumpEntry(j, x);
    } else {
      const d = this.dirty;
      for (let k = 0; k < d.length; k += 2) {
        const len = d[k + 1]!;
        const lo = d[k]! >>> 16;
        const span = len >= 16 ? 1 : 1 << (16 - len);
        const from = len >= 16 ? lo : lo & ~(span - 1);
        for (let x = from; x < from + span; x++) this.jumpEntry(j, x);
      }
    }
    this.dirty.length = 0;
    this.dirtyAll = false;
  }

  private jumpEntry(j: Int32Array, x: number): void {
    const nd = this.nd;
    const W = this.W;
    const a = x << 16;
    let n = this.root;
    let best = -1;
    // Above length 16 only the first key word matters.
    while (n >= 0) {
      const l = nd[n + W + F_LEN]!;
      if (l >= 16) break;
      if (l !== 0 && (nd[n]! ^ a) >>> (32 - l) !== 0) {
        n = -1;
        break;
      }
      if (nd[n + W + F_VAL]! >= 0) best = n;
      n = nd[n + W + F_C0 + ((a >>> (31 - l)) & 1)]!;
    }
    j[2 * x] = n;
    j[2 * x + 1] = best;
  }
  plen(n: number): number {
    return this.nd[n + this.W + F_LEN]!;
  }

  /** Load a 16-byte address into the scratch key (IPv4: bytes 12-15). */
  private load(addr: Uint8Array, off: number): Int32Array {
    const q = this.q;
    if (this.W === 1) {
      q[0] = (addr[off + 12]! << 24) | (addr[off + 13]! << 16) | (addr[off + 14]! << 8) | addr[off + 15]!;
    } else {
      for (let w = 0; w < 4; w++) {
        const o = off + 4 * w;
        q[w] = (addr[o]! << 24) | (addr[o + 1]! << 16) | (addr[o + 2]! << 8) | addr[o + 3]!;
      }
    }
    return q;
  }

  private static bitOf(words: Int32Array, base: number, i: number): number {
    return (words[base + (i >>> 5)]! >>> (31 - (i & 31))) & 1;
  }

  /** Common leading bits of node n's key and q, at most `max`. */
  private common(n: number, q: Int32Array, max: number): number {
    const nd = this.nd;
    for (let w = 0; w < this.W; w++) {
      const x = nd[n + w]! ^ q[w]!;
      if (x !== 0) return Math.min(w * 32 + Math.clz32(x), max);
    }
    return max;
  }

  private alloc(q: Int32Array, len: number, parent: number): number {
    let n = this.freeHead;
    const W = this.W;
    if (n >= 0) this.freeHead = this.nd[n + W + F_C0]!;
    else {
      n = this.hwm;
      this.hwm += this.S;
      if (this.hwm > this.nd.length) {
        // 1.5×: less slack than doubling at a full table's size.
        const b = new Int32Array(Math.ceil(this.nd.length / this.S / 2) * 3 * this.S);
        b.set(this.nd);
        this.nd = b;
      }
    }
    this.used++;
    const nd = this.nd;
    for (let w = 0; w < W; w++) {
      // Clear the bits past the length: the key is the prefix, not the address.
      const rem = len - w * 32;
      const mask = rem >= 32 ? -1 : rem <= 0 ? 0 : -1 << (32 - rem);
      nd[n + w] = q[w]! & mask;
    }
    nd[n + W + F_LEN] = len;
    nd[n + W + F_C0] = -1;
    nd[n + W + F_C1] = -1;
    nd[n + W + F_VAL] = -1;
    nd[n + W + F_PARENT] = parent;
    this.touch(n);
    return n;
  }

  private release(n: number): void {
    this.touch(n);
    this.nd[n + this.W + F_C0] = this.freeHead;
    this.nd[n + this.W + F_VAL] = -1;
    this.freeHead = n;
    this.used--;
  }

  private replace(parent: number, old: number, nw: number): void {
    const W = this.W;
    const nd = this.nd;
    if (parent < 0) this.root = nw;
    else if (nd[parent + W + F_C0] === old) nd[parent + W + F_C0] = nw;
    else nd[parent + W + F_C1] = nw;
    if (nw >= 0) nd[nw + W + F_PARENT] = parent;
  }

  /** The node for exactly (addr, len), created (with glue as needed) when absent. */
  insert(addr: Uint8Array, off: number, len: number): number {
    const q = this.load(addr, off);
    const W = this.W;
    if (this.root < 0) return (this.root = this.alloc(q, len, -1));
    let n = this.root;
    for (;;) {
      const nl = this.nd[n + W + F_LEN]!;
      const c = this.common(n, q, Math.min(nl, len));
      if (c === nl && c === len) return n;
      if (c === nl) {
        const f = PrefixTrie.bitOf(q, 0, nl) ? F_C1 : F_C0;
        const ch = this.nd[n + W + f]!;
        if (ch < 0) {
          const m = this.alloc(q, len, n);
          this.nd[n + W + f] = m;
          return m;
        }
        n = ch;
        continue;
      }
      const p = this.nd[n + W + F_PARENT]!;
      if (c === len) {
        // The new prefix covers node n: it becomes n's parent.
        const m = this.alloc(q, len, p);
        this.replace(p, n, m);
        this.nd[m + W + (PrefixTrie.bitOf(this.nd, n, len) ? F_C1 : F_C0)] = n;
        this.nd[n + W + F_PARENT] = m;
        return m;
      }
      // They diverge at bit c: a glue node of length c holds both.
      const g = this.alloc(q, c, p);
      this.replace(p, n, g);
      const m = this.alloc(q, len, g);
      const nd = this.nd;
      if (PrefixTrie.bitOf(q, 0, c)) {
        nd[g + W + F_C1] = m;
        nd[g + W + F_C0] = n;
      } else {
        nd[g + W + F_C0] = m;
        nd[g + W + F_C1] = n;
      }
      nd[n + W + F_PARENT] = g;
      return m;
    }
  }

  /** The node for exactly (addr, len), or -1. */
  find(addr: Uint8Array, off: number, len: number): number {
    const q = this.load(addr, off);
    const W = this.W;
    const nd = this.nd;
    let n = this.root;
    while (n >= 0) {
      const nl = nd[n + W + F_LEN]!;
      if (nl > len) return -1;
      if (this.common(n, q, nl) < nl) return -1;
      if (nl === len) return n;
      n = nd[n + W + (PrefixTrie.bitOf(q, 0, nl) ? F_C1 : F_C0)]!;
    }
    return -1;
  }

  /** Longest prefix with a route containing the address: its node, or -1. */
  lookup(addr: Uint8Array, off: number): number {
    const nd = this.nd;
    let best = -1;
    let n = this.root;
    if (this.W === 1) {
      const a = (addr[off + 12]! << 24) | (addr[off + 13]! << 16) | (addr[off + 14]! << 8) | addr[off + 15]!;
      if (this.dirtyAll || this.dirty.length > 0 || (!this.jump && this.used >= 4096)) this.flushJump();
      const j = this.jump;
      if (j) {
        const x = a >>> 16;
        n = j[2 * x]!;
        best = j[2 * x + 1]!;
      }
      while (n >= 0) {
        const l = nd[n + 1]!;
        if (l !== 0 && (nd[n]! ^ a) >>> (32 - l) !== 0) break;
        if (nd[n + 4]! >= 0) best = n;
        if (l === 32) break;
        n = nd[n + 2 + ((a >>> (31 - l)) & 1)]!;
      }
      return best;
    }
    const q = this.load(addr, off);
    if (this.dirtyAll || this.dirty.length > 0 || (!this.jump && this.used >= 4096)) this.flushJump();
    const j = this.jump;
    if (j) {
      const x = q[0]! >>> 16;
      n = j[2 * x]!;
      best = j[2 * x + 1]!;
    }
    while (n >= 0) {
      const l = nd[n + 4]!;
      if (this.common(n, q, l) < l) break;
      if (nd[n + 7]! >= 0) best = n;
      if (l === 128) break;
      n = nd[n + 5 + ((q[l >>> 5]! >>> (31 - (l & 31))) & 1)]!;
    }
    return best;
  }

  /** After a node's route list emptied: drop it and any glue left with one child. */
  prune(n: number): void {
    const W = this.W;
    while (n >= 0 && this.nd[n + W + F_VAL]! < 0) {
      const a = this.nd[n + W + F_C0]!;
      const b = this.nd[n + W + F_C1]!;
      if (a >= 0 && b >= 0) return;
      const p = this.nd[n + W + F_PARENT]!;
      const child = a >= 0 ? a : b;
      this.replace(p, n, child);
      this.release(n);
      if (child >= 0) return;
      n = p;
    }
  }
}

// ---------------------------------------------------------------- the RIB

const SLOT = 5;
const S_ATTR = 0;
const S_NEXT = 1;
const S_PEER = 2;
const S_PATH = 3;
const S_NODE = 4;

/**
 * Lookup cache entries per RIB, at most (4-way set-associative, 36 bytes an
 * entry: ≤ 2.4 MB; it starts at 4096 entries and grows with the working set). A full-table trie lookup is 2-3 µs of
 * cache misses over ~100 MB; flow addresses repeat, so most lookups are
 * answered here in a few tens of ns.
 */
const RCACHE = 65_536;

/** Words 8-11 of an IPv4-mapped address (00 00 ff ff) in host byte order. */
const MAPPED_W2 = new Int32Array(new Uint8Array([0, 0, 0xff, 0xff]).buffer)[0]!;
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** The 32-bit word at a[o…o+4] as an Int32Array view would read it (host order). */
function hostWord(a: Uint8Array, o: number): number {
  return LITTLE_ENDIAN
    ? (a[o + 3]! << 24) | (a[o + 2]! << 16) | (a[o + 1]! << 8) | a[o]!
    : (a[o]! << 24) | (a[o + 1]! << 16) | (a[o + 2]! << 8) | a[o + 3]!;
}

/** Routes of one router, from any number of peers (ids 0-65535). */
let ribIds = 0;

export class Rib {
  /** Identity (≥ 1) for caches outside the RIB that key answers by (RIB, generation). */
  readonly id = ++ribIds;
  /**
   * Bumped on every change (announce, withdraw, peer removal): a cached
   * answer is used only when it was computed in the current generation, so
   * any change drops every cached answer in O(1).
   */
  generation = 1;
  /** Lookup cache: per entry the 4 address words and the generation; the answer beside it. */
  private ck = new Int32Array(0);
  /** Words 0-2 of each entry's address (only IPv6 entries need them). */
  private cw = new Int32Array(0);
  private cv: (RouteInfo | null)[] = [];
  private ccap = 0;
  private cmask = 0;
  /** Live entries evicted since `window` (the lookup count when the current window began). */
  private evictions = 0;
  private window = 0;
  cacheHits = 0;
  cacheMisses = 0;
  /** false: every lookup walks the trie (the bench's uncached figure). */
  useCache = true;
  // The last two address columns looked up in, and their word views (null: not 4-byte aligned).
  private colA: Uint8Array | null = null;
  private viewA: Int32Array | null = null;
  private colB: Uint8Array | null = null;
  private viewB: Int32Array | null = null;
  readonly attrs: AttrTable;
  readonly v4 = new PrefixTrie(1);
  readonly v6 = new PrefixTrie(4);
  // Route slots: one per (prefix, peer, path id).
  private cap = 1024;
  /**
   * Slot records, interleaved like the trie's nodes (one cache line per slot):
   * [attribute id, next slot, peer, path id, node]. The node is -1 when the
   * slot is free; IPv6 routes have bit 30 set on it.
   */
  private sl: Int32Array = new Int32Array(this.cap * SLOT).fill(-1);
  private freeHead = -1;
  private hwm = 0;
  routesV4 = 0;
  routesV6 = 0;
  private readonly perPeer = new Map<number, number>();

  constructor(attrs: AttrTable) {
    this.attrs = attrs;
    this.growCache(4096);
  }

  get routes(): number {
    return this.routesV4 + this.routesV6;
  }

  peerRoutes(peer: number): number {
    return this.perPeer.get(peer) ?? 0;
  }

  /** Typed-array bytes of this RIB (tries + slots); attributes are counted by the AttrTable. */
  bytes(): number {
    return this.v4.bytes() + this.v6.bytes() + this.sl.byteLength;
  }

  private allocSlot(): number {
    let s = this.freeHead;
    if (s >= 0) {
      this.freeHead = this.sl[s * SLOT + S_NEXT]!;
      return s;
    }
    s = this.hwm++;
    if (s >= this.cap) {
      const cap = Math.ceil(this.cap * 1.5);
      const b = new Int32Array(cap * SLOT).fill(-1);
      b.set(this.sl);
      this.sl = b;
      this.cap = cap;
    }
    return s;
  }

  /** Announce (or replace) the route of `peer`/`pathId` for the prefix; `attr` is a retained AttrTable id (consumed). */
  announce(peer: number, pathId: number, v6: boolean, addr: Uint8Array, len: number, attr: number): void {
    const trie = v6 ? this.v6 : this.v4;
    this.bump();
    const node = trie.insert(addr, 0, len);
    for (let s = trie.val(node); s >= 0; s = this.sl[s * SLOT + S_NEXT]!) {
      if (this.sl[s * SLOT + S_PEER] === peer && this.sl[s * SLOT + S_PATH] === (pathId | 0)) {
        this.attrs.release(this.sl[s * SLOT + S_ATTR]!);
        this.sl[s * SLOT + S_ATTR] = attr;
        return;
      }
    }
    const s = this.allocSlot();
    this.sl[s * SLOT + S_ATTR] = attr;
    this.sl[s * SLOT + S_PEER] = peer;
    this.sl[s * SLOT + S_PATH] = pathId | 0;
    this.sl[s * SLOT + S_NODE] = v6 ? node | 0x40000000 : node;
    this.sl[s * SLOT + S_NEXT] = trie.val(node);
    trie.setVal(node, s);
    if (v6) this.routesV6++;
    else this.routesV4++;
    this.perPeer.set(peer, (this.perPeer.get(peer) ?? 0) + 1);
  }

  /** Withdraw the route of `peer`/`pathId`; false when it was not there. */
  withdraw(peer: number, pathId: number, v6: boolean, addr: Uint8Array, len: number): boolean {
    const trie = v6 ? this.v6 : this.v4;
    const node = trie.find(addr, 0, len);
    if (node < 0) return false;
    let prev = -1;
    for (let s = trie.val(node); s >= 0; prev = s, s = this.sl[s * SLOT + S_NEXT]!) {
      if (this.sl[s * SLOT + S_PEER] !== peer || this.sl[s * SLOT + S_PATH] !== (pathId | 0)) continue;
      this.unlink(trie, node, prev, s, v6);
      return true;
    }
    return false;
  }

  private unlink(trie: PrefixTrie, node: number, prev: number, s: number, v6: boolean): void {
    this.bump();
    const next = this.sl[s * SLOT + S_NEXT]!;
    if (prev < 0) trie.setVal(node, next);
    else this.sl[prev * SLOT + S_NEXT] = next;
    this.attrs.release(this.sl[s * SLOT + S_ATTR]!);
    this.sl[s * SLOT + S_NODE] = -1;
    this.sl[s * SLOT + S_NEXT] = this.freeHead;
    this.freeHead = s;
    if (v6) this.routesV6--;
    else this.routesV4--;
    const peer = this.sl[s * SLOT + S_PEER]!;
    const left = (this.perPeer.get(peer) ?? 1) - 1;
    if (left > 0) this.perPeer.set(peer, left);
    else this.perPeer.delete(peer);
    if (trie.val(node) < 0) trie.prune(node);
  }

  /** Remove every route of one peer (Peer Down, session closed); returns how many. */
  removePeer(peer: number): number {
    if (!this.perPeer.has(peer)) return 0;
    let removed = 0;
    for (let s = 0; s < this.hwm; s++) {
      const tagged = this.sl[s * SLOT + S_NODE]!;
      if (tagged < 0 || this.sl[s * SLOT + S_PEER] !== peer) continue;
      const v6 = (tagged & 0x40000000) !== 0;
      const node = tagged & 0x3fffffff;
      const trie = v6 ? this.v6 : this.v4;
      let prev = -1;
      for (let t = trie.val(node); t >= 0 && t !== s; t = this.sl[t * SLOT + S_NEXT]!) prev = t;
      this.unlink(trie, node, prev, s, v6);
      removed++;
    }
    return removed;
  }

  /** Remove everything (router gone). */
  clear(): void {
    for (const peer of [...this.perPeer.keys()]) this.removePeer(peer);
  }

  /**
   * Longest-prefix match for the 16-byte address at addr[off]. When several
   * routes share the prefix, the best is picked as a BGP speaker would for
   * the fields we have (RFC 4271 §9.1.2.2): highest LOCAL_PREF, shortest AS
   * path, lowest MED, then the lowest peer id (the first peer seen).
   */
  lookup(addr: Uint8Array, off: number): RouteInfo | null {
    if (!this.useCache) return this.lookupTrie(addr, off);
    // The 16 bytes as 4 words in host order (the cache key: only equality
    // and the hash need them): 4 loads through a word view of the column
    // (kept for the last two columns seen: a flow's source and destination),
    // else 16 byte loads.
    let wv: Int32Array | null;
    if (addr === this.colA) wv = this.viewA;
    else if (addr === this.colB) wv = this.viewB;
    else {
      wv =
        (addr.byteOffset & 3) === 0 ? new Int32Array(addr.buffer, addr.byteOffset, addr.length >> 2) : null;
      this.colB = this.colA;
      this.viewB = this.viewA;
      this.colA = addr;
      this.viewA = wv;
    }
    let w0: number, w1: number, w2: number, w3: number;
    if (wv !== null && (off & 3) === 0) {
      const i = off >> 2;
      w0 = wv[i]!;
      w1 = wv[i + 1]!;
      w2 = wv[i + 2]!;
      w3 = wv[i + 3]!;
    } else {
      w0 = hostWord(addr, off);
      w1 = hostWord(addr, off + 4);
      w2 = hostWord(addr, off + 8);
      w3 = hostWord(addr, off + 12);
    }
    const v4 = w0 === 0 && w1 === 0 && w2 === MAPPED_W2;
    // Check word: 0 for IPv4-mapped, else an odd hash of words 0-2 (kept in
    // a side table, compared only for IPv6).
    const chk = v4 ? 0 : (Math.imul(w0, 0x1b873593) ^ Math.imul(w1 ^ (w2 >>> 7), 0xcc9e2d51) ^ w2) | 1;
    let h = Math.imul(w3, 0xcc9e2d51) ^ chk;
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    // 4-way sets of 4-word slots [generation, word 3, check, 0]: one 64-byte
    // line per set. Ways in insertion order (way 0 the newest): a miss shifts
    // the set down one way, dropping the oldest. (Direct-mapped or 2-way, the
    // addresses sharing a set by chance kept evicting each other: 2 % misses
    // on a 5 k-address working set, each a 2-3 µs trie walk.)
    const ck = this.ck;
    const e = (h & this.cmask) << 2;
    const gen = this.generation;
    for (let x = e, k = e << 2; x < e + 4; x++, k += 4)
      if (ck[k] === gen && ck[k + 1] === w3 && ck[k + 2] === chk) {
        if (!v4) {
          const f = this.cw;
          if (f[x * 3] !== w0 || f[x * 3 + 1] !== w1 || f[x * 3 + 2] !== w2) continue;
        }
        this.cacheHits++;
        return this.cv[x]!;
      }
    this.cacheMisses++;
    const r = this.lookupTrie(addr, off);
    const k = e << 2;
    if (ck[k + 12] === gen) this.evictions++;
    const seen = this.cacheHits + this.cacheMisses;
    if (seen - this.window > this.ccap * 2) {
      // Over the last 2 × capacity lookups, more than 1/64 of the capacity
      // in live entries evicted: the working set outgrew the table.
      if (this.evictions > this.ccap >> 6 && this.ccap < RCACHE) {
        this.growCache(this.ccap * 2);
        return r;
      }
      this.window = seen;
      this.evictions = 0;
    }
    for (let j = 15; j >= 4; j--) ck[k + j] = ck[k + j - 4]!;
    const cv = this.cv;
    const f = this.cw;
    for (let j = 3 * e + 11; j >= 3 * e + 3; j--) f[j] = f[j - 3]!;
    cv[e + 3] = cv[e + 2]!;
    cv[e + 2] = cv[e + 1]!;
    cv[e + 1] = cv[e]!;
    ck[k] = gen;
    ck[k + 1] = w3;
    ck[k + 2] = chk;
    f[3 * e] = w0;
    f[3 * e + 1] = w1;
    f[3 * e + 2] = w2;
    cv[e] = r;
    return r;
  }

  /**
   * A fresh (empty) cache of `entries`. It starts small and doubles while
   * live entries get evicted, up to RCACHE: a table much larger than the
   * working set costs a cache miss per probe (the probe of a 1.3 MB table
   * was most of a cached lookup's time on a shared VM).
   */
  private growCache(entries: number): void {
    this.ccap = entries;
    this.cmask = entries / 4 - 1;
    this.ck = new Int32Array(entries * 4);
    this.cw = new Int32Array(entries * 3);
    this.cv = new Array<RouteInfo | null>(entries).fill(null);
    this.evictions = 0;
    this.window = this.cacheHits + this.cacheMisses;
  }

  /** A new generation (kept a non-zero int32: it is stored in an Int32Array whose fresh entries are 0). */
  private bump(): void {
    this.generation = (this.generation + 1) | 0 || 1;
  }

  /** lookup() without the cache. */
  lookupTrie(addr: Uint8Array, off: number): RouteInfo | null {
    let v6 = false;
    for (let k = 0; k < 10; k++)
      if (addr[off + k] !== 0) {
        v6 = true;
        break;
      }
    if (!v6 && (addr[off + 10] !== 0xff || addr[off + 11] !== 0xff)) v6 = true;
    const trie = v6 ? this.v6 : this.v4;
    const node = trie.lookup(addr, off);
    if (node < 0) return null;
    let s = trie.val(node);
    let best = s;
    s = this.sl[s * SLOT + S_NEXT]!;
    if (s >= 0) {
      const at = this.attrs;
      for (; s >= 0; s = this.sl[s * SLOT + S_NEXT]!) {
        const a = this.sl[s * SLOT + S_ATTR]!;
        const b = this.sl[best * SLOT + S_ATTR]!;
        const d =
          at.localPref(a) - at.localPref(b) ||
          at.asPathLen(b) - at.asPathLen(a) ||
          at.med(b) - at.med(a) ||
          this.sl[best * SLOT + S_PEER]! - this.sl[s * SLOT + S_PEER]!;
        if (d > 0) best = s;
      }
    }
    return this.attrs.info(this.sl[best * SLOT + S_ATTR]!, trie.plen(node));
  }
}
