// The RIB's longest-prefix match against a brute-force scan over random
// prefixes, through announce / withdraw / peer removal, IPv4 and IPv6.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseIp } from "../../collector/ip.js";
import type { PathAttrs } from "./bgp.js";
import { AttrTable, Rib } from "./rib.js";

function attrs(asn: number, lp = 100): PathAttrs {
  return {
    asPath: `65000 ${asn}`,
    asPathLen: 2,
    originAs: asn,
    communities: "65000:1",
    largeCommunities: "",
    nextHop: parseIp("192.0.2.1")!,
    localPref: lp,
    med: 0,
  };
}

let seed = 12345;
function rnd(n: number): number {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return (seed >>> 8) % n;
}

interface R {
  v6: boolean;
  addr: Uint8Array;
  len: number;
  peer: number;
  asn: number;
}

function covers(r: R, a: Uint8Array): boolean {
  const base = r.v6 ? 0 : 12;
  for (let i = 0; i < r.len; i++) {
    const byte = base + (i >> 3);
    const m = 0x80 >> (i & 7);
    if ((r.addr[byte]! & m) !== (a[byte]! & m)) return false;
  }
  return true;
}

function randAddr(v6: boolean): Uint8Array {
  const a = new Uint8Array(16);
  if (!v6) {
    a[10] = 0xff;
    a[11] = 0xff;
    // Concentrate in a few /8s so prefixes nest.
    a[12] = 10 + rnd(3);
    for (let k = 13; k < 16; k++) a[k] = rnd(256);
  } else {
    a[0] = 0x20;
    a[1] = rnd(3); // a few values of the top 16 bits (the jump table index)
    a[2] = rnd(3);
    for (let k = 3; k < 16; k++) a[k] = rnd(256);
  }
  return a;
}

function mask(a: Uint8Array, v6: boolean, len: number): Uint8Array {
  const out = a.slice();
  const base = v6 ? 0 : 12;
  for (let i = len; i < (v6 ? 128 : 32); i++) out[base + (i >> 3)]! &= ~(0x80 >> (i & 7));
  return out;
}

for (const [rounds, checks] of [
  [4000, 3000],
  // Past 4096 IPv4 nodes the trie starts from its /16 jump table.
  [40000, 1500],
] as const)
  test(`LPM equals a brute-force scan through announce, withdraw and peer removal (${rounds} changes)`, () => {
    const at = new AttrTable();
    const rib = new Rib(at);
    const live = new Map<string, R>();
    const key = (r: { v6: boolean; addr: Uint8Array; len: number; peer: number }): string =>
      `${r.v6}|${r.addr.join(".")}|${r.len}|${r.peer}`;
    for (let round = 0; round < rounds; round++) {
      const v6 = rnd(3) === 0;
      const len = v6 ? 16 + rnd(113) : 8 + rnd(25);
      const addr = mask(randAddr(v6), v6, len);
      const peer = rnd(2);
      const r: R = { v6, addr, len, peer, asn: 64512 + rnd(1000) };
      if (rnd(4) === 0 && live.size > 0) {
        const victim = [...live.values()][rnd(live.size)]!;
        assert.equal(rib.withdraw(victim.peer, 0, victim.v6, victim.addr, victim.len), true);
        live.delete(key(victim));
      } else {
        rib.announce(peer, 0, v6, addr, len, at.retain(attrs(r.asn)));
        live.set(key(r), r);
      }
    }
    const check = (): void => {
      for (let i = 0; i < checks; i++) {
        const v6 = rnd(3) === 0;
        const a = randAddr(v6);
        let best: R | null = null;
        for (const r of live.values())
          if (
            r.v6 === v6 &&
            covers(r, a) &&
            (!best || r.len > best.len || (r.len === best.len && r.peer < best.peer))
          )
            best = r;
        const got = rib.lookup(a, 0);
        if (!best) assert.equal(got, null);
        else {
          assert.ok(got, "expected a match");
          assert.equal(got.prefixLen, best.len);
          assert.equal(got.originAs, best.asn);
        }
      }
    };
    check();
    assert.equal(rib.routes, live.size);
    const removed = rib.removePeer(1);
    for (const [k, r] of live) if (r.peer === 1) live.delete(k);
    assert.ok(removed > 0);
    assert.equal(rib.routes, live.size);
    check();
    rib.clear();
    assert.equal(rib.routes, 0);
    assert.equal(rib.v4.nodes, 0);
    assert.equal(rib.v6.nodes, 0);
    assert.equal(at.size, 0, "every attribute set released");
  });

test("attribute sets are shared; best path prefers local pref", () => {
  const at = new AttrTable();
  const rib = new Rib(at);
  const p = parseIp("198.51.100.0")!;
  rib.announce(0, 0, false, p, 24, at.retain(attrs(64500, 100)));
  rib.announce(1, 0, false, p, 24, at.retain(attrs(64501, 200)));
  rib.announce(0, 0, false, parseIp("203.0.113.0")!, 24, at.retain(attrs(64500, 100)));
  assert.equal(at.size, 2);
  const hit = rib.lookup(parseIp("198.51.100.77")!, 0);
  assert.equal(hit?.originAs, 64501);
  assert.equal(hit?.localPref, 200);
  assert.equal(rib.lookup(parseIp("198.51.101.1")!, 0), null);
  // Default route catches the rest.
  rib.announce(0, 0, false, parseIp("0.0.0.0")!, 0, at.retain(attrs(1)));
  assert.equal(rib.lookup(parseIp("8.8.8.8")!, 0)?.prefixLen, 0);
  assert.equal(rib.lookup(parseIp("2001:db8::1")!, 0), null, "IPv4 default does not match IPv6");
});

test("lookup cache: every change is seen by the next lookup (announce, withdraw, more specific, peer down)", () => {
  const rib = new Rib(new AttrTable());
  const p = (t: string): Uint8Array => parseIp(t)!;
  const a = p("198.51.100.7");
  const a6 = p("2001:db8:1::7");
  const ann = (peer: number, prefix: string, len: number, asn: number, lp = 100): void =>
    rib.announce(peer, 0, prefix.includes(":"), p(prefix), len, rib.attrs.retain(attrs(asn, lp)));
  assert.equal(rib.lookup(a, 0), null);
  assert.equal(rib.lookup(a, 0), null); // a cached "no route"
  ann(0, "198.51.100.0", 24, 64501);
  assert.equal(rib.lookup(a, 0)?.originAs, 64501);
  const hits = rib.cacheHits;
  assert.equal(rib.lookup(a, 0)?.originAs, 64501);
  assert.equal(rib.cacheHits, hits + 1, "the second lookup is a cache hit");
  // A more specific prefix from another peer.
  ann(1, "198.51.100.0", 28, 64502);
  assert.equal(rib.lookup(a, 0)?.prefixLen, 28);
  // The same prefix and peer re-announced with other attributes.
  ann(1, "198.51.100.0", 28, 64503);
  assert.equal(rib.lookup(a, 0)?.originAs, 64503);
  // Withdraw the more specific: back to the /24.
  assert.ok(rib.withdraw(1, 0, false, p("198.51.100.0"), 28));
  assert.equal(rib.lookup(a, 0)?.prefixLen, 24);
  // IPv6 beside it, then peer down removes both families.
  ann(0, "2001:db8::", 32, 64510);
  assert.equal(rib.lookup(a6, 0)?.originAs, 64510);
  assert.equal(rib.lookup(a, 0)?.originAs, 64501);
  assert.equal(rib.removePeer(0), 2);
  assert.equal(rib.lookup(a, 0), null);
  assert.equal(rib.lookup(a6, 0), null);
  // Cached answers always equal the uncached trie walk, over random churn.
  const addrs = Array.from({ length: 500 }, () => p(`10.${rnd(4)}.${rnd(256)}.${rnd(256)}`));
  for (let round = 0; round < 200; round++) {
    const len = 8 + rnd(25);
    const pre = `10.${rnd(4)}.${rnd(256)}.0`;
    if (rnd(3) === 0) rib.withdraw(rnd(2), 0, false, p(pre), len);
    else ann(rnd(2), pre, len, 64600 + rnd(50));
    for (let k = 0; k < 20; k++) {
      const x = addrs[rnd(addrs.length)]!;
      assert.deepEqual(rib.lookup(x, 0), rib.lookupTrie(x, 0));
      // Unaligned (the byte path of the cache key) and inside a column (the word view).
      const col = new Uint8Array(64);
      col.set(x, 3);
      assert.deepEqual(rib.lookup(col, 3), rib.lookupTrie(x, 0));
      col.fill(0).set(x, 32);
      assert.deepEqual(rib.lookup(col, 32), rib.lookupTrie(x, 0));
    }
  }
  assert.ok(rib.cacheHits > 0);
});
