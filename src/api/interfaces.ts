// Interface counters over HTTP: /api/v1/interfaces (bearer token, like
// /api/v1/exporters) and the per-interface gauges appended to /metrics.
//
//   GET /api/v1/interfaces[?agent=A][&limit=N]   series with latest values and rates
//   GET /api/v1/interfaces/:agent/:ifIndex[?since=ms]   the series' points, oldest first
//
// The agent is the sFlow agent address in any spelling (IPv6 may be written
// with or without brackets, percent-encoded or not).
import type { CounterStore } from "../collector/counters.js";
import { escapeLabel } from "./metrics.js";

/** Default and largest `limit` of the list (the JSON of 100 000 series would be ~100 MB). */
export const LIST_DEFAULT_LIMIT = 1000;
export const LIST_MAX_LIMIT = 100_000;

export interface ApiAnswer {
  status: number;
  body: unknown;
}

/** Answer for a path under /api/v1/interfaces, or null when the path is not ours. */
export function interfacesRoute(store: CounterStore, path: string, query: URLSearchParams): ApiAnswer | null {
  if (path === "/api/v1/interfaces" || path === "/api/v1/interfaces/") {
    const raw = query.get("limit");
    const limit = raw === null ? LIST_DEFAULT_LIMIT : Math.trunc(Number(raw));
    if (!Number.isFinite(limit) || limit < 1 || limit > LIST_MAX_LIMIT)
      return { status: 400, body: { error: `limit must be 1-${LIST_MAX_LIMIT}` } };
    const agent = query.get("agent") ?? undefined;
    const { total, series } = store.list({ agent, limit });
    return {
      status: 200,
      body: { retentionSeconds: store.retentionSeconds, total, truncated: total > series.length, series },
    };
  }
  const m = /^\/api\/v1\/interfaces\/([^/]+)\/([^/]+)\/?$/.exec(path);
  if (!m) return null;
  let agent: string;
  try {
    agent = decodeURIComponent(m[1]!);
  } catch {
    return { status: 400, body: { error: "bad agent address encoding" } };
  }
  if (agent.startsWith("[") && agent.endsWith("]")) agent = agent.slice(1, -1);
  const ifIndex = Number(m[2]);
  if (!/^\d+$/.test(m[2]!) || ifIndex > 0xffffffff)
    return { status: 400, body: { error: "ifIndex must be an integer 0-4294967295" } };
  const sinceRaw = query.get("since");
  const since = sinceRaw === null ? 0 : Number(sinceRaw);
  if (!Number.isFinite(since)) return { status: 400, body: { error: "since must be ms since epoch" } };
  store.sweep();
  const s = store.get(agent, ifIndex);
  if (!s) return { status: 404, body: { error: `no counters for agent ${agent} ifIndex ${ifIndex}` } };
  return {
    status: 200,
    body: { ...store.summary(s), retentionSeconds: store.retentionSeconds, series: store.points(s, since) },
  };
}

/** Prometheus families for the counter store (appended to /metrics). */
export function renderInterfaceMetrics(store: CounterStore, maxSeries: number): string {
  const out: string[] = [];
  const family = (name: string, type: "counter" | "gauge", help: string, lines: string[]): void => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...lines);
  };
  const latest = store.latestRates(maxSeries);
  const lbl = (r: { agent: string; ifIndex: number }): string =>
    `{agent="${escapeLabel(r.agent)}",if_index="${r.ifIndex}"}`;
  family(
    "nagare_interface_in_octets_per_second",
    "gauge",
    `Latest input rate (bytes/s) from sFlow interface counters, per agent and ifIndex (the ${maxSeries} most recently updated interfaces).`,
    latest.map((r) => `nagare_interface_in_octets_per_second${lbl(r)} ${r.inOctetsPerSecond}`),
  );
  family(
    "nagare_interface_out_octets_per_second",
    "gauge",
    `Latest output rate (bytes/s) from sFlow interface counters, per agent and ifIndex (the ${maxSeries} most recently updated interfaces).`,
    latest.map((r) => `nagare_interface_out_octets_per_second${lbl(r)} ${r.outOctetsPerSecond}`),
  );
  const st = store.snapshot();
  family("nagare_interface_series", "gauge", "Interface counter series kept.", [
    `nagare_interface_series ${st.series}`,
  ]);
  family("nagare_interface_points", "gauge", "Interface counter points kept over all series.", [
    `nagare_interface_points ${st.points}`,
  ]);
  family(
    "nagare_interface_counter_samples_total",
    "counter",
    "sFlow counter samples offered to the interface store.",
    [`nagare_interface_counter_samples_total ${st.samples}`],
  );
  family(
    "nagare_interface_counter_resets_total",
    "counter",
    "Intervals without rates because a counter went backwards (agent restart, cleared counters).",
    [`nagare_interface_counter_resets_total ${st.resets}`],
  );
  family("nagare_interface_counter_wraps_total", "counter", "Counter wraps (2^32 or 2^64) handled.", [
    `nagare_interface_counter_wraps_total ${st.wraps}`,
  ]);
  family(
    "nagare_interface_series_evicted_total",
    "counter",
    "Series evicted by collector.counters.maxSeries or maxPoints (not by age).",
    [`nagare_interface_series_evicted_total ${st.seriesEvicted}`],
  );
  family(
    "nagare_interface_points_evicted_total",
    "counter",
    "Points dropped by collector.counters.maxPoints before their retention ended.",
    [`nagare_interface_points_evicted_total ${st.pointsEvicted}`],
  );
  return out.join("\n") + "\n";
}
