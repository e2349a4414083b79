// The gobgpd set-up every routing test file repeats, once: fail (not skip)
// when gobgpd is missing, start daemons and routing sources that are all
// stopped after the file, newest first. The daemon itself:
// src/enrich/routing/testkit/gobgpd.ts.
import { after } from "node:test";
import { silentLogger } from "../../src/log.js";
import {
  createRoutingSource,
  validateRoutingConfig,
  type RoutingSource,
} from "../../src/enrich/routing/index.js";
import {
  requireGobgp,
  startGobgpd,
  type Gobgpd,
  type GobgpdOptions,
} from "../../src/enrich/routing/testkit/gobgpd.js";

export { freePort, waitFor, type Gobgpd } from "../../src/enrich/routing/testkit/gobgpd.js";

export interface GobgpdFixture {
  /** A gobgpd stopped after the file (stopping it earlier is fine). */
  gobgpd(o: GobgpdOptions): Promise<Gobgpd>;
  /** A started routing source (enrich.bmp / enrich.bgp / enrich.routers config) stopped after the file. */
  routing(config: Parameters<typeof validateRoutingConfig>[0]): Promise<RoutingSource>;
}

/** Call at the top of a test file: checks gobgpd is installed and registers the after() teardown. */
export function gobgpdFixture(): GobgpdFixture {
  requireGobgp();
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
  });
  return {
    async gobgpd(o) {
      const g = await startGobgpd(o);
      cleanups.push(() => g.stop());
      return g;
    },
    async routing(config) {
      const src = createRoutingSource(validateRoutingConfig(config), silentLogger);
      await src.start();
      cleanups.push(() => src.stop());
      return src;
    },
  };
}
