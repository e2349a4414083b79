// Interfaces between the wire decoders and the rest of the collector.
import { FlowBatch } from "./batch.js";

/** Where one export packet came from. */
export interface PacketSource {
  /** Exporter address as text (IPv4 dotted or IPv6), the template scope's first half. */
  exporter: string;
  /** Exporter address in the schema's 16-byte form (IPv4-mapped for IPv4). */
  exporterIp: Uint8Array;
  /** Receive time, ms since epoch. */
  receivedMs: number;
}

/** An options data record (sampler table, interface names, exporter statistics …). Rare: plain objects. */
export interface OptionsRecord {
  exporter: string;
  version: number;
  observationDomainId: number;
  templateId: number;
  /** Scope fields by IE name (e.g. { samplerId: 1 } or { ingressInterface: 3 }). */
  scope: Record<string, number | string>;
  /** Option fields by IE name (e.g. { samplingInterval: 1000, samplerName: "s1" }). */
  fields: Record<string, number | string>;
}

/**
 * Receives what decoders produce. Decoders write rows into `batch` and call
 * `commit()` per finished row; a full batch is handed on by `flush()`.
 */
export class RecordSink {
  batch: FlowBatch;
  private readonly onBatch: (batch: FlowBatch) => void;
  private readonly onOptions: (rec: OptionsRecord) => void;
  private readonly capacity: number;

  constructor(
    onBatch: (batch: FlowBatch) => void,
    onOptions: (rec: OptionsRecord) => void = () => {},
    capacity = 4096,
  ) {
    this.capacity = capacity;
    this.batch = new FlowBatch(capacity);
    this.onBatch = onBatch;
    this.onOptions = onOptions;
  }

  /** Finish the row at index batch.length; hands the batch on when full. */
  commit(): void {
    this.batch.length++;
    if (this.batch.length >= this.batch.capacity) this.flush();
  }

  /** Hand on the current batch (if it has rows) and start a fresh one. */
  flush(): void {
    if (this.batch.length === 0) return;
    const full = this.batch;
    this.batch = new FlowBatch(this.capacity);
    this.onBatch(full);
  }

  options(rec: OptionsRecord): void {
    this.onOptions(rec);
  }
}
