// `npm run bench -- rib [--v4 N] [--v6 N] [--peers P] [--lookups N] [--seed S]`
// — the routing RIB's memory for a full table and its lookup cost.
//
// A generated table with a realistic shape (defaults: 1,000,000 IPv4 +
// 200,000 IPv6 prefixes; prefix lengths weighted as in today's DFZ, /24 and
// /48 most common; AS paths of 1-9 hops over ~75k origin ASes behind ~2k
// transit ASes, a few paths per origin; communities from the transit) is fed
// to one router's RIB as parsed UPDATEs would be (src/enrich/routing/tables.ts
// RouterEntry.apply, one peer per --peers), then:
//   - memory: heap + array buffers after a forced GC, before vs after → bytes
//     per route (typed-array RIB + interned attribute sets);
//   - lookups: RoutingTables.lookup (exporter → RIB, then longest-prefix
//     match) over 16-byte addresses laid out as a FlowBatch column, half of
//     them inside announced prefixes → ns per lookup and lookups/s, and the
//     flows/s that is at 2 lookups per flow.
// Writes bench/results-rib.json. See docs/enrichment-routing.md.
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import type { PathAttrs, Prefix } from "../src/enrich/routing/bgp.js";
import { RoutingTables } from "../src/enrich/routing/tables.js";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

const MiB = (x: number): string => (x / 1048576).toFixed(1);

// DFZ-like prefix length weights (percent, rounded from public RIB statistics).
const V4_LENS: [number, number][] = [
  [24, 60], [23, 9], [22, 12], [21, 4.5], [20, 4.5], [19, 3], [18, 1.5], [17, 1], [16, 2.5],
  [15, 0.3], [14, 0.3], [13, 0.2], [12, 0.1], [11, 0.05], [10, 0.03], [9, 0.01], [8, 0.01],
]; // prettier-ignore
const V6_LENS: [number, number][] = [
  [48, 48], [32, 12], [44, 8], [40, 6], [36, 4], [29, 4], [46, 3], [47, 3], [42, 2], [45, 2],
  [33, 1.5], [34, 1.5], [35, 1], [28, 1], [38, 1], [39, 0.5], [41, 0.5], [43, 0.5], [30, 0.5],
]; // prettier-ignore

class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 1;
  }
  /** xorshift32 → [0, 1). */
  next(): number {
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x >>> 0;
    return this.s / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  u32(): number {
    return (this.int(65536) * 65536 + this.int(65536)) >>> 0;
  }
}

function picker(weights: [number, number][]): (r: Rng) => number {
  const total = weights.reduce((s, [, w]) => s + w, 0);
  return (r) => {
    let x = r.next() * total;
    for (const [v, w] of weights) if ((x -= w) < 0) return v;
    return weights[0]![0];
  };
}

interface Args {
  v4: number;
  v6: number;
  peers: number;
  lookups: number;
  seed: number;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { v4: 1_000_000, v6: 200_000, peers: 1, lookups: 4_000_000, seed: 7 };
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i]!.replace(/^--/, "") as keyof Args;
    const v = Number(argv[i + 1]);
    if (!(k in a) || !Number.isFinite(v))
      throw new Error(`rib bench: bad argument ${argv[i]} ${argv[i + 1]}`);
    a[k] = v;
  }
  return a;
}

/** Generated table: prefixes in typed arrays (not counted), attributes as numbers. */
interface Table {
  v4: Uint32Array;
  v4len: Uint8Array;
  v6: Uint32Array;
  v6len: Uint8Array;
  /** Per prefix (v4 then v6): origin AS index and path variant. */
  origin: Uint32Array;
  variant: Uint8Array;
}

function generate(a: Args, r: Rng): Table {
  const n = a.v4 + a.v6;
  const t: Table = {
    v4: new Uint32Array(a.v4),
    v4len: new Uint8Array(a.v4),
    v6: new Uint32Array(a.v6 * 4),
    v6len: new Uint8Array(a.v6),
    origin: new Uint32Array(n),
    variant: new Uint8Array(n),
  };
  const seen = new Set<number>();
  const l4 = picker(V4_LENS);
  for (let i = 0; i < a.v4;) {
    const len = l4(r);
    // Unicast space 1.0.0.0-223.255.255.255.
    const addr = ((1 + r.int(223)) * 16777216 + r.int(16777216)) >>> 0;
    const p = len === 0 ? 0 : (addr & (0xffffffff << (32 - len))) >>> 0;
    const key = p * 64 + len;
    if (seen.has(key)) continue;
    seen.add(key);
    t.v4[i] = p;
    t.v4len[i] = len;
    i++;
  }
  seen.clear();
  const l6 = picker(V6_LENS);
  const seen6 = new Set<string>();
  for (let i = 0; i < a.v6;) {
    const len = l6(r);
    // 2000::/3, the first 64 bits random then masked (every length here is ≤ 48).
    const w0 = ((0x2000 + r.int(0x2000)) * 65536 + r.int(65536)) >>> 0;
    const w1 = r.u32();
    const m0 = len >= 32 ? w0 : (w0 & (0xffffffff << (32 - len))) >>> 0;
    const m1 = len >= 64 ? w1 : len <= 32 ? 0 : (w1 & (0xffffffff << (64 - len))) >>> 0;
    const key = `${m0}.${m1}.${len}`;
    if (seen6.has(key)) continue;
    seen6.add(key);
    t.v6[i * 4] = m0;
    t.v6[i * 4 + 1] = m1;
    t.v6len[i] = len;
    i++;
  }
  seen6.clear();
  // Origins: ~75k ASes, a skewed few originate many prefixes; 1-4 path variants each.
  for (let i = 0; i < n; i++) {
    const u = r.next();
    t.origin[i] = Math.floor(75_000 * u * u * u);
    // Most prefixes of an origin share one path; traffic engineering gives some a few more.
    const v = r.next();
    t.variant[i] = v < 0.6 ? 0 : v < 0.8 ? 1 : v < 0.92 ? 2 : 3;
  }
  return t;
}

/** The attributes of prefix i, built fresh (as parsing an UPDATE would). */
function attrsOf(t: Table, i: number, peer: number): PathAttrs {
  const origin = t.origin[i]!;
  const variant = t.variant[i]!;
  // Deterministic per (origin, variant): the same set recurs across prefixes, as in a real table.
  let h = (origin * 2654435761 + variant * 40503 + peer * 97) >>> 0;
  const nextH = (): number => (h = ((Math.imul(h ^ (h >>> 15), 2246822519) >>> 0) ^ (h >>> 13)) >>> 0);
  const hops = 1 + (nextH() % 5) + (nextH() % 4 === 0 ? nextH() % 4 : 0);
  const path: number[] = [64_500 + peer];
  for (let k = 1; k < hops; k++) path.push(1000 + (nextH() % 2000));
  const originAs = 131_072 + origin;
  path.push(originAs);
  const transit = path[1] ?? path[0]!;
  const comms =
    nextH() % 3 === 0 ? "" : `${transit & 0xffff}:${100 + (nextH() % 20)} ${64_500 + peer}:${nextH() % 50}`;
  const nextHop = new Uint8Array(16);
  nextHop[10] = 0xff;
  nextHop[11] = 0xff;
  nextHop.set([192, 0, 2, 1 + peer], 12);
  return {
    asPath: path.join(" "),
    asPathLen: path.length,
    originAs,
    communities: comms,
    largeCommunities: nextH() % 10 === 0 ? `${64_500 + peer}:1:${nextH() % 100}` : "",
    nextHop,
    localPref: 100,
    med: 0,
  };
}

function prefixOf(t: Table, i: number, nV4: number): Prefix {
  const addr = new Uint8Array(16);
  if (i < nV4) {
    const p = t.v4[i]!;
    addr[10] = 0xff;
    addr[11] = 0xff;
    addr[12] = p >>> 24;
    addr[13] = (p >>> 16) & 0xff;
    addr[14] = (p >>> 8) & 0xff;
    addr[15] = p & 0xff;
    return { v6: false, addr, len: t.v4len[i]!, pathId: 0 };
  }
  const j = i - nV4;
  for (let w = 0; w < 4; w++) {
    const v = t.v6[j * 4 + w]!;
    addr[w * 4] = v >>> 24;
    addr[w * 4 + 1] = (v >>> 16) & 0xff;
    addr[w * 4 + 2] = (v >>> 8) & 0xff;
    addr[w * 4 + 3] = v & 0xff;
  }
  return { v6: true, addr, len: t.v6len[j]!, pathId: 0 };
}

export interface RibResult {
  v4: number;
  v6: number;
  peers: number;
  routes: number;
  attributeSets: number;
  loadSeconds: number;
  routesPerSecondIn: number;
  bytes: number;
  bytesPerRoute: number;
  ribArrayBytes: number;
  lookups: number;
  /** CPU ns per lookup (user + system). */
  nsPerLookup: number;
  wallNsPerLookup: number;
  lookupsPerSecond: number;
  flowsPerSecondAt2: number;
  hitRate: number;
}

export function runRib(a: Args, t: Table = generate(a, new Rng(a.seed))): RibResult {
  const r = new Rng(a.seed + 1);
  const n = a.v4 + a.v6;
  // Lookup addresses, as a FlowBatch ip column: half inside announced prefixes.
  const NADDR = 1 << 16;
  const col = new Uint8Array(NADDR * 16);
  for (let k = 0; k < NADDR; k++) {
    const i = r.int(n);
    const p = prefixOf(t, i, a.v4);
    const off = k * 16;
    col.set(p.addr, off);
    const base = p.v6 ? 0 : 12;
    const bits = p.v6 ? 128 : 32;
    // Random host bits under the prefix; every other address fully random in the family.
    for (let b = k % 2 === 0 ? p.len : p.v6 ? 3 : 0; b < bits; b++)
      if (r.next() < 0.5) col[off + base + (b >> 3)]! |= 0x80 >> (b & 7);
      else col[off + base + (b >> 3)]! &= ~(0x80 >> (b & 7));
  }

  gc();
  gc();
  const m0 = process.memoryUsage();
  const before = m0.heapUsed + m0.arrayBuffers;
  const tables = new RoutingTables({}, false);
  const router = tables.add("bmp", "192.0.2.254");
  const t0 = process.hrtime.bigint();
  for (let p = 0; p < a.peers; p++) {
    const peer = router.peer(`peer${p}`, `192.0.2.${1 + p}`, 64_500 + p);
    for (let i = 0; i < n; i++) router.apply(peer, [], [prefixOf(t, i, a.v4)], attrsOf(t, i, p));
  }
  const loadSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  gc();
  gc();
  const m1 = process.memoryUsage();
  const bytes = m1.heapUsed + m1.arrayBuffers - before;
  const routes = router.rib.routes;

  // Lookups: warm up, then time.
  let hits = 0;
  const run = (count: number): void => {
    for (let k = 0; k < count; k++) if (tables.lookup("192.0.2.254", col, (k & (NADDR - 1)) * 16)) hits++;
  };
  run(Math.min(a.lookups, 500_000));
  hits = 0;
  const c0 = process.cpuUsage();
  const l0 = process.hrtime.bigint();
  run(a.lookups);
  const wallNs = Number(process.hrtime.bigint() - l0);
  const cu = process.cpuUsage(c0);
  // CPU time, not wall time: on a shared machine the wall clock counts time
  // this process was not running.
  const ns = (cu.user + cu.system) * 1000;
  return {
    v4: a.v4,
    v6: a.v6,
    peers: a.peers,
    routes,
    attributeSets: tables.attrs.size,
    loadSeconds,
    routesPerSecondIn: routes / loadSeconds,
    bytes,
    bytesPerRoute: bytes / routes,
    ribArrayBytes: router.rib.bytes(),
    lookups: a.lookups,
    nsPerLookup: ns / a.lookups,
    wallNsPerLookup: wallNs / a.lookups,
    lookupsPerSecond: a.lookups / (ns / 1e9),
    flowsPerSecondAt2: a.lookups / (ns / 1e9) / 2,
    hitRate: hits / a.lookups,
  };
}

export async function runRibPart(machine: Record<string, unknown>, argv: string[]): Promise<void> {
  const a = parseArgs(argv);
  console.log(
    `RIB: ${a.v4} IPv4 + ${a.v6} IPv6 generated prefixes × ${a.peers} peer(s) into one router's RIB; ${a.lookups} lookups`,
  );
  const t = generate(a, new Rng(a.seed));
  const res = runRib(a, t);
  console.log(
    [
      `  routes ${res.routes}, distinct attribute sets ${res.attributeSets}`,
      `  load: ${res.loadSeconds.toFixed(2)} s (${(res.routesPerSecondIn / 1e3).toFixed(0)} k routes/s)`,
      `  memory: ${MiB(res.bytes)} MiB (heap + array buffers after GC) = ${res.bytesPerRoute.toFixed(0)} bytes/route` +
        ` (typed arrays of the RIB: ${MiB(res.ribArrayBytes)} MiB)`,
      `  lookup: ${res.nsPerLookup.toFixed(0)} ns CPU each (wall ${res.wallNsPerLookup.toFixed(0)} ns), ${(res.lookupsPerSecond / 1e6).toFixed(2)} M lookups/s` +
        ` = ${(res.flowsPerSecondAt2 / 1e6).toFixed(2)} M flows/s at 2 lookups per flow (hit rate ${(res.hitRate * 100).toFixed(0)}%)`,
    ].join("\n"),
  );
  const path = join(dirname(fileURLToPath(import.meta.url)), "results-rib.json");
  const out = import.meta.url.endsWith(".ts")
    ? path
    : join(dirname(path), "..", "..", "bench", "results-rib.json");
  writeFileSync(
    out,
    JSON.stringify({ finished: new Date().toISOString(), machine, args: a, result: res }, null, 2) + "\n",
  );
  console.log(`\nwrote ${out}`);
}
