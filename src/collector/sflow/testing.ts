// Test support: run datagrams through the sFlow decoder the way the collector
// does, and collect every flow row, interface-counter record and tally.
//   mode "sflow-port":   SflowDecoder.decode (NetFlow falls back to FlowDecoder)
//   mode "netflow-port": FlowDecoder.decode with the sFlow hook
import { FlowDecoder } from "../decoder.js";
import { parseIp } from "../ip.js";
import { CollectorStats } from "../stats.js";
import { RecordSink, type InterfaceCounters } from "../types.js";
import { newTally, SflowDecoder, type SflowTally } from "./decoder.js";

export interface SflowInput {
  payload: Uint8Array;
  srcAddr: string;
  timeMs: number;
}

export interface SflowRun {
  rows: Record<string, string | number>[];
  /** Index of the datagram each row came from. */
  rowDatagram: number[];
  counters: InterfaceCounters[];
  tally: SflowTally;
  stats: CollectorStats;
  returns: number[];
  thrown: unknown[];
}

export function decodeSflow(
  datagrams: readonly SflowInput[],
  mode: "sflow-port" | "netflow-port" = "sflow-port",
): SflowRun {
  const stats = new CollectorStats();
  const tally = newTally();
  const sflow = new SflowDecoder({ stats, tally });
  const netflow = new FlowDecoder({ stats, sflow: sflow.hook });
  sflow.netflow = netflow;
  const rows: Record<string, string | number>[] = [];
  const rowDatagram: number[] = [];
  const counters: InterfaceCounters[] = [];
  let current = 0;
  const sink = new RecordSink(
    (b) => {
      for (let i = 0; i < b.length; i++) {
        rows.push(b.row(i));
        rowDatagram.push(current);
      }
    },
    () => {},
    256,
    (c) => counters.push(c),
  );
  const returns: number[] = [];
  const thrown: unknown[] = [];
  datagrams.forEach((d, i) => {
    current = i;
    const src = {
      exporter: d.srcAddr,
      exporterIp: parseIp(d.srcAddr) ?? new Uint8Array(16),
      receivedMs: d.timeMs,
    };
    try {
      returns.push(
        mode === "sflow-port" ? sflow.decode(d.payload, src, sink) : netflow.decode(d.payload, src, sink),
      );
    } catch (e) {
      thrown.push(e);
    }
    sink.flush();
  });
  return { rows, rowDatagram, counters, tally, stats, returns, thrown };
}

/** Sum of every exporter's error counters by reason (only non-zero). */
export function errorsOf(stats: CollectorStats): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of stats.exporters.values())
    for (const [r, n] of Object.entries(s.errors)) if (n > 0) out[r] = (out[r] ?? 0) + n;
  return out;
}
