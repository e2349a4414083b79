// The demo's former traffic model and NetFlow v9 encoder now live in src/gen
// (one model, one encoder). This module keeps the small API that tests and
// tools import (mulberry32, FlowModel.flows, NetflowV9Exporter.encode) as thin
// wrappers over src/gen.
import { cloneFlow, mulberry32, newFlow, TrafficModel, type Flow } from "../gen/model.js";
import { NetflowV9Encoder } from "../gen/netflow9.js";

export { mulberry32 };
export type DemoFlow = Flow;

/** Regular flows of the gen model ending in the 5 s before a given instant. */
export class FlowModel {
  private readonly model: TrafficModel;
  constructor(seed = Date.now()) {
    this.model = new TrafficModel({ seed });
  }
  flows(n: number, nowMs: number): Flow[] {
    const out: Flow[] = [];
    const f = newFlow();
    for (let k = 0; k < n; k++) {
      this.model.regular(f, nowMs - this.model.rng.int(5000));
      out.push(cloneFlow(f));
    }
    return out;
  }
}

/** NetFlow v9 datagrams of one source id with a fixed sampling rate (src/gen/netflow9.ts). */
export class NetflowV9Exporter {
  readonly sourceId: number;
  readonly samplingRate: number;
  private readonly enc: NetflowV9Encoder;
  constructor(model: { sourceId: number; samplingRate: number }, bootMs: number) {
    this.sourceId = model.sourceId;
    this.samplingRate = model.samplingRate;
    this.enc = new NetflowV9Encoder({ domain: model.sourceId, bootMs, templateEveryPackets: 100 });
  }
  encode(flows: readonly Flow[], _nowMs?: number): Buffer[] {
    const out: Uint8Array[] = [];
    for (const f of flows) this.enc.add({ ...f, samplingRate: this.samplingRate }, out);
    this.enc.flush(out);
    return out as Buffer[];
  }
}
