// Record-by-record comparison of our decode with a reference decode
// (tshark's expected/<unit>.jsonl, or a live tshark run).
import type { ExpectedRecord } from "./captures.js";
import type { Produced, Row } from "./decode.js";

export const FLOW_FIELDS = [
  ["src", "src_addr"],
  ["dst", "dst_addr"],
  ["sport", "src_port"],
  ["dport", "dst_port"],
  ["proto", "protocol"],
  ["bytes", "bytes"],
  ["packets", "packets"],
  ["src_as", "src_as"],
  ["dst_as", "dst_as"],
  ["in_if", "in_if"],
  ["out_if", "out_if"],
] as const;

export type RefField = (typeof FLOW_FIELDS)[number][0];
export type RefRecord = Partial<Record<RefField, string | number | null>>;

export interface Mismatch {
  /** Index in the reference sequence. */
  ref: number;
  /** Index in our produced sequence (-1: nothing to compare with). */
  ours: number;
  field: string;
  expected: unknown;
  got: unknown;
}

/**
 * Reference value → the value our columns hold: null (field absent) is 0 for
 * numbers and "" for addresses; the all-zero address is "" too (formatIp
 * prints an all-zero address as empty).
 */
export function norm(field: string, v: string | number | null | undefined): string | number {
  const isAddr = field === "src" || field === "dst";
  if (v === null || v === undefined) return isAddr ? "" : 0;
  if (isAddr && (v === "0.0.0.0" || v === "::")) return "";
  return v;
}

/** Differences between one reference record and one of our rows, on the given fields. */
export function diffRow(
  ref: RefRecord,
  row: Row,
  fields: readonly RefField[],
  refIdx: number,
  oursIdx: number,
): Mismatch[] {
  const out: Mismatch[] = [];
  for (const [rf, col] of FLOW_FIELDS) {
    if (!fields.includes(rf)) continue;
    const e = norm(rf, ref[rf]);
    let g = row[col];
    // Cisco ASA NSEL (fw_event set, no IE 1): IE 85 is NF_F_FWD_FLOW_DELTA_BYTES,
    // the initiator's bytes, which tshark shows as its octets field. We keep
    // firewall events out of `bytes` (README: "NSEL counts bytes in
    // initiator/responder octets") and store it as initiator_octets.
    if (rf === "bytes" && e !== g && row.fw_event !== 0 && row.bytes === 0) g = row.initiator_octets;
    if (e !== g) out.push({ ref: refIdx, ours: oursIdx, field: rf, expected: e, got: g });
  }
  return out;
}

const ALL: readonly RefField[] = FLOW_FIELDS.map((f) => f[0]);
const HEADER: readonly RefField[] = ["src", "dst", "sport", "dport", "proto"];
const COUNTERS: readonly RefField[] = ["bytes", "packets", "in_if", "out_if"];

/**
 * Compare one tshark record (expected/*.jsonl) with one record we produced.
 *  - kind "flow": every field on our flow row (the outer header for
 *    two-header records; expected's top level is the outer one too).
 *  - kind "options" with a "datalink" key: tshark's rule is "no srcaddr IE
 *    = options", but the record is a flow whose header is inside IE 315; our
 *    row's address/port/protocol columns must hold that parsed header, and
 *    the exported interfaces/counters must match.
 *  - kind "options" otherwise: either an options record of ours (its values
 *    must include tshark's sampling value when there is one), or a flow row
 *    from a data template without address IEs (e.g. Cisco WLC): counters and
 *    interfaces must match and it must carry no address.
 */
export function diffRecord(exp: ExpectedRecord, ours: Produced, refIdx: number, oursIdx: number): Mismatch[] {
  if (exp.kind === "flow") {
    if (ours.kind !== "flow")
      return [{ ref: refIdx, ours: oursIdx, field: "kind", expected: "flow", got: ours.kind }];
    return diffRow(exp, ours.row, ALL, refIdx, oursIdx);
  }
  if (exp.datalink === null) {
    // tshark could not dissect this record's dataLinkFrameSection (EoMPLS with
    // a control word, truncated inner IP: "IPvN total length exceeds packet
    // length"); we may parse a header from it. Only the exported interfaces
    // are comparable.
    if (ours.kind !== "flow")
      return [{ ref: refIdx, ours: oursIdx, field: "kind", expected: "flow (datalink)", got: ours.kind }];
    return diffRow(exp, ours.row, ["in_if", "out_if"], refIdx, oursIdx);
  }
  if (exp.datalink) {
    if (ours.kind !== "flow")
      return [{ ref: refIdx, ours: oursIdx, field: "kind", expected: "flow (datalink)", got: ours.kind }];
    return [
      ...diffRow(exp.datalink, ours.row, HEADER, refIdx, oursIdx).map((m) => ({
        ...m,
        field: `datalink.${m.field}`,
      })),
      ...diffRow(exp, ours.row, ["in_if", "out_if"], refIdx, oursIdx),
    ];
  }
  if (ours.kind === "options") {
    if (exp.sampling !== null && exp.sampling !== 0) {
      const values = [...Object.values(ours.options.fields), ...Object.values(ours.options.scope)];
      if (!values.includes(exp.sampling))
        return [
          {
            ref: refIdx,
            ours: oursIdx,
            field: "options.sampling",
            expected: exp.sampling,
            got: ours.options,
          },
        ];
    }
    return [];
  }
  return [
    ...diffRow(exp, ours.row, COUNTERS, refIdx, oursIdx),
    ...(ours.row.src_addr !== ""
      ? [{ ref: refIdx, ours: oursIdx, field: "src", expected: "", got: ours.row.src_addr }]
      : []),
  ];
}

/**
 * Align the reference records with ours and list every difference.
 * `exact`: one to one, in order (the counts must agree). Otherwise the
 * reference must be an in-order subsequence of ours (we decode more: data
 * held until its template arrived, or datagrams tshark stops short in); each
 * reference record is matched with the next of ours that agrees with it.
 */
export function alignAndDiff(
  expected: readonly ExpectedRecord[],
  ours: readonly Produced[],
  exact: boolean,
): { mismatches: Mismatch[]; unmatched: number } {
  const mismatches: Mismatch[] = [];
  if (exact) {
    const n = Math.max(expected.length, ours.length);
    for (let i = 0; i < n; i++) {
      const e = expected[i];
      const o = ours[i];
      if (!e || !o) {
        mismatches.push({
          ref: i,
          ours: i,
          field: "record",
          expected: e ?? "none",
          got: o ? o.kind : "none",
        });
        continue;
      }
      mismatches.push(...diffRecord(e, o, i, i));
    }
    return { mismatches, unmatched: 0 };
  }
  let j = 0;
  let unmatched = 0;
  expected.forEach((e, i) => {
    let k = j;
    while (k < ours.length && diffRecord(e, ours[k]!, i, k).length > 0) k++;
    if (k === ours.length) {
      unmatched++;
      // Report against the record we would have paired it with, for a precise message.
      const o = ours[j];
      mismatches.push(
        ...(o ? diffRecord(e, o, i, j) : [{ ref: i, ours: -1, field: "record", expected: e, got: "none" }]),
      );
      return;
    }
    j = k + 1;
  });
  return { mismatches, unmatched };
}

export function describe(m: readonly Mismatch[], limit = 15): string {
  const lines = m
    .slice(0, limit)
    .map(
      (x) =>
        `  ref #${x.ref} / ours #${x.ours} ${x.field}: expected ${JSON.stringify(x.expected)}, got ${JSON.stringify(x.got)}`,
    );
  if (m.length > limit) lines.push(`  … ${m.length - limit} more`);
  return lines.join("\n");
}
