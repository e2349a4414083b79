// NetFlow v9 (RFC 3954) wire grammar.
//
// §5.1 header (20 bytes):
//   version(2)=9 count(2) sysUptime(4, ms) unix_secs(4) sequence(4) source_id(4)
// §5.2 FlowSet: flowset_id(2) length(2, includes these 4 bytes) body
//   id 0: template flowset   { template_id(2) field_count(2) { type(2) length(2) }* }* padding
//   id 1: options template   { template_id(2) scope_len(2) option_len(2)
//                              { scope_type(2) length(2) }* { type(2) length(2) }* padding }*
//   id 2-255: reserved;  id >= 256: data flowset of that template (records + padding)
//
// The header count (records in the packet) is NOT trusted: exporters get it
// wrong (and tshark 4.0 stops there, see captures/expected/SUMMARY.tsv); we
// walk flowsets by their lengths until the end of the datagram.
import type { MsgContext } from "./records.js";
import { allZero, walkSets, type SetGrammar, type SetHandler } from "./sets.js";
import type { TemplateField } from "./templates.js";

export const V9_HEADER = 20;

const V9_GRAMMAR: SetGrammar = {
  name: "v9",
  set: "flowset",
  bound: "datagram",
  zeroTail: true,
  control(id, buf, dv, p, end, ctx, h) {
    if (id === 0) parseTemplates(buf, dv, p, end, ctx, h);
    else if (id === 1) parseOptionsTemplates(buf, dv, p, end, ctx, h);
    else return false;
    return true;
  },
};

/** Walk the flowsets of one v9 datagram (header already parsed into ctx). Returns data records decoded, -1 if some sets were held pending. */
export function walkV9(
  buf: Uint8Array,
  dv: DataView,
  ctx: MsgContext,
  h: SetHandler,
  counts = { flowsets: 0 },
): number {
  return walkSets(buf, dv, V9_HEADER, buf.length, ctx, h, V9_GRAMMAR, counts);
}

/** `n` (type, length) field specifiers at p (RFC 3954 §5.2 / §6.1: the same form in both template kinds). */
function readFields(dv: DataView, p: number, n: number): TemplateField[] {
  const fields: TemplateField[] = new Array(n);
  for (let k = 0; k < n; k++)
    fields[k] = { id: dv.getUint16(p + 4 * k), enterprise: 0, length: dv.getUint16(p + 4 * k + 2) };
  return fields;
}

function parseTemplates(
  buf: Uint8Array,
  dv: DataView,
  p: number,
  end: number,
  ctx: MsgContext,
  h: SetHandler,
): void {
  while (end - p >= 4) {
    const tid = dv.getUint16(p);
    const fc = dv.getUint16(p + 2);
    if (tid === 0 && fc === 0 && allZero(buf, p, end)) return; // padding
    p += 4;
    if (p + fc * 4 > end) {
      h.problem(ctx, "truncated", `v9: template ${tid} with ${fc} fields overruns its flowset`);
      return;
    }
    const fields = readFields(dv, p, fc);
    p += fc * 4;
    if (tid < 256 || fc === 0) {
      h.problem(ctx, "template_invalid", `v9: template id ${tid} with ${fc} fields`);
      continue;
    }
    h.template(ctx, tid, fields, false, 0);
  }
}

function parseOptionsTemplates(
  buf: Uint8Array,
  dv: DataView,
  p: number,
  end: number,
  ctx: MsgContext,
  h: SetHandler,
): void {
  while (end - p >= 6) {
    const tid = dv.getUint16(p);
    const scopeLen = dv.getUint16(p + 2);
    const optLen = dv.getUint16(p + 4);
    if (tid === 0 && allZero(buf, p, end)) return; // padding
    p += 6;
    if (scopeLen % 4 !== 0 || optLen % 4 !== 0 || p + scopeLen + optLen > end) {
      h.problem(
        ctx,
        "template_invalid",
        `v9: options template ${tid} scope ${scopeLen} / option ${optLen} bytes do not fit`,
      );
      return;
    }
    const n = (scopeLen + optLen) / 4;
    const fields = readFields(dv, p, n);
    p += scopeLen + optLen;
    // Records are padded to 4 bytes (RFC 3954 §6.1 "Padding").
    p += (4 - ((6 + scopeLen + optLen) % 4)) % 4;
    if (tid < 256 || n === 0) {
      h.problem(ctx, "template_invalid", `v9: options template id ${tid} with ${n} fields`);
      continue;
    }
    h.template(ctx, tid, fields, true, scopeLen / 4);
  }
}
