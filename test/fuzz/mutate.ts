// Mutations of a seed datagram. Each returns a fresh copy (its own
// ArrayBuffer, exactly as long as the datagram) so a decoder that reads past
// its view shows up as an exception or a wrong result, never as silently
// reading the next bytes of a shared buffer.
import type { LengthField } from "./fields.js";
import type { Prng } from "./prng.js";

export interface Mutant {
  desc: string;
  data: Uint8Array;
}

/** The values every length/count field is set to: extremes and the remaining length ± small. */
export const SMALL_DELTAS = [-4, -2, -1, 0, 1, 2, 4] as const;

export function truncate(p: Uint8Array, at: number): Mutant {
  return { desc: `truncate at ${at}/${p.length}`, data: p.slice(0, at) };
}

export function flipBit(p: Uint8Array, bit: number): Mutant {
  const d = p.slice();
  d[bit >> 3]! ^= 0x80 >> (bit & 7);
  return { desc: `flip bit ${bit} (byte ${bit >> 3})`, data: d };
}

/** Set the length field `f` (2 or 4 bytes, big-endian) to `value`. */
export function setField(p: Uint8Array, f: LengthField, value: number): Mutant {
  const d = p.slice();
  const dv = new DataView(d.buffer);
  if (f.width === 4) dv.setUint32(f.offset, value >>> 0);
  else dv.setUint16(f.offset, value & 0xffff);
  return { desc: `${f.what} := ${value}`, data: d };
}

/** Every value a length field is set to (deduplicated): extremes, then the remaining length ± SMALL_DELTAS. */
export function lengthValues(p: Uint8Array, f: LengthField): number[] {
  const rem = p.length - f.base;
  const max = f.width === 4 ? 0xffffffff : 0xffff;
  const vals = new Set<number>([0, 1, 0xffff, 0x7fff]);
  if (f.width === 4) [0x7fffffff, 0xffffffff, 0x10000].forEach((v) => vals.add(v));
  for (const d of SMALL_DELTAS) if (rem + d >= 0 && rem + d <= max) vals.add(rem + d);
  return [...vals];
}

/** Overwrite 1..8 random bytes with random values. */
export function randomBytes(p: Uint8Array, rng: Prng): Mutant {
  const d = p.slice();
  const n = rng.range(1, 8);
  const at: number[] = [];
  for (let k = 0; k < n && d.length > 0; k++) {
    const o = rng.int(d.length);
    d[o] = rng.u32() & 0xff;
    at.push(o);
  }
  return { desc: `random bytes at [${at.join(",")}]`, data: d };
}

/** Keep the first `keep` bytes (the header), replace the rest with random bytes of a random length. */
export function randomTail(p: Uint8Array, keep: number, rng: Prng): Mutant {
  const len = keep + rng.int(1500);
  const d = new Uint8Array(len);
  d.set(p.subarray(0, Math.min(keep, p.length, len)));
  d.set(rng.bytes(Math.max(0, len - keep)), Math.min(keep, len));
  return { desc: `first ${keep} bytes kept, random tail to ${len} bytes`, data: d };
}

/** Splice: the first part of one datagram followed by the second part of another. */
export function splice(a: Uint8Array, b: Uint8Array, rng: Prng): Mutant {
  const i = rng.int(a.length + 1);
  const j = rng.int(b.length + 1);
  const d = new Uint8Array(i + b.length - j);
  d.set(a.subarray(0, i));
  d.set(b.subarray(j), i);
  return { desc: `splice a[0:${i}] + b[${j}:]`, data: d };
}

/** One mutation chosen at random (the mix used by the heap/soak property). */
export function randomMutant(p: Uint8Array, fields: LengthField[], other: Uint8Array, rng: Prng): Mutant {
  switch (rng.int(6)) {
    case 0:
      return truncate(p, rng.int(p.length + 1));
    case 1:
      return p.length ? flipBit(p, rng.int(p.length * 8)) : truncate(p, 0);
    case 2: {
      if (!fields.length) return randomBytes(p, rng);
      const f = rng.pick(fields);
      return setField(p, f, rng.pick(lengthValues(p, f)));
    }
    case 3:
      return randomBytes(p, rng);
    case 4:
      return randomTail(p, rng.pick([4, 16, 20, 24]), rng);
    default:
      return splice(p, other, rng);
  }
}

export function hex(d: Uint8Array, max = 96): string {
  const h = Buffer.from(d.subarray(0, max)).toString("hex");
  return d.length > max ? `${h}… (${d.length} bytes)` : h;
}
