// One encoder per exporter of the model, for any of the three export formats:
// generated flows go to the encoder of the router they belong to (each has
// its own source id / observation domain / sFlow agent and sequence numbers).
import { IpfixEncoder } from "./ipfix.js";
import type { Flow, TrafficModel } from "./model.js";
import { NetflowV9Encoder } from "./netflow9.js";
import { SflowEncoder } from "./sflow.js";

export const PROTOCOLS = ["v9", "ipfix", "sflow"] as const;
export type Proto = (typeof PROTOCOLS)[number];

export interface FlowEncoder {
  add(f: Flow, out: Uint8Array[]): void;
  flush(out: Uint8Array[]): void;
  packets: number;
  flows: number;
}

export interface ExportSetOptions {
  /** sysUptime / agent uptime origin of every exporter (default: a day before its first flow). */
  bootMs?: number;
  maxPacket?: number;
  templateEveryPackets?: number;
  templateEveryMs?: number;
  /** sFlow counter sample period (flow time). */
  counterEveryMs?: number;
}

export class ExportSet {
  readonly proto: Proto;
  readonly encoders: FlowEncoder[];
  private readonly outs: Uint8Array[][];

  constructor(model: TrafficModel, proto: Proto, opts: ExportSetOptions = {}) {
    this.proto = proto;
    this.encoders = model.exporters.map((e) => {
      const common = { domain: e.domain, bootMs: opts.bootMs, maxPacket: opts.maxPacket };
      switch (proto) {
        case "v9":
          return new NetflowV9Encoder({
            ...common,
            templateEveryPackets: opts.templateEveryPackets,
            templateEveryMs: opts.templateEveryMs,
          });
        case "ipfix":
          return new IpfixEncoder({
            ...common,
            templateEveryPackets: opts.templateEveryPackets,
            templateEveryMs: opts.templateEveryMs,
          });
        case "sflow":
          return new SflowEncoder({
            agent: e.ip,
            subAgent: e.domain,
            bootMs: opts.bootMs,
            maxPacket: opts.maxPacket,
            interfaces: [...e.uplinks, ...e.customerPorts],
            counterEveryMs: opts.counterEveryMs,
          });
      }
    });
    this.outs = this.encoders.map(() => []);
  }

  /** Encode `f`; returns the exporter's datagram list when it got new ones (take them with take()). */
  add(f: Flow): void {
    this.encoders[f.exporter]!.add(f, this.outs[f.exporter]!);
  }

  /** Put templates in every exporter's next datagram (NetFlow v9 / IPFIX). */
  resendTemplates(): void {
    for (const e of this.encoders)
      if ("resendTemplates" in e) (e as { resendTemplates(): void }).resendTemplates();
  }

  /** Finish every exporter's current datagram. */
  flush(): void {
    this.encoders.forEach((e, i) => e.flush(this.outs[i]!));
  }

  /** Hand out (and forget) the finished datagrams, per exporter index. */
  take(cb: (data: Uint8Array, exporter: number) => void): number {
    let n = 0;
    for (let i = 0; i < this.outs.length; i++) {
      const o = this.outs[i]!;
      if (!o.length) continue;
      for (const d of o) cb(d, i);
      n += o.length;
      o.length = 0;
    }
    return n;
  }
}
