// /api/v1/enrichment (RouteModule; GET only, role viewer, checked before handle()):
//
//   GET /api/v1/enrichment                      {sources: SourceState[]}  every enrichment source's state
//   GET /api/v1/enrichment/interfaces           {exporters: [{exporter, interfaces: InterfaceDetail[]}]}
//   GET /api/v1/enrichment/interfaces?exporter=A  the same for one exporter (404 when nothing is known)
//
// The states come from a provider (the EnrichmentService's states), so this
// module needs no knowledge of which sources exist.
import type { IncomingMessage, ServerResponse } from "node:http";
import { refuseUnlessGet, sendJson, type RouteModule } from "../api/server.js";
import type { Principal } from "../api/auth.js";
import type { InterfaceLookup, SourceState } from "./types.js";
import type { InterfaceDetail } from "./interfaces/index.js";

export interface EnrichmentRoutesOptions {
  states: () => SourceState[];
  /** The interface lookup (with per-field origins when it has `details`); absent = no interface listing. */
  interfaces?: InterfaceLookup & { details?(exporter: string): InterfaceDetail[] };
}

export class EnrichmentRoutes implements RouteModule {
  private readonly opts: EnrichmentRoutesOptions;

  constructor(opts: EnrichmentRoutesOptions) {
    this.opts = opts;
  }

  handles(path: string): boolean {
    return path === "/api/v1/enrichment" || path === "/api/v1/enrichment/interfaces";
  }

  async handle(
    _who: Principal,
    method: string,
    url: URL,
    _req: IncomingMessage,
    res: ServerResponse,
  ): Promise<void> {
    if (refuseUnlessGet(method, res)) return;
    if (url.pathname === "/api/v1/enrichment") return sendJson(res, 200, { sources: this.opts.states() });
    const lookup = this.opts.interfaces;
    const one = url.searchParams.get("exporter");
    if (!lookup) return sendJson(res, 200, { exporters: [] });
    const describe = (exporter: string): { exporter: string; interfaces: InterfaceDetail[] } => ({
      exporter,
      interfaces: lookup.details
        ? lookup.details(exporter)
        : [...lookup.list(exporter)].map(([ifIndex, i]) => ({
            ifIndex,
            ...i,
            from: { name: "", description: "", speedBps: "" },
          })),
    });
    if (one !== null) {
      if (lookup.list(one).size === 0) return sendJson(res, 404, { error: `no interfaces known for ${one}` });
      return sendJson(res, 200, { exporters: [describe(one)] });
    }
    return sendJson(res, 200, { exporters: lookup.exporters().map(describe) });
  }
}
