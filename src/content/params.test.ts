// Parameter rendering: every type, and hostile values that must come out as
// one literal. The literals are then evaluated by a real DuckDB (in memory)
// to prove the value round-trips unchanged and nothing else runs.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { DuckDBInstance, type DuckDBConnection } from "@duckdb/node-api";
import {
  ParamError,
  findPlaceholders,
  paramNames,
  renderSql,
  resolveDate,
  timestampLiteral,
  validateParamDefs,
} from "./params.js";
import type { ParamDef } from "./types.js";

let db: DuckDBInstance;
let conn: DuckDBConnection;
before(async () => {
  db = await DuckDBInstance.create(":memory:");
  conn = await db.connect();
});
after(() => {
  conn.closeSync();
  db.closeSync();
});

async function one(sql: string): Promise<unknown[][]> {
  return (await conn.runAndReadAll(sql)).getRowsJS();
}

const NOW = Date.parse("2026-01-02T03:04:05.678Z");
const text: ParamDef = { name: "t", type: "text" };

const HOSTILE = [
  "'; DROP TABLE flows; --",
  "1 OR 1=1",
  "x' OR '1'='1",
  "‘quoted’ “double” ＇fullwidth＇ ʼmodifier",
  "back\\slash\\' and \\\\'",
  "line\nbreak -- comment\n/* block */ $$dollar$$ {{ t }}",
  "'''",
  "",
  "E'\\x41'",
  "😀 emoji",
];

test("text: hostile values render to one literal that evaluates to themselves", async () => {
  for (const v of HOSTILE) {
    const sql = renderSql("SELECT {{ t }} AS v", [text], { t: v }, NOW);
    const rows = await one(sql);
    assert.deepEqual(rows, [[v]], `value ${JSON.stringify(v)} → ${sql}`);
  }
});

test("text placed in every context stays a value (comparison, IN, function arg)", async () => {
  await conn.run("CREATE TABLE t AS SELECT * FROM (VALUES ('a', 1), ('b', 2)) v(name, n)");
  for (const v of HOSTILE) {
    const r1 = await one(renderSql("SELECT count(*)::INT FROM t WHERE name = {{ t }}", [text], { t: v }));
    assert.deepEqual(r1, [[0]]);
    const r2 = await one(renderSql("SELECT length({{t}})::INT", [text], { t: v }));
    assert.equal(r2[0]![0], [...v].length);
  }
  // The table is still there: no DROP ran.
  assert.deepEqual(await one("SELECT count(*)::INT FROM t"), [[2]]);
});

test("text: NUL and too long are refused", () => {
  assert.throws(() => renderSql("SELECT {{ t }}", [text], { t: "a\u0000b" }), ParamError);
  assert.throws(() => renderSql("SELECT {{ t }}", [text], { t: "x".repeat(10_001) }), /longer than/);
  assert.throws(() => renderSql("SELECT {{ t }}", [text], { t: 5 }), /must be a string/);
  assert.throws(() => renderSql("SELECT {{ t }}", [text], { t: ["a"] }), /must be a string/);
});

test("number: finite numbers only; negatives cannot form a comment", async () => {
  const n: ParamDef = { name: "n", type: "number" };
  assert.equal(renderSql("LIMIT {{n}}", [n], { n: 10 }), "LIMIT  10 ");
  assert.equal(renderSql("x-{{n}}", [n], { n: -5 }), "x- (-5) ");
  assert.deepEqual(await one(renderSql("SELECT 3-{{n}}", [n], { n: -5 })), [[8]]);
  assert.deepEqual(await one(renderSql("SELECT {{n}} * 2", [n], { n: "2.5" })), [[5]]);
  for (const bad of [
    NaN,
    Infinity,
    -Infinity,
    "1 OR 1=1",
    "1; DROP TABLE t",
    "0x10",
    "",
    " ",
    "1e",
    true,
    null,
    [1],
    {},
  ]) {
    assert.throws(() => renderSql("SELECT {{ n }}", [n], { n: bad }), ParamError, `accepted ${String(bad)}`);
  }
});

test("list: only an option; several only with multi", async () => {
  const l: ParamDef = { name: "p", type: "list", options: ["tcp", "udp", "it's"] };
  assert.deepEqual(await one(renderSql("SELECT {{ p }}", [l], { p: "it's" })), [["it's"]]);
  assert.throws(() => renderSql("SELECT {{ p }}", [l], { p: "icmp" }), /not one of its options/);
  assert.throws(() => renderSql("SELECT {{ p }}", [l], { p: "tcp' OR '1'='1" }), /not one of its options/);
  assert.throws(() => renderSql("SELECT {{ p }}", [l], { p: ["tcp", "udp"] }), /takes one value/);
  const m: ParamDef = { ...l, multi: true };
  const sql = renderSql(
    "SELECT count(*)::INT FROM (VALUES ('tcp'), ('udp'), ('gre')) v(x) WHERE x IN ({{ p }})",
    [m],
    {
      p: ["tcp", "udp"],
    },
  );
  assert.deepEqual(await one(sql), [[2]]);
  assert.throws(() => renderSql("SELECT {{ p }}", [m], { p: [] }), /at least one/);
  assert.throws(() => renderSql("SELECT {{ p }}", [m], { p: ["tcp", "nope"] }), /not one of its options/);
});

test("date and daterange: ISO and relative, UTC TIMESTAMP literals", async () => {
  assert.equal(timestampLiteral(NOW), "TIMESTAMP '2026-01-02 03:04:05.678'");
  assert.equal(resolveDate("now", NOW), NOW);
  assert.equal(resolveDate("now-24h", NOW), NOW - 86_400_000);
  assert.equal(resolveDate("now-7d", NOW), NOW - 7 * 86_400_000);
  assert.equal(resolveDate("now-15m", NOW), NOW - 900_000);
  assert.equal(resolveDate("2026-01-01", NOW), Date.parse("2026-01-01T00:00:00Z"));
  assert.equal(resolveDate("2026-01-01T10:00:00", NOW), Date.parse("2026-01-01T10:00:00Z"));
  assert.equal(resolveDate("2026-01-01T10:00:00+02:00", NOW), Date.parse("2026-01-01T08:00:00Z"));
  for (const bad of ["yesterday", "now-", "now-1y", "2026-13-45", "2026-01-01'; DROP", "", 5, null]) {
    assert.throws(() => resolveDate(bad, NOW), ParamError, String(bad));
  }
  const d: ParamDef = { name: "d", type: "date" };
  const r = await one(renderSql("SELECT {{ d }}::VARCHAR", [d], { d: "now-1h" }, NOW));
  assert.deepEqual(r, [["2026-01-02 02:04:05.678"]]);
  const dr: ParamDef = { name: "r", type: "daterange", default: { start: "now-7d", end: "now" } };
  const sql = renderSql("SELECT ({{ r.end }} - {{ r.start }})::VARCHAR", [dr], {}, NOW);
  assert.deepEqual(await one(sql), [["7 days"]]);
  assert.throws(() => renderSql("SELECT {{ r }}", [dr], {}), /date range: use/);
  assert.throws(() => renderSql("SELECT {{ d.start }}", [d], {}), /not a date range/);
  assert.throws(() => renderSql("SELECT {{ r.start }}", [dr], { r: "now" }), /must be \{start, end\}/);
});

test("unknown and missing parameters are named", () => {
  assert.throws(() => renderSql("SELECT {{ nope }}", [], {}), /unknown parameter nope/);
  assert.throws(() => renderSql("SELECT {{ t }}", [text], {}), /parameter t has no value/);
  assert.equal(renderSql("SELECT {{ t }}", [{ ...text, default: "d" }], {}), "SELECT  'd' ");
  // Values for names the SQL does not use are ignored; SQL without placeholders is unchanged.
  assert.equal(renderSql("SELECT 1", [], { x: "'" }), "SELECT 1");
});

test("placeholders in quotes are refused, in comments left alone, glued ones refused", () => {
  assert.throws(() => renderSql("SELECT '{{ t }}'", [text], { t: "x" }), /inside a quoted string/);
  assert.throws(() => renderSql(`SELECT "{{ t }}"`, [text], { t: "x" }), /inside a quoted identifier/);
  assert.throws(() => renderSql("SELECT $$ {{ t }} $$", [text], { t: "x" }), /dollar-quoted/);
  assert.throws(() => renderSql("SELECT $q$ {{ t }} $q$", [text], { t: "x" }), /dollar-quoted/);
  // E'…': \' does not end the string, so the placeholder is still inside it.
  assert.throws(() => renderSql("SELECT E'it\\'s {{ t }}'", [text], { t: "x" }), /inside a quoted string/);
  assert.throws(() => renderSql("SELECT E{{ t }}", [text], { t: "x" }), /glued/);
  assert.throws(() => renderSql("SELECT {{ t }", [text], { t: "x" }), /malformed/);
  assert.equal(renderSql("SELECT 1 -- {{ t }}\n", [text], { t: "x\nDROP" }), "SELECT 1 -- {{ t }}\n");
  assert.equal(renderSql("SELECT 1 /* {{ t }} */", [text], {}), "SELECT 1 /* {{ t }} */");
  // A doubled quote stays inside the string; the placeholder after it is outside.
  assert.equal(renderSql("SELECT 'a''b', {{ t }}", [text], { t: "c" }), "SELECT 'a''b',  'c' ");
  assert.deepEqual(paramNames("SELECT {{a}}, {{ b.start }}, {{ b.end }}, {{a}}"), ["a", "b"]);
  assert.equal(findPlaceholders("x {{ r.end }}")[0]!.part, "end");
});

test("validateParamDefs: shapes, duplicates, list options, defaults that render", () => {
  assert.deepEqual(validateParamDefs(undefined), []);
  const defs = validateParamDefs([
    { name: "t", type: "text", default: "a", label: "T", extra: 1 },
    { name: "p", type: "list", options: ["a", "b"], multi: true, default: ["a"] },
    { name: "r", type: "daterange", default: { start: "now-1d", end: "now" } },
  ]);
  assert.deepEqual(defs[0], { name: "t", type: "text", label: "T", default: "a" });
  assert.throws(() => validateParamDefs([{ name: "1x", type: "text" }]), /name must match/);
  assert.throws(() => validateParamDefs([{ name: "a b", type: "text" }]), /name must match/);
  assert.throws(() => validateParamDefs([{ name: "x", type: "sql" }]), /type must be/);
  assert.throws(() => validateParamDefs([{ name: "x", type: "list" }]), /needs options/);
  assert.throws(
    () =>
      validateParamDefs([
        { name: "x", type: "text" },
        { name: "x", type: "text" },
      ]),
    /twice/,
  );
  assert.throws(
    () => validateParamDefs([{ name: "n", type: "number", default: "1; DROP" }]),
    /must be a number/,
  );
  assert.throws(
    () => validateParamDefs([{ name: "p", type: "list", options: ["a"], default: "z" }]),
    /options/,
  );
  assert.throws(() => validateParamDefs({}), /array/);
});
