// AddrCache (src/enrich/service.ts): the per-address cache in front of the
// networks file and GeoIP must answer exactly what the sources answer, keep
// IPv4 and IPv6 addresses apart (even with equal last words), stay bounded,
// and forget everything on clear() (a reload).
import assert from "node:assert/strict";
import { test } from "node:test";
import { putIpv4 } from "../collector/ip.js";
import type { GeoAnswer } from "./geoip.js";
import type { NetworkInfo } from "./networks.js";
import { AddrCache } from "./service.js";

class Rng {
  constructor(private s: number) {}
  next(): number {
    this.s = (this.s * 1664525 + 1013904223) >>> 0;
    return this.s;
  }
}

/** n addresses: even ones IPv4-mapped, odd ones IPv6 whose last word equals the previous IPv4's. */
function addresses(n: number, seed: number): Uint8Array {
  const rng = new Rng(seed);
  const a = new Uint8Array(n * 16);
  for (let i = 0; i < n; i += 2) {
    const w = rng.next();
    putIpv4(a, i * 16, w);
    if (i + 1 < n) {
      const o = (i + 1) * 16;
      a.set([0x20, 0x01, 0x0d, 0xb8, rng.next() & 0xff, 0, 0, 0, 0, 0, 0, 0], o);
      a.set(a.subarray(i * 16 + 12, i * 16 + 16), o + 12);
    }
  }
  return a;
}

/** The "source": a deterministic answer per address. */
function truth(a: Uint8Array, i: number, nets: NetworkInfo[]): { net: NetworkInfo | null; geo: GeoAnswer } {
  const o = i * 16;
  const v6 = a[o] === 0x20;
  const k = (a[o + 15]! + (v6 ? 1 : 0) + a[o + 4]!) % nets.length;
  return {
    net: k === 0 ? null : nets[k]!,
    geo: { country: v6 ? "JP" : "US", asn: k, asName: `AS${k}` },
  };
}

test("AddrCache: answers equal the sources', IPv4 and IPv6 kept apart, bounded", () => {
  const nets: NetworkInfo[] = Array.from({ length: 17 }, (_, k) => ({
    name: `n${k}`,
    role: "r",
    site: "",
    tenant: "",
    asn: k,
  }));
  const n = 20_000;
  const a = addresses(n, 7);
  const w = new Int32Array(a.buffer);
  const c = new AddrCache(50_000);
  let misses = 0;
  for (let pass = 0; pass < 3; pass++) {
    misses = 0;
    for (let i = 0; i < n; i++) {
      const want = truth(a, i, nets);
      let got = c.find(w, i * 4);
      if (got === null) {
        misses++;
        got = c.put(want.net, want.geo);
      }
      assert.equal(got.net, want.net, `row ${i} pass ${pass}`);
      assert.deepEqual(got.geo, want.geo, `row ${i} pass ${pass}`);
    }
  }
  assert.ok(misses < n / 100, `a second pass mostly hits (${misses} misses)`);
  assert.ok(c.capacity <= c.maxCapacity && c.maxCapacity <= 131_072);
  // Answers are interned: far fewer objects than addresses.
  assert.ok(c.answers.length <= 2 * nets.length, `${c.answers.length} answers`);

  // More distinct addresses than the bound: it evicts, never grows past it, and stays correct.
  const small = new AddrCache(1000);
  const many = addresses(10_000, 9);
  const mw = new Int32Array(many.buffer);
  for (let i = 0; i < 10_000; i++) {
    const want = truth(many, i, nets);
    const got = small.find(mw, i * 4) ?? small.put(want.net, want.geo);
    assert.equal(got.net, want.net);
    assert.deepEqual(got.geo, want.geo);
  }
  assert.ok(small.size <= small.maxCapacity && small.maxCapacity === 2048, `size ${small.size}`);

  // clear() (a source reloaded) forgets every entry.
  c.clear();
  for (let i = 0; i < 100; i++) assert.equal(c.find(w, i * 4), null);
});
