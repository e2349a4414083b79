// RateMeter: per-second flows / bytes / packets for the last 10 minutes.
//
// A ring of one-second buckets, indexed by the flow's receive second, so the
// rate reflects when the collector received the traffic even if a batch is
// flushed a little later. Feeds the 10-second log line and (later) the live UI.
import type { FlowBatch } from "../collector/batch.js";
import type { FlowConsumer } from "./index.js";

export interface RateSample {
  /** Start of the second, ms since epoch. */
  t: number;
  flows: number;
  bytes: number;
  packets: number;
}

export class RateMeter implements FlowConsumer {
  readonly name = "rate";
  readonly seconds: number;
  private readonly sec: Float64Array;
  private readonly flows: Float64Array;
  private readonly bytes: Float64Array;
  private readonly packets: Float64Array;
  private readonly now: () => number;
  totalFlows = 0;
  totalBytes = 0;
  totalPackets = 0;

  constructor(opts: { seconds?: number; now?: () => number } = {}) {
    this.seconds = opts.seconds ?? 600;
    this.sec = new Float64Array(this.seconds).fill(-1);
    this.flows = new Float64Array(this.seconds);
    this.bytes = new Float64Array(this.seconds);
    this.packets = new Float64Array(this.seconds);
    this.now = opts.now ?? Date.now;
  }

  private bucket(second: number): number {
    const i = second % this.seconds;
    if (this.sec[i] !== second) {
      this.sec[i] = second;
      this.flows[i] = 0;
      this.bytes[i] = 0;
      this.packets[i] = 0;
    }
    return i;
  }

  consume(batch: FlowBatch): void {
    const { time_received, bytes, packets, flows } = batch.cols;
    const nowSec = Math.floor(this.now() / 1000);
    let lastSec = -1;
    let i = 0;
    for (let r = 0; r < batch.length; r++) {
      let s = Math.floor(time_received[r]! / 1000);
      // Rows with a missing or absurd receive time count in the current second.
      if (!(s > nowSec - this.seconds && s <= nowSec + 1)) s = nowSec;
      if (s !== lastSec) {
        i = this.bucket(s);
        lastSec = s;
      }
      const f = flows[r] || 1;
      this.flows[i]! += f;
      this.bytes[i]! += bytes[r]!;
      this.packets[i]! += packets[r]!;
      this.totalFlows += f;
      this.totalBytes += bytes[r]!;
      this.totalPackets += packets[r]!;
    }
  }

  /** Per-second samples of the last `n` complete seconds (oldest first), zeros included. */
  series(n = this.seconds): RateSample[] {
    const end = Math.floor(this.now() / 1000); // the current, incomplete second is excluded
    const out: RateSample[] = [];
    for (let s = end - Math.min(n, this.seconds - 1); s < end; s++) {
      const i = s % this.seconds;
      const hit = this.sec[i] === s;
      out.push({
        t: s * 1000,
        flows: hit ? this.flows[i]! : 0,
        bytes: hit ? this.bytes[i]! : 0,
        packets: hit ? this.packets[i]! : 0,
      });
    }
    return out;
  }

  /** Average per-second rates over the last `n` complete seconds. */
  average(n = 10): { flows: number; bytes: number; packets: number } {
    const s = this.series(n);
    const div = Math.max(1, s.length);
    let flows = 0,
      bytes = 0,
      packets = 0;
    for (const x of s) {
      flows += x.flows;
      bytes += x.bytes;
      packets += x.packets;
    }
    return { flows: flows / div, bytes: bytes / div, packets: packets / div };
  }
}
