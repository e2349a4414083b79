// Template compilation, the per-exporter template cache, the pre-template
// pending buffer and template persistence.
//
// A template is compiled ONCE into flat typed arrays (op, length, arg per
// field) so that decoding a record is a single loop over small integers: no
// lookup by IE id, no object allocation per record (see records.ts).
//
// Scoping (RFC 7011 §8, RFC 3954 §5): templates live per (exporter address,
// export version, observation domain / source id). Caps keep a template flood
// or spoofed exporters from growing memory without bound.
import { readFile, rename, writeFile } from "node:fs/promises";
import { FLOW_COLUMNS } from "../../schema.js";
import type { TemplateCacheOptions } from "../decoder.js";
import { ieDef, Op, V9_SCOPE_NAMES, type IeType, type OpCode } from "./ies.js";

// --- column groups ---------------------------------------------------------
// Every schema column belongs to one storage group; ops address a column by
// its index inside that group, resolved per batch into plain arrays.

export type ColGroup = "u8" | "u16" | "u32" | "f64" | "ip" | "str";
export const GROUP_COLS: Record<ColGroup, string[]> = { u8: [], u16: [], u32: [], f64: [], ip: [], str: [] };
const COL_INDEX = new Map<string, { group: ColGroup; idx: number }>();
for (const c of FLOW_COLUMNS) {
  const g: ColGroup =
    c.kind === "time" || c.kind === "u64" || c.kind === "mac"
      ? "f64"
      : c.kind === "u8" || c.kind === "u16" || c.kind === "u32" || c.kind === "ip"
        ? c.kind
        : "str";
  COL_INDEX.set(c.name, { group: g, idx: GROUP_COLS[g].length });
  GROUP_COLS[g].push(c.name);
}
export function colIndex(name: string): number {
  const c = COL_INDEX.get(name);
  if (!c) throw new Error(`unknown column ${name}`);
  return c.idx;
}

export const VARLEN = 65535;

/** A template field as it came off the wire. */
export interface TemplateField {
  id: number;
  enterprise: number;
  length: number;
}

export interface CompiledTemplate {
  readonly id: number;
  readonly options: boolean;
  /** Options templates: number of leading scope fields. */
  readonly scopeCount: number;
  readonly fields: readonly TemplateField[];
  readonly n: number;
  readonly ops: Uint8Array;
  readonly lens: Uint16Array;
  readonly args: Int32Array;
  /** Smallest possible record (fixed lengths + 1 byte per variable-length field). */
  readonly minLength: number;
  /** Index of the first dataLinkFrameSection / ipHeaderPacketSection field, -1 if none. */
  readonly sectionField: number;
  readonly hasFlows: boolean;
  readonly hasDirection: boolean;
  readonly hasFwEvent: boolean;
  /** The template carries ICMP type/code IEs (else they are derived from the destination port). */
  readonly hasIcmp: boolean;
  /** The template feeds the bytes / packets columns. */
  readonly hasBytes: boolean;
  readonly hasPackets: boolean;
  /** Address fields whose length is not 4/16 (counted as field_length once per template). */
  readonly badLengthFields: number;
  /** Options rendering: IE name and type per field. */
  readonly names: readonly string[];
  readonly types: readonly IeType[];
}

function groupOp(group: ColGroup): OpCode {
  switch (group) {
    case "u8":
      return Op.U8;
    case "u16":
      return Op.U16;
    case "u32":
      return Op.U32;
    default:
      return Op.F64;
  }
}

/**
 * Compile a template. Rules decided here, once:
 *  - a column fed by several IEs takes the FIRST one in the template (two
 *    headers in one record, e.g. SRv6 / IP-in-IP: the outer header wins; also
 *    tcp/udp port IEs 180-183 after 7/11). Addresses additionally obey a
 *    run-time rule (first NON-ZERO address wins) in records.ts;
 *  - counters: delta (1/2) over total (85/86) over post (23/24); the others
 *    are skipped so nothing is added twice;
 *  - NSEL (a v9 template with NF_F_FW_EVENT 40005 or firewallEvent 233): ASA
 *    exports its per-direction byte counts in 85/86 (NF_F_FWD/REV_FLOW_DELTA_BYTES),
 *    so there 85/86 feed initiator/responder_octets and never `bytes`;
 *  - addresses with a length other than 4/16 are skipped (field_length).
 * Returns null with a reason when the template cannot be used.
 */
export function compileTemplate(
  id: number,
  fields: TemplateField[],
  options: boolean,
  scopeCount: number,
  version: number,
): CompiledTemplate | string {
  const n = fields.length;
  if (n === 0) return "no fields";
  const ops = new Uint8Array(n);
  const lens = new Uint16Array(n);
  const args = new Int32Array(n);
  const names: string[] = [];
  const types: IeType[] = [];
  let minLength = 0;
  let badLengthFields = 0;
  let sectionField = -1;
  const fed = new Set<string>();
  const hasFwEvent = fields.some((f) => f.enterprise === 0 && (f.id === 233 || f.id === 40005));
  // Only NetFlow v9 NSEL reuses 85/86 for per-direction bytes; in IPFIX they
  // keep their IANA meaning even next to firewallEvent (Barracuda).
  const nsel = version === 9 && hasFwEvent;
  // Best counter rank present per counter column.
  const best: Record<string, number> = { bytes: 99, packets: 99 };
  for (const f of fields) {
    if (f.length === 0) continue;
    const d = ieDef(f.enterprise, f.id);
    if (d.counter && !(nsel && d.counter.rank === 1))
      best[d.counter.col] = Math.min(best[d.counter.col]!, d.counter.rank);
  }
  for (let k = 0; k < n; k++) {
    const f = fields[k]!;
    lens[k] = f.length;
    minLength += f.length === VARLEN ? 1 : f.length;
    const isScope = options && k < scopeCount;
    const d =
      isScope && version === 9
        ? { name: V9_SCOPE_NAMES[f.id] ?? `scope${f.id}`, type: "u" as IeType }
        : ieDef(f.enterprise, f.id);
    if (options || f.length === 0) {
      names.push(d.name);
      types.push(d.type);
      continue; // options records are rendered generically; zero-length fields carry nothing
    }
    names.push(d.name);
    types.push(d.type);
    let column = d.col;
    const op: OpCode | undefined = d.op;
    if (d.counter) {
      if (nsel && d.counter.rank === 1) {
        column = d.counter.col === "bytes" ? "initiator_octets" : "responder_octets";
      } else if (d.counter.rank === best[d.counter.col]) {
        column = d.counter.col;
      } else continue;
    }
    if (op !== undefined && op !== Op.MPLS) {
      if (op === Op.DATALINK || op === Op.IPHEADER) {
        if (sectionField < 0) sectionField = k;
        args[k] = op === Op.DATALINK ? 0 : 1;
      } else if (op === Op.ICMP_TC) {
        if (fed.has("icmp_type")) continue;
        fed.add("icmp_type");
        fed.add("icmp_code");
      } else if (op === Op.SAMPLING) {
        args[k] = f.id === 305 ? 1 : 0;
      } else if (d.which !== undefined) {
        args[k] = d.which;
      }
      ops[k] = op;
      continue;
    }
    if (!column) continue;
    const ci = COL_INDEX.get(column)!;
    if (d.type === "ipv4" || d.type === "ipv6") {
      const want = d.type === "ipv4" ? 4 : 16;
      if (f.length !== want && f.length !== VARLEN) {
        ops[k] = Op.BADLEN;
        badLengthFields++;
        continue;
      }
      ops[k] = d.type === "ipv4" ? Op.IPV4 : Op.IPV6;
      args[k] = ci.idx;
      continue;
    }
    if (fed.has(column)) continue; // first occurrence wins
    fed.add(column);
    if (d.type === "mac") {
      if (f.length !== 6) {
        ops[k] = Op.BADLEN;
        badLengthFields++;
        continue;
      }
      ops[k] = Op.MAC;
    } else if (op === Op.MPLS) {
      ops[k] = Op.MPLS;
    } else {
      if (f.length > 8 && f.length !== VARLEN) {
        ops[k] = Op.BADLEN;
        badLengthFields++;
        continue;
      }
      ops[k] = groupOp(ci.group);
    }
    args[k] = ci.idx;
  }
  if (minLength === 0) return "zero record length";
  if (minLength > 65535) return "record longer than a datagram";
  return {
    id,
    options,
    scopeCount,
    fields: fields.map((f) => ({ ...f })),
    n,
    ops,
    lens,
    args,
    minLength,
    sectionField,
    hasFlows: fed.has("flows"),
    hasDirection: fed.has("direction"),
    hasFwEvent,
    hasIcmp: fed.has("icmp_type") || fed.has("icmp_code"),
    hasBytes: fed.has("bytes"),
    hasPackets: fed.has("packets"),
    badLengthFields,
    names,
    types,
  };
}

// --- cache -------------------------------------------------------------------

/** One (exporter, version, domain) scope: its templates, sampler table and sequence state. */
export class Scope {
  readonly exporter: string;
  readonly version: number;
  readonly domain: number;
  readonly templates = new Map<number, CompiledTemplate>();
  /** samplerId / selectorId → 1-in-N rate, from options data. */
  readonly samplers = new Map<number, number>();
  /** Rate from options data without a sampler scope (exporter/domain-wide). */
  defaultRate = 0;
  /** systemInitTimeMilliseconds learned from options data (IPFIX sysUpTime fields). */
  sysInitMs = 0;
  /** Next expected sequence number, -1 when unknown. */
  seqNext = -1;
  constructor(exporter: string, version: number, domain: number) {
    this.exporter = exporter;
    this.version = version;
    this.domain = domain;
  }
}

/** A data set held until its template arrives. The bytes are a copy (the packet buffer is reused). */
export interface PendingSet {
  version: number;
  domain: number;
  setId: number;
  data: Uint8Array;
  exportMs: number;
  sysUptimeMs: number;
  receivedMs: number;
}

export class ExporterState {
  readonly scopes = new Map<number, Scope>();
  readonly pending: PendingSet[] = [];
  pendingBytes = 0;
}

export const DEFAULT_TEMPLATE_OPTIONS: TemplateCacheOptions = {
  maxTemplatesPerScope: 1024,
  maxPendingSetsPerExporter: 256,
  maxPendingBytesPerExporter: 1 << 20,
  pendingMaxAgeMs: 5 * 60_000,
};

/** Hard cap on scopes per exporter (spoofed domain ids must not grow memory). */
export const MAX_SCOPES_PER_EXPORTER = 256;

export class TemplateCache {
  readonly opts: TemplateCacheOptions;
  readonly exporters = new Map<string, ExporterState>();
  readonly maxExporters: number;

  constructor(opts: Partial<TemplateCacheOptions> | undefined, maxExporters: number) {
    this.opts = { ...DEFAULT_TEMPLATE_OPTIONS, ...opts };
    this.maxExporters = maxExporters;
  }

  exporter(addr: string): ExporterState | undefined {
    let e = this.exporters.get(addr);
    if (!e) {
      if (this.exporters.size >= this.maxExporters) return undefined;
      e = new ExporterState();
      this.exporters.set(addr, e);
    }
    return e;
  }

  /** The scope for (exporter, version, domain); undefined when a cap is reached. */
  scope(addr: string, version: number, domain: number): Scope | undefined {
    const e = this.exporter(addr);
    if (!e) return undefined;
    const key = version * 0x100000000 + domain;
    let s = e.scopes.get(key);
    if (!s) {
      if (e.scopes.size >= MAX_SCOPES_PER_EXPORTER) return undefined;
      s = new Scope(addr, version, domain);
      e.scopes.set(key, s);
    }
    return s;
  }

  templateCount(addr: string): number {
    const e = this.exporters.get(addr);
    if (!e) return 0;
    let n = 0;
    for (const s of e.scopes.values()) n += s.templates.size;
    return n;
  }

  // --- persistence ---------------------------------------------------------
  // File format (JSON, version 1):
  // { "format": "nagare-templates", "version": 1, "savedAt": ISO,
  //   "scopes": [ { "exporter", "exportVersion", "domain",
  //                 "templates": [ { "id", "options", "scopeCount", "fields": [[id, enterprise, length], …] } ],
  //                 "samplers": [[id, rate], …], "defaultRate", "sysInitMs" } ] }

  toJSON(): unknown {
    const scopes: unknown[] = [];
    for (const e of this.exporters.values()) {
      for (const s of e.scopes.values()) {
        if (s.templates.size === 0 && s.samplers.size === 0 && !s.defaultRate) continue;
        scopes.push({
          exporter: s.exporter,
          exportVersion: s.version,
          domain: s.domain,
          templates: [...s.templates.values()].map((t) => ({
            id: t.id,
            options: t.options,
            scopeCount: t.scopeCount,
            fields: t.fields.map((f) => [f.id, f.enterprise, f.length]),
          })),
          samplers: [...s.samplers.entries()],
          defaultRate: s.defaultRate,
          sysInitMs: s.sysInitMs,
        });
      }
    }
    return { format: "nagare-templates", version: 1, savedAt: new Date().toISOString(), scopes };
  }

  async save(path: string): Promise<void> {
    const tmp = `${path}.tmp-${process.pid}`;
    await writeFile(tmp, JSON.stringify(this.toJSON()));
    await rename(tmp, path); // atomic: a crash mid-write never leaves a torn file
  }

  /**
   * Load a saved file. Validates everything first and applies nothing unless
   * the whole file is valid; returns the number of templates loaded or an
   * error string. Templates already learned from the wire win over saved ones.
   */
  async load(path: string): Promise<number | string> {
    let text: string;
    try {
      text = await readFile(path, "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return 0;
      return `cannot read: ${(e as Error).message}`;
    }
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (e) {
      return `not JSON: ${(e as Error).message}`;
    }
    const parsed = validateFile(doc);
    if (typeof parsed === "string") return parsed;
    let count = 0;
    for (const ps of parsed) {
      const s = this.scope(ps.exporter, ps.exportVersion, ps.domain);
      if (!s) continue;
      for (const t of ps.templates) {
        if (s.templates.has(t.id) || s.templates.size >= this.opts.maxTemplatesPerScope) continue;
        s.templates.set(t.id, t);
        count++;
      }
      for (const [id, rate] of ps.samplers) if (!s.samplers.has(id)) s.samplers.set(id, rate);
      if (!s.defaultRate) s.defaultRate = ps.defaultRate;
      if (!s.sysInitMs) s.sysInitMs = ps.sysInitMs;
    }
    return count;
  }
}

interface ParsedScope {
  exporter: string;
  exportVersion: number;
  domain: number;
  templates: CompiledTemplate[];
  samplers: [number, number][];
  defaultRate: number;
  sysInitMs: number;
}

const isU = (v: unknown, max: number): v is number =>
  typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= max;

function validateFile(doc: unknown): ParsedScope[] | string {
  if (typeof doc !== "object" || doc === null) return "not an object";
  const d = doc as Record<string, unknown>;
  if (d.format !== "nagare-templates" || d.version !== 1) return "unknown format/version";
  if (!Array.isArray(d.scopes)) return "scopes is not an array";
  const out: ParsedScope[] = [];
  for (const raw of d.scopes as unknown[]) {
    if (typeof raw !== "object" || raw === null) return "scope is not an object";
    const s = raw as Record<string, unknown>;
    if (typeof s.exporter !== "string" || s.exporter.length > 64) return "bad exporter";
    if (s.exportVersion !== 9 && s.exportVersion !== 10) return "bad exportVersion";
    if (!isU(s.domain, 0xffffffff)) return "bad domain";
    if (!Array.isArray(s.templates) || !Array.isArray(s.samplers)) return "bad templates/samplers";
    if (!isU(s.defaultRate, 0xffffffff) || !isU(s.sysInitMs, Number.MAX_SAFE_INTEGER))
      return "bad defaultRate/sysInitMs";
    const templates: CompiledTemplate[] = [];
    for (const rt of s.templates as unknown[]) {
      const t = rt as Record<string, unknown>;
      if (typeof t !== "object" || t === null) return "template is not an object";
      if (!isU(t.id, 65535) || t.id < 256 || typeof t.options !== "boolean" || !isU(t.scopeCount, 65535))
        return "bad template header";
      if (!Array.isArray(t.fields) || t.fields.length === 0 || t.fields.length > 65535)
        return "bad template fields";
      const fields: TemplateField[] = [];
      for (const f of t.fields as unknown[]) {
        if (
          !Array.isArray(f) ||
          f.length !== 3 ||
          !isU(f[0], 65535) ||
          !isU(f[1], 0xffffffff) ||
          !isU(f[2], 65535)
        )
          return "bad field";
        fields.push({ id: f[0] as number, enterprise: f[1] as number, length: f[2] as number });
      }
      if (t.scopeCount > fields.length) return "bad scopeCount";
      const c = compileTemplate(t.id, fields, t.options, t.scopeCount, s.exportVersion);
      if (typeof c === "string") return `template ${t.id}: ${c}`;
      templates.push(c);
    }
    const samplers: [number, number][] = [];
    for (const p of s.samplers as unknown[]) {
      if (
        !Array.isArray(p) ||
        p.length !== 2 ||
        !isU(p[0], Number.MAX_SAFE_INTEGER) ||
        !isU(p[1], 0xffffffff)
      )
        return "bad sampler";
      samplers.push([p[0] as number, p[1] as number]);
    }
    out.push({
      exporter: s.exporter,
      exportVersion: s.exportVersion,
      domain: s.domain,
      templates,
      samplers,
      defaultRate: s.defaultRate,
      sysInitMs: s.sysInitMs,
    });
  }
  return out;
}
