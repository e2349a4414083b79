// The `enrich` configuration section (docs/enrichment.md): which static
// sources to load (networks file, AS-names file, GeoIP databases), the order
// in which AS numbers are taken, the classifier rules, and the sub-sections
// of the routing (enrich.routing, src/enrich/routing/config.ts) and interface
// (enrich.interfaces, src/enrich/interfaces/config.ts) sources, which
// validate themselves. Unknown keys are errors; every error names its key.
import { ConfigError } from "../config/schema.js";
import {
  validateExporterRules,
  validateInterfaceRules,
  type ExporterRuleConfig,
  type InterfaceRuleConfig,
} from "./classify.js";
import {
  defaultRoutingConfig,
  ROUTING_KEYS,
  validateRoutingConfig,
  type RoutingConfig,
} from "./routing/config.js";
import {
  defaultInterfacesConfig,
  validateInterfacesConfig,
  type InterfacesConfig,
} from "./interfaces/config.js";
import { show, int } from "../config/check.js";

/** Where an AS number may come from, tried in enrich.asOrder. */
export type AsSource = "flow" | "routing" | "geoip" | "networks";
export const AS_SOURCES: readonly AsSource[] = ["flow", "routing", "geoip", "networks"];

/** The routing source's keys (bmp, bgp, routers) sit directly in the section: enrich.bmp … */
export interface EnrichConfig extends RoutingConfig {
  /** false: the service is not in the pipeline at all (every enrichment column stays ""/0). */
  enabled: boolean;
  /**
   * Order of AS-number sources for src_as / dst_as: the first non-zero wins.
   * "flow" is the exporter's own field; a source left out is not used for AS.
   * Routing attributes (AS path, communities, next hop, local pref, prefix
   * lengths) follow the same rule: "routing" before "flow" overrides them.
   */
  asOrder: AsSource[];
  /** Networks file (YAML or CSV, see networks.ts); "" = none. */
  networksFile: string;
  /** AS-names file (CSV or asn-names text, see asnames.ts); "" = none. */
  asNamesFile: string;
  /** MaxMind-format databases (.mmdb: GeoLite2 Country/ASN, IPinfo), in order of preference. */
  geoipDatabases: string[];
  /** Files are checked for changes this often (0 = only at start). */
  pollSeconds: number;
  /** Distinct addresses whose GeoIP answer is cached (the cache is dropped when full). */
  cacheSize: number;
  exporterClassifiers: ExporterRuleConfig[];
  interfaceClassifiers: InterfaceRuleConfig[];
  interfaces: InterfacesConfig;
}

export function defaultEnrichConfig(): EnrichConfig {
  return {
    enabled: true,
    asOrder: ["flow", "routing", "geoip", "networks"],
    networksFile: "",
    asNamesFile: "",
    geoipDatabases: [],
    pollSeconds: 10,
    cacheSize: 200_000,
    exporterClassifiers: [],
    interfaceClassifiers: [],
    interfaces: defaultInterfacesConfig(),
    ...defaultRoutingConfig(),
  };
}

function path(v: unknown, key: string): string {
  if (typeof v !== "string") throw new ConfigError(key, `${show(v)} — must be a file path (or "")`);
  return v;
}

/** Validate a raw `enrich` section over `defaults`; throws ConfigError naming the key. */
export function validateEnrichConfig(
  raw: unknown,
  defaults: EnrichConfig = defaultEnrichConfig(),
  key = "enrich",
): EnrichConfig {
  const out = structuredClone(defaults);
  if (raw === undefined) return out;
  if (typeof raw !== "object" || raw === null || Array.isArray(raw))
    throw new ConfigError(key, `${show(raw)} — must be a map`);
  const r = raw as Record<string, unknown>;
  const known = Object.keys(out);
  for (const k of Object.keys(r))
    if (!known.includes(k))
      throw new ConfigError(`${key}.${k}`, `unknown key (known here: ${known.join(", ")})`);
  if (r.enabled !== undefined) {
    if (typeof r.enabled !== "boolean")
      throw new ConfigError(`${key}.enabled`, `${show(r.enabled)} — must be true or false`);
    out.enabled = r.enabled;
  }
  if (r.asOrder !== undefined) {
    const k = `${key}.asOrder`;
    if (!Array.isArray(r.asOrder))
      throw new ConfigError(k, `${show(r.asOrder)} — must be a list of ${AS_SOURCES.join(", ")}`);
    out.asOrder = r.asOrder.map((s, i) => {
      if (typeof s !== "string" || !(AS_SOURCES as readonly string[]).includes(s))
        throw new ConfigError(`${k}[${i}]`, `${show(s)} — must be one of ${AS_SOURCES.join(", ")}`);
      return s as AsSource;
    });
    if (new Set(out.asOrder).size !== out.asOrder.length) throw new ConfigError(k, "lists a source twice");
  }
  if (r.networksFile !== undefined) out.networksFile = path(r.networksFile, `${key}.networksFile`);
  if (r.asNamesFile !== undefined) out.asNamesFile = path(r.asNamesFile, `${key}.asNamesFile`);
  if (r.geoipDatabases !== undefined) {
    const k = `${key}.geoipDatabases`;
    const v = typeof r.geoipDatabases === "string" ? [r.geoipDatabases] : r.geoipDatabases;
    if (!Array.isArray(v)) throw new ConfigError(k, `${show(v)} — must be a list of .mmdb paths`);
    out.geoipDatabases = v.map((p, i) => path(p, `${k}[${i}]`)).filter((p) => p !== "");
  }
  if (r.pollSeconds !== undefined) out.pollSeconds = int(r.pollSeconds, `${key}.pollSeconds`, 0, 86_400);
  if (r.cacheSize !== undefined) out.cacheSize = int(r.cacheSize, `${key}.cacheSize`, 0, 10_000_000);
  if (r.exporterClassifiers !== undefined)
    out.exporterClassifiers = validateExporterRules(r.exporterClassifiers, `${key}.exporterClassifiers`);
  if (r.interfaceClassifiers !== undefined)
    out.interfaceClassifiers = validateInterfaceRules(r.interfaceClassifiers, `${key}.interfaceClassifiers`);
  if (r.interfaces !== undefined)
    out.interfaces = validateInterfacesConfig(r.interfaces, out.interfaces, `${key}.interfaces`);
  // src/enrich/routing/config.ts validates its keys (named "enrich.bmp.…").
  if (ROUTING_KEYS.some((k) => r[k] !== undefined))
    Object.assign(out, validateRoutingConfig({ bmp: r.bmp, bgp: r.bgp, routers: r.routers }, out, key));
  return out;
}
