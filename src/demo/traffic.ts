// DemoTraffic: built-in synthetic exporters for a first start.
//
// A newcomer who runs `nagare start` without a router should see flows within
// a minute. The demo is a real exporter on loopback: it sends NetFlow v9 over
// UDP to the collector's own listen port, so the data goes through the real
// sockets and decoder and is counted like any exporter. Three exporters are
// simulated from 127.0.0.11-13 (Linux routes all of 127/8 to lo; elsewhere
// they fall back to one 127.0.0.1 socket with three source ids).
//
// It only runs while no real exporter was heard for `idleSeconds`: as soon as
// a router sends, the demo pauses, and it resumes when the router goes quiet.
import { createSocket, type Socket } from "node:dgram";
import { isIP } from "node:net";
import { silentLogger, type Logger } from "../log.js";
import { diurnal, FlowModel, NetflowV9Exporter } from "./generator.js";

export interface DemoTrafficOptions {
  /** Collector address to send to (a wildcard listen host is replaced by loopback). */
  targetHost: string;
  targetPort: number;
  flowsPerSecond: number;
  idleSeconds: number;
  /** Last time (ms) a non-demo exporter was heard; 0 = never. */
  lastRealTrafficMs: () => number;
  log?: Logger;
  seed?: number;
  /** Timer period; the per-tick flow count follows from flowsPerSecond. */
  tickMs?: number;
}

interface Sender {
  socket: Socket;
  exporter: NetflowV9Exporter;
  address: string;
}

const SAMPLING = [1000, 1000, 100];

export class DemoTraffic {
  private readonly opts: DemoTrafficOptions;
  private readonly log: Logger;
  private readonly model: FlowModel;
  private senders: Sender[] = [];
  private timer: NodeJS.Timeout | null = null;
  private carry = 0;
  private next = 0;
  /** Source addresses of the demo exporters (so they are not mistaken for real ones). */
  readonly addresses = new Set<string>();
  active = false;
  flowsSent = 0;
  packetsSent = 0;
  sendErrors = 0;

  constructor(opts: DemoTrafficOptions) {
    this.opts = opts;
    this.log = opts.log ?? silentLogger;
    this.model = new FlowModel(opts.seed ?? Date.now());
  }

  private get target(): { host: string; family: 4 | 6 } {
    const h = this.opts.targetHost;
    if (h === "0.0.0.0") return { host: "127.0.0.1", family: 4 };
    if (h === "::") return { host: "::1", family: 6 };
    return { host: h, family: isIP(h) === 6 ? 6 : 4 };
  }

  async start(): Promise<void> {
    const { family } = this.target;
    const bootMs = Date.now() - 3 * 86_400_000; // routers have been up a while
    const sources = family === 6 ? ["::1"] : ["127.0.0.11", "127.0.0.12", "127.0.0.13"];
    for (let k = 0; k < 3; k++) {
      const exporter = new NetflowV9Exporter({ sourceId: k + 1, samplingRate: SAMPLING[k]! }, bootMs);
      const want = sources[k] ?? sources[0]!;
      let socket: Socket;
      try {
        socket = await bindSocket(family, want);
      } catch {
        socket = await bindSocket(family, family === 6 ? "::1" : "127.0.0.1");
      }
      const address = socket.address().address;
      socket.on("error", () => this.sendErrors++);
      this.senders.push({ socket, exporter, address });
      this.addresses.add(address);
    }
    const tick = this.opts.tickMs ?? 100;
    this.timer = setInterval(() => this.tick(tick), tick);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.active = false;
    const s = this.senders;
    this.senders = [];
    await Promise.all(s.map((x) => new Promise<void>((resolve) => x.socket.close(() => resolve()))));
  }

  private tick(ms: number): void {
    try {
      const now = Date.now();
      const last = this.opts.lastRealTrafficMs();
      const quiet = last === 0 || now - last >= this.opts.idleSeconds * 1000;
      if (quiet !== this.active) {
        this.active = quiet;
        if (quiet)
          this.log.info("demo traffic started (no real exporter heard)", {
            idleSeconds: this.opts.idleSeconds,
          });
        else this.log.info("demo traffic paused: a real exporter is sending");
      }
      if (!quiet) return;
      this.carry += (this.opts.flowsPerSecond * diurnal(now) * ms) / 1000;
      const n = Math.floor(this.carry);
      this.carry -= n;
      this.sendFlows(n, now);
    } catch (err) {
      this.log.limited("demo", "error", "demo traffic failed", { error: String(err) });
    }
  }

  /** Generate and send `n` flows now, spread over the demo exporters. Returns datagrams sent. */
  sendFlows(n: number, now = Date.now()): number {
    if (this.senders.length === 0) return 0;
    const { host } = this.target;
    let sent = 0;
    const flows = this.model.flows(n, now);
    // Round-robin chunks across exporters so all three show up.
    const per = Math.ceil(flows.length / this.senders.length);
    for (let k = 0; k < this.senders.length; k++) {
      const s = this.senders[(this.next + k) % this.senders.length]!;
      const part = flows.slice(k * per, (k + 1) * per);
      for (const dgram of s.exporter.encode(part, now)) {
        s.socket.send(dgram, this.opts.targetPort, host);
        sent++;
      }
    }
    this.next = (this.next + 1) % this.senders.length;
    this.flowsSent += flows.length;
    this.packetsSent += sent;
    return sent;
  }
}

function bindSocket(family: 4 | 6, host: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createSocket(family === 6 ? "udp6" : "udp4");
    s.once("error", (err) => {
      s.close();
      reject(err);
    });
    s.bind(0, host, () => {
      s.removeAllListeners("error");
      resolve(s);
    });
  });
}
