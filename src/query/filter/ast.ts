// Filter AST. Primitives are already resolved to schema columns by the parser,
// so the SQL generator only has to render them; every user value sits in a
// field here (never in a column name) and becomes a bound parameter.

/** Comparison operators of numeric primitives. */
export type CmpOp = "=" | "!=" | ">" | "<" | ">=" | "<=";

/**
 * A numeric operand: a plain flow column, or a derived per-flow rate that
 * nfdump computes (bps, pps, bpp) or the flow duration in milliseconds.
 */
export type NumTarget =
  { readonly column: string } | { readonly derived: "duration" | "bps" | "pps" | "bpp" };

export type FilterNode =
  | { readonly type: "any" }
  | { readonly type: "not"; readonly expr: FilterNode }
  | { readonly type: "and" | "or"; readonly left: FilterNode; readonly right: FilterNode }
  /**
   * Any of `targets` compares true (e.g. `port 80` → src_port or dst_port);
   * all of them with `all` (`src and dst port 80`).
   */
  | {
      readonly type: "cmp";
      readonly targets: readonly NumTarget[];
      readonly all?: boolean;
      readonly op: CmpOp;
      readonly value: number;
    }
  /** Any of `targets` equals one of `values` (`port in [ 80 443 ]`). */
  | {
      readonly type: "in";
      readonly targets: readonly NumTarget[];
      readonly all?: boolean;
      readonly values: readonly number[];
    }
  /**
   * Any (with `all`: every) of `columns` (16-byte IP columns) lies in one of
   * the ranges [lo, hi]: a host when lo equals hi, else a net.
   */
  | {
      readonly type: "ip";
      readonly columns: readonly string[];
      readonly all?: boolean;
      readonly ranges: readonly IpRange[];
    }
  /**
   * Any (with `all`: every) of `columns` (text columns of the enrichment,
   * e.g. dst_as_name) equals one of `values`, case-insensitively; a value
   * with `*` is a wildcard pattern. `values` are already lower-cased.
   */
  | {
      readonly type: "str";
      readonly columns: readonly string[];
      readonly all?: boolean;
      readonly values: readonly string[];
    }
  /** All bits of `mask` set in tcp_flags. */
  | { readonly type: "flags"; readonly mask: number }
  /** Extra guard for ICMP fields: protocol is ICMP or ICMPv6. */
  | { readonly type: "icmp"; readonly field: "icmp_type" | "icmp_code"; readonly value: number };

export interface IpRange {
  readonly lo: Uint8Array;
  readonly hi: Uint8Array;
}
