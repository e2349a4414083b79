// Prometheus text exposition (format 0.0.4) of the collector statistics.
//
// Everything comes from CollectorStats, the same numbers the CLI and
// /api/v1/exporters show. Per-exporter series carry an `exporter` label; decode
// errors add `reason` (only reasons seen, to keep the output proportional to
// what happened rather than exporters × reasons).
import { DECODE_REASONS } from "../collector/errors.js";
import type { CollectorStats, ExporterStats } from "../collector/stats.js";
import type { SourceState } from "../enrich/types.js";
import type { FreshnessSnapshot } from "../store/freshness.js";

/** Escape a label value: backslash, double quote and newline (exposition format rules). */
export function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function labels(l: Record<string, string>): string {
  const parts = Object.entries(l).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  return parts.length ? `{${parts.join(",")}}` : "";
}

class Writer {
  out: string[] = [];
  metric(
    name: string,
    type: "counter" | "gauge",
    help: string,
    samples: [Record<string, string>, number][],
  ): void {
    this.out.push(`# HELP ${name} ${help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}`);
    this.out.push(`# TYPE ${name} ${type}`);
    for (const [l, v] of samples) this.out.push(`${name}${labels(l)} ${Number.isFinite(v) ? v : 0}`);
  }
}

export interface ExtraMetrics {
  version?: string;
  /** Flows handed to the pipeline. */
  pipelineFlows?: number;
  pipelineBatches?: number;
  /** Exceptions caught in the UDP message handler. */
  handlerErrors?: number;
  /** 1 while demo traffic is being sent. */
  demoActive?: number;
  /** StoreWriter.freshness(): receipt → visible to SQL delay over its sliding window. */
  storeFreshness?: FreshnessSnapshot;
  /** StoreWriter.durability(): receipt → file COMMIT delay over its sliding window. */
  storeDurability?: FreshnessSnapshot;
  /** EnrichmentService.metrics() and .states() (src/enrich/service.ts). */
  enrich?: { metrics: Record<string, number>; sources: readonly SourceState[] };
  /** Kafka (src/bus): the consumer's counters and per-partition lag, the producer's counters. */
  kafka?: {
    consumer?: {
      metrics: Record<string, number>;
      malformed: Record<string, number>;
      partitions: readonly {
        topic: string;
        partition: number;
        lag: number;
        committed: number;
        highWatermark: number;
      }[];
    };
    producer?: Record<string, number>;
  };
}

export function renderMetrics(stats: CollectorStats, extra: ExtraMetrics = {}): string {
  const w = new Writer();
  const ex = [...stats.exporters.values()];
  const per = (f: (s: ExporterStats) => number): [Record<string, string>, number][] =>
    ex.map((s) => [{ exporter: s.exporter }, f(s)]);
  const P = "nagare_collector_";

  w.metric(
    `${P}packets_total`,
    "counter",
    "Export datagrams received, per exporter.",
    per((s) => s.packets),
  );
  w.metric(
    `${P}bytes_total`,
    "counter",
    "Export datagram bytes (UDP payload) received, per exporter.",
    per((s) => s.bytes),
  );
  w.metric(
    `${P}flow_records_total`,
    "counter",
    "Flow records decoded, per exporter.",
    per((s) => s.flowRecords),
  );
  w.metric(
    `${P}options_records_total`,
    "counter",
    "Options data records decoded, per exporter.",
    per((s) => s.optionsRecords),
  );
  w.metric(
    `${P}fw_event_records_total`,
    "counter",
    "Firewall/NAT event (NSEL) records decoded, per exporter.",
    per((s) => s.fwEventRecords),
  );
  w.metric(
    `${P}counter_records_total`,
    "counter",
    "sFlow counter samples decoded into interface counters, per exporter.",
    per((s) => s.counterRecords),
  );
  w.metric(
    `${P}sflow_sample_drops_total`,
    "counter",
    "Packets the sFlow agent could not sample for lack of resources (increments of the samples' drops), per exporter.",
    per((s) => s.sampleDrops),
  );
  w.metric(
    `${P}unknown_sampling_records_total`,
    "counter",
    "Flow records stored with an unknown sampling rate, per exporter.",
    per((s) => s.unknownSamplingRecords),
  );
  const errs: [Record<string, string>, number][] = [];
  for (const s of ex) {
    for (const r of DECODE_REASONS)
      if (s.errors[r] > 0) errs.push([{ exporter: s.exporter, reason: r }, s.errors[r]]);
  }
  w.metric(
    `${P}decode_errors_total`,
    "counter",
    "Packets, sets or records not (fully) decoded, per exporter and reason.",
    errs,
  );
  w.metric(
    `${P}sequence_lost_total`,
    "counter",
    "Export packets/records missing according to sequence numbers, per exporter.",
    per((s) => s.sequenceLost),
  );
  w.metric(
    `${P}sequence_resets_total`,
    "counter",
    "Sequence number restarts or absurd jumps, per exporter.",
    per((s) => s.sequenceResets),
  );
  w.metric(
    `${P}pending_decoded_total`,
    "counter",
    "Data sets buffered until their template arrived and then decoded, per exporter.",
    per((s) => s.pendingDecoded),
  );
  w.metric(
    `${P}templates`,
    "gauge",
    "Live templates (data + options), per exporter.",
    per((s) => s.templates),
  );
  w.metric(
    `${P}pending_sets`,
    "gauge",
    "Data sets waiting for their template, per exporter.",
    per((s) => s.pendingSets),
  );
  const versions: [Record<string, string>, number][] = [];
  for (const s of ex)
    for (const [v, n] of Object.entries(s.versions)) versions.push([{ exporter: s.exporter, version: v }, n]);
  w.metric(
    `${P}packets_by_version_total`,
    "counter",
    "Export datagrams per exporter and export protocol version.",
    versions,
  );
  w.metric(
    `${P}last_seen_seconds`,
    "gauge",
    "Unix time of the last datagram, per exporter.",
    per((s) => s.lastSeen / 1000),
  );

  w.metric(`${P}exporters`, "gauge", "Exporters tracked.", [[{}, stats.exporters.size]]);
  w.metric(
    `${P}overflow_exporters_total`,
    "counter",
    "Datagrams from exporters beyond collector.maxExporters.",
    [[{}, stats.overflowExporters]],
  );
  w.metric(
    `${P}kernel_drops_total`,
    "counter",
    "Datagrams dropped by the kernel on the collector's sockets (receive buffer full).",
    [[{}, stats.kernelDrops]],
  );
  w.metric(`${P}queue_drops_total`, "counter", "Datagrams dropped in user space because a queue was full.", [
    [{}, stats.queueDrops],
  ]);
  if (extra.handlerErrors !== undefined) {
    w.metric(
      `${P}handler_errors_total`,
      "counter",
      "Unexpected exceptions while handling a datagram (bugs).",
      [[{}, extra.handlerErrors]],
    );
  }
  if (extra.pipelineFlows !== undefined) {
    w.metric("nagare_pipeline_flows_total", "counter", "Flow rows handed to the pipeline consumers.", [
      [{}, extra.pipelineFlows],
    ]);
  }
  if (extra.pipelineBatches !== undefined) {
    w.metric("nagare_pipeline_batches_total", "counter", "Flow batches handed to the pipeline consumers.", [
      [{}, extra.pipelineBatches],
    ]);
  }
  if (extra.demoActive !== undefined) {
    w.metric("nagare_demo_active", "gauge", "1 while built-in demo traffic is being sent.", [
      [{}, extra.demoActive],
    ]);
  }
  const f = extra.storeFreshness;
  if (f !== undefined) {
    w.metric(
      "nagare_store_freshness_seconds",
      "gauge",
      `Delay from a flow's UDP receipt to the moment it became visible to SQL (the publish step that flushed it into its in-memory stage, in flows_live), over the last ${f.windowS} s (quantiles within 4.4 %; max exact).`,
      quantiles(f),
    );
    w.metric(
      "nagare_store_freshness_rows",
      "gauge",
      `Rows made visible in the freshness window (${f.windowS} s).`,
      [[{}, f.rows]],
    );
  }
  const d = extra.storeDurability;
  if (d !== undefined) {
    w.metric(
      "nagare_store_durable_seconds",
      "gauge",
      `Delay from a flow's UDP receipt to the COMMIT of the database file that made it durable (safe from a crash), over the last ${d.windowS} s (quantiles within 4.4 %; max exact).`,
      quantiles(d),
    );
  }
  if (extra.enrich !== undefined) {
    const m = extra.enrich.metrics;
    for (const [k, v] of Object.entries(m)) {
      const counter = !/_entries$|_exporters$|_per_flow$/.test(k);
      w.metric(
        `nagare_${k}${counter ? "_total" : ""}`,
        counter ? "counter" : "gauge",
        `Enrichment: ${k.replace(/_/g, " ")}.`,
        [[{}, v]],
      );
    }
    const src = extra.enrich.sources;
    const per = (f: (s: SourceState) => number): [Record<string, string>, number][] =>
      src.map((s) => [{ source: s.name, kind: s.kind }, f(s)]);
    w.metric(
      "nagare_enrich_source_up",
      "gauge",
      "1 while an enrichment source serves data (status loaded).",
      per((s) => (s.status === "loaded" ? 1 : 0)),
    );
    w.metric(
      "nagare_enrich_source_entries",
      "gauge",
      "Entries an enrichment source serves (routes, prefixes, interfaces …).",
      per((s) => s.entries),
    );
    w.metric(
      "nagare_enrich_source_errors_total",
      "counter",
      "Errors of an enrichment source since start.",
      per((s) => s.errors),
    );
  }
  const kc = extra.kafka?.consumer;
  if (kc) {
    // Counters; the gauges (lag, partitions) and the per-reason counts get labels below.
    for (const [k, v] of Object.entries(kc.metrics)) {
      if (k === "lag" || k === "partitions_assigned" || k.startsWith("malformed_")) continue;
      w.metric(`nagare_kafka_consumer_${k}_total`, "counter", `Kafka consumer: ${k.replace(/_/g, " ")}.`, [
        [{}, v],
      ]);
    }
    w.metric(
      "nagare_kafka_consumer_malformed_by_reason_total",
      "counter",
      "Kafka messages skipped as malformed, per reason.",
      Object.entries(kc.malformed).map(([reason, n]) => [{ reason }, n]),
    );
    const list = kc.partitions;
    const parts = (f: (p: (typeof list)[number]) => number): [Record<string, string>, number][] =>
      list.map((p) => [{ topic: p.topic, partition: String(p.partition) }, f(p)]);
    w.metric(
      "nagare_kafka_consumer_lag",
      "gauge",
      "Messages not yet durably in this node's store: log end offset − the group's committed offset, per assigned partition.",
      parts((p) => p.lag),
    );
    w.metric(
      "nagare_kafka_consumer_committed_offset",
      "gauge",
      "The group's committed offset.",
      parts((p) => p.committed),
    );
    w.metric(
      "nagare_kafka_consumer_log_end_offset",
      "gauge",
      "The partition's log end offset (high watermark).",
      parts((p) => p.highWatermark),
    );
    w.metric("nagare_kafka_consumer_partitions_assigned", "gauge", "Partitions assigned to this member.", [
      [{}, kc.partitions.length],
    ]);
  }
  const kp = extra.kafka?.producer;
  if (kp) {
    for (const [k, v] of Object.entries(kp)) {
      const gauge = /^buffer_|_entries$/.test(k);
      w.metric(
        `nagare_kafka_producer_${k}${gauge ? "" : "_total"}`,
        gauge ? "gauge" : "counter",
        `Kafka producer: ${k.replace(/_/g, " ")}.`,
        [[{}, v]],
      );
    }
  }
  if (extra.version !== undefined) {
    w.metric("nagare_build_info", "gauge", "Nagare version.", [[{ version: extra.version }, 1]]);
  }
  return w.out.join("\n") + "\n";
}

/** A delay window's quantile samples, in seconds. */
function quantiles(q: { p50Ms: number; p99Ms: number; maxMs: number }): [Record<string, string>, number][] {
  return [
    [{ quantile: "0.5" }, q.p50Ms / 1000],
    [{ quantile: "0.99" }, q.p99Ms / 1000],
    [{ quantile: "1" }, q.maxMs / 1000],
  ];
}
