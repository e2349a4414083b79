// The flow schema: the single source of truth for every flow column.
//
// Decoders write into FlowBatch columns named here, the store (later) creates
// its tables from this list, and the API/UI describe columns from it. Add a
// column here and it exists everywhere; never declare a flow column elsewhere.

/** Storage kinds. Each maps to one typed-array representation in FlowBatch. */
export type ColumnKind =
  | "time" // milliseconds since the Unix epoch, UTC (Float64Array)
  | "u8"
  | "u16"
  | "u32"
  | "u64" // Float64Array: exact up to 2^53, ample for byte/packet counters
  | "ip" // 16 bytes; IPv4 stored IPv4-mapped (::ffff:a.b.c.d) so both families share one column
  | "mac" // 48-bit MAC as a Float64 integer (exact)
  | "string";

export interface ColumnDef {
  readonly name: string;
  readonly kind: ColumnKind;
  readonly unit?: string;
  readonly description: string;
}

export const FLOW_COLUMNS = [
  {
    name: "time_received",
    kind: "time",
    unit: "ms",
    description: "When the collector received the export packet (UTC)",
  },
  {
    name: "time_flow_start",
    kind: "time",
    unit: "ms",
    description: "First packet of the flow, as reported by the exporter (UTC)",
  },
  {
    name: "time_flow_end",
    kind: "time",
    unit: "ms",
    description: "Last packet of the flow, as reported by the exporter (UTC)",
  },
  {
    name: "exporter_address",
    kind: "ip",
    description: "Address the export packet came from (router, probe)",
  },
  {
    name: "observation_domain_id",
    kind: "u32",
    description:
      "IPFIX observation domain / NetFlow v9 source id / sFlow sub-agent id; v5 engine type<<8|engine id",
  },
  { name: "sampler_id", kind: "u32", description: "Sampler (selector) id the record refers to, 0 if none" },
  {
    name: "sampling_rate",
    kind: "u32",
    unit: "1-in-N",
    description:
      "Packet sampling rate in force for this record (1 = unsampled, 0 = unknown). Counters are stored unscaled; multiply at query time",
  },
  { name: "in_if", kind: "u32", description: "Input interface index (SNMP ifIndex)" },
  { name: "out_if", kind: "u32", description: "Output interface index (SNMP ifIndex)" },
  { name: "ip_version", kind: "u8", description: "4 or 6; 0 when the record carries no IP addresses" },
  { name: "src_addr", kind: "ip", description: "Source IP address (IPv4-mapped for IPv4)" },
  { name: "dst_addr", kind: "ip", description: "Destination IP address (IPv4-mapped for IPv4)" },
  { name: "src_port", kind: "u16", description: "Source transport port" },
  { name: "dst_port", kind: "u16", description: "Destination transport port" },
  { name: "protocol", kind: "u8", description: "IP protocol number (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6 …)" },
  { name: "tcp_flags", kind: "u16", description: "Cumulative TCP flags (IPFIX tcpControlBits)" },
  { name: "tos", kind: "u8", description: "IP ToS / IPv6 traffic class byte (DSCP = tos >> 2)" },
  { name: "src_as", kind: "u32", description: "Source autonomous system number" },
  { name: "dst_as", kind: "u32", description: "Destination autonomous system number" },
  {
    name: "src_prefix_len",
    kind: "u8",
    unit: "bits",
    description: "Source prefix length from the exporter's routing table",
  },
  {
    name: "dst_prefix_len",
    kind: "u8",
    unit: "bits",
    description: "Destination prefix length from the exporter's routing table",
  },
  { name: "next_hop", kind: "ip", description: "IP next hop" },
  { name: "bgp_next_hop", kind: "ip", description: "BGP next hop" },
  { name: "src_vlan", kind: "u16", description: "Source (ingress) VLAN id" },
  { name: "dst_vlan", kind: "u16", description: "Destination (egress) VLAN id" },
  { name: "src_mac", kind: "mac", description: "Source MAC address" },
  { name: "dst_mac", kind: "mac", description: "Destination MAC address" },
  {
    name: "mpls_label_1",
    kind: "u32",
    description: "Top MPLS label (20-bit label value, without EXP/S bits)",
  },
  { name: "mpls_label_2", kind: "u32", description: "Second MPLS label" },
  { name: "mpls_label_3", kind: "u32", description: "Third MPLS label" },
  {
    name: "direction",
    kind: "u8",
    description: "Flow direction: 0 ingress, 1 egress (IPFIX flowDirection); 255 unknown",
  },
  {
    name: "forwarding_status",
    kind: "u8",
    description: "Forwarding status (RFC 7270): 64-127 forwarded, 128-191 dropped, 192-255 consumed",
  },
  { name: "icmp_type", kind: "u8", description: "ICMP / ICMPv6 type" },
  { name: "icmp_code", kind: "u8", description: "ICMP / ICMPv6 code" },
  {
    name: "fragment",
    kind: "u8",
    description: "1 when the sampled packet was an IP fragment (from packet-header parsing)",
  },
  { name: "ttl", kind: "u8", description: "IP TTL / hop limit (minimum seen, when reported)" },
  {
    name: "flow_end_reason",
    kind: "u8",
    description: "IPFIX flowEndReason (1 idle, 2 active, 3 end of flow, 4 forced, 5 lack of resources)",
  },
  { name: "layer2_segment_id", kind: "u64", description: "Layer-2 segment id (e.g. VXLAN VNI, IE 351)" },
  {
    name: "fw_event",
    kind: "u8",
    description: "Firewall/NAT event (Cisco ASA NSEL NF_F_FW_EVENT / IE 233): 0 = plain traffic record",
  },
  { name: "post_nat_src_addr", kind: "ip", description: "Source address after NAT (IE 225/281)" },
  { name: "post_nat_dst_addr", kind: "ip", description: "Destination address after NAT (IE 226/282)" },
  { name: "post_nat_src_port", kind: "u16", description: "Source port after NAT (IE 227)" },
  { name: "post_nat_dst_port", kind: "u16", description: "Destination port after NAT (IE 228)" },
  {
    name: "initiator_octets",
    kind: "u64",
    unit: "bytes",
    description: "NSEL / IE 231: bytes from the initiator",
  },
  {
    name: "responder_octets",
    kind: "u64",
    unit: "bytes",
    description: "NSEL / IE 232: bytes from the responder",
  },
  {
    name: "inner_src_addr",
    kind: "ip",
    description: "Tunnelled (VXLAN, IP-in-IP, GRE) packet: innermost source IP, from a sampled packet header",
  },
  { name: "inner_dst_addr", kind: "ip", description: "Tunnelled packet: innermost destination IP" },
  { name: "inner_src_port", kind: "u16", description: "Tunnelled packet: innermost source transport port" },
  {
    name: "inner_dst_port",
    kind: "u16",
    description: "Tunnelled packet: innermost destination transport port",
  },
  { name: "inner_protocol", kind: "u8", description: "Tunnelled packet: innermost IP protocol" },
  {
    name: "drop_reason",
    kind: "u16",
    description:
      "sFlow discard reason code (ICMP unreachable code 0-255, 256+ sFlow drop reasons); meaningful when forwarding_status >= 128",
  },
  {
    name: "as_path",
    kind: "string",
    description:
      "BGP AS path to the destination, space-separated, AS_SET members in braces (sFlow extended gateway)",
  },
  {
    name: "bgp_communities",
    kind: "string",
    description:
      "BGP communities of the destination route, space-separated high:low (sFlow extended gateway)",
  },
  {
    name: "local_pref",
    kind: "u32",
    description: "BGP local preference of the destination route (sFlow extended gateway)",
  },
  // Enrichment (src/enrich, docs/enrichment.md): filled by the EnrichmentService
  // before the store sees a batch; "" / 0 when no source knows.
  {
    name: "bgp_large_communities",
    kind: "string",
    description: "BGP large communities of the destination route, space-separated a:b:c (routing data)",
  },
  { name: "exporter_name", kind: "string", description: "Exporter name (classifier rules)" },
  { name: "exporter_role", kind: "string", description: "Exporter role, e.g. edge, core (classifier rules)" },
  { name: "exporter_site", kind: "string", description: "Exporter site (classifier rules)" },
  { name: "exporter_region", kind: "string", description: "Exporter region (classifier rules)" },
  { name: "exporter_tenant", kind: "string", description: "Exporter tenant (classifier rules)" },
  { name: "in_if_name", kind: "string", description: "Input interface name (ifName), e.g. xe-0/0/1" },
  { name: "out_if_name", kind: "string", description: "Output interface name (ifName)" },
  { name: "in_if_description", kind: "string", description: "Input interface description (ifAlias)" },
  { name: "out_if_description", kind: "string", description: "Output interface description (ifAlias)" },
  { name: "in_if_speed", kind: "u64", unit: "bps", description: "Input interface speed, 0 unknown" },
  { name: "out_if_speed", kind: "u64", unit: "bps", description: "Output interface speed, 0 unknown" },
  {
    name: "in_if_connectivity",
    kind: "string",
    description: "Input interface role: transit, peering, customer, internal … (classifier rules)",
  },
  { name: "out_if_connectivity", kind: "string", description: "Output interface role (classifier rules)" },
  {
    name: "in_if_provider",
    kind: "string",
    description: "Input interface provider, e.g. ntt (classifier rules)",
  },
  { name: "out_if_provider", kind: "string", description: "Output interface provider (classifier rules)" },
  {
    name: "in_if_boundary",
    kind: "string",
    description: 'Input interface boundary: external, internal or "" undefined (classifier rules)',
  },
  { name: "out_if_boundary", kind: "string", description: "Output interface boundary (classifier rules)" },
  { name: "src_net_name", kind: "string", description: "Source network name (networks file)" },
  { name: "dst_net_name", kind: "string", description: "Destination network name (networks file)" },
  { name: "src_net_role", kind: "string", description: "Source network role (networks file)" },
  { name: "dst_net_role", kind: "string", description: "Destination network role (networks file)" },
  { name: "src_net_site", kind: "string", description: "Source network site (networks file)" },
  { name: "dst_net_site", kind: "string", description: "Destination network site (networks file)" },
  { name: "src_net_tenant", kind: "string", description: "Source network tenant (networks file)" },
  { name: "dst_net_tenant", kind: "string", description: "Destination network tenant (networks file)" },
  { name: "src_country", kind: "string", description: "Source country, ISO 3166 alpha-2 (GeoIP)" },
  { name: "dst_country", kind: "string", description: "Destination country, ISO 3166 alpha-2 (GeoIP)" },
  { name: "src_as_name", kind: "string", description: "Source AS name (AS-names file, GeoIP ASN)" },
  { name: "dst_as_name", kind: "string", description: "Destination AS name (AS-names file, GeoIP ASN)" },
  {
    name: "bytes",
    kind: "u64",
    unit: "bytes",
    description: "Bytes as exported (unscaled; multiply by sampling_rate for an estimate)",
  },
  { name: "packets", kind: "u64", unit: "packets", description: "Packets as exported (unscaled)" },
  {
    name: "flows",
    kind: "u32",
    unit: "flows",
    description: "Number of flows this record stands for (1 for a flow record)",
  },
] as const satisfies readonly ColumnDef[];

export type FlowColumn = (typeof FLOW_COLUMNS)[number];
export type ColumnName = FlowColumn["name"];

type StorageOf<K extends ColumnKind> = K extends "time" | "u64" | "mac"
  ? Float64Array
  : K extends "u8" | "ip"
    ? Uint8Array
    : K extends "u16"
      ? Uint16Array
      : K extends "u32"
        ? Uint32Array
        : string[];

/** Column name → its typed storage, derived from the schema table. */
export type FlowColumns = { [C in FlowColumn as C["name"]]: StorageOf<C["kind"]> };

export const COLUMN_BY_NAME: ReadonlyMap<string, ColumnDef> = new Map(FLOW_COLUMNS.map((c) => [c.name, c]));

/**
 * The enrichment columns (src/enrich, docs/enrichment.md), with the BGP
 * route attributes routing data fills (sFlow's extended gateway carries them
 * too): "" / 0 on every row unless enrichment is configured. The store
 * appends one to its stage only once it has carried a value
 * (src/store/writer.ts, docs/store.md "Column activation"): a column of
 * NULLs still costs the append.
 */
export const ENRICHMENT_COLUMNS: ReadonlySet<ColumnName> = new Set<ColumnName>([
  "as_path",
  "bgp_communities",
  "local_pref",
  "bgp_large_communities",
  "exporter_name",
  "exporter_role",
  "exporter_site",
  "exporter_region",
  "exporter_tenant",
  "in_if_name",
  "out_if_name",
  "in_if_description",
  "out_if_description",
  "in_if_speed",
  "out_if_speed",
  "in_if_connectivity",
  "out_if_connectivity",
  "in_if_provider",
  "out_if_provider",
  "in_if_boundary",
  "out_if_boundary",
  "src_net_name",
  "dst_net_name",
  "src_net_role",
  "dst_net_role",
  "src_net_site",
  "dst_net_site",
  "src_net_tenant",
  "dst_net_tenant",
  "src_country",
  "dst_country",
  "src_as_name",
  "dst_as_name",
]);
