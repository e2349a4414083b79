// Interfaces between the wire decoders and the rest of the collector.
import { FlowBatch, type BatchPool } from "./batch.js";

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
 * Interface counters of one sFlow counter sample (generic interface record,
 * format 1, and/or Ethernet record, format 2): kept as their own time series
 * per agent and ifIndex, not as flows. Counters are the agent's running
 * totals (wrapping at 2^32 / 2^64), as exported; rates are differences
 * between samples. Rare (one per interface every 20-30 s): plain objects.
 */
export interface InterfaceCounters {
  /** UDP source the datagram came from (the stats key). */
  exporter: string;
  /** sFlow agent address (the device the counters belong to). */
  agent: string;
  subAgentId: number;
  receivedMs: number;
  /** Counter sample sequence number (per data source). */
  sequence: number;
  /** Agent uptime (ms since boot) from the datagram header: the interval clock for rates; absent = unknown. */
  uptimeMs?: number;
  /** Data source: type (0 ifIndex, 1 VLAN, 2 physical entity) and index. */
  sourceIdType: number;
  sourceIdIndex: number;
  /** Interface: from the generic record, else the data source index. */
  ifIndex: number;
  /** Generic interface counters (sFlow v5 if_counters); absent when the sample has none. */
  generic?: {
    ifType: number;
    /** bits per second */
    ifSpeed: number;
    /** 0 unknown, 1 full-duplex, 2 half-duplex, 3 in, 4 out */
    ifDirection: number;
    /** bit 0 admin up, bit 1 oper up */
    ifStatus: number;
    inOctets: number;
    inUcastPkts: number;
    inMulticastPkts: number;
    inBroadcastPkts: number;
    inDiscards: number;
    inErrors: number;
    inUnknownProtos: number;
    outOctets: number;
    outUcastPkts: number;
    outMulticastPkts: number;
    outBroadcastPkts: number;
    outDiscards: number;
    outErrors: number;
    promiscuousMode: number;
  };
  /** Ethernet (dot3) counters (sFlow v5 ethernet_counters); absent when the sample has none. */
  ethernet?: {
    alignmentErrors: number;
    fcsErrors: number;
    singleCollisionFrames: number;
    multipleCollisionFrames: number;
    sqeTestErrors: number;
    deferredTransmissions: number;
    lateCollisions: number;
    excessiveCollisions: number;
    internalMacTransmitErrors: number;
    carrierSenseErrors: number;
    frameTooLongs: number;
    internalMacReceiveErrors: number;
    symbolErrors: number;
  };
}

/**
 * Receives what decoders produce. Decoders write rows into `batch` and call
 * `commit()` per finished row; a full batch is handed on by `flush()`.
 *
 * Batch ownership: `onBatch(batch)` is called with the sink holding one
 * reference; when it returns, the sink releases that reference. Without a
 * pool that changes nothing (every batch is fresh and left to the GC, so a
 * callback may keep it: tests, `nagare decode`). With a `BatchPool` (the
 * running collector) the batch is zeroed and reused as soon as the last
 * reference is gone, so whoever keeps it past the callback (an asynchronous
 * store) must call `batch.retain()` inside the callback and `batch.release()`
 * once done with it.
 */
export class RecordSink {
  batch: FlowBatch;
  private readonly onBatch: (batch: FlowBatch) => void;
  private readonly onOptions: (rec: OptionsRecord) => void;
  /** Interface counters (sFlow counter samples); settable so existing constructors need no change. */
  onCounters: (rec: InterfaceCounters) => void;
  private readonly capacity: number;
  private readonly pool: BatchPool | null;

  constructor(
    onBatch: (batch: FlowBatch) => void,
    onOptions: (rec: OptionsRecord) => void = () => {},
    capacity = 4096,
    onCounters: (rec: InterfaceCounters) => void = () => {},
    /** Recycle batches through this pool (its capacity wins over `capacity`). */
    pool: BatchPool | null = null,
  ) {
    this.pool = pool;
    this.capacity = pool ? pool.capacity : capacity;
    this.batch = pool ? pool.get() : new FlowBatch(capacity);
    this.onBatch = onBatch;
    this.onOptions = onOptions;
    this.onCounters = onCounters;
  }

  /** Finish the row at index batch.length; hands the batch on when full. */
  commit(): void {
    this.batch.length++;
    if (this.batch.length >= this.batch.capacity) this.flush();
  }

  /** Hand on the current batch (if it has rows) and start a fresh (or recycled) one. */
  flush(): void {
    if (this.batch.length === 0) return;
    const full = this.batch;
    this.batch = this.pool ? this.pool.get() : new FlowBatch(this.capacity);
    try {
      this.onBatch(full);
    } finally {
      full.release();
    }
  }

  options(rec: OptionsRecord): void {
    this.onOptions(rec);
  }

  counters(rec: InterfaceCounters): void {
    this.onCounters(rec);
  }
}
