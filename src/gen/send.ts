// UDP sender of `nagare gen` (and the demo): generated flows, encoded as
// NetFlow v9, IPFIX or sFlow, sent to host:port at a paced flow rate.
//
// Pacing follows the model's clock: the schedule gives every flow an end
// time on the wall clock (rate mode, starting now), and every tick sends the
// flows whose time has come, encoded per exporter (each with its own source
// id / observation domain / sFlow agent). Partly filled datagrams are sent at
// the end of each tick, so a low rate still arrives continuously.
import { createSocket, type Socket } from "node:dgram";
import { isIP } from "node:net";
import { ExportSet, type Proto } from "./encode.js";
import {
  ATTACK_KINDS,
  newFlow,
  TrafficModel,
  type Attack,
  type ModelOptions,
  type PeriodicAttacks,
} from "./model.js";

export interface SendOptions extends ModelOptions {
  host: string;
  port: number;
  proto: Proto;
  /** Regular flows per second (sFlow: flow samples per second). */
  rate: number;
  /** Stop after this long; default: until `signal` aborts. */
  durationMs?: number;
  /** Attacks on top of the traffic (see defaultAttacks). */
  periodic?: PeriodicAttacks;
  /** One-off attacks at absolute (wall-clock) times, e.g. injected by a scenario test. */
  attacks?: Attack[];
  signal?: AbortSignal;
  /** Timer period. Default 20 ms. */
  tickMs?: number;
  /** Local address to send from. */
  bind?: string;
  /** Called once a second with the running totals. */
  onProgress?: (r: SendResult) => void;
}

export interface SendResult {
  flows: number;
  attackFlows: number;
  packets: number;
  bytes: number;
  sendErrors: number;
  elapsedMs: number;
}

/**
 * The attack plan of `--attack`: one attack every `everyMs` (first after
 * 10 s), lasting `durationMs`, cycling through the kinds (DNS, NTP,
 * memcached, SSDP, CLDAP amplification, SYN flood).
 */
export function defaultAttacks(
  startMs: number,
  rate: number,
  o: { everyMs?: number; durationMs?: number; rate?: number; target?: string } = {},
): PeriodicAttacks {
  return {
    firstMs: startMs + 10_000,
    everyMs: o.everyMs ?? 180_000,
    durationMs: o.durationMs ?? 30_000,
    rate: o.rate ?? Math.max(100, rate),
    kinds: ATTACK_KINDS,
    target: o.target,
  };
}

export async function sendTraffic(opts: SendOptions): Promise<SendResult> {
  const family = isIP(opts.host);
  if (family === 0) throw new Error(`not an IP address: ${opts.host}`);
  const socket: Socket = createSocket(family === 6 ? "udp6" : "udp4");
  await new Promise<void>((resolve, reject) => {
    socket.once("error", reject);
    socket.bind(0, opts.bind, () => {
      socket.off("error", reject);
      resolve();
    });
  });
  const res: SendResult = { flows: 0, attackFlows: 0, packets: 0, bytes: 0, sendErrors: 0, elapsedMs: 0 };
  socket.on("error", () => res.sendErrors++);
  const model = new TrafficModel(opts);
  const start = Date.now();
  const schedule = model.schedule({
    startMs: start,
    endMs: opts.durationMs === undefined ? Infinity : start + opts.durationMs,
    rate: opts.rate,
    periodic: opts.periodic,
    attacks: opts.attacks,
  });
  const set = new ExportSet(model, opts.proto);
  const f = newFlow();
  let inflight = 0;
  let drained: (() => void) | null = null;
  const send = (d: Uint8Array): void => {
    inflight++;
    res.packets++;
    res.bytes += d.length;
    socket.send(d, opts.port, opts.host, (err) => {
      if (err) res.sendErrors++;
      if (--inflight === 0 && drained) drained();
    });
  };
  let lastProgress = start;
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = Date.now();
      let done = opts.signal?.aborted ?? false;
      while (!done) {
        const t = schedule.peekMs();
        if (t === Infinity) done = true;
        if (t > now) break;
        schedule.next(f);
        if (f.attack) res.attackFlows++;
        res.flows++;
        set.add(f);
      }
      set.flush();
      set.take(send);
      res.elapsedMs = now - start;
      if (opts.onProgress && now - lastProgress >= 1000) {
        lastProgress = now;
        opts.onProgress(res);
      }
      if (done) resolve();
      else setTimeout(tick, opts.tickMs ?? 20);
    };
    tick();
  });
  if (inflight > 0) await new Promise<void>((r) => (drained = r));
  await new Promise<void>((r) => socket.close(() => r()));
  res.elapsedMs = Date.now() - start;
  return res;
}
