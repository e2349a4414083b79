// FlowDecoder: the entry point for one export datagram (NetFlow v1/v5/v7, v9, IPFIX).
//
// CONTRACT (implemented by the decoder work):
//   new FlowDecoder(opts).decode(data, src, sink) decodes one UDP payload,
//   writes flow rows into sink.batch (sink.commit() per row), options records
//   to sink.options(), counts everything in opts.stats, and NEVER throws.
import type { Logger } from "../log.js";
import type { CollectorStats } from "./stats.js";
import type { PacketSource, RecordSink } from "./types.js";

export interface TemplateCacheOptions {
  /** Max live templates (data + options) per (exporter, domain). */
  maxTemplatesPerScope: number;
  /** Max data sets held per exporter while waiting for their template. */
  maxPendingSetsPerExporter: number;
  /** Max bytes held per exporter while waiting for templates. */
  maxPendingBytesPerExporter: number;
  /** How long data waits for its template before it is dropped (counted as pending_expired). */
  pendingMaxAgeMs: number;
  /** Where templates are saved so a restart can decode data at once; undefined = not persisted. */
  persistPath?: string;
}

export interface SamplingOptions {
  /** Rate used when the export carries none and no override matches (0 = leave unknown). */
  default: number;
  /** Per-exporter override (exporter address → rate); wins over what the exporter says. */
  exporters: Record<string, number>;
}

export interface DecoderOptions {
  stats: CollectorStats;
  log?: Logger;
  templates?: Partial<TemplateCacheOptions>;
  sampling?: Partial<SamplingOptions>;
}

export declare class FlowDecoderContract {
  constructor(opts: DecoderOptions);
  decode(data: Uint8Array, src: PacketSource, sink: RecordSink): number;
  tick(nowMs: number): void;
  saveTemplates(): Promise<void>;
  loadTemplates(): Promise<void>;
}
