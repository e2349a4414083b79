// Interface enrichment configuration (the `enrich.interfaces` section):
// where interface names, descriptions and speeds come from (IPFIX / NetFlow
// v9 options data, SNMP polling, static config) and in which order they win.
// Validation in the style of src/alerts/config.ts: unknown keys are errors and
// every error names the key path ("enrich.interfaces.snmp.timeoutMs: …").
import { ConfigError } from "../../config/schema.js";
import { parsePrefix } from "../../config/address.js";
import { formatIp, parseIp } from "../../collector/ip.js";
import { isObject, show, int, bool } from "../../config/check.js";

export type InterfaceOrigin = "static" | "snmp" | "options";
export const INTERFACE_ORIGINS: readonly InterfaceOrigin[] = ["static", "snmp", "options"];

export type AuthProtocol = "md5" | "sha" | "sha224" | "sha256" | "sha384" | "sha512";
export type PrivProtocol = "des" | "aes" | "aes256b" | "aes256r";

/** SNMP credentials for one address or prefix. */
export type SnmpCredential =
  | { version: "2c"; community: string }
  | {
      version: "3";
      user: string;
      level: "noAuthNoPriv" | "authNoPriv" | "authPriv";
      authProtocol: AuthProtocol;
      authKey: string;
      privProtocol: PrivProtocol;
      privKey: string;
      /** SNMPv3 context name ("" = default context). */
      context: string;
    };

export interface SnmpConfig {
  enabled: boolean;
  /** Credentials by exporter address or prefix ("192.0.2.1", "10.0.0.0/8", "::/0"); longest prefix wins. */
  credentials: Record<string, SnmpCredential>;
  /** v2c community for exporters no `credentials` key covers. */
  community: string;
  /** Exporter address → agent to poll ("192.0.2.101", "192.0.2.101:1161", "[2001:db8::1]:161"), when the agent is not the flow source address. */
  agents: Record<string, string>;
  /** Agent UDP port when the agent text has none. */
  port: number;
  /** Poll each exporter when first seen, then every this many seconds. */
  pollIntervalSec: number;
  /** After a failed poll, try again this much later (old data is kept meanwhile). */
  retryIntervalSec: number;
  /** One SNMP request is abandoned after this long (then retried `retries` times). */
  timeoutMs: number;
  retries: number;
  /** GetBulk max-repetitions (rows asked per request). */
  maxRepetitions: number;
  /** Requests per second sent to one agent (a poll sends its requests one at a time). */
  requestsPerSecond: number;
  /** Agents polled at the same time. */
  maxConcurrentPolls: number;
  /** Interfaces kept per agent (a walk stops there). */
  maxInterfaces: number;
}

export interface OptionsDataConfig {
  /** Learn interface names from options data records (IE 82 interfaceName, IE 83 interfaceDescription). */
  enabled: boolean;
  /** Interfaces kept per exporter (more are ignored and counted). */
  maxInterfacesPerExporter: number;
  /** Exporters kept (more are ignored and counted): options data is unauthenticated UDP. */
  maxExporters: number;
}

export interface StaticInterface {
  name: string;
  description: string;
  /** Bits per second, 0 unknown. */
  speedBps: number;
}

export interface InterfacesConfig {
  /** Which source wins, field by field (name, description, speed): the first with a non-empty value. */
  priority: InterfaceOrigin[];
  options: OptionsDataConfig;
  snmp: SnmpConfig;
  /** Exporter address → ifIndex → interface. */
  static: Record<string, Record<string, StaticInterface>>;
}

export function defaultInterfacesConfig(): InterfacesConfig {
  return {
    priority: ["static", "snmp", "options"],
    options: { enabled: true, maxInterfacesPerExporter: 100_000, maxExporters: 10_000 },
    snmp: {
      enabled: false,
      credentials: {},
      community: "public",
      agents: {},
      port: 161,
      pollIntervalSec: 3600,
      retryIntervalSec: 60,
      timeoutMs: 2000,
      retries: 1,
      maxRepetitions: 20,
      requestsPerSecond: 10,
      maxConcurrentPolls: 4,
      maxInterfaces: 100_000,
    },
    static: {},
  };
}

function str(v: unknown, key: string, maxLen = 1024): string {
  if (typeof v !== "string") throw new ConfigError(key, `${show(v)} — must be a string`);
  if (v.length > maxLen) throw new ConfigError(key, `must be at most ${maxLen} characters`);
  return v;
}

function section(v: unknown, key: string): Record<string, unknown> {
  if (!isObject(v)) throw new ConfigError(key, `${show(v)} — must be a map`);
  return v;
}

function keys(raw: Record<string, unknown>, known: readonly string[], key: string): void {
  for (const k of Object.keys(raw))
    if (!known.includes(k))
      throw new ConfigError(`${key}.${k}`, `unknown key (known here: ${known.join(", ")})`);
}

function oneOf<T extends string>(v: unknown, key: string, allowed: readonly T[]): T {
  if (typeof v !== "string" || !allowed.includes(v as T))
    throw new ConfigError(key, `${show(v)} — must be one of ${allowed.join(", ")}`);
  return v as T;
}

/**
 * An exact address, returned in the collector's canonical text (formatIp:
 * lower-case, RFC 5952 compressed IPv6, IPv4 dotted), the form lookups use,
 * so "2001:DB8:0::1" in the config matches exporter "2001:db8::1".
 */
function address(k: string, key: string): string {
  const ip = k.includes("/") ? null : parseIp(k);
  if (!ip) throw new ConfigError(key, `"${k}" must be an IP address`);
  return formatIp(ip, 0);
}

/** "host", "host:port", "[v6]:port" or a bare IPv6 address → parts, or an error text. */
export function parseAgent(text: string, defaultPort: number): { host: string; port: number } | string {
  let host = text;
  let port = defaultPort;
  const v6 = /^\[([0-9A-Fa-f:.]+)\](?::(\d{1,5}))?$/.exec(text);
  if (v6) {
    host = v6[1]!;
    if (v6[2] !== undefined) port = Number(v6[2]);
  } else if (/^[^:]+:\d{1,5}$/.test(text)) {
    const i = text.lastIndexOf(":");
    host = text.slice(0, i);
    port = Number(text.slice(i + 1));
  }
  if (port < 1 || port > 65535) return "port must be 1-65535";
  if (!/^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|[0-9A-Fa-f:.]+)$/.test(host))
    return "must be an address or host name, optionally with :port";
  return { host, port };
}

const AUTH: readonly AuthProtocol[] = ["md5", "sha", "sha224", "sha256", "sha384", "sha512"];
const PRIV: readonly PrivProtocol[] = ["des", "aes", "aes256b", "aes256r"];

function credential(v: unknown, key: string): SnmpCredential {
  const r = section(v, key);
  const version = oneOf(r.version ?? "2c", `${key}.version`, ["2c", "3"] as const);
  if (version === "2c") {
    keys(r, ["version", "community"], key);
    const community = str(r.community, `${key}.community`, 255);
    if (community === "") throw new ConfigError(`${key}.community`, "must not be empty");
    return { version, community };
  }
  keys(r, ["version", "user", "level", "authProtocol", "authKey", "privProtocol", "privKey", "context"], key);
  const user = str(r.user, `${key}.user`, 255);
  if (user === "") throw new ConfigError(`${key}.user`, "must not be empty");
  const level = oneOf(r.level ?? "authPriv", `${key}.level`, [
    "noAuthNoPriv",
    "authNoPriv",
    "authPriv",
  ] as const);
  const authProtocol = oneOf(r.authProtocol ?? "sha", `${key}.authProtocol`, AUTH);
  const privProtocol = oneOf(r.privProtocol ?? "aes", `${key}.privProtocol`, PRIV);
  const authKey = r.authKey === undefined ? "" : str(r.authKey, `${key}.authKey`, 255);
  const privKey = r.privKey === undefined ? "" : str(r.privKey, `${key}.privKey`, 255);
  // RFC 3414 §11.2: a password shorter than 8 characters is refused by agents.
  if (level !== "noAuthNoPriv" && authKey.length < 8)
    throw new ConfigError(`${key}.authKey`, `level ${level} needs an authKey of at least 8 characters`);
  if (level === "authPriv" && privKey.length < 8)
    throw new ConfigError(`${key}.privKey`, "level authPriv needs a privKey of at least 8 characters");
  const context = r.context === undefined ? "" : str(r.context, `${key}.context`, 255);
  return { version, user, level, authProtocol, authKey, privProtocol, privKey, context };
}

function staticInterfaces(v: unknown, key: string): Record<string, Record<string, StaticInterface>> {
  const out: Record<string, Record<string, StaticInterface>> = {};
  for (const [exp, ifs] of Object.entries(section(v, key))) {
    const ek = `${key}.${exp}`;
    const canonical = address(exp, ek);
    const table: Record<string, StaticInterface> = {};
    for (const [idx, raw] of Object.entries(section(ifs, ek))) {
      const ik = `${ek}.${idx}`;
      if (!/^\d{1,10}$/.test(idx) || Number(idx) > 0xffffffff)
        throw new ConfigError(ik, "the key must be an ifIndex (0-4294967295)");
      const r = section(raw, ik);
      keys(r, ["name", "description", "speedBps"], ik);
      table[String(Number(idx))] = {
        name: r.name === undefined ? "" : str(r.name, `${ik}.name`, 255),
        description: r.description === undefined ? "" : str(r.description, `${ik}.description`, 1024),
        speedBps:
          r.speedBps === undefined ? 0 : int(r.speedBps, `${ik}.speedBps`, 0, Number.MAX_SAFE_INTEGER),
      };
    }
    out[canonical] = table;
  }
  return out;
}

/** Validate a raw `interfaces` section over `defaults`; throws ConfigError naming the key. */
export function validateInterfacesConfig(
  raw: unknown,
  defaults: InterfacesConfig = defaultInterfacesConfig(),
  key = "enrich.interfaces",
): InterfacesConfig {
  const out = structuredClone(defaults);
  if (raw === undefined) return out;
  const r = section(raw, key);
  keys(r, ["priority", "options", "snmp", "static"], key);
  if (r.priority !== undefined) {
    const k = `${key}.priority`;
    if (!Array.isArray(r.priority) || r.priority.length === 0)
      throw new ConfigError(
        k,
        `${show(r.priority)} — must be a non-empty list of ${INTERFACE_ORIGINS.join(", ")}`,
      );
    const list = r.priority.map((p, i) => oneOf(p, `${k}[${i}]`, INTERFACE_ORIGINS));
    if (new Set(list).size !== list.length) throw new ConfigError(k, "lists a source twice");
    out.priority = list;
  }
  if (r.options !== undefined) {
    const k = `${key}.options`;
    const o = section(r.options, k);
    keys(o, ["enabled", "maxInterfacesPerExporter", "maxExporters"], k);
    if (o.enabled !== undefined) out.options.enabled = bool(o.enabled, `${k}.enabled`);
    if (o.maxInterfacesPerExporter !== undefined)
      out.options.maxInterfacesPerExporter = int(
        o.maxInterfacesPerExporter,
        `${k}.maxInterfacesPerExporter`,
        1,
        10_000_000,
      );
    if (o.maxExporters !== undefined)
      out.options.maxExporters = int(o.maxExporters, `${k}.maxExporters`, 1, 1_000_000);
  }
  if (r.snmp !== undefined) {
    const k = `${key}.snmp`;
    const s = section(r.snmp, k);
    keys(s, Object.keys(out.snmp), k);
    const o = out.snmp;
    if (s.enabled !== undefined) o.enabled = bool(s.enabled, `${k}.enabled`);
    if (s.community !== undefined) o.community = str(s.community, `${k}.community`, 255);
    if (s.port !== undefined) o.port = int(s.port, `${k}.port`, 1, 65535);
    if (s.pollIntervalSec !== undefined)
      o.pollIntervalSec = int(s.pollIntervalSec, `${k}.pollIntervalSec`, 10, 30 * 86_400);
    if (s.retryIntervalSec !== undefined)
      o.retryIntervalSec = int(s.retryIntervalSec, `${k}.retryIntervalSec`, 1, 30 * 86_400);
    if (s.timeoutMs !== undefined) o.timeoutMs = int(s.timeoutMs, `${k}.timeoutMs`, 10, 120_000);
    if (s.retries !== undefined) o.retries = int(s.retries, `${k}.retries`, 0, 10);
    if (s.maxRepetitions !== undefined)
      o.maxRepetitions = int(s.maxRepetitions, `${k}.maxRepetitions`, 1, 1000);
    if (s.requestsPerSecond !== undefined)
      o.requestsPerSecond = int(s.requestsPerSecond, `${k}.requestsPerSecond`, 1, 10_000);
    if (s.maxConcurrentPolls !== undefined)
      o.maxConcurrentPolls = int(s.maxConcurrentPolls, `${k}.maxConcurrentPolls`, 1, 1000);
    if (s.maxInterfaces !== undefined)
      o.maxInterfaces = int(s.maxInterfaces, `${k}.maxInterfaces`, 1, 10_000_000);
    if (s.credentials !== undefined) {
      const ck = `${k}.credentials`;
      o.credentials = {};
      for (const [p, c] of Object.entries(section(s.credentials, ck))) {
        const pk = `${ck}.${p}`;
        const parsed = parsePrefix(p);
        if (typeof parsed === "string")
          throw new ConfigError(pk, `the key must be an address or prefix: ${parsed}`);
        o.credentials[p] = credential(c, pk);
      }
    }
    if (s.agents !== undefined) {
      const ak = `${k}.agents`;
      o.agents = {};
      for (const [exp, agent] of Object.entries(section(s.agents, ak))) {
        const ek = `${ak}.${exp}`;
        const canonical = address(exp, ek);
        const text = str(agent, ek, 300);
        const parsed = parseAgent(text, o.port);
        if (typeof parsed === "string") throw new ConfigError(ek, `${show(text)} — ${parsed}`);
        o.agents[canonical] = text;
      }
    }
  }
  if (r.static !== undefined) out.static = staticInterfaces(r.static, `${key}.static`);
  return out;
}
