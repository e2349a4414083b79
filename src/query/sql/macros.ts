// SQL text of the user-facing macros and views, created as TEMP objects on
// each sandbox connection: nothing is written into the store's file, and the
// writer's connections never see them.
import { FLOW_COLUMNS } from "../../schema.js";
import { ROLLUP_STATE_TABLE, ROLLUP_TABLES } from "../../store/rollups.js";
import { LIVE_VIEW } from "../../store/live.js";
import { ANOMALY_TABLE, anomalyTableSql } from "../../detect/anomaly-table.js";

/**
 * nagare_ip(b): an ip column (UHUGEINT: the 16 address bytes as one
 * big-endian integer; a 16-byte BLOB of a version-1 store works too) as text, exactly as formatIp
 * (src/collector/ip.ts) prints it: all zeros → '' (absent), IPv4-mapped →
 * dotted quad, else RFC 5952 text (lower case, no leading zeros, the first
 * longest run of two or more zero words compressed to '::').
 *
 * Written in plain SQL on the 32 hex digits of b (hex() of a UHUGEINT drops
 * leading zeros, hence the lpad; of a 16-byte BLOB it is already 32): no extension (inet) can be loaded in the
 * sandbox. The compression works on ':w0:w1:…:w7:' (a colon each side, so a
 * run of n zero words is the literal ':0:…:0:'); runs are tried longest
 * first and regexp_replace without 'g' replaces only the first, which is
 * then a maximal run. The outer colons are then dropped unless they belong
 * to the '::'.
 */
export const MACROS: readonly string[] = [
  `CREATE OR REPLACE TEMP MACRO nagare_ip_word(h, k) AS
    coalesce(nullif(ltrim(lower(substr(h, k * 4 + 1, 4)), '0'), ''), '0')`,
  `CREATE OR REPLACE TEMP MACRO nagare_ip_byte(h, k) AS ('0x' || substr(h, k * 2 + 1, 2))::UTINYINT`,
  // list_transform([e], lambda x: …)[1] evaluates e once: a macro argument
  // is substituted as an expression, and used 13 times it would be computed 13 times.
  `CREATE OR REPLACE TEMP MACRO nagare_ip6_zeros(e) AS list_transform([e], lambda s: CASE
    ${[7, 6, 5, 4, 3, 2]
      .map((n) => {
        const run = `:${Array(n).fill("0").join(":")}:`;
        return `WHEN contains(s, '${run}') THEN regexp_replace(s, '${run}', '::')`;
      })
      .join("\n    ")}
    ELSE s END)[1]`,
  `CREATE OR REPLACE TEMP MACRO nagare_ip6(h) AS regexp_replace(regexp_replace(
    nagare_ip6_zeros(':' || concat_ws(':', ${[0, 1, 2, 3, 4, 5, 6, 7]
      .map((k) => `nagare_ip_word(h, ${k})`)
      .join(", ")}) || ':'),
    '^:([^:])', '\\1'), '([^:]):$', '\\1')`,
  `CREATE OR REPLACE TEMP MACRO nagare_ip(b) AS CASE WHEN b IS NULL THEN NULL ELSE list_transform([lpad(hex(b), 32, '0')], lambda h: CASE
    WHEN h = '${"0".repeat(32)}' THEN ''
    WHEN starts_with(h, '00000000000000000000FFFF') THEN concat_ws('.', ${[12, 13, 14, 15]
      .map((k) => `nagare_ip_byte(h, ${k})`)
      .join(", ")})
    ELSE nagare_ip6(h) END)[1] END`,
];

/** The ip columns of the flow schema; `flows` adds `<name>_text` for each. */
export const IP_COLUMNS: readonly string[] = FLOW_COLUMNS.filter((c) => c.kind === "ip").map((c) => c.name);

/** The string columns of the flow schema (stored NULL when empty; `flows` shows them as ""). */
export const STRING_COLUMNS: readonly string[] = FLOW_COLUMNS.filter((c) => c.kind === "string").map(
  (c) => c.name,
);

export const VIEW_NAMES: readonly string[] = [
  "flows",
  ...ROLLUP_TABLES.map((t) => t.table),
  "rollup_state",
  ANOMALY_TABLE,
];

/** The views, over the tables of the store's catalog `db` (named, since the temp views shadow the rollups' names). */
export function viewsSql(db: string): string[] {
  const q = `"${db.replace(/"/g, '""')}".main`;
  return [
    // String columns store NULL for "" (src/store/writer.ts, ChunkAppender): users read "".
    `CREATE OR REPLACE TEMP VIEW flows AS SELECT * REPLACE (${STRING_COLUMNS.map((c) => `coalesce(${c}, '') AS ${c}`).join(", ")}), ${IP_COLUMNS.map((c) => `nagare_ip(${c}) AS ${c}_text`).join(", ")} FROM ${LIVE_VIEW}`,
    // A rollup's ip dimensions (exporter_address, dst_addr) get a _text column like flows'.
    ...ROLLUP_TABLES.map((t) => {
      const ips = t.set.dims.filter((d) => IP_COLUMNS.includes(d));
      const extra = ips.map((c) => `, nagare_ip(${c}) AS ${c}_text`).join("");
      return `CREATE OR REPLACE TEMP VIEW ${t.table} AS SELECT *${extra} FROM ${q}.${t.table}`;
    }),
    // Up to where each rollup holds closed buckets (src/store/rollups.ts); later flows are only in `flows`.
    `CREATE OR REPLACE TEMP VIEW rollup_state AS SELECT table_name, closed_until FROM ${q}.${ROLLUP_STATE_TABLE}`,
    // Anomaly scores (src/detect/anomaly-service.ts writes them; docs/sql.md). The table is created here too
    // (IF NOT EXISTS, before any read-only transaction) so the view exists with the anomaly service off.
    anomalyTableSql(`${q}.${ANOMALY_TABLE}`),
    `CREATE OR REPLACE TEMP VIEW ${ANOMALY_TABLE} AS SELECT time, series, key, value, expected, score FROM ${q}.${ANOMALY_TABLE}`,
  ];
}
