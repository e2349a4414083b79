// The `trino` section: Nagare's Trino/Presto client-protocol endpoint
// (src/api/trino.ts, docs/trino.md "Trino/Presto clients → Nagare").
// Defaults and validation in the style of src/alerts/config.ts: unknown keys
// are errors and every error names the key path ("trino.listen: …").
import { isLoopback, parseListen } from "../config/address.js";
import { ConfigError } from "../config/schema.js";
import { isObject } from "../config/check.js";

export interface TrinoConfig {
  /** Serve the endpoint (off by default: a new listener taking passwords is opt-in). */
  enabled: boolean;
  /** HTTPS listener ("host:port"), the one clients send passwords to. */
  listen: string;
  /** PEM certificate and key files; both "" = a self-signed pair generated once in <dataDir>/trino-tls/. */
  tlsCert: string;
  tlsKey: string;
  /** Optional plain-HTTP listener, loopback only ("" = none): same authentication unless httpAnonymous. */
  httpListen: string;
  /** On httpListen, accept requests without credentials as a viewer named by X-Trino-User. */
  httpAnonymous: boolean;
  /** Most rows in one response page (a page also ends near 1 MiB of JSON). */
  pageRows: number;
  /** Queries open at once (each holds a sandbox connection until read or abandoned). */
  maxQueries: number;
  /** A query whose next page is not asked for within this long is closed. */
  idleTimeoutMs: number;
}

export function defaultTrinoConfig(): TrinoConfig {
  return {
    enabled: false,
    listen: "127.0.0.1:8443",
    tlsCert: "",
    tlsKey: "",
    httpListen: "",
    httpAnonymous: false,
    pageRows: 10_000,
    maxQueries: 16,
    idleTimeoutMs: 60_000,
  };
}

function int(v: unknown, key: string, min: number, max: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max)
    throw new ConfigError(key, `${String(v)} — must be an integer in ${min}-${max}`);
  return v;
}

function bool(v: unknown, key: string): boolean {
  if (typeof v !== "boolean") throw new ConfigError(key, `${String(v)} — must be true or false`);
  return v;
}

function str(v: unknown, key: string): string {
  if (typeof v !== "string") throw new ConfigError(key, `${JSON.stringify(v)} — must be a string`);
  return v;
}

function listen(v: unknown, key: string): string {
  const s = str(v, key);
  const a = parseListen(s);
  if (typeof a === "string") throw new ConfigError(key, `${JSON.stringify(s)} — ${a}`);
  return s;
}

/** Validate a raw `trino` section over the defaults; throws ConfigError naming the key. */
export function validateTrinoConfig(
  raw: unknown,
  defaults: TrinoConfig = defaultTrinoConfig(),
  prefix = "trino",
): TrinoConfig {
  if (raw === undefined || raw === null) return { ...defaults };
  if (!isObject(raw)) throw new ConfigError(prefix, `${JSON.stringify(raw)} — must be a mapping`);
  const out = { ...defaults };
  for (const [k, v] of Object.entries(raw)) {
    const key = `${prefix}.${k}`;
    switch (k) {
      case "enabled":
        out.enabled = bool(v, key);
        break;
      case "listen":
        out.listen = listen(v, key);
        break;
      case "tlsCert":
        out.tlsCert = str(v, key);
        break;
      case "tlsKey":
        out.tlsKey = str(v, key);
        break;
      case "httpListen": {
        const s = str(v, key);
        if (s !== "") {
          listen(s, key);
          const a = parseListen(s);
          // Passwords and flows in clear text: only where they never leave the machine.
          if (typeof a !== "string" && !isLoopback(a.host))
            throw new ConfigError(
              key,
              `${JSON.stringify(s)} — plain HTTP is allowed on a loopback address only`,
            );
        }
        out.httpListen = s;
        break;
      }
      case "httpAnonymous":
        out.httpAnonymous = bool(v, key);
        break;
      case "pageRows":
        out.pageRows = int(v, key, 1, 1_000_000);
        break;
      case "maxQueries":
        out.maxQueries = int(v, key, 1, 1024);
        break;
      case "idleTimeoutMs":
        out.idleTimeoutMs = int(v, key, 1000, 3_600_000);
        break;
      default:
        throw new ConfigError(key, `unknown key (known here: ${Object.keys(defaults).join(", ")})`);
    }
  }
  if ((out.tlsCert === "") !== (out.tlsKey === ""))
    throw new ConfigError(`${prefix}.tlsCert`, "tlsCert and tlsKey are set together (or both left empty)");
  return out;
}
