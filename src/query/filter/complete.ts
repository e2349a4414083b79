// Completion for the nfdump filter box (web/src/completion.ts draws it).
//
// Given the text and the cursor, what may come next at the cursor: keywords
// and operators the grammar allows there (the same grammar as parser.ts:
// or-expr / and-expr / unary / primitive), and, where a value of a flow
// column is due ("dst as ", "port ", "proto ", "in if ", "ip " …), that
// column, so the UI can ask GET /api/v1/flows/values for the values seen in
// the range. Pure and DOM-free: the web bundle and the node tests import it.
// It walks the tokens before the word under the cursor with a small state
// machine rather than running the parser, because the text is incomplete by
// nature and the parser stops at the first error; anything it cannot follow
// yields no suggestion instead of a wrong one.
import { tokenize, type Token } from "./lexer.js";
import { PROTOCOLS } from "./parser.js";

export interface Suggestion {
  /** Shown in the list. */
  label: string;
  /** Replaces the word under the cursor (a trailing space when another word follows). */
  insert: string;
  detail?: string;
  kind: "keyword" | "operator" | "value";
}

export interface Completion {
  /** The word under the cursor spans [from, to); a suggestion replaces it. */
  from: number;
  to: number;
  /** Text of that word before the cursor (what the suggestions are filtered by). */
  prefix: string;
  /** Keywords and operators allowed here that start with the prefix. */
  suggestions: Suggestion[];
  /** A value of this flow column is allowed here: ask /api/v1/flows/values?column=…&prefix=…. */
  column: string | null;
  /**
   * The filter the primitive under the cursor is and-ed with (the text before
   * the last top-level `and`), so values can be looked up among the flows it
   * selects; null when there is none or an `or` makes it not a plain and.
   */
  context: string | null;
}

/** IANA protocol numbers by name, one name per number (the parser's, without aliases such as ipv6-icmp). */
export const PROTOCOL_NAMES: Readonly<Record<string, number>> = Object.fromEntries(
  Object.entries(PROTOCOLS).filter(([, n], i, all) => all.findIndex(([, m]) => m === n) === i),
);

const kw = (label: string, detail: string, insert = `${label} `): Suggestion => ({
  label,
  insert,
  detail,
  kind: "keyword",
});
const op = (label: string, detail: string, insert = `${label} `): Suggestion => ({
  label,
  insert,
  detail,
  kind: "operator",
});

/** Primitives that start a unary expression (nfdump(1) FILTER). */
const PRIMITIVES: Suggestion[] = [
  kw("src", "source qualifier: src ip|net|port|as|vlan|mask …"),
  kw("dst", "destination qualifier"),
  kw("ip", "ip address (source or destination)"),
  kw("host", "same as ip"),
  kw("net", "network a.b.c.d/len"),
  kw("port", "transport port"),
  kw("as", "AS number"),
  kw("if", "interface index (in or out)"),
  kw("in if", "input interface index"),
  kw("out if", "output interface index"),
  kw("vlan", "VLAN id"),
  kw("tos", "ToS byte"),
  kw("mask", "prefix length"),
  kw("proto", "IP protocol: tcp, udp, icmp, number"),
  kw("flags", "TCP flags: letters FSRPAUEC"),
  kw("bytes", "bytes [op] n (k/M/G)"),
  kw("packets", "packets [op] n"),
  kw("flows", "flows [op] n"),
  kw("bps", "bits per second [op] n"),
  kw("pps", "packets per second [op] n"),
  kw("bpp", "bytes per packet [op] n"),
  kw("duration", "duration in ms [op] n"),
  kw("mpls", "mpls label1|label2|label3|any"),
  kw("icmp-type", "ICMP type"),
  kw("icmp-code", "ICMP code"),
  kw("ipv4", "IPv4 flows"),
  kw("ipv6", "IPv6 flows"),
  kw("any", "every flow"),
  kw("not", "negation"),
  op("(", "group", "("),
];
const DIRECTED: Suggestion[] = [
  kw("ip", "address"),
  kw("host", "address"),
  kw("net", "network a.b.c.d/len"),
  kw("port", "transport port"),
  kw("as", "AS number"),
  kw("vlan", "VLAN id"),
  kw("tos", "ToS byte"),
  kw("mask", "prefix length"),
];
const COMPARE: Suggestion[] = [
  op("=", "equal"),
  op("!=", "not equal"),
  op(">", "greater"),
  op("<", "less"),
  op(">=", "greater or equal"),
  op("<=", "less or equal"),
  op("in [", "one of a list", "in [ "),
];
const FLAGS: Suggestion[] = [
  kw("S", "SYN"),
  kw("SA", "SYN+ACK"),
  kw("A", "ACK"),
  kw("F", "FIN"),
  kw("R", "RST"),
  kw("P", "PSH"),
  kw("U", "URG"),
  kw("E", "ECE"),
  kw("C", "CWR"),
  kw("X", "all of FSRPAU"),
];

type Dir = "src" | "dst" | "both" | "all";
type State =
  | { k: "expr" }
  | { k: "after" }
  | { k: "dir"; dir: Dir }
  | { k: "dirconj"; other: "src" | "dst"; conj: "and" | "or" }
  | { k: "if"; col: string }
  | { k: "num"; col: string | null }
  | { k: "numval"; col: string | null }
  | { k: "listopen"; col: string | null }
  | { k: "list"; col: string | null }
  | { k: "proto" }
  | { k: "flags" }
  | { k: "host"; col: string }
  | { k: "net" }
  | { k: "netmask" }
  | { k: "maskval" }
  | { k: "mpls" }
  | { k: "value"; col: string | null }
  | { k: "dead" };

/** The column whose values complete a primitive: the destination one when no direction was given (service port, remote AS). */
const pick = (dir: Dir, src: string, dst: string): string => (dir === "src" ? src : dst);

const WORD = /[A-Za-z0-9_.:/-]/;
const OP_WORDS = new Set(["eq", "ne", "gt", "lt", "ge", "le"]);

function directedWord(dir: Dir, w: string): State {
  switch (w) {
    case "ip":
    case "host":
      return { k: "host", col: pick(dir, "src_addr", "dst_addr") };
    case "net":
      return { k: "net" };
    case "port":
      return { k: "num", col: pick(dir, "src_port", "dst_port") };
    case "as":
      return { k: "num", col: pick(dir, "src_as", "dst_as") };
    case "if":
      return dir === "both" ? { k: "num", col: "in_if" } : { k: "dead" };
    case "vlan":
      return { k: "num", col: pick(dir, "src_vlan", "dst_vlan") };
    case "tos":
      return dir === "dst" || dir === "all" ? { k: "dead" } : { k: "num", col: "tos" };
    case "mask":
      return { k: "num", col: pick(dir, "src_prefix_len", "dst_prefix_len") };
  }
  return { k: "dead" };
}

function primitive(w: string): State {
  switch (w) {
    case "src":
    case "dst":
      return { k: "dir", dir: w };
    case "in":
      return { k: "if", col: "in_if" };
    case "out":
      return { k: "if", col: "out_if" };
    case "any":
    case "ipv4":
    case "inet":
    case "ipv6":
    case "inet6":
      return { k: "after" };
    case "proto":
      return { k: "proto" };
    case "flags":
      return { k: "flags" };
    case "bytes":
    case "packets":
    case "flows":
    case "bps":
    case "pps":
    case "bpp":
    case "duration":
      return { k: "num", col: null };
    case "mpls":
      return { k: "mpls" };
    case "icmp-type":
      return { k: "value", col: "icmp_type" };
    case "icmp-code":
      return { k: "value", col: "icmp_code" };
  }
  return directedWord("both", w);
}

/** One token on from state `s`; `depth` counts open parentheses. */
function step(s: State, t: Token, depth: { n: number }): State {
  const w = t.kind === "word" ? t.text.toLowerCase() : "";
  switch (s.k) {
    case "expr":
      if (t.kind === "!" || w === "not") return s;
      if (t.kind === "(") {
        depth.n++;
        return s;
      }
      return t.kind === "word" ? primitive(w) : { k: "dead" };
    case "after":
      if (t.kind === "&&" || t.kind === "||" || w === "and" || w === "or") return { k: "expr" };
      if (t.kind === ")" && depth.n > 0) {
        depth.n--;
        return s;
      }
      return { k: "dead" };
    case "dir":
      if ((w === "and" || w === "or") && (s.dir === "src" || s.dir === "dst"))
        return { k: "dirconj", other: s.dir === "src" ? "dst" : "src", conj: w };
      return t.kind === "word" ? directedWord(s.dir, w) : { k: "dead" };
    case "dirconj":
      return w === s.other ? { k: "dir", dir: s.conj === "and" ? "all" : "both" } : { k: "dead" };
    case "if":
      return w === "if" ? { k: "num", col: s.col } : { k: "dead" };
    case "num":
      if (w === "in") return { k: "listopen", col: s.col };
      if (t.kind === "op" || OP_WORDS.has(w)) return { k: "numval", col: s.col };
      return t.kind === "word" ? { k: "after" } : { k: "dead" };
    case "numval":
    case "value":
    case "proto":
    case "flags":
    case "maskval":
      return t.kind === "word" ? { k: "after" } : { k: "dead" };
    case "listopen":
      return t.kind === "[" ? { k: "list", col: s.col } : { k: "dead" };
    case "list":
      if (t.kind === "]") return { k: "after" };
      return t.kind === "word" || t.kind === "," ? s : { k: "dead" };
    case "host":
      if (w === "in") return { k: "listopen", col: s.col };
      return t.kind === "word" ? { k: "after" } : { k: "dead" };
    case "net":
      if (t.kind !== "word") return { k: "dead" };
      return t.text.includes("/") ? { k: "after" } : { k: "netmask" };
    case "netmask":
      if (w === "mask") return { k: "maskval" };
      return t.kind === "word" ? { k: "after" } : { k: "dead" };
    case "mpls": {
      const m = /^(?:label([1-3])?|any)$/.exec(w);
      return m ? { k: "num", col: m[1] ? `mpls_label_${m[1]}` : "mpls_label_1" } : { k: "dead" };
    }
    case "dead":
      return s;
  }
}

/** What may be typed at `cursor` in `text`. */
export function complete(text: string, cursor: number = text.length): Completion {
  let from = Math.max(0, Math.min(cursor, text.length));
  while (from > 0 && WORD.test(text[from - 1]!)) from--;
  let to = Math.max(from, Math.min(cursor, text.length));
  const prefix = text.slice(from, to);
  while (to < text.length && WORD.test(text[to]!)) to++;
  const none: Completion = { from, to, prefix, suggestions: [], column: null, context: null };

  let toks: Token[];
  try {
    toks = tokenize(text.slice(0, from));
  } catch {
    return none;
  }
  let s: State = { k: "expr" };
  const depth = { n: 0 };
  let lastAnd = -1;
  let or = false;
  for (const t of toks) {
    if (t.kind === "end") break;
    const connective = s.k === "after" && depth.n === 0;
    s = step(s, t, depth);
    if (connective && s.k === "expr") {
      if (t.kind === "&&" || t.text.toLowerCase() === "and") lastAnd = t.pos;
      else or = true;
    }
  }
  const context = lastAnd >= 0 && !or ? text.slice(0, lastAnd).trim() : null;

  let list: Suggestion[] = [];
  let column: string | null = null;
  switch (s.k) {
    case "expr":
      list = PRIMITIVES;
      break;
    case "after":
      list = [kw("and", "both must hold"), kw("or", "either holds")];
      if (depth.n > 0) list.push(op(")", "close group", ") "));
      break;
    case "dir":
      list = DIRECTED.filter((d) => d.label !== "tos" || s.dir === "src" || s.dir === "both");
      if (s.dir === "src" || s.dir === "dst") {
        const other = s.dir === "src" ? "dst" : "src";
        list = [
          ...list,
          kw(`and ${other}`, "both directions must match"),
          kw(`or ${other}`, "either direction"),
        ];
      }
      break;
    case "dirconj":
      list = [kw(s.other, "direction")];
      break;
    case "if":
      list = [kw("if", "interface")];
      break;
    case "num":
      list = COMPARE;
      column = s.col;
      break;
    case "numval":
    case "value":
      column = s.col;
      break;
    case "listopen":
      list = [op("[", "open list", "[ ")];
      break;
    case "list":
      list = [op("]", "close list", "] ")];
      column = s.col;
      break;
    case "proto":
      list = Object.entries(PROTOCOL_NAMES).map(([n, v]) => ({
        label: n,
        insert: `${n} `,
        detail: `protocol ${v}`,
        kind: "value" as const,
      }));
      column = "protocol";
      break;
    case "flags":
      list = FLAGS;
      break;
    case "host":
      list = [op("in [", "one of a list", "in [ ")];
      column = s.col;
      break;
    case "netmask":
      list = [kw("mask", "netmask follows")];
      break;
    case "mpls":
      list = ["label1", "label2", "label3", "label", "any"].map((l) => kw(l, "MPLS label"));
      break;
    case "net":
    case "maskval":
    case "dead":
      break;
  }
  const p = prefix.toLowerCase();
  // Operators are punctuation: the lexer ends a word before them, so they only follow a space.
  const suggestions = list.filter((x) =>
    x.kind === "operator" && /^[^a-z]/i.test(x.label) ? p === "" : x.label.toLowerCase().startsWith(p),
  );
  return { from, to, prefix, suggestions, column, context: column ? context : null };
}

/** A value from /api/v1/flows/values as a suggestion for `column` (protocols by name where the filter knows it). */
export function valueSuggestion(column: string, value: unknown, bytes?: number): Suggestion {
  const v = String(value);
  let label = v;
  if (column === "protocol") {
    const name = Object.entries(PROTOCOL_NAMES).find(([, n]) => String(n) === v)?.[0];
    if (name) label = name;
  }
  const detail = bytes === undefined ? column : `${column} · ${formatBytes(bytes)}`;
  return { label, insert: `${label} `, detail, kind: "value" };
}

function formatBytes(n: number): string {
  const u = ["B", "kB", "MB", "GB", "TB", "PB"];
  let i = 0;
  while (n >= 1000 && i < u.length - 1) {
    n /= 1000;
    i++;
  }
  return `${n >= 100 || i === 0 ? n.toFixed(0) : n.toFixed(1)} ${u[i]}`;
}

/** Apply a suggestion: the new text and cursor. */
export function applySuggestion(
  text: string,
  c: Completion,
  s: Suggestion,
): { text: string; cursor: number } {
  const rest = text.slice(c.to).replace(/^ +/, s.insert.endsWith(" ") ? "" : "$&");
  const before = text.slice(0, c.from) + s.insert;
  return { text: before + rest, cursor: before.length };
}
