// Longest-prefix match over the schema's 16-byte addresses (IPv4-mapped for
// IPv4), for the networks file and the classifier's exporter prefixes.
//
// Why one hash map per prefix length instead of a bit trie: real networks
// files use a handful of distinct lengths (/8, /16, /24, /32, /48, /64 …), so
// a lookup is a few masked-integer Map probes, longest length first, with no
// per-bit pointer chasing and no allocation for IPv4. IPv4 and IPv6 are kept
// apart: an IPv4 flow matches only IPv4 prefixes (written a.b.c.d/len), an
// IPv6 flow only IPv6 ones.
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

function v4Key(word: number, len: number): number {
  return len === 0 ? 0 : (word >>> (32 - len)) >>> 0;
}

/** Masked IPv6 key: the first ceil(len/32) 32-bit words, the last one masked, in hex. */
function v6Key(a: Uint8Array, off: number, len: number): string {
  let key = "";
  for (let w = 0; w * 32 < len; w++) {
    const o = off + w * 4;
    let word = ((a[o]! << 24) | (a[o + 1]! << 16) | (a[o + 2]! << 8) | a[o + 3]!) >>> 0;
    const bits = len - w * 32;
    if (bits < 32) word = (word >>> (32 - bits)) >>> 0;
    key += word.toString(16) + ":";
  }
  return key;
}

function isMapped(a: Uint8Array, off: number): boolean {
  for (let i = 0; i < 10; i++) if (a[off + i] !== 0) return false;
  return a[off + 10] === 0xff && a[off + 11] === 0xff;
}

export class PrefixTable<T> {
  private readonly v4 = new Array<Map<number, T> | undefined>(33);
  private readonly v6 = new Array<Map<string, T> | undefined>(129);
  /** Lengths present, longest first. */
  private v4Lens: number[] = [];
  private v6Lens: number[] = [];
  size = 0;

  /** Add (or replace) a prefix. */
  set(p: ParsedPrefix, value: T): void {
    if (p.v4) {
      const word = ((p.bytes[12]! << 24) | (p.bytes[13]! << 16) | (p.bytes[14]! << 8) | p.bytes[15]!) >>> 0;
      let m = this.v4[p.len];
      if (!m) {
        m = this.v4[p.len] = new Map();
        this.v4Lens = lensOf(this.v4);
      }
      const k = v4Key(word, p.len);
      if (!m.has(k)) this.size++;
      m.set(k, value);
    } else {
      let m = this.v6[p.len];
      if (!m) {
        m = this.v6[p.len] = new Map();
        this.v6Lens = lensOf(this.v6);
      }
      const k = v6Key(p.bytes, 0, p.len);
      if (!m.has(k)) this.size++;
      m.set(k, value);
    }
  }

  /** Longest match for the 16-byte address at `addr[off…off+16]`; null when none. */
  lookup(addr: Uint8Array, off: number): T | null {
    if (isMapped(addr, off)) {
      const word =
        ((addr[off + 12]! << 24) | (addr[off + 13]! << 16) | (addr[off + 14]! << 8) | addr[off + 15]!) >>> 0;
      for (const len of this.v4Lens) {
        const v = this.v4[len]!.get(v4Key(word, len));
        if (v !== undefined) return v;
      }
      return null;
    }
    for (const len of this.v6Lens) {
      const v = this.v6[len]!.get(v6Key(addr, off, len));
      if (v !== undefined) return v;
    }
    return null;
  }
}

function lensOf(maps: readonly (Map<unknown, unknown> | undefined)[]): number[] {
  const out: number[] = [];
  for (let len = maps.length - 1; len >= 0; len--) if (maps[len]) out.push(len);
  return out;
}
