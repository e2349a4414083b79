// A bounds-checked big-endian reader over one packet (or a slice of it).
//
// Every read checks against `end` and throws DecodeError("truncated") instead
// of reading past the data, so a lying length can never read foreign bytes.
import { DecodeError } from "./errors.js";

export class Reader {
  readonly buf: Uint8Array;
  readonly dv: DataView;
  pos: number;
  readonly end: number;

  constructor(buf: Uint8Array, start = 0, end = buf.length) {
    this.buf = buf;
    this.dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.pos = start;
    this.end = Math.min(end, buf.length);
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  need(n: number, what: string): void {
    if (n < 0 || this.pos + n > this.end) {
      throw new DecodeError(
        "truncated",
        `${what}: need ${n} bytes at offset ${this.pos}, have ${this.end - this.pos}`,
      );
    }
  }

  u8(what = "u8"): number {
    this.need(1, what);
    return this.buf[this.pos++]!;
  }

  u16(what = "u16"): number {
    this.need(2, what);
    const v = this.dv.getUint16(this.pos);
    this.pos += 2;
    return v;
  }

  u32(what = "u32"): number {
    this.need(4, what);
    const v = this.dv.getUint32(this.pos);
    this.pos += 4;
    return v;
  }

  /** 64-bit unsigned as a double (exact up to 2^53). */
  u64(what = "u64"): number {
    this.need(8, what);
    const v = this.dv.getUint32(this.pos) * 4294967296 + this.dv.getUint32(this.pos + 4);
    this.pos += 8;
    return v;
  }

  skip(n: number, what = "skip"): void {
    this.need(n, what);
    this.pos += n;
  }

  /** A view of the next n bytes (no copy). */
  bytes(n: number, what = "bytes"): Uint8Array {
    this.need(n, what);
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  /** A sub-reader over the next n bytes; this reader moves past them. */
  sub(n: number, what = "sub"): Reader {
    this.need(n, what);
    const r = new Reader(this.buf, this.pos, this.pos + n);
    this.pos += n;
    return r;
  }
}

/** Read an unsigned big-endian integer of 1..8 bytes at off (double, exact to 2^53). */
export function readUintBE(buf: Uint8Array, off: number, len: number): number {
  let v = 0;
  for (let k = 0; k < len; k++) v = v * 256 + buf[off + k]!;
  return v;
}
