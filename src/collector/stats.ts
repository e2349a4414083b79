// Per-exporter statistics: what was received, decoded, lost and rejected.
//
// Everything the collector counts lives here, so the CLI, the API and the
// Prometheus `/metrics` endpoint all read the same numbers.
import { DECODE_REASONS, type DecodeReason } from "./errors.js";

export class ExporterStats {
  readonly exporter: string;
  packets = 0;
  bytes = 0;
  flowRecords = 0;
  optionsRecords = 0;
  /** NSEL / firewall-event records (kept as flows with fw_event set, never as plain traffic). */
  fwEventRecords = 0;
  /** sFlow counter samples decoded into interface-counter records. */
  counterRecords = 0;
  /** sFlow: packets the agent could not sample for lack of resources (sum of the samples' `drops` increments). */
  sampleDrops = 0;
  /** Flow records for which no sampling rate was known (stored with sampling_rate 0). */
  unknownSamplingRecords = 0;
  /** Export packets (v9: packets; IPFIX/v5: records; sFlow: datagrams) missing according to sequence numbers. */
  sequenceLost = 0;
  /** Times the sequence number went backwards or jumped absurdly (exporter restart, reorder). */
  sequenceResets = 0;
  /** Data sets buffered because their template was not known yet, and later decoded. */
  pendingDecoded = 0;
  readonly errors: Record<DecodeReason, number>;
  readonly versions: Record<string, number> = {};
  /** Live templates (data + options), set by the template cache. */
  templates = 0;
  /** Data sets currently held while waiting for their template. */
  pendingSets = 0;
  firstSeen = 0;
  lastSeen = 0;

  constructor(exporter: string) {
    this.exporter = exporter;
    this.errors = Object.fromEntries(DECODE_REASONS.map((r) => [r, 0])) as Record<DecodeReason, number>;
  }

  get errorTotal(): number {
    let n = 0;
    for (const r of DECODE_REASONS) n += this.errors[r];
    return n;
  }

  toJSON(): Record<string, unknown> {
    return {
      exporter: this.exporter,
      packets: this.packets,
      bytes: this.bytes,
      flowRecords: this.flowRecords,
      optionsRecords: this.optionsRecords,
      fwEventRecords: this.fwEventRecords,
      counterRecords: this.counterRecords,
      sampleDrops: this.sampleDrops,
      unknownSamplingRecords: this.unknownSamplingRecords,
      sequenceLost: this.sequenceLost,
      sequenceResets: this.sequenceResets,
      pendingDecoded: this.pendingDecoded,
      pendingSets: this.pendingSets,
      templates: this.templates,
      versions: this.versions,
      errors: Object.fromEntries(
        DECODE_REASONS.filter((r) => this.errors[r] > 0).map((r) => [r, this.errors[r]]),
      ),
      firstSeen: this.firstSeen ? new Date(this.firstSeen).toISOString() : null,
      lastSeen: this.lastSeen ? new Date(this.lastSeen).toISOString() : null,
    };
  }
}

export class CollectorStats {
  readonly exporters = new Map<string, ExporterStats>();
  /** Hard cap on tracked exporters so spoofed sources cannot grow memory without bound. */
  readonly maxExporters: number;
  /** Packets from exporters beyond the cap (counted, still decoded under a shared entry). */
  overflowExporters = 0;
  /** Datagrams the kernel dropped on our sockets (from /proc/net/udp{,6} where available). */
  kernelDrops = 0;
  /** Datagrams dropped in user space because the decode queue was full. */
  queueDrops = 0;

  constructor(maxExporters = 10_000) {
    this.maxExporters = maxExporters;
  }

  exporter(addr: string): ExporterStats {
    let s = this.exporters.get(addr);
    if (!s) {
      if (this.exporters.size >= this.maxExporters) {
        this.overflowExporters++;
        addr = "other";
        s = this.exporters.get(addr);
        if (s) return s;
      }
      s = new ExporterStats(addr);
      this.exporters.set(addr, s);
    }
    return s;
  }

  totals(): {
    packets: number;
    flowRecords: number;
    optionsRecords: number;
    errors: number;
    sequenceLost: number;
  } {
    let packets = 0,
      flowRecords = 0,
      optionsRecords = 0,
      errors = 0,
      sequenceLost = 0;
    for (const s of this.exporters.values()) {
      packets += s.packets;
      flowRecords += s.flowRecords;
      optionsRecords += s.optionsRecords;
      errors += s.errorTotal;
      sequenceLost += s.sequenceLost;
    }
    return { packets, flowRecords, optionsRecords, errors, sequenceLost };
  }
}
