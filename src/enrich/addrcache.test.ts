// AddrCache (src/enrich/addrcache.ts): the per-address cache in front of the
// networks file and GeoIP must answer exactly what the sources answer, keep
// IPv4 and IPv6 addresses apart (even with equal last words), stay bounded,
// and forget everything on clear() (a reload).
import assert from "node:assert/strict";
import { test } from "node:test";
import { FlowBatch } from "../collector/batch.js";
import { formatIp, parseIp, putIpv4 } from "../collector/ip.js";
import { defaultEnrichConfig } from "./config.js";
import type { GeoAnswer } from "./geoip.js";
import type { NetworkInfo } from "./networks.js";
import type { PathAttrs } from "./routing/bgp.js";
import { RoutingTables } from "./routing/tables.js";
import { AddrCache, EnrichmentService } from "./service.js";

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

// The route kept on an AddrCache entry (with its RIB's id and generation):
// a RIB change, another router (fallback) or a new router must be seen by the
// next batch, exactly as an uncached lookup would answer.
test("EnrichmentService: routes cached per address follow RIB changes and the router choice", () => {
  const tables = new RoutingTables({}, true);
  const source = {
    name: "routing",
    lookup: (e: string, a: Uint8Array, o: number) => tables.lookup(e, a, o),
    router: (e: string) => tables.router(e),
    start: async () => {},
    stop: async () => {},
    state: () => [],
  };
  const svc = new EnrichmentService({
    config: { ...defaultEnrichConfig(), asOrder: ["flow", "routing"] },
    routing: source,
  });
  const attrs = (origin: number, path: string): PathAttrs => ({
    asPath: path,
    asPathLen: path.split(" ").length,
    originAs: origin,
    communities: "",
    largeCommunities: "",
    nextHop: parseIp("192.0.2.254")!,
    localPref: 100,
    med: 0,
  });
  const pfx = (s: string, len: number) => ({ v6: false, addr: parseIp(s)!, len, pathId: 0 });
  const run = (flowAs = 0): FlowBatch => {
    const b = new FlowBatch(8);
    for (let i = 0; i < 3; i++) {
      b.cols.exporter_address.set(parseIp("192.0.2.1")!, i * 16);
      b.cols.src_addr.set(parseIp("10.0.0.1")!, i * 16);
      b.cols.dst_addr.set(parseIp("198.51.100.7")!, i * 16);
      b.cols.ip_version[i] = 4;
      b.cols.src_as[i] = flowAs;
      b.length++;
    }
    svc.consume(b);
    return b;
  };
  // No router yet: nothing.
  let b = run();
  assert.equal(b.cols.dst_as[0], 0);
  // A router that is not the exporter's: used through the fallback.
  const other = tables.add("bmp", "203.0.113.9");
  const po = other.peer("p", "203.0.113.10", 64500);
  other.apply(po, [], [pfx("198.51.100.0", 24)], attrs(64501, "64500 64501"));
  b = run();
  assert.equal(b.cols.dst_as[0], 64501);
  assert.equal(b.cols.dst_prefix_len[2], 24);
  assert.equal(b.cols.as_path[1], "64500 64501");
  assert.equal(formatIp(b.cols.bgp_next_hop, 2 * 16), "192.0.2.254");
  // A more specific route in that RIB: a new generation, the cached route is stale.
  other.apply(po, [], [pfx("198.51.100.0", 25)], attrs(64502, "64500 64502"));
  b = run();
  assert.equal(b.cols.dst_as[0], 64502);
  assert.equal(b.cols.dst_prefix_len[0], 25);
  // The exporter's own router appears: it answers from now on.
  const own = tables.add("bgp", "192.0.2.1");
  own.apply(own.peer("q", "192.0.2.1", 64600), [], [pfx("198.51.0.0", 16)], attrs(64601, "64601"));
  b = run();
  assert.equal(b.cols.dst_as[0], 64601);
  assert.equal(b.cols.dst_prefix_len[0], 16);
  assert.equal(b.cols.src_as[0], 0, "10.0.0.1 has no route");
  // The flow's AS comes first in asOrder: kept; routing fills the zero ones.
  b = run(65000);
  assert.equal(b.cols.src_as[0], 65000);
  assert.equal(b.cols.dst_as[0], 64601);
  // Withdrawn: back to the fallback's route.
  own.apply(own.peers.get("q")!, [pfx("198.51.0.0", 16)], [], null);
  b = run();
  assert.equal(b.cols.dst_as[0], 64502);
  // The repeated addresses were answered from the cache, without errors.
  const m = svc.metrics();
  assert.ok(m.enrich_geoip_cache_hits! > 0 && m.enrich_errors === 0, JSON.stringify(m));
});
