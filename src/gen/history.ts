// History: a span of generated traffic (e.g. 30 days) written straight into
// the store, or the very same flows as export datagrams.
//
// API
//   writeHistory(sink, opts) → Promise<HistoryResult>
//     sink: anything with consume(batch: FlowBatch): void and flush(): Promise<void>
//       (a started StoreWriter). consume() must copy the rows before it
//       returns (StoreWriter appends synchronously): the batch is refilled.
//     opts: HistoryOptions = the model options (seed, exporters, samplingRate,
//       remoteAses, customers, v6Share, zipf, tzOffsetMinutes) plus
//       startMs, endMs     the range (flow end times fall in [startMs, endMs))
//       flows              regular flows over the range, spread by the daily cycle
//       attacks, periodic  attacks on top (model.ts: Attack, PeriodicAttacks)
//       batchRows          rows per consume() (default 8192)
//       flushEveryRows     await sink.flush() after this many rows (default 1 M),
//                          so memory stays bounded and progress is committed
//       onProgress(rows)   called after each flush
//     Rows are what our decoder makes of the IPFIX export of the same flows
//     (every column RowWriter writes), with time_received = the flow end
//     and exporter_address = the model exporter's address (192.0.2.1, .2 …).
//
//   historyDatagrams(opts, proto) → Generator<{ data, exporter }>
//     The same flows (same opts → same seed, range and count) as NetFlow v9,
//     IPFIX or sFlow datagrams, in time order, each tagged with the index of
//     the model exporter it belongs to. IPFIX carries absolute flow times, so
//     a benchmark can send them to nfcapd (or to Nagare) over UDP and compare
//     with the store written by writeHistory. exporter i uses observation
//     domain / source id i + 1.
import { FlowBatch } from "../collector/batch.js";
import { ExportSet, type ExportSetOptions, type Proto } from "./encode.js";
import {
  newFlow,
  TrafficModel,
  RowWriter,
  type Attack,
  type ModelOptions,
  type PeriodicAttacks,
} from "./model.js";

export interface HistorySink {
  consume(batch: FlowBatch): void;
  flush(): Promise<void>;
}

export interface HistoryOptions extends ModelOptions {
  startMs: number;
  endMs: number;
  flows: number;
  attacks?: readonly Attack[];
  periodic?: PeriodicAttacks;
  batchRows?: number;
  flushEveryRows?: number;
  onProgress?: (rows: number) => void;
}

export interface HistoryResult {
  rows: number;
  regular: number;
  attack: number;
  elapsedMs: number;
}

function scheduleOf(opts: HistoryOptions): {
  model: TrafficModel;
  next: ReturnType<TrafficModel["schedule"]>;
} {
  if (!(opts.endMs > opts.startMs)) throw new Error("history: endMs must be after startMs");
  if (!Number.isInteger(opts.flows) || opts.flows < 0)
    throw new Error("history: flows must be a whole number ≥ 0");
  const model = new TrafficModel(opts);
  const next = model.schedule({
    startMs: opts.startMs,
    endMs: opts.endMs,
    flows: opts.flows,
    attacks: opts.attacks,
    periodic: opts.periodic,
  });
  return { model, next };
}

export async function writeHistory(sink: HistorySink, opts: HistoryOptions): Promise<HistoryResult> {
  const t0 = performance.now();
  const { model, next } = scheduleOf(opts);
  const batch = new FlowBatch(opts.batchRows ?? 8192);
  const every = opts.flushEveryRows ?? 1_000_000;
  const f = newFlow();
  const w = new RowWriter(batch, model.exporters);
  let rows = 0;
  let sinceFlush = 0;
  for (;;) {
    let i = 0;
    const cap = batch.capacity;
    while (i < cap && next.next(f)) w.write(i++, f);
    if (i === 0) break;
    batch.length = i;
    sink.consume(batch);
    rows += i;
    sinceFlush += i;
    if (sinceFlush >= every) {
      sinceFlush = 0;
      await sink.flush();
      opts.onProgress?.(rows);
    }
    if (i < cap) break;
  }
  await sink.flush();
  opts.onProgress?.(rows);
  return { rows, regular: next.regular, attack: next.attack, elapsedMs: performance.now() - t0 };
}

/** The flows of writeHistory(opts) as export datagrams (see the API comment above). */
export function* historyDatagrams(
  opts: HistoryOptions,
  proto: Proto,
  enc: ExportSetOptions = {},
): Generator<{ data: Uint8Array; exporter: number }> {
  const { model, next } = scheduleOf(opts);
  const set = new ExportSet(model, proto, enc);
  const f = newFlow();
  const ready: { data: Uint8Array; exporter: number }[] = [];
  const push = (data: Uint8Array, exporter: number): void => void ready.push({ data, exporter });
  while (next.next(f)) {
    set.add(f);
    if (set.take(push)) {
      yield* ready;
      ready.length = 0;
    }
  }
  set.flush();
  set.take(push);
  yield* ready;
}
