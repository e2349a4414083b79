// The set walk shared by NetFlow v9 and IPFIX (their control-set grammars are
// in v9.ts / ipfix.ts) and what it hands to the decoder: template
// definitions, withdrawals, data sets and problems. The walkers are pure wire
// grammar; state (template cache, pending buffer) lives in the decoder.
import type { DecodeReason } from "../errors.js";
import type { MsgContext } from "./records.js";
import type { TemplateField } from "./templates.js";

export interface SetHandler {
  template(ctx: MsgContext, id: number, fields: TemplateField[], options: boolean, scopeCount: number): void;
  /** IPFIX only (RFC 7011 §8.1): one template, or all data / all options templates of the scope. */
  withdraw(ctx: MsgContext, id: number, kind: "one" | "allData" | "allOptions"): void;
  /** A data set's records: buf[off, end) (set header excluded). Returns data records decoded, -1 if held pending. */
  data(ctx: MsgContext, setId: number, buf: Uint8Array, dv: DataView, off: number, end: number): number;
  problem(ctx: MsgContext, reason: DecodeReason, msg: string): void;
}

/** True when buf[off, end) is all zero bytes (exporters that zero-fill the rest of a buffer). */
export function allZero(buf: Uint8Array, off: number, end: number): boolean {
  for (let k = off; k < end; k++) if (buf[k] !== 0) return false;
  return true;
}

/**
 * What differs between the NetFlow v9 and IPFIX set walks; the walk itself is
 * the same grammar: set_id(2) length(2, includes these 4 bytes) body, sets
 * back to back up to the end of the datagram / message (RFC 3954 §5.2,
 * RFC 7011 §3.3.2), ids >= 256 are data sets, lower ids control sets.
 */
export interface SetGrammar {
  /** Message prefix: "v9" / "ipfix". */
  name: string;
  /** What a set is called in messages: "flowset" (v9) / "set" (IPFIX). */
  set: string;
  /** What `end` is in a bad_length message: "datagram" (v9) / "message ends at" (IPFIX). */
  bound: string;
  /** A zero-filled tail in place of a set is padding, not an error (v9: Palo Alto pads datagrams with zeros). */
  zeroTail: boolean;
  /** Parse the body buf[p, end) of control set `id` (< 256); false when `id` is reserved. */
  control(
    id: number,
    buf: Uint8Array,
    dv: DataView,
    p: number,
    end: number,
    ctx: MsgContext,
    h: SetHandler,
  ): boolean;
}

/** Walk the sets in buf[off, end). Returns data records decoded, -1 if some sets were held pending. */
export function walkSets(
  buf: Uint8Array,
  dv: DataView,
  off: number,
  end: number,
  ctx: MsgContext,
  h: SetHandler,
  g: SetGrammar,
  counts: { flowsets: number } | undefined,
): number {
  let records = 0;
  let pending = false;
  while (off < end) {
    if (end - off < 4) {
      if (!allZero(buf, off, end))
        h.problem(ctx, "padding", `${g.name}: ${end - off} trailing bytes after the last ${g.set}`);
      break;
    }
    const id = dv.getUint16(off);
    const slen = dv.getUint16(off + 2);
    if (slen < 4 || off + slen > end) {
      if (!g.zeroTail || !allZero(buf, off, end))
        h.problem(
          ctx,
          "bad_length",
          `${g.name}: ${g.set} ${id} length ${slen} at offset ${off} (${g.bound} ${end})`,
        );
      break;
    }
    const setEnd = off + slen;
    if (counts !== undefined) counts.flowsets++;
    if (id >= 256) {
      const r = h.data(ctx, id, buf, dv, off + 4, setEnd);
      if (r < 0) pending = true;
      else records += r;
    } else if (!g.control(id, buf, dv, off + 4, setEnd, ctx, h)) {
      h.problem(ctx, "bad_set_id", `${g.name}: reserved ${g.set} id ${id}`);
    }
    off = setEnd;
  }
  return pending ? -1 : records;
}
