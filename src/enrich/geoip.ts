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
//
// Lookups walk the search tree ourselves, from the 16-byte address bytes
// (mmdb-lib looks up by text: a parse per lookup, then a decode of the whole
// record, ~12-16 µs), and decoded records are memoized per data-section
// offset: many networks share one record (one per country in a Country
// database), so a lookup is a ~20-32 step tree walk over the file's bytes
// plus one Map probe, ~0.1-0.3 µs. mmdb-lib still parses the metadata and
// decodes the records (its decoder, once per distinct record).
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

/**
 * One loaded database: mmdb-lib's reader (metadata, record decoding) and
 * what the tree walk needs, in locals-friendly fields.
 */
export class MmdbTree {
  readonly reader: Reader<Response>;
  readonly type: string;
  readonly nodes: number;
  readonly ipVersion: number;
  readonly recordSize: number;
  private readonly db: Uint8Array;
  private readonly nodeBytes: number;
  /** The node where IPv4 addresses start in an IPv6 tree (the ::/96 subtree), 0 in an IPv4 tree. */
  private readonly v4Start: number;
  /** Decoded answers per record pointer (null: the record gives nothing we use). */
  private readonly memo = new Map<number, GeoAnswer>();
  private readonly resolve: (pointer: number) => unknown;

  constructor(bytes: Buffer) {
    const reader = new Reader<Response>(bytes);
    const m = reader.metadata;
    this.reader = reader;
    this.type = m.databaseType;
    this.nodes = m.nodeCount;
    this.ipVersion = m.ipVersion;
    this.recordSize = m.recordSize;
    if (m.recordSize !== 24 && m.recordSize !== 28 && m.recordSize !== 32)
      throw new Error(`unsupported record size ${m.recordSize}`);
    this.db = bytes;
    this.nodeBytes = m.nodeByteSize;
    // mmdb-lib's data pointer → record decoder (private in its typings, pinned version 3.0.3).
    const r = reader as unknown as { resolveDataPointer?: (p: number) => unknown };
    if (typeof r.resolveDataPointer !== "function")
      throw new Error("mmdb-lib: Reader.resolveDataPointer is missing (unsupported mmdb-lib version)");
    this.resolve = r.resolveDataPointer.bind(reader);
    // MaxMind DB spec, "IPv4 addresses in an IPv6 tree": IPv4 lives at
    // ::a.b.c.d, i.e. after 96 zero bits — follow the left records 96 times.
    let node = 0;
    if (m.ipVersion === 6) for (let i = 0; i < 96 && node < this.nodes; i++) node = this.left(node);
    this.v4Start = node;
  }

  // Node layout (MaxMind DB spec, "Node Layout"): two records of recordSize
  // bits, big-endian; with 28-bit records the middle byte holds the high
  // nibble of each (left: high 4 bits, right: low 4 bits).
  private left(node: number): number {
    const b = this.db;
    const o = node * this.nodeBytes;
    switch (this.recordSize) {
      case 24:
        return (b[o]! << 16) | (b[o + 1]! << 8) | b[o + 2]!;
      case 28:
        return ((b[o + 3]! & 0xf0) << 20) | (b[o]! << 16) | (b[o + 1]! << 8) | b[o + 2]!;
      default:
        return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
    }
  }

  /**
   * The record pointer for the 16-byte address at a[off…off+16] (IPv4-mapped
   * for IPv4): > nodes points into the data section, 0 = no data.
   * Walk (spec, "Search Tree Section"): from the start node, take the left
   * record for a 0 bit, the right one for a 1, until the value is ≥ the node
   * count (= nodes: no data; more: a data pointer) or the bits run out.
   */
  pointer(a: Uint8Array, off: number): number {
    let mapped = a[off + 10] === 0xff && a[off + 11] === 0xff;
    if (mapped) for (let k = 0; k < 10; k++) if (a[off + k] !== 0) mapped = false;
    // As mmdb-lib does for the text forms: an IPv4 address walks 32 bits from
    // the IPv4 start; any other walks its 128 bits from the root.
    let node = mapped ? this.v4Start : 0;
    const from = mapped ? off + 12 : off;
    const bits = mapped ? 32 : 128;
    const b = this.db;
    const count = this.nodes;
    const nb = this.nodeBytes;
    const rs = this.recordSize;
    for (let depth = 0; depth < bits && node < count; depth++) {
      const bit = (a[from + (depth >>> 3)]! >>> (7 - (depth & 7))) & 1;
      const o = node * nb;
      if (rs === 24) {
        node =
          bit === 0
            ? (b[o]! << 16) | (b[o + 1]! << 8) | b[o + 2]!
            : (b[o + 3]! << 16) | (b[o + 4]! << 8) | b[o + 5]!;
      } else if (rs === 28) {
        node =
          bit === 0
            ? ((b[o + 3]! & 0xf0) << 20) | (b[o]! << 16) | (b[o + 1]! << 8) | b[o + 2]!
            : ((b[o + 3]! & 0x0f) << 24) | (b[o + 4]! << 16) | (b[o + 5]! << 8) | b[o + 6]!;
      } else {
        const p = o + (bit << 2);
        node = ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
      }
    }
    return node > count ? node : 0;
  }

  /** The decoded record for the address (what mmdb-lib's get() gives for its text), or null. */
  record(a: Uint8Array, off: number): unknown {
    const p = this.pointer(a, off);
    return p === 0 ? null : this.resolve(p);
  }

  /** The answer for the address; null when the database has no record for it. */
  lookup(a: Uint8Array, off: number): GeoAnswer | null {
    const p = this.pointer(a, off);
    if (p === 0) return null;
    let g = this.memo.get(p);
    if (g === undefined) {
      // Bounded: a database has at most as many records as networks, but the memo must not grow without end.
      if (this.memo.size >= MEMO_MAX) this.memo.clear();
      g = geoFromRecord(this.resolve(p));
      this.memo.set(p, g);
    }
    return g;
  }
}

/** Decoded answers kept per database (GeoLite2-City has ~100 k distinct records; Country ~250). */
const MEMO_MAX = 262_144;

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
  readonly file: ReloadingFile<MmdbTree>;
  /** Bumped at every (re)load so the service's per-address cache is dropped. */
  generation = 0;

  constructor(path: string, pollMs: number) {
    this.file = new ReloadingFile<MmdbTree>({
      name: `geoip:${basename(path)}`,
      kind: "geoip",
      path,
      pollMs,
      // A reload builds a new tree (and an empty memo): the old one keeps serving until it is swapped in.
      parse: (b) => new MmdbTree(b),
      count: (d) => d.nodes,
      onLoad: () => this.generation++,
    });
  }

  /** Look up the 16-byte address at a[off…]; null when the database has nothing (or is not loaded). */
  lookup(a: Uint8Array, off: number): GeoAnswer | null {
    const d = this.file.data;
    return d ? d.lookup(a, off) : null;
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
  /**
   * Merged answers per pair of per-database answers (identity: they are
   * memoized per record), so a lookup allocates nothing and equal answers
   * are the same object (the AddrCache interns answers by identity).
   */
  private merged = new Map<GeoAnswer, Map<GeoAnswer, GeoAnswer>>();
  private mergedSize = 0;
  private mergedGen = -1;

  constructor(paths: readonly string[], pollMs: number) {
    this.dbs = paths.map((p) => new GeoIpDatabase(p, pollMs));
  }

  get generation(): number {
    let g = 0;
    for (const d of this.dbs) g += d.generation;
    return g;
  }

  lookup(a: Uint8Array, off: number): GeoAnswer {
    let out: GeoAnswer | null = null;
    for (const db of this.dbs) {
      const g = db.lookup(a, off);
      if (g === null || (g.country === "" && g.asn === 0)) continue;
      if (out === null) out = g;
      else if ((out.country === "" && g.country !== "") || (out.asn === 0 && g.asn !== 0))
        out = this.merge(out, g);
    }
    return out ?? NO_GEO;
  }

  /** `first` with the fields it lacks taken from `next`. */
  private merge(first: GeoAnswer, next: GeoAnswer): GeoAnswer {
    const gen = this.generation;
    if (gen !== this.mergedGen || this.mergedSize >= MEMO_MAX) {
      this.merged = new Map();
      this.mergedSize = 0;
      this.mergedGen = gen;
    }
    let inner = this.merged.get(first);
    if (!inner) this.merged.set(first, (inner = new Map()));
    let m = inner.get(next);
    if (!m) {
      const useAs = first.asn === 0 && next.asn !== 0;
      m = {
        country: first.country !== "" ? first.country : next.country,
        asn: useAs ? next.asn : first.asn,
        asName: useAs ? next.asName : first.asName,
      };
      inner.set(next, m);
      this.mergedSize++;
    }
    return m;
  }
}
