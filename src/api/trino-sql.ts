// The statements Trino/Presto clients send, recognised before Nagare's SQL
// sandbox sees the text. Pure text work, no I/O.
//
// Trino clients speak Trino's statement set (https://trino.io/docs/current/sql.html)
// but Nagare's SQL is DuckDB's: the few statements clients send on their own
// (session and transaction statements, PREPARE/EXECUTE from parameterised
// queries, SHOW …/DESCRIBE from schema browsers) are answered here or turned
// into DuckDB SQL over Nagare's views; everything else is the user's DuckDB
// SQL, run as it is in the sandbox (src/query/sql/service.ts).
//
//   statement  = [comments] ( control | show | execute | query )
//   control    = START TRANSACTION … | COMMIT [WORK] | ROLLBACK [WORK]
//              | SET SESSION name = value | RESET SESSION name | USE [catalog.]schema
//              | PREPARE name FROM statement | DEALLOCATE PREPARE name
//   show       = SHOW CATALOGS [LIKE p] | SHOW SCHEMAS [FROM c] [LIKE p]
//              | SHOW TABLES [FROM [c.]s] [LIKE p] | SHOW COLUMNS FROM t | DESCRIBE t | SHOW SESSION
//   execute    = EXECUTE name [USING literal {, literal}]
//              | EXECUTE IMMEDIATE 'sql' [USING literal {, literal}]
//   literal    = NULL | TRUE | FALSE | integer | number | 'text' | X'hex'
//              | (DOUBLE|REAL|DECIMAL) 'n' | TIMESTAMP 'yyyy-mm-dd hh:mm:ss[.f]' | DATE 'yyyy-mm-dd'
//              | TIME 'hh:mm:ss' | nan() | infinity() | -infinity()
//
// Parameters are bound as DuckDB values (DuckDBPreparedStatement.bind), never
// spliced into the SQL text: a value cannot change the statement.
import {
  BIGINT,
  BLOB,
  BOOLEAN,
  DATE,
  DOUBLE,
  HUGEINT,
  TIMESTAMP,
  VARCHAR,
  blobValue,
  dateValue,
  timestampValue,
  type DuckDBType,
  type DuckDBValue,
} from "@duckdb/node-api";

/** The one catalog and schema Nagare presents. */
export const CATALOG = "nagare";
export const SCHEMA = "default";

export class TrinoSqlError extends Error {
  constructor(
    message: string,
    /** Trino error name (StandardErrorCode). */
    readonly errorName:
      "SYNTAX_ERROR" | "NOT_SUPPORTED" | "TABLE_NOT_FOUND" | "NOT_FOUND" | "GENERIC_USER_ERROR",
  ) {
    super(message);
  }
}

export interface Param {
  value: DuckDBValue;
  type: DuckDBType | undefined;
}

export type Statement =
  | { kind: "query"; sql: string }
  | { kind: "execute"; name: string; params: Param[] }
  | { kind: "executeImmediate"; sql: string; params: Param[] }
  | { kind: "prepare"; name: string; sql: string }
  | { kind: "deallocate"; name: string }
  | { kind: "startTransaction" }
  | { kind: "commit" }
  | { kind: "rollback" }
  | { kind: "setSession"; name: string; value: string }
  | { kind: "resetSession"; name: string }
  | { kind: "use"; catalog: string | null; schema: string };

/** Text without leading whitespace and comments (re:dash prefixes each query with a comment). */
export function stripLeading(sql: string): string {
  let s = sql;
  for (;;) {
    const t = s.replace(/^\s+/, "");
    if (t.startsWith("--")) {
      const nl = t.indexOf("\n");
      s = nl < 0 ? "" : t.slice(nl + 1);
    } else if (t.startsWith("/*")) {
      const end = t.indexOf("*/");
      s = end < 0 ? "" : t.slice(end + 2);
    } else return t;
  }
}

/** Without trailing whitespace and semicolons (clients differ in whether they strip them). */
function stripTrailing(sql: string): string {
  return sql.replace(/[\s;]+$/, "");
}

const NAME = String.raw`(?:[A-Za-z_][A-Za-z0-9_]*|"(?:[^"]|"")+")`;

/** An identifier as written → its name (quoted: as is; bare: lower-cased, as Trino does). */
export function identName(s: string): string {
  return s.startsWith('"') ? s.slice(1, -1).replace(/""/g, '"') : s.toLowerCase();
}

/** A SQL string literal's content ('it''s' → it's). */
function unquote(lit: string): string {
  return lit.slice(1, -1).replace(/''/g, "'");
}

/** A JS string as a SQL string literal. */
export function sqlString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

const STR = String.raw`'(?:[^']|'')*'`;

/** Classify one statement's text; a metadata statement comes back as the DuckDB SQL answering it. */
export function parseStatement(text: string, views: readonly string[]): Statement {
  const s = stripTrailing(stripLeading(text));
  let m: RegExpExecArray | null;
  if (/^START\s+TRANSACTION\b/i.test(s)) return { kind: "startTransaction" };
  if (/^COMMIT(\s+WORK)?$/i.test(s)) return { kind: "commit" };
  if (/^ROLLBACK(\s+WORK)?$/i.test(s)) return { kind: "rollback" };
  if ((m = new RegExp(String.raw`^SET\s+SESSION\s+(${NAME}(?:\.${NAME})?)\s*=\s*([\s\S]+)$`, "i").exec(s))) {
    const v = m[2]!.trim();
    return { kind: "setSession", name: m[1]!, value: /^'(?:[^']|'')*'$/.test(v) ? unquote(v) : v };
  }
  if ((m = new RegExp(String.raw`^RESET\s+SESSION\s+(${NAME}(?:\.${NAME})?)$`, "i").exec(s)))
    return { kind: "resetSession", name: m[1]! };
  if ((m = new RegExp(String.raw`^USE\s+(?:(${NAME})\.)?(${NAME})$`, "i").exec(s)))
    return { kind: "use", catalog: m[1] ? identName(m[1]) : null, schema: identName(m[2]!) };
  if ((m = new RegExp(String.raw`^PREPARE\s+(${NAME})\s+FROM\s+([\s\S]+)$`, "i").exec(s)))
    return { kind: "prepare", name: identName(m[1]!), sql: m[2]! };
  if ((m = new RegExp(String.raw`^DEALLOCATE\s+PREPARE\s+(${NAME})$`, "i").exec(s)))
    return { kind: "deallocate", name: identName(m[1]!) };
  if ((m = new RegExp(String.raw`^EXECUTE\s+IMMEDIATE\s+(${STR})(?:\s+USING\s+([\s\S]+))?$`, "i").exec(s)))
    return { kind: "executeImmediate", sql: unquote(m[1]!), params: m[2] ? parseParams(m[2]) : [] };
  if ((m = new RegExp(String.raw`^EXECUTE\s+(${NAME})(?:\s+USING\s+([\s\S]+))?$`, "i").exec(s)))
    return { kind: "execute", name: identName(m[1]!), params: m[2] ? parseParams(m[2]) : [] };
  const show = showSql(s, views);
  if (show !== null) return { kind: "query", sql: show };
  return { kind: "query", sql: text };
}

/** SHOW … / DESCRIBE … → DuckDB SQL over the information_schema of rewriteSql; null when not one. */
function showSql(s: string, views: readonly string[]): string | null {
  let m: RegExpExecArray | null;
  const like = (col: string, lit: string | undefined): string =>
    lit ? ` AND ${col} LIKE ${sqlString(unquote(lit))}` : "";
  if ((m = new RegExp(String.raw`^SHOW\s+CATALOGS(?:\s+LIKE\s+(${STR}))?$`, "i").exec(s)))
    return `SELECT DISTINCT catalog_name AS "Catalog" FROM information_schema.schemata WHERE true${like("catalog_name", m[1])} ORDER BY 1`;
  if (
    (m = new RegExp(
      String.raw`^SHOW\s+SCHEMAS(?:\s+(?:FROM|IN)\s+(${NAME}))?(?:\s+LIKE\s+(${STR}))?$`,
      "i",
    ).exec(s))
  ) {
    checkCatalog(m[1]);
    return `SELECT schema_name AS "Schema" FROM information_schema.schemata WHERE true${like("schema_name", m[2])} ORDER BY 1`;
  }
  if (
    (m = new RegExp(
      String.raw`^SHOW\s+TABLES(?:\s+(?:FROM|IN)\s+(?:(${NAME})\.)?(${NAME}))?(?:\s+LIKE\s+(${STR}))?$`,
      "i",
    ).exec(s))
  ) {
    checkCatalog(m[1]);
    const schema = m[2] ? identName(m[2]) : SCHEMA;
    checkSchema(schema);
    return `SELECT table_name AS "Table" FROM information_schema.tables WHERE table_schema = ${sqlString(schema)}${like("table_name", m[3])} ORDER BY 1`;
  }
  if (
    (m = new RegExp(
      String.raw`^(?:SHOW\s+COLUMNS\s+(?:FROM|IN)|DESCRIBE|DESC)\s+((?:${NAME}\.){0,2}${NAME})$`,
      "i",
    ).exec(s))
  ) {
    const parts = splitName(m[1]!);
    const table = parts[parts.length - 1]!;
    const schema = parts.length >= 2 ? parts[parts.length - 2]! : SCHEMA;
    if (parts.length === 3) checkCatalog(parts[0]);
    const known =
      schema === SCHEMA ? views.includes(table) : schema === "information_schema" && table in INFO_TABLES;
    if (!known)
      throw new TrinoSqlError(`Table '${CATALOG}.${schema}.${table}' does not exist`, "TABLE_NOT_FOUND");
    return (
      `SELECT column_name AS "Column", data_type AS "Type", extra_info AS "Extra", comment AS "Comment" ` +
      `FROM information_schema.columns WHERE table_schema = ${sqlString(schema)} AND table_name = ${sqlString(table)} ORDER BY ordinal_position`
    );
  }
  if (/^SHOW\s+SESSION\b/i.test(s))
    return `SELECT * FROM (VALUES ('', '', '', '', '')) AS t("Name", "Value", "Default", "Type", "Description") WHERE false`;
  if (/^SHOW\s+/i.test(s))
    throw new TrinoSqlError(`not supported by Nagare: ${s.slice(0, 60)}`, "NOT_SUPPORTED");
  return null;
}

function splitName(s: string): string[] {
  return [...s.matchAll(new RegExp(NAME, "g"))].map((x) => identName(x[0]));
}

function checkCatalog(c: string | undefined): void {
  if (c !== undefined && identName(c) !== CATALOG)
    throw new TrinoSqlError(
      `Catalog '${identName(c)}' does not exist (Nagare has one: ${CATALOG})`,
      "NOT_FOUND",
    );
}

function checkSchema(s: string): void {
  if (s !== SCHEMA && s !== "information_schema")
    throw new TrinoSqlError(
      `Schema '${s}' does not exist (Nagare has ${SCHEMA} and information_schema)`,
      "NOT_FOUND",
    );
}

/** Split "a, 'b,c', f(x)" at top-level commas. */
function splitTop(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quote = false;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (quote) {
      if (c === "'") quote = false; // '' re-enters on the next quote
    } else if (c === "'") quote = true;
    else if (c === "(" || c === "[") depth++;
    else if (c === ")" || c === "]") depth--;
    else if (c === "," && depth === 0) {
      out.push(s.slice(start, i));
      start = i + 1;
    }
  }
  out.push(s.slice(start));
  return out.map((x) => x.trim());
}

const TS_RE =
  /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,12}))?)?)?(?:\s*(UTC|Z|\+00:00|[+-]00:?00))?$/i;

/** "YYYY-MM-DD[ HH:MM[:SS[.f]]][ UTC]" → microseconds since the epoch (UTC; fractions past µs are cut). */
export function parseTimestampMicros(text: string): bigint | null {
  const m = TS_RE.exec(text.trim());
  if (!m) return null;
  const [, y, mo, d, h = "0", mi = "0", sec = "0", frac = ""] = m;
  const ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(sec));
  const check = new Date(ms);
  if (!Number.isFinite(ms) || check.getUTCDate() !== Number(d) || check.getUTCMonth() !== Number(mo) - 1)
    return null;
  const micros = BigInt((frac + "000000").slice(0, 6));
  return BigInt(ms) * 1000n + micros;
}

/** One EXECUTE … USING literal → a DuckDB value and type. */
export function parseLiteral(lit: string): Param {
  let m: RegExpExecArray | null;
  if (/^NULL$/i.test(lit)) return { value: null, type: undefined };
  if (/^(TRUE|FALSE)$/i.test(lit)) return { value: lit.toLowerCase() === "true", type: BOOLEAN };
  if (/^[+-]?\d+$/.test(lit)) {
    const v = BigInt(lit);
    const inInt64 = v >= -(2n ** 63n) && v < 2n ** 63n;
    return { value: v, type: inInt64 ? BIGINT : HUGEINT };
  }
  if (/^[+-]?(\d+\.\d*|\.\d+|\d+(\.\d*)?[eE][+-]?\d+)$/.test(lit))
    return { value: Number(lit), type: DOUBLE };
  if ((m = /^(?:DOUBLE|REAL|DECIMAL)\s*'\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*'$/i.exec(lit)))
    return { value: Number(m[1]), type: DOUBLE };
  if ((m = /^(-)?(infinity|nan)\(\)$/i.exec(lit))) {
    const v = m[2]!.toLowerCase() === "nan" ? NaN : m[1] ? -Infinity : Infinity;
    return { value: v, type: DOUBLE };
  }
  if (new RegExp(`^${STR}$`).test(lit)) return { value: unquote(lit), type: VARCHAR };
  if ((m = /^X'([0-9A-Fa-f]*)'$/.exec(lit))) {
    if (m[1]!.length % 2) throw new TrinoSqlError(`odd number of hex digits in ${lit}`, "GENERIC_USER_ERROR");
    return { value: blobValue(Buffer.from(m[1]!, "hex")), type: BLOB };
  }
  if ((m = new RegExp(`^TIMESTAMP\\s*(${STR})$`, "i").exec(lit))) {
    const micros = parseTimestampMicros(unquote(m[1]!));
    if (micros === null)
      throw new TrinoSqlError(`unsupported timestamp ${lit} (UTC or no zone only)`, "GENERIC_USER_ERROR");
    return { value: timestampValue(micros), type: TIMESTAMP };
  }
  if ((m = new RegExp(`^DATE\\s*(${STR})$`, "i").exec(lit))) {
    const micros = parseTimestampMicros(unquote(m[1]!));
    if (micros === null || unquote(m[1]!).trim().length !== 10)
      throw new TrinoSqlError(`bad date ${lit}`, "GENERIC_USER_ERROR");
    return { value: dateValue(Number(micros / 86_400_000_000n)), type: DATE };
  }
  // A TIME literal's text casts implicitly where a TIME is expected.
  if ((m = new RegExp(`^TIME\\s*(${STR})$`, "i").exec(lit))) return { value: unquote(m[1]!), type: VARCHAR };
  throw new TrinoSqlError(
    `unsupported parameter ${lit.slice(0, 80)}: NULL, booleans, numbers, strings, X'..', TIMESTAMP '..' and DATE '..' are`,
    "GENERIC_USER_ERROR",
  );
}

export function parseParams(list: string): Param[] {
  return splitTop(list).map(parseLiteral);
}

// ---- information_schema and qualified names ------------------------------

/** Columns of the virtual information_schema tables (Trino's names). */
export const INFO_TABLES: Record<string, string[]> = {
  schemata: ["catalog_name", "schema_name"],
  tables: ["table_catalog", "table_schema", "table_name", "table_type"],
  columns: [
    "table_catalog",
    "table_schema",
    "table_name",
    "column_name",
    "ordinal_position",
    "column_default",
    "is_nullable",
    "data_type",
    "comment",
    "extra_info",
  ],
};

/**
 * Trino's system.jdbc tables, which the Trino JDBC driver's DatabaseMetaData
 * (DBeaver's browser) reads: getCatalogs, getSchemas, getTables, getColumns, getTableTypes.
 */
export const JDBC_TABLES: Record<string, string[]> = {
  catalogs: ["table_cat"],
  schemas: ["table_schem", "table_catalog"],
  table_types: ["table_type"],
  tables: [
    "table_cat",
    "table_schem",
    "table_name",
    "table_type",
    "remarks",
    "type_cat",
    "type_schem",
    "type_name",
    "self_referencing_col_name",
    "ref_generation",
  ],
  columns: [
    "table_cat",
    "table_schem",
    "table_name",
    "column_name",
    "data_type",
    "type_name",
    "column_size",
    "buffer_length",
    "decimal_digits",
    "num_prec_radix",
    "nullable",
    "remarks",
    "column_def",
    "sql_data_type",
    "sql_datetime_sub",
    "char_octet_length",
    "ordinal_position",
    "is_nullable",
    "scope_catalog",
    "scope_schema",
    "scope_table",
    "source_data_type",
    "is_autoincrement",
    "is_generatedcolumn",
  ],
};

/** java.sql.Types of a Trino type name, as Trino's system.jdbc.columns gives them. */
function jdbcType(t: string): number {
  const raw = t.replace(/\(.*$/, "");
  const codes: Record<string, number> = {
    boolean: 16,
    tinyint: -6,
    smallint: 5,
    integer: 4,
    bigint: -5,
    real: 7,
    double: 8,
    decimal: 3,
    varchar: 12,
    varbinary: -3,
    date: 91,
    time: 92,
    timestamp: t.endsWith("with time zone") ? 2014 : 93,
    array: 2003,
  };
  return codes[raw] ?? 2000;
}

export interface ViewColumns {
  view: string;
  /** Column names and Trino type names, in order. */
  columns: { name: string; type: string }[];
}

/** The SELECT producing one virtual information_schema table, over VALUES. */
export function infoTableSql(table: string, views: readonly ViewColumns[]): string {
  const lit = (s: string | null): string => (s === null ? "NULL" : sqlString(s));
  let rows: string[];
  const all: ViewColumns[] = [
    ...views,
    ...Object.entries(INFO_TABLES).map(([view, cols]) => ({
      view: `information_schema.${view}`,
      columns: cols.map((name) => ({ name, type: name === "ordinal_position" ? "bigint" : "varchar" })),
    })),
  ];
  const split = (v: string): [string, string] =>
    v.startsWith("information_schema.") ? ["information_schema", v.slice(19)] : [SCHEMA, v];
  if (table === "schemata") rows = [SCHEMA, "information_schema"].map((s) => `(${lit(CATALOG)}, ${lit(s)})`);
  else if (table === "tables")
    rows = all.map((v) => {
      const [s, t] = split(v.view);
      return `(${lit(CATALOG)}, ${lit(s)}, ${lit(t)}, 'BASE TABLE')`;
    });
  else
    rows = all.flatMap((v) => {
      const [s, t] = split(v.view);
      return v.columns.map(
        (c, i) =>
          `(${lit(CATALOG)}, ${lit(s)}, ${lit(t)}, ${lit(c.name)}, ${i + 1}::BIGINT, NULL::VARCHAR, 'YES', ${lit(c.type)}, NULL::VARCHAR, ''::VARCHAR)`,
      );
    });
  if (table.startsWith("jdbc.")) return jdbcTableSql(table.slice(5), all, split);
  const cols = INFO_TABLES[table]!.map((c) => `"${c}"`).join(", ");
  return `(SELECT * FROM (VALUES ${rows.join(", ")}) AS v(${cols}))`;
}

function jdbcTableSql(
  table: string,
  all: readonly ViewColumns[],
  split: (v: string) => [string, string],
): string {
  const lit = sqlString;
  const nul = "NULL::VARCHAR";
  const int = (n: number | null): string => (n === null ? "NULL::BIGINT" : `${n}::BIGINT`);
  let rows: string[];
  if (table === "catalogs") rows = [`(${lit(CATALOG)})`];
  else if (table === "schemas")
    rows = [SCHEMA, "information_schema"].map((s) => `(${lit(s)}, ${lit(CATALOG)})`);
  else if (table === "table_types") rows = ["('TABLE')", "('VIEW')"];
  else if (table === "tables")
    rows = all.map((v) => {
      const [s, t] = split(v.view);
      return `(${lit(CATALOG)}, ${lit(s)}, ${lit(t)}, 'TABLE', ${nul}, ${nul}, ${nul}, ${nul}, ${nul}, ${nul})`;
    });
  else
    rows = all.flatMap((v) => {
      const [s, t] = split(v.view);
      return v.columns.map((c, i) => {
        const dec = /^decimal\((\d+),(\d+)\)$/.exec(c.type);
        const size = dec ? Number(dec[1]) : c.type === "varchar" ? 2147483647 : null;
        return (
          `(${lit(CATALOG)}, ${lit(s)}, ${lit(t)}, ${lit(c.name)}, ${int(jdbcType(c.type))}, ${lit(c.type)}, ` +
          `${int(size)}, ${int(null)}, ${int(dec ? Number(dec[2]) : null)}, ${int(dec ? 10 : null)}, 1::BIGINT, ` +
          `${nul}, ${nul}, ${int(null)}, ${int(null)}, ${int(c.type === "varchar" ? 2147483647 : null)}, ` +
          `${int(i + 1)}, 'YES', ${nul}, ${nul}, ${nul}, ${int(null)}, 'NO', 'NO')`
        );
      });
    });
  const cols = JDBC_TABLES[table]!.map((c) => `"${c}"`).join(", ");
  return `(SELECT * FROM (VALUES ${rows.join(", ")}) AS v(${cols}))`;
}

type Tok = { kind: "ident"; text: string; name: string } | { kind: "dot" | "other" | "space"; text: string };

/** Tokens of SQL text: identifiers (bare or quoted), dots, and everything else (strings and comments kept whole). */
function tokenize(sql: string): Tok[] {
  const out: Tok[] = [];
  const re =
    /('(?:[^']|'')*'?)|("(?:[^"]|"")*"?)|(--[^\n]*|\/\*[\s\S]*?(?:\*\/|$))|([A-Za-z_][A-Za-z0-9_$]*)|(\.)|(\s+)|([\s\S])/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(sql))) {
    if (m[2] !== undefined) out.push({ kind: "ident", text: m[2], name: identName(m[2]) });
    else if (m[4] !== undefined) out.push({ kind: "ident", text: m[4], name: m[4].toLowerCase() });
    else if (m[5] !== undefined) out.push({ kind: "dot", text: m[5] });
    else if (m[6] !== undefined || m[3] !== undefined) out.push({ kind: "space", text: m[0] });
    else out.push({ kind: "other", text: m[0] });
  }
  return out;
}

/** Words after a table reference that are not an alias. */
const NOT_ALIAS = new Set(
  "where join left right inner outer cross full natural on using group order limit offset union except intersect having window qualify fetch as semi anti positional asof lateral pivot unpivot tablesample".split(
    " ",
  ),
);

/**
 * Trino-style table names in user SQL → Nagare's: information_schema.{schemata,
 * tables,columns} (optionally "nagare." before) become the virtual tables over
 * VALUES, and nagare.default.v / default.v become v. Strings, comments and
 * other names are left alone. Returns the text unchanged when nothing matched.
 */
export function rewriteSql(
  sql: string,
  viewNames: readonly string[],
  info: (table: string) => string,
): string {
  const toks = tokenize(sql);
  let out = "";
  let changed = false;
  for (let i = 0; i < toks.length; i++) {
    const t = toks[i]!;
    const prevDot = toks[i - 1]?.kind === "dot";
    if (t.kind !== "ident" || prevDot) {
      out += t.text;
      continue;
    }
    // The chain a.b.c starting here (no spaces inside, as clients write them).
    const chain: string[] = [t.name];
    let j = i;
    while (toks[j + 1]?.kind === "dot" && toks[j + 2]?.kind === "ident" && chain.length < 4) {
      chain.push((toks[j + 2] as { name: string }).name);
      j += 2;
    }
    if (chain.length === 3 && chain[0] === "system" && chain[1] === "jdbc" && chain[2]! in JDBC_TABLES) {
      const table = chain[2]!;
      let k = j + 1;
      while (toks[k]?.kind === "space") k++;
      const next = toks[k];
      const hasAlias = next?.kind === "ident" && !NOT_ALIAS.has(next.name);
      const asAlias = next?.kind === "ident" && next.name === "as";
      out += info(`jdbc.${table}`) + (hasAlias || asAlias ? "" : ` AS ${table}`);
      i = j;
      changed = true;
      continue;
    }
    if (chain.length >= 2 && chain.length <= 3 && (chain.length === 2 || chain[0] === CATALOG)) {
      const schema = chain[chain.length - 2]!;
      const table = chain[chain.length - 1]!;
      if (schema === "information_schema" && table in INFO_TABLES) {
        // Keep the table's name as alias unless the query gives its own.
        let k = j + 1;
        while (toks[k]?.kind === "space") k++;
        const next = toks[k];
        const hasAlias = next?.kind === "ident" && !NOT_ALIAS.has(next.name);
        const asAlias = next?.kind === "ident" && next.name === "as";
        out += info(table) + (hasAlias || asAlias ? "" : ` AS ${table}`);
        i = j;
        changed = true;
        continue;
      }
      if (schema === SCHEMA && viewNames.includes(table)) {
        out += toks[j]!.text;
        i = j;
        changed = true;
        continue;
      }
    }
    out += t.text;
  }
  return changed ? out : sql;
}
