// Filter lexer. nfdump's filter words are runs of letters, digits and the
// characters that occur inside addresses, nets and keywords (`.` `:` `/` `-`
// `_`), so `10.0.0.0/8`, `2001:db8::/32` and `icmp-type` are single words.
// Punctuation is the boolean operators, parentheses, list brackets and
// comparison operators. A double-quoted string ("Transit: NTT", with \" and
// \\ escapes) is one "str" token, for the text values of the enrichment
// primitives (`dst as name "GOOGLE"`); only those accept it, and its text
// becomes a bound parameter. Any other character (single quotes, `;`, `--`
// comments are words, …) is a lexer error: nothing of the user's text ever
// reaches SQL.

import { FilterError } from "./errors.js";

export type TokenKind = "word" | "str" | "(" | ")" | "[" | "]" | "," | "!" | "&&" | "||" | "op" | "end";

export interface Token {
  readonly kind: TokenKind;
  /** Source text (for "word", "op" and "str", quotes included), "" for "end". */
  readonly text: string;
  /** A "str" token's contents, unescaped. */
  readonly value?: string;
  /** 0-based character offset in the filter. */
  readonly pos: number;
}

const WORD = /[A-Za-z0-9_.:/-]/;

export function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (c === " " || c === "\t" || c === "\n" || c === "\r") {
      i++;
      continue;
    }
    const two = src.slice(i, i + 2);
    if (two === "&&" || two === "||") {
      out.push({ kind: two, text: two, pos: i });
      i += 2;
      continue;
    }
    if (two === ">=" || two === "<=" || two === "==" || two === "!=") {
      out.push({ kind: "op", text: two, pos: i });
      i += 2;
      continue;
    }
    if (c === ">" || c === "<" || c === "=") {
      out.push({ kind: "op", text: c, pos: i });
      i++;
      continue;
    }
    if (c === "(" || c === ")" || c === "[" || c === "]" || c === "," || c === "!") {
      out.push({ kind: c, text: c, pos: i });
      i++;
      continue;
    }
    if (c === '"') {
      const start = i;
      let text = "";
      i++;
      for (;;) {
        if (i >= src.length) throw new FilterError(start, '"', "a closing quote for the string");
        const d = src[i]!;
        if (d === '"') break;
        if (d === "\\" && (src[i + 1] === '"' || src[i + 1] === "\\")) {
          text += src[i + 1];
          i += 2;
          continue;
        }
        text += d;
        i++;
      }
      i++;
      out.push({ kind: "str", text: src.slice(start, i), value: text, pos: start });
      continue;
    }
    if (WORD.test(c)) {
      const start = i;
      while (i < src.length && WORD.test(src[i]!)) i++;
      out.push({ kind: "word", text: src.slice(start, i), pos: start });
      continue;
    }
    throw new FilterError(i, c, "a filter word, operator or parenthesis");
  }
  out.push({ kind: "end", text: "", pos: src.length });
  return out;
}
