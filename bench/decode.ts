// Decode-only throughput: flow records per second on one core, one
// FlowDecoder, the datagrams already in memory (no sockets). Real captures
// are replayed in a loop (templates included, as an exporter resends them);
// synthetic packets are large, full packets. Each case warms up first so the
// JIT has compiled the hot paths, then runs for a fixed time.
import { FlowDecoder } from "../src/collector/decoder.js";
import { CollectorStats } from "../src/collector/stats.js";
import { RecordSink } from "../src/collector/types.js";
import { BENCH_SRC, loadStream } from "./stream.js";
import { ipfixPackets, v5Packet, v9Packets } from "./synth.js";

export interface DecodeCase {
  name: string;
  version: "v5" | "v9" | "IPFIX";
  kind: "real capture" | "synthetic";
  /** Datagrams replayed in order, in a loop. */
  datagrams: Uint8Array[];
  /** Sent once before the loop (templates of synthetic streams). */
  prelude?: Uint8Array[];
}

export interface DecodeResult {
  name: string;
  version: string;
  kind: string;
  datagramsPerLoop: number;
  recordsPerLoop: number;
  avgDatagramBytes: number;
  seconds: number;
  records: number;
  recordsPerSecond: number;
  datagramsPerSecond: number;
  mbitPerSecond: number;
  errors: number;
}

export function decodeCases(): DecodeCase[] {
  const real = (name: string, version: DecodeCase["version"], files: string[]): DecodeCase => ({
    name,
    version,
    kind: "real capture",
    datagrams: loadStream(name, files).datagrams.map((d) => d.payload),
  });
  const v9 = v9Packets();
  const ipfix = ipfixPackets();
  return [
    real("akvorado nfv5", "v5", ["akvorado__netflow__nfv5.pcap"]),
    {
      name: "synthetic v5, 30 records",
      version: "v5",
      kind: "synthetic",
      datagrams: Array.from({ length: 16 }, (_, p) => v5Packet(30, p)),
    },
    real("graylog nprobe-netflow9-3", "v9", ["graylog__nprobe-netflow9-3.pcap"]),
    {
      name: `synthetic v9, ${v9.recordsPerPacket} × 20 fields, ${v9.bytes} B`,
      version: "v9",
      kind: "synthetic",
      datagrams: v9.data,
      prelude: [v9.template],
    },
    real("ipfixcol2 example_flows", "IPFIX", ["ipfixcol2__example_flows.ipfix"]),
    real("pmacct 400", "IPFIX", ["pmacct__400__traffic-00.pcap", "pmacct__400__traffic-01.pcap"]),
    {
      name: `synthetic IPFIX, ${ipfix.recordsPerPacket} × 20 fields, ${ipfix.bytes} B`,
      version: "IPFIX",
      kind: "synthetic",
      datagrams: ipfix.data,
      prelude: [ipfix.template],
    },
  ];
}

export function runDecodeCase(c: DecodeCase, seconds = 2, warmupSeconds = 0.5): DecodeResult {
  const stats = new CollectorStats();
  const dec = new FlowDecoder({ stats });
  // Batches are handed on and dropped, as the pipeline would (allocation of a new batch per 4096 rows included).
  const sink = new RecordSink(
    () => {},
    () => {},
  );
  for (const p of c.prelude ?? []) dec.decode(p, BENCH_SRC, sink);
  let perLoop = 0;
  for (const p of c.datagrams) perLoop += dec.decode(p, BENCH_SRC, sink);
  const bytesPerLoop = c.datagrams.reduce((a, p) => a + p.length, 0);
  const loop = (until: number): { records: number; loops: number } => {
    let records = 0;
    let loops = 0;
    const ds = c.datagrams;
    while (performance.now() < until) {
      for (let k = 0; k < ds.length; k++) records += dec.decode(ds[k]!, BENCH_SRC, sink);
      loops++;
    }
    return { records, loops };
  };
  loop(performance.now() + warmupSeconds * 1000);
  const t0 = performance.now();
  const { records, loops } = loop(t0 + seconds * 1000);
  const s = (performance.now() - t0) / 1000;
  return {
    name: c.name,
    version: c.version,
    kind: c.kind,
    datagramsPerLoop: c.datagrams.length,
    recordsPerLoop: perLoop,
    avgDatagramBytes: Math.round(bytesPerLoop / c.datagrams.length),
    seconds: s,
    records,
    recordsPerSecond: records / s,
    datagramsPerSecond: (loops * c.datagrams.length) / s,
    mbitPerSecond: (loops * bytesPerLoop * 8) / s / 1e6,
    errors: stats.totals().errors,
  };
}
