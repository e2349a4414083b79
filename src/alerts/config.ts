// Alerts configuration (the `alerts` section): delivery timeouts and retries,
// the SMTP relay, the default syslog target, history size. Defaults and
// validation in the style of src/store/config.ts: unknown keys are errors and
// every error names the key path (ConfigError "alerts.smtp.port: …").
import { ConfigError } from "../config/schema.js";
import { isObject, show, int, str, bool } from "../config/check.js";

export interface SmtpConfig {
  /** Relay host; "" = email destinations are refused (no relay configured). */
  host: string;
  port: number;
  /** Envelope and header sender, e.g. "nagare@example.net". */
  from: string;
  /** AUTH user ("" = no AUTH). */
  user: string;
  password: string;
  /** Upgrade with STARTTLS when the server offers it. */
  starttls: boolean;
  /** Check the server certificate after STARTTLS (off only for a self-signed relay). */
  tlsVerify: boolean;
  /** Name given in EHLO ("" = the machine's host name). */
  heloName: string;
}

export interface SyslogConfig {
  /** Used by syslog destinations whose target is "": "udp://host:port" or "tcp://host:port" ("" = none). */
  target: string;
  /** Facility number 0-23 (16 = local0). */
  facility: number;
  /** HOSTNAME field ("" = the machine's host name). */
  hostname: string;
}

export interface RetryConfig {
  /** Attempts per notification (1 = no retry). */
  attempts: number;
  /** Wait before the 2nd attempt; doubled each time, at most maxDelayMs. */
  initialDelayMs: number;
  maxDelayMs: number;
}

export interface AlertsConfig {
  /** One delivery attempt (HTTP request, SMTP transaction, syslog send) is abandoned after this long. */
  timeoutMs: number;
  retry: RetryConfig;
  /** Notifications waiting per destination; beyond it a new one is recorded failed ("queue full"). */
  queueMax: number;
  /** History records kept (history.jsonl is trimmed to this). */
  historyMax: number;
  /** Time limit of a query rule's query (at most query.sql.timeoutMs). */
  queryTimeoutMs: number;
  /** Shortest intervalSec a query rule may have. */
  minIntervalSec: number;
  smtp: SmtpConfig;
  syslog: SyslogConfig;
}

export function defaultAlertsConfig(): AlertsConfig {
  return {
    timeoutMs: 10_000,
    retry: { attempts: 4, initialDelayMs: 2_000, maxDelayMs: 60_000 },
    queueMax: 100,
    historyMax: 10_000,
    queryTimeoutMs: 30_000,
    minIntervalSec: 10,
    smtp: {
      host: "",
      port: 25,
      from: "nagare@localhost",
      user: "",
      password: "",
      starttls: true,
      tlsVerify: true,
      heloName: "",
    },
    syslog: { target: "", facility: 16, hostname: "" },
  };
}

/** user@domain: no spaces, angle brackets or line breaks (they would break SMTP commands and headers). */
export const EMAIL_RE = /^[^\s@<>()",;:\\[\]]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/;

/** "udp://host:port" / "tcp://host:port" → parts, or an error text. */
export function parseSyslogTarget(s: string): { proto: "udp" | "tcp"; host: string; port: number } | string {
  const m = /^(udp|tcp):\/\/(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(s);
  if (!m) return 'must be "udp://host:port" or "tcp://host:port"';
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return "port must be 1-65535";
  const host = m[2]!.startsWith("[") ? m[2]!.slice(1, -1) : m[2]!;
  return { proto: m[1] as "udp" | "tcp", host, port };
}

function keys(raw: Record<string, unknown>, known: object, key: string): void {
  for (const k of Object.keys(raw))
    if (!Object.hasOwn(known, k))
      throw new ConfigError(`${key}.${k}`, `unknown key (known here: ${Object.keys(known).join(", ")})`);
}

function section(v: unknown, key: string): Record<string, unknown> {
  if (!isObject(v)) throw new ConfigError(key, `${show(v)} — must be a map`);
  return v;
}

const HOST_RE = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|[0-9A-Fa-f:.]+)$/;

/** Validate a raw `alerts` section over `defaults`; throws ConfigError naming the key. */
export function validateAlertsConfig(
  raw: unknown,
  defaults: AlertsConfig = defaultAlertsConfig(),
  key = "alerts",
): AlertsConfig {
  const out = structuredClone(defaults);
  if (raw === undefined) return out;
  const r = section(raw, key);
  keys(r, out, key);
  if (r.timeoutMs !== undefined) out.timeoutMs = int(r.timeoutMs, `${key}.timeoutMs`, 100, 600_000);
  if (r.queueMax !== undefined) out.queueMax = int(r.queueMax, `${key}.queueMax`, 1, 100_000);
  if (r.historyMax !== undefined) out.historyMax = int(r.historyMax, `${key}.historyMax`, 10, 10_000_000);
  if (r.queryTimeoutMs !== undefined)
    out.queryTimeoutMs = int(r.queryTimeoutMs, `${key}.queryTimeoutMs`, 10, 3_600_000);
  if (r.minIntervalSec !== undefined)
    out.minIntervalSec = int(r.minIntervalSec, `${key}.minIntervalSec`, 1, 86_400);
  if (r.retry !== undefined) {
    const k = `${key}.retry`;
    const s = section(r.retry, k);
    keys(s, out.retry, k);
    if (s.attempts !== undefined) out.retry.attempts = int(s.attempts, `${k}.attempts`, 1, 20);
    if (s.initialDelayMs !== undefined)
      out.retry.initialDelayMs = int(s.initialDelayMs, `${k}.initialDelayMs`, 0, 3_600_000);
    if (s.maxDelayMs !== undefined)
      out.retry.maxDelayMs = int(s.maxDelayMs, `${k}.maxDelayMs`, 0, 86_400_000);
    if (out.retry.maxDelayMs < out.retry.initialDelayMs)
      throw new ConfigError(`${k}.maxDelayMs`, `${out.retry.maxDelayMs} — must be ≥ initialDelayMs`);
  }
  if (r.smtp !== undefined) {
    const k = `${key}.smtp`;
    const s = section(r.smtp, k);
    keys(s, out.smtp, k);
    const m = out.smtp;
    if (s.host !== undefined)
      m.host = str(s.host, `${k}.host`, (h) =>
        h === "" || HOST_RE.test(h) ? null : "not a host name or address",
      );
    if (s.port !== undefined) m.port = int(s.port, `${k}.port`, 1, 65535);
    if (s.from !== undefined)
      m.from = str(s.from, `${k}.from`, (a) => (EMAIL_RE.test(a) ? null : "must be an address user@domain"));
    if (s.user !== undefined)
      m.user = str(s.user, `${k}.user`, (u) => (/[\r\n\0]/.test(u) ? "bad character" : null));
    if (s.password !== undefined)
      m.password = str(s.password, `${k}.password`, (u) => (/[\r\n\0]/.test(u) ? "bad character" : null));
    if (s.starttls !== undefined) m.starttls = bool(s.starttls, `${k}.starttls`);
    if (s.tlsVerify !== undefined) m.tlsVerify = bool(s.tlsVerify, `${k}.tlsVerify`);
    if (s.heloName !== undefined)
      m.heloName = str(s.heloName, `${k}.heloName`, (h) =>
        h === "" || HOST_RE.test(h) ? null : "not a host name",
      );
  }
  if (r.syslog !== undefined) {
    const k = `${key}.syslog`;
    const s = section(r.syslog, k);
    keys(s, out.syslog, k);
    if (s.target !== undefined)
      out.syslog.target = str(s.target, `${k}.target`, (t) => {
        if (t === "") return null;
        const p = parseSyslogTarget(t);
        return typeof p === "string" ? p : null;
      });
    if (s.facility !== undefined) out.syslog.facility = int(s.facility, `${k}.facility`, 0, 23);
    if (s.hostname !== undefined)
      out.syslog.hostname = str(s.hostname, `${k}.hostname`, (h) =>
        /^[\x21-\x7e]{0,255}$/.test(h) ? null : "must be printable ASCII without spaces, at most 255",
      );
  }
  return out;
}
