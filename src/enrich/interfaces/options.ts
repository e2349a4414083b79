// Interface names from IPFIX / NetFlow v9 options data.
//
// Exporters that can name their interfaces in-band send an options template
// whose scope (or, on some, a plain field) is the ifIndex and whose fields are
// interfaceName (IE 82) and/or interfaceDescription (IE 83), then one options
// data record per interface, repeated every few minutes:
//
//   IPFIX (RFC 7011 §3.4.2.2, §3.4.3) options template:
//     scope: ingressInterface (IE 10)   [IOS XR: also egressInterface (IE 14)]
//     fields: interfaceName (IE 82, string), interfaceDescription (IE 83, string)
//   NetFlow v9 (RFC 3954 §6.1) options template:
//     scope: System (1) or Interface (2, value = ifIndex)
//     fields: INPUT_SNMP (10), IF_NAME (82), IF_DESC (83)
//
// The decoder turns each record into an OptionsRecord with fields named by
// IE (src/collector/netflow/ies.ts): this module only picks the ifIndex and
// the two strings. A later record for the same (exporter, ifIndex) replaces
// the earlier one: ifIndexes get re-assigned when sub-interfaces are
// re-created (pmacct test 112 shows an IOS XR doing exactly that).
import type { OptionsRecord } from "../../collector/types.js";
import type { OptionsDataConfig } from "./config.js";

export interface OptionsInterface {
  name: string;
  description: string;
  /** Options data carries no speed: always 0 (the InterfaceInfo shape, so tables merge as they are). */
  speedBps: 0;
  updatedMs: number;
}

/** The ifIndex an options record describes, or -1. Scope first (IPFIX / v9 "interface"), then a plain field. */
function ifIndexOf(rec: OptionsRecord): number {
  const candidates = [
    rec.scope.ingressInterface,
    rec.scope.interface,
    rec.scope.egressInterface,
    rec.fields.ingressInterface,
    rec.fields.egressInterface,
  ];
  for (const v of candidates) if (typeof v === "number" && Number.isInteger(v) && v >= 0) return v;
  return -1;
}

function text(v: unknown): string {
  return typeof v === "string" ? v.trim() : "";
}

export class OptionsInterfaces {
  private readonly cfg: OptionsDataConfig;
  private readonly now: () => number;
  private readonly tables = new Map<string, Map<number, OptionsInterface>>();
  /** Options records that named an interface (new or changed or repeated). */
  records = 0;
  /** Records that changed a name or description (or added an interface). */
  changes = 0;
  /** Records dropped by the exporter / interface caps. */
  dropped = 0;
  /** Options records that carried an interface name or description but no ifIndex. */
  noIndex = 0;
  entries = 0;
  updatedMs: number | null = null;
  /** Called with the exporter whenever its table changes. */
  onChange: (exporter: string) => void = () => {};

  constructor(cfg: OptionsDataConfig, now: () => number = Date.now) {
    this.cfg = cfg;
    this.now = now;
  }

  /** Consume one options record (any kind: the ones without interface names are ignored). */
  add(rec: OptionsRecord): void {
    const name = text(rec.fields.interfaceName);
    const description = text(rec.fields.interfaceDescription);
    if (name === "" && description === "") return;
    const ifIndex = ifIndexOf(rec);
    if (ifIndex < 0) {
      this.noIndex++;
      return;
    }
    let table = this.tables.get(rec.exporter);
    if (!table) {
      if (this.tables.size >= this.cfg.maxExporters) {
        this.dropped++;
        return;
      }
      table = new Map();
      this.tables.set(rec.exporter, table);
    }
    this.records++;
    const t = this.now();
    this.updatedMs = t;
    const old = table.get(ifIndex);
    if (old) {
      old.updatedMs = t;
      if (old.name === name && old.description === description) return;
      old.name = name;
      old.description = description;
    } else {
      if (table.size >= this.cfg.maxInterfacesPerExporter) {
        this.dropped++;
        return;
      }
      table.set(ifIndex, { name, description, speedBps: 0, updatedMs: t });
      this.entries++;
    }
    this.changes++;
    this.onChange(rec.exporter);
  }

  get(exporter: string): ReadonlyMap<number, OptionsInterface> | undefined {
    return this.tables.get(exporter);
  }

  exporters(): string[] {
    return [...this.tables.keys()];
  }
}
