// What the NetFlow v9 and IPFIX set walkers (v9.ts, ipfix.ts) hand to the
// decoder: template definitions, withdrawals, data sets and problems. The
// walkers are pure wire grammar; state (template cache, pending buffer) lives
// in the decoder.
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
