// `npm run bench -- rib [--v4 N] [--v6 N] [--peers P] [--lookups N] [--seed S]
//                       [--via bird] [--sample N]`
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
//
// With `--via bird` the same table goes over the wire instead: Debian's BIRD 2
// (bench/rib-daemon.ts) announces it as static routes with their attributes
// over one eBGP session (IPv4 + IPv6 unicast) to our BgpListener on loopback,
// then: routes received per family = routes generated, the time from
// Established to the last route, memory per route after GC, the lookup cost,
// and --sample lookups checked against the generated table (the longest
// generated prefix holding the address, and its attributes).
// Writes bench/results-rib.json (the --via run under "viaBird"). See
// docs/enrichment-routing.md.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { formatIp } from "../src/collector/ip.js";
import { createLogger } from "../src/log.js";
import { BgpListener } from "../src/enrich/routing/bgp-listener.js";
import type { PathAttrs, Prefix } from "../src/enrich/routing/bgp.js";
import { validateRoutingConfig } from "../src/enrich/routing/config.js";
import { RoutingTables, type RouterEntry } from "../src/enrich/routing/tables.js";
import { birdVersion, requireBird, startBird, type BirdRoute } from "./rib-daemon.js";

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
  /** "" in-process; "bird": announced by BIRD over BGP. */
  via: string;
  /** --via: lookups checked against the generated table. */
  sample: number;
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    v4: 1_000_000,
    v6: 200_000,
    peers: 1,
    lookups: 4_000_000,
    seed: 7,
    via: "",
    sample: 20_000,
  };
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i]!.replace(/^--/, "") as keyof Args;
    if (k === "via") {
      if (argv[i + 1] !== "bird")
        throw new Error(`rib bench: --via ${argv[i + 1]}: only "bird" is supported`);
      a.via = "bird";
      continue;
    }
    const v = Number(argv[i + 1]);
    if (!(k in a) || !Number.isFinite(v))
      throw new Error(`rib bench: bad argument ${argv[i]} ${argv[i + 1]}`);
    a[k] = v;
  }
  if (a.via && a.peers !== 1) throw new Error("rib bench: --via announces one feed (--peers 1)");
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
    // Unicast space 1.0.0.0-223.255.255.255 except 127/8, which no table carries
    // (BIRD drops it as a host-scope "bogus route").
    const top = 1 + r.int(223);
    const addr = (top * 16777216 + r.int(16777216)) >>> 0;
    if (top === 127) continue;
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

export interface RibResult extends LookupTiming {
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
}

const NADDR = 1 << 16;

/** An address under prefix i at col[off..off+16]: random host bits (`inside`), else random past the family's fixed bits. */
function addressIn(
  t: Table,
  i: number,
  nV4: number,
  r: Rng,
  col: Uint8Array,
  off: number,
  inside: boolean,
): void {
  const p = prefixOf(t, i, nV4);
  col.set(p.addr, off);
  const base = p.v6 ? 0 : 12;
  const bits = p.v6 ? 128 : 32;
  for (let b = inside ? p.len : p.v6 ? 3 : 0; b < bits; b++)
    if (r.next() < 0.5) col[off + base + (b >> 3)]! |= 0x80 >> (b & 7);
    else col[off + base + (b >> 3)]! &= ~(0x80 >> (b & 7));
}

/** Lookup addresses, as a FlowBatch ip column: half inside announced prefixes, half random in the family. */
function lookupColumn(a: Args, t: Table): Uint8Array {
  const r = new Rng(a.seed + 1);
  const n = a.v4 + a.v6;
  const col = new Uint8Array(NADDR * 16);
  for (let k = 0; k < NADDR; k++) addressIn(t, r.int(n), a.v4, r, col, k * 16, k % 2 === 0);
  return col;
}

interface LookupTiming {
  lookups: number;
  /** CPU ns per lookup (user + system). */
  nsPerLookup: number;
  wallNsPerLookup: number;
  lookupsPerSecond: number;
  flowsPerSecondAt2: number;
  hitRate: number;
}

function timeLookups(
  tables: RoutingTables,
  exporter: string,
  col: Uint8Array,
  lookups: number,
): LookupTiming {
  // The trie itself: the RIBs' lookup cache is measured by the enrich bench (bench/enrich.ts).
  for (const r of tables.all()) r.rib.useCache = false;
  // Warm up, then time.
  let hits = 0;
  const run = (count: number): void => {
    for (let k = 0; k < count; k++) if (tables.lookup(exporter, col, (k & (NADDR - 1)) * 16)) hits++;
  };
  run(Math.min(lookups, 500_000));
  hits = 0;
  const c0 = process.cpuUsage();
  const l0 = process.hrtime.bigint();
  run(lookups);
  const wallNs = Number(process.hrtime.bigint() - l0);
  const cu = process.cpuUsage(c0);
  // CPU time, not wall time: on a shared machine the wall clock counts time
  // this process was not running.
  const ns = (cu.user + cu.system) * 1000;
  return {
    lookups,
    nsPerLookup: ns / lookups,
    wallNsPerLookup: wallNs / lookups,
    lookupsPerSecond: lookups / (ns / 1e9),
    flowsPerSecondAt2: lookups / (ns / 1e9) / 2,
    hitRate: hits / lookups,
  };
}

export function runRib(a: Args, t: Table = generate(a, new Rng(a.seed))): RibResult {
  const n = a.v4 + a.v6;
  const col = lookupColumn(a, t);

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
    ...timeLookups(tables, "192.0.2.254", col, a.lookups),
  };
}

export interface RibViaResult extends LookupTiming {
  via: "bird";
  daemon: string;
  v4: number;
  v6: number;
  routesV4: number;
  routesV6: number;
  routes: number;
  attributeSets: number;
  /** Size of BIRD's route files, and its time to parse them and start. */
  daemonConfigBytes: number;
  daemonStartSeconds: number;
  /** BIRD's resident memory holding the table (for scale; not ours). */
  daemonRssBytes: number;
  /** BGP Established → the last generated route in our RIB. */
  receiveSeconds: number;
  /** Established → 99.9% of the routes in. */
  receive999Seconds: number;
  /** Longest time with no new route while receiving (BIRD's pauses). */
  longestPauseSeconds: number;
  routesPerSecondIn: number;
  updates: number;
  bytes: number;
  bytesPerRoute: number;
  ribArrayBytes: number;
  sample: number;
  /** Sampled lookups whose answer is the sampled prefix itself / a more specific generated one. */
  sampleExact: number;
  sampleMoreSpecific: number;
  /** Wrong prefix length or attributes (must be 0). */
  sampleMismatches: number;
  sampleFirstMismatch: string | null;
}

const norm = (s: string): string => s.split(" ").filter(Boolean).sort().join(" ");
const V4_NH = "192.0.2.1";
// BIRD takes ::ffff:192.0.2.1 for an IPv4 address, so IPv6 routes get a
// documentation IPv6 next hop (sets shared by a v4 and a v6 prefix count twice).
const V6_NH = "2001:db8::1";

/** BIRD's view of generated route i: the path after its own AS (which eBGP prepends, as AS 64500). */
function birdRoute(t: Table, i: number, nV4: number): BirdRoute {
  const p = prefixOf(t, i, nV4);
  const at = attrsOf(t, i, 0);
  return {
    prefix: `${formatIp(p.addr, 0)}/${p.len}`,
    path: at.asPath.split(" ").slice(1).map(Number),
    communities: at.communities,
    largeCommunities: at.largeCommunities,
  };
}

async function runRibVia(a: Args, t: Table): Promise<RibViaResult> {
  requireBird();
  const col = lookupColumn(a, t);
  const log = createLogger({ level: "warn" });
  const cfg = validateRoutingConfig({
    bgp: {
      listen: "127.0.0.1:0",
      asn: 65535,
      routerId: "192.0.2.254",
      holdTimeSec: 240,
      keepMs: 0,
      neighbors: [{ address: "127.0.0.1", asn: 64_500, name: "bird" }],
    },
  });

  gc();
  gc();
  const m0 = process.memoryUsage();
  const before = m0.heapUsed + m0.arrayBuffers;
  const tables = new RoutingTables({}, false);
  const listener = new BgpListener(cfg.bgp, tables, log);
  await listener.start();
  const bird = await startBird({
    localAs: 64_500,
    routerId: "192.0.2.1",
    neighbor: { address: "127.0.0.1", port: listener.port(), as: 65_535 },
    // The in-process run's IPv4 next hop.
    nextHop4: V4_NH,
    nextHop6: V6_NH,
    v4: a.v4,
    v6: a.v6,
    route: (i) => birdRoute(t, i, a.v4),
  }).catch(async (e: unknown) => {
    await listener.stop();
    throw e;
  });
  try {
    console.log(
      `  BIRD parsed ${MiB(bird.configBytes)} MiB of static routes and started in ${bird.startedSeconds.toFixed(1)} s`,
    );
    const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
    const router = (): ReturnType<RoutingTables["get"]> => tables.get("bgp", "127.0.0.1");
    const fail = (why: string): Error =>
      new Error(`${why}\nlistener: ${JSON.stringify(listener.state())}\nbird:\n${bird.log()}`);
    for (const dl = Date.now() + 60_000; !router()?.connected; await sleep(5))
      if (Date.now() > dl || bird.proc.exitCode !== null) throw fail("no BGP session from BIRD within 60 s");
    const t0 = process.hrtime.bigint();
    let last = -1;
    let lastChange = Date.now();
    // BIRD sends most of a table at once, then may hold back a few last
    // routes for seconds (seen on loopback with tcpdump: nothing on the wire
    // in between): the longest pause, and when 99.9% were in, say how much of
    // the time was that.
    let longestPauseMs = 0;
    let at999 = 0;
    for (;;) {
      const r = router();
      if (!r?.connected) throw fail("BGP session lost while receiving");
      const done = r.rib.routesV4 === a.v4 && r.rib.routesV6 === a.v6;
      if (r.rib.routes !== last || done) {
        longestPauseMs = Math.max(longestPauseMs, Date.now() - lastChange);
        if (!at999 && r.rib.routes >= 0.999 * (a.v4 + a.v6))
          at999 = Number(process.hrtime.bigint() - t0) / 1e9;
      }
      if (done) break;
      if (r.rib.routes !== last) {
        last = r.rib.routes;
        lastChange = Date.now();
      } else if (Date.now() - lastChange > 60_000)
        throw fail(`stalled at ${r.rib.routesV4}/${a.v4} IPv4, ${r.rib.routesV6}/${a.v6} IPv6 routes`);
      await sleep(5);
    }
    const receiveSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const r = router()!;
    const daemonRssBytes = bird.rssKiB() * 1024;
    gc();
    gc();
    const m1 = process.memoryUsage();
    const bytes = m1.heapUsed + m1.arrayBuffers - before;
    const routes = r.rib.routes;
    const timing = timeLookups(tables, "127.0.0.1", col, a.lookups);
    const check = verifySample(a, t, tables);
    if (!r.connected) throw fail("BGP session lost during the lookups");
    return {
      via: "bird",
      daemon: birdVersion(),
      v4: a.v4,
      v6: a.v6,
      routesV4: r.rib.routesV4,
      routesV6: r.rib.routesV6,
      routes,
      attributeSets: tables.attrs.size,
      daemonConfigBytes: bird.configBytes,
      daemonStartSeconds: bird.startedSeconds,
      daemonRssBytes,
      receiveSeconds,
      receive999Seconds: at999,
      longestPauseSeconds: longestPauseMs / 1000,
      routesPerSecondIn: routes / receiveSeconds,
      updates: r.messages,
      bytes,
      bytesPerRoute: bytes / routes,
      ribArrayBytes: r.rib.bytes(),
      ...check,
      ...timing,
    };
  } finally {
    await bird.stop();
    await listener.stop();
  }
}

/**
 * Look up --sample addresses (random host bits under random generated
 * prefixes) and check each answer against the generated table: the matched
 * length is that of the longest generated prefix holding the address, and the
 * attributes are that prefix's (communities compared as sets: BIRD sorts them).
 */
function verifySample(
  a: Args,
  t: Table,
  tables: RoutingTables,
): Pick<
  RibViaResult,
  "sample" | "sampleExact" | "sampleMoreSpecific" | "sampleMismatches" | "sampleFirstMismatch"
> {
  const idx4 = new Map<number, number>();
  for (let i = 0; i < a.v4; i++) idx4.set(t.v4[i]! * 64 + t.v4len[i]!, i);
  const idx6 = new Map<string, number>();
  for (let j = 0; j < a.v6; j++) idx6.set(`${t.v6[j * 4]}.${t.v6[j * 4 + 1]}.${t.v6len[j]}`, a.v4 + j);
  const mask = (w: number, bits: number): number =>
    bits <= 0 ? 0 : bits >= 32 ? w : (w & (0xffffffff << (32 - bits))) >>> 0;
  const r = new Rng(a.seed + 2);
  const addr = new Uint8Array(16);
  const dv = new DataView(addr.buffer);
  let exact = 0;
  let moreSpecific = 0;
  let bad = 0;
  let first: string | null = null;
  const n = a.v4 + a.v6;
  for (let k = 0; k < a.sample; k++) {
    const i = r.int(n);
    addressIn(t, i, a.v4, r, addr, 0, true);
    // The longest generated prefix holding addr.
    let want = -1;
    if (i < a.v4) {
      const w = dv.getUint32(12);
      for (let len = 32; len >= 0 && want < 0; len--) want = idx4.get(mask(w, len) * 64 + len) ?? -1;
    } else {
      const w0 = dv.getUint32(0);
      const w1 = dv.getUint32(4);
      for (let len = 64; len >= 0 && want < 0; len--)
        want = idx6.get(`${mask(w0, len)}.${len <= 32 ? 0 : mask(w1, len - 32)}.${len}`) ?? -1;
    }
    const got = tables.lookup("127.0.0.1", addr, 0);
    const wantLen = want < a.v4 ? t.v4len[want]! : t.v6len[want - a.v4]!;
    const at = attrsOf(t, want, 0);
    let why = "";
    if (!got) why = "no route";
    else if (got.prefixLen !== wantLen) why = `prefix length ${got.prefixLen}, want ${wantLen}`;
    else if (got.asPath !== at.asPath) why = `AS path "${got.asPath}", want "${at.asPath}"`;
    else if (got.originAs !== at.originAs) why = `origin AS ${got.originAs}, want ${at.originAs}`;
    else if (norm(got.communities) !== norm(at.communities))
      why = `communities "${got.communities}", want "${at.communities}"`;
    else if (norm(got.largeCommunities) !== norm(at.largeCommunities))
      why = `large communities "${got.largeCommunities}", want "${at.largeCommunities}"`;
    else if (formatIp(got.nextHop, 0) !== (i < a.v4 ? V4_NH : V6_NH))
      why = `next hop ${formatIp(got.nextHop, 0)}, want ${i < a.v4 ? V4_NH : V6_NH}`;
    if (why) {
      bad++;
      first ??= `${formatIp(addr, 0)}: ${why}`;
    } else if (want === i) exact++;
    else moreSpecific++;
  }
  return {
    sample: a.sample,
    sampleExact: exact,
    sampleMoreSpecific: moreSpecific,
    sampleMismatches: bad,
    sampleFirstMismatch: first,
  };
}

function lookupLine(res: LookupTiming): string {
  return (
    `  lookup: ${res.nsPerLookup.toFixed(0)} ns CPU each (wall ${res.wallNsPerLookup.toFixed(0)} ns), ${(res.lookupsPerSecond / 1e6).toFixed(2)} M lookups/s` +
    ` = ${(res.flowsPerSecondAt2 / 1e6).toFixed(2)} M flows/s at 2 lookups per flow (hit rate ${(res.hitRate * 100).toFixed(0)}%)`
  );
}

export async function runRibPart(machine: Record<string, unknown>, argv: string[]): Promise<void> {
  const a = parseArgs(argv);
  const path = join(dirname(fileURLToPath(import.meta.url)), "results-rib.json");
  const out = import.meta.url.endsWith(".ts")
    ? path
    : join(dirname(path), "..", "..", "bench", "results-rib.json");
  // The in-process run and the --via run are kept side by side in one file.
  const prev = existsSync(out) ? (JSON.parse(readFileSync(out, "utf8")) as Record<string, unknown>) : {};
  const finished = (): string => new Date().toISOString();
  if (a.via) {
    console.log(
      `RIB via BIRD: ${a.v4} IPv4 + ${a.v6} IPv6 generated prefixes announced over one eBGP session` +
        ` to our BGP listener on loopback; ${a.lookups} lookups, ${a.sample} checked`,
    );
    const t = generate(a, new Rng(a.seed));
    const res = await runRibVia(a, t);
    console.log(
      [
        `  ${res.daemon}: routes received ${res.routesV4} IPv4 + ${res.routesV6} IPv6 = ${res.routes}` +
          ` (generated ${res.v4} + ${res.v6}), in ${res.updates} BGP messages; distinct attribute sets ${res.attributeSets}`,
        `  receive: ${res.receiveSeconds.toFixed(2)} s from Established to the last route` +
          ` (${(res.routesPerSecondIn / 1e3).toFixed(0)} k routes/s), 99.9% in ${res.receive999Seconds.toFixed(2)} s,` +
          ` longest pause ${res.longestPauseSeconds.toFixed(2)} s; BIRD itself holds it in ${MiB(res.daemonRssBytes)} MiB RSS`,
        `  memory: ${MiB(res.bytes)} MiB (heap + array buffers after GC) = ${res.bytesPerRoute.toFixed(0)} bytes/route` +
          ` (typed arrays of the RIB: ${MiB(res.ribArrayBytes)} MiB)`,
        lookupLine(res),
        `  checked ${res.sample} lookups against the generated table: ${res.sampleExact} the sampled prefix,` +
          ` ${res.sampleMoreSpecific} a more specific one, ${res.sampleMismatches} wrong` +
          (res.sampleFirstMismatch ? ` (first: ${res.sampleFirstMismatch})` : ""),
      ].join("\n"),
    );
    writeFileSync(
      out,
      JSON.stringify({ ...prev, viaBird: { finished: finished(), machine, args: a, result: res } }, null, 2) +
        "\n",
    );
    console.log(`\nwrote ${out}`);
    if (res.routesV4 !== res.v4 || res.routesV6 !== res.v6 || res.sampleMismatches > 0)
      throw new Error("rib bench --via bird: the received table differs from the generated one");
    return;
  }
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
      lookupLine(res),
    ].join("\n"),
  );
  writeFileSync(
    out,
    JSON.stringify({ ...prev, finished: finished(), machine, args: a, result: res }, null, 2) + "\n",
  );
  console.log(`\nwrote ${out}`);
}

/**
 * Feed a generated table (`v4` + `v6` prefixes, the shape above, one peer)
 * to `router` as parsed UPDATEs would be. bench/enrich.ts loads it for the
 * bench stream's exporter so "all on" includes routing lookups.
 */
export function loadGeneratedTable(router: RouterEntry, v4: number, v6: number, seed = 7): void {
  const a: Args = { v4, v6, peers: 1, lookups: 0, seed, via: "", sample: 0 };
  const t = generate(a, new Rng(seed));
  const peer = router.peer("peer0", "192.0.2.1", 64_500);
  for (let i = 0; i < v4 + v6; i++) router.apply(peer, [], [prefixOf(t, i, v4)], attrsOf(t, i, 0));
}

/**
 * The same generated table as BIRD announces it in `rib --via bird` (route i,
 * the next hops): bench/receive.ts (`receive --enrich --routing`) feeds it to
 * a forked collector's BGP listener.
 */
export function generatedBirdTable(
  v4: number,
  v6: number,
  seed = 7,
): { route: (i: number) => BirdRoute; nextHop4: string; nextHop6: string } {
  const a: Args = { v4, v6, peers: 1, lookups: 0, seed, via: "", sample: 0 };
  const t = generate(a, new Rng(seed));
  return { route: (i) => birdRoute(t, i, v4), nextHop4: V4_NH, nextHop6: V6_NH };
}
