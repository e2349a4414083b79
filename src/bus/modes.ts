// Deployment modes: which parts one `nagare` process runs (docs/kafka.md,
// "Deployment modes"). One binary and one config; `mode` (or --mode) picks.
//
//   all        UDP collector ─▶ Pipeline ─▶ store + UI        (+ Kafka producer when bus.enabled)
//   collector  UDP collector ─▶ Pipeline ─▶ Kafka producer    (no store, no UI; /metrics, /healthz, /api/v1/kafka)
//   store      Kafka consumer ─▶ Pipeline ─▶ store + UI       (no UDP socket)
import { ConfigError } from "../config/schema.js";
import type { DeployMode } from "./consumer-config.js";

export interface ModeParts {
  /** UDP listeners (NetFlow/IPFIX/sFlow) and the demo traffic. */
  collector: boolean;
  /** The DuckDB store and everything on it (SQL, dashboards, scheduler). */
  store: boolean;
  /** The web UI's static files. */
  ui: boolean;
  /** Publish the pipeline's flows to Kafka. */
  producer: boolean;
  /** Feed the pipeline from Kafka. */
  consumer: boolean;
}

/**
 * The parts of `mode`. `busEnabled`: the bus section is on (brokers set);
 * `storeEnabled`: store.enabled (--no-store turns it off in all modes).
 * Throws ConfigError for combinations that would run nothing useful.
 */
export function modeParts(mode: DeployMode, busEnabled: boolean, storeEnabled: boolean): ModeParts {
  switch (mode) {
    case "all":
      return { collector: true, store: storeEnabled, ui: true, producer: busEnabled, consumer: false };
    case "collector":
      if (!busEnabled)
        throw new ConfigError("mode", '"collector" publishes to Kafka: set bus.enabled and bus.brokers');
      return { collector: true, store: false, ui: false, producer: true, consumer: false };
    case "store":
      if (!busEnabled)
        throw new ConfigError("mode", '"store" consumes from Kafka: set bus.enabled and bus.brokers');
      if (!storeEnabled)
        throw new ConfigError("mode", '"store" needs the store (store.enabled true, no --no-store)');
      return { collector: false, store: true, ui: true, producer: false, consumer: true };
  }
}
