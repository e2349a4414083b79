// The networks file: prefix → name, role, site, tenant, AS number, matched by
// longest prefix on each flow's source and destination (src_net_* /
// dst_net_* columns; the AS number feeds src_as / dst_as per enrich.asOrder).
//
// Formats (docs/enrichment.md, "Networks file"), chosen by the file name:
//   *.csv   a header row naming the columns (prefix first or anywhere; name,
//           role, site, tenant, asn optional), one network per line:
//             prefix,name,role,site,tenant,asn
//             192.0.2.0/24,customer-osaka,customer,osaka,acme,64500
//   other   YAML (or JSON): a map prefix → attributes, or a list of maps with
//           a `prefix` key, optionally under a top-level `networks:` key:
//             192.0.2.0/24: { name: customer-osaka, role: customer, asn: 64500 }
// A bad line or key rejects the whole file with its line / key in the error,
// so a typo never silently drops a network (the previous data stays served).
import { parse as parseYaml } from "yaml";
import { PrefixTable, parsePrefixText } from "./prefixes.js";
import { ReloadingFile } from "./reload.js";
import type { SourceState } from "./types.js";

export interface NetworkInfo {
  name: string;
  role: string;
  site: string;
  tenant: string;
  /** 0 = not given. */
  asn: number;
}

const FIELDS = ["name", "role", "site", "tenant", "asn"] as const;

export interface NetworksData {
  table: PrefixTable<NetworkInfo>;
}

function attrs(raw: Record<string, unknown>, where: string): NetworkInfo {
  const out: NetworkInfo = { name: "", role: "", site: "", tenant: "", asn: 0 };
  for (const [k, v] of Object.entries(raw)) {
    if (k === "prefix") continue;
    if (!(FIELDS as readonly string[]).includes(k))
      throw new Error(`${where}: unknown key "${k}" (known: prefix, ${FIELDS.join(", ")})`);
    if (k === "asn") {
      const n = typeof v === "string" ? Number(v.replace(/^AS/i, "")) : v;
      if (typeof n !== "number" || !Number.isInteger(n) || n < 0 || n > 0xffffffff)
        throw new Error(`${where}: asn ${JSON.stringify(v)} is not an AS number`);
      out.asn = n;
    } else {
      if (typeof v !== "string" && typeof v !== "number") throw new Error(`${where}: ${k} must be a string`);
      out[k as "name"] = String(v);
    }
  }
  return out;
}

function add(table: PrefixTable<NetworkInfo>, prefix: unknown, info: NetworkInfo, where: string): void {
  if (typeof prefix !== "string") throw new Error(`${where}: prefix missing`);
  const p = parsePrefixText(prefix.trim());
  if (typeof p === "string") throw new Error(`${where}: ${p}`);
  table.set(p, info);
}

/** Split one CSV line (RFC 4180 quoting: "a,b" and "" inside quotes). */
export function splitCsv(line: string): string[] {
  const out: string[] = [];
  let cur = "";
  let q = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (q) {
      if (c === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') q = false;
      else cur += c;
    } else if (c === '"') q = true;
    else if (c === ",") {
      out.push(cur.trim());
      cur = "";
    } else cur += c;
  }
  out.push(cur.trim());
  return out;
}

export function parseNetworksCsv(text: string): NetworksData {
  const table = new PrefixTable<NetworkInfo>();
  let header: string[] | null = null;
  const lines = text.split(/\r?\n/);
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n]!.trim();
    if (line === "" || line.startsWith("#")) continue;
    const cells = splitCsv(line);
    if (!header) {
      header = cells.map((c) => c.toLowerCase());
      if (!header.includes("prefix"))
        throw new Error(`line ${n + 1}: the header row must name a "prefix" column`);
      for (const h of header)
        if (h !== "prefix" && !(FIELDS as readonly string[]).includes(h))
          throw new Error(`line ${n + 1}: unknown column "${h}" (known: prefix, ${FIELDS.join(", ")})`);
      continue;
    }
    const row: Record<string, unknown> = {};
    header.forEach((h, i) => {
      const v = cells[i] ?? "";
      if (h === "asn") {
        if (v !== "") row.asn = v;
      } else row[h] = v;
    });
    add(table, row.prefix, attrs(row, `line ${n + 1}`), `line ${n + 1}`);
  }
  return { table: table.build() };
}

export function parseNetworksYaml(text: string): NetworksData {
  const table = new PrefixTable<NetworkInfo>();
  let doc: unknown = parseYaml(text);
  if (doc === null || doc === undefined) return { table };
  if (typeof doc === "object" && !Array.isArray(doc) && "networks" in doc && Object.keys(doc).length === 1)
    doc = (doc as { networks: unknown }).networks;
  if (Array.isArray(doc)) {
    doc.forEach((item, i) => {
      if (typeof item !== "object" || item === null || Array.isArray(item))
        throw new Error(`[${i}]: must be a map with a prefix`);
      const r = item as Record<string, unknown>;
      add(table, r.prefix, attrs(r, `[${i}]`), `[${i}]`);
    });
  } else if (typeof doc === "object" && doc !== null) {
    for (const [prefix, v] of Object.entries(doc)) {
      const r = v === null ? {} : v;
      if (typeof r !== "object" || Array.isArray(r))
        throw new Error(`${prefix}: must be a map of attributes`);
      add(table, prefix, attrs(r as Record<string, unknown>, prefix), prefix);
    }
  } else {
    throw new Error("must be a map prefix → attributes or a list of networks");
  }
  return { table: table.build() };
}

export function parseNetworks(path: string, bytes: Buffer): NetworksData {
  const text = bytes.toString("utf8");
  return /\.csv$/i.test(path) ? parseNetworksCsv(text) : parseNetworksYaml(text);
}

/** The networks file, reloaded when it changes. */
export class NetworksSource {
  readonly file: ReloadingFile<NetworksData>;

  constructor(path: string, pollMs: number) {
    this.file = new ReloadingFile({
      name: "networks",
      kind: "networks",
      path,
      pollMs,
      parse: (b) => parseNetworks(path, b),
      count: (d) => d.table.size,
    });
  }

  lookup(addr: Uint8Array, off: number): NetworkInfo | null {
    const d = this.file.data;
    return d ? d.table.lookup(addr, off) : null;
  }

  start(): Promise<void> {
    return this.file.start();
  }
  stop(): Promise<void> {
    return this.file.stop();
  }
  state(): SourceState {
    return this.file.state();
  }
}
