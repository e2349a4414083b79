// Mitigation hints: the ready text of a BGP Flowspec rule and of an RTBH
// announcement for an attack, in ExaBGP's configuration/API syntax (the one
// FastNetMon and most scripted setups feed to a route server). The operator
// reviews and pastes it; Nagare announces nothing itself.
//
// Flowspec (RFC 8955 §4.2.2 components, IPv6 per RFC 8956):
//   type 1 destination prefix   ← the attack target
//   type 3 IP protocol          ← the attack's main protocol (when one carries ≥ 80 % of packets)
//   type 6 source port          ← amplification reflector ports (UDP)
//   type 9 TCP flags            ← SYN flood: syn (match) without ack
//   type 10 packet length       ← amplification: ≥ a bound under the mean response size
//   type 12 fragment            ← a mostly-fragmented flood: is-fragment
//   action: discard (traffic-rate 0, RFC 8955 §7.1)
// RTBH (RFC 7999): the /32 or /128 (or the attacked prefix for carpet bombing)
// with the BLACKHOLE community 65535:666 and NO_EXPORT, next hop "self" (the
// route server rewrites it to the discard next hop).
import type { AttackVector, Fingerprint } from "./types.js";

const AMP_PORT: Partial<Record<AttackVector, number>> = {
  dns_amplification: 53,
  ntp_amplification: 123,
  ssdp_amplification: 1900,
  memcached_amplification: 11211,
  cldap_amplification: 389,
  chargen_amplification: 19,
  snmp_amplification: 161,
};

const PROTO_NAME: Record<number, string> = { 1: "icmp", 6: "tcp", 17: "udp", 58: "icmpv6" };

/** Flowspec and RTBH text for `prefix` ("203.0.113.7/32") and its fingerprint. */
export function mitigationText(prefix: string, fp: Fingerprint): { flowspec: string; rtbh: string } {
  const v6 = prefix.includes(":");
  const match: string[] = [`destination ${prefix};`];
  const ports = fp.vectors.map((v) => AMP_PORT[v]).filter((p): p is number => p !== undefined);
  const amp = ports.length > 0;
  const syn = fp.vectors.includes("syn_flood");
  // The main protocol: amplification and SYN floods fix it; otherwise the top one.
  const proto = amp ? 17 : syn ? 6 : fp.protocols[0];
  if (proto !== undefined) match.push(`${v6 ? "next-header" : "protocol"} =${PROTO_NAME[proto] ?? proto};`);
  if (amp) {
    match.push(`source-port ${ports.map((p) => `=${p}`).join(" ")};`);
    // Reflector responses are large; a floor below the mean keeps small legitimate answers.
    if (fp.packetSize >= 200) match.push(`packet-length >=${Math.floor((fp.packetSize * 0.5) / 10) * 10};`);
  }
  if (syn) match.push("tcp-flags [ syn ]; tcp-flags [ !ack ];");
  if (fp.vectors.includes("fragment") || fp.fragmentShare >= 0.5) match.push("fragment [ is-fragment ];");
  const flowspec = [
    "flow route {",
    "    match {",
    ...match.map((m) => `        ${m}`),
    "    }",
    "    then {",
    "        discard;",
    "    }",
    "}",
  ].join("\n");
  const rtbh = `announce route ${prefix} next-hop self community [ 65535:666 no-export ]`;
  return { flowspec, rtbh };
}
