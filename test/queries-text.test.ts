// The query editor's text logic (web/src/sql-text.ts) against the real
// server side: the schema the editor completes from is the one the SQL
// service lists for a real store (views and column types of
// src/query/sql), the placeholders it finds are those the server's renderer
// (src/content/params.ts) renders, and the SQL the editor sends (the
// function list, the row count) runs in the real sandbox.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { findPlaceholders, renderSql } from "../src/content/params.js";
import { SqlService } from "../src/query/sql/service.js";
import { StoreWriter } from "../src/store/writer.js";
import {
  FUNCTIONS_SQL,
  completionsAt,
  countSql,
  extractParams,
  guessParamType,
  inCommentOrString,
  initialValues,
  parseDefault,
  referencedViews,
  syncParamDefs,
  tokenizeSql,
  type SchemaSnapshot,
} from "../web/src/sql-text.js";

const dir = mkdtempSync(join(tmpdir(), "nagare-qtext-"));
const writer = new StoreWriter({ config: { path: join(dir, "flows.duckdb"), intervalMs: 1000 } });
const sql = new SqlService(() => writer.database, { timeoutMs: 10_000, maxRows: 10_000 });
const schema: SchemaSnapshot = { views: [], columns: new Map(), functions: [] };

before(async () => {
  await writer.start();
  await sql.start();
  schema.views = sql.listViews();
  for (const v of schema.views) schema.columns.set(v, (await sql.listColumns(v)) ?? []);
});
after(async () => {
  await sql.stop();
  await writer.stop();
  rmSync(dir, { recursive: true, force: true });
});

const columnType = (c: string): string | undefined => {
  for (const cols of schema.columns.values()) {
    const x = cols.find((y) => y.name === c);
    if (x) return x.type;
  }
  return undefined;
};

test("the function list query runs in the sandbox and names DuckDB's functions", async () => {
  const r = await sql.query(FUNCTIONS_SQL, { limit: 5000 });
  const names = r.rows.map((x) => String(x[0]));
  for (const f of ["count", "sum", "date_trunc", "time_bucket", "approx_count_distinct", "regexp_matches"])
    assert.ok(names.includes(f), `${f} missing from ${names.length} functions`);
  assert.ok(!names.some((n) => n.startsWith("_")), "internal functions offered");
});

test("completion: columns of the views the query reads, then views, keywords, functions", () => {
  assert.ok(schema.views.includes("flows"), `views: ${schema.views.join(",")}`);
  const flowsCols = schema.columns.get("flows")!.map((c) => c.name);
  assert.ok(flowsCols.includes("dst_port"));

  let text = "SELECT dst_p FROM flows";
  let r = completionsAt(text, "SELECT dst_p".length, schema);
  assert.equal(r.word, "dst_p");
  assert.equal(r.from, "SELECT ".length);
  assert.equal(r.items[0]?.text, "dst_port");
  assert.equal(r.items[0]?.kind, "column");
  assert.equal(r.items[0]?.detail, columnType("dst_port"));

  // After "alias." only that view's columns, every one of them.
  text = "SELECT f. FROM flows_1m AS f";
  r = completionsAt(text, "SELECT f.".length, schema);
  assert.deepEqual(
    r.items.map((c) => c.text),
    schema.columns
      .get("flows_1m")!
      .map((c) => c.name)
      .slice(0, 50),
  );
  assert.ok(r.items.every((c) => c.kind === "column"));
  assert.deepEqual(
    [...referencedViews(text, schema.views)],
    [
      ["flows_1m", "flows_1m"],
      ["f", "flows_1m"],
    ],
  );

  // Views and keywords by prefix; infix matches come after prefix ones.
  text = "SELECT * FROM flo";
  r = completionsAt(text, text.length, schema);
  assert.deepEqual(
    r.items.filter((c) => c.kind === "view").map((c) => c.text),
    schema.views.filter((v) => v.startsWith("flo")),
  );
  text = "SELECT sele";
  r = completionsAt(text, text.length, schema);
  assert.equal(r.items[0]?.text, "SELECT");
  text = "SELECT port FROM flows";
  r = completionsAt(text, "SELECT port".length, schema);
  assert.ok(r.items.length > 0 && r.items.every((c) => c.text.toLowerCase().includes("port")));
  assert.ok(r.items.some((c) => c.text === "dst_port"));
});

test("highlighting tokens cover the text and classify it", () => {
  const text =
    "-- top ports\nSELECT dst_port, sum(bytes) / 1e3 AS kb, 'it''s' AS s /* c */\nFROM \"flows\" WHERE protocol = {{ proto }} LIMIT 10";
  const toks = tokenizeSql(text);
  assert.equal(toks.map((t) => t.text).join(""), text);
  const of = (type: string): string[] => toks.filter((t) => t.type === type).map((t) => t.text);
  assert.deepEqual(of("comment"), ["-- top ports", "/* c */"]);
  assert.deepEqual(of("string"), ["'it''s'"]);
  assert.deepEqual(of("number"), ["1e3", "10"]);
  assert.deepEqual(of("param"), ["{{ proto }}"]);
  assert.deepEqual(of("keyword"), ["SELECT", "AS", "AS", "FROM", "WHERE", "LIMIT"]);
  // Unclosed string / comment while typing: to the end, no token lost.
  for (const t of ["SELECT 'abc", "SELECT 1 /* open", 'SELECT "x'])
    assert.equal(
      tokenizeSql(t)
        .map((x) => x.text)
        .join(""),
      t,
    );
  assert.equal(inCommentOrString("SELECT 1 -- abc", 15), true);
  assert.equal(inCommentOrString("SELECT 1 -- abc\nSEL", 19), false);
  assert.equal(inCommentOrString("SELECT 'ab", 10), true);
  assert.equal(inCommentOrString("SELECT 'ab' AS x", 16), false);
});

test("placeholders: the editor finds exactly those the server renders", () => {
  const texts = [
    "SELECT * FROM flows WHERE protocol = {{ proto }} AND dst_port = {{port}}",
    "SELECT * FROM flows WHERE time_received BETWEEN {{ r.start }} AND {{ r.end }} -- {{ not_me }}",
    "SELECT {{a}} /* {{ b }} */, {{ c }}, {{a}}",
    "SELECT {{ x }} FROM flows LIMIT {{ n }}",
  ];
  for (const t of texts) {
    const server = [...new Set(findPlaceholders(t).map((p) => p.name))];
    assert.deepEqual(extractParams(t), server, t);
  }
  assert.deepEqual(extractParams(texts[1]!), ["r"]);
});

test("a new parameter's type comes from the column it is compared with", async () => {
  const text =
    "SELECT dst_port, sum(bytes) AS bytes FROM flows WHERE protocol = {{ proto }} AND time_received >= {{ since }} AND time_received < {{ r.end }} AND src_addr_text = {{ ip }} AND in_if IN ({{ ifs }}) GROUP BY 1 LIMIT {{ n }} OFFSET {{ skip }}";
  const defs = syncParamDefs(text, [], columnType);
  assert.deepEqual(
    defs.map((d) => [d.name, d.type]),
    [
      ["proto", "number"],
      ["since", "date"],
      ["r", "daterange"],
      ["ip", "text"],
      ["ifs", "number"],
      ["n", "number"],
      ["skip", "number"],
    ],
  );
  // Without the schema (not loaded yet) a compared parameter is text; LIMIT still a number.
  assert.equal(guessParamType(text, "proto"), "text");
  assert.equal(guessParamType(text, "n"), "number");
  // Existing definitions are kept, removed names dropped.
  const kept = syncParamDefs("SELECT {{ proto }}", [{ name: "proto", type: "list", options: ["6", "17"] }]);
  assert.deepEqual(kept, [{ name: "proto", type: "list", options: ["6", "17"] }]);

  // What the form sends renders on the server and runs: proto = 6 ('6' typed before the type was known).
  const values = initialValues(defs, {
    proto: "6",
    since: "now-1h",
    r: { start: "now-2h", end: "now" },
    ip: "10.0.0.1",
  });
  assert.equal(values.proto, 6);
  const rendered = renderSql(text, defs, values, Date.now());
  assert.match(rendered, /protocol =\s*6\s/);
  assert.equal(columnType("src_addr_text"), "VARCHAR");
  const res = await sql.query(rendered);
  assert.deepEqual(
    res.columns.map((c) => c.name),
    ["dst_port", "bytes"],
  );
});

test("defaults typed in the definitions editor take the type's shape", () => {
  assert.deepEqual(parseDefault("daterange", "now-7d..now"), { start: "now-7d", end: "now" });
  assert.equal(parseDefault("number", "17"), 17);
  assert.equal(parseDefault("number", "x"), undefined);
  assert.deepEqual(parseDefault("list", "6, 17", true), ["6", "17"]);
  assert.equal(parseDefault("text", ""), undefined);
});

test("the row count the editor asks for is the result's row count", async () => {
  for (const [text, n] of [
    ["SELECT range AS n FROM range(12345) ORDER BY n;  ", 12345],
    ["SELECT * FROM range(7) -- trailing comment", 7],
    ["SELECT count(*) FROM flows", 1],
  ] as const) {
    const r = await sql.query(countSql(text));
    assert.equal(Number(r.rows[0]?.[0]), n, text);
  }
});
