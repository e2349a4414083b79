// Exporters: every exporter the collector heard, from GET /api/v1/exporters,
// with rates computed from two successive polls.
import { api } from "./api.js";
import { h, si } from "./dom.js";

interface Exporter {
  exporter: string;
  packets: number;
  bytes: number;
  flowRecords: number;
  templates: number;
  sequenceLost: number;
  sequenceResets: number;
  versions: Record<string, number>;
  errors: Record<string, number>;
  samplingRate?: number;
  lastSeen: string | null;
}

export function exportersPage(root: HTMLElement): () => void {
  const tbody = h("tbody", { id: "exporters-rows" });
  const note = h("p", { class: "muted" }, "loading…");
  root.append(
    h("h1", {}, "Exporters"),
    note,
    h(
      "table",
      { class: "grid" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          [
            "exporter",
            "protocols",
            "packets/s",
            "flows/s",
            "sampling",
            "templates",
            "decode errors",
            "sequence lost",
            "last seen",
          ].map((t) => h("th", {}, t)),
        ),
      ),
      tbody,
    ),
  );
  let prev = new Map<string, { t: number; e: Exporter }>();
  let stopped = false;
  async function poll(): Promise<void> {
    try {
      const list = await api<Exporter[]>("/api/v1/exporters");
      const now = Date.now();
      tbody.replaceChildren(
        ...list.map((e) => {
          const p = prev.get(e.exporter);
          const dt = p ? (now - p.t) / 1000 : 0;
          const rate = (a: number, b: number | undefined): string =>
            p && dt > 0 && b !== undefined ? si((a - b) / dt, "/s") : "…";
          const errs = Object.entries(e.errors);
          const nerr = errs.reduce((s, [, n]) => s + n, 0);
          return h(
            "tr",
            {},
            h("td", {}, e.exporter),
            h(
              "td",
              {},
              Object.keys(e.versions)
                .map((v) => (v === "10" ? "IPFIX" : v === "sflow5" || v === "5s" ? "sFlow" : `v${v}`))
                .join(", "),
            ),
            h("td", { class: "num" }, rate(e.packets, p?.e.packets)),
            h("td", { class: "num" }, rate(e.flowRecords, p?.e.flowRecords)),
            h(
              "td",
              { class: "num" },
              e.samplingRate === undefined ? "–" : e.samplingRate === 0 ? "unknown" : `1:${e.samplingRate}`,
            ),
            h("td", { class: "num" }, e.templates),
            h(
              "td",
              { class: "num", title: errs.map(([k, n]) => `${k}: ${n}`).join("\n") },
              nerr ? `${nerr} (${errs.map(([k]) => k).join(", ")})` : "0",
            ),
            h(
              "td",
              { class: "num" },
              `${e.sequenceLost}${e.sequenceResets ? ` (${e.sequenceResets} resets)` : ""}`,
            ),
            h("td", {}, e.lastSeen ? new Date(e.lastSeen).toLocaleTimeString() : "–"),
          );
        }),
      );
      note.textContent = `${list.length} exporter(s); rates over the last poll (every 2 s)`;
      prev = new Map(list.map((e) => [e.exporter, { t: now, e }]));
    } catch (err) {
      note.textContent = `error: ${(err as Error).message}`;
    }
    if (!stopped) timer = setTimeout(() => void poll(), 2000);
  }
  let timer = setTimeout(() => void poll(), 0);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
