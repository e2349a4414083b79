// Filter completion (complete.ts): what it offers at the cursor must be what
// the parser accepts there. Every keyword offered after a prefix, completed
// with a sample value where one is due, must parse; and the value columns
// named must be real schema columns that the filter's primitive reads.
import assert from "node:assert/strict";
import { test } from "node:test";
import { FLOW_COLUMNS } from "../../schema.js";
import { applySuggestion, complete, valueSuggestion } from "./complete.js";
import { parseFilter } from "./parser.js";
import { filterColumns } from "../planner/planner.js";

const labels = (text: string, cursor?: number): string[] =>
  complete(text, cursor).suggestions.map((s) => s.label);

test("start of filter: primitives, not and ( — nothing after-only", () => {
  const l = labels("");
  for (const k of ["src", "dst", "proto", "port", "as", "in if", "out if", "flags", "bytes", "not", "("])
    assert.ok(l.includes(k), k);
  assert.ok(!l.includes("and") && !l.includes(")"));
  assert.deepEqual(labels("pr"), ["proto"]);
  assert.deepEqual(labels("in"), ["in if"]);
  assert.deepEqual(labels("(not "), labels(""));
});

test("after a complete primitive: and / or, ) only inside a group", () => {
  assert.deepEqual(labels("proto tcp "), ["and", "or"]);
  assert.deepEqual(labels("(proto tcp "), ["and", "or", ")"]);
  assert.deepEqual(labels("(proto tcp) "), ["and", "or"]);
  assert.deepEqual(labels("proto tcp a"), ["and"]);
  assert.deepEqual(labels("proto tcp and "), labels(""));
  assert.deepEqual(labels("dst net 10.0.0.0/8 "), ["and", "or"]);
  assert.deepEqual(labels("net 10.0.0.0 "), ["mask"]);
});

test("after a direction: the directed primitives; dst has no tos", () => {
  const src = labels("src ");
  for (const k of ["ip", "host", "net", "port", "as", "vlan", "tos", "mask", "and dst", "or dst"])
    assert.ok(src.includes(k), k);
  assert.ok(!labels("dst ").includes("tos"));
  assert.deepEqual(labels("src a"), ["as", "and dst"]);
  assert.deepEqual(labels("src and "), ["dst"]);
  assert.ok(labels("src and dst ").includes("port"));
});

test("value positions name the column to ask /api/v1/flows/values for", () => {
  const col = (t: string): string | null => complete(t).column;
  assert.equal(col("dst as "), "dst_as");
  assert.equal(col("src as 65"), "src_as");
  assert.equal(col("as "), "dst_as");
  assert.equal(col("dst port "), "dst_port");
  assert.equal(col("port > "), "dst_port");
  assert.equal(col("src port in [ 80 "), "src_port");
  assert.equal(col("proto "), "protocol");
  assert.equal(col("in if "), "in_if");
  assert.equal(col("out if "), "out_if");
  assert.equal(col("src ip "), "src_addr");
  assert.equal(col("host 10."), "dst_addr");
  assert.equal(col("src vlan "), "src_vlan");
  assert.equal(col("icmp-type "), "icmp_type");
  assert.equal(col("proto tcp "), null);
  assert.equal(col("bytes > "), null, "counters have no value list");
  assert.equal(col(""), null);
  for (const t of [
    "dst as ",
    "dst port ",
    "proto ",
    "in if ",
    "src ip ",
    "src vlan ",
    "icmp-type ",
    "mask ",
  ]) {
    const c = col(t);
    assert.ok(
      FLOW_COLUMNS.some((x) => x.name === c),
      `${t} → ${c}`,
    );
  }
  // The column offered is one the completed primitive really filters on.
  for (const [t, v] of [
    ["dst as ", "65000"],
    ["src port ", "53"],
    ["in if ", "3"],
    ["src ip ", "10.0.0.1"],
    ["icmp-type ", "8"],
  ] as const) {
    assert.ok(filterColumns(parseFilter(t + v)).has(col(t)!), t);
  }
  assert.ok(labels("dst port ").includes("="));
  assert.ok(labels("dst port ").includes("in ["));
  assert.deepEqual(labels("dst port 4"), [], "operators are not offered inside a number");
  assert.deepEqual(labels("proto t"), ["tcp"]);
});

test("every offered keyword, completed with a value where due, parses", () => {
  const sample: Record<string, string> = {
    src_addr: "10.0.0.1",
    dst_addr: "10.0.0.1",
    protocol: "6",
  };
  const starts = ["", "src ", "dst ", "src and dst ", "not ", "proto udp and ", "(port 53 or "];
  let checked = 0;
  for (const start of starts) {
    for (const s of complete(start).suggestions) {
      let text = start + s.insert;
      // Follow the grammar until a complete filter: keywords, then a value.
      for (let i = 0; i < 5; i++) {
        const c = complete(text);
        const kwd = c.suggestions.find(
          (x) => x.kind === "keyword" && x.label !== "not" && x.label !== "mask",
        );
        if (c.column) {
          text += `${sample[c.column] ?? "1"} `;
        } else if (/^\(|not $/.test(s.insert) && i === 0) {
          text += "any ";
        } else if (c.suggestions.some((x) => x.label === "and")) {
          break;
        } else if (c.suggestions.some((x) => x.label === "tcp")) {
          text += "tcp ";
        } else if (c.suggestions.some((x) => x.label === "S")) {
          text += "S ";
        } else if (/(bytes|packets|flows|bps|pps|bpp|duration) $/.test(text)) {
          text += "> 10 ";
        } else if (/net $/.test(text)) {
          text += "10.0.0.0/8 ";
        } else if (kwd) {
          text += kwd.insert;
        } else break;
      }
      for (let i = 0; i < 3 && complete(text).suggestions.some((x) => x.label === ")"); i++) text += ") ";
      assert.doesNotThrow(() => parseFilter(text), `${JSON.stringify(text)} (from ${s.label})`);
      checked++;
    }
  }
  assert.ok(checked > 50, `${checked} checked`);
});

test("cursor in the middle: the word under it is replaced, the rest kept", () => {
  const text = "proto tcp and dst po 443";
  const cursor = "proto tcp and dst po".length;
  const c = complete(text, cursor);
  assert.equal(c.prefix, "po");
  assert.deepEqual(
    c.suggestions.map((s) => s.label),
    ["port"],
  );
  const r = applySuggestion(text, c, c.suggestions[0]!);
  assert.equal(r.text, "proto tcp and dst port 443");
  assert.equal(r.text.slice(0, r.cursor), "proto tcp and dst port ");
  assert.doesNotThrow(() => parseFilter(r.text));
  // Replaces the whole word, also the part after the cursor.
  const c2 = complete("proto tc", 7);
  assert.equal(applySuggestion("proto tc", c2, c2.suggestions[0]!).text, "proto tcp ");
});

test("text the grammar cannot follow gives nothing rather than a guess", () => {
  assert.deepEqual(complete("proto tcp port ").suggestions, []);
  assert.equal(complete("proto tcp port ").column, null);
  assert.deepEqual(complete("dst tos ").suggestions, []);
  assert.deepEqual(complete("proto 'x ").suggestions, []);
  assert.deepEqual(complete("proto tcp) ").suggestions, []);
});

test("value suggestions: protocol numbers by name, others as text", () => {
  assert.equal(valueSuggestion("protocol", 6, 1500).insert, "tcp ");
  assert.equal(valueSuggestion("protocol", 250).insert, "250 ");
  assert.equal(valueSuggestion("dst_as", 65000, 2_500_000).detail, "dst_as · 2.5 MB");
  assert.equal(valueSuggestion("src_addr", "2001:db8::1").label, "2001:db8::1");
});

test("context: the filter a value is and-ed with, when it is a plain and", () => {
  const ctx = (t: string): string | null => complete(t).context;
  assert.equal(ctx("dst as "), null);
  assert.equal(ctx("proto tcp and dst port "), "proto tcp");
  assert.equal(ctx("proto tcp && src as 6"), "proto tcp");
  assert.equal(ctx("(proto tcp or proto udp) and not dst port "), "(proto tcp or proto udp)");
  assert.equal(ctx("proto tcp and src as 1 and in if "), "proto tcp and src as 1");
  assert.equal(ctx("proto tcp and (src as 1 or dst port "), "proto tcp");
  // a or b and X is a or (b and X): no single filter holds X's flows.
  assert.equal(ctx("proto udp or proto tcp and dst port "), null);
  assert.equal(ctx("proto tcp or dst port "), null);
  assert.equal(ctx("proto tcp and "), null, "no value due, no context");
  for (const t of ["proto tcp and dst port ", "(proto tcp or proto udp) and not dst port "])
    assert.doesNotThrow(() => parseFilter(ctx(t)!));
});
