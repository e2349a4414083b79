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
import { silentLogger, type Logger } from "../log.js";

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
    if (this.bound.length === 0) return 0;
    const ours = ownSocketInodes();
    const ports = new Set(this.bound.map((b) => b.port));
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
}

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
