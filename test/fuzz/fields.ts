// Where the length and count fields of a datagram are: the targets of
// the "length lies" mutations. A structural walk of the wire grammar, tolerant
// of anything (it stops at the first inconsistency), so it can be run on
// real captures and on already-mutated data alike.
//
// NetFlow v1/v5/v7 (Cisco): version(2) count(2) …            → count
// NetFlow v9 (RFC 3954 §5.1-5.3): version count … | FlowSet id(2) length(2) …
//   template FlowSet (id 0): { template id, field count, (type, length)* }*
//   options template (id 1, §6.1): template id, scope length, option length, (type, length)*
// IPFIX (RFC 7011 §3.1-3.4): version, message length … | set id(2) length(2) …
//   template set (id 2): { template id, field count, (ie id [+PEN], length)* }*
//   options template set (id 3): template id, field count, scope field count, fields…

export interface LengthField {
  /** Byte offset of the big-endian field. */
  offset: number;
  /** Field width in bytes: 2 (NetFlow/IPFIX) unless 4 (sFlow XDR). */
  width?: 4;
  /** Start of the structure the field measures; "remaining length" is counted from here. */
  base: number;
  what: string;
}

function u16(p: Uint8Array, o: number): number {
  return (p[o]! << 8) | p[o + 1]!;
}

export function netflowLengthFields(p: Uint8Array): LengthField[] {
  const out: LengthField[] = [];
  if (p.length < 4) return out;
  const version = u16(p, 0);
  if (version === 1 || version === 5 || version === 7) {
    out.push({ offset: 2, base: 0, what: `v${version} header count` });
    return out;
  }
  if (version === 9) {
    out.push({ offset: 2, base: 0, what: "v9 header count" });
    walkSets(p, 20, p.length, 9, out);
  } else if (version === 10) {
    // Several messages may follow each other in one datagram.
    let m = 0;
    while (m + 16 <= p.length && u16(p, m) === 10) {
      out.push({ offset: m + 2, base: m, what: `IPFIX message length @${m}` });
      const mlen = u16(p, m + 2);
      if (mlen < 16) break;
      walkSets(p, m + 16, Math.min(p.length, m + mlen), 10, out);
      m += mlen;
    }
  }
  return out;
}

function walkSets(p: Uint8Array, start: number, end: number, version: 9 | 10, out: LengthField[]): void {
  let s = start;
  while (s + 4 <= end) {
    const id = u16(p, s);
    const len = u16(p, s + 2);
    out.push({ offset: s + 2, base: s, what: `set ${id} length @${s}` });
    if (len < 4) return;
    const setEnd = Math.min(end, s + len);
    const tmpl = version === 9 ? 0 : 2;
    const opts = version === 9 ? 1 : 3;
    if (id === tmpl) walkTemplates(p, s + 4, setEnd, version, false, out);
    else if (id === opts) walkTemplates(p, s + 4, setEnd, version, true, out);
    s += len;
  }
}

function walkTemplates(
  p: Uint8Array,
  start: number,
  end: number,
  version: 9 | 10,
  options: boolean,
  out: LengthField[],
): void {
  let r = start;
  while (r + 4 <= end) {
    const tid = u16(p, r);
    let fields: number;
    if (version === 9 && options) {
      // §6.1: scope and option lengths are in bytes, 4 per field spec.
      if (r + 6 > end) return;
      out.push({ offset: r + 2, base: r, what: `v9 options template ${tid} scope length @${r + 2}` });
      out.push({ offset: r + 4, base: r, what: `v9 options template ${tid} option length @${r + 4}` });
      fields = Math.floor((u16(p, r + 2) + u16(p, r + 4)) / 4);
      r += 6;
    } else {
      out.push({ offset: r + 2, base: r, what: `template ${tid} field count @${r + 2}` });
      fields = u16(p, r + 2);
      r += 4;
      if (version === 10 && options) {
        if (r + 2 > end) return;
        out.push({ offset: r, base: r - 4, what: `template ${tid} scope field count @${r}` });
        r += 2;
      }
    }
    if (fields === 0) return; // withdrawal or padding
    for (let f = 0; f < fields; f++) {
      if (r + 4 > end) return;
      const ie = u16(p, r);
      out.push({ offset: r + 2, base: r, what: `template ${tid} field ${f} length @${r + 2}` });
      r += version === 10 && ie & 0x8000 ? 8 : 4;
    }
  }
}

function u32(p: Uint8Array, o: number): number {
  return ((p[o]! << 24) | (p[o + 1]! << 16) | (p[o + 2]! << 8) | p[o + 3]!) >>> 0;
}

/**
 * sFlow v5 (sflow_version_5.txt, XDR: every length and count is 32-bit):
 *   datagram: version, address type, agent address (4|16), sub-agent, sequence, uptime, sample count, samples
 *   sample:   data_format, length, body — flow (1) / expanded flow (3) / counters (2) / expanded counters (4)
 *             bodies end in a record count and records: data_format, length, body
 *   sampled header record (1): protocol, frame length, stripped, header length, header bytes
 */
export function sflowLengthFields(p: Uint8Array): LengthField[] {
  const out: LengthField[] = [];
  if (p.length < 28) return out;
  const atype = u32(p, 4);
  let o = atype === 2 ? 8 + 16 : 8 + 4;
  o += 12; // sub-agent, sequence, uptime
  if (o + 4 > p.length) return out;
  out.push({ offset: o, width: 4, base: 0, what: "sFlow sample count" });
  const samples = u32(p, o);
  o += 4;
  for (let s = 0; s < samples && o + 8 <= p.length; s++) {
    const fmt = u32(p, o) & 0xfff;
    const len = u32(p, o + 4);
    out.push({ offset: o + 4, width: 4, base: o, what: `sample ${s} (format ${fmt}) length @${o + 4}` });
    const body = o + 8;
    const end = Math.min(p.length, body + len);
    // Offset of the record count inside the sample body, per sample format.
    const countAt = fmt === 1 ? 28 : fmt === 3 ? 40 : fmt === 2 ? 8 : fmt === 4 ? 12 : -1;
    if (countAt >= 0 && body + countAt + 4 <= end) {
      out.push({
        offset: body + countAt,
        width: 4,
        base: body,
        what: `sample ${s} record count @${body + countAt}`,
      });
      const n = u32(p, body + countAt);
      let r = body + countAt + 4;
      for (let k = 0; k < n && r + 8 <= end; k++) {
        const rfmt = u32(p, r);
        out.push({
          offset: r + 4,
          width: 4,
          base: r,
          what: `sample ${s} record ${k} (format ${rfmt}) length @${r + 4}`,
        });
        if ((fmt === 1 || fmt === 3) && rfmt === 1 && r + 24 <= end) {
          out.push({
            offset: r + 20,
            width: 4,
            base: r + 24,
            what: `sample ${s} sampled header length @${r + 20}`,
          });
        }
        r += 8 + u32(p, r + 4);
      }
    }
    if (len === 0) break;
    o = body + len;
  }
  return out;
}
