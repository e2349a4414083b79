// The load generator of the receive benchmark, run as its own process
// (`node dist/bench/sender.js '<json>'`) so it never shares a core's event
// loop with the collector under test. It replays the real export stream over
// loopback: template datagrams first (slowly, so no collector starts without
// them), then the whole stream in a loop, paced to a target records/s.
// Prints one JSON line: what it actually sent and over how long.
import { createSocket } from "node:dgram";
import { sflowStream } from "./sflow.js";
import { RECEIVE_STREAM, loadStream, type Stream } from "./stream.js";
import { ipfixPackets } from "./synth.js";

/** The synthetic IPFIX stream as a Stream: the template message first, then 512 data messages. */
function synthStream(): Stream {
  const p = ipfixPackets(512);
  const datagrams = [
    { payload: p.template, flows: 0, packets: 0, templates: true },
    ...p.data.map((payload) => ({ payload, flows: p.recordsPerPacket, packets: 0, templates: false })),
  ];
  const flows = p.data.length * p.recordsPerPacket;
  return { name: "synthetic IPFIX", files: [], datagrams, flows, packets: 0, bytes: p.data.length * p.bytes };
}

export interface SenderArgs {
  host: string;
  port: number;
  /** Target flow records per second (0 = as fast as possible). */
  rate: number;
  seconds: number;
  /** Replay the synthetic sFlow stream (bench/sflow.ts) instead of the NetFlow v9 one. */
  sflow?: boolean;
  /**
   * Replay synthetic IPFIX (bench/synth.ts ipfixPackets(512): 4 864 source and
   * 19 destination addresses, as bench enrich decodes) instead of the capture, whose four addresses
   * would leave every per-address cache warm (receive --enrich --synth).
   */
  synth?: boolean;
}

export interface SenderResult {
  sentDatagrams: number;
  /** Flow records per second actually sent during the paced part. */
  rateFlows: number;
  sentFlows: number;
  sentPackets: number;
  seconds: number;
  sendErrors: number;
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2] ?? "{}") as SenderArgs;
  const stream = args.sflow
    ? sflowStream()
    : args.synth
      ? synthStream()
      : loadStream(RECEIVE_STREAM.name, RECEIVE_STREAM.files);
  const dgs = stream.datagrams;
  const sock = createSocket("udp4");
  sock.on("error", () => {});
  await new Promise<void>((res) => sock.connect(args.port, args.host, res));
  let sendErrors = 0;
  const onSent = (err: Error | null): void => {
    if (err) sendErrors++;
  };

  // Templates first, twice, with a pause: every collector decodes from the first data datagram.
  let preFlows = 0;
  let prePackets = 0;
  for (let r = 0; r < 2; r++) {
    for (const d of dgs) {
      if (!d.templates) continue;
      sock.send(d.payload, onSent);
      preFlows += d.flows;
      prePackets += d.packets;
    }
    await sleep(100);
  }

  const flowsPerDatagram = stream.flows / dgs.length;
  const pps = args.rate > 0 ? args.rate / flowsPerDatagram : Infinity;
  let sent = 0;
  let flows = 0;
  let packets = 0;
  let i = 0;
  const t0 = performance.now();
  const end = t0 + args.seconds * 1000;
  // Paced in 1 ms slices: send what the schedule owes, then yield so the
  // send callbacks run (dgram sends are queued in libuv).
  for (;;) {
    const now = performance.now();
    if (now >= end) break;
    const owed = Math.min(2000, Math.floor(((now - t0) / 1000) * pps) - sent);
    for (let k = 0; k < owed; k++) {
      const d = dgs[i]!;
      sock.send(d.payload, onSent);
      sent++;
      flows += d.flows;
      packets += d.packets;
      if (++i === dgs.length) i = 0;
    }
    await new Promise<void>((res) => setImmediate(res));
  }
  const seconds = (performance.now() - t0) / 1000;
  await sleep(50);
  sock.close();
  // The paced part sets the rate; the template preamble counts as sent too.
  const result: SenderResult = {
    sentDatagrams: sent,
    rateFlows: flows / seconds,
    sentFlows: flows + preFlows,
    sentPackets: packets + prePackets,
    seconds,
    sendErrors,
  };
  process.stdout.write(JSON.stringify(result) + "\n");
}

function sleep(ms: number): Promise<void> {
  return new Promise((res) => setTimeout(res, ms));
}

void main();
