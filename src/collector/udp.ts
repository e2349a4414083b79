// UDP listener: one node:dgram socket per listen address.
//
// The socket receive buffer is what absorbs exporter bursts (softflowd sends a
// whole pcap's export at once; routers flush caches on the minute). The kernel
// silently caps SO_RCVBUF at net.core.rmem_max, so we read the size back and
// tell the operator when it was capped. Datagrams the kernel still drops are
// visible only in /proc/net/udp{,6} ("drops" column), which readKernelDrops()
// sums for our own sockets.
import { createSocket, type RemoteInfo, type Socket } from "node:dgram";
import { readFileSync, readdirSync, readlinkSync } from "node:fs";
import { formatListen, type ListenAddress } from "../config/address.js";
import { Worker } from "node:worker_threads";
import { silentLogger, type LogLevel, type Logger } from "../log.js";
import { DatagramRing, KIND_ADDR, KIND_DATA } from "./ring.js";
import type { ReceiveWorkerData } from "./udp-worker.js";

export interface ListenSpec {
  addr: ListenAddress;
  /** A failure to bind is a warning, not fatal (the automatic "[::]" when IPv6 is off). */
  optional?: boolean;
}

export interface BoundSocket {
  /** "host:port" as bound (the real port when 0 was asked). */
  address: string;
  host: string;
  port: number;
  family: 4 | 6;
  /** Receive buffer the kernel granted, as reported by getsockopt (Linux reports twice the usable size). */
  recvBufferBytes: number;
}

export interface UdpListenerOptions {
  listen: ListenSpec[];
  receiveBufferBytes: number;
  log?: Logger;
  onMessage: (msg: Buffer, rinfo: RemoteInfo) => void;
}

export class UdpListener {
  private readonly opts: UdpListenerOptions;
  private readonly log: Logger;
  private sockets: Socket[] = [];
  readonly bound: BoundSocket[] = [];

  constructor(opts: UdpListenerOptions) {
    this.opts = opts;
    this.log = opts.log ?? silentLogger;
  }

  /** Bind every address. Rejects (after closing what was opened) if a required one fails. */
  async start(): Promise<BoundSocket[]> {
    try {
      for (const spec of this.opts.listen) {
        try {
          await this.bindOne(spec);
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code ?? String(err);
          if (spec.optional) {
            this.log.info("optional listen address not bound", { listen: spec.addr.text, error: code });
            continue;
          }
          throw new Error(`cannot listen on udp ${spec.addr.text}: ${code}`, { cause: err });
        }
      }
    } catch (err) {
      await this.stop();
      throw err;
    }
    return this.bound;
  }

  private bindOne(spec: ListenSpec): Promise<void> {
    const { addr } = spec;
    const want = this.opts.receiveBufferBytes;
    return new Promise((resolve, reject) => {
      const sock = createSocket({
        type: addr.family === 6 ? "udp6" : "udp4",
        // "[::]" must not also take IPv4: "0.0.0.0" is usually bound beside it.
        ipv6Only: addr.family === 6,
        ...(want > 0 ? { recvBufferSize: want } : {}),
      });
      const onError = (err: Error): void => {
        sock.close();
        reject(err);
      };
      sock.once("error", onError);
      sock.bind(addr.port, addr.host, () => {
        sock.off("error", onError);
        sock.on("error", (err) =>
          this.log.limited("udp-error", "error", "udp socket error", { error: err.message }),
        );
        sock.on("message", this.opts.onMessage);
        const a = sock.address();
        const got = sock.getRecvBufferSize();
        const b: BoundSocket = {
          address: formatListen(a.address, a.port),
          host: a.address,
          port: a.port,
          family: addr.family,
          recvBufferBytes: got,
        };
        if (want > 0 && got < want) {
          this.log.warn(
            `receive buffer capped by the kernel: asked ${want} bytes, got ${got}; bursts may be dropped. ` +
              `Raise it with: sysctl -w net.core.rmem_max=${want} (and persist it in /etc/sysctl.d/)`,
            { listen: b.address, requested: want, granted: got, rmemMax: readRmemMax() },
          );
        }
        this.sockets.push(sock);
        this.bound.push(b);
        resolve();
      });
    });
  }

  async stop(): Promise<void> {
    const socks = this.sockets;
    this.sockets = [];
    await Promise.all(
      socks.map(
        (s) =>
          new Promise<void>((resolve) => {
            try {
              s.close(() => resolve());
            } catch {
              resolve(); // already closed
            }
          }),
      ),
    );
  }

  /**
   * Sum of the kernel's per-socket drop counters for our sockets, or null when
   * /proc is not readable (non-Linux). Rows are matched by local port and by
   * inode among this process's own sockets, so another program's socket on the
   * same port (SO_REUSEPORT) is not counted.
   */
  readKernelDrops(): number | null {
    return kernelDrops(this.bound);
  }
}

/** Kernel drop counters of this process's sockets bound at `bound` (see UdpListener.readKernelDrops). */
function kernelDrops(bound: readonly BoundSocket[]): number | null {
  if (bound.length === 0) return 0;
  const ours = ownSocketInodes();
  const ports = new Set(bound.map((b) => b.port));
  let total = 0;
  let readAny = false;
  for (const file of ["/proc/net/udp", "/proc/net/udp6"]) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch {
      continue;
    }
    readAny = true;
    total += sumDrops(text, ports, ours);
  }
  return readAny ? total : null;
}

export interface ThreadedUdpListenerOptions {
  listen: ListenSpec[];
  receiveBufferBytes: number;
  log?: Logger;
  /**
   * Size of the datagram ring between the receive thread and this one
   * (default 32 MiB; its pages are touched as it wraps, so it counts in RSS).
   */
  ringBytes?: number;
  /** Distinct source addresses remembered by the receive thread before its table is cleared. */
  maxSources?: number;
  /**
   * One datagram. `data` is a view into the shared ring, valid only during
   * the call (copy what you keep); `address` is the source address as
   * node:dgram reports it; `receivedMs` when the receive thread read it.
   */
  onDatagram: (data: Uint8Array, address: string, receivedMs: number) => void;
}

/** Datagrams handed on per event-loop turn before timers and I/O get their turn. */
const DRAIN_BUDGET = 512;
/** Poll interval while datagrams keep arriving (the ring holds far more than this much traffic). */
const POLL_MS = 1;

/**
 * The same sockets as UdpListener, but owned by a receive thread
 * (udp-worker.ts) that only copies datagrams into a shared DatagramRing; this
 * (main) thread drains the ring in batches and decodes. Receiving and decoding
 * then run in parallel, and a pause of the decoding thread is absorbed by the
 * ring on top of the socket buffer (32 MiB: ~46 000 datagrams of the 700-byte
 * benchmark stream, 0.6 s at 1 M records/s). Datagrams the ring cannot take
 * are counted in `ringDrops`.
 */
export class ThreadedUdpListener {
  private readonly opts: ThreadedUdpListenerOptions;
  private readonly log: Logger;
  private worker: Worker | null = null;
  private ring: DatagramRing | null = null;
  private readonly addresses: string[] = [];
  private readonly text = new TextDecoder();
  private stopping = false;
  readonly bound: BoundSocket[] = [];

  constructor(opts: ThreadedUdpListenerOptions) {
    this.opts = opts;
    this.log = opts.log ?? silentLogger;
  }

  /** Datagrams lost because the ring was full (the decoding thread fell behind). */
  get ringDrops(): number {
    return this.ring?.drops ?? 0;
  }

  /** Start the receive thread and bind every address. Rejects if a required one fails. */
  async start(): Promise<BoundSocket[]> {
    const ring = new DatagramRing(this.opts.ringBytes ?? 32 * 1024 * 1024);
    this.ring = ring;
    this.stopping = false;
    const ext = import.meta.url.endsWith(".ts") ? "ts" : "js";
    const data: ReceiveWorkerData = {
      listen: this.opts.listen,
      receiveBufferBytes: this.opts.receiveBufferBytes,
      sab: ring.sab,
      maxSources: this.opts.maxSources ?? 100_000,
    };
    const url = new URL(`./udp-worker.${ext}`, import.meta.url);
    // Under tsx (tests, development) the worker registers the TypeScript loader
    // itself: Node 20 does not apply the parent's --import hooks to a worker's entry.
    const worker =
      ext === "ts"
        ? new Worker(
            `import("tsx/esm/api").then((t) => { t.register(); return import(${JSON.stringify(url.href)}); });`,
            { eval: true, workerData: data },
          )
        : new Worker(url, { workerData: data });
    this.worker = worker;
    worker.on("message", (m: WorkerMessage) => {
      if (m.type !== "log") return;
      if (m.key) this.log.limited(m.key, m.level, m.msg, m.fields);
      else this.log[m.level](m.msg, m.fields);
    });
    const bound = await new Promise<BoundSocket[]>((resolve, reject) => {
      const onMsg = (m: WorkerMessage): void => {
        if (m.type === "bound") resolve(m.bound);
        else if (m.type === "failed") reject(new Error(m.message));
        else return;
        worker.off("message", onMsg);
      };
      worker.on("message", onMsg);
      worker.once("error", reject);
      worker.once("exit", (code) => reject(new Error(`receive thread exited (code ${code})`)));
    }).catch(async (err: unknown) => {
      this.worker = null;
      await worker.terminate();
      throw err;
    });
    worker.removeAllListeners("error");
    worker.removeAllListeners("exit");
    worker.on("error", (err) => this.log.error("receive thread failed", { error: String(err) }));
    worker.on("exit", (code) => {
      if (!this.stopping) this.log.error("receive thread exited: no more datagrams are received", { code });
    });
    this.bound.push(...bound);
    this.pump();
    return this.bound;
  }

  private readonly onRecord = (kind: number, a: number, payload: Uint8Array, receivedMs: number): void => {
    if (kind === KIND_DATA) this.opts.onDatagram(payload, this.addresses[a] ?? "", receivedMs);
    else if (kind === KIND_ADDR) this.addresses[a] = this.text.decode(payload);
  };

  /**
   * Drain what is queued. While traffic flows, look again after POLL_MS
   * (one timer per millisecond, however many datagrams); once a look finds
   * nothing, park until the receive thread wakes us. Waking a parked thread
   * per datagram burst costs two context switches, which on a small VM cost
   * more than the datagrams themselves.
   */
  private readonly pump = (): void => {
    const ring = this.ring;
    if (!ring || this.stopping) return;
    const n = ring.drain(DRAIN_BUDGET, this.onRecord);
    if (n === DRAIN_BUDGET) {
      setImmediate(this.pump); // more waiting: let timers and I/O run first
      return;
    }
    if (n > 0) {
      setTimeout(this.pump, POLL_MS);
      return;
    }
    const wait = ring.waitForData();
    if (wait) void wait.then(this.pump);
    else setImmediate(this.pump);
  };

  /** Close the sockets (in the receive thread), then hand on every datagram still queued. */
  async stop(): Promise<void> {
    const worker = this.worker;
    const ring = this.ring;
    if (!worker || !ring) return;
    this.worker = null;
    this.stopping = true;
    const done = new Promise<void>((resolve) => {
      const t = setTimeout(() => void worker.terminate().then(() => resolve()), 5000);
      worker.once("exit", () => {
        clearTimeout(t);
        resolve();
      });
    });
    worker.postMessage({ type: "stop" });
    await done;
    while (ring.drain(DRAIN_BUDGET, this.onRecord) > 0);
    ring.wake(); // resolves a pending waitForData; pump() then sees `stopping`
  }

  readKernelDrops(): number | null {
    return kernelDrops(this.bound);
  }
}

type WorkerMessage =
  | { type: "bound"; bound: BoundSocket[] }
  | { type: "failed"; message: string }
  | { type: "stopped" }
  | { type: "log"; level: LogLevel; msg: string; fields?: Record<string, unknown>; key?: string };

/** Parse /proc/net/udp{,6} text and sum "drops" for rows whose local port is in `ports` (and inode in `inodes`, if given). */
export function sumDrops(text: string, ports: Set<number>, inodes: Set<string> | null): number {
  let total = 0;
  const lines = text.split("\n");
  for (let i = 1; i < lines.length; i++) {
    const f = lines[i]!.trim().split(/\s+/);
    // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops
    if (f.length < 13) continue;
    const local = f[1]!;
    const port = parseInt(local.slice(local.lastIndexOf(":") + 1), 16);
    if (!ports.has(port)) continue;
    if (inodes && !inodes.has(f[9]!)) continue;
    const drops = Number(f[12]);
    if (Number.isFinite(drops)) total += drops;
  }
  return total;
}

/** Inodes of the sockets this process holds ("socket:[12345]" links in /proc/self/fd); null if unreadable. */
function ownSocketInodes(): Set<string> | null {
  try {
    const out = new Set<string>();
    for (const fd of readdirSync("/proc/self/fd")) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
        if (m) out.add(m[1]!);
      } catch {
        // fd closed while listing
      }
    }
    return out;
  } catch {
    return null;
  }
}

function readRmemMax(): number | null {
  try {
    return Number(readFileSync("/proc/sys/net/core/rmem_max", "utf8").trim());
  } catch {
    return null;
  }
}
