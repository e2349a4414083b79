// Longest-prefix match over the schema's 16-byte addresses (IPv4-mapped for
// IPv4), for the networks file and the classifier's exporter prefixes.
//
// How: the prefixes of each family are flattened, once per load, into
// disjoint address intervals, each labelled with its most specific covering
// prefix (or none); a lookup is then a binary search over the interval starts
// held in a Uint32Array (1 word per start for IPv4, 4 for IPv6): about
// log2(2 × prefixes) typed-array reads, no allocation, whatever the prefix
// lengths. (A Map per prefix length cost ~50 ns a probe and one probe per
// distinct length, 750 ns a lookup on a 13-length file: 25 × slower.)
// IPv4 and IPv6 are kept apart: an IPv4 flow matches only IPv4 prefixes
// (written a.b.c.d/len), an IPv6 flow only IPv6 ones.
import { parseIp } from "../collector/ip.js";

export interface ParsedPrefix {
  v4: boolean;
  /** Length within the family (0-32 for IPv4, 0-128 for IPv6). */
  len: number;
  /** 16-byte address (IPv4-mapped for IPv4). */
  bytes: Uint8Array;
}

/** "a.b.c.d/len", "x::/len" or a bare address (a host route) → prefix, or an error text. */
export function parsePrefixText(text: string): ParsedPrefix | string {
  const slash = text.indexOf("/");
  const addr = slash < 0 ? text : text.slice(0, slash);
  const bytes = parseIp(addr);
  if (!bytes) return `"${addr}" is not an IP address`;
  const v4 = !addr.includes(":");
  const max = v4 ? 32 : 128;
  let len = max;
  if (slash >= 0) {
    const t = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(t) || Number(t) > max) return `prefix length must be 0-${max}`;
    len = Number(t);
  }
  return { v4, len, bytes };
}

function isMapped(a: Uint8Array, off: number): boolean {
  for (let i = 0; i < 10; i++) if (a[off + i] !== 0) return false;
  return a[off + 10] === 0xff && a[off + 11] === 0xff;
}

/** The big-endian 32-bit word at a[o…o+4], unsigned. */
function be32(a: Uint8Array, o: number): number {
  return ((a[o]! << 24) | (a[o + 1]! << 16) | (a[o + 2]! << 8) | a[o + 3]!) >>> 0;
}

function toBig(b: Uint8Array, from: number, to: number): bigint {
  let v = 0n;
  for (let i = from; i < to; i++) v = (v << 8n) | BigInt(b[i]!);
  return v;
}

/** One family's prefixes flattened into intervals (see the file comment). */
class Flat<T> {
  /** Interval starts, `words` 32-bit words each, ascending. */
  starts = new Uint32Array(0);
  /** Value index per interval (-1: no prefix covers it). */
  vals = new Int32Array(0);
  n = 0;
  /**
   * IPv4 only: first[k] = the last interval starting at or below k << 16, so
   * a lookup binary-searches only [first[top16], first[top16 + 1]] — one to
   * a few steps instead of log2(intervals).
   */
  first = new Uint32Array(0);

  constructor(
    private readonly words: 1 | 4,
    readonly values: T[],
  ) {}

  /** `ranges`: [start, end] inclusive as bigints with a value index, any order. */
  build(ranges: { lo: bigint; hi: bigint; len: number; v: number }[]): void {
    // Outer prefixes first at equal starts, so a nested one is pushed above its parent.
    ranges.sort((a, b) => (a.lo < b.lo ? -1 : a.lo > b.lo ? 1 : a.len - b.len));
    const starts: bigint[] = [];
    const vals: number[] = [];
    const max = (1n << BigInt(32 * this.words)) - 1n;
    const emit = (lo: bigint, v: number): void => {
      if (lo > max) return; // past the end of the address space (a prefix ending at the last address)
      if (vals.length > 0 && vals[vals.length - 1] === v) return; // merge equal neighbours
      if (starts.length > 0 && starts[starts.length - 1] === lo) {
        vals[vals.length - 1] = v;
        return;
      }
      starts.push(lo);
      vals.push(v);
    };
    const stack: { hi: bigint; v: number }[] = [];
    let cur = 0n;
    const closeUntil = (pos: bigint | null): void => {
      // Close every open prefix that ends before `pos` (all of them for null).
      while (stack.length > 0 && (pos === null || stack[stack.length - 1]!.hi < pos)) {
        const top = stack.pop()!;
        if (cur <= top.hi) {
          emit(cur, top.v);
          cur = top.hi + 1n;
        }
      }
    };
    for (const r of ranges) {
      closeUntil(r.lo);
      if (cur < r.lo) {
        emit(cur, stack.length > 0 ? stack[stack.length - 1]!.v : -1);
        cur = r.lo;
      }
      stack.push({ hi: r.hi, v: r.v });
    }
    closeUntil(null);
    emit(cur, -1);
    const w = this.words;
    this.n = starts.length;
    this.starts = new Uint32Array(this.n * w);
    this.vals = Int32Array.from(vals);
    for (let i = 0; i < this.n; i++) {
      let s = starts[i]!;
      for (let k = w - 1; k >= 0; k--) {
        this.starts[i * w + k] = Number(s & 0xffffffffn);
        s >>= 32n;
      }
    }
    if (w === 1) {
      this.first = new Uint32Array(65537);
      let j = 0;
      for (let k = 0; k < 65536; k++) {
        const at = k * 65536;
        while (j + 1 < this.n && this.starts[j + 1]! <= at) j++;
        this.first[k] = j;
      }
      this.first[65536] = this.n - 1;
    }
  }

  lookup4(word: number): T | null {
    const st = this.starts;
    const k = word >>> 16;
    let lo = this.first[k]!;
    let hi = this.first[k + 1]!;
    // Last interval whose start ≤ word (interval 0 starts at 0, so there is one).
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (st[mid]! <= word) lo = mid;
      else hi = mid - 1;
    }
    const v = this.vals[lo]!;
    return v < 0 ? null : this.values[v]!;
  }

  lookup6(w0: number, w1: number, w2: number, w3: number): T | null {
    const st = this.starts;
    let lo = 0;
    let hi = this.n - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      const o = mid * 4;
      const a = st[o]!;
      let le: boolean;
      if (a !== w0) le = a < w0;
      else {
        const b = st[o + 1]!;
        if (b !== w1) le = b < w1;
        else {
          const c = st[o + 2]!;
          if (c !== w2) le = c < w2;
          else le = st[o + 3]! <= w3;
        }
      }
      if (le) lo = mid;
      else hi = mid - 1;
    }
    const v = this.vals[lo]!;
    return v < 0 ? null : this.values[v]!;
  }
}

export class PrefixTable<T> {
  /** Latest value per prefix ("v4|len|masked start"), in insertion order. */
  private readonly entries = new Map<string, { p: ParsedPrefix; lo: bigint; hi: bigint; value: T }>();
  private v4: Flat<T> | null = null;
  private v6: Flat<T> | null = null;

  get size(): number {
    return this.entries.size;
  }

  /** Add (or replace) a prefix. Host bits of the address are ignored. */
  set(p: ParsedPrefix, value: T): void {
    const bits = p.v4 ? 32 : 128;
    const addr = p.v4 ? toBig(p.bytes, 12, 16) : toBig(p.bytes, 0, 16);
    const host = (1n << BigInt(bits - p.len)) - 1n;
    const lo = addr & ~host & ((1n << BigInt(bits)) - 1n);
    this.entries.set(`${p.v4 ? 4 : 6}|${p.len}|${lo}`, { p, lo, hi: lo | host, value });
    this.v4 = this.v6 = null;
  }

  /**
   * Flatten for lookups. Parsers call it when a file is loaded (beside the
   * pipeline); a lookup on a table changed since builds it first.
   */
  build(): this {
    const values: T[] = [];
    const r4: { lo: bigint; hi: bigint; len: number; v: number }[] = [];
    const r6: typeof r4 = [];
    for (const e of this.entries.values()) {
      (e.p.v4 ? r4 : r6).push({ lo: e.lo, hi: e.hi, len: e.p.len, v: values.length });
      values.push(e.value);
    }
    const f4 = new Flat<T>(1, values);
    f4.build(r4);
    const f6 = new Flat<T>(4, values);
    f6.build(r6);
    this.v4 = f4;
    this.v6 = f6;
    return this;
  }

  /** Longest match for the 16-byte address at `addr[off…off+16]`; null when none. */
  lookup(addr: Uint8Array, off: number): T | null {
    if (!this.v4 || !this.v6) this.build();
    if (isMapped(addr, off)) {
      const w =
        ((addr[off + 12]! << 24) | (addr[off + 13]! << 16) | (addr[off + 14]! << 8) | addr[off + 15]!) >>> 0;
      return this.v4!.lookup4(w);
    }
    return this.v6!.lookup6(be32(addr, off), be32(addr, off + 4), be32(addr, off + 8), be32(addr, off + 12));
  }
}
