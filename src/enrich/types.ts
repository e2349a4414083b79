// Enrichment contract: the sources that turn "ifIndex 517, AS 2914" into
// "Transit-NTT on xe-0/0/1 to our customer in Osaka".
//
//   routing (BMP / BGP, src/enrich/routing/)   ─┐
//   interfaces (options data, SNMP, static,      │
//               src/enrich/interfaces/)          ├─▶ EnrichmentService (src/enrich/service.ts)
//   networks file, AS names, GeoIP (.mmdb),      │     fills the enrichment columns of each
//   classifier rules (src/enrich/*.ts)          ─┘     FlowBatch in place, before the store,
//                                                      detection and the bus see it
//
// Sources never block the pipeline: a lookup is synchronous over data already
// in memory; loading, polling and sessions run beside it. A broken source
// answers "unknown" (null) and reports the error in its state.

/** What every source reports (API /api/v1/enrichment, /metrics, the Exporters page). */
export interface SourceState {
  /** Stable id, e.g. "bmp", "bgp:192.0.2.1", "snmp", "geoip:country", "networks". */
  name: string;
  /** What kind of source: "bmp" | "bgp" | "snmp" | "options" | "static" | "networks" | "asnames" | "geoip" | "classifier". */
  kind: string;
  /** loaded: serving data; loading: not yet complete; error: last load/poll/session failed (old data, if any, still served); disabled: not configured. */
  status: "loaded" | "loading" | "error" | "disabled";
  /** Entries served now (routes, interfaces, prefixes, networks …). */
  entries: number;
  /** When the data served now was loaded or last updated (ms since epoch); null = never. */
  updatedMs: number | null;
  /** Errors since start (failed loads, polls, malformed messages …). */
  errors: number;
  /** The last error, for humans; null when none. */
  lastError: string | null;
  /** Source-specific figures (peers up, routes per peer, memory bytes, file path …). */
  detail?: Record<string, number | string>;
}

/** A component with a lifecycle and a state, as every component here. */
export interface EnrichSource {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  state(): SourceState[];
}

/** What routing data says about one address, as seen by one exporter. */
export interface RouteInfo {
  /** Matched prefix length. */
  prefixLen: number;
  /** Origin AS (last AS of the path; 0 when the path is empty, i.e. a local route). */
  originAs: number;
  /** AS path, space-separated, AS_SET members in braces (as the as_path column). */
  asPath: string;
  /** Communities "high:low" space-separated (as bgp_communities). */
  communities: string;
  /** Large communities "a:b:c" space-separated. */
  largeCommunities: string;
  /** BGP next hop, 16-byte form (IPv4-mapped for IPv4), as the schema's ip columns. */
  nextHop: Uint8Array;
  localPref: number;
}

/**
 * Longest-prefix match on routing data. `addr` holds 16-byte addresses (the
 * schema's ip form); `offset` is the byte offset of the one to look up, so a
 * FlowBatch column is passed without copying. `exporter` is the exporter's
 * address text (FlowBatch exporter_address formatted), used to pick that
 * router's RIB; sources fall back to any RIB when the exporter has none.
 */
export interface RouteLookup {
  lookup(exporter: string, addr: Uint8Array, offset: number): RouteInfo | null;
}

/** What is known about one interface of one exporter. */
export interface InterfaceInfo {
  /** ifName (e.g. "xe-0/0/1"); "" unknown. */
  name: string;
  /** ifAlias / ifDescr / IPFIX interfaceDescription (e.g. "Transit: NTT [10G]"); "" unknown. */
  description: string;
  /** Speed in bits per second (ifHighSpeed × 1e6, or ifSpeed); 0 unknown. */
  speedBps: number;
}

export interface InterfaceLookup {
  /** `exporter` as the exporter's address text; null when nothing is known. */
  lookup(exporter: string, ifIndex: number): InterfaceInfo | null;
  /** Every interface known for one exporter (for the Exporters page). */
  list(exporter: string): ReadonlyMap<number, InterfaceInfo>;
  /** Exporters with at least one known interface. */
  exporters(): string[];
}
