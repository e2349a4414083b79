// `npm run bench -- sflow` — the sFlow part of the benchmark:
//
//  1. decode only: samples/s on one core through the collector's own path
//     (FlowDecoder with the sFlow hook, as every listen socket uses it), on
//     the real sFlow captures and on large synthetic datagrams (a typical
//     switch export: 7 flow samples with 128-byte raw headers, 1372 bytes);
//  2. receive over loopback: the same synthetic stream, from the shared
//     sender process (bench/sender.ts), to `nagare start` and to pmacct's
//     sfacctd (memory plugin, counted with `pmacct -s` as the NetFlow part
//     does for nfacctd) at stepped rates; loss-free = < 0.1 % loss.
//
// Writes bench/results-sflow.json (the NetFlow part owns results.json).
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { capturesDir, readCapture } from "../src/collector/capture.js";
import { FlowDecoder } from "../src/collector/decoder.js";
import { isSflow, SflowDecoder } from "../src/collector/sflow/decoder.js";
import { CollectorStats } from "../src/collector/stats.js";
import { RecordSink } from "../src/collector/types.js";
import {
  bestRates,
  line,
  pmacctMemoryRun,
  LOSS_LIMIT,
  NagareUnderTest,
  raiseRmemMax,
  RCVBUF,
  requireTool,
  step,
  type StepResult,
} from "./receive.js";
import { BENCH_SRC, type Stream } from "./stream.js";

/** Issue target, samples per second per core. */
export const SFLOW_DECODE_TARGET = 1_500_000;
/** Published, not measured here: Akvorado's Go sFlow decoder, about 1 µs per sample. */
export const PUBLISHED_GO_SFLOW = {
  samplesPerSecondPerCore: 1_000_000,
  source: "Akvorado documentation: about 1 µs per sFlow sample (published figure, not measured here)",
};
export const SFLOW_RECEIVE_RATES = [50_000, 100_000, 200_000, 400_000, 800_000];

// --- synthetic datagrams ---------------------------------------------------------

/** Deterministic PRNG (mulberry32). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const SYNTH_HEADER_BYTES = 128;
export const SYNTH_SAMPLES = 7;

/**
 * The first 128 bytes of a frame as a switch samples it: Ethernet (802.1Q
 * tagged one time in four), then IPv4 or IPv6, then TCP, UDP or ICMP, then
 * payload. Returns the frame length the sample reports.
 */
function sampledFrame(b: Uint8Array, o: number, rnd: () => number): number {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const frameLength = 64 + Math.floor(rnd() * 1455);
  b.set([0x00, 0x1c, 0x73, 0, 0, Math.floor(rnd() * 256), 0x02, 0, 0, 0, 1, Math.floor(rnd() * 256)], o);
  let p = o + 12;
  if (rnd() < 0.25) {
    dv.setUint16(p, 0x8100);
    dv.setUint16(p + 2, 1 + Math.floor(rnd() * 4000));
    p += 4;
  }
  const v6 = rnd() < 0.3;
  const r = rnd();
  const proto = r < 0.6 ? 6 : r < 0.95 ? 17 : v6 ? 58 : 1;
  dv.setUint16(p, v6 ? 0x86dd : 0x0800);
  p += 2;
  const l3len = frameLength - (p - o) - 4;
  if (v6) {
    dv.setUint32(p, 0x60000000);
    dv.setUint16(p + 4, Math.max(0, l3len - 40));
    b[p + 6] = proto;
    b[p + 7] = 64;
    b.set([0x20, 0x01, 0x0d, 0xb8], p + 8);
    for (let k = 4; k < 16; k++) b[p + 8 + k] = Math.floor(rnd() * 256);
    b.set([0x20, 0x01, 0x0d, 0xb8], p + 24);
    for (let k = 4; k < 16; k++) b[p + 24 + k] = Math.floor(rnd() * 256);
    p += 40;
  } else {
    b[p] = 0x45;
    dv.setUint16(p + 2, Math.max(20, l3len));
    dv.setUint16(p + 4, Math.floor(rnd() * 65536));
    b[p + 8] = 64;
    b[p + 9] = proto;
    b.set([10, Math.floor(rnd() * 4), Math.floor(rnd() * 256), Math.floor(rnd() * 256)], p + 12);
    b.set([192, 0, 2, Math.floor(rnd() * 256)], p + 16);
    p += 20;
  }
  if (proto === 6 || proto === 17) {
    dv.setUint16(p, 1024 + Math.floor(rnd() * 60000));
    dv.setUint16(p + 2, [443, 80, 53, 123, 22][Math.floor(rnd() * 5)]!);
    if (proto === 6) {
      dv.setUint32(p + 4, Math.floor(rnd() * 2 ** 32));
      b[p + 12] = 0x50;
      b[p + 13] = 0x10;
    } else dv.setUint16(p + 4, Math.max(8, l3len - (v6 ? 40 : 20)));
  } else {
    b[p] = v6 ? 128 : 8; // echo request
  }
  return frameLength;
}

/**
 * Synthetic sFlow v5 datagrams as a switch exports them: IPv4 agent, 7 flow
 * samples (format 1), each with one raw packet header record of 128 bytes
 * (Ethernet protocol), sampling rate 1024 — 1372 bytes per datagram.
 */
export function synthSflow(datagrams = 64, seed = 42): Uint8Array[] {
  const rnd = prng(seed);
  const sampleLen = 32 + 8 + 16 + SYNTH_HEADER_BYTES; // sample body
  const size = 28 + SYNTH_SAMPLES * (8 + sampleLen);
  const out: Uint8Array[] = [];
  let sampleSeq = 1;
  for (let d = 0; d < datagrams; d++) {
    const b = new Uint8Array(size);
    const dv = new DataView(b.buffer);
    dv.setUint32(0, 5);
    dv.setUint32(4, 1);
    b.set([192, 0, 2, 10], 8);
    dv.setUint32(12, 0); // sub-agent
    dv.setUint32(16, d + 1); // datagram sequence
    dv.setUint32(20, 1_000_000 + d * 10); // uptime
    dv.setUint32(24, SYNTH_SAMPLES);
    let p = 28;
    for (let s = 0; s < SYNTH_SAMPLES; s++) {
      const ifIn = 1 + Math.floor(rnd() * 48);
      const ifOut = 1 + Math.floor(rnd() * 48);
      dv.setUint32(p, 1); // flow_sample
      dv.setUint32(p + 4, sampleLen);
      dv.setUint32(p + 8, sampleSeq++);
      dv.setUint32(p + 12, ifIn); // source id: type 0, ifIndex
      dv.setUint32(p + 16, 1024); // sampling rate
      dv.setUint32(p + 20, sampleSeq * 1024); // sample pool
      dv.setUint32(p + 24, 0); // drops
      dv.setUint32(p + 28, ifIn);
      dv.setUint32(p + 32, ifOut);
      dv.setUint32(p + 36, 1); // one record
      dv.setUint32(p + 40, 1); // sampled_header
      dv.setUint32(p + 44, 16 + SYNTH_HEADER_BYTES);
      dv.setUint32(p + 48, 1); // ETHERNET-ISO88023
      const frameLength = sampledFrame(b, p + 64, rnd);
      dv.setUint32(p + 52, frameLength);
      dv.setUint32(p + 56, 4); // stripped (FCS)
      dv.setUint32(p + 60, SYNTH_HEADER_BYTES);
      p += 8 + sampleLen;
    }
    out.push(b);
  }
  return out;
}

/** The receive stream: synthetic switch export, counted once by our decoder (every datagram: 7 flow samples). */
export function sflowStream(): Stream {
  const payloads = synthSflow();
  const stats = new CollectorStats();
  const dec = new FlowDecoder({ stats, sflow: new SflowDecoder({ stats }).hook });
  const sink = new RecordSink(
    () => {},
    () => {},
    1 << 16,
  );
  const datagrams = payloads.map((payload) => {
    sink.batch.reset();
    const flows = dec.decode(payload, BENCH_SRC, sink);
    return { payload, flows, packets: flows, templates: false };
  });
  const flows = datagrams.reduce((a, d) => a + d.flows, 0);
  const bytes = payloads.reduce((a, p) => a + p.length, 0);
  return { name: "synthetic sFlow v5 switch export", files: [], datagrams, flows, packets: flows, bytes };
}

// --- decode only -----------------------------------------------------------------

export interface SflowDecodeCase {
  name: string;
  kind: "real capture" | "synthetic";
  datagrams: Uint8Array[];
}

export interface SflowDecodeResult {
  name: string;
  kind: string;
  datagramsPerLoop: number;
  flowSamplesPerLoop: number;
  counterSamplesPerLoop: number;
  avgDatagramBytes: number;
  seconds: number;
  samples: number;
  samplesPerSecond: number;
  nsPerSample: number;
  datagramsPerSecond: number;
  errors: number;
}

export function sflowDecodeCases(): SflowDecodeCase[] {
  const dir = capturesDir();
  const real = (name: string, files: string[]): SflowDecodeCase => ({
    name,
    kind: "real capture",
    // Only the sFlow datagrams (one capture also holds NetFlow v5 sent to the sFlow port).
    datagrams: files.flatMap((f) =>
      readCapture(join(dir, f))
        .map((d) => d.payload.slice())
        .filter(isSflow),
    ),
  });
  return [
    real("akvorado sFlow captures (flow samples)", [
      "akvorado__sflow__data-1140.pcap",
      "akvorado__sflow__data-discard-interface.pcap",
      "akvorado__sflow__data-encap-vxlan.pcap",
      "akvorado__sflow__data-icmpv4.pcap",
      "akvorado__sflow__data-local-interface.pcap",
      "akvorado__sflow__data-multiple-interfaces.pcap",
      "akvorado__sflow__data-sflow-ipv4-data.pcap",
    ]),
    real("tcpdump + telegraf sFlow (flow, expanded, counters)", [
      "tcpdump__sflow_expanded.pcap",
      "telegraf__sflow_issue_15918__message.bin",
      "telegraf__sflow_v5_example__sflow_v5.bin",
    ]),
    real("tcpdump multiple_counter_30_pdus (counter samples)", [
      "tcpdump__sflow_multiple_counter_30_pdus.pcap",
    ]),
    {
      name: `synthetic, ${SYNTH_SAMPLES} flow samples × ${SYNTH_HEADER_BYTES} B headers, ${synthSflow(1)[0]!.length} B`,
      kind: "synthetic",
      datagrams: synthSflow(),
    },
  ];
}

export function runSflowDecodeCase(c: SflowDecodeCase, seconds = 2, warmupSeconds = 0.5): SflowDecodeResult {
  const stats = new CollectorStats();
  // The collector's path: FlowDecoder recognises sFlow (00 00 00 05) and hands it to the hook.
  const dec = new FlowDecoder({ stats, sflow: new SflowDecoder({ stats }).hook });
  let counters = 0;
  const sink = new RecordSink(
    () => {},
    () => {},
    4096,
    () => counters++,
  );
  let flowsPerLoop = 0;
  for (const p of c.datagrams) flowsPerLoop += dec.decode(p, BENCH_SRC, sink);
  const countersPerLoop = counters;
  const bytesPerLoop = c.datagrams.reduce((a, p) => a + p.length, 0);
  const loop = (until: number): { samples: number; loops: number } => {
    let samples = 0;
    let loops = 0;
    const ds = c.datagrams;
    const c0 = counters;
    while (performance.now() < until) {
      for (let k = 0; k < ds.length; k++) samples += dec.decode(ds[k]!, BENCH_SRC, sink);
      loops++;
    }
    return { samples: samples + counters - c0, loops };
  };
  loop(performance.now() + warmupSeconds * 1000);
  const t0 = performance.now();
  const { samples, loops } = loop(t0 + seconds * 1000);
  const s = (performance.now() - t0) / 1000;
  return {
    name: c.name,
    kind: c.kind,
    datagramsPerLoop: c.datagrams.length,
    flowSamplesPerLoop: flowsPerLoop,
    counterSamplesPerLoop: countersPerLoop,
    avgDatagramBytes: Math.round(bytesPerLoop / c.datagrams.length),
    seconds: s,
    samples,
    samplesPerSecond: samples / s,
    nsPerSample: (s * 1e9) / samples,
    datagramsPerSecond: (loops * c.datagrams.length) / s,
    errors: stats.totals().errors,
  };
}

// --- receive ---------------------------------------------------------------------

export interface SflowReceiveResult {
  stream: string;
  samplesPerDatagram: number;
  datagramBytes: number;
  seconds: number;
  rcvbuf: number;
  rmemMax: number;
  steps: StepResult[];
  best: Record<string, number>;
}

export async function runSflowReceive(
  opts: { rates?: number[]; seconds?: number; log?: (s: string) => void } = {},
): Promise<SflowReceiveResult> {
  const rates = opts.rates ?? SFLOW_RECEIVE_RATES;
  const seconds = opts.seconds ?? 3;
  const log = opts.log ?? (() => {});
  requireTool("sfacctd");
  requireTool("pmacct");
  const rmemMax = raiseRmemMax(RCVBUF * 2);
  const stream = sflowStream();
  const steps: StepResult[] = [];
  const nagare = new NagareUnderTest();
  await nagare.start();
  try {
    for (const rate of rates) {
      const { s, before, after, c0, c1, received } = await nagare.measure(rate, seconds, { sflow: true });
      steps.push(
        step(
          "nagare",
          rate,
          s,
          received,
          c0,
          c1,
          after.kernelDrops > before.kernelDrops
            ? `kernel drops ${after.kernelDrops - before.kernelDrops} datagrams`
            : undefined,
        ),
      );
      log(line(steps.at(-1)!));
      steps.push(await sfacctdStep(rate, seconds));
      log(line(steps.at(-1)!));
    }
  } finally {
    await nagare.stop();
  }
  return {
    stream: stream.name,
    samplesPerDatagram: stream.flows / stream.datagrams.length,
    datagramBytes: Math.round(stream.bytes / stream.datagrams.length),
    seconds,
    rcvbuf: RCVBUF,
    rmemMax,
    steps,
    best: bestRates(steps),
  };
}

/**
 * sfacctd (pmacct) with the memory plugin, fresh per step, configured like
 * /work/shared/peers/sfacctd.conf except for the plugin (print loses records
 * above ~20 k/s). Without renormalisation each flow sample is one packet in
 * the table, so received samples = packets in `pmacct -s`.
 */
async function sfacctdStep(rate: number, seconds: number): Promise<StepResult> {
  const { s, packets, c0, c1 } = await pmacctMemoryRun("sfacctd", rate, seconds, { sflow: true });
  return step("sfacctd", rate, s, packets, c0, c1, "samples = packets in the memory table");
}

// --- the part as run.ts calls it ---------------------------------------------------

const M = (x: number): string => (x / 1e6).toFixed(2);

function table(head: string[], rows: string[][]): string {
  const w = head.map((h, k) => Math.max(h.length, ...rows.map((r) => (r[k] ?? "").length)));
  const fmt = (r: string[]): string => "| " + r.map((c, k) => c.padEnd(w[k]!)).join(" | ") + " |";
  return [fmt(head), "|" + w.map((n) => "-".repeat(n + 2)).join("|") + "|", ...rows.map(fmt)].join("\n");
}

export async function runSflowPart(
  machine: Record<string, unknown>,
  which: "all" | "decode" | "receive" = "all",
): Promise<void> {
  const started = new Date();
  let decode: SflowDecodeResult[] | undefined;
  if (which !== "receive") {
    console.log(
      "sFlow decode only (FlowDecoder + sFlow hook, one core, datagrams in memory; 0.5 s warm-up, 2 s)",
    );
    decode = sflowDecodeCases().map((c) => runSflowDecodeCase(c));
    console.log(
      "\n" +
        table(
          [
            "case",
            "kind",
            "samples/datagram",
            "M samples/s/core",
            "ns/sample",
            "vs target 1.5 M",
            "vs Go ~1 M (published)",
          ],
          decode.map((r) => [
            r.name,
            r.kind,
            ((r.flowSamplesPerLoop + r.counterSamplesPerLoop) / r.datagramsPerLoop).toFixed(1),
            M(r.samplesPerSecond),
            r.nsPerSample.toFixed(0),
            `${(r.samplesPerSecond / SFLOW_DECODE_TARGET).toFixed(2)}×`,
            `${(r.samplesPerSecond / PUBLISHED_GO_SFLOW.samplesPerSecondPerCore).toFixed(2)}×`,
          ]),
        ) +
        "\n",
    );
  }
  let receive: SflowReceiveResult | undefined;
  if (which !== "decode") {
    console.log(
      `sFlow receive over loopback (same synthetic stream to nagare and sfacctd; steps ${SFLOW_RECEIVE_RATES.map(M).join(", ")} M samples/s)`,
    );
    receive = await runSflowReceive({ log: (s) => console.log(s) });
    console.log(
      "\n" +
        table(
          ["target M/s", "nagare loss (sent M/s)", "sfacctd loss (sent M/s)", "nagare cpu", "sfacctd cpu"],
          SFLOW_RECEIVE_RATES.map((rate) => {
            const at = (c: string) => receive!.steps.find((s) => s.collector === c && s.targetRate === rate);
            const loss = (c: string): string => {
              const s = at(c);
              return s ? `${(s.loss * 100).toFixed(3)}% (${M(s.sentRate)})` : "-";
            };
            const cpu = (c: string): string => {
              const v = at(c)?.cpuPercent;
              return v === null || v === undefined ? "-" : `${v}%`;
            };
            return [M(rate), loss("nagare"), loss("sfacctd"), cpu("nagare"), cpu("sfacctd")];
          }),
        ),
    );
    const b = receive.best;
    console.log(
      `\nHighest rate with < ${LOSS_LIMIT * 100}% loss (M samples/s): nagare ${M(b.nagare ?? 0)}, sfacctd ${M(b.sfacctd ?? 0)}` +
        (b.nagare && b.sfacctd ? ` — nagare / sfacctd ${(b.nagare / b.sfacctd).toFixed(2)}×` : ""),
    );
  }
  const here = dirname(fileURLToPath(import.meta.url));
  const path = import.meta.url.endsWith(".ts")
    ? join(here, "results-sflow.json")
    : join(here, "..", "..", "bench", "results-sflow.json");
  writeFileSync(
    path,
    JSON.stringify(
      {
        started: started.toISOString(),
        finished: new Date().toISOString(),
        part: `sflow${which === "all" ? "" : ` ${which}`}`,
        machine,
        targets: { decodeSamplesPerSecondPerCore: SFLOW_DECODE_TARGET },
        published: { goDecoder: PUBLISHED_GO_SFLOW },
        decode,
        receive,
      },
      null,
      2,
    ) + "\n",
  );
  console.log(`\nwrote ${path}`);
}
