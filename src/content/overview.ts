// The built-in Overview dashboard, created on the first start (id
// "overview"): what an operator looks at first — traffic over time by
// protocol, the top talkers by AS, protocols, ports, exporters and
// interfaces, and the live per-second view. Every widget is a structured
// flow query (src/query/planner), so it uses the rollups and stays fast over
// long ranges, and needs no saved SQL.
import type { FlowWidgetSpec, Widget } from "./types.js";

function flow(
  id: string,
  title: string,
  x: number,
  y: number,
  w: number,
  h: number,
  spec: FlowWidgetSpec,
): Widget {
  return { id, type: "flow", title, x, y, w, h, flow: spec };
}

const top = (dimensions: string[], chart: FlowWidgetSpec["chart"] = "bar"): FlowWidgetSpec => ({
  dimensions,
  metric: "bytes",
  topN: 10,
  shape: "table",
  chart,
});

/** The Overview dashboard's fields (a body for ContentStore.createDashboard). */
export function overviewDashboard(): Record<string, unknown> {
  const widgets: Widget[] = [
    flow("traffic", "Traffic by protocol", 0, 0, 8, 4, {
      dimensions: ["protocol"],
      metric: "bps",
      topN: 8,
      shape: "timeseries",
      chart: "area",
    }),
    { id: "live", type: "live", title: "Live (per second)", x: 8, y: 0, w: 4, h: 4, liveDim: "protocol" },
    flow("src-as", "Top source AS", 0, 4, 4, 4, top(["src_as"])),
    flow("dst-as", "Top destination AS", 4, 4, 4, 4, top(["dst_as"])),
    flow("protocols", "Protocols", 8, 4, 4, 4, top(["protocol"], "pie")),
    flow("dst-ports", "Top destination ports", 0, 8, 4, 4, top(["protocol", "dst_port"])),
    flow("exporters", "Exporters", 4, 8, 4, 4, top(["exporter_address"], "table")),
    flow("interfaces", "Interfaces", 8, 8, 4, 4, top(["exporter_address", "in_if"], "table")),
  ];
  return {
    name: "Overview",
    tags: ["built-in"],
    timeRange: { start: "now-6h", end: "now" },
    refreshSec: 60,
    params: [],
    filter: "",
    widgets,
  };
}
