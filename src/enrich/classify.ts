// Classification rules: operator-written, ordered rules that tag exporters
// (name, role, site, region, tenant) and interfaces (connectivity, provider,
// boundary, and a rewritten name / description) from the exporter's address
// and name and the interface's name, description and speed, as Akvorado's
// exporterClassifiers / interfaceClassifiers do, but as data instead of an
// expression language (docs/enrichment.md, "Classification rules"):
//
//   enrich:
//     exporterClassifiers:
//       - match: { exporter: "192.0.2.0/24" }
//         set: { name: "edge1", role: "edge", site: "osaka", region: "jp" }
//     interfaceClassifiers:
//       - match: { interfaceDescription: "^Transit: (\\S+)" }
//         set: { connectivity: "transit", provider: "$1", boundary: "external" }
//
// Semantics: rules are tried in order; every `match` key must hold (regexes
// are unanchored JavaScript regexes, case-insensitive); a matching rule sets
// each of its fields that no earlier rule set (first writer wins, as in
// Akvorado), and `stop: true` ends the evaluation. Values may use $1…$9
// (groups of interfaceDescription when the rule matches on it, else
// interfaceName, else exporterName) and ${group} (a named group of any).
// connectivity, provider and boundary are lower-cased so filters compare
// them predictably. Rules run once per exporter and once per (exporter,
// ifIndex, name, description, speed): the service caches the results.
import { ConfigError } from "../config/schema.js";
import { parsePrefixText, type ParsedPrefix } from "./prefixes.js";
import type { InterfaceInfo, SourceState } from "./types.js";

export const EXPORTER_FIELDS = ["name", "role", "site", "region", "tenant"] as const;
export const INTERFACE_FIELDS = ["name", "description", "connectivity", "provider", "boundary"] as const;
export const BOUNDARIES = ["external", "internal", ""];

export type ExporterTags = Record<(typeof EXPORTER_FIELDS)[number], string>;
export type InterfaceTags = Record<(typeof INTERFACE_FIELDS)[number], string>;

/** A rule as written in the configuration (validated). */
export interface ExporterRuleConfig {
  match: { exporter?: string[] };
  set: Partial<ExporterTags>;
  stop?: boolean;
}

export interface InterfaceRuleConfig {
  match: {
    exporter?: string[];
    exporterName?: string;
    ifIndex?: number[];
    interfaceName?: string;
    interfaceDescription?: string;
    speedMin?: number;
    speedMax?: number;
  };
  set: Partial<InterfaceTags>;
  stop?: boolean;
}

// ---- validation (called by src/enrich/config.ts; errors name the key path)

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function prefixList(v: unknown, key: string): string[] {
  const list = typeof v === "string" ? [v] : v;
  if (!Array.isArray(list) || list.length === 0)
    throw new ConfigError(key, `${JSON.stringify(v)} — must be a prefix or a list of prefixes`);
  return list.map((p, i) => {
    const k = Array.isArray(v) ? `${key}[${i}]` : key;
    if (typeof p !== "string") throw new ConfigError(k, `${JSON.stringify(p)} — must be a prefix`);
    const r = parsePrefixText(p);
    if (typeof r === "string") throw new ConfigError(k, `"${p}" — ${r}`);
    return p;
  });
}

function regex(v: unknown, key: string): string {
  if (typeof v !== "string")
    throw new ConfigError(key, `${JSON.stringify(v)} — must be a regular expression`);
  try {
    new RegExp(v, "i");
  } catch (err) {
    throw new ConfigError(key, `${JSON.stringify(v)} — ${err instanceof Error ? err.message : String(err)}`);
  }
  return v;
}

function nonNegative(v: unknown, key: string): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0)
    throw new ConfigError(key, `${JSON.stringify(v)} — must be a non-negative integer`);
  return v;
}

function setMap<F extends string>(v: unknown, key: string, fields: readonly F[]): Partial<Record<F, string>> {
  if (!isMap(v) || Object.keys(v).length === 0)
    throw new ConfigError(key, `must be a map of ${fields.join(", ")} → value`);
  const out: Partial<Record<F, string>> = {};
  for (const [k, val] of Object.entries(v)) {
    if (!(fields as readonly string[]).includes(k))
      throw new ConfigError(`${key}.${k}`, `unknown key (known here: ${fields.join(", ")})`);
    if (typeof val !== "string")
      throw new ConfigError(`${key}.${k}`, `${JSON.stringify(val)} — must be a string`);
    if (k === "boundary" && !/\$/.test(val) && !BOUNDARIES.includes(val.toLowerCase()))
      throw new ConfigError(`${key}.${k}`, `"${val}" — must be external, internal or ""`);
    out[k as F] = val;
  }
  return out;
}

function ruleShell(v: unknown, key: string, matchKeys: string[]): Record<string, unknown> {
  if (!isMap(v)) throw new ConfigError(key, "must be a map with match and set");
  for (const k of Object.keys(v))
    if (!["match", "set", "stop"].includes(k))
      throw new ConfigError(`${key}.${k}`, "unknown key (known here: match, set, stop)");
  if (v.stop !== undefined && typeof v.stop !== "boolean")
    throw new ConfigError(`${key}.stop`, `${JSON.stringify(v.stop)} — must be true or false`);
  const m = v.match ?? {};
  if (!isMap(m)) throw new ConfigError(`${key}.match`, "must be a map");
  for (const k of Object.keys(m))
    if (!matchKeys.includes(k))
      throw new ConfigError(`${key}.match.${k}`, `unknown key (known here: ${matchKeys.join(", ")})`);
  return m;
}

export function validateExporterRules(v: unknown, key: string): ExporterRuleConfig[] {
  if (!Array.isArray(v)) throw new ConfigError(key, "must be a list of rules");
  return v.map((r, i) => {
    const k = `${key}[${i}]`;
    const m = ruleShell(r, k, ["exporter"]);
    const rule = r as Record<string, unknown>;
    const out: ExporterRuleConfig = { match: {}, set: setMap(rule.set, `${k}.set`, EXPORTER_FIELDS) };
    if (m.exporter !== undefined) out.match.exporter = prefixList(m.exporter, `${k}.match.exporter`);
    if (rule.stop !== undefined) out.stop = rule.stop as boolean;
    return out;
  });
}

export function validateInterfaceRules(v: unknown, key: string): InterfaceRuleConfig[] {
  if (!Array.isArray(v)) throw new ConfigError(key, "must be a list of rules");
  const matchKeys = [
    "exporter",
    "exporterName",
    "ifIndex",
    "interfaceName",
    "interfaceDescription",
    "speedMin",
    "speedMax",
  ];
  return v.map((r, i) => {
    const k = `${key}[${i}]`;
    const m = ruleShell(r, k, matchKeys);
    const rule = r as Record<string, unknown>;
    const out: InterfaceRuleConfig = { match: {}, set: setMap(rule.set, `${k}.set`, INTERFACE_FIELDS) };
    const mk = `${k}.match`;
    if (m.exporter !== undefined) out.match.exporter = prefixList(m.exporter, `${mk}.exporter`);
    for (const f of ["exporterName", "interfaceName", "interfaceDescription"] as const)
      if (m[f] !== undefined) out.match[f] = regex(m[f], `${mk}.${f}`);
    if (m.ifIndex !== undefined) {
      const list = Array.isArray(m.ifIndex) ? (m.ifIndex as unknown[]) : [m.ifIndex];
      out.match.ifIndex = list.map((x, j) => nonNegative(x, `${mk}.ifIndex[${j}]`));
    }
    if (m.speedMin !== undefined) out.match.speedMin = nonNegative(m.speedMin, `${mk}.speedMin`);
    if (m.speedMax !== undefined) out.match.speedMax = nonNegative(m.speedMax, `${mk}.speedMax`);
    if (rule.stop !== undefined) out.stop = rule.stop as boolean;
    return out;
  });
}

// ---- evaluation

interface CompiledExporterRule {
  prefixes: ParsedPrefix[] | null;
  set: [keyof ExporterTags, string][];
  stop: boolean;
}

interface CompiledInterfaceRule {
  prefixes: ParsedPrefix[] | null;
  exporterName: RegExp | null;
  interfaceName: RegExp | null;
  interfaceDescription: RegExp | null;
  ifIndex: Set<number> | null;
  speedMin: number;
  speedMax: number;
  set: [keyof InterfaceTags, string][];
  stop: boolean;
}

function compilePrefixes(list: string[] | undefined): ParsedPrefix[] | null {
  return list ? list.map((p) => parsePrefixText(p) as ParsedPrefix) : null;
}

/** Does the 16-byte address `a` lie in prefix `p`? */
function contains(p: ParsedPrefix, a: Uint8Array): boolean {
  const bits = p.v4 ? 96 + p.len : p.len;
  if (p.v4) {
    for (let i = 0; i < 12; i++) if (a[i] !== p.bytes[i]) return false;
  }
  const full = bits >> 3;
  for (let i = p.v4 ? 12 : 0; i < full; i++) if (a[i] !== p.bytes[i]) return false;
  const rest = bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((p.bytes[full]! ^ a[full]!) & mask) === 0;
}

/** Substitute $1…$9 and ${name} from `groups` (numbered) and `named`. */
function expand(tpl: string, groups: readonly (string | undefined)[], named: Record<string, string>): string {
  if (!tpl.includes("$")) return tpl;
  return tpl.replace(/\$(?:([1-9])|\{(\w+)\})/g, (_, n: string | undefined, name: string | undefined) =>
    n !== undefined ? (groups[Number(n)] ?? "") : (named[name!] ?? ""),
  );
}

const LOWER: ReadonlySet<string> = new Set(["connectivity", "provider", "boundary"]);

export const EMPTY_EXPORTER: ExporterTags = Object.freeze({
  name: "",
  role: "",
  site: "",
  region: "",
  tenant: "",
});

export class Classifier {
  private readonly exporterRules: CompiledExporterRule[];
  private readonly interfaceRules: CompiledInterfaceRule[];
  /** Evaluations (each is cached by the caller). */
  exportersClassified = 0;
  interfacesClassified = 0;

  constructor(exporterRules: readonly ExporterRuleConfig[], interfaceRules: readonly InterfaceRuleConfig[]) {
    this.exporterRules = exporterRules.map((r) => ({
      prefixes: compilePrefixes(r.match.exporter),
      set: Object.entries(r.set) as [keyof ExporterTags, string][],
      stop: r.stop ?? false,
    }));
    const re = (s: string | undefined): RegExp | null => (s === undefined ? null : new RegExp(s, "i"));
    this.interfaceRules = interfaceRules.map((r) => ({
      prefixes: compilePrefixes(r.match.exporter),
      exporterName: re(r.match.exporterName),
      interfaceName: re(r.match.interfaceName),
      interfaceDescription: re(r.match.interfaceDescription),
      ifIndex: r.match.ifIndex ? new Set(r.match.ifIndex) : null,
      speedMin: r.match.speedMin ?? 0,
      speedMax: r.match.speedMax ?? Number.MAX_SAFE_INTEGER,
      set: Object.entries(r.set) as [keyof InterfaceTags, string][],
      stop: r.stop ?? false,
    }));
  }

  get empty(): boolean {
    return this.exporterRules.length === 0 && this.interfaceRules.length === 0;
  }

  get hasInterfaceRules(): boolean {
    return this.interfaceRules.length > 0;
  }

  /** Tags of one exporter (16-byte address). */
  exporter(addr: Uint8Array): ExporterTags {
    if (this.exporterRules.length === 0) return EMPTY_EXPORTER;
    this.exportersClassified++;
    const out: ExporterTags = { name: "", role: "", site: "", region: "", tenant: "" };
    const done = new Set<string>();
    for (const r of this.exporterRules) {
      if (r.prefixes && !r.prefixes.some((p) => contains(p, addr))) continue;
      for (const [k, v] of r.set) {
        if (done.has(k)) continue;
        done.add(k);
        out[k] = v;
      }
      if (r.stop) break;
    }
    return out;
  }

  /**
   * Tags of one interface. Without a rule that sets name / description, the
   * interface's own (from the InterfaceLookup) are kept.
   */
  interface(addr: Uint8Array, exporter: ExporterTags, ifIndex: number, info: InterfaceInfo): InterfaceTags {
    const out: InterfaceTags = {
      name: info.name,
      description: info.description,
      connectivity: "",
      provider: "",
      boundary: "",
    };
    if (this.interfaceRules.length === 0) return out;
    this.interfacesClassified++;
    const done = new Set<string>();
    for (const r of this.interfaceRules) {
      if (r.prefixes && !r.prefixes.some((p) => contains(p, addr))) continue;
      if (r.ifIndex && !r.ifIndex.has(ifIndex)) continue;
      if (info.speedBps < r.speedMin || info.speedBps > r.speedMax) continue;
      let groups: readonly (string | undefined)[] = [];
      const named: Record<string, string> = {};
      const tests: [RegExp | null, string][] = [
        [r.exporterName, exporter.name],
        [r.interfaceName, info.name],
        [r.interfaceDescription, info.description],
      ];
      let ok = true;
      for (const [rx, text] of tests) {
        if (!rx) continue;
        const m = rx.exec(text);
        if (!m) {
          ok = false;
          break;
        }
        // The last regex with groups gives $1…$9 (description over name over exporter name).
        if (m.length > 1) groups = m;
        if (m.groups) for (const [k, v] of Object.entries(m.groups)) if (v !== undefined) named[k] = v;
      }
      if (!ok) continue;
      for (const [k, tpl] of r.set) {
        if (done.has(k)) continue;
        done.add(k);
        const v = expand(tpl, groups, named);
        out[k] = LOWER.has(k) ? v.toLowerCase() : v;
      }
      if (r.stop) break;
    }
    if (!BOUNDARIES.includes(out.boundary)) out.boundary = "";
    return out;
  }

  state(): SourceState {
    return {
      name: "classifier",
      kind: "classifier",
      status: this.empty ? "disabled" : "loaded",
      entries: this.exporterRules.length + this.interfaceRules.length,
      updatedMs: null,
      errors: 0,
      lastError: null,
      detail: {
        exporterRules: this.exporterRules.length,
        interfaceRules: this.interfaceRules.length,
        exportersClassified: this.exportersClassified,
        interfacesClassified: this.interfacesClassified,
      },
    };
  }
}
