// IPFIX (RFC 7011) wire grammar.
//
// §3.1 message header (16 bytes):
//   version(2)=10 length(2, whole message) export_time(4, s) sequence(4) observation_domain_id(4)
// §3.3.2 set header: set_id(2) length(2, includes these 4 bytes)
//   set 2: template set          { template_id(2) field_count(2) field_specifier* }* padding
//   set 3: options template set  { template_id(2) field_count(2) scope_field_count(2) field_specifier* }* padding
//   set 4-255: reserved;  set >= 256: data set of that template
// §3.2 field specifier: E(1) | ie_id(15) field_length(2) [enterprise_number(4) if E]
//   field_length 65535 = variable length (§7: 1-byte length, or 255 + 2-byte length)
// §8.1 withdrawal: a template record with field_count 0; template_id 2 (in a
//   template set) / 3 (in an options template set) withdraws all data / all options templates.
import type { MsgContext } from "./records.js";
import { allZero, walkSets, type SetGrammar, type SetHandler } from "./sets.js";
import type { TemplateField } from "./templates.js";

export const IPFIX_HEADER = 16;

const IPFIX_GRAMMAR: SetGrammar = {
  name: "ipfix",
  set: "set",
  bound: "message ends at",
  // No zero-tail allowance: the message length (§3.1) says where the sets end.
  zeroTail: false,
  control(id, buf, dv, p, end, ctx, h) {
    if (id !== 2 && id !== 3) return false;
    parseTemplates(buf, dv, p, end, id === 3, ctx, h);
    return true;
  },
};

/** Walk the sets of one IPFIX message occupying buf[start, msgEnd). Returns data records decoded (-1 if some were held pending). */
export function walkIpfix(
  buf: Uint8Array,
  dv: DataView,
  start: number,
  msgEnd: number,
  ctx: MsgContext,
  h: SetHandler,
): number {
  return walkSets(buf, dv, start + IPFIX_HEADER, msgEnd, ctx, h, IPFIX_GRAMMAR, undefined);
}

function parseTemplates(
  buf: Uint8Array,
  dv: DataView,
  p: number,
  end: number,
  options: boolean,
  ctx: MsgContext,
  h: SetHandler,
): void {
  while (end - p >= 4) {
    const tid = dv.getUint16(p);
    const fc = dv.getUint16(p + 2);
    if (fc === 0) {
      // §8.1 withdrawal (the all-templates form uses the set id as template id).
      if (tid === 0 && allZero(buf, p, end)) return; // padding
      if (tid === 2 && !options) h.withdraw(ctx, tid, "allData");
      else if (tid === 3 && options) h.withdraw(ctx, tid, "allOptions");
      else if (tid >= 256) h.withdraw(ctx, tid, "one");
      else {
        h.problem(ctx, "template_invalid", `ipfix: withdrawal of template id ${tid}`);
        return;
      }
      p += 4;
      continue;
    }
    p += 4;
    let scopeCount = 0;
    if (options) {
      if (end - p < 2) {
        h.problem(ctx, "truncated", `ipfix: options template ${tid} header`);
        return;
      }
      scopeCount = dv.getUint16(p);
      p += 2;
    }
    const fields: TemplateField[] = new Array(fc);
    for (let k = 0; k < fc; k++) {
      if (end - p < 4) {
        h.problem(ctx, "truncated", `ipfix: template ${tid} field ${k} of ${fc} overruns its set`);
        return;
      }
      const raw = dv.getUint16(p);
      const length = dv.getUint16(p + 2);
      p += 4;
      let enterprise = 0;
      if (raw & 0x8000) {
        if (end - p < 4) {
          h.problem(ctx, "truncated", `ipfix: template ${tid} enterprise number`);
          return;
        }
        enterprise = dv.getUint32(p);
        p += 4;
      }
      fields[k] = { id: raw & 0x7fff, enterprise, length };
    }
    if (tid < 256) {
      h.problem(ctx, "template_invalid", `ipfix: template id ${tid}`);
      continue;
    }
    if (options && (scopeCount === 0 || scopeCount > fc)) {
      // RFC 7011 §3.4.2.2: the scope field count MUST NOT be zero.
      h.problem(ctx, "template_invalid", `ipfix: options template ${tid} scope count ${scopeCount} of ${fc}`);
      continue;
    }
    h.template(ctx, tid, fields, options, scopeCount);
  }
}
