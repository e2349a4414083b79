// Per-second traffic counters of the DDoS detector: one slot per destination
// host, per /24 (IPv4) or /64 (IPv6) aggregate, per destination AS, exporter
// and input interface, each split into traffic classes (protocol, TCP flag
// classes, fragments, amplification source ports).
//
// Hot path (every flow of every batch): no allocation for IPv4. Slots live in
// typed arrays indexed by a slot number; IPv4 keys (an address, a /24, an AS)
// find their slot through an open-addressing u32 → slot table (a JS Map with
// keys ≥ 2^30 would box every key as a HeapNumber). IPv6 keys are strings
// (8 UTF-16 code units for a /128, 4 for a /64), the only allocation, and only
// for IPv6 rows.
//
// Memory is bounded: a table holds at most `max` slots and grows by doubling
// up to it. When full, a new key evicts a slot not touched in the current
// second, not pinned (an ongoing attack), preferring the one with the
// smallest learned baseline among a few clock-hand candidates (heavy hitters
// stay, the long tail of a scan churns). When every candidate was touched this
// second (a scan faster than `max` addresses per second), the row is counted
// in `overflow` and only in the aggregates. Bytes per slot: see SLOT_BYTES and
// docs/detection.md ("Memory").
import { formatIp } from "../collector/ip.js";

// ---- traffic classes ---------------------------------------------------------

export const C_TOTAL = 0;
export const C_UDP = 1;
export const C_TCP = 2;
export const C_ICMP = 3;
export const C_OTHER = 4; // other IP protocols
export const C_SYN = 5; // TCP SYN without ACK/FIN/RST
export const C_ACK = 6; // TCP ACK without SYN/FIN/RST
export const C_RST = 7; // TCP RST set
export const C_FRAG = 8; // IP fragments
// Amplification: UDP from a well-known reflector port.
export const C_DNS = 9;
export const C_NTP = 10;
export const C_SSDP = 11;
export const C_MEMCACHED = 12;
export const C_CLDAP = 13;
export const C_CHARGEN = 14;
export const C_SNMP = 15;
export const NCLASS = 16;
export const CLASS_NAMES = [
  "total",
  "udp",
  "tcp",
  "icmp",
  "other",
  "syn",
  "ack",
  "rst",
  "fragment",
  "dns",
  "ntp",
  "ssdp",
  "memcached",
  "cldap",
  "chargen",
  "snmp",
] as const;

/** Reflector source ports of the amplification classes. */
export const AMPLIFICATION_PORTS: Record<number, number> = {
  53: C_DNS,
  123: C_NTP,
  1900: C_SSDP,
  11211: C_MEMCACHED,
  389: C_CLDAP,
  19: C_CHARGEN,
  161: C_SNMP,
};

/** UDP source port → amplification class (0 = none): one array read per row. */
const AMP_CLASS = new Uint8Array(65536);
for (const [port, c] of Object.entries(AMPLIFICATION_PORTS)) AMP_CLASS[Number(port)] = c;

/** Floats per slot: bytes and packets per class, then flows (scaled), then flow records (as exported). */
export const STRIDE = NCLASS * 2 + 2;
const FLOWS = NCLASS * 2;
const RECORDS = NCLASS * 2 + 1;
/** Hour-of-day buckets of the learned baseline, plus one over all hours. */
export const HOURS = 24;

/**
 * Bytes one slot costs in a table with baselines: counters (Float32 × 34),
 * baseline pps and bps per hour + overall (Float32 × 50), learned seconds per
 * bucket (Uint8 × 25), recent normal peak pps and bps (Float32 × 2), the
 * current run of seconds over the baseline (Uint32 × 2), last
 * second (Uint32), key (Float64), network (Uint16),
 * flags, hot marks (Float32 × 2), detail index and touched list (Int32 × 2),
 * the detector's host → aggregate link (Int32), and two index buckets (u32
 * key + i32 value) at the table's ≤ 50 % load. IPv6 keys add their string
 * and a Map entry (measured in bench/detect.ts).
 */
export const SLOT_BYTES =
  STRIDE * 4 + (HOURS + 1) * 2 * 4 + (HOURS + 1) + 2 * 4 + 2 * 4 + 4 + 8 + 2 + 1 + 2 * 4 + 2 * 4 + 4 + 2 * 8;

// ---- u32 → slot index ----------------------------------------------------------

/** Open addressing with linear probing and backward-shift deletion; values are slot + 1 (0 = empty). */
export class U32Index {
  private keys: Uint32Array;
  private vals: Int32Array;
  private mask: number;
  size = 0;

  constructor(capacity = 1024) {
    let n = 16;
    while (n < capacity * 2) n *= 2;
    this.keys = new Uint32Array(n);
    this.vals = new Int32Array(n);
    this.mask = n - 1;
  }

  get bytes(): number {
    return this.keys.byteLength + this.vals.byteLength;
  }

  private static hash(k: number): number {
    return Math.imul(k ^ (k >>> 16), 0x45d9f3b) >>> 0;
  }

  get(k: number): number {
    const m = this.mask;
    let i = U32Index.hash(k) & m;
    for (;;) {
      const v = this.vals[i]!;
      if (v === 0) return -1;
      if (this.keys[i] === k) return v - 1;
      i = (i + 1) & m;
    }
  }

  set(k: number, slot: number): void {
    if ((this.size + 1) * 2 > this.keys.length) this.grow();
    const m = this.mask;
    let i = U32Index.hash(k) & m;
    for (;;) {
      const v = this.vals[i]!;
      if (v === 0) {
        this.keys[i] = k;
        this.vals[i] = slot + 1;
        this.size++;
        return;
      }
      if (this.keys[i] === k) {
        this.vals[i] = slot + 1;
        return;
      }
      i = (i + 1) & m;
    }
  }

  delete(k: number): void {
    const m = this.mask;
    let i = U32Index.hash(k) & m;
    for (;;) {
      if (this.vals[i] === 0) return;
      if (this.keys[i] === k) break;
      i = (i + 1) & m;
    }
    // Backward shift: move later members of the probe run into the hole.
    let j = i;
    for (;;) {
      j = (j + 1) & m;
      if (this.vals[j] === 0) break;
      const home = U32Index.hash(this.keys[j]!) & m;
      // Element at j may move to i when its home is not in (i, j] cyclically.
      if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
        this.keys[i] = this.keys[j]!;
        this.vals[i] = this.vals[j]!;
        i = j;
      }
    }
    this.vals[i] = 0;
    this.size--;
  }

  private grow(): void {
    const ok = this.keys;
    const ov = this.vals;
    this.keys = new Uint32Array(ok.length * 2);
    this.vals = new Int32Array(ov.length * 2);
    this.mask = this.keys.length - 1;
    this.size = 0;
    for (let i = 0; i < ok.length; i++) if (ov[i] !== 0) this.set(ok[i]!, ov[i]! - 1);
  }
}

// ---- tables ----------------------------------------------------------------------

export interface TableOptions {
  /** Slots at most (memory bound). */
  max: number;
  /** Keep learned baselines (hosts, prefixes). */
  baselines: boolean;
  /** Slots allocated up front (grows by doubling up to max). */
  initial?: number;
}

/** Slot flags. */
export const F_PINNED = 1; // an ongoing attack: never evicted, baseline frozen

/**
 * One keyed table of per-second counters. Numeric keys (u32) and string keys
 * share the slot space; `num[slot]` / `str[slot]` hold the key back.
 */
export class CounterTable {
  readonly max: number;
  readonly baselines: boolean;
  capacity: number;
  /** Slots in use (a free list holds evicted ones). */
  size = 0;
  private next = 0;
  private readonly free: number[] = [];
  readonly numIndex: U32Index;
  readonly strIndex = new Map<string, number>();
  /** Counters of the open second (see STRIDE). */
  cnt: Float32Array;
  /** Start (epoch s) of the last second the slot was touched in. */
  lastSec: Uint32Array;
  /** Numeric key of the slot (u32), or NaN for a string key. */
  num: Float64Array;
  str: (string | undefined)[] = [];
  /** Protected-network index + 1 (0 = none configured / not in one). */
  net: Uint16Array;
  flags: Uint8Array;
  /** Open-second pps / bps beyond which the slot's flows are detailed (fingerprint). */
  hotPps: Float32Array;
  hotBps: Float32Array;
  /** Detail accumulator index, −1 none. */
  detail: Int32Array;
  /** Baseline pps/bps per hour bucket (0…23) and overall (24), and learned seconds per bucket. */
  basePps: Float32Array;
  /** Consecutive seconds over the baseline: first and last (epoch s). */
  runStart: Uint32Array;
  runLast: Uint32Array;
  /** Recent normal peak pps and bps (decaying max of learned seconds), per slot. */
  peakPps: Float32Array;
  peakBps: Float32Array;
  baseBps: Float32Array;
  baseN: Uint8Array;
  /** Slots touched in the open second, in order. */
  touched: Int32Array;
  nTouched = 0;
  /** Rows not counted at this level: table full of slots touched this second. */
  overflow = 0;
  evictions = 0;
  /** Hot marks of a new slot per network index (0 = none), set by the detector. */
  netHotPps: Float32Array = new Float32Array([Infinity]);
  netHotBps: Float32Array = new Float32Array([Infinity]);
  private hand = 0;

  constructor(opts: TableOptions) {
    this.max = opts.max;
    this.baselines = opts.baselines;
    this.capacity = Math.min(opts.max, opts.initial ?? 1024);
    this.numIndex = new U32Index(this.capacity);
    const n = this.capacity;
    this.cnt = new Float32Array(n * STRIDE);
    this.lastSec = new Uint32Array(n);
    this.num = new Float64Array(n);
    this.net = new Uint16Array(n);
    this.flags = new Uint8Array(n);
    this.hotPps = new Float32Array(n);
    this.hotBps = new Float32Array(n);
    this.detail = new Int32Array(n).fill(-1);
    const b = opts.baselines ? n * (HOURS + 1) : 0;
    this.basePps = new Float32Array(b);
    this.peakPps = new Float32Array(opts.baselines ? n : 0);
    this.runStart = new Uint32Array(opts.baselines ? n : 0);
    this.runLast = new Uint32Array(opts.baselines ? n : 0);
    this.peakBps = new Float32Array(opts.baselines ? n : 0);
    this.baseBps = new Float32Array(b);
    this.baseN = new Uint8Array(b);
    this.touched = new Int32Array(n);
  }

  /** Bytes of the typed arrays and indexes (strings of IPv6 keys excluded). */
  get bytes(): number {
    return (
      this.cnt.byteLength +
      this.lastSec.byteLength +
      this.num.byteLength +
      this.net.byteLength +
      this.flags.byteLength +
      this.hotPps.byteLength +
      this.hotBps.byteLength +
      this.detail.byteLength +
      this.basePps.byteLength +
      this.peakPps.byteLength +
      this.runStart.byteLength +
      this.runLast.byteLength +
      this.peakBps.byteLength +
      this.baseBps.byteLength +
      this.baseN.byteLength +
      this.touched.byteLength +
      this.numIndex.bytes +
      this.str.length * 8
    );
  }

  private grow(): void {
    const n = Math.min(this.max, this.capacity * 2);
    const g = <T extends Float32Array | Float64Array | Uint32Array | Uint16Array | Uint8Array | Int32Array>(
      a: T,
      per: number,
      make: (len: number) => T,
    ): T => {
      const x = make(n * per);
      x.set(a);
      return x;
    };
    this.cnt = g(this.cnt, STRIDE, (l) => new Float32Array(l));
    this.lastSec = g(this.lastSec, 1, (l) => new Uint32Array(l));
    this.num = g(this.num, 1, (l) => new Float64Array(l));
    this.net = g(this.net, 1, (l) => new Uint16Array(l));
    this.flags = g(this.flags, 1, (l) => new Uint8Array(l));
    this.hotPps = g(this.hotPps, 1, (l) => new Float32Array(l));
    this.hotBps = g(this.hotBps, 1, (l) => new Float32Array(l));
    const d = new Int32Array(n).fill(-1);
    d.set(this.detail);
    this.detail = d;
    if (this.baselines) {
      this.basePps = g(this.basePps, HOURS + 1, (l) => new Float32Array(l));
      this.peakPps = g(this.peakPps, 1, (l) => new Float32Array(l));
      this.runStart = g(this.runStart, 1, (l) => new Uint32Array(l));
      this.runLast = g(this.runLast, 1, (l) => new Uint32Array(l));
      this.peakBps = g(this.peakBps, 1, (l) => new Float32Array(l));
      this.baseBps = g(this.baseBps, HOURS + 1, (l) => new Float32Array(l));
      this.baseN = g(this.baseN, HOURS + 1, (l) => new Uint8Array(l));
    }
    this.touched = g(this.touched, 1, (l) => new Int32Array(l));
    this.capacity = n;
  }

  /** A slot for a new key: a fresh one, a freed one, or an evicted one; −1 when none can go. */
  private alloc(sec: number): number {
    const f = this.free.pop();
    if (f !== undefined) return f;
    if (this.next < this.capacity) return this.next++;
    if (this.capacity < this.max) {
      this.grow();
      return this.next++;
    }
    // Clock hand over up to 32 slots: the untouched, unpinned one with the smallest overall baseline.
    let best = -1;
    let bestW = Infinity;
    for (let k = 0; k < 32; k++) {
      const s = this.hand;
      this.hand = (this.hand + 1) % this.capacity;
      if (this.lastSec[s] === sec || (this.flags[s]! & F_PINNED) !== 0) continue;
      const w = this.baselines ? this.basePps[s * (HOURS + 1) + HOURS]! : 0;
      if (w < bestW) {
        best = s;
        bestW = w;
        if (w === 0) break;
      }
    }
    if (best < 0) return -1;
    this.evict(best);
    this.free.pop();
    return best;
  }

  /** Forget a slot (key, counters, baseline). */
  evict(s: number): void {
    const k = this.num[s]!;
    if (Number.isNaN(k)) this.strIndex.delete(this.str[s]!);
    else this.numIndex.delete(k);
    this.str[s] = undefined;
    this.cnt.fill(0, s * STRIDE, (s + 1) * STRIDE);
    if (this.baselines) {
      const b = s * (HOURS + 1);
      this.basePps.fill(0, b, b + HOURS + 1);
      this.peakPps[s] = 0;
      this.runStart[s] = 0;
      this.runLast[s] = 0;
      this.peakBps[s] = 0;
      this.baseBps.fill(0, b, b + HOURS + 1);
      this.baseN.fill(0, b, b + HOURS + 1);
    }
    this.flags[s] = 0;
    this.lastSec[s] = 0;
    this.detail[s] = -1;
    this.size--;
    this.evictions++;
    this.free.push(s);
  }

  private init(s: number, net: number): void {
    this.size++;
    this.net[s] = net;
    this.flags[s] = 0;
    this.hotPps[s] = this.netHotPps[net] ?? Infinity;
    this.hotBps[s] = this.netHotBps[net] ?? Infinity;
    this.detail[s] = -1;
    this.lastSec[s] = 0;
  }

  /** The slot of numeric key `k` (created when `create`), or −1. */
  slotNum(k: number, sec: number, net: number): number {
    let s = this.numIndex.get(k);
    if (s >= 0) return s;
    s = this.alloc(sec);
    if (s < 0) {
      this.overflow++;
      return -1;
    }
    this.init(s, net);
    this.num[s] = k;
    this.numIndex.set(k, s);
    return s;
  }

  slotStr(k: string, sec: number, net: number): number {
    let s = this.strIndex.get(k);
    if (s !== undefined) return s;
    s = this.alloc(sec);
    if (s < 0) {
      this.overflow++;
      return -1;
    }
    this.init(s, net);
    this.num[s] = NaN;
    this.str[s] = k;
    this.strIndex.set(k, s);
    return s;
  }

  /** Existing slot of a key, or −1 (no creation). */
  findNum(k: number): number {
    return this.numIndex.get(k);
  }
  findStr(k: string): number {
    return this.strIndex.get(k) ?? -1;
  }

  /**
   * Add one row's scaled counts to slot `s` in classes `c0` (always total),
   * `c1` (protocol), `c2`, `c3`, `c4` (−1 = none). Returns true when the slot
   * crossed its hot mark (the caller starts a detail accumulator).
   */
  add(
    s: number,
    sec: number,
    b: number,
    p: number,
    f: number,
    c1: number,
    c2: number,
    c3: number,
    c4: number,
  ): boolean {
    if (this.lastSec[s] !== sec) {
      this.lastSec[s] = sec;
      this.touched[this.nTouched++] = s;
    }
    const cnt = this.cnt;
    const o = s * STRIDE;
    cnt[o] = cnt[o]! + b;
    cnt[o + 1] = cnt[o + 1]! + p;
    cnt[o + FLOWS] = cnt[o + FLOWS]! + f;
    cnt[o + RECORDS] = cnt[o + RECORDS]! + 1;
    let q = o + c1 * 2;
    cnt[q] = cnt[q]! + b;
    cnt[q + 1] = cnt[q + 1]! + p;
    if (c2 >= 0) {
      q = o + c2 * 2;
      cnt[q] = cnt[q]! + b;
      cnt[q + 1] = cnt[q + 1]! + p;
    }
    if (c3 >= 0) {
      q = o + c3 * 2;
      cnt[q] = cnt[q]! + b;
      cnt[q + 1] = cnt[q + 1]! + p;
    }
    if (c4 >= 0) {
      q = o + c4 * 2;
      cnt[q] = cnt[q]! + b;
      cnt[q + 1] = cnt[q + 1]! + p;
    }
    return cnt[o + 1]! >= this.hotPps[s]! || cnt[o]! * 8 >= this.hotBps[s]!;
  }

  bytesOf(s: number, c = C_TOTAL): number {
    return this.cnt[s * STRIDE + c * 2]!;
  }
  packetsOf(s: number, c = C_TOTAL): number {
    return this.cnt[s * STRIDE + c * 2 + 1]!;
  }
  flowsOf(s: number): number {
    return this.cnt[s * STRIDE + FLOWS]!;
  }
  /** Flow records (unscaled) in the open second. */
  recordsOf(s: number): number {
    return this.cnt[s * STRIDE + RECORDS]!;
  }

  /** Zero the open-second counters of every touched slot (after the detector read them). */
  resetSecond(): void {
    const t = this.touched;
    for (let i = 0; i < this.nTouched; i++) {
      const s = t[i]!;
      this.cnt.fill(0, s * STRIDE, (s + 1) * STRIDE);
    }
    this.nTouched = 0;
  }

  /** The slot's key as text: an address, a prefix number, an AS … (see keyText of the owner). */
  keyOf(s: number): number | string {
    const k = this.num[s]!;
    return Number.isNaN(k) ? this.str[s]! : k;
  }
}

// ---- keys ---------------------------------------------------------------------------

/** IPv4 address (host order u32) of an IPv4-mapped 16-byte address at `o`. */
export function v4At(b: Uint8Array, o: number): number {
  return ((b[o + 12]! << 24) | (b[o + 13]! << 16) | (b[o + 14]! << 8) | b[o + 15]!) >>> 0;
}

export function isV4At(b: Uint8Array, o: number): boolean {
  return (
    b[o + 10] === 0xff &&
    b[o + 11] === 0xff &&
    (b[o]! |
      b[o + 1]! |
      b[o + 2]! |
      b[o + 3]! |
      b[o + 4]! |
      b[o + 5]! |
      b[o + 6]! |
      b[o + 7]! |
      b[o + 8]! |
      b[o + 9]!) ===
      0
  );
}

/** String key of the first `words` 16-bit words of an address (8 = /128, 4 = /64). */
export function v6Key(b: Uint8Array, o: number, words: number): string {
  return words === 8
    ? String.fromCharCode(
        (b[o]! << 8) | b[o + 1]!,
        (b[o + 2]! << 8) | b[o + 3]!,
        (b[o + 4]! << 8) | b[o + 5]!,
        (b[o + 6]! << 8) | b[o + 7]!,
        (b[o + 8]! << 8) | b[o + 9]!,
        (b[o + 10]! << 8) | b[o + 11]!,
        (b[o + 12]! << 8) | b[o + 13]!,
        (b[o + 14]! << 8) | b[o + 15]!,
      )
    : String.fromCharCode(
        (b[o]! << 8) | b[o + 1]!,
        (b[o + 2]! << 8) | b[o + 3]!,
        (b[o + 4]! << 8) | b[o + 5]!,
        (b[o + 6]! << 8) | b[o + 7]!,
      );
}

/** 16-byte address of a v6 string key (padded with zeros for a /64 key). */
export function v6KeyBytes(k: string): Uint8Array {
  const b = new Uint8Array(16);
  for (let i = 0; i < k.length; i++) {
    const w = k.charCodeAt(i);
    b[i * 2] = w >> 8;
    b[i * 2 + 1] = w & 0xff;
  }
  return b;
}

export function v4Text(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 0xff}.${(v >>> 8) & 0xff}.${v & 0xff}`;
}

/** Target prefix text of a host-table key ("203.0.113.7/32", "2001:db8::1/128"). */
export function hostKeyText(k: number | string): string {
  return typeof k === "number" ? `${v4Text(k)}/32` : `${formatIp(v6KeyBytes(k), 0)}/128`;
}

/** Target prefix text of a prefix-table key ("203.0.113.0/24", "2001:db8:0:1::/64"). */
export function prefixKeyText(k: number | string): string {
  return typeof k === "number" ? `${v4Text((k << 8) >>> 0)}/24` : `${formatIp(v6KeyBytes(k), 0)}/64`;
}

// ---- row classification ------------------------------------------------------------

/** Classes of one row: protocol class and up to three more (−1 none); written into `out`. */
export function classify(
  protocol: number,
  tcpFlags: number,
  srcPort: number,
  fragment: number,
  out: Int8Array,
): void {
  let c1: number;
  let c2 = -1;
  let c3 = -1;
  if (protocol === 17) {
    c1 = C_UDP;
    const a = AMP_CLASS[srcPort]!;
    if (a !== 0) c2 = a;
  } else if (protocol === 6) {
    c1 = C_TCP;
    const f = tcpFlags & 0x17; // FIN SYN RST ACK (PSH, URG, ECN ignored)
    if (f === 0x02) c2 = C_SYN;
    else if (f === 0x10) c2 = C_ACK;
    else if ((f & 0x04) !== 0) c2 = C_RST;
  } else if (protocol === 1 || protocol === 58) c1 = C_ICMP;
  else c1 = C_OTHER;
  if (fragment) c3 = C_FRAG;
  out[0] = c1;
  out[1] = c2;
  out[2] = c3;
}
