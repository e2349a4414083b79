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
//
// The traffic is the generator's model (src/gen): Zipf-weighted ASes and
// customers, the daily cycle in local time, and a short attack (20 s of UDP
// amplification or SYN flood towards one customer host) every 4 minutes, the
// first one a minute after the demo starts, so the dashboards have something
// to find.
import { createSocket, type Socket } from "node:dgram";
import { isIP } from "node:net";
import { silentLogger, type Logger } from "../log.js";
import { ExportSet } from "../gen/encode.js";
import { ATTACK_KINDS, newFlow, TrafficModel, type FlowSchedule } from "../gen/model.js";

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
  /** Attack plan: first attack this long after (re)start, then every `attackEveryMs`. */
  attackFirstMs?: number;
  attackEveryMs?: number;
  attackDurationMs?: number;
}

interface Sender {
  socket: Socket;
  address: string;
}

const SAMPLING = [1000, 1000, 100];

export class DemoTraffic {
  private readonly opts: DemoTrafficOptions;
  private readonly log: Logger;
  private readonly model: TrafficModel;
  private schedule: FlowSchedule | null = null;
  private readonly exports: ExportSet;
  private readonly flow = newFlow();
  private senders: Sender[] = [];
  private timer: NodeJS.Timeout | null = null;
  /** Source addresses of the demo exporters (so they are not mistaken for real ones). */
  readonly addresses = new Set<string>();
  active = false;
  flowsSent = 0;
  /** Flows of the demo's attacks among flowsSent. */
  attackFlowsSent = 0;
  packetsSent = 0;
  sendErrors = 0;

  constructor(opts: DemoTrafficOptions) {
    this.opts = opts;
    this.log = opts.log ?? silentLogger;
    this.model = new TrafficModel({
      seed: opts.seed ?? Date.now() % 2 ** 32,
      exporters: 3,
      tzOffsetMinutes: -new Date().getTimezoneOffset(),
    });
    this.model.exporters.forEach((e, k) => (e.samplingRate = SAMPLING[k] ?? 1000));
    this.exports = new ExportSet(this.model, "v9", { bootMs: Date.now() - 3 * 86_400_000 });
  }

  private get target(): { host: string; family: 4 | 6 } {
    const h = this.opts.targetHost;
    if (h === "0.0.0.0") return { host: "127.0.0.1", family: 4 };
    if (h === "::") return { host: "::1", family: 6 };
    return { host: h, family: isIP(h) === 6 ? 6 : 4 };
  }

  async start(): Promise<void> {
    const { family } = this.target;
    const sources = family === 6 ? ["::1"] : ["127.0.0.11", "127.0.0.12", "127.0.0.13"];
    for (let k = 0; k < 3; k++) {
      const want = sources[k] ?? sources[0]!;
      let socket: Socket;
      try {
        socket = await bindSocket(family, want);
      } catch {
        socket = await bindSocket(family, family === 6 ? "::1" : "127.0.0.1");
      }
      const address = socket.address().address;
      socket.on("error", () => this.sendErrors++);
      this.senders.push({ socket, address });
      this.addresses.add(address);
    }
    const tick = this.opts.tickMs ?? 100;
    this.timer = setInterval(() => this.tick(), tick);
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

  private tick(): void {
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
      if (!quiet) {
        this.schedule = null;
        return;
      }
      this.sendDue(now);
    } catch (err) {
      this.log.limited("demo", "error", "demo traffic failed", { error: String(err) });
    }
  }

  /** (Re)start the flow schedule at `now`: the daily cycle and the periodic attacks. */
  private restart(now: number): FlowSchedule {
    const o = this.opts;
    // After a pause the collector may have restarted: templates go out at once
    // (sequence numbers continue, so the pause does not look like a router reboot).
    this.exports.resendTemplates();
    return (this.schedule = this.model.schedule({
      startMs: now,
      endMs: Infinity,
      rate: o.flowsPerSecond,
      cycle: true,
      periodic: {
        firstMs: now + (o.attackFirstMs ?? 60_000),
        everyMs: o.attackEveryMs ?? 240_000,
        durationMs: o.attackDurationMs ?? 20_000,
        rate: Math.max(50, o.flowsPerSecond / 2),
        kinds: ATTACK_KINDS,
      },
    }));
  }

  /** Send every scheduled flow due by `now`; returns datagrams sent. */
  sendDue(now = Date.now()): number {
    if (this.senders.length === 0) return 0;
    const { host } = this.target;
    const schedule = this.schedule ?? this.restart(now);
    const f = this.flow;
    while (schedule.peekMs() <= now) {
      schedule.next(f);
      this.exports.add(f);
      this.flowsSent++;
      if (f.attack) this.attackFlowsSent++;
    }
    this.exports.flush();
    const sent = this.exports.take((d, e) => {
      const s = this.senders[e % this.senders.length]!;
      s.socket.send(d, this.opts.targetPort, host);
    });
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
