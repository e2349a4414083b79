// A big-endian packet writer and the NetFlow v9 / IPFIX message pieces that
// the synthetic decode-benchmark packets (bench/synth.ts) and the template
// floods of the fuzz tests (test/fuzz/floods.ts) both build by hand from the
// wire grammar (RFC 3954 §5, RFC 7011 §3). Test and bench code only: nothing
// in src/ imports it.

/** Writes big-endian integers into a fixed-size buffer, advancing `o`. */
export class WireWriter {
  readonly b: Uint8Array;
  readonly dv: DataView;
  o = 0;
  constructor(n: number) {
    this.b = new Uint8Array(n);
    this.dv = new DataView(this.b.buffer);
  }
  u8(v: number): void {
    this.dv.setUint8(this.o++, v & 0xff);
  }
  u16(v: number): void {
    this.dv.setUint16(this.o, v & 0xffff);
    this.o += 2;
  }
  u32(v: number): void {
    this.dv.setUint32(this.o, v >>> 0);
    this.o += 4;
  }
  u64(v: number): void {
    this.dv.setBigUint64(this.o, BigInt(v));
    this.o += 8;
  }
  /** An unsigned field of `len` bytes (1, 2, 4, else 8). */
  put(len: number, v: number): void {
    if (len === 1) this.u8(v);
    else if (len === 2) this.u16(v);
    else if (len === 4) this.u32(v);
    else this.u64(v);
  }
}

/** (IE id, length) pairs of a template. */
export type TemplateFields = readonly (readonly [number, number])[];

/**
 * RFC 3954 §5.1 packet header: version 9, count, sysUpTime, unix secs,
 * sequence number, source id (`domain`).
 */
export function v9Header(w: WireWriter, count: number, seq: number, domain: number): void {
  w.u16(9);
  w.u16(count);
  w.u32(1_000_000); // sysUpTime
  w.u32(1_700_000_000); // unix secs
  w.u32(seq);
  w.u32(domain); // source id
}

/**
 * RFC 7011 §3.1 message header: version 10, length, export time, sequence
 * number, observation domain id.
 */
export function ipfixHeader(w: WireWriter, len: number, seq: number, domain: number): void {
  w.u16(10);
  w.u16(len);
  w.u32(1_700_000_000);
  w.u32(seq);
  w.u32(domain);
}

/** One template record (RFC 3954 §5.2, RFC 7011 §3.4.1): id, field count, (IE id, length) pairs. */
export function templateRecord(w: WireWriter, id: number, fields: TemplateFields): void {
  w.u16(id);
  w.u16(fields.length);
  for (const [ie, l] of fields) {
    w.u16(ie);
    w.u16(l);
  }
}
