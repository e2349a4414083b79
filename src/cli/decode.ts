// `nagare decode [--sflow-port N] FILE…`: decode capture files to JSON lines.
//
// All files of one invocation go through ONE FlowDecoder (one template
// cache), in the order given, so a unit split over several files (templates
// in the first, data in the next) decodes as it would on the wire. Each flow
// row becomes {"kind":"flow", …columns} on stdout (counters as exported,
// sampling_rate beside them), each options record {"kind":"options", …}, in
// the order the decoder produced them. A summary line goes to stderr.
// The receive time of every record is the capture timestamp (raw files: the
// file's mtime), so the output is reproducible.
//
// Datagrams to the sFlow port (default 6343; raw files: sFlow by magic) are
// handed to an sFlow decoder when one is given (`opts.sflow`, main.ts gives
// src/collector/sflow), else counted as "sflowSkipped". With it, sFlow on a
// NetFlow port and NetFlow on the sFlow port are decoded too, and each sFlow
// counter sample prints as {"kind":"counters", …}.
import { readCapture, type CapturedDatagram } from "../collector/capture.js";
import { FlowDecoder } from "../collector/decoder.js";
import { parseIp } from "../collector/ip.js";
import { DECODE_REASONS } from "../collector/errors.js";
import { CollectorStats } from "../collector/stats.js";
import {
  RecordSink,
  type InterfaceCounters,
  type OptionsRecord,
  type PacketSource,
} from "../collector/types.js";
import type { FlowBatch } from "../collector/batch.js";
import { createLogger, type Logger } from "../log.js";

/** A line sink: a function, or a stream (what src/cli/main.ts passes). */
export type LineOut = ((line: string) => void) | { write(chunk: string): unknown };

/** Anything that decodes one datagram like FlowDecoder does (used for sFlow). */
export interface DatagramDecoder {
  decode(data: Uint8Array, src: PacketSource, sink: RecordSink): number;
  /** For FlowDecoder's `sflow` option (sFlow arriving on a NetFlow port). */
  hook?: (data: Uint8Array, src: PacketSource, sink: RecordSink) => number;
  /** Set to the run's FlowDecoder: NetFlow/IPFIX arriving on the sFlow port. */
  netflow?: { decode(data: Uint8Array, src: PacketSource, sink: RecordSink): number };
}

export interface DecodeRunOptions {
  /** Builds the sFlow decoder sharing the run's stats and logger. */
  sflow?: (opts: { stats: CollectorStats; log: Logger }) => DatagramDecoder;
}

const USAGE = "usage: nagare decode [--sflow-port N] FILE...";

function toLine(o: LineOut): (line: string) => void {
  if (typeof o === "function") return o;
  return (line) => void o.write(line + "\n");
}

export async function runDecode(
  args: string[],
  outArg: LineOut,
  errArg: LineOut,
  opts: DecodeRunOptions = {},
): Promise<number> {
  const out = toLine(outArg);
  const err = toLine(errArg);
  let sflowPort = 6343;
  const files: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--sflow-port" || a.startsWith("--sflow-port=")) {
      const v = a.includes("=") ? a.slice(a.indexOf("=") + 1) : args[++i];
      const n = Number(v);
      if (v === undefined || !Number.isInteger(n) || n < 1 || n > 65535) {
        err(`nagare decode: --sflow-port needs a port number 1-65535\n${USAGE}`);
        return 2;
      }
      sflowPort = n;
    } else if (a === "--help" || a === "-h") {
      out(USAGE);
      return 0;
    } else if (a === "--") {
      files.push(...args.slice(i + 1));
      break;
    } else if (a.startsWith("--")) {
      err(`nagare decode: unknown option ${a}\n${USAGE}`);
      return 2;
    } else files.push(a);
  }
  if (files.length === 0) {
    err(`nagare decode: no input file\n${USAGE}`);
    return 2;
  }

  // Read everything first: an unreadable file fails the run before any output.
  const perFile: CapturedDatagram[][] = [];
  for (const f of files) {
    try {
      perFile.push(readCapture(f));
    } catch (e) {
      err(`nagare decode: cannot read ${f}: ${(e as Error).message}`);
      return 1;
    }
  }

  const stats = new CollectorStats();
  const log = createLogger({ level: "warn", write: err });
  const sflow = opts.sflow?.({ stats, log });
  const decoder = new FlowDecoder({ stats, log, ...(sflow?.hook ? { sflow: sflow.hook } : {}) });
  if (sflow) sflow.netflow = decoder;

  // Print rows in production order: rows committed before an options record
  // are printed before it. `printed` counts printed rows of the current batch.
  let printed = 0;
  let flows = 0;
  let options = 0;
  let counters = 0;
  const printRows = (b: FlowBatch, upTo: number): void => {
    for (; printed < upTo; printed++) {
      out(JSON.stringify({ kind: "flow", ...b.row(printed) }));
      flows++;
    }
  };
  const sink: RecordSink = new RecordSink(
    (b) => {
      printRows(b, b.length);
      printed = 0;
    },
    (rec: OptionsRecord) => {
      printRows(sink.batch, sink.batch.length);
      out(JSON.stringify({ kind: "options", ...rec }));
      options++;
    },
    4096,
    (rec: InterfaceCounters) => {
      printRows(sink.batch, sink.batch.length);
      out(JSON.stringify({ kind: "counters", ...rec }));
      counters++;
    },
  );

  const ipCache = new Map<string, Uint8Array>();
  let datagrams = 0;
  let sflowSkipped = 0;
  let thrown = 0;
  for (const ds of perFile) {
    for (const d of ds) {
      datagrams++;
      let ip = ipCache.get(d.srcAddr);
      if (!ip) {
        ip = parseIp(d.srcAddr) ?? new Uint8Array(16);
        ipCache.set(d.srcAddr, ip);
      }
      const src: PacketSource = { exporter: d.srcAddr, exporterIp: ip, receivedMs: d.timeMs };
      const isSflow = d.synthetic ? d.dstPort === 6343 : d.dstPort === sflowPort;
      try {
        if (!isSflow) decoder.decode(d.payload, src, sink);
        else if (sflow) sflow.decode(d.payload, src, sink);
        else sflowSkipped++;
      } catch (e) {
        // Decoders must never throw; say so loudly but keep going.
        thrown++;
        err(`nagare decode: decoder threw on datagram ${datagrams}: ${(e as Error).stack ?? String(e)}`);
      }
      // Drain the batch: print, then zero the used rows so it is reused as fresh.
      const b = sink.batch;
      printRows(b, b.length);
      for (let i = 0; i < b.length; i++) b.clearRow(i);
      b.length = 0;
      printed = 0;
    }
  }

  const errors: Record<string, number> = {};
  let sequenceLost = 0;
  let pendingSets = 0;
  for (const s of stats.exporters.values()) {
    for (const r of DECODE_REASONS) if (s.errors[r] > 0) errors[r] = (errors[r] ?? 0) + s.errors[r];
    sequenceLost += s.sequenceLost;
    pendingSets += s.pendingSets;
  }
  err(
    JSON.stringify({
      kind: "summary",
      files: files.length,
      datagrams,
      records: flows,
      options,
      ...(counters > 0 ? { counters } : {}),
      errors,
      sequenceLost,
      pendingSets,
      ...(sflowSkipped > 0 ? { sflowSkipped } : {}),
      ...(thrown > 0 ? { thrown } : {}),
      exporters: stats.exporters.size,
    }),
  );
  return thrown > 0 ? 1 : 0;
}
