// IP and MAC helpers for the 16-byte address representation of the schema.

/** Write an IPv4 address (host-order uint32) IPv4-mapped at `off`. */
export function putIpv4(dst: Uint8Array, off: number, v4: number): void {
  dst.fill(0, off, off + 10);
  dst[off + 10] = 0xff;
  dst[off + 11] = 0xff;
  dst[off + 12] = (v4 >>> 24) & 0xff;
  dst[off + 13] = (v4 >>> 16) & 0xff;
  dst[off + 14] = (v4 >>> 8) & 0xff;
  dst[off + 15] = v4 & 0xff;
}

/**
 * Copy 4 bytes of an IPv4 address from `src` IPv4-mapped into `dst`. Zeroes
 * with a loop: for 10 bytes it measured 1.4-2x faster than fill(), and this is
 * the per-address hot path of every decoder.
 */
export function copyIpv4(dst: Uint8Array, off: number, src: Uint8Array, srcOff: number): void {
  for (let k = 0; k < 10; k++) dst[off + k] = 0;
  dst[off + 10] = 0xff;
  dst[off + 11] = 0xff;
  dst[off + 12] = src[srcOff]!;
  dst[off + 13] = src[srcOff + 1]!;
  dst[off + 14] = src[srcOff + 2]!;
  dst[off + 15] = src[srcOff + 3]!;
}

/** Copy a 16-byte IPv6 address. */
export function copyIpv6(dst: Uint8Array, off: number, src: Uint8Array, srcOff: number): void {
  dst.set(src.subarray(srcOff, srcOff + 16), off);
}

export function isZeroIp(buf: Uint8Array, off: number): boolean {
  for (let k = 0; k < 16; k++) if (buf[off + k] !== 0) return false;
  return true;
}

export function isIpv4Mapped(buf: Uint8Array, off: number): boolean {
  for (let k = 0; k < 10; k++) if (buf[off + k] !== 0) return false;
  return buf[off + 10] === 0xff && buf[off + 11] === 0xff;
}

/** Text form: dotted quad for IPv4-mapped, RFC 5952 for IPv6, "" for all-zero (absent). */
export function formatIp(buf: Uint8Array, off: number): string {
  if (isZeroIp(buf, off)) return "";
  if (isIpv4Mapped(buf, off)) {
    return `${buf[off + 12]}.${buf[off + 13]}.${buf[off + 14]}.${buf[off + 15]}`;
  }
  const words: number[] = [];
  for (let k = 0; k < 8; k++) words.push((buf[off + 2 * k]! << 8) | buf[off + 2 * k + 1]!);
  // RFC 5952 §4.2: compress the longest run (length >= 2) of zero words.
  let bestStart = -1;
  let bestLen = 0;
  for (let k = 0; k < 8;) {
    if (words[k] !== 0) {
      k++;
      continue;
    }
    let j = k;
    while (j < 8 && words[j] === 0) j++;
    if (j - k > bestLen && j - k >= 2) {
      bestStart = k;
      bestLen = j - k;
    }
    k = j;
  }
  const hex = words.map((w) => w.toString(16));
  if (bestStart < 0) return hex.join(":");
  const head = hex.slice(0, bestStart).join(":");
  const tail = hex.slice(bestStart + bestLen).join(":");
  return `${head}::${tail}`;
}

/** Parse an IPv4 or IPv6 text address into 16 bytes; null if invalid. */
export function parseIp(text: string): Uint8Array | null {
  const out = new Uint8Array(16);
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (v4) {
    const parts = v4.slice(1).map(Number);
    if (parts.some((p) => p > 255)) return null;
    out[10] = 0xff;
    out[11] = 0xff;
    out.set(parts, 12);
    return out;
  }
  if (!text.includes(":")) return null;
  let s = text;
  // Embedded IPv4 tail (::ffff:1.2.3.4).
  const tail4 = /(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/.exec(s);
  let tailBytes: number[] = [];
  if (tail4) {
    const t = parseIp(tail4[1]!);
    if (!t) return null;
    tailBytes = [...t.subarray(12)];
    s = s.slice(0, -tail4[1]!.length) + "0:0";
  }
  const halves = s.split("::");
  if (halves.length > 2) return null;
  const parse = (h: string): number[] | null => {
    if (h === "") return [];
    const ws = h.split(":").map((w) => (/^[0-9a-fA-F]{1,4}$/.test(w) ? parseInt(w, 16) : NaN));
    return ws.some(Number.isNaN) ? null : ws;
  };
  const a = parse(halves[0]!);
  const b = halves.length === 2 ? parse(halves[1]!) : [];
  if (!a || !b) return null;
  const fill = 8 - a.length - b.length;
  if ((halves.length === 1 && fill !== 0) || fill < 0) return null;
  const words = [...a, ...new Array<number>(halves.length === 2 ? fill : 0).fill(0), ...b];
  words.forEach((w, k) => {
    out[2 * k] = w >> 8;
    out[2 * k + 1] = w & 0xff;
  });
  if (tailBytes.length) out.set(tailBytes, 12);
  return out;
}

export function formatMac(v: number): string {
  if (v === 0) return "";
  const hex = v.toString(16).padStart(12, "0");
  return hex.replace(/(..)(?!$)/g, "$1:");
}

/** Read a 6-byte MAC at `off` as a Float64-safe integer. */
export function readMac(buf: Uint8Array, off: number): number {
  return (
    buf[off]! * 0x10000000000 +
    buf[off + 1]! * 0x100000000 +
    ((buf[off + 2]! << 24) >>> 0) +
    (buf[off + 3]! << 16) +
    (buf[off + 4]! << 8) +
    buf[off + 5]!
  );
}
