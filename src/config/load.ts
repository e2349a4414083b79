// Loading: defaults ← config file (YAML or JSON) ← NAGARE_* environment ← CLI flags.
//
// Overrides are applied to the raw tree *before* validation, so a bad value
// from any source is reported with its key path (and where it came from).
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { ConfigError, defaultConfig, validateConfig, type NagareConfig } from "./schema.js";

/** One override: a dotted key path, a raw value, and where it came from (for messages). */
export interface Override {
  key: string;
  value: unknown;
  origin: string;
}

export interface LoadedConfig {
  config: NagareConfig;
  /** The config file read, if any. */
  file?: string;
  /** collector.listen was not set anywhere: the app may add "[::]:2055" when IPv6 works. */
  listenDefaulted: boolean;
}

/** Environment variables read, → config key. Documented in docs/configuration.md. */
export const ENV_KEYS: Record<string, { key: string; kind: "list" | "number" | "bool" | "string" }> = {
  NAGARE_LISTEN: { key: "collector.listen", kind: "list" },
  NAGARE_RECEIVE_BUFFER_BYTES: { key: "collector.receiveBufferBytes", kind: "number" },
  NAGARE_MAX_EXPORTERS: { key: "collector.maxExporters", kind: "number" },
  NAGARE_DATA_DIR: { key: "dataDir", kind: "string" },
  NAGARE_HTTP_LISTEN: { key: "http.listen", kind: "string" },
  NAGARE_HTTP_TOKEN: { key: "http.token", kind: "string" },
  NAGARE_LOG_LEVEL: { key: "log.level", kind: "string" },
  NAGARE_DEMO: { key: "demo.enabled", kind: "bool" },
  NAGARE_OUTPUT_JSONL: { key: "output.jsonl", kind: "string" },
  NAGARE_STORE: { key: "store.enabled", kind: "bool" },
  NAGARE_STORE_PATH: { key: "store.path", kind: "string" },
};

function convert(text: string, kind: "list" | "number" | "bool" | "string"): unknown {
  switch (kind) {
    case "list":
      return text
        .split(",")
        .map((s) => s.trim())
        .filter((s) => s !== "");
    case "number":
      // Leave non-numbers as text so validation reports them with the key.
      return /^\d+$/.test(text.trim()) ? Number(text.trim()) : text;
    case "bool":
      if (/^(1|true|yes|on)$/i.test(text)) return true;
      if (/^(0|false|no|off)$/i.test(text)) return false;
      return text;
    case "string":
      return text;
  }
}

export function envOverrides(env: NodeJS.ProcessEnv): Override[] {
  const out: Override[] = [];
  for (const [name, { key, kind }] of Object.entries(ENV_KEYS)) {
    const text = env[name];
    if (text === undefined || text === "") continue;
    out.push({ key, value: convert(text, kind), origin: name });
  }
  return out;
}

/** Parse a config file's text: JSON for *.json, YAML (a superset of JSON) otherwise. */
export function parseConfigText(text: string, file: string): unknown {
  try {
    if (file.endsWith(".json")) return JSON.parse(text);
    return parseYaml(text, { prettyErrors: true, uniqueKeys: true });
  } catch (err) {
    throw new ConfigError(
      file,
      `cannot parse: ${err instanceof Error ? err.message.split("\n")[0] : String(err)}`,
    );
  }
}

function setPath(root: Record<string, unknown>, key: string, value: unknown): void {
  const parts = key.split(".");
  let node = root;
  for (const p of parts.slice(0, -1)) {
    const next = node[p];
    if (typeof next !== "object" || next === null || Array.isArray(next)) node[p] = {};
    node = node[p] as Record<string, unknown>;
  }
  node[parts[parts.length - 1]!] = value;
}

function hasPath(root: unknown, key: string): boolean {
  let node = root;
  for (const p of key.split(".")) {
    if (typeof node !== "object" || node === null || !Object.hasOwn(node, p)) return false;
    node = (node as Record<string, unknown>)[p];
  }
  return true;
}

/**
 * Build the configuration. `file` may be undefined (defaults + overrides only).
 * Throws ConfigError; the CLI prints its message and exits 2.
 */
export function loadConfig(
  opts: { file?: string; env?: NodeJS.ProcessEnv; flags?: Override[] } = {},
): LoadedConfig {
  let raw: unknown = {};
  if (opts.file !== undefined) {
    let text: string;
    try {
      text = readFileSync(opts.file, "utf8");
    } catch (err) {
      throw new ConfigError(opts.file, `cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    raw = parseConfigText(text, opts.file) ?? {};
    if (typeof raw !== "object" || Array.isArray(raw)) throw new ConfigError("(top level)", "must be a map");
  }
  const tree = structuredClone(raw) as Record<string, unknown>;
  const overrides = [...envOverrides(opts.env ?? {}), ...(opts.flags ?? [])];
  for (const o of overrides) setPath(tree, o.key, o.value);

  const defaults = defaultConfig();
  // A config file describes a deployment: demo traffic there is opt-in. Without
  // one (a newcomer's `nagare start`) the demo is on, so there is data at once.
  if (opts.file !== undefined) defaults.demo.enabled = false;

  let config: NagareConfig;
  try {
    config = validateConfig(tree, defaults);
  } catch (err) {
    if (err instanceof ConfigError) {
      // Name the source of an overridden key (the last one wins, as applied).
      const from = [...overrides].reverse().find((o) => err.key === o.key || err.key.startsWith(o.key + "["));
      if (from) throw new ConfigError(err.key, `${err.reason} (set by ${from.origin})`);
    }
    throw err;
  }
  return { config, file: opts.file, listenDefaulted: !hasPath(tree, "collector.listen") };
}
