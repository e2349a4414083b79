// Routing enrichment configuration: the `bmp`, `bgp` and `routers` keys of
// the `enrich` section. Defaults and validation in the style of
// src/alerts/config.ts: unknown keys are errors and every error names the key
// path (ConfigError "enrich.bmp.listen: …").
import { isIP } from "node:net";
import { ConfigError } from "../../config/schema.js";
import { isObject, show, int, str, bool } from "../../config/check.js";

export interface BmpConfig {
  enabled: boolean;
  /** "host:port" or "[v6]:port" the BMP station listens on (routers connect to it). */
  listen: string;
  /** After a router's TCP session closes, keep its routes this long (0: drop at once). */
  keepMs: number;
  /** Which Adj-RIB-In views to keep: pre-policy, post-policy, or any (both, and Loc-RIB). */
  policy: "any" | "pre" | "post";
  /** Routers connected at once; more are refused (a bound on memory). */
  maxRouters: number;
}

export interface BgpNeighbor {
  /** The neighbor's address: only sessions from it are accepted; its routes are that router's RIB. */
  address: string;
  /** The neighbor's AS; 0 = accept any. */
  asn: number;
  /** A label for the state page ("" = the address). */
  name: string;
}

export interface BgpConfig {
  enabled: boolean;
  /** "host:port" the passive speaker listens on (179 needs CAP_NET_BIND_SERVICE). */
  listen: string;
  /** Our AS (iBGP when equal to the neighbor's, which is usual for a collector). */
  asn: number;
  /** Our BGP identifier (dotted quad, non-zero). */
  routerId: string;
  /** Hold time we offer (RFC 4271 §4.2: 0 or at least 3). */
  holdTimeSec: number;
  /** After a session ends, keep the neighbor's routes this long (0: drop at once). */
  keepMs: number;
  neighbors: BgpNeighbor[];
}

export interface RoutersConfig {
  /** Exporter address → router address (the BMP router or BGP neighbor whose RIB answers for it). */
  map: Record<string, string>;
  /** An exporter with no RIB of its own is answered from the first router that has routes. */
  fallback: boolean;
}

export interface RoutingConfig {
  bmp: BmpConfig;
  bgp: BgpConfig;
  routers: RoutersConfig;
}

/** The keys of the `enrich` section this module owns. */
export const ROUTING_KEYS = ["bmp", "bgp", "routers"] as const;

export function defaultRoutingConfig(): RoutingConfig {
  return {
    bmp: { enabled: false, listen: "0.0.0.0:10179", keepMs: 300_000, policy: "any", maxRouters: 64 },
    bgp: {
      enabled: false,
      listen: "0.0.0.0:179",
      asn: 65535,
      routerId: "192.0.2.255",
      holdTimeSec: 90,
      keepMs: 0,
      neighbors: [],
    },
    routers: { map: {}, fallback: true },
  };
}

function section(v: unknown, key: string): Record<string, unknown> {
  if (!isObject(v)) throw new ConfigError(key, `${show(v)} — must be a map`);
  return v;
}

function keys(raw: Record<string, unknown>, known: object, key: string): void {
  for (const k of Object.keys(raw))
    if (!Object.hasOwn(known, k))
      throw new ConfigError(`${key}.${k}`, `unknown key (known here: ${Object.keys(known).join(", ")})`);
}

/** "host:port" / "[v6]:port" → parts; null when malformed. Port 0 = any free port (tests). */
export function parseListen(s: string): { host: string; port: number } | null {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(s);
  if (!m) return null;
  const port = Number(m[3]);
  if (port > 65535) return null;
  const host = m[1] ?? m[2] ?? "";
  if (m[1] !== undefined && isIP(host) !== 6) return null;
  return { host: host === "" ? "0.0.0.0" : host, port };
}

const listenCheck = (s: string): string | null =>
  parseListen(s) ? null : 'must be "host:port" or "[ipv6]:port"';
const ipCheck = (s: string): string | null => (isIP(s) ? null : "must be an IPv4 or IPv6 address");
const idCheck = (s: string): string | null =>
  isIP(s) === 4 && s !== "0.0.0.0" ? null : "must be a non-zero dotted quad";

/**
 * Validate the routing keys of a raw `enrich` section over `defaults`; the
 * caller (the enrich section's own validator) checks its other keys.
 */
export function validateRoutingConfig(
  raw: { bmp?: unknown; bgp?: unknown; routers?: unknown },
  defaults: RoutingConfig = defaultRoutingConfig(),
  key = "enrich",
): RoutingConfig {
  const out = structuredClone(defaults);
  if (raw.bmp !== undefined) {
    const k = `${key}.bmp`;
    const s = section(raw.bmp, k);
    keys(s, out.bmp, k);
    // A configured section is meant to run unless it says otherwise.
    out.bmp.enabled = s.enabled === undefined ? true : bool(s.enabled, `${k}.enabled`);
    if (s.listen !== undefined) out.bmp.listen = str(s.listen, `${k}.listen`, listenCheck);
    if (s.keepMs !== undefined) out.bmp.keepMs = int(s.keepMs, `${k}.keepMs`, 0, 86_400_000);
    if (s.maxRouters !== undefined) out.bmp.maxRouters = int(s.maxRouters, `${k}.maxRouters`, 1, 10_000);
    if (s.policy !== undefined)
      out.bmp.policy = str(s.policy, `${k}.policy`, (p) =>
        ["any", "pre", "post"].includes(p) ? null : 'must be "any", "pre" or "post"',
      ) as BmpConfig["policy"];
  }
  if (raw.bgp !== undefined) {
    const k = `${key}.bgp`;
    const s = section(raw.bgp, k);
    keys(s, out.bgp, k);
    out.bgp.enabled = s.enabled === undefined ? true : bool(s.enabled, `${k}.enabled`);
    if (s.listen !== undefined) out.bgp.listen = str(s.listen, `${k}.listen`, listenCheck);
    if (s.asn !== undefined) out.bgp.asn = int(s.asn, `${k}.asn`, 1, 4294967295);
    if (s.routerId !== undefined) out.bgp.routerId = str(s.routerId, `${k}.routerId`, idCheck);
    if (s.holdTimeSec !== undefined) {
      const h = int(s.holdTimeSec, `${k}.holdTimeSec`, 0, 65535);
      if (h === 1 || h === 2) throw new ConfigError(`${k}.holdTimeSec`, `${h} — must be 0 or at least 3`);
      out.bgp.holdTimeSec = h;
    }
    if (s.keepMs !== undefined) out.bgp.keepMs = int(s.keepMs, `${k}.keepMs`, 0, 86_400_000);
    if (s.neighbors !== undefined) {
      if (!Array.isArray(s.neighbors))
        throw new ConfigError(`${k}.neighbors`, `${show(s.neighbors)} — must be a list`);
      const seen = new Set<string>();
      out.bgp.neighbors = s.neighbors.map((n: unknown, i: number) => {
        const nk = `${k}.neighbors[${i}]`;
        const ns = section(n, nk);
        keys(ns, { address: 0, asn: 0, name: 0 }, nk);
        if (ns.address === undefined) throw new ConfigError(`${nk}.address`, "required");
        const address = str(ns.address, `${nk}.address`, ipCheck);
        if (seen.has(address)) throw new ConfigError(`${nk}.address`, `${address} — listed twice`);
        seen.add(address);
        return {
          address,
          asn: ns.asn === undefined ? 0 : int(ns.asn, `${nk}.asn`, 0, 4294967295),
          name: ns.name === undefined ? "" : str(ns.name, `${nk}.name`),
        };
      });
    }
    if (out.bgp.enabled && out.bgp.neighbors.length === 0)
      throw new ConfigError(
        `${k}.neighbors`,
        "at least one neighbor is needed (only configured neighbors may connect)",
      );
  }
  if (raw.routers !== undefined) {
    const k = `${key}.routers`;
    const s = section(raw.routers, k);
    keys(s, out.routers, k);
    if (s.fallback !== undefined) out.routers.fallback = bool(s.fallback, `${k}.fallback`);
    if (s.map !== undefined) {
      const m = section(s.map, `${k}.map`);
      for (const [exp, router] of Object.entries(m)) {
        if (!isIP(exp)) throw new ConfigError(`${k}.map`, `${show(exp)} — keys must be exporter addresses`);
        out.routers.map[exp] = str(router, `${k}.map.${exp}`, ipCheck);
      }
    }
  }
  return out;
}
