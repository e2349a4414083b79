// Information Element registry: (enterprise, id) → RFC name, abstract data type,
// and the decoder operation ("op") that feeds a schema column.
//
// Sources: IANA "IP Flow Information Export (IPFIX) Entities" registry
// (RFC 7012 §4), NetFlow v9 field types (RFC 3954 §8, which share the low
// numbers with IANA), Cisco ASA NSEL ids (33000-33002, 40000-40005) and the
// RFC 5103 reverse-direction PEN 29305.
//
// Only templates are compiled through this table (once per template), so the
// Map lookups here never run per record.

/** Abstract data types (RFC 7012 §3.1), collapsed to what rendering needs. */
export type IeType =
  "u" | "i" | "f" | "bool" | "ipv4" | "ipv6" | "mac" | "string" | "octets" | "s" | "ms" | "us" | "ns";

/**
 * Decoder operations. Numeric so that the per-record loop is one `switch` over
 * small integers with no lookups. Column ops carry a column index in `arg`.
 */
export const Op = {
  SKIP: 0,
  U8: 1, // integer → u8 column
  U16: 2, // integer → u16 column
  U32: 3, // integer → u32 column
  F64: 4, // integer → Float64 column (u64 counters)
  IPV4: 5, // 4-byte address → ip column (written only when non-zero and not yet set)
  IPV6: 6, // 16-byte address → ip column (same rule)
  MAC: 7, // 6-byte MAC → mac column
  MPLS: 8, // 3-byte label stack entry → top 20 bits
  ICMP_TC: 9, // icmpTypeCode (type << 8 | code)
  T_SYSUP: 10, // v9 21/22, IPFIX flowStart/EndSysUpTime: ms since exporter boot
  T_S: 11, // seconds since epoch
  T_MS: 12, // ms since epoch
  T_NTP: 13, // dateTimeMicroseconds/Nanoseconds: NTP 64-bit timestamp
  T_DELTA_US: 14, // µs before the export time
  SYSINIT: 15, // systemInitTimeMilliseconds (160)
  T_OBS_MS: 16, // observation / NSEL event time: used only when the record has no flow time
  SAMPLER_ID: 17, // samplerId / selectorId → sampler_id and sampler-table lookup
  SAMPLING: 18, // samplingInterval / samplerRandomInterval / samplingPacketInterval → rate
  SAMPLING_SPACE: 19, // samplingPacketSpace (rate = (interval + space) / interval)
  IP_VERSION: 20,
  FW_EVENT: 21, // NSEL / IE 233 → fw_event
  DATALINK: 22, // dataLinkFrameSection (315)
  IPHEADER: 23, // ipHeaderPacketSection (313)
  BADLEN: 24, // address with a length other than 4/16: skipped, counted as field_length
  FRAME_SIZE: 25, // dataLinkFrameSize (312): bytes of a sampled-packet record
} as const;
export type OpCode = (typeof Op)[keyof typeof Op];

/** Where a field goes. `col` is a schema column name; `which` says start/end for time ops. */
export interface IeDef {
  name: string;
  type: IeType;
  op?: OpCode;
  col?: string;
  /** For time ops: 0 start, 1 end. For counters: priority class (see templates.ts). */
  which?: number;
  /** Counter class for delta/total preference: "bytes" | "packets" with rank (lower wins). */
  counter?: { col: "bytes" | "packets"; rank: number };
}

const T = (name: string, type: IeType, extra: Partial<IeDef> = {}): IeDef => ({ name, type, ...extra });
const col = (name: string, type: IeType, c: string, op?: OpCode): IeDef => ({
  name,
  type,
  col: c,
  ...(op !== undefined ? { op } : {}),
});

/** Enterprise 0 (IANA / NetFlow v9). */
const IANA: Record<number, IeDef> = {
  1: T("octetDeltaCount", "u", { counter: { col: "bytes", rank: 0 } }),
  2: T("packetDeltaCount", "u", { counter: { col: "packets", rank: 0 } }),
  3: col("deltaFlowCount", "u", "flows"),
  4: col("protocolIdentifier", "u", "protocol"),
  5: col("ipClassOfService", "u", "tos"),
  6: col("tcpControlBits", "u", "tcp_flags"),
  7: col("sourceTransportPort", "u", "src_port"),
  8: col("sourceIPv4Address", "ipv4", "src_addr"),
  9: col("sourceIPv4PrefixLength", "u", "src_prefix_len"),
  10: col("ingressInterface", "u", "in_if"),
  11: col("destinationTransportPort", "u", "dst_port"),
  12: col("destinationIPv4Address", "ipv4", "dst_addr"),
  13: col("destinationIPv4PrefixLength", "u", "dst_prefix_len"),
  14: col("egressInterface", "u", "out_if"),
  15: col("ipNextHopIPv4Address", "ipv4", "next_hop"),
  16: col("bgpSourceAsNumber", "u", "src_as"),
  17: col("bgpDestinationAsNumber", "u", "dst_as"),
  18: col("bgpNextHopIPv4Address", "ipv4", "bgp_next_hop"),
  19: T("postMCastPacketDeltaCount", "u"),
  20: T("postMCastOctetDeltaCount", "u"),
  21: T("flowEndSysUpTime", "u", { op: Op.T_SYSUP, which: 1 }),
  22: T("flowStartSysUpTime", "u", { op: Op.T_SYSUP, which: 0 }),
  23: T("postOctetDeltaCount", "u", { counter: { col: "bytes", rank: 2 } }),
  24: T("postPacketDeltaCount", "u", { counter: { col: "packets", rank: 2 } }),
  25: T("minimumIpTotalLength", "u"),
  26: T("maximumIpTotalLength", "u"),
  27: col("sourceIPv6Address", "ipv6", "src_addr"),
  28: col("destinationIPv6Address", "ipv6", "dst_addr"),
  29: col("sourceIPv6PrefixLength", "u", "src_prefix_len"),
  30: col("destinationIPv6PrefixLength", "u", "dst_prefix_len"),
  31: T("flowLabelIPv6", "u"),
  32: T("icmpTypeCodeIPv4", "u", { op: Op.ICMP_TC }),
  33: T("igmpType", "u"),
  34: T("samplingInterval", "u", { op: Op.SAMPLING }),
  35: T("samplingAlgorithm", "u"),
  36: T("flowActiveTimeout", "u"),
  37: T("flowIdleTimeout", "u"),
  38: T("engineType", "u"),
  39: T("engineId", "u"),
  40: T("exportedOctetTotalCount", "u"),
  41: T("exportedMessageTotalCount", "u"),
  42: T("exportedFlowRecordTotalCount", "u"),
  44: T("sourceIPv4Prefix", "ipv4"),
  45: T("destinationIPv4Prefix", "ipv4"),
  46: T("mplsTopLabelType", "u"),
  47: T("mplsTopLabelIPv4Address", "ipv4"),
  48: T("samplerId", "u", { op: Op.SAMPLER_ID }),
  49: T("samplerMode", "u"),
  50: T("samplerRandomInterval", "u", { op: Op.SAMPLING }),
  51: T("classId", "u"),
  52: col("minimumTTL", "u", "ttl"),
  53: T("maximumTTL", "u"),
  54: T("fragmentIdentification", "u"),
  55: T("postIpClassOfService", "u"),
  56: col("sourceMacAddress", "mac", "src_mac"),
  57: col("postDestinationMacAddress", "mac", "dst_mac"),
  58: col("vlanId", "u", "src_vlan"),
  59: col("postVlanId", "u", "dst_vlan"),
  60: T("ipVersion", "u", { op: Op.IP_VERSION }),
  61: col("flowDirection", "u", "direction"),
  62: col("ipNextHopIPv6Address", "ipv6", "next_hop"),
  63: col("bgpNextHopIPv6Address", "ipv6", "bgp_next_hop"),
  64: T("ipv6ExtensionHeaders", "u"),
  70: col("mplsTopLabelStackSection", "octets", "mpls_label_1", Op.MPLS),
  71: col("mplsLabelStackSection2", "octets", "mpls_label_2", Op.MPLS),
  72: col("mplsLabelStackSection3", "octets", "mpls_label_3", Op.MPLS),
  73: T("mplsLabelStackSection4", "octets"),
  74: T("mplsLabelStackSection5", "octets"),
  75: T("mplsLabelStackSection6", "octets"),
  76: T("mplsLabelStackSection7", "octets"),
  77: T("mplsLabelStackSection8", "octets"),
  78: T("mplsLabelStackSection9", "octets"),
  79: T("mplsLabelStackSection10", "octets"),
  80: col("destinationMacAddress", "mac", "dst_mac"),
  81: col("postSourceMacAddress", "mac", "src_mac"),
  82: T("interfaceName", "string"),
  83: T("interfaceDescription", "string"),
  84: T("samplerName", "string"),
  85: T("octetTotalCount", "u", { counter: { col: "bytes", rank: 1 } }),
  86: T("packetTotalCount", "u", { counter: { col: "packets", rank: 1 } }),
  87: T("flagsAndSamplerId", "u"),
  88: T("fragmentOffset", "u"),
  89: col("forwardingStatus", "u", "forwarding_status"),
  90: T("mplsVpnRouteDistinguisher", "octets"),
  91: T("mplsTopLabelPrefixLength", "u"),
  92: T("srcTrafficIndex", "u"),
  93: T("dstTrafficIndex", "u"),
  94: T("applicationDescription", "string"),
  95: T("applicationId", "octets"),
  96: T("applicationName", "string"),
  98: T("postIpDiffServCodePoint", "u"),
  99: T("multicastReplicationFactor", "u"),
  100: T("className", "string"),
  128: T("bgpNextAdjacentAsNumber", "u"),
  129: T("bgpPrevAdjacentAsNumber", "u"),
  130: T("exporterIPv4Address", "ipv4"),
  131: T("exporterIPv6Address", "ipv6"),
  132: T("droppedOctetDeltaCount", "u"),
  133: T("droppedPacketDeltaCount", "u"),
  134: T("droppedOctetTotalCount", "u"),
  135: T("droppedPacketTotalCount", "u"),
  136: col("flowEndReason", "u", "flow_end_reason"),
  137: T("commonPropertiesId", "u"),
  138: T("observationPointId", "u"),
  139: T("icmpTypeCodeIPv6", "u", { op: Op.ICMP_TC }),
  140: T("mplsTopLabelIPv6Address", "ipv6"),
  141: T("lineCardId", "u"),
  142: T("portId", "u"),
  143: T("meteringProcessId", "u"),
  144: T("exportingProcessId", "u"),
  145: T("templateId", "u"),
  146: T("wlanChannelId", "u"),
  147: T("wlanSSID", "string"),
  148: T("flowId", "u"),
  149: T("observationDomainId", "u"),
  150: T("flowStartSeconds", "s", { op: Op.T_S, which: 0 }),
  151: T("flowEndSeconds", "s", { op: Op.T_S, which: 1 }),
  152: T("flowStartMilliseconds", "ms", { op: Op.T_MS, which: 0 }),
  153: T("flowEndMilliseconds", "ms", { op: Op.T_MS, which: 1 }),
  154: T("flowStartMicroseconds", "us", { op: Op.T_NTP, which: 0 }),
  155: T("flowEndMicroseconds", "us", { op: Op.T_NTP, which: 1 }),
  156: T("flowStartNanoseconds", "ns", { op: Op.T_NTP, which: 0 }),
  157: T("flowEndNanoseconds", "ns", { op: Op.T_NTP, which: 1 }),
  158: T("flowStartDeltaMicroseconds", "u", { op: Op.T_DELTA_US, which: 0 }),
  159: T("flowEndDeltaMicroseconds", "u", { op: Op.T_DELTA_US, which: 1 }),
  160: T("systemInitTimeMilliseconds", "ms", { op: Op.SYSINIT }),
  161: T("flowDurationMilliseconds", "u"),
  162: T("flowDurationMicroseconds", "u"),
  163: T("observedFlowTotalCount", "u"),
  164: T("ignoredPacketTotalCount", "u"),
  165: T("ignoredOctetTotalCount", "u"),
  166: T("notSentFlowTotalCount", "u"),
  167: T("notSentPacketTotalCount", "u"),
  168: T("notSentOctetTotalCount", "u"),
  176: T("icmpTypeIPv4", "u", { col: "icmp_type" }),
  177: T("icmpCodeIPv4", "u", { col: "icmp_code" }),
  178: T("icmpTypeIPv6", "u", { col: "icmp_type" }),
  179: T("icmpCodeIPv6", "u", { col: "icmp_code" }),
  180: col("udpSourcePort", "u", "src_port"),
  181: col("udpDestinationPort", "u", "dst_port"),
  182: col("tcpSourcePort", "u", "src_port"),
  183: col("tcpDestinationPort", "u", "dst_port"),
  184: T("tcpSequenceNumber", "u"),
  185: T("tcpAcknowledgementNumber", "u"),
  186: T("tcpWindowSize", "u"),
  192: col("ipTTL", "u", "ttl"),
  193: T("nextHeaderIPv6", "u"),
  195: T("ipDiffServCodePoint", "u"),
  196: T("ipPrecedence", "u"),
  197: T("fragmentFlags", "u"),
  205: T("udpMessageLength", "u"),
  206: T("isMulticast", "u"),
  210: T("paddingOctets", "octets"),
  211: T("collectorIPv4Address", "ipv4"),
  212: T("collectorIPv6Address", "ipv6"),
  213: T("exportInterface", "u"),
  214: T("exportProtocolVersion", "u"),
  215: T("exportTransportProtocol", "u"),
  216: T("collectorTransportPort", "u"),
  217: T("exporterTransportPort", "u"),
  224: T("ipTotalLength", "u"),
  225: col("postNATSourceIPv4Address", "ipv4", "post_nat_src_addr"),
  226: col("postNATDestinationIPv4Address", "ipv4", "post_nat_dst_addr"),
  227: col("postNAPTSourceTransportPort", "u", "post_nat_src_port"),
  228: col("postNAPTDestinationTransportPort", "u", "post_nat_dst_port"),
  229: T("natOriginatingAddressRealm", "u"),
  230: T("natEvent", "u"),
  231: col("initiatorOctets", "u", "initiator_octets"),
  232: col("responderOctets", "u", "responder_octets"),
  233: T("firewallEvent", "u", { op: Op.FW_EVENT }),
  234: T("ingressVRFID", "u"),
  235: T("egressVRFID", "u"),
  236: T("VRFname", "string"),
  239: T("biflowDirection", "u"),
  243: col("dot1qVlanId", "u", "src_vlan"),
  244: T("dot1qPriority", "u"),
  245: T("dot1qCustomerVlanId", "u"),
  252: col("ingressPhysicalInterface", "u", "in_if"),
  253: col("egressPhysicalInterface", "u", "out_if"),
  254: col("postDot1qVlanId", "u", "dst_vlan"),
  255: T("postDot1qCustomerVlanId", "u"),
  256: T("ethernetType", "u"),
  281: col("postNATSourceIPv6Address", "ipv6", "post_nat_src_addr"),
  282: col("postNATDestinationIPv6Address", "ipv6", "post_nat_dst_addr"),
  298: T("initiatorPackets", "u"),
  299: T("responderPackets", "u"),
  300: T("observationDomainName", "string"),
  302: T("selectorId", "u", { op: Op.SAMPLER_ID }),
  304: T("selectorAlgorithm", "u"),
  305: T("samplingPacketInterval", "u", { op: Op.SAMPLING }),
  306: T("samplingPacketSpace", "u", { op: Op.SAMPLING_SPACE }),
  307: T("samplingTimeInterval", "u"),
  308: T("samplingTimeSpace", "u"),
  309: T("samplingSize", "u"),
  310: T("samplingPopulation", "u"),
  311: T("samplingProbability", "f"),
  312: T("dataLinkFrameSize", "u", { op: Op.FRAME_SIZE }),
  313: T("ipHeaderPacketSection", "octets", { op: Op.IPHEADER }),
  314: T("ipPayloadPacketSection", "octets"),
  315: T("dataLinkFrameSection", "octets", { op: Op.DATALINK }),
  316: T("mplsLabelStackSection", "octets"),
  317: T("mplsPayloadPacketSection", "octets"),
  318: T("selectorIdTotalPktsObserved", "u"),
  319: T("selectorIdTotalPktsSelected", "u"),
  322: T("observationTimeSeconds", "s"),
  323: T("observationTimeMilliseconds", "ms", { op: Op.T_OBS_MS }),
  324: T("observationTimeMicroseconds", "us"),
  325: T("observationTimeNanoseconds", "ns"),
  335: T("selectorName", "string"),
  346: T("privateEnterpriseNumber", "u"),
  351: col("layer2SegmentId", "u", "layer2_segment_id"),
  352: T("layer2OctetDeltaCount", "u"),
  353: T("layer2OctetTotalCount", "u"),
  368: T("ingressInterfaceType", "u"),
  369: T("egressInterfaceType", "u"),
  // Cisco ASA NSEL (NetFlow v9 only; ids > 32767 cannot be enterprise-0 in IPFIX).
  33000: T("NF_F_INGRESS_ACL_ID", "octets"),
  33001: T("NF_F_EGRESS_ACL_ID", "octets"),
  33002: T("NF_F_FW_EXT_EVENT", "u"),
  40000: T("NF_F_USERNAME", "string"),
  40001: col("NF_F_XLATE_SRC_ADDR_IPV4", "ipv4", "post_nat_src_addr"),
  40002: col("NF_F_XLATE_DST_ADDR_IPV4", "ipv4", "post_nat_dst_addr"),
  40003: col("NF_F_XLATE_SRC_PORT", "u", "post_nat_src_port"),
  40004: col("NF_F_XLATE_DST_PORT", "u", "post_nat_dst_port"),
  40005: T("NF_F_FW_EVENT", "u", { op: Op.FW_EVENT }),
};

/** RFC 5103 §6.1: reverse IEs have PEN 29305 and the forward IE's id. */
export const REVERSE_PEN = 29305;

/** Enterprise names we recognise (for logs and options field names). */
const ENTERPRISES: Record<number, string> = {
  [REVERSE_PEN]: "reverse",
  5951: "netscaler",
  6871: "yaf",
  8057: "cesnet",
  10704: "barracuda",
  35632: "ntop",
  6876: "vmware",
  9: "cisco",
};

/**
 * Definition for (enterprise, id). Unknown IEs get a synthetic name and no
 * column, so they are skipped by length. RFC 5103 reverse IEs are named
 * "reverse<ForwardName>" and deliberately feed no column: adding reverse
 * counters to the forward ones would double-count a biflow.
 */
export function ieDef(enterprise: number, id: number): IeDef {
  if (enterprise === 0) {
    return IANA[id] ?? { name: `ie${id}`, type: "octets" };
  }
  if (enterprise === REVERSE_PEN) {
    const fwd = IANA[id];
    if (fwd) return { name: "reverse" + fwd.name[0]!.toUpperCase() + fwd.name.slice(1), type: fwd.type };
  }
  const ent = ENTERPRISES[enterprise] ?? `pen${enterprise}`;
  return { name: `${ent}.${id}`, type: "octets" };
}

/** v9 options template scope field types (RFC 3954 §6.1). */
export const V9_SCOPE_NAMES: Record<number, string> = {
  1: "system",
  2: "interface",
  3: "lineCard",
  4: "cache",
  5: "template",
};
