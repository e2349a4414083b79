// DatagramRing: a single-producer / single-consumer queue of UDP datagrams in
// a SharedArrayBuffer, between the receive thread (udp-worker.ts, producer)
// and the main thread (decoder, consumer).
//
// Why: node:dgram costs about as much per datagram as decoding it (a 64 KiB
// allocation, a Buffer, an rinfo object and a JS callback each). With both on
// one thread the socket is not drained while a datagram is decoded, and any
// stall of that thread (GC, a batch consumer, the scheduler on a busy host)
// fills the kernel buffer. The receive thread only copies datagrams here; the
// main thread drains many per wake-up with no per-datagram allocation other
// than a Uint8Array view.
//
// Layout: Int32 header (HDR_BYTES), then the data area. Records are 8-byte
// aligned and never wrap: one that does not fit before the end is preceded by
// a WRAP marker and written at offset 0.
//
//   record  := u32 recordBytes (header + payload, rounded up to 8)
//              i32 kind        (KIND_DATA, KIND_ADDR, or WRAP)
//              u32 a           (DATA: source id; ADDR: source id)
//              u32 n           (payload bytes)
//              f64 receivedMs  (DATA) / unused
//              payload         (DATA: the datagram; ADDR: the address as UTF-8)
//
// Source addresses travel once each (an ADDR record gives the id used by the
// DATA records that follow), so no string crosses the ring per datagram.

export const KIND_DATA = 1;
export const KIND_ADDR = 2;
const WRAP = -1;

/** Header slots (Int32 indexes). */
const W = 0; // write offset (producer)
const R = 1; // read offset (consumer)
const SEQ = 2; // bumped by the producer to wake a parked consumer
const PARKED = 3; // 1 while the consumer waits on SEQ
const DROPS = 4; // datagrams the producer dropped because the ring was full
const HDR_INTS = 16;
export const HDR_BYTES = HDR_INTS * 4;
const REC_HDR = 24;

/** Atomics.waitAsync (Node ≥ 16; not in this project's TypeScript lib). */
interface AtomicsWaitAsync {
  waitAsync(
    ta: Int32Array,
    index: number,
    value: number,
  ): { async: false; value: string } | { async: true; value: Promise<string> };
}

const align8 = (n: number): number => (n + 7) & ~7;

export class DatagramRing {
  readonly sab: SharedArrayBuffer;
  /** Data area size in bytes. */
  readonly size: number;
  private readonly hdr: Int32Array;
  private readonly u8: Uint8Array;
  private readonly dv: DataView;

  constructor(sabOrSize: SharedArrayBuffer | number) {
    this.sab =
      typeof sabOrSize === "number" ? new SharedArrayBuffer(HDR_BYTES + align8(sabOrSize)) : sabOrSize;
    this.size = this.sab.byteLength - HDR_BYTES;
    this.hdr = new Int32Array(this.sab, 0, HDR_INTS);
    this.u8 = new Uint8Array(this.sab, HDR_BYTES, this.size);
    this.dv = new DataView(this.sab, HDR_BYTES, this.size);
  }

  /** Datagrams dropped by the producer because the ring was full (the consumer fell behind). */
  get drops(): number {
    return Atomics.load(this.hdr, DROPS);
  }

  // --- producer ---------------------------------------------------------------

  /** Append a record; false (and counted as a drop for DATA) when it does not fit. Published by publish(). */
  private put(kind: number, a: number, payload: Uint8Array, receivedMs: number): boolean {
    const need = align8(REC_HDR + payload.length);
    const r = Atomics.load(this.hdr, R);
    let w = this.pending;
    // Keep 8 bytes free so that w === r always means "empty".
    if (w >= r) {
      if (this.size - w < need) {
        // Does not fit before the end: wrap, if there is room at the start.
        if (r <= need) return false;
        if (this.size - w >= 8) this.dv.setInt32(w + 4, WRAP, true);
        w = 0;
      }
    } else if (r - w <= need) {
      return false;
    }
    const dv = this.dv;
    dv.setUint32(w, need, true);
    dv.setInt32(w + 4, kind, true);
    dv.setUint32(w + 8, a, true);
    dv.setUint32(w + 12, payload.length, true);
    dv.setFloat64(w + 16, receivedMs, true);
    this.u8.set(payload, w + REC_HDR);
    w += need;
    if (w === this.size) w = 0;
    this.pending = w;
    return true;
  }

  /** Producer's unpublished write offset. */
  private pending = 0;

  /** Queue one datagram from source `id`; false when the ring is full (counted in `drops`). */
  pushDatagram(id: number, data: Uint8Array, receivedMs: number): boolean {
    if (this.put(KIND_DATA, id, data, receivedMs)) return true;
    Atomics.add(this.hdr, DROPS, 1);
    return false;
  }

  /** Count a datagram lost before it could be queued. */
  countDrop(): void {
    Atomics.add(this.hdr, DROPS, 1);
  }

  /** Queue the text of source `id` (before its first datagram). */
  pushAddress(id: number, address: string): boolean {
    return this.put(KIND_ADDR, id, new TextEncoder().encode(address), 0);
  }

  /** Make queued records visible to the consumer and wake it if it is parked. */
  publish(): void {
    Atomics.store(this.hdr, W, this.pending);
    if (Atomics.load(this.hdr, PARKED) === 1) {
      Atomics.store(this.hdr, PARKED, 0);
      Atomics.add(this.hdr, SEQ, 1);
      Atomics.notify(this.hdr, SEQ);
    }
  }

  // --- consumer ---------------------------------------------------------------

  /**
   * Hand up to `max` records to `onRecord` (payload is a view into the ring,
   * valid only during the call) and free their space. Returns records read.
   */
  drain(
    max: number,
    onRecord: (kind: number, a: number, payload: Uint8Array, receivedMs: number) => void,
  ): number {
    const w = Atomics.load(this.hdr, W);
    let r = Atomics.load(this.hdr, R);
    const dv = this.dv;
    let n = 0;
    try {
      while (r !== w && n < max) {
        if (this.size - r < 8 || dv.getInt32(r + 4, true) === WRAP) {
          r = 0;
          continue;
        }
        const at = r;
        // Step past the record first: if onRecord throws, it is not handed on again.
        r += dv.getUint32(at, true);
        if (r === this.size) r = 0;
        n++;
        onRecord(
          dv.getInt32(at + 4, true),
          dv.getUint32(at + 8, true),
          new Uint8Array(this.sab, HDR_BYTES + at + REC_HDR, dv.getUint32(at + 12, true)),
          dv.getFloat64(at + 16, true),
        );
      }
    } finally {
      Atomics.store(this.hdr, R, r);
    }
    return n;
  }

  /** True when no record is waiting. */
  get empty(): boolean {
    return Atomics.load(this.hdr, W) === Atomics.load(this.hdr, R);
  }

  /**
   * Wait (without blocking the event loop) until the producer publishes
   * something. Resolves at once if records are already waiting.
   */
  waitForData(): Promise<unknown> | null {
    const seq = Atomics.load(this.hdr, SEQ);
    Atomics.store(this.hdr, PARKED, 1);
    if (!this.empty) {
      Atomics.store(this.hdr, PARKED, 0);
      return null;
    }
    const res = (Atomics as unknown as AtomicsWaitAsync).waitAsync(this.hdr, SEQ, seq);
    return res.async ? res.value : null;
  }

  /** Wake a consumer parked in waitForData (used at shutdown). */
  wake(): void {
    Atomics.add(this.hdr, SEQ, 1);
    Atomics.notify(this.hdr, SEQ);
  }
}
