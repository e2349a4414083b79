// Exact TopN by one high-cardinality key (dst_addr) over many closed days
// without grouping the whole day table: a threshold algorithm (Fagin's TA /
// TPUT) over the per-day top-K lists of src/store/rollups.ts (TOPK_TABLES).
//
// For each key a seen in the range:
//   LB(a) = Σ its listed daily values + E(a)        (E: the exact edge sum, from
//                                                   the finer tiers, flows_raw)
//   UB(a) = LB(a) + Σ bound_d over the days a is not listed
// A key listed nowhere and absent from the edges has at most Σ bound_d.
// τ = the N-th largest LB. Every key of the true top N has an exact sum ≥ τ
// (N keys have at least their LB ≥ τ), hence UB ≥ τ: candidates = {UB ≥ τ}
// hold the whole top N, ties included, provided Σ bound_d < τ (no unseen
// key can reach τ). Only the (candidate, day) pairs missing from the lists
// are read from the day table (none at all when the top keys are listed
// every day); the candidates are ranked on their exact sums with the same
// order as the full plan (value DESC, key ASC). "other" = the days' totals
// (kept with the bounds) + the edge total − the top N.
//
// When the bound cannot exclude unseen keys (Σ bound_d ≥ τ, or fewer than N
// keys seen) the statement returns no row and the caller runs the full plan
// (FlowPlan.sql) instead: the answer is always the exact one.

export interface TopKEdge {
  /**
   * The closed day (epoch ms) this edge lies in, whose lists bound it: its
   * keys are ranked by that day's listed value (else its bound) and only the
   * candidates' exact sums are read (a probe, not a grouping). Undefined: an
   * exact edge (grouped; e.g. the open day after the watermark).
   */
  day?: number;
  table: string;
  time: string;
  /** Bound of the time column for a value in epoch ms (SQL with a `?`, parameter pushed by the caller). */
  bound: (v: number) => string;
  sum: string;
  lo: number;
  hi: number;
}

export interface TopKInput {
  /** The key column (e.g. dst_addr) and the tables of src/store/rollups.ts TopKTable. */
  key: string;
  source: string;
  top: string;
  boundTable: string;
  /** The closed-day segment answered from the lists: [lo, hi) epoch ms. */
  lo: number;
  hi: number;
  edges: readonly TopKEdge[];
  /** bytes | packets | flows. */
  counter: string;
  n: number;
  /** The plan's value expression of a HUGEINT sum (x): `x`, or bps/pps arithmetic. */
  value: (x: string) => string;
  /** Render the key column for output (nagare_ip for addresses). */
  render: (col: string) => string;
  /** Push a parameter, get its placeholder. */
  p: (v: unknown) => string;
}

/** Missing (day, key) pairs with their exact values read: day (epoch ms) → keys. */
export type TopKPairs = ReadonlyMap<number, readonly bigint[]>;

/** Most missing pairs worth reading one day at a time; above it the full plan runs. */
export const TOPK_MAX_PAIRS = 2000;

/** The common CTEs up to `missing` (see the file comment). */
function core(x: TopKInput): string[] {
  const { p, key } = x;
  const ts = (v: number): string => `epoch_ms(${p(v)}::BIGINT)`;
  const range = (e: TopKEdge): string => `${e.time} >= ${e.bound(e.lo)} AND ${e.time} < ${e.bound(e.hi)}`;
  const exactEdges = x.edges.filter((e) => e.day === undefined);
  const boundedEdges = x.edges.filter((e) => e.day !== undefined);
  const edgeDays = [...new Set(boundedEdges.map((e) => e.day!))];
  const ctes: string[] = [];
  // Exact edge sums, one group per key.
  const edgeParts = exactEdges.map(
    (e) => `  SELECT ${key} AS a, ${e.sum} AS v FROM ${e.table} WHERE ${range(e)} GROUP BY ${key}`,
  );
  ctes.push(
    edgeParts.length
      ? `e AS MATERIALIZED (\n  SELECT a, sum(v)::HUGEINT AS e FROM (\n${edgeParts.join("\n  UNION ALL\n")}\n  ) GROUP BY a\n)`
      : `e AS (SELECT NULL::UHUGEINT AS a, NULL::HUGEINT AS e WHERE false)`,
  );
  // Bounded edges: only their total here (one sum, no grouping).
  const btot = boundedEdges.map((e) => `(SELECT coalesce(${e.sum}, 0) FROM ${e.table} WHERE ${range(e)})`);
  ctes.push(`bt AS (SELECT (${btot.length ? btot.join(" + ") : "0"})::HUGEINT AS bt)`);
  const metric = p(x.counter);
  ctes.push(
    `days AS (SELECT bucket, bound, total FROM ${x.boundTable} WHERE metric = ${metric} AND bucket >= ${ts(x.lo)} AND bucket < ${ts(x.hi)})`,
  );
  ctes.push(
    `lt AS MATERIALIZED (SELECT ${key} AS a, bucket, value FROM ${x.top} WHERE metric = ${p(x.counter)} AND bucket >= ${ts(x.lo)} AND bucket < ${ts(x.hi)})`,
  );
  // The closed days the bounded edges lie in: a key has there at most its listed value, else the bound.
  const dayList = (): string => edgeDays.map((d) => ts(d)).join(", ");
  ctes.push(
    edgeDays.length
      ? `edays AS (SELECT bucket, bound FROM ${x.boundTable} WHERE metric = ${p(x.counter)} AND bucket IN (${dayList()}))`
      : `edays AS (SELECT NULL::TIMESTAMP AS bucket, NULL::UBIGINT AS bound WHERE false)`,
  );
  ctes.push(
    edgeDays.length
      ? `el AS (SELECT t.${key} AS a, sum(t.value - d.bound)::HUGEINT AS adj FROM ${x.top} t JOIN edays d ON t.bucket = d.bucket WHERE t.metric = ${p(x.counter)} AND t.bucket IN (${dayList()}) GROUP BY t.${key})`
      : `el AS (SELECT NULL::UHUGEINT AS a, NULL::HUGEINT AS adj WHERE false)`,
  );
  ctes.push(
    `l AS (SELECT lt.a, sum(lt.value)::HUGEINT AS lb, sum(d.bound)::HUGEINT AS lbound FROM lt JOIN days d ON lt.bucket = d.bucket GROUP BY lt.a)`,
  );
  // sb: the most an unseen key can have (every day's bound, edge days included).
  ctes.push(
    `g AS (SELECT (coalesce(sum(bound), 0) + (SELECT coalesce(sum(bound), 0) FROM edays))::HUGEINT AS sb, coalesce(sum(total), 0)::HUGEINT AS tot, ((SELECT coalesce(sum(e), 0) FROM e) + (SELECT bt FROM bt))::HUGEINT AS etot FROM days)`,
  );
  // lo = LB (exact part known so far); hi0 + sb = UB.
  ctes.push(
    `s0 AS (SELECT coalesce(l.a, e.a) AS a, coalesce(l.lb, 0) + coalesce(e.e, 0) AS lo, coalesce(l.lb, 0) - coalesce(l.lbound, 0) + coalesce(e.e, 0) AS hi0 FROM l FULL JOIN e ON l.a = e.a)`,
  );
  ctes.push(
    `s AS MATERIALIZED (SELECT coalesce(s0.a, el.a) AS a, coalesce(s0.lo, 0) AS lo, coalesce(s0.hi0, 0) + coalesce(el.adj, 0) AS hi0, s0.a IS NOT NULL AS inrange FROM s0 FULL JOIN el ON s0.a = el.a)`,
  );
  // seen: keys known to have flows in the range (listed on a whole day, or in an exact edge); more than N, so "other" exists.
  ctes.push(
    `ok AS (SELECT *, tau IS NOT NULL AND sb < tau AND seen > ${p(x.n)} AS ok FROM (SELECT t.tau, g.sb, g.tot, g.etot, (SELECT count(*) FROM s WHERE inrange) AS seen FROM g, (SELECT (SELECT lo FROM s ORDER BY lo DESC LIMIT 1 OFFSET ${p(x.n - 1)}) AS tau) t))`,
  );
  ctes.push(`cand AS MATERIALIZED (SELECT s.a, s.lo FROM s, ok WHERE ok.ok AND s.hi0 + ok.sb >= ok.tau)`);
  // The candidates' exact sums over the bounded edges: a semi-join probe, no grouping of the edge.
  const bparts = boundedEdges.map(
    (e) =>
      `  SELECT ${key} AS a, ${e.sum} AS v FROM ${e.table} WHERE ${range(e)} AND ${key} IN (SELECT a FROM cand) GROUP BY ${key}`,
  );
  ctes.push(
    bparts.length
      ? `be AS (SELECT a, sum(v)::HUGEINT AS v FROM (\n${bparts.join("\n  UNION ALL\n")}\n  ) GROUP BY a)`
      : `be AS (SELECT NULL::UHUGEINT AS a, NULL::HUGEINT AS v WHERE false)`,
  );
  ctes.push(
    `cx AS MATERIALIZED (SELECT c.a, c.lo + coalesce(be.v, 0) AS lo FROM cand c LEFT JOIN be ON c.a = be.a)`,
  );
  // The (candidate, day) pairs the lists do not hold (on a day with bound 0 every key is listed): their exact values are read from the day table.
  ctes.push(
    `missing AS MATERIALIZED (SELECT c.a, d.bucket FROM cand c CROSS JOIN (SELECT * FROM days WHERE bound > 0) d ANTI JOIN lt ON lt.a = c.a AND lt.bucket = d.bucket)`,
  );
  return ctes;
}

/** The candidates' missing (day, key) pairs: rows [day epoch ms, key as text]; none when the bound fails. */
export function topKMissingSql(x: TopKInput): string {
  return `WITH ${core(x).join(",\n")}\nSELECT epoch_ms(bucket) AS day, a::VARCHAR AS k FROM missing ORDER BY day, k LIMIT ${x.p(TOPK_MAX_PAIRS + 1)}`;
}

/**
 * The threshold statement (see the file comment), given the exact values of
 * `pairs` (read one day at a time: a constant day and IN list prune the
 * day table to a row group or two; a join with the pairs scanned it all).
 * Returns no row when the bound fails or a missing pair is not in `pairs`.
 */
export function topKSql(x: TopKInput, pairs: TopKPairs = new Map()): string {
  const { p, key } = x;
  const ctes = core(x);
  const reads = [...pairs].map(
    ([day, keys]) =>
      `  SELECT bucket, ${key} AS a, ${x.counter} AS v FROM ${x.source} WHERE bucket = epoch_ms(${p(day)}::BIGINT) AND ${key} IN (${keys.map((k) => p(k)).join(", ")})`,
  );
  ctes.push(
    reads.length
      ? `rd AS (\n${reads.join("\n  UNION ALL\n")}\n)`
      : `rd AS (SELECT NULL::TIMESTAMP AS bucket, NULL::UHUGEINT AS a, NULL::UBIGINT AS v WHERE false)`,
  );
  // Only pairs still missing count (a pair listed meanwhile is in lb already).
  ctes.push(
    `extra AS (SELECT m.a, sum(rd.v)::HUGEINT AS v FROM rd JOIN missing m ON rd.a = m.a AND rd.bucket = m.bucket GROUP BY m.a)`,
  );
  const given = [...pairs].flatMap(([day, keys]) =>
    keys.map((k) => `(epoch_ms(${p(day)}::BIGINT), ${p(k)})`),
  );
  ctes.push(
    given.length
      ? `given AS (SELECT * FROM (VALUES ${given.join(", ")}) v(bucket, a))`
      : `given AS (SELECT NULL::TIMESTAMP AS bucket, NULL::UHUGEINT AS a WHERE false)`,
  );
  ctes.push(
    `have AS (SELECT NOT EXISTS (SELECT 1 FROM missing m ANTI JOIN given r ON r.a = m.a AND r.bucket = m.bucket) AS have)`,
  );
  ctes.push(
    `top AS (SELECT c.a, c.lo + coalesce(x.v, 0) AS v FROM cx c LEFT JOIN extra x ON c.a = x.a ORDER BY v DESC, c.a LIMIT ${p(x.n)})`,
  );
  // "other": ok needs more than N keys seen in the range, so a key outside the top exists.
  ctes.push(
    `res AS (\n  SELECT ${x.render("a")} AS ${key}, false AS other, ${x.value("v")} AS value FROM top\n  UNION ALL\n  SELECT NULL, true, ${x.value("(ok.tot + ok.etot - (SELECT sum(v) FROM top))")} FROM ok\n)`,
  );
  return `WITH ${ctes.join(",\n")}\nSELECT * FROM res WHERE (SELECT ok FROM ok) AND (SELECT have FROM have)\nORDER BY other, value DESC, ${key}`;
}
