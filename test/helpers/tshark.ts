// Run the real tshark on a capture and extract its NetFlow/IPFIX records.
//
// `-T json --no-duplicate-keys` keeps each record's fields together (tshark
// merges repeated fields into arrays; the first occurrence is the outer
// header, as in expected/*.jsonl). Records are the "pdu i/n" (v5) and
// "Flow n" (v9/IPFIX) objects under the cflow layer.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import type { ExpectedFields } from "./captures.js";

export const TSHARK = "/usr/bin/tshark";

/** Fail loudly: these tests exist to compare with the real tool. */
export function requireTshark(): void {
  if (!existsSync(TSHARK))
    throw new Error(`${TSHARK} is missing: install tshark (Debian package tshark) to run the cross-check`);
}

export interface TsharkRecord extends ExpectedFields {
  frame: number;
}

type Json = string | Json[] | { [k: string]: Json };

function first(v: Json | undefined): string | null {
  if (v === undefined) return null;
  if (Array.isArray(v)) return first(v[0]);
  return typeof v === "string" ? v : null;
}

function int(v: Json | undefined): number | null {
  const s = first(v);
  if (s === null) return null;
  return s.startsWith("0x") ? parseInt(s, 16) : Number(s);
}

const ZERO = new Set(["0.0.0.0", "::"]);

/**
 * The record's address: the first non-zero occurrence of the IPv4 or IPv6
 * field in wire order (records may carry both families with one zeroed, or
 * two headers where the first is the outer one).
 */
function addr(o: Record<string, Json>, v4: string, v6: string): string | null {
  let fallback: string | null = null;
  for (const [k, v] of Object.entries(o)) {
    if (k !== v4 && k !== v6) continue;
    const a = first(v);
    if (a === null) continue;
    if (!ZERO.has(a)) return a;
    fallback ??= a;
  }
  return fallback;
}

function collect(node: Json, frame: number, out: TsharkRecord[]): void {
  if (typeof node !== "object" || node === null || Array.isArray(node)) return;
  for (const [k, v] of Object.entries(node)) {
    const items = Array.isArray(v) ? v : [v];
    if (/^(Flow \d+|pdu \d+\/\d+)$/.test(k)) {
      for (const item of items) {
        if (typeof item !== "object" || Array.isArray(item)) continue;
        const r = item as Record<string, Json>;
        out.push({
          frame,
          src: addr(r, "cflow.srcaddr", "cflow.srcaddrv6"),
          dst: addr(r, "cflow.dstaddr", "cflow.dstaddrv6"),
          sport: int(r["cflow.srcport"]),
          dport: int(r["cflow.dstport"]),
          proto: int(r["cflow.protocol"]),
          // Delta counters (IE 1/2) when present, else the totals (IE 85/86,
          // tshark's "permanent" fields), as in expected/*.jsonl.
          bytes: int(r["cflow.octets"]) ?? int(r["cflow.permanent_octets"]),
          packets: int(r["cflow.packets"]) ?? int(r["cflow.permanent_packets"]),
          src_as: int(r["cflow.srcas"]),
          dst_as: int(r["cflow.dstas"]),
          in_if: int(r["cflow.inputint"]),
          out_if: int(r["cflow.outputint"]),
        });
      }
    } else {
      for (const item of items) collect(item, frame, out);
    }
  }
}

/**
 * Every NetFlow/IPFIX record tshark decodes in `pcap`, decoding UDP `ports`
 * as cflow. `twoPass` (-2) lets tshark use templates that arrive later.
 */
export function tsharkRecords(pcap: string, ports: number[], twoPass = false): TsharkRecord[] {
  requireTshark();
  const args = ["-r", pcap, "-n", ...ports.flatMap((p) => ["-d", `udp.port==${p},cflow`])];
  if (twoPass) args.push("-2");
  args.push("-Y", "cflow", "-T", "json", "--no-duplicate-keys", "-J", "frame cflow");
  const text = execFileSync(TSHARK, args, {
    maxBuffer: 1 << 30,
    stdio: ["ignore", "pipe", "ignore"],
  }).toString();
  const packets = JSON.parse(text) as { _source: { layers: Record<string, Json> } }[];
  const out: TsharkRecord[] = [];
  for (const p of packets) {
    const layers = p._source.layers;
    const frame = int((layers.frame as Record<string, Json> | undefined)?.["frame.number"]) ?? 0;
    collect(layers.cflow ?? {}, frame, out);
  }
  return out;
}
