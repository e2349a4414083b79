// Checks that the rollups agree with flows_raw the way the planner reads them:
// a rollup's rows below its closed-until watermark plus flows_raw's rows at or
// after it, summed per bucket and key, must equal flows_raw summed per bucket
// and key (sampling-corrected). Any double count or lost row shows up.
import type { DuckDBConnection } from "@duckdb/node-api";
import {
  RES_INTERVAL,
  RES_MS,
  ROLLUP_STATE_TABLE,
  ROLLUP_TABLES,
  SCALE_SQL,
} from "../../src/store/rollups.js";

async function lines(conn: DuckDBConnection, sql: string): Promise<string[]> {
  return (await conn.runAndReadAll(sql)).getRowsJS().map((r) => r.map(String).join("|"));
}

export interface RollupCheck {
  table: string;
  /** Rows the rollup table holds (closed buckets). */
  rollupRows: number;
  /** Watermark (epoch ms), or null when nothing is closed. */
  closedUntil: number | null;
  ok: boolean;
}

export async function checkRollups(conn: DuckDBConnection): Promise<RollupCheck[]> {
  const wm = new Map(
    (await conn.runAndReadAll(`SELECT table_name, epoch_ms(closed_until) FROM ${ROLLUP_STATE_TABLE}`))
      .getRowsJS()
      .map(([t, ms]) => [String(t), Number(ms)]),
  );
  const out: RollupCheck[] = [];
  for (const t of ROLLUP_TABLES) {
    const dims = t.set.dims.join(", ");
    const w = wm.get(t.table);
    const bucket = `time_bucket(INTERVAL '${RES_INTERVAL[t.res]}', time_received::TIMESTAMP)`;
    const rawAgg = (where: string): string =>
      `SELECT ${bucket} AS bucket, ${dims}, sum(bytes::HUGEINT * ${SCALE_SQL}) AS bytes, sum(packets::HUGEINT * ${SCALE_SQL}) AS packets, sum(flows::HUGEINT * ${SCALE_SQL}) AS flows FROM flows_raw ${where} GROUP BY ALL`;
    const combined =
      w === undefined
        ? `SELECT * FROM (${rawAgg("")}) ORDER BY ALL`
        : `SELECT bucket, ${dims}, sum(bytes)::HUGEINT, sum(packets)::HUGEINT, sum(flows)::HUGEINT FROM (
             SELECT bucket, ${dims}, bytes::HUGEINT AS bytes, packets::HUGEINT AS packets, flows::HUGEINT AS flows FROM ${t.table} WHERE bucket < epoch_ms(${w}::BIGINT)
             UNION ALL ${rawAgg(`WHERE time_received >= epoch_ms(${w}::BIGINT)`)}) GROUP BY ALL ORDER BY ALL`;
    const expected = `SELECT * FROM (${rawAgg("")}) ORDER BY ALL`;
    const [a, b] = [await lines(conn, combined), await lines(conn, expected)];
    const n = Number((await conn.runAndReadAll(`SELECT count(*) FROM ${t.table}`)).getRowsJS()[0]?.[0] ?? 0);
    // Nothing of a rollup may lie at or past its watermark (it would be counted twice with raw).
    const past =
      w === undefined
        ? n
        : Number(
            (
              await conn.runAndReadAll(
                `SELECT count(*) FROM ${t.table} WHERE bucket >= epoch_ms(${w}::BIGINT)`,
              )
            ).getRowsJS()[0]?.[0] ?? 0,
          );
    out.push({
      table: t.table,
      rollupRows: n,
      closedUntil: w ?? null,
      ok: a.join("\n") === b.join("\n") && past === 0 && (w === undefined || w % RES_MS[t.res] === 0),
    });
  }
  return out;
}

/** Throws naming every rollup that disagrees with flows_raw. */
export async function assertRollupsAgree(conn: DuckDBConnection, what = ""): Promise<RollupCheck[]> {
  const r = await checkRollups(conn);
  const bad = r.filter((x) => !x.ok).map((x) => x.table);
  if (bad.length)
    throw new Error(`${what ? `${what}: ` : ""}rollups disagree with flows_raw: ${bad.join(", ")}`);
  return r;
}
