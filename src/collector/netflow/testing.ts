// Test helpers for the NetFlow/IPFIX decoder: read the shared captures
// (raw .dat/.bin files, split into datagrams; minimal pcap → UDP payloads)
// and run a unit through one FlowDecoder. Used by *.test.ts only.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CollectorStats } from "../stats.js";
import { FlowDecoder, type DecoderOptions } from "../decoder.js";
import { RecordSink, type OptionsRecord, type PacketSource } from "../types.js";
import type { FlowBatch } from "../batch.js";
import { parseIp } from "../ip.js";

export const CAPTURES = process.env.NAGARE_CAPTURES ?? "/work/shared/captures";

/**
 * Split a raw file into export datagrams the way captures/README.md says:
 * v5 24+48*count, IPFIX by the message length, v9 by walking flowsets until
 * the next 0x0009 header. Trailing bytes that fit none stay with the last datagram.
 */
export function splitRaw(buf: Uint8Array): Uint8Array[] {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const starts: number[] = [];
  let off = 0;
  while (off < buf.length) {
    const left = buf.length - off;
    if (left < 16 && starts.length) break; // trailing bytes stay with the last datagram
    const v = dv.getUint16(off);
    let len = left;
    if (v === 5 && left >= 24) len = Math.min(left, 24 + 48 * dv.getUint16(off + 2));
    else if (v === 10 && left >= 16) len = Math.max(16, Math.min(left, dv.getUint16(off + 2)));
    else if (v === 9 && left >= 20) {
      let p = off + 20;
      while (p + 4 <= buf.length && dv.getUint16(p) !== 9) {
        const sl = dv.getUint16(p + 2);
        if (sl < 4) {
          p = buf.length;
          break;
        }
        p += sl;
      }
      len = Math.min(left, p - off);
    }
    starts.push(off);
    off += len;
  }
  return starts.map((s, k) => buf.subarray(s, k + 1 < starts.length ? starts[k + 1] : buf.length));
}

export function readRaw(name: string): Uint8Array[] {
  return splitRaw(new Uint8Array(readFileSync(join(CAPTURES, name))));
}

/** UDP payloads of a pcap (Ethernet / Linux SLL / null link types; IPv4/IPv6; VLAN tags). */
export function readPcapUdp(name: string): { payload: Uint8Array; src: string; dstPort: number }[] {
  const b = new Uint8Array(readFileSync(join(CAPTURES, name)));
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const magic = dv.getUint32(0, true);
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  const link = dv.getUint32(20, le);
  const out: { payload: Uint8Array; src: string; dstPort: number }[] = [];
  let off = 24;
  while (off + 16 <= b.length) {
    const incl = dv.getUint32(off + 8, le);
    const pkt = b.subarray(off + 16, off + 16 + incl);
    off += 16 + incl;
    const pv = new DataView(pkt.buffer, pkt.byteOffset, pkt.byteLength);
    let p = 0;
    let et = 0;
    if (link === 1) {
      p = 14;
      et = pv.getUint16(12);
      while (et === 0x8100 || et === 0x88a8) {
        et = pv.getUint16(p + 2);
        p += 4;
      }
    } else if (link === 113) {
      p = 16;
      et = pv.getUint16(14);
    } else if (link === 0 || link === 108) {
      p = 4;
      et = pkt[p] !== undefined && pkt[p]! >> 4 === 6 ? 0x86dd : 0x0800;
    } else if (link === 101) {
      et = pkt[0]! >> 4 === 6 ? 0x86dd : 0x0800;
    } else continue;
    let src = "";
    let proto = 0;
    if (et === 0x0800) {
      const ihl = (pkt[p]! & 15) * 4;
      proto = pkt[p + 9]!;
      if ((pv.getUint16(p + 6) & 0x1fff) !== 0) continue;
      src = `${pkt[p + 12]}.${pkt[p + 13]}.${pkt[p + 14]}.${pkt[p + 15]}`;
      p += ihl;
    } else if (et === 0x86dd) {
      proto = pkt[p + 6]!;
      const w: string[] = [];
      for (let k = 0; k < 8; k++) w.push(pv.getUint16(p + 8 + 2 * k).toString(16));
      src = w.join(":");
      p += 40;
    } else continue;
    if (proto !== 17 || p + 8 > pkt.length) continue;
    const ulen = pv.getUint16(p + 4);
    out.push({
      payload: pkt.subarray(p + 8, Math.min(pkt.length, p + ulen)),
      src,
      dstPort: pv.getUint16(p + 2),
    });
  }
  return out;
}

export interface Decoded {
  rows: Record<string, string | number>[];
  options: OptionsRecord[];
  stats: CollectorStats;
  decoder: FlowDecoder;
  returned: number;
}

export const EXPORTER = "192.0.2.1";

export function source(exporter = EXPORTER, receivedMs = 1_700_000_000_000): PacketSource {
  return { exporter, exporterIp: parseIp(exporter)!, receivedMs };
}

/** Feed datagrams (in order) through one decoder; collect rows as plain objects. */
export function decodeAll(
  datagrams: Uint8Array[],
  opts: Partial<DecoderOptions> = {},
  decoder?: FlowDecoder,
): Decoded {
  const stats = opts.stats ?? new CollectorStats();
  const d = decoder ?? new FlowDecoder({ ...opts, stats });
  const batches: FlowBatch[] = [];
  const options: OptionsRecord[] = [];
  const sink = new RecordSink(
    (b) => batches.push(b),
    (o) => options.push(o),
    256,
  );
  let returned = 0;
  for (const g of datagrams) returned += d.decode(g, source(), sink);
  sink.flush();
  const rows: Record<string, string | number>[] = [];
  for (const b of batches) for (let i = 0; i < b.length; i++) rows.push(b.row(i));
  return { rows, options, stats, decoder: d, returned };
}

export function unitFiles(unit: string): string[] {
  const lines = readFileSync(join(CAPTURES, "MANIFEST.tsv"), "utf8").trim().split("\n").slice(1);
  return lines
    .map((l) => l.split("\t"))
    .filter((c) => c[1] === unit)
    .sort((a, b) => parseInt(a[2]!) - parseInt(b[2]!))
    .map((c) => c[0]!);
}

export function expected(unit: string): Record<string, unknown>[] {
  return readFileSync(join(CAPTURES, "expected", `${unit}.jsonl`), "utf8")
    .trim()
    .split("\n")
    .filter((l) => l)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Project a decoded row onto expected/'s keys (null-able values compare as 0 / ""). */
export function project(r: Record<string, string | number>): Record<string, string | number> {
  return {
    src: r.src_addr!,
    dst: r.dst_addr!,
    sport: r.src_port!,
    dport: r.dst_port!,
    proto: r.protocol!,
    bytes: r.bytes!,
    packets: r.packets!,
    src_as: r.src_as!,
    dst_as: r.dst_as!,
    in_if: r.in_if!,
    out_if: r.out_if!,
  };
}

export function projectExpected(e: Record<string, unknown>): Record<string, string | number> {
  const n = (v: unknown): number => (typeof v === "number" ? v : 0);
  const s = (v: unknown): string => (typeof v === "string" ? v : "");
  return {
    src: s(e.src),
    dst: s(e.dst),
    sport: n(e.sport),
    dport: n(e.dport),
    proto: n(e.proto),
    bytes: n(e.bytes),
    packets: n(e.packets),
    src_as: n(e.src_as),
    dst_as: n(e.dst_as),
    in_if: n(e.in_if),
    out_if: n(e.out_if),
  };
}
