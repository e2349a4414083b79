// The export streams the benchmarks replay: real captures from
// /work/shared/captures, counted once by our own decoder so "sent" is known
// per datagram (records, flows, packets inside the flows).
import { join } from "node:path";
import { capturesDir, readCapture } from "../src/collector/capture.js";
import { FlowDecoder } from "../src/collector/decoder.js";
import { CollectorStats } from "../src/collector/stats.js";
import { RecordSink, type PacketSource } from "../src/collector/types.js";

export interface StreamDatagram {
  payload: Uint8Array;
  /** Flow records our decoder finds in it once the templates are known. */
  flows: number;
  /** Sum of the flows' packet counters (to check peers that only report totals). */
  packets: number;
  /** Carries a template or options-template set (sent first). */
  templates: boolean;
}

export interface Stream {
  name: string;
  files: string[];
  datagrams: StreamDatagram[];
  /** Per loop of the whole stream. */
  flows: number;
  packets: number;
  bytes: number;
}

export const BENCH_SRC: PacketSource = {
  exporter: "192.0.2.10",
  exporterIp: Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 10]),
  receivedMs: 1_700_000_000_000,
};

/** Load capture files (one unit, in order) and count what each datagram holds. */
export function loadStream(name: string, files: string[], dir = capturesDir()): Stream {
  const payloads = files.flatMap((f) => readCapture(join(dir, f)).map((d) => d.payload.slice()));
  // Count with templates known: decode the whole stream twice, keep the second pass.
  const stats = new CollectorStats();
  const dec = new FlowDecoder({ stats });
  let flows = 0;
  let pkts = 0;
  const sink = new RecordSink(
    () => {},
    () => {},
    1 << 16,
  );
  for (const p of payloads) dec.decode(p, BENCH_SRC, sink);
  const datagrams: StreamDatagram[] = [];
  for (const p of payloads) {
    sink.batch.reset();
    const n = dec.decode(p, BENCH_SRC, sink);
    let packets = 0;
    const col = sink.batch.cols.packets as unknown as Float64Array;
    for (let k = 0; k < n; k++) packets += col[k]!;
    datagrams.push({ payload: p, flows: n, packets, templates: hasTemplateSet(p) });
    flows += n;
    pkts += packets;
  }
  const bytes = payloads.reduce((a, p) => a + p.length, 0);
  return { name, files, datagrams, flows, packets: pkts, bytes };
}

/** True when a v9/IPFIX datagram has a (options) template set. */
export function hasTemplateSet(p: Uint8Array): boolean {
  const dv = new DataView(p.buffer, p.byteOffset, p.byteLength);
  if (p.length < 20) return false;
  const v = dv.getUint16(0);
  if (v !== 9 && v !== 10) return false;
  let o = v === 9 ? 20 : 16;
  const end = v === 9 ? p.length : Math.min(p.length, dv.getUint16(2));
  while (o + 4 <= end) {
    const id = dv.getUint16(o);
    const len = dv.getUint16(o + 2);
    if (id <= 3) return true;
    if (len < 4) return false;
    o += len;
  }
  return false;
}

/** The receive benchmark's stream: real NetFlow v9 from an nProbe exporter (72 datagrams, 892 flows). */
export const RECEIVE_STREAM = {
  name: "graylog nprobe-netflow9-3 (NetFlow v9)",
  files: ["graylog__nprobe-netflow9-3.pcap"],
};
