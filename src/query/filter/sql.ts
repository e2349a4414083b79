// Filter AST → SQL: one walk with nfdump's semantics, rendered through a
// FilterDialect for the few things engines spell differently (how a value
// reaches the text, address columns, `!=`, bit and, the text of a string
// column, the flow duration). duckdbFilter is the default: column names come
// only from the parser's fixed tables (schema columns); every user value is a
// `?` parameter, so the SQL text is the same for any value and nothing typed
// by a user is ever parsed as SQL. The Trino engine's dialect
// (src/query/engine/trino-sql.ts) writes validated literals instead.
//
// How an IP column is compared depends on how the store lays it out; that is
// behind IpColumnSql, so the store can swap the layout without touching the
// parser. The default matches the store (src/store/schema.ts): the 16 address
// bytes of FlowBatch (IPv4-mapped) as one UHUGEINT, most significant byte
// first, so numeric order is bytewise order and a net is a range
// `col BETWEEN lo AND hi`, which min/max zone maps can prune. blob16Ip is the
// same on 16-byte BLOB columns (DuckDB compares BLOBs bytewise).

import { BLOB, UHUGEINT, blobValue, type DuckDBType, type DuckDBValue } from "@duckdb/node-api";
import type { FilterNode, NumTarget } from "./ast.js";
import { parseFilter } from "./parser.js";

export type FilterParam = number | Uint8Array | bigint | string;

export interface CompiledFilter {
  /** A boolean SQL expression with `?` placeholders. */
  readonly sql: string;
  /** Values for the placeholders, in order; an IP is a bigint (UHUGEINT) or Uint8Array (BLOB); see duckdbParams. */
  readonly params: FilterParam[];
}

/** SQL for IP-column tests; `p(v)` registers a parameter and returns its placeholder. */
export interface IpColumnSql {
  ipEquals(column: string, bytes: Uint8Array, p: (v: FilterParam) => string): string;
  ipInRange(column: string, lo: Uint8Array, hi: Uint8Array, p: (v: FilterParam) => string): string;
}

/** 16-byte BLOB columns (the store's layout up to schema version 1). */
export const blob16Ip: IpColumnSql = {
  ipEquals: (c, b, p) => `${c} = ${p(b)}`,
  ipInRange: (c, lo, hi, p) => `${c} BETWEEN ${p(lo)} AND ${p(hi)}`,
};

/** 16 big-endian address bytes as the unsigned 128-bit integer the store keeps. */
export function ipToBigInt(b: Uint8Array): bigint {
  const v = new DataView(b.buffer, b.byteOffset, 16);
  return (v.getBigUint64(0) << 64n) | v.getBigUint64(8);
}

/** UHUGEINT columns (the store's layout): the parameter is a bigint, bound as UHUGEINT (see duckdbParams). */
export const uhugeintIp: IpColumnSql = {
  ipEquals: (c, b, p) => `${c} = ${p(ipToBigInt(b))}`,
  ipInRange: (c, lo, hi, p) => `${c} BETWEEN ${p(ipToBigInt(lo))} AND ${p(ipToBigInt(hi))}`,
};

/**
 * Values and types to bind a compiled filter's (or a plan's) parameters
 * with: a bigint is an address, bound as UHUGEINT (node-api would infer
 * HUGEINT, which cannot hold addresses ≥ 2^127 such as fe80::/10); a
 * Uint8Array is bound as BLOB; anything else is left to inference.
 */
export function duckdbParams(params: readonly unknown[]): { values: DuckDBValue[]; types: DuckDBType[] } {
  const values: DuckDBValue[] = [];
  const types: (DuckDBType | undefined)[] = [];
  for (const v of params) {
    if (typeof v === "bigint") {
      values.push(v);
      types.push(UHUGEINT);
    } else if (v instanceof Uint8Array) {
      values.push(blobValue(v));
      types.push(BLOB);
    } else {
      values.push(v as DuckDBValue);
      types.push(undefined);
    }
  }
  // undefined entries mean "infer" to node-api's bind().
  return { values, types: types as DuckDBType[] };
}

/**
 * What differs between the SQL engines a filter is rendered for; the walk
 * (filterToSql) is the same for all. Hooks receive SQL text (column
 * expressions already qualified by SqlOptions.column).
 */
export interface FilterDialect {
  /** A user value in the SQL text: a placeholder (the value pushed onto `params`) or a literal. */
  value(v: FilterParam, params: FilterParam[]): string;
  /** Address columns (ranges are bytewise, lo and hi inclusive). */
  ip: IpColumnSql;
  /** The not-equal operator. */
  notEqual: string;
  /** Bitwise and of two integers. */
  bitAnd(a: string, b: string): string;
  /** A string column as text, absent values as '' (so `not … x` keeps them). */
  text(col: string): string;
  /** Flow duration in milliseconds from the start and end time columns. */
  durationMs(start: string, end: string): string;
}

/** DuckDB with `?` parameters over millisecond-number time columns (the default). */
export const duckdbFilter: FilterDialect = {
  value: (v, params) => {
    params.push(v);
    return "?";
  },
  ip: uhugeintIp,
  notEqual: "!=",
  bitAnd: (a, b) => `(${a} & ${b})`,
  // String columns store NULL for "" (src/store/writer.ts).
  text: (col) => `coalesce(${col}, '')`,
  durationMs: (start, end) => `(${end} - ${start})`,
};

export interface SqlOptions {
  /** The engine's spelling; default duckdbFilter. */
  dialect?: FilterDialect;
  /** Overrides the dialect's address columns. */
  ip?: IpColumnSql;
  /** Quote/qualify a column name (e.g. a table alias); default: bare name. */
  column?: (name: string) => string;
  /**
   * Flow duration in milliseconds as SQL; default the dialect's of the two
   * columns (`(time_flow_end - time_flow_start)` for millisecond-number time
   * columns). A store with TIMESTAMP columns passes e.g.
   * `epoch_ms(time_flow_end) - epoch_ms(time_flow_start)`.
   */
  durationMs?: string;
}

/** Render a parsed filter. */
export function filterToSql(node: FilterNode, opts: SqlOptions = {}): CompiledFilter {
  const d = opts.dialect ?? duckdbFilter;
  const ip = opts.ip ?? d.ip;
  const c = opts.column ?? ((n: string) => n);
  const params: FilterParam[] = [];
  const p = (v: FilterParam): string => d.value(v, params);
  const duration = (): string => opts.durationMs ?? d.durationMs(c("time_flow_start"), c("time_flow_end"));
  // nfdump's rates: per second of flow duration, 0 for a zero-length flow;
  // bpp is bytes per packet, 0 without packets. nfdump computes them in
  // integer arithmetic (truncating); floor() of the DOUBLE quotient gives the
  // same values for these non-negative operands, whatever the column types.
  const target = (t: NumTarget): string => {
    if ("column" in t) return c(t.column);
    switch (t.derived) {
      case "duration":
        return duration();
      // DOUBLE arithmetic whatever the stored integer types are.
      case "bps":
        return `(CASE WHEN ${duration()} > 0 THEN floor(CAST(${c("bytes")} AS DOUBLE) * 8000 / ${duration()}) ELSE 0 END)`;
      case "pps":
        return `(CASE WHEN ${duration()} > 0 THEN floor(CAST(${c("packets")} AS DOUBLE) * 1000 / ${duration()}) ELSE 0 END)`;
      case "bpp":
        return `(CASE WHEN ${c("packets")} > 0 THEN floor(CAST(${c("bytes")} AS DOUBLE) / ${c("packets")}) ELSE 0 END)`;
    }
  };
  const join = (parts: string[], all = false): string =>
    parts.length === 1 ? parts[0]! : `(${parts.join(all ? " AND " : " OR ")})`;
  const walk = (n: FilterNode): string => {
    switch (n.type) {
      case "any":
        return "TRUE";
      case "not":
        return `(NOT ${walk(n.expr)})`;
      case "and":
        return `(${walk(n.left)} AND ${walk(n.right)})`;
      case "or":
        return `(${walk(n.left)} OR ${walk(n.right)})`;
      case "cmp":
        return join(
          n.targets.map((t) => `${target(t)} ${n.op === "!=" ? d.notEqual : n.op} ${p(n.value)}`),
          n.all,
        );
      case "in":
        return join(
          n.targets.map((t) => `${target(t)} IN (${n.values.map((v) => p(v)).join(", ")})`),
          n.all,
        );
      case "ip":
        return join(
          n.columns.map((col) =>
            join(
              n.ranges.map(({ lo, hi }) =>
                lo.every((b, k) => b === hi[k])
                  ? ip.ipEquals(c(col), lo, p)
                  : ip.ipInRange(c(col), lo, hi, p),
              ),
            ),
          ),
          n.all,
        );
      case "str":
        // Case-insensitive: the parser lower-cases values; `*` becomes LIKE's % (with % _ \ escaped).
        // d.text: absent strings compare as "", so `not … x` keeps unknowns.
        return join(
          n.columns.map((col) =>
            join(
              n.values.map((v) =>
                v.includes("*")
                  ? `lower(${d.text(c(col))}) LIKE ${p(likePattern(v))} ESCAPE '\\'`
                  : `lower(${d.text(c(col))}) = ${p(v)}`,
              ),
            ),
          ),
          n.all,
        );
      case "flags":
        return `${d.bitAnd(c("tcp_flags"), p(n.mask))} = ${p(n.mask)}`;
      case "icmp":
        return `(${c("protocol")} IN (${p(1)}, ${p(58)}) AND ${c(n.field)} = ${p(n.value)})`;
    }
  };
  return { sql: walk(node), params };
}

/** A `*` wildcard value as a LIKE pattern: `%`, `_` and `\` are literal, `*` matches any run. */
function likePattern(v: string): string {
  return v.replace(/[\\%_]/g, (ch) => `\\${ch}`).replace(/\*/g, "%");
}

/** Parse and render an nfdump filter; an empty filter matches everything. Throws FilterError. */
export function compileFilter(filter: string, opts: SqlOptions = {}): CompiledFilter {
  if (filter.trim() === "") return { sql: "TRUE", params: [] };
  return filterToSql(parseFilter(filter), opts);
}
