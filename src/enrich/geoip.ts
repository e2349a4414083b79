// GeoIP / ASN from MaxMind-format (.mmdb) databases the user supplies, read
// with mmdb-lib: src/dst country (ISO 3166 alpha-2), AS number and AS name.
//
// Layouts understood (whatever the file's database_type says, each record
// gives what it has; the first database in enrich.geoip.databases that
// answers a field wins):
//   GeoLite2-Country / GeoIP2-Country / -City  { country: { iso_code: "JP" }, registered_country: … }
//   GeoLite2-ASN / GeoIP2-ISP                  { autonomous_system_number: 2914, autonomous_system_organization: "NTT" }
//   IPinfo country / country_asn / asn         { country: "JP", asn: "AS2914", as_name: "NTT" } ({ asn, name } in asn.mmdb)
// Each file is reloaded when it changes (mtime poll, src/enrich/reload.ts).
// mmdb-lib looks addresses up by their text, which costs a format per
// lookup; the EnrichmentService caches answers per address, so that cost is
// paid once per distinct address, not per flow.
import { basename } from "node:path";
import { Reader, type Response } from "mmdb-lib";
import { ReloadingFile } from "./reload.js";
import type { SourceState } from "./types.js";

export interface GeoAnswer {
  /** ISO 3166 alpha-2, upper case; "" unknown. */
  country: string;
  /** 0 unknown. */
  asn: number;
  asName: string;
}

export const NO_GEO: GeoAnswer = Object.freeze({ country: "", asn: 0, asName: "" });

interface Db {
  reader: Reader<Response>;
  type: string;
  nodes: number;
}

/** Pull country / AS out of one record of any supported layout. */
export function geoFromRecord(rec: unknown): GeoAnswer {
  if (typeof rec !== "object" || rec === null) return NO_GEO;
  const r = rec as Record<string, unknown>;
  let country = "";
  const c = r.country;
  if (typeof c === "string") country = c;
  else if (typeof c === "object" && c !== null && typeof (c as { iso_code?: unknown }).iso_code === "string")
    country = (c as { iso_code: string }).iso_code;
  else {
    // Anycast / satellite ranges have only a registered country in GeoLite2.
    const rc = r.registered_country as { iso_code?: unknown } | undefined;
    if (rc && typeof rc.iso_code === "string") country = rc.iso_code;
  }
  let asn = 0;
  if (typeof r.autonomous_system_number === "number") asn = r.autonomous_system_number;
  else if (typeof r.asn === "string") {
    const m = /^AS(\d+)$/i.exec(r.asn);
    if (m) asn = Number(m[1]);
  } else if (typeof r.asn === "number") asn = r.asn;
  let asName = "";
  for (const k of ["autonomous_system_organization", "as_name", "name"]) {
    const v = r[k];
    if (typeof v === "string" && (k !== "name" || asn !== 0)) {
      asName = v;
      break;
    }
  }
  return { country: /^[A-Za-z]{2}$/.test(country) ? country.toUpperCase() : "", asn, asName };
}

export class GeoIpDatabase {
  readonly file: ReloadingFile<Db>;
  /** Bumped at every (re)load so the service's per-address cache is dropped. */
  generation = 0;

  constructor(path: string, pollMs: number) {
    this.file = new ReloadingFile<Db>({
      name: `geoip:${basename(path)}`,
      kind: "geoip",
      path,
      pollMs,
      parse: (b) => {
        const reader = new Reader<Response>(b);
        return { reader, type: reader.metadata.databaseType, nodes: reader.metadata.nodeCount };
      },
      count: (d) => d.nodes,
      onLoad: () => this.generation++,
    });
  }

  /** Look up one address (text form); null when the database has nothing (or is not loaded). */
  lookup(ip: string): GeoAnswer | null {
    const d = this.file.data;
    if (!d) return null;
    const rec = d.reader.get(ip);
    return rec ? geoFromRecord(rec) : null;
  }

  start(): Promise<void> {
    return this.file.start();
  }
  stop(): Promise<void> {
    return this.file.stop();
  }
  state(): SourceState {
    const s = this.file.state();
    const d = this.file.data;
    if (d) s.detail = { ...s.detail, databaseType: d.type };
    return s;
  }
}

/** Several databases in order: each field from the first one that knows it. */
export class GeoIp {
  readonly dbs: GeoIpDatabase[];
  constructor(paths: readonly string[], pollMs: number) {
    this.dbs = paths.map((p) => new GeoIpDatabase(p, pollMs));
  }

  get generation(): number {
    let g = 0;
    for (const d of this.dbs) g += d.generation;
    return g;
  }

  lookup(ip: string): GeoAnswer {
    let country = "";
    let asn = 0;
    let asName = "";
    for (const db of this.dbs) {
      const a = db.lookup(ip);
      if (!a) continue;
      if (country === "") country = a.country;
      if (asn === 0 && a.asn !== 0) {
        asn = a.asn;
        asName = a.asName;
      }
    }
    return country === "" && asn === 0 ? NO_GEO : { country, asn, asName };
  }
}
