// Shared access to the real capture set in /work/shared/captures: MANIFEST
// rows, units (files fed in unit_order through one template cache), the
// datagrams of each unit, tshark's per-record decode (expected/<unit>.jsonl)
// and the per-unit summary with its notes.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  RAW_EXPORTER,
  capturesDir,
  loadManifest,
  manifestUnits,
  readCapture,
  type CapturedDatagram,
  type ManifestRow,
} from "../../src/collector/capture.js";
import { BatchPool, type FlowBatch } from "../../src/collector/batch.js";
import { FlowDecoder } from "../../src/collector/decoder.js";
import { formatIp, parseIp } from "../../src/collector/ip.js";
import { SflowDecoder } from "../../src/collector/sflow/decoder.js";
import { CollectorStats } from "../../src/collector/stats.js";
import { RecordSink } from "../../src/collector/types.js";

export const CAPTURES_DIR = capturesDir();

/** Raw files carry no addresses: one fixed synthetic exporter per unit, as in the MANIFEST's verification framing. */
export const SYNTHETIC_EXPORTER = RAW_EXPORTER.srcAddr;

export { loadManifest, type ManifestRow };

/** Flow-export ports of a file and their dissector, from udp_dst_ports ("2055(cflow)"). */
export function filePorts(row: ManifestRow): { port: number; dissector: string }[] {
  return [...row.udpDstPorts.matchAll(/(\d+)\((\w+)\)/g)].map((m) => ({
    port: Number(m[1]),
    dissector: m[2]!,
  }));
}

export interface Unit {
  name: string;
  files: ManifestRow[];
  /** Every protocol the unit's files hold, as MANIFEST spells them ("NetFlow v9", "IPFIX", "sFlow v5" …). */
  protocols: Set<string>;
  sflow: boolean;
  /** tshark's record count for the whole unit (flow + options records). */
  dataRecordsInUnit: number;
}

let unitsCache: Map<string, Unit> | undefined;

export function loadUnits(): Map<string, Unit> {
  if (unitsCache) return unitsCache;
  unitsCache = new Map();
  for (const [name, files] of manifestUnits(loadManifest(CAPTURES_DIR))) {
    const protocols = new Set(files.flatMap((f) => f.protocol.split("+").map((p) => p.trim())));
    unitsCache.set(name, {
      name,
      files,
      protocols,
      sflow: files.some((f) => f.protocol.includes("sFlow")),
      dataRecordsInUnit: files[0]?.dataRecordsInUnit ?? 0,
    });
  }
  return unitsCache;
}

export function unit(name: string): Unit {
  const u = loadUnits().get(name);
  if (!u) throw new Error(`no unit ${name} in MANIFEST.tsv`);
  return u;
}

export interface Datagram extends CapturedDatagram {
  /** 1-based index of the datagram within its file. */
  frame: number;
  file: string;
  /** True for raw files (synthetic exporter address). */
  raw: boolean;
}

/**
 * Datagrams of one file, read by the product's capture reader. Pcaps: every
 * UDP datagram to one of the file's flow-export ports (pmacct captures also
 * hold BMP/BGP, which the reader skips as TCP). Raw files: the reader's
 * synthetic exporter 192.0.2.1.
 */
export function readFileDatagrams(row: ManifestRow): Datagram[] {
  const raw = row.format !== "pcap";
  const ports = new Set(filePorts(row).map((p) => p.port));
  return readCapture(row.path)
    .filter((d) => raw || ports.has(d.dstPort))
    .map((d, i) => ({ ...d, frame: i + 1, file: row.file, raw }));
}

/** All datagrams of a unit, files in unit_order. */
export function readUnitDatagrams(u: Unit): Datagram[] {
  return u.files.flatMap(readFileDatagrams);
}

/**
 * Decode a unit's datagrams (NetFlow/IPFIX and sFlow) as the collector does
 * (one FlowDecoder, pooled batches of `capacity`, default 512) handed to
 * `onBatch` (e.g. a StoreWriter's consume), each datagram received at its
 * capture time plus `offsetMs`; the last partial batch is flushed.
 */
export function decodeUnit(
  name: string,
  onBatch: (b: FlowBatch) => void,
  offsetMs = 0,
  stats = new CollectorStats(),
  capacity = 512,
): void {
  const decoder = new FlowDecoder({ stats, sflow: new SflowDecoder({ stats }).hook });
  const sink = new RecordSink(
    onBatch,
    () => {},
    capacity,
    () => {},
    new BatchPool(capacity, 2),
  );
  for (const d of readUnitDatagrams(unit(name))) {
    const exporterIp = parseIp(d.srcAddr) ?? new Uint8Array(16);
    decoder.decode(d.payload, { exporter: d.srcAddr, exporterIp, receivedMs: d.timeMs + offsetMs }, sink);
  }
  sink.flush();
}

/** One flow of decodeSpread's data set, for answers computed in JS. */
export interface SpreadFlow {
  /** time_received, epoch ms. */
  t: number;
  bytes: number;
  packets: number;
  flows: number;
  /** max(sampling_rate, 1): what the store scales counters by. */
  scale: number;
  protocol: number;
  dstAs: number;
  srcPort: number;
  dstPort: number;
  srcAddr: string;
}

/**
 * The planner tests' data set: `units` decoded in order (decodeUnit), receive
 * times spread over [t0, t0 + spanMs) with a prime step (so minutes and hours
 * all differ) and every third flow marked sampled 1:100, before each batch
 * reaches `onBatch` (e.g. a StoreWriter's consume). Returns the flows.
 */
export function decodeSpread(
  units: readonly string[],
  t0: number,
  spanMs: number,
  onBatch: (b: FlowBatch) => void,
): SpreadFlow[] {
  const flows: SpreadFlow[] = [];
  for (const name of units)
    decodeUnit(name, (b) => {
      const c = b.cols;
      for (let i = 0; i < b.length; i++) {
        const n = flows.length;
        c.time_received[i] = t0 + ((n * 7919 * 1009) % spanMs);
        if (n % 3 === 0) c.sampling_rate[i] = 100;
        flows.push({
          t: c.time_received[i]!,
          bytes: c.bytes[i]!,
          packets: c.packets[i]!,
          flows: c.flows[i]!,
          scale: Math.max(c.sampling_rate[i]!, 1),
          protocol: c.protocol[i]!,
          dstAs: c.dst_as[i]!,
          srcPort: c.src_port[i]!,
          dstPort: c.dst_port[i]!,
          srcAddr: formatIp(c.src_addr, i * 16),
        });
      }
      onBatch(b);
    });
  return flows;
}

export interface ExpectedHeader {
  src: string | null;
  dst: string | null;
  sport: number | null;
  dport: number | null;
  proto: number | null;
}

/** The header, counters, AS numbers and interfaces of one record, as tshark shows them (expected/*.jsonl, helpers/tshark.ts). */
export interface ExpectedFields extends ExpectedHeader {
  bytes: number | null;
  packets: number | null;
  src_as: number | null;
  dst_as: number | null;
  in_if: number | null;
  out_if: number | null;
}

export interface ExpectedRecord extends ExpectedFields {
  kind: "flow" | "options" | "flow_sample" | "counter_sample";
  sampling: number | null;
  /** Header dissected from IE 315; null when tshark could not dissect the section. */
  datalink?: ExpectedHeader | null;
  inner?: ExpectedHeader;
}

export function loadExpected(unitName: string): ExpectedRecord[] {
  const path = join(CAPTURES_DIR, "expected", `${unitName}.jsonl`);
  return readFileSync(path, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as ExpectedRecord);
}

export interface SummaryRow {
  unit: string;
  protocol: string;
  flowRecords: number;
  optionsRecords: number;
  bytesSum: number;
  packetsSum: number;
  notes: string;
}

export function loadSummary(): Map<string, SummaryRow> {
  const [, ...lines] = readFileSync(join(CAPTURES_DIR, "expected", "SUMMARY.tsv"), "utf8")
    .split("\n")
    .filter(Boolean);
  const out = new Map<string, SummaryRow>();
  for (const line of lines) {
    const [unitName, protocol, flows, opts, bytes, packets, notes] = line.split("\t");
    out.set(unitName!, {
      unit: unitName!,
      protocol: protocol!,
      flowRecords: Number(flows),
      optionsRecords: Number(opts),
      bytesSum: Number(bytes),
      packetsSum: Number(packets),
      notes: notes ?? "",
    });
  }
  return out;
}

/** Version field of a datagram (first u16; sFlow's u32 version reads as 0 here). */
export function datagramVersion(payload: Uint8Array): number {
  return payload.length >= 2 ? (payload[0]! << 8) | payload[1]! : -1;
}

/** True for an sFlow v5 datagram (32-bit version 5). */
export function isSflow(payload: Uint8Array): boolean {
  return payload.length >= 4 && payload[0] === 0 && payload[1] === 0 && payload[2] === 0 && payload[3] === 5;
}
