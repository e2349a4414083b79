// A small seeded PRNG (mulberry32) so every fuzz failure reproduces from the
// printed seed: Math.random cannot be seeded. The generator is the demo's.
import { mulberry32 } from "../../src/demo/generator.js";

export class Prng {
  private readonly next: () => number;
  readonly seed: number;

  constructor(seed: number) {
    this.seed = seed >>> 0;
    this.next = mulberry32(this.seed);
  }

  /** Uniform 32-bit unsigned integer: mulberry32's 32-bit output, undoing its exact scaling by 2^-32. */
  u32(): number {
    return this.next() * 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return n <= 0 ? 0 : this.u32() % n;
  }

  /** Uniform integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  pick<T>(xs: readonly T[]): T {
    if (xs.length === 0) throw new Error("pick from an empty list");
    return xs[this.int(xs.length)]!;
  }

  bytes(n: number): Uint8Array {
    const b = new Uint8Array(n);
    for (let k = 0; k < n; k++) b[k] = this.u32() & 0xff;
    return b;
  }
}

/** The seed: FUZZ_SEED from the environment (to reproduce a failure), else a fixed default. */
export function fuzzSeed(fallback = 0x6e616761): number {
  const env = process.env.FUZZ_SEED;
  if (env !== undefined && env !== "") {
    const n = Number(env);
    if (Number.isInteger(n)) return n >>> 0;
  }
  return fallback;
}
