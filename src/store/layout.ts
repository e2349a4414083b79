// Row order of a committed stage in flows_raw (issue 4: disk bytes per flow).
//
// Why: DuckDB 1.5.6 compresses an integer column per group of 2048 values
// with frame-of-reference bit-packing: each group stores its minimum and
// every value as (value - min) in the bit width of (max - min). An address
// column (UHUGEINT, IPv4 stored IPv4-mapped, ::ffff:a.b.c.d = 2^48 + v4)
// whose group mixes IPv4 and IPv6 flows spans ~2^127, so the group takes
// 128 bits a value and DuckDB stores the segment Uncompressed: 16 B per
// address per flow. On the month benchmark's traffic (30 % IPv6, families
// interleaved flow by flow) src_addr and dst_addr were both Uncompressed,
// 32 of flows_raw's 62 B/flow, and next_hop (mixed too) 6 more.
//
// What: each committed stage goes into flows_raw in runs, its IPv4 rows,
// then its IPv6 rows, then the rest (ip_version 0: records without
// addresses), each run in receive order. A 2048-value group is then one family (except
// the one at the seam): an IPv4 group bit-packs in ≤ 32 bits (4 B), an IPv6
// group in the width its addresses really span. Measured on 2 days of the
// 100 M-flow month (6.67 M rows, flushes of 1 M rows, CHECKPOINT, used
// blocks): flows_raw 62.0 → 42.9 B/flow; at 100 k-row flushes (100 k
// flows/s, 1 s flush) file 63.1 → 44.8 B/flow; a day of the month model
// written as bench/month.ts writes it, whole file with rollups 78.1 → 60.2
// B/flow. Cost: the filtered scans (not the compression: a stage already
// in family order commits as fast as before): a 100 k-row commit ≈ 400–470
// ms instead of ≈ 330 ms, history ingest 7–17 % slower. BENCHMARKS.md §6
// "Disk: row layout of flows_raw".
//
// Why not a sort: time order inside each run is what it was, so the row
// groups' time_received min/max (zone maps: time-range queries skip whole
// row groups) cover the flush's span as before, and no sort is paid per
// flush: three filtered scans of the in-memory stage. Sorting by destination
// (ip_version, dst_addr) would save ~10 B/flow more, but DuckDB 1.5.6
// decodes a delta-bit-packed UHUGEINT 10–16× slower than an uncompressed
// one (filter or GROUP BY on dst_addr), and the compression of an existing
// column cannot be pinned without rewriting flows_raw.
//
// Below ~2048 rows per flush (a few thousand flows/s at the 1 s flush) the
// runs are shorter than a group and the gain fades; the raw table is then
// small anyway. The on-disk format is unchanged (no migration): rows
// written before keep their order, new flushes get this one.

/**
 * The runs, in order: IPv4, IPv6, then the rest (ip_version 0: records
 * without addresses, e.g. sFlow samples of non-IP frames). The zeros get a
 * run of their own: next to IPv6 values a 0 widens a group to ~2^128
 * again; next to IPv4-mapped ones, from 32 to 48 bits.
 */
export const RUNS_WHERE = ["ip_version = 4", "ip_version = 6", "ip_version NOT IN (4, 6)"] as const;

/**
 * Rows per INSERT statement, at most: below DuckDB's row group (122 880
 * rows). DuckDB 1.5.6 writes a bigger INSERT … SELECT's row groups straight
 * to the file ("optimistic writes"), and a reader that starts while such a
 * COMMIT runs reads those row groups half-published: before the rest of
 * the transaction, with statistics that do not cover their rows (a filter
 * on seq skipped by the row-group statistics let a committing stage through,
 * and a GROUP BY failed with "Perfect hash aggregate: … statistics … are
 * corrupt"). Statements under a row group go through the transaction's
 * local storage and commit atomically (src/store/live.ts, "Commit window").
 */
export const INSERT_CHUNK_ROWS = 100_000;

/** One in-memory stage to copy: its table, its expressions for the columns, its row count. */
export interface StageSource {
  from: string;
  select: string;
  rows: number;
}

/**
 * The INSERT statements that copy `stages` into `table` (columns `columns`,
 * a comma-separated list) in layout order: per run, each stage in turn, in
 * chunks of at most `chunk` of its rows (rowid ranges: a stage is a fresh
 * table filled by appends, rowids 0…rows−1; the last chunk is open, so rows
 * beyond `rows` are copied too). Run them in order in one transaction; each
 * returns its row count, and together they copy every row exactly once
 * (ip_version is NOT NULL). Separate statements rather than one INSERT of a
 * UNION ALL: the order is then the statements' order by construction, and
 * the UNION ALL was no faster (100 k-row commits ≈ 400–490 ms either way,
 * one plain INSERT ≈ 330 ms; an ORDER BY ip_version is a sort and not
 * stable) and packed slightly worse (60.8 against 60.2 B/flow).
 */
export function rawInsertStatements(
  table: string,
  stages: readonly StageSource[],
  columns: string,
  chunk = INSERT_CHUNK_ROWS,
): string[] {
  const out: string[] = [];
  for (const where of RUNS_WHERE)
    for (const s of stages)
      for (let lo = 0; lo === 0 || lo < s.rows; lo += chunk) {
        const range =
          s.rows <= chunk
            ? ""
            : lo + chunk >= s.rows
              ? ` AND rowid >= ${lo}`
              : ` AND rowid >= ${lo} AND rowid < ${lo + chunk}`;
        out.push(
          `INSERT INTO ${table} (${columns}) SELECT ${s.select} FROM ${s.from} WHERE ${where}${range}`,
        );
      }
  return out;
}
