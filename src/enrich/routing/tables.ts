// The routers known to the routing source, each with its RIB, and the lookup
// that picks the exporter's RIB.
//
// One RIB per router, merging its peers: a flow exported by router R is
// routed by R, so R's view (all its BMP peers, best path among them) answers
// for R's flows. A peer's routes are still tagged with its id inside the RIB,
// so a Peer Down removes exactly that peer's routes.
import { formatIp, parseIp } from "../../collector/ip.js";
import type { RouteInfo, SourceState } from "../types.js";
import type { PathAttrs, Prefix } from "./bgp.js";
import { AttrTable, Rib } from "./rib.js";

/** Canonical text of an address (IPv4-mapped IPv6 → dotted quad, RFC 5952 otherwise). */
export function canonicalAddress(text: string): string {
  const b = parseIp(text);
  return b ? formatIp(b, 0) : text;
}

export interface PeerEntry {
  id: number;
  key: string;
  /** The BGP peer this route set belongs to (its pre- and post-policy views are two entries of one group). */
  group: string;
  address: string;
  asn: number;
  up: boolean;
  /** Set when the router's session closed: removed on the next Peer Up or when the grace period ends. */
  stale: boolean;
}

export class RouterEntry {
  readonly address: string;
  readonly kind: "bmp" | "bgp";
  readonly rib: Rib;
  readonly peers = new Map<string, PeerEntry>();
  private nextPeerId = 0;
  private readonly freeIds: number[] = [];
  connected = false;
  updatedMs: number | null = null;
  errors = 0;
  lastError: string | null = null;
  messages = 0;
  /** Families of other SAFIs (VPN, flowspec …) seen and ignored. */
  ignored = 0;
  sysName = "";
  removalTimer: NodeJS.Timeout | null = null;

  constructor(address: string, kind: "bmp" | "bgp", attrs: AttrTable) {
    this.address = address;
    this.kind = kind;
    this.rib = new Rib(attrs);
  }

  peer(key: string, address: string, asn: number, group = key): PeerEntry {
    let p = this.peers.get(key);
    if (!p) {
      const id = this.freeIds.pop() ?? this.nextPeerId++;
      if (id > 0xffff) throw new Error("more than 65536 peers on one router");
      p = { id, key, group, address, asn, up: false, stale: false };
      this.peers.set(key, p);
    }
    return p;
  }

  /** Remove a peer and all its routes. */
  dropPeer(p: PeerEntry): void {
    this.rib.removePeer(p.id);
    this.peers.delete(p.key);
    this.freeIds.push(p.id);
    this.updatedMs = Date.now();
  }

  /** Apply a parsed UPDATE from one peer. */
  apply(p: PeerEntry, withdrawn: Prefix[], announced: Prefix[], attrs: PathAttrs | null): void {
    const rib = this.rib;
    for (const w of withdrawn) rib.withdraw(p.id, w.pathId, w.v6, w.addr, w.len);
    if (attrs && announced.length > 0) {
      const id = rib.attrs.retain(attrs);
      for (let k = 0; k < announced.length; k++) {
        const a = announced[k]!;
        if (k > 0) rib.attrs.ref(id);
        rib.announce(p.id, a.pathId, a.v6, a.addr, a.len, id);
      }
    }
    if (withdrawn.length > 0 || announced.length > 0) this.updatedMs = Date.now();
  }

  error(msg: string): void {
    this.errors++;
    this.lastError = msg;
  }

  /** BGP peers up (a peer's pre- and post-policy views count once). */
  peersUp(): number {
    const up = new Set<string>();
    for (const p of this.peers.values()) if (p.up) up.add(p.group);
    return up.size;
  }

  baseState(name: string, status: SourceState["status"]): SourceState {
    return {
      name,
      kind: this.kind,
      status,
      entries: this.rib.routes,
      updatedMs: this.updatedMs,
      errors: this.errors,
      lastError: this.lastError,
      detail: {
        router: this.address,
        connected: this.connected ? 1 : 0,
        peersUp: this.peersUp(),
        routesV4: this.rib.routesV4,
        routesV6: this.rib.routesV6,
        memoryBytes: this.rib.bytes(),
        messages: this.messages,
        ignoredFamilies: this.ignored,
      },
    };
  }
}

/** Every router of both kinds, and the exporter → RIB choice. */
export class RoutingTables {
  readonly attrs = new AttrTable();
  /** Keyed by "bmp|addr" / "bgp|addr": a router may speak both (BMP wins on lookup). */
  private readonly routers = new Map<string, RouterEntry>();
  private readonly map: Map<string, string>;
  private readonly fallback: boolean;
  private readonly cache = new Map<string, RouterEntry | null>();
  /** The last exporter looked up and its router (null: none; cleared with the cache). */
  private lastExporter: string | null = null;
  private lastRouter: RouterEntry | null = null;

  constructor(map: Record<string, string>, fallback: boolean) {
    this.map = new Map(Object.entries(map).map(([e, r]) => [canonicalAddress(e), canonicalAddress(r)]));
    this.fallback = fallback;
  }

  get(kind: "bmp" | "bgp", address: string): RouterEntry | undefined {
    return this.routers.get(`${kind}|${address}`);
  }

  add(kind: "bmp" | "bgp", address: string): RouterEntry {
    let r = this.routers.get(`${kind}|${address}`);
    if (!r) {
      r = new RouterEntry(address, kind, this.attrs);
      this.routers.set(`${kind}|${address}`, r);
      this.cache.clear();
      this.lastExporter = null;
    }
    return r;
  }

  remove(r: RouterEntry): void {
    r.rib.clear();
    this.routers.delete(`${r.kind}|${r.address}`);
    this.cache.clear();
    this.lastExporter = null;
  }

  all(): RouterEntry[] {
    return [...this.routers.values()];
  }

  private pick(exporter: string): RouterEntry | null {
    const want = this.map.get(exporter) ?? exporter;
    return this.routers.get(`bmp|${want}`) ?? this.routers.get(`bgp|${want}`) ?? null;
  }

  /**
   * RouteLookup: the exporter's router (through `routers.map`, else the
   * exporter's own address), else — with `fallback` — the first router
   * holding routes. The exporter → router choice is cached (cleared when a
   * router comes or goes); the text is canonicalised once per new exporter.
   */
  lookup(exporter: string, addr: Uint8Array, offset: number): RouteInfo | null {
    // The flows of a batch mostly share one exporter (the same string): skip the Map then.
    let r: RouterEntry | null | undefined;
    if (exporter === this.lastExporter) r = this.lastRouter;
    else {
      r = this.cache.get(exporter);
      if (r === undefined) {
        r = this.pick(canonicalAddress(exporter));
        if (this.cache.size > 100_000) this.cache.clear();
        this.cache.set(exporter, r);
      }
      this.lastExporter = exporter;
      this.lastRouter = r;
    }
    if (r && r.rib.routes > 0) return r.rib.lookup(addr, offset);
    if (!this.fallback) return null;
    for (const f of this.routers.values()) if (f.rib.routes > 0) return f.rib.lookup(addr, offset);
    return null;
  }

  /**
   * The RIB lookup() would answer from for `exporter` now (null: none), so
   * that a caller can cache answers per (RIB id, RIB generation): the choice
   * may change with any RIB change (fallback), so it is asked again per batch.
   */
  router(exporter: string): Rib | null {
    let r = this.cache.get(exporter);
    if (r === undefined) {
      r = this.pick(canonicalAddress(exporter));
      if (this.cache.size > 100_000) this.cache.clear();
      this.cache.set(exporter, r);
    }
    if (r && r.rib.routes > 0) return r.rib;
    if (!this.fallback) return null;
    for (const f of this.routers.values()) if (f.rib.routes > 0) return f.rib;
    return null;
  }
}
