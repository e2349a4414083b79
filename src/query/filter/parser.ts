// nfdump filter parser (nfdump(1) "FILTER", grammar.y of nfdump 1.7).
//
//   filter   := or-expr END
//   or-expr  := and-expr { ("or" | "||") and-expr }
//   and-expr := unary { ("and" | "&&") unary }
//   unary    := ("not" | "!") unary | "(" or-expr ")" | primitive
//
// so `not` binds tighter than `and`, which binds tighter than `or`, as in
// nfdump. Primitives are listed in docs/filters.md; each is resolved here to
// schema columns (src/schema.ts) and validated (ranges, addresses, masks), so
// the SQL generator can never see a bad value.

import { parseIp } from "../../collector/ip.js";
import type { CmpOp, FilterNode, NumTarget } from "./ast.js";
import { FilterError } from "./errors.js";
import { tokenize, type Token } from "./lexer.js";

const OPS: Record<string, CmpOp> = {
  "=": "=",
  "==": "=",
  eq: "=",
  "!=": "!=",
  ne: "!=",
  ">": ">",
  gt: ">",
  "<": "<",
  lt: "<",
  ">=": ">=",
  ge: ">=",
  "<=": "<=",
  le: "<=",
};

/** Protocol names nfdump accepts (IANA protocol numbers). */
/** IANA protocol numbers by the names the filter accepts. */
export const PROTOCOLS: Readonly<Record<string, number>> = {
  icmp: 1,
  igmp: 2,
  tcp: 6,
  udp: 17,
  rsvp: 46,
  gre: 47,
  esp: 50,
  ah: 51,
  icmp6: 58,
  "ipv6-icmp": 58,
  eigrp: 88,
  ospf: 89,
  pim: 103,
  sctp: 132,
};

/** TCP flag letters as in nfdump (flags field of `nfdump -o long`). */
const FLAG_BITS: Record<string, number> = {
  F: 0x01,
  S: 0x02,
  R: 0x04,
  P: 0x08,
  A: 0x10,
  U: 0x20,
  E: 0x40,
  C: 0x80,
  X: 0x3f, // nfdump: X = all of FSRPAU
};

const U8 = 0xff;
const U16 = 0xffff;
const U32 = 0xffffffff;
const U53 = Number.MAX_SAFE_INTEGER;

/** Direction qualifier: `src`, `dst`, none or `src or dst` (both), `src and dst` (all). */
type Dir = "src" | "dst" | "both" | "all";

const col = (column: string): NumTarget => ({ column });
const pick = <T>(dir: Dir, src: T, dst: T): T[] =>
  dir === "src" ? [src] : dir === "dst" ? [dst] : [src, dst];
const pair = (dir: Dir, src: string, dst: string): NumTarget[] => pick(dir, col(src), col(dst));

/**
 * Enrichment text attributes (src/enrich, docs/enrichment.md) by the word
 * after `in if` / `out if` / `if`, `src net` / `dst net` / `net` and
 * `exporter`; the value is a word or a "quoted string", compared
 * case-insensitively, `*` a wildcard.
 */
const IF_TEXT = ["name", "description", "connectivity", "provider", "boundary"];
const NET_TEXT = ["name", "role", "site", "tenant"];
const EXPORTER_TEXT = ["name", "role", "site", "region", "tenant"];
const BOUNDARY_VALUES = ["external", "internal", ""];
const MAX_TEXT = 256;

/** Nesting limit of parentheses and `not`. */
const MAX_DEPTH = 100;

class Parser {
  private i = 0;
  private depth = 0;
  constructor(private readonly toks: Token[]) {}

  private get peek(): Token {
    return this.toks[this.i]!;
  }
  private next(): Token {
    const t = this.toks[this.i]!;
    if (t.kind !== "end") this.i++;
    return t;
  }
  private fail(t: Token, expected: string): never {
    throw new FilterError(t.pos, t.text, expected);
  }
  private isWord(...words: string[]): boolean {
    const t = this.peek;
    return t.kind === "word" && words.includes(t.text.toLowerCase());
  }
  private expectWord(word: string): void {
    if (!this.isWord(word)) this.fail(this.peek, `"${word}"`);
    this.next();
  }

  parse(): FilterNode {
    const e = this.orExpr();
    if (this.peek.kind !== "end") this.fail(this.peek, `"and", "or" or the end of the filter`);
    return e;
  }

  private orExpr(): FilterNode {
    let left = this.andExpr();
    while (this.peek.kind === "||" || this.isWord("or")) {
      this.next();
      left = { type: "or", left, right: this.andExpr() };
    }
    return left;
  }

  private andExpr(): FilterNode {
    let left = this.unary();
    while (this.peek.kind === "&&" || this.isWord("and")) {
      this.next();
      left = { type: "and", left, right: this.unary() };
    }
    return left;
  }

  private unary(): FilterNode {
    const t = this.peek;
    // Bound recursion so a hostile "((((…" or "not not …" is a FilterError,
    // not a stack overflow (and the SQL stays shallow for DuckDB's parser).
    if (++this.depth > MAX_DEPTH) this.fail(t, `at most ${MAX_DEPTH} nested "not"s and parentheses`);
    try {
      if (t.kind === "!" || this.isWord("not")) {
        this.next();
        return { type: "not", expr: this.unary() };
      }
      if (t.kind === "(") {
        this.next();
        const e = this.orExpr();
        if (this.peek.kind !== ")") this.fail(this.peek, `")" to close the "(" at ${t.pos}`);
        this.next();
        return e;
      }
      return this.primitive();
    } finally {
      this.depth--;
    }
  }

  private primitive(): FilterNode {
    const t = this.peek;
    if (t.kind !== "word") this.fail(t, "a filter primitive");
    const w = t.text.toLowerCase();
    if (w === "src" || w === "dst") {
      this.next();
      // `src and dst …` / `src or dst …` (either order) qualify both columns.
      const conj = this.peek;
      const other = this.toks[this.i + 1];
      const otherDir = w === "src" ? "dst" : "src";
      if (
        conj.kind === "word" &&
        /^(and|or)$/i.test(conj.text) &&
        other?.kind === "word" &&
        other.text.toLowerCase() === otherDir
      ) {
        this.next();
        this.next();
        return this.directed(conj.text.toLowerCase() === "and" ? "all" : "both");
      }
      return this.directed(w);
    }
    switch (w) {
      case "prev":
      case "next":
        this.next();
        if (this.isWord("as")) this.fail(t, `a supported primitive ("${w} as" is not stored)`);
        return this.fail(t, "a filter primitive");
      case "in":
      case "out": {
        this.next();
        this.expectWord("if");
        const attr = this.ifAttr([w]);
        if (attr) return attr;
        return this.numeric([col(w === "in" ? "in_if" : "out_if")], U32, "an interface index");
      }
      case "exporter": {
        this.next();
        const a = this.peek;
        const aw = a.kind === "word" ? a.text.toLowerCase() : "";
        if (!EXPORTER_TEXT.includes(aw))
          return this.fail(a, `${EXPORTER_TEXT.map((x) => `"${x}"`).join(", ")} after "exporter"`);
        this.next();
        return this.text([`exporter_${aw}`], `an exporter ${aw}`);
      }
      case "any":
        this.next();
        return { type: "any" };
      case "ipv4":
      case "inet":
        this.next();
        return { type: "cmp", targets: [col("ip_version")], op: "=", value: 4 };
      case "ipv6":
      case "inet6":
        this.next();
        return { type: "cmp", targets: [col("ip_version")], op: "=", value: 6 };
      case "proto":
        this.next();
        return this.proto();
      case "flags":
        this.next();
        return this.flags();
      case "bytes":
      case "packets":
      case "flows":
        this.next();
        return this.numeric([col(w)], U53, `a number of ${w}`, true);
      case "bps":
      case "pps":
      case "bpp":
        this.next();
        return this.numeric([{ derived: w }], U53, `a ${w} value`, true);
      case "duration":
        this.next();
        return this.numeric([{ derived: "duration" }], U53, "a duration in milliseconds");
      case "mpls":
        this.next();
        return this.mpls();
      case "icmp-type":
      case "icmp-code": {
        this.next();
        const v = this.number(U8, w === "icmp-type" ? "an ICMP type" : "an ICMP code");
        return { type: "icmp", field: w === "icmp-type" ? "icmp_type" : "icmp_code", value: v };
      }
      case "engine-type":
      case "engine-id":
        return this.fail(t, "a supported primitive (engine-type/engine-id are not stored separately)");
      default:
        return this.directed("both");
    }
  }

  /** Primitives that take an optional src/dst qualifier. */
  private directed(dir: Dir): FilterNode {
    const t = this.peek;
    const w = t.kind === "word" ? t.text.toLowerCase() : "";
    const ipCols = pick(dir, "src_addr", "dst_addr");
    const all = dir === "all";
    const qualified = dir !== "both";
    switch (w) {
      case "ip":
      case "host":
        this.next();
        return { ...this.host(ipCols), all };
      case "net": {
        this.next();
        const a = this.peek;
        const aw = a.kind === "word" ? a.text.toLowerCase() : "";
        if (NET_TEXT.includes(aw)) {
          this.next();
          return this.text(pick(dir, `src_net_${aw}`, `dst_net_${aw}`), `a network ${aw}`, all);
        }
        return { ...this.net(ipCols), all };
      }
      case "port":
        this.next();
        return this.numeric(pair(dir, "src_port", "dst_port"), U16, "a port number", false, all);
      case "as":
        this.next();
        if (this.isWord("name")) {
          this.next();
          return this.text(pick(dir, "src_as_name", "dst_as_name"), "an AS name", all);
        }
        return this.numeric(pair(dir, "src_as", "dst_as"), U32, "an AS number", false, all);
      case "country":
        this.next();
        return this.text(
          pick(dir, "src_country", "dst_country"),
          "a country code (ISO 3166, 2 letters)",
          all,
          (v) => /^[a-z]{2}$/.test(v) || v === "" || (v.includes("*") && v.length <= 2),
        );
      case "if": {
        if (qualified) break;
        this.next();
        const attr = this.ifAttr(["in", "out"]);
        if (attr) return attr;
        return this.numeric([col("in_if"), col("out_if")], U32, "an interface index");
      }
      case "vlan":
        this.next();
        return this.numeric(pair(dir, "src_vlan", "dst_vlan"), 4095, "a VLAN id", false, all);
      case "tos":
        // One ToS column: the record's; nfdump's dst tos (post-rewrite) is not stored.
        if (dir === "dst" || all) return this.fail(t, `a supported primitive ("dst tos" is not stored)`);
        this.next();
        return this.numeric([col("tos")], U8, "a ToS value");
      case "mask":
        this.next();
        return this.numeric(
          pair(dir, "src_prefix_len", "dst_prefix_len"),
          128,
          "a prefix length",
          false,
          all,
        );
    }
    return this.fail(
      t,
      qualified
        ? `"ip", "host", "net", "port", "as", "country", "vlan", "tos" or "mask" after the direction`
        : "a filter primitive",
    );
  }

  /** `name X`, `speed > N`, `boundary external` … after `in if` / `out if` / `if`; null when no attribute word follows. */
  private ifAttr(sides: string[]): FilterNode | null {
    const a = this.peek;
    const aw = a.kind === "word" ? a.text.toLowerCase() : "";
    if (aw === "speed") {
      this.next();
      return this.numeric(
        sides.map((s) => col(`${s}_if_speed`)),
        U53,
        "an interface speed in bits per second (k/M/G)",
        true,
      );
    }
    if (!IF_TEXT.includes(aw)) return null;
    this.next();
    return this.text(
      sides.map((s) => `${s}_if_${aw}`),
      aw === "boundary" ? `an interface boundary (external, internal or "")` : `an interface ${aw}`,
      false,
      aw === "boundary" ? (v) => BOUNDARY_VALUES.includes(v) : undefined,
    );
  }

  /**
   * A text value (word or "quoted string"), optionally after `=` / `==` /
   * `eq` or `!=` / `ne`, or `in [ v … ]`; lower-cased (comparisons are
   * case-insensitive). `check` validates each value (e.g. country codes).
   */
  private text(columns: string[], what: string, all = false, check?: (v: string) => boolean): FilterNode {
    const one = (): string => {
      const t = this.peek;
      if (t.kind !== "word" && t.kind !== "str") return this.fail(t, what);
      const v = (t.kind === "str" ? t.value! : t.text).toLowerCase();
      if (v.length > MAX_TEXT) return this.fail(t, `${what} (at most ${MAX_TEXT} characters)`);
      if (check && !check(v)) return this.fail(t, what);
      this.next();
      return v;
    };
    if (this.isWord("in")) {
      this.next();
      if (this.peek.kind !== "[") this.fail(this.peek, `"[" to open a list of values`);
      this.next();
      const values: string[] = [];
      const kind = (): string => this.peek.kind;
      while (kind() !== "]") {
        if (kind() === ",") {
          this.next();
          continue;
        }
        values.push(one());
      }
      if (values.length === 0) this.fail(this.peek, what);
      this.next();
      return { type: "str", columns, all, values };
    }
    const t = this.peek;
    const opText = t.kind === "op" ? t.text : t.kind === "word" ? t.text.toLowerCase() : "";
    let negate = false;
    if (opText === "=" || opText === "==" || opText === "eq") this.next();
    else if (opText === "!=" || opText === "ne") {
      this.next();
      negate = true;
    } else if (t.kind === "op") this.fail(t, `"=" or "!=" (text values have no order)`);
    const node: FilterNode = { type: "str", columns, all, values: [one()] };
    return negate ? { type: "not", expr: node } : node;
  }

  /**
   * Optional comparison operator then a number, or `in [ n … ]`.
   * nfdump accepts k/M/G (×1000) suffixes on byte/packet counts.
   */
  private numeric(targets: NumTarget[], max: number, what: string, scaled = false, all = false): FilterNode {
    if (this.isWord("in")) {
      this.next();
      if (this.peek.kind !== "[") this.fail(this.peek, `"[" to open a list of ${what}s`);
      this.next();
      const values: number[] = [];
      const kind = (): string => this.peek.kind;
      while (kind() !== "]") {
        if (kind() === ",") {
          this.next();
          continue;
        }
        values.push(this.number(max, what, scaled));
      }
      if (values.length === 0) this.fail(this.peek, what);
      this.next();
      return { type: "in", targets, all, values };
    }
    let op: CmpOp = "=";
    const t = this.peek;
    const opText = t.kind === "op" ? t.text : t.kind === "word" ? t.text.toLowerCase() : "";
    if ((t.kind === "op" || t.kind === "word") && OPS[opText] !== undefined) {
      op = OPS[opText]!;
      this.next();
    }
    return { type: "cmp", targets, all, op, value: this.number(max, what, scaled) };
  }

  private number(max: number, what: string, scaled = false): number {
    const t = this.peek;
    const m = t.kind === "word" ? /^(0x[0-9a-f]+|\d+)([kmg]?)$/i.exec(t.text) : null;
    if (!m || (!scaled && m[2] !== "")) this.fail(t, what);
    const base = Number(m[1]!);
    const scale = { "": 1, k: 1e3, m: 1e6, g: 1e9 }[m[2]!.toLowerCase()] ?? 1;
    const v = base * scale;
    if (!Number.isSafeInteger(v) || v > max) this.fail(t, `${what} (0..${max})`);
    this.next();
    return v;
  }

  private proto(): FilterNode {
    const t = this.peek;
    if (t.kind === "word") {
      const named = PROTOCOLS[t.text.toLowerCase()];
      if (named !== undefined) {
        this.next();
        return { type: "cmp", targets: [col("protocol")], op: "=", value: named };
      }
    }
    const v = this.number(U8, "a protocol name or number");
    return { type: "cmp", targets: [col("protocol")], op: "=", value: v };
  }

  private flags(): FilterNode {
    const t = this.peek;
    if (t.kind === "word" && /^\d+$/.test(t.text)) {
      const v = this.number(U8, "TCP flags");
      return { type: "flags", mask: v };
    }
    if (t.kind !== "word" || !/^[FSRPAUECX]+$/i.test(t.text)) this.fail(t, "TCP flags (letters FSRPAUECX)");
    let mask = 0;
    for (const ch of t.text.toUpperCase()) mask |= FLAG_BITS[ch]!;
    this.next();
    return { type: "flags", mask };
  }

  private mpls(): FilterNode {
    const t = this.peek;
    const w = t.kind === "word" ? t.text.toLowerCase() : "";
    const m = /^(?:label([1-3])?|any)$/.exec(w);
    if (!m) return this.fail(t, `"label1", "label2", "label3", "label" or "any"`);
    this.next();
    const targets = m[1] ? [col(`mpls_label_${m[1]}`)] : [1, 2, 3].map((k) => col(`mpls_label_${k}`));
    return this.numeric(targets, 0xfffff, "an MPLS label");
  }

  /** `ip A` or `ip in [ A B … ]`. */
  private host(columns: string[]): FilterNode & { type: "ip" } {
    const one = (): Uint8Array => {
      const t = this.peek;
      const a = t.kind === "word" ? parseIp(t.text) : null;
      if (!a) return this.fail(t, "an IPv4 or IPv6 address");
      this.next();
      return a;
    };
    if (!this.isWord("in")) {
      const a = one();
      return { type: "ip", columns, ranges: [{ lo: a, hi: a }] };
    }
    this.next();
    if (this.peek.kind !== "[") this.fail(this.peek, `"[" to open a list of addresses`);
    this.next();
    const ranges: { lo: Uint8Array; hi: Uint8Array }[] = [];
    const kind = (): string => this.peek.kind;
    while (kind() !== "]") {
      if (kind() === ",") {
        this.next();
        continue;
      }
      const a = one();
      ranges.push({ lo: a, hi: a });
    }
    if (ranges.length === 0) this.fail(this.peek, "an IPv4 or IPv6 address");
    this.next();
    return { type: "ip", columns, ranges };
  }

  /** `net A/len`, `net A M`, `net A mask M`; IPv4 nets may be abbreviated (`172.16/16`). */
  private net(columns: string[]): FilterNode & { type: "ip" } {
    const t = this.peek;
    if (t.kind !== "word") return this.fail(t, "a network (address/length)");
    const slash = t.text.indexOf("/");
    const addrText = slash < 0 ? t.text : t.text.slice(0, slash);
    const v4 = !addrText.includes(":");
    const addr = parseIp(v4 ? padV4(addrText) : addrText);
    if (!addr) return this.fail(t, "a network (address/length)");
    this.next();
    let len: number;
    if (slash >= 0) {
      const lt = t.text.slice(slash + 1);
      len = /^\d{1,3}$/.test(lt) ? Number(lt) : -1;
      if (len < 0 || len > (v4 ? 32 : 128)) {
        throw new FilterError(t.pos + slash + 1, lt, `a prefix length (0..${v4 ? 32 : 128})`);
      }
    } else {
      // nfdump writes the mask right after the address; "mask" is accepted too.
      if (this.isWord("mask")) this.next();
      const mt = this.peek;
      const mask = mt.kind === "word" ? parseIp(mt.text) : null;
      const ml = mask && v4 === !mt.text.includes(":") ? contiguous(mask, v4) : -1;
      if (ml < 0) return this.fail(mt, "/length or a contiguous netmask of the network's family");
      this.next();
      len = ml;
    }
    const bits = v4 ? 96 + len : len;
    const lo = new Uint8Array(addr);
    const hi = new Uint8Array(addr);
    // Host bits of the address are ignored, as nfdump masks them off.
    for (let b = bits; b < 128; b++) {
      const byte = b >> 3;
      const bit = 0x80 >> (b & 7);
      lo[byte]! &= ~bit;
      hi[byte]! |= bit;
    }
    return { type: "ip", columns, ranges: [{ lo, hi }] };
  }
}

/** Abbreviated IPv4 net (`10`, `172.16`, `192.168.1`) → four octets. */
function padV4(s: string): string {
  const parts = s.split(".");
  if (parts.length < 1 || parts.length > 4 || parts.some((p) => p === "")) return s;
  while (parts.length < 4) parts.push("0");
  return parts.join(".");
}

/** Prefix length of a contiguous netmask (16 bytes, v4 mapped), else -1. */
function contiguous(mask: Uint8Array, v4: boolean): number {
  let len = 0;
  let ended = false;
  for (let b = v4 ? 96 : 0; b < 128; b++) {
    const set = (mask[b >> 3]! & (0x80 >> (b & 7))) !== 0;
    if (set && ended) return -1;
    if (set) len++;
    else ended = true;
  }
  return len;
}

/** Parse an nfdump filter into an AST; throws FilterError. */
export function parseFilter(src: string): FilterNode {
  return new Parser(tokenize(src)).parse();
}
