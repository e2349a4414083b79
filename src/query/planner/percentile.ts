// The 95th percentile the explorer draws and tabulates (web/src/explorer.ts).
// Pure, DOM-free: the web bundle imports it, and a node test checks it
// against DuckDB computing the same figure straight from the stored flows.

export const FIVE_MIN = 300_000;

/**
 * 95th percentile as transit is billed: the samples are sorted, the top 5 %
 * dropped and the highest remaining one taken (index ⌈0.95·n⌉ − 1). For rates
 * (bps, pps) the samples are 5-minute averages when the buckets divide 5
 * minutes and the range holds at least twelve of them (one hour): every
 * 5-minute window fully inside the range averages its buckets, partial windows
 * at the edges are left out. Otherwise (counts, short ranges, buckets of 10
 * minutes or more) each shown bucket is one sample.
 */
export function percentile95(
  values: readonly number[],
  /** Bucket start of each value, epoch seconds (as uPlot's x values). */
  times: readonly number[],
  stepMs: number,
  rate: boolean,
): { value: number; samples: number; fiveMinute: boolean } {
  let samples: number[] = [...values];
  let five = false;
  const per = FIVE_MIN / stepMs;
  if (rate && stepMs <= FIVE_MIN && Number.isInteger(per) && values.length >= 12 * per) {
    const win = new Map<number, { sum: number; n: number }>();
    values.forEach((v, i) => {
      const w = Math.floor((times[i]! * 1000) / FIVE_MIN);
      const e = win.get(w) ?? { sum: 0, n: 0 };
      e.sum += v;
      e.n++;
      win.set(w, e);
    });
    samples = [...win.values()].filter((e) => e.n === per).map((e) => e.sum / per);
    five = true;
  }
  if (!samples.length) return { value: 0, samples: 0, fiveMinute: five };
  samples.sort((a, b) => a - b);
  return {
    value: samples[Math.max(0, Math.ceil(0.95 * samples.length) - 1)]!,
    samples: samples.length,
    fiveMinute: five,
  };
}
