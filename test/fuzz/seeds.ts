// Fuzz seeds: every real datagram of the shared capture set
// (/work/shared/captures), grouped by unit so a unit's templates can be fed
// before its data is mutated.
import { loadManifest, manifestUnits, readCapture } from "../../src/collector/capture.js";
import { parseIp } from "../../src/collector/ip.js";
import type { PacketSource } from "../../src/collector/types.js";
import { isSflow } from "../helpers/captures.js";

export interface SeedDatagram {
  payload: Uint8Array;
  src: PacketSource;
}

export interface SeedUnit {
  unit: string;
  datagrams: SeedDatagram[];
}

/**
 * Every capture unit, its datagrams in unit order, keeping only those `keep`
 * accepts; units left empty are dropped. Payloads are copied so mutating a
 * seed can never touch the file buffer another seed views.
 */
export function loadSeedUnits(keep: (payload: Uint8Array) => boolean): SeedUnit[] {
  const out: SeedUnit[] = [];
  const ips = new Map<string, Uint8Array>();
  for (const [unit, rows] of manifestUnits(loadManifest())) {
    const datagrams: SeedDatagram[] = [];
    for (const row of rows) {
      for (const d of readCapture(row.path)) {
        if (!keep(d.payload)) continue;
        let ip = ips.get(d.srcAddr);
        if (!ip) ips.set(d.srcAddr, (ip = parseIp(d.srcAddr) ?? new Uint8Array(16)));
        datagrams.push({
          payload: d.payload.slice(),
          src: { exporter: d.srcAddr, exporterIp: ip, receivedMs: d.timeMs || 1_700_000_000_000 },
        });
      }
    }
    if (datagrams.length) out.push({ unit, datagrams });
  }
  return out;
}

/** NetFlow v1/v5/v7, v9 and IPFIX datagrams (what FlowDecoder decodes). */
export function isNetflowOrIpfix(p: Uint8Array): boolean {
  if (p.length < 4 || isSflow(p)) return false;
  const v = (p[0]! << 8) | p[1]!;
  return v === 1 || v === 5 || v === 7 || v === 9 || v === 10;
}
