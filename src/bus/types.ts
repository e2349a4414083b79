// The bus contract: flows over Apache Kafka between Nagare processes, and to
// and from pmacct deployments.
//
//   collector ─▶ Pipeline ─▶ KafkaProducer (src/bus/producer.ts, a FlowConsumer)
//                               │ encode: FlowEncoder (pmacct JSON | nagare binary)
//                               ▼
//                            Kafka topic ── Presto/Trino Kafka connector (table description
//                               │           written by src/bus/trino-tables.ts)
//                               ▼
//   KafkaFlowSource (src/bus/consumer.ts) ─▶ decode: FlowMessageDecoder ─▶ Pipeline ─▶ store, UI …
//
// Codecs are pure (no I/O), like the wire decoders: a malformed message is
// counted by reason and skipped, never thrown.
import type { FlowBatch } from "../collector/batch.js";

/** Message formats on the bus. */
export type BusFormat =
  /** One JSON object per flow, exactly as pmacct's kafka plugin writes it (docs/kafka.md). */
  | "pmacct-json"
  /** Nagare's own compact columnar format (docs/kafka.md, "Binary format"): many flows per message. */
  | "nagare-binary";

/** One Kafka message to produce. */
export interface BusMessage {
  /** Partitioning key (null = the producer's round robin). */
  key: Buffer | null;
  value: Buffer;
  /** Flow rows encoded in this message (the producer's flow counters); absent = 1. */
  flows?: number;
}

export interface FlowEncoder {
  readonly format: BusFormat;
  /** Encode rows [0, batch.length) into messages (pure; the batch is only read during the call). */
  encode(batch: FlowBatch): BusMessage[];
}

/** Where decoded rows go: hands out a batch with room for one more row, and ships full ones. */
export interface BatchSink {
  /** A batch whose row `length` may be written now; the caller then increments `length`. */
  batch(): FlowBatch;
}

export type DecodeOutcome = { ok: true; flows: number } | { ok: false; reason: string };

export interface FlowMessageDecoder {
  readonly format: BusFormat;
  /** Decode one message value into rows of `sink`'s batches. Never throws on bad input. */
  decode(value: Buffer, sink: BatchSink): DecodeOutcome;
}
