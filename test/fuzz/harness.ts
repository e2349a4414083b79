// The properties every decoder must keep on any input, checked after every
// decode call. A violation throws an Error naming the seed, the target, the
// unit and the mutation (with the mutated bytes in hex) so it reproduces with
// FUZZ_SEED=<seed>.
import { DECODE_REASONS } from "../../src/collector/errors.js";
import type { CollectorStats, ExporterStats } from "../../src/collector/stats.js";
import { RecordSink, type PacketSource } from "../../src/collector/types.js";
import { hex, type Mutant } from "./mutate.js";

export interface DecoderUnderTest {
  decode(data: Uint8Array, src: PacketSource, sink: RecordSink): number;
}

/** A decode call slower than this is a hang (a real one is ~1-50 µs). */
export const MAX_DECODE_MS = 50;

const REASONS = new Set<string>(DECODE_REASONS);

export class FuzzHarness {
  readonly stats: CollectorStats;
  readonly decoder: DecoderUnderTest;
  readonly sink: RecordSink;
  /** Rows handed on by the sink so far (full batches). */
  delivered = 0;
  calls = 0;
  slowest = 0;
  private readonly label: string;

  constructor(label: string, stats: CollectorStats, decoder: DecoderUnderTest) {
    this.label = label;
    this.stats = stats;
    this.decoder = decoder;
    // Small batches: the batch-full path (flush mid-datagram) is exercised too.
    this.sink = new RecordSink(
      (b) => (this.delivered += b.length),
      () => {},
      256,
    );
  }

  get rows(): number {
    return this.delivered + this.sink.batch.length;
  }

  /** Decode one datagram and check every per-call property; returns the records decoded. */
  feed(m: Mutant, src: PacketSource, where: string): number {
    const st = this.stats.exporter(src.exporter);
    const errBefore = errorTotal(st);
    const rowsBefore = this.rows;
    const packetsBefore = st.packets;
    const n = this.decodeOnce(m, src, where);
    let ms = this.lastMs;
    let retried = false;
    if (ms > MAX_DECODE_MS) {
      // One retry: a GC pause or the scheduler on a shared machine is not a hang.
      this.decodeOnce(m, src, where);
      if (this.lastMs > MAX_DECODE_MS) {
        this.fail(
          m,
          where,
          `decode took ${ms.toFixed(1)} ms, then ${this.lastMs.toFixed(1)} ms (limit ${MAX_DECODE_MS} ms)`,
        );
      }
      ms = this.lastMs;
      retried = true; // decoded twice: the per-call accounting below does not apply
    }
    this.calls++;
    if (ms > this.slowest) this.slowest = ms;
    if (retried) return 0;
    if (!Number.isSafeInteger(n) || n < 0) this.fail(m, where, `decode returned ${String(n)}`);
    if (this.rows - rowsBefore !== n)
      this.fail(m, where, `decode returned ${n} but wrote ${this.rows - rowsBefore} rows`);
    if (st.packets !== packetsBefore + 1 && this.stats.exporter(src.exporter) === st) {
      this.fail(m, where, `packets counter moved from ${packetsBefore} to ${st.packets}`);
    }
    const bad = invalidErrorKeys(st);
    if (bad) this.fail(m, where, `errors counted under invalid reason(s): ${bad}`);
    const errAfter = errorTotal(st);
    if (!(errAfter >= errBefore)) this.fail(m, where, `error total went from ${errBefore} to ${errAfter}`);
    return n;
  }

  private lastMs = 0;

  private decodeOnce(m: Mutant, src: PacketSource, where: string): number {
    let n: number;
    const t0 = performance.now();
    try {
      n = this.decoder.decode(m.data, src, this.sink);
    } catch (e) {
      this.fail(m, where, `decode threw: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    }
    this.lastMs = performance.now() - t0;
    return n;
  }

  fail(m: Mutant, where: string, why: string): never {
    throw new Error(`${this.label} | ${where} | mutation: ${m.desc}\n  ${why}\n  data: ${hex(m.data)}`);
  }
}

export function errorTotal(st: ExporterStats): number {
  let n = 0;
  for (const r of DECODE_REASONS) n += st.errors[r];
  return n;
}

/** Keys outside DECODE_REASONS, or counts that are not non-negative integers; "" when all valid. */
export function invalidErrorKeys(st: ExporterStats): string {
  const bad: string[] = [];
  for (const [k, v] of Object.entries(st.errors)) {
    if (!REASONS.has(k) || !Number.isSafeInteger(v) || v < 0) bad.push(`${k}=${String(v)}`);
  }
  return bad.join(", ");
}
