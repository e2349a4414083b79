// Time-bin aggregation for the pmacct JSON output, like pmacct's
// `kafka_history` + `kafka_refresh_time`: flows are summed per (time bin,
// primitives) and the aggregates are published every refresh interval, each
// with "stamp_inserted" (the bin's start) and "stamp_updated" (the purge time).
//
// Grouping is by the exact JSON text of the configured primitives, so two
// flows are merged exactly when pmacct would print them the same way. Bins
// are aligned on multiples of the bin length since the epoch (pmacct's
// `kafka_history_roundoff` for minutes/hours), and a flow falls in the bin of
// its start time (time_flow_start; time_received when the exporter gave none).
import type { FlowBatch } from "../collector/batch.js";
import { keyText, type PartitionKey } from "./key.js";
import { pmacctObject, pmacctPrimitives, resolveFields, type PmacctEncoderOptions } from "./pmacct.js";
import type { BusMessage } from "./types.js";

interface Aggregate {
  inserted: number;
  primitives: string;
  key: string;
  flows: number;
  packets: number;
  bytes: number;
}

export interface PmacctHistoryOptions extends PmacctEncoderOptions {
  /** Bin length in seconds (kafka_history), >= 60 like pmacct. */
  binSeconds: number;
  /** Most aggregates held between purges; beyond it a purge happens early (bounded memory). */
  maxEntries?: number;
}

export class PmacctHistory {
  private readonly fields;
  private readonly writerId: string;
  private readonly partitionKey: PartitionKey;
  private readonly binMs: number;
  readonly maxEntries: number;
  private readonly entries = new Map<string, Aggregate>();

  constructor(opts: PmacctHistoryOptions) {
    this.fields = resolveFields(opts.fields);
    this.writerId = opts.writerId ?? `nagare/${process.pid}`;
    this.partitionKey = opts.partitionKey ?? "none";
    this.binMs = opts.binSeconds * 1000;
    this.maxEntries = opts.maxEntries ?? 100_000;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Add rows [0, batch.length). Returns true when the table is full and should be purged now. */
  add(batch: FlowBatch): boolean {
    const c = batch.cols;
    for (let i = 0; i < batch.length; i++) {
      const t = c.time_flow_start[i]! || c.time_received[i]!;
      const inserted = Math.floor(t / this.binMs) * this.binMs;
      const primitives = pmacctPrimitives(batch, i, this.fields);
      const id = `${inserted}${primitives}`;
      let a = this.entries.get(id);
      if (!a) {
        a = {
          inserted,
          primitives,
          key: keyText(batch, i, this.partitionKey),
          flows: 0,
          packets: 0,
          bytes: 0,
        };
        this.entries.set(id, a);
      }
      a.flows += c.flows[i]!;
      a.packets += c.packets[i]!;
      a.bytes += c.bytes[i]!;
    }
    return this.entries.size >= this.maxEntries;
  }

  /** Publish every aggregate (stamp_updated = nowMs) and start afresh. */
  purge(nowMs: number): BusMessage[] {
    const updated = Math.floor(nowMs / 1000) * 1000;
    const out: BusMessage[] = [];
    for (const a of this.entries.values()) {
      const json = pmacctObject(
        a.primitives,
        { inserted: a.inserted, updated },
        a.flows,
        a.packets,
        a.bytes,
        this.writerId,
      );
      out.push({ key: this.partitionKey === "none" ? null : Buffer.from(a.key), value: Buffer.from(json) });
    }
    this.entries.clear();
    return out;
  }
}
