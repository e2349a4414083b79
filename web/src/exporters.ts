// Exporters: every exporter the collector heard, from GET /api/v1/exporters,
// with rates computed from two successive polls; below, the enrichment
// sources' states (GET /api/v1/enrichment) and the interfaces known per
// exporter (GET /api/v1/enrichment/interfaces: names, descriptions, speeds).
import { api, ApiError } from "./api.js";
import { h, si } from "./dom.js";
import { kafkaSection } from "./kafka.js";

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

interface SourceState {
  name: string;
  kind: string;
  status: "loaded" | "loading" | "error" | "disabled";
  entries: number;
  updatedMs: number | null;
  errors: number;
  lastError: string | null;
  detail?: Record<string, number | string>;
}

interface InterfaceDetail {
  ifIndex: number;
  name: string;
  description: string;
  speedBps: number;
  from: { name: string; description: string; speedBps: string };
}

/** "3 min", "2 h" …: how old the data a source serves is. */
function age(ms: number | null, now: number): string {
  if (ms === null) return "never";
  const s = Math.max(0, (now - ms) / 1000);
  if (s < 60) return `${s.toFixed(0)} s`;
  if (s < 3600) return `${(s / 60).toFixed(0)} min`;
  if (s < 86_400) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86_400).toFixed(1)} d`;
}

/** The enrichment part of the page; returns its stop function. */
function enrichmentSection(root: HTMLElement): () => void {
  const srcRows = h("tbody", { id: "enrichment-sources" });
  const srcNote = h("p", { class: "muted" }, "loading…");
  const ifBox = h("div", { id: "enrichment-interfaces" });
  const ifNote = h("p", { class: "muted" }, "");
  root.append(
    h("h2", {}, "Enrichment sources"),
    srcNote,
    h(
      "table",
      { class: "grid" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["source", "kind", "state", "entries", "age", "errors", "last error"].map((t) => h("th", {}, t)),
        ),
      ),
      srcRows,
    ),
    h("h2", {}, "Interfaces"),
    ifNote,
    ifBox,
  );
  // Which exporters' interface lists are open (kept across refreshes).
  const open = new Set<string>();
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  async function poll(): Promise<void> {
    const now = Date.now();
    try {
      const { sources } = await api<{ sources: SourceState[] }>("/api/v1/enrichment");
      srcRows.replaceChildren(
        ...sources.map((s) =>
          h(
            "tr",
            { "data-source": s.name, class: `enrich-${s.status}` },
            h(
              "td",
              {
                title: Object.entries(s.detail ?? {})
                  .map(([k, v]) => `${k}: ${v}`)
                  .join("\n"),
              },
              s.name,
            ),
            h("td", {}, s.kind),
            h("td", {}, s.status),
            h("td", { class: "num" }, s.entries),
            h("td", { class: "num" }, age(s.updatedMs, now)),
            h("td", { class: "num" }, s.errors),
            h("td", {}, s.lastError ?? ""),
          ),
        ),
      );
      const bad = sources.filter((s) => s.status === "error").length;
      srcNote.textContent = `${sources.length} source(s)${bad ? `, ${bad} in error (unknown values, old data kept)` : ""}`;
    } catch (err) {
      srcNote.textContent =
        err instanceof ApiError && err.status === 404
          ? "enrichment is not configured"
          : `error: ${(err as Error).message}`;
    }
    try {
      const { exporters } = await api<{ exporters: { exporter: string; interfaces: InterfaceDetail[] }[] }>(
        "/api/v1/enrichment/interfaces",
      );
      ifBox.replaceChildren(
        ...exporters.map((e) => {
          const d = h(
            "details",
            { "data-exporter": e.exporter, open: open.has(e.exporter) },
            h("summary", {}, `${e.exporter} — ${e.interfaces.length} interface(s)`),
            h(
              "table",
              { class: "grid" },
              h(
                "thead",
                {},
                h(
                  "tr",
                  {},
                  ["ifIndex", "name", "description", "speed", "from"].map((t) => h("th", {}, t)),
                ),
              ),
              h(
                "tbody",
                {},
                e.interfaces.map((i) =>
                  h(
                    "tr",
                    {},
                    h("td", { class: "num" }, i.ifIndex),
                    h("td", {}, i.name || "–"),
                    h("td", {}, i.description || "–"),
                    h("td", { class: "num" }, i.speedBps ? si(i.speedBps, "bps") : "–"),
                    h(
                      "td",
                      { class: "muted" },
                      [...new Set([i.from.name, i.from.description, i.from.speedBps].filter(Boolean))].join(
                        ", ",
                      ),
                    ),
                  ),
                ),
              ),
            ),
          );
          d.addEventListener("toggle", () => {
            if (d.open) open.add(e.exporter);
            else open.delete(e.exporter);
          });
          return d;
        }),
      );
      ifNote.textContent = exporters.length
        ? "names, descriptions and speeds from static config, SNMP and options data"
        : "no interface names known yet (options data, SNMP or static config)";
    } catch (err) {
      ifNote.textContent =
        err instanceof ApiError && err.status === 404 ? "" : `error: ${(err as Error).message}`;
    }
    if (!stopped) timer = setTimeout(() => void poll(), 10_000);
  }
  timer = setTimeout(() => void poll(), 0);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
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
  const stopEnrichment = enrichmentSection(root);
  const stopKafka = kafkaSection(root);
  return () => {
    stopped = true;
    clearTimeout(timer);
    stopEnrichment();
    stopKafka();
  };
}
