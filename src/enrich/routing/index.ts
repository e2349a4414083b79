// The routing enrichment source: BMP station + BGP listener feeding per-router
// RIBs, answering RouteLookup for the EnrichmentService.
//
//   routers ──BMP (RFC 7854)──▶ BmpStation ──┐
//                                            ├─▶ RoutingTables (one Rib per router,
//   routers ──BGP (RFC 4271)──▶ BgpListener ─┘     attributes interned) ──▶ lookup()
import type { Logger } from "../../log.js";
import type { EnrichSource, RouteInfo, RouteLookup, SourceState } from "../types.js";
import { BgpListener } from "./bgp-listener.js";
import { BmpStation } from "./bmp-station.js";
import type { RoutingConfig } from "./config.js";
import type { Rib } from "./rib.js";
import { RoutingTables } from "./tables.js";

export { defaultRoutingConfig, validateRoutingConfig, ROUTING_KEYS, type RoutingConfig } from "./config.js";

export interface RoutingSource extends EnrichSource, RouteLookup {
  /** Bound ports (0 when that part is off): tests and the state page. */
  ports(): { bmp: number; bgp: number };
  /** Total routes over every router. */
  routes(): number;
}

class Routing implements RoutingSource {
  readonly name = "routing";
  readonly tables: RoutingTables;
  private readonly bmp: BmpStation | null;
  private readonly bgp: BgpListener | null;

  constructor(cfg: RoutingConfig, log: Logger) {
    this.tables = new RoutingTables(cfg.routers.map, cfg.routers.fallback);
    this.bmp = cfg.bmp.enabled ? new BmpStation(cfg.bmp, this.tables, log) : null;
    this.bgp = cfg.bgp.enabled ? new BgpListener(cfg.bgp, this.tables, log) : null;
  }

  async start(): Promise<void> {
    await this.bmp?.start();
    await this.bgp?.start();
  }

  async stop(): Promise<void> {
    await this.bmp?.stop();
    await this.bgp?.stop();
    for (const r of this.tables.all()) this.tables.remove(r);
  }

  lookup(exporter: string, addr: Uint8Array, offset: number): RouteInfo | null {
    return this.tables.lookup(exporter, addr, offset);
  }

  router(exporter: string): Rib | null {
    return this.tables.router(exporter);
  }

  ports(): { bmp: number; bgp: number } {
    return { bmp: this.bmp?.port() ?? 0, bgp: this.bgp?.port() ?? 0 };
  }

  routes(): number {
    return this.tables.all().reduce((n, r) => n + r.rib.routes, 0);
  }

  state(): SourceState[] {
    const off = (name: string): SourceState => ({
      name,
      kind: name,
      status: "disabled",
      entries: 0,
      updatedMs: null,
      errors: 0,
      lastError: null,
    });
    return [...(this.bmp ? this.bmp.state() : [off("bmp")]), ...(this.bgp ? this.bgp.state() : [off("bgp")])];
  }
}

/** The routing source for `cfg` (validated by validateRoutingConfig); nothing listens before start(). */
export function createRoutingSource(cfg: RoutingConfig, log: Logger): RoutingSource {
  return new Routing(cfg, log);
}
