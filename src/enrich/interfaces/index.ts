// Interface enrichment: what each exporter calls its interfaces, merged from
// three sources, for the EnrichmentService (src/enrich/service.ts) to fill
// in_if_* / out_if_* columns and for classifier rules to match on.
//
//   static config   (enrich.interfaces.static)      ─┐ priority, field by field:
//   SNMP poller     (snmp.ts, v2c / v3, polled)      ├─▶ merged table per exporter ─▶ lookup(exporter, ifIndex)
//   options data    (options.ts, IPFIX / v9 IE 82/83)─┘ the first source with a
//                                                       non-empty name / description / speed wins
//
// lookup() is on the flow path: one Map lookup per exporter and one per
// ifIndex over a merged table rebuilt only when a source changes. An exporter
// that lookup() has not seen before is handed to the SNMP poller (first
// poll), so nothing else needs to announce exporters.
import type { OptionsRecord } from "../../collector/types.js";
import { silentLogger, type Logger } from "../../log.js";
import type { EnrichSource, InterfaceInfo, InterfaceLookup, SourceState } from "../types.js";
import type { InterfaceOrigin, InterfacesConfig } from "./config.js";
import { OptionsInterfaces } from "./options.js";
import { SnmpPoller } from "./snmp.js";

export {
  defaultInterfacesConfig,
  validateInterfacesConfig,
  type InterfacesConfig,
  type InterfaceOrigin,
} from "./config.js";

export interface InterfaceSourceDeps {
  /** Clock for states and timestamps (tests); default Date.now. */
  now?: () => number;
  /** Where SNMP results are kept across restarts (e.g. dataDir/enrich/snmp-interfaces.json); absent = memory only. */
  snmpCacheFile?: string;
}

const EMPTY: ReadonlyMap<number, InterfaceInfo> = new Map();

/** One interface with what each source says about it (the API's per-exporter listing). */
export interface InterfaceDetail extends InterfaceInfo {
  ifIndex: number;
  /** Which source gave each merged field ("" when none). */
  from: { name: InterfaceOrigin | ""; description: InterfaceOrigin | ""; speedBps: InterfaceOrigin | "" };
}

export class InterfaceSource implements EnrichSource, InterfaceLookup {
  readonly name = "interfaces";
  readonly optionsData: OptionsInterfaces;
  readonly snmp: SnmpPoller;
  private readonly cfg: InterfacesConfig;
  private readonly now: () => number;
  private readonly staticTables = new Map<string, Map<number, InterfaceInfo>>();
  private readonly staticEntries: number;
  private readonly startedMs: number;
  /** Merged tables; an exporter in `dirty` is rebuilt at its next lookup. */
  private readonly merged = new Map<string, ReadonlyMap<number, InterfaceInfo>>();
  private readonly dirty = new Set<string>();

  constructor(cfg: InterfacesConfig, deps: InterfaceSourceDeps = {}, log: Logger = silentLogger) {
    this.cfg = cfg;
    this.now = deps.now ?? Date.now;
    this.startedMs = this.now();
    let n = 0;
    for (const [exp, table] of Object.entries(cfg.static)) {
      const m = new Map<number, InterfaceInfo>();
      for (const [idx, i] of Object.entries(table)) m.set(Number(idx), { ...i });
      this.staticTables.set(exp, m);
      n += m.size;
    }
    this.staticEntries = n;
    const changed = (exporter: string): void => {
      this.dirty.add(exporter);
    };
    this.optionsData = new OptionsInterfaces(cfg.options, this.now);
    this.optionsData.onChange = changed;
    this.snmp = new SnmpPoller(cfg.snmp, {
      log,
      now: this.now,
      ...(deps.snmpCacheFile ? { cacheFile: deps.snmpCacheFile } : {}),
    });
    this.snmp.onChange = changed;
  }

  async start(): Promise<void> {
    await this.snmp.start();
  }

  async stop(): Promise<void> {
    await this.snmp.stop();
  }

  /** The collector's options-data hook (CollectorService onOptions): every options record goes here. */
  options(rec: OptionsRecord): void {
    if (!this.cfg.options.enabled) return;
    this.optionsData.add(rec);
    this.snmp.seen(rec.exporter);
  }

  lookup(exporter: string, ifIndex: number): InterfaceInfo | null {
    let m = this.merged.get(exporter);
    if (m === undefined || (this.dirty.size > 0 && this.dirty.has(exporter))) {
      if (m === undefined) this.snmp.seen(exporter);
      m = this.rebuild(exporter);
    }
    return m.get(ifIndex) ?? null;
  }

  list(exporter: string): ReadonlyMap<number, InterfaceInfo> {
    const m = this.merged.get(exporter);
    if (m !== undefined && !this.dirty.has(exporter)) return m;
    // An exporter nobody knows (e.g. from an API query) is answered without being remembered.
    return m === undefined && this.tablesOf(exporter).length === 0 ? EMPTY : this.rebuild(exporter);
  }

  exporters(): string[] {
    const all = new Set<string>([...this.staticTables.keys(), ...this.snmp.exporters()]);
    if (this.cfg.options.enabled) for (const e of this.optionsData.exporters()) all.add(e);
    return [...all].filter((e) => this.list(e).size > 0).sort();
  }

  /** Every interface of one exporter with the source of each field (API, Exporters page). */
  details(exporter: string): InterfaceDetail[] {
    const tables = this.tablesOf(exporter);
    const out: InterfaceDetail[] = [];
    for (const [ifIndex, info] of this.list(exporter)) {
      const from = (field: keyof InterfaceInfo): InterfaceOrigin | "" => {
        for (const [origin, t] of tables) {
          const v = t.get(ifIndex)?.[field];
          if (v !== undefined && v !== "" && v !== 0) return origin;
        }
        return "";
      };
      out.push({
        ifIndex,
        ...info,
        from: { name: from("name"), description: from("description"), speedBps: from("speedBps") },
      });
    }
    return out.sort((a, b) => a.ifIndex - b.ifIndex);
  }

  state(): SourceState[] {
    const snmpAgents = this.snmp.states();
    const o = this.optionsData;
    const states: SourceState[] = [
      {
        name: "interfaces:static",
        kind: "static",
        status: this.staticEntries > 0 ? "loaded" : "disabled",
        entries: this.staticEntries,
        updatedMs: this.staticEntries > 0 ? this.startedMs : null,
        errors: 0,
        lastError: null,
        detail: { exporters: this.staticTables.size },
      },
      {
        name: "interfaces:options",
        kind: "options",
        status: !this.cfg.options.enabled ? "disabled" : o.entries > 0 ? "loaded" : "loading",
        entries: o.entries,
        updatedMs: o.updatedMs,
        errors: 0,
        lastError: null,
        detail: {
          exporters: o.exporters().length,
          records: o.records,
          changes: o.changes,
          dropped: o.dropped,
          withoutIfIndex: o.noIndex,
        },
      },
    ];
    const failing = snmpAgents.filter((s) => s.status === "error");
    const loaded = snmpAgents.filter((s) => s.updatedMs !== null);
    const lastFailing = failing.reduce<SourceState | null>(
      (best, s) =>
        best === null || Number(s.detail?.lastPollMs ?? 0) > Number(best.detail?.lastPollMs ?? 0) ? s : best,
      null,
    );
    states.push({
      name: "snmp",
      kind: "snmp",
      status: !this.cfg.snmp.enabled
        ? "disabled"
        : failing.length > 0
          ? "error"
          : loaded.length === 0 || loaded.length < snmpAgents.length
            ? "loading"
            : "loaded",
      entries: snmpAgents.reduce((n, s) => n + s.entries, 0),
      updatedMs: loaded.reduce<number | null>(
        (t, s) => (t === null || (s.updatedMs ?? 0) > t ? s.updatedMs : t),
        null,
      ),
      errors: snmpAgents.reduce((n, s) => n + s.errors, 0),
      lastError: lastFailing ? `${lastFailing.name.slice(5)}: ${lastFailing.lastError}` : null,
      detail: { agents: snmpAgents.length, agentsLoaded: loaded.length, agentsFailing: failing.length },
    });
    return [...states, ...snmpAgents];
  }

  /** The sources' tables for one exporter, in priority order. */
  private tablesOf(exporter: string): [InterfaceOrigin, ReadonlyMap<number, InterfaceInfo>][] {
    const out: [InterfaceOrigin, ReadonlyMap<number, InterfaceInfo>][] = [];
    for (const origin of this.cfg.priority) {
      const t =
        origin === "static"
          ? this.staticTables.get(exporter)
          : origin === "snmp"
            ? this.snmp.get(exporter)
            : this.cfg.options.enabled
              ? this.optionsData.get(exporter)
              : undefined;
      if (t && t.size > 0) out.push([origin, t]);
    }
    return out;
  }

  private rebuild(exporter: string): ReadonlyMap<number, InterfaceInfo> {
    this.dirty.delete(exporter);
    const tables = this.tablesOf(exporter);
    if (tables.length === 0) {
      this.merged.set(exporter, EMPTY);
      return EMPTY;
    }
    const out = new Map<number, InterfaceInfo>();
    // Field by field: the first table (in priority order) with a value wins.
    for (const [, t] of tables)
      for (const [idx, i] of t) {
        const cur = out.get(idx);
        if (!cur) out.set(idx, { name: i.name, description: i.description, speedBps: i.speedBps });
        else {
          if (cur.name === "") cur.name = i.name;
          if (cur.description === "") cur.description = i.description;
          if (cur.speedBps === 0) cur.speedBps = i.speedBps;
        }
      }
    this.merged.set(exporter, out);
    return out;
  }
}

/** The interface source E2's EnrichmentService uses (lookup) and app.ts starts / stops. */
export function createInterfaceSource(
  cfg: InterfacesConfig,
  deps: InterfaceSourceDeps = {},
  log: Logger = silentLogger,
): InterfaceSource {
  return new InterfaceSource(cfg, deps, log);
}
