// Listen addresses ("addr:port") and CIDR prefixes, parsed once at start-up.
import { isIP } from "node:net";
import { parseIp } from "../collector/ip.js";

export interface ListenAddress {
  /** Host part without brackets: "0.0.0.0", "::", "127.0.0.1", "localhost". */
  host: string;
  port: number;
  family: 4 | 6;
  /** The text as written by the operator, for messages. */
  text: string;
}

/**
 * Parse "a.b.c.d:port", "[v6]:port" or "localhost:port". Port 0 means "any
 * free port" (tests); real configs use 1-65535. Returns an error string on failure.
 */
export function parseListen(text: string): ListenAddress | string {
  if (typeof text !== "string" || text.length === 0) return 'expected "address:port"';
  let host: string;
  let portText: string;
  if (text.startsWith("[")) {
    const close = text.indexOf("]");
    if (close < 0 || text[close + 1] !== ":") return 'IPv6 addresses are written "[addr]:port"';
    host = text.slice(1, close);
    portText = text.slice(close + 2);
    if (isIP(host) !== 6) return `"${host}" is not an IPv6 address`;
  } else {
    const colon = text.lastIndexOf(":");
    if (colon < 0) return 'missing port (expected "address:port")';
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (host.includes(":")) return 'IPv6 addresses are written "[addr]:port"';
    if (host !== "localhost" && isIP(host) !== 4)
      return `"${host}" is not an IPv4 address (IPv6: "[addr]:port")`;
  }
  if (!/^\d{1,5}$/.test(portText)) return "port must be 1-65535";
  const port = Number(portText);
  if (port > 65535) return "port must be 1-65535";
  return { host: host === "localhost" ? "127.0.0.1" : host, port, family: isIP(host) === 6 ? 6 : 4, text };
}

export function formatListen(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/** True for 127.0.0.0/8, ::1 and IPv4-mapped loopback. */
export function isLoopback(host: string): boolean {
  if (host === "localhost" || host === "::1") return true;
  const h = host.startsWith("::ffff:") ? host.slice(7) : host;
  return isIP(h) === 4 && h.startsWith("127.");
}

/** A CIDR prefix in the schema's 16-byte form (IPv4 as IPv4-mapped, length shifted by 96). */
export interface Prefix {
  bytes: Uint8Array;
  bits: number;
  text: string;
}

/** Parse "10.0.0.0/8", "2001:db8::/32" or a bare address (a /32 or /128). */
export function parsePrefix(text: string): Prefix | string {
  const slash = text.indexOf("/");
  const addr = slash < 0 ? text : text.slice(0, slash);
  const bytes = parseIp(addr);
  if (!bytes) return `"${addr}" is not an IP address`;
  const v4 = isIP(addr) === 4;
  const max = v4 ? 32 : 128;
  let bits = max;
  if (slash >= 0) {
    const lenText = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(lenText) || Number(lenText) > max) return `prefix length must be 0-${max}`;
    bits = Number(lenText);
  }
  return { bytes, bits: v4 ? bits + 96 : bits, text };
}

export function prefixContains(p: Prefix, ip: Uint8Array): boolean {
  const full = p.bits >> 3;
  for (let i = 0; i < full; i++) if (p.bytes[i] !== ip[i]) return false;
  const rest = p.bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((p.bytes[full]! ^ ip[full]!) & mask) === 0;
}
