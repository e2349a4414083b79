// The receive thread (worker_threads): owns the UDP sockets and only copies
// each datagram into the shared DatagramRing; decoding stays on the main
// thread (ThreadedUdpListener in udp.ts starts this). Keeping this thread this
// thin is the point: it drains the kernel socket buffer even while the main
// thread decodes, runs the pipeline or collects garbage.
//
// Messages to the parent: { type: "bound", bound } once every socket is bound,
// { type: "failed", message } if a required one is not, { type: "log", ... }
// (the parent's logger, rate limits included), { type: "stopped" } after stop.
import type { RemoteInfo } from "node:dgram";
import { parentPort, workerData } from "node:worker_threads";
import type { LogLevel, Logger } from "../log.js";
import { DatagramRing } from "./ring.js";
import { UdpListener, type ListenSpec } from "./udp.js";

export interface ReceiveWorkerData {
  listen: ListenSpec[];
  receiveBufferBytes: number;
  sab: SharedArrayBuffer;
  /** Distinct source addresses remembered before the table is cleared (spoofed sources). */
  maxSources: number;
}

const port = parentPort!;
const data = workerData as ReceiveWorkerData;
const ring = new DatagramRing(data.sab);

const post = (level: LogLevel, msg: string, fields?: Record<string, unknown>, key?: string): void =>
  port.postMessage({ type: "log", level, msg, fields, key });
const log: Logger = {
  debug: (m, f) => post("debug", m, f),
  info: (m, f) => post("info", m, f),
  warn: (m, f) => post("warn", m, f),
  error: (m, f) => post("error", m, f),
  limited: (key, level, m, f) => post(level, m, f, key),
};

// Source address → small id; the text crosses the ring once per id.
const ids = new Map<string, number>();
let nextId = 0;

function onMessage(msg: Buffer, rinfo: RemoteInfo): void {
  let id = ids.get(rinfo.address);
  if (id === undefined) {
    if (ids.size >= data.maxSources) {
      ids.clear();
      nextId = 0;
    }
    id = nextId++;
    if (!ring.pushAddress(id, rinfo.address)) {
      // Ring full: this datagram is lost; the address goes with the next one.
      nextId--;
      ring.countDrop();
      return;
    }
    ids.set(rinfo.address, id);
  }
  ring.pushDatagram(id, msg, Date.now());
  ring.publish();
}

const listener = new UdpListener({
  listen: data.listen,
  receiveBufferBytes: data.receiveBufferBytes,
  log,
  onMessage,
});

port.on("message", (m: { type: string }) => {
  if (m.type !== "stop") return;
  void listener.stop().then(() => {
    ring.publish();
    port.postMessage({ type: "stopped" });
    port.close();
  });
});

listener.start().then(
  (bound) => port.postMessage({ type: "bound", bound }),
  (err: unknown) => {
    port.postMessage({ type: "failed", message: err instanceof Error ? err.message : String(err) });
    port.close();
  },
);
