// Kafka partitioning keys: which flows land in the same partition (and so stay
// in order relative to each other, and reach the same consumer of a group).
import type { FlowBatch } from "../collector/batch.js";
import { formatIp } from "../collector/ip.js";

/**
 * - "exporter": the exporter's address (pmacct's `kafka_partition_key: $peer_src_ip`),
 *   so one router's flows stay in order on one partition;
 * - "src_addr" / "dst_addr": spread by host (per-host state on the consumer side);
 * - "none": no key, the producer spreads messages over partitions.
 */
export type PartitionKey = "none" | "exporter" | "src_addr" | "dst_addr";
export const PARTITION_KEYS: readonly PartitionKey[] = ["none", "exporter", "src_addr", "dst_addr"];

export const KEY_COLUMN = {
  exporter: "exporter_address",
  src_addr: "src_addr",
  dst_addr: "dst_addr",
} as const;

/** The key text of row `i` ("" for "none"): the address as pmacct prints it. */
export function keyText(batch: FlowBatch, i: number, mode: PartitionKey): string {
  if (mode === "none") return "";
  return formatIp(batch.cols[KEY_COLUMN[mode]], i * 16);
}

/** Rows i and j of a 16-byte address column hold the same address. */
export function sameIp(col: Uint8Array, i: number, j: number): boolean {
  const a = i * 16;
  const b = j * 16;
  for (let k = 0; k < 16; k++) if (col[a + k] !== col[b + k]) return false;
  return true;
}
