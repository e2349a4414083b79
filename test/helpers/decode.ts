// Feed datagrams through ONE FlowDecoder (one template cache) and collect
// everything it produces, in production order: flow rows (batch.row(i)) and
// options records interleaved as they were emitted, each tagged with the
// index of the datagram whose decode() call produced it.
import { FlowDecoder } from "../../src/collector/decoder.js";
import type { DecoderOptions } from "../../src/collector/decoder.js";
import { parseIp } from "../../src/collector/ip.js";
import { CollectorStats, type ExporterStats } from "../../src/collector/stats.js";
import { RecordSink, type OptionsRecord } from "../../src/collector/types.js";
import type { Datagram } from "./captures.js";

export type Row = Record<string, string | number>;

export type Produced =
  | { kind: "flow"; datagram: number; row: Row }
  | { kind: "options"; datagram: number; options: OptionsRecord };

export interface DecodeRun {
  produced: Produced[];
  flows: Row[];
  options: OptionsRecord[];
  stats: CollectorStats;
  decoder: FlowDecoder;
  /** Value returned by each decode() call. */
  returns: number[];
  /** Exceptions escaping decode() (must stay empty: the decoder never throws). */
  thrown: unknown[];
  /** Sum of every exporter's error counters by reason. */
  errors: Record<string, number>;
}

export function sumErrors(stats: CollectorStats): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of stats.exporters.values()) {
    for (const [r, n] of Object.entries(s.errors)) if (n > 0) out[r] = (out[r] ?? 0) + n;
  }
  return out;
}

export function sumExporters(stats: CollectorStats, pick: (s: ExporterStats) => number): number {
  let n = 0;
  for (const s of stats.exporters.values()) n += pick(s);
  return n;
}

/**
 * Decode `datagrams` in order through one decoder. `afterEach` runs after
 * every datagram (e.g. to call decoder.tick()).
 */
export function decodeDatagrams(
  datagrams: readonly Datagram[],
  opts: Partial<Omit<DecoderOptions, "stats">> = {},
  afterEach?: (decoder: FlowDecoder, index: number) => void,
): DecodeRun {
  const stats = new CollectorStats();
  const decoder = new FlowDecoder({ ...opts, stats });
  const produced: Produced[] = [];
  let current = -1;
  // Rows are committed into the sink's batch; options arrive by callback. An
  // options record is queued with the number of rows committed before it and
  // merged into the row sequence at the end.
  const flowRows: { datagram: number; row: Row }[] = [];
  const optionMarks: { before: number; datagram: number; options: OptionsRecord }[] = [];
  const sink = new RecordSink(
    (batch) => {
      for (let i = 0; i < batch.length; i++) flowRows.push({ datagram: current, row: batch.row(i) });
    },
    (rec) =>
      optionMarks.push({ before: flowRows.length + sink.batch.length, datagram: current, options: rec }),
    1024,
  );
  const returns: number[] = [];
  const thrown: unknown[] = [];
  datagrams.forEach((d, i) => {
    current = i;
    const exporterIp = parseIp(d.srcAddr) ?? new Uint8Array(16);
    try {
      returns.push(
        decoder.decode(d.payload, { exporter: d.srcAddr, exporterIp, receivedMs: d.timeMs }, sink),
      );
    } catch (e) {
      thrown.push(e);
    }
    // Hand rows on per datagram so each row is tagged with its datagram.
    sink.flush();
    afterEach?.(decoder, i);
  });
  sink.flush();
  let o = 0;
  flowRows.forEach((f, k) => {
    while (o < optionMarks.length && optionMarks[o]!.before <= k) {
      const m = optionMarks[o++]!;
      produced.push({ kind: "options", datagram: m.datagram, options: m.options });
    }
    produced.push({ kind: "flow", datagram: f.datagram, row: f.row });
  });
  for (; o < optionMarks.length; o++) {
    const m = optionMarks[o]!;
    produced.push({ kind: "options", datagram: m.datagram, options: m.options });
  }
  return {
    produced,
    flows: flowRows.map((f) => f.row),
    options: optionMarks.map((m) => m.options),
    stats,
    decoder,
    returns,
    thrown,
    errors: sumErrors(stats),
  };
}
