// The `query.engine` section: which engine answers the explorer's flow
// queries — the embedded DuckDB store (default) or a Trino/Presto server over
// the Parquet export's Hive table (./trino.ts, docs/trino.md). Defaults and
// validation in the style of src/alerts/config.ts: unknown keys are errors
// and every error names the key path ("query.engine.trino.server: …").
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { ConfigError } from "../../config/schema.js";
import { isObject } from "../../config/check.js";

export interface TrinoEngineSection {
  /** Coordinator URL, http:// or https:// (tls). */
  server: string;
  catalog: string;
  schema: string;
  /** The external table over the export (scripts/trino/compare.ts creates one; docs/trino.md). */
  table: string;
  user: string;
  /** HTTP Basic password; Trino accepts one only over https. "" = none. */
  password: string;
  /** Client header family: "trino" (X-Trino-*) or "presto" (X-Presto-*: PrestoSQL ≤ 350, PrestoDB). */
  protocol: "trino" | "presto";
  /**
   * PEM file of the CA(s) trusted for an https:// server, e.g. a private CA or
   * the server's self-signed certificate; "" = Node's bundled public CAs.
   */
  ca: string;
}

export interface EngineConfig {
  kind: "duckdb" | "trino";
  trino: TrinoEngineSection;
}

export function defaultEngineConfig(): EngineConfig {
  return {
    kind: "duckdb",
    trino: {
      server: "",
      catalog: "hive",
      schema: "nagare",
      table: "flows",
      user: "nagare",
      password: "",
      protocol: "trino",
      ca: "",
    },
  };
}

function str(v: unknown, key: string, check?: (s: string) => string | null): string {
  if (typeof v !== "string") throw new ConfigError(key, `${JSON.stringify(v)} — must be a string`);
  const why = check?.(v);
  if (why) throw new ConfigError(key, `${JSON.stringify(v)} — ${why}`);
  return v;
}

const nonEmpty = (s: string): string | null => (s === "" ? "must not be empty" : null);

/**
 * A CA file must exist and hold at least one PEM certificate that parses:
 * found at start-up, naming the key, not as a TLS failure on the first query.
 */
function checkCaFile(path: string, key: string): void {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new ConfigError(
      key,
      `${JSON.stringify(path)} — cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    );
  }
  const pems = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (pems.length === 0)
    throw new ConfigError(
      key,
      `${JSON.stringify(path)} — no PEM certificate (-----BEGIN CERTIFICATE-----) in it`,
    );
  for (const pem of pems) {
    try {
      new X509Certificate(pem);
    } catch (err) {
      throw new ConfigError(
        key,
        `${JSON.stringify(path)} — a certificate does not parse: ${(err as Error).message}`,
      );
    }
  }
}

/** Validate a raw `query.engine` section over the defaults; throws ConfigError naming the key. */
export function validateEngineConfig(
  raw: unknown,
  defaults: EngineConfig = defaultEngineConfig(),
  prefix = "query.engine",
): EngineConfig {
  if (raw === undefined || raw === null) return { ...defaults, trino: { ...defaults.trino } };
  if (!isObject(raw)) throw new ConfigError(prefix, `${JSON.stringify(raw)} — must be a mapping`);
  const out: EngineConfig = { ...defaults, trino: { ...defaults.trino } };
  for (const [k, v] of Object.entries(raw)) {
    const key = `${prefix}.${k}`;
    switch (k) {
      case "kind":
        if (v !== "duckdb" && v !== "trino")
          throw new ConfigError(key, `${JSON.stringify(v)} — must be duckdb or trino`);
        out.kind = v;
        break;
      case "trino": {
        if (!isObject(v)) throw new ConfigError(key, `${JSON.stringify(v)} — must be a mapping`);
        for (const [tk, tv] of Object.entries(v)) {
          const tkey = `${key}.${tk}`;
          switch (tk) {
            case "server":
              out.trino.server = str(tv, tkey, (s) =>
                s === "" || /^https?:\/\/[^/\s]+\/?$/.test(s) ? null : "must be http(s)://host:port",
              );
              break;
            case "catalog":
            case "schema":
            case "table":
            case "user":
              out.trino[tk] = str(tv, tkey, nonEmpty);
              break;
            case "password":
              out.trino.password = str(tv, tkey);
              break;
            case "ca":
              out.trino.ca = str(tv, tkey);
              break;
            case "protocol":
              if (tv !== "trino" && tv !== "presto")
                throw new ConfigError(tkey, `${JSON.stringify(tv)} — must be trino or presto`);
              out.trino.protocol = tv;
              break;
            default:
              throw new ConfigError(tkey, "unknown key");
          }
        }
        break;
      }
      default:
        throw new ConfigError(key, "unknown key");
    }
  }
  if (out.trino.ca !== "") checkCaFile(out.trino.ca, `${prefix}.trino.ca`);
  if (out.kind === "trino") {
    if (out.trino.server === "")
      throw new ConfigError(`${prefix}.trino.server`, "must be set when kind is trino");
    if (out.trino.password !== "" && !out.trino.server.startsWith("https://"))
      throw new ConfigError(
        `${prefix}.trino.password`,
        "needs an https:// server (Trino refuses passwords over http)",
      );
  }
  return out;
}
