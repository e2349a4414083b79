// Attacks (#/attacks, #/attacks/<id>): what the DDoS detector
// (src/detect/ddos.ts) found. The list polls every 2 s — ongoing attacks on
// top, then the past ones — and an attack opens its detail: target, state,
// timing, peak figures, why it fired, the fingerprint, a per-second chart,
// the Flowspec and RTBH texts ready to copy, and a link to the explorer on the
// target for the attack's time range.
//
//   GET /api/v1/attacks?state=ongoing|ended&limit=N → Attack[] newest first
//   GET /api/v1/attacks/:id                         → Attack
//   GET /api/v1/attacks/:id/series                  → {target, points: SecondPoint[]}
//   GET /api/v1/detect/status                       → counters, baselineReady
// A server without the detector answers 404: the page says so.
import uPlot from "uplot";
import { api } from "./api.js";
import { isMissing } from "./anomaly.js";
import { color } from "./chart.js";
import "./detect.css";
import { PROTOCOLS, h, si, timeZoneLabel } from "./dom.js";
import type { Attack, SecondPoint, TopEntry } from "./types.js";

const POLL_MS = 2000;
const MISSING =
  "Attack detection is not available on this server (detection is off, or this version has no /api/v1/attacks).";

interface DetectStatus {
  counters?: { hosts?: number; prefixes?: number; memoryBytes?: number; maxHosts?: number };
  baselineReady?: boolean;
}

/** 95000 ms → "1 min 35 s". */
export function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

function when(ms: number | null): string {
  return ms === null ? "–" : new Date(ms).toLocaleString();
}

function attackEnd(a: Attack): number {
  return a.endMs ?? (a.state === "ongoing" ? Date.now() : a.lastMs);
}

function proto(p: number): string {
  return PROTOCOLS[p] ?? String(p);
}

/** The nfdump filter that selects the target: a host, or a prefix. */
export function targetFilter(prefix: string): string {
  const [addr, len] = prefix.split("/");
  const host = len === undefined || len === "32" || len === "128";
  return host ? `dst ip ${addr}` : `dst net ${prefix}`;
}

/** datetime-local text (the explorer's absolute range is local time, minute precision). */
function local(ms: number): string {
  return new Date(ms - new Date(ms).getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
}

/** The explorer on the target, by source address, from a minute before the start to a minute after the end. */
export function explorerLink(a: Attack): string {
  const p = new URLSearchParams({
    range: "custom",
    from: local(a.startMs - 60_000),
    to: local(attackEnd(a) + 60_000),
    dims: "src_addr",
    filter: targetFilter(a.target.prefix),
    metric: "bps",
    top: "10",
  });
  return `#/explorer?${p.toString()}`;
}

function stateBadge(a: Attack): HTMLElement {
  return h("span", { class: `badge ${a.state}` }, a.state);
}

function attackRow(a: Attack): HTMLElement {
  const href = `#/attacks/${encodeURIComponent(a.id)}`;
  return h(
    "tr",
    { "data-attack-id": a.id, onclick: () => (location.hash = href) },
    h("td", {}, h("a", { href, class: "attack-target" }, a.target.prefix)),
    h("td", {}, a.target.group || "–"),
    h("td", {}, stateBadge(a)),
    h("td", { class: "attack-vectors" }, a.fingerprint.vectors.join(", ") || "–"),
    h("td", {}, when(a.startMs)),
    h("td", { class: "num" }, duration(attackEnd(a) - a.startMs)),
    h("td", { class: "num" }, si(a.peak.bps, "b/s")),
    h("td", { class: "num" }, si(a.peak.pps, "p/s")),
    h("td", { class: "muted" }, a.reason),
  );
}

function attackTable(id: string, list: Attack[], empty: string): HTMLElement {
  if (!list.length) return h("p", { class: "detect-empty", id: `${id}-empty` }, empty);
  return h(
    "table",
    { class: "grid clickable", id },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        [
          "target",
          "group",
          "state",
          "vectors",
          "start",
          "duration",
          "peak bits/s",
          "peak packets/s",
          "reason",
        ].map((t) => h("th", {}, t)),
      ),
    ),
    h("tbody", {}, list.map(attackRow)),
  );
}

/** #/attacks: ongoing attacks, then past ones, refreshed every 2 s. */
export function attacksPage(root: HTMLElement): () => void {
  const status = h("p", { class: "muted", id: "attacks-status" }, "loading…");
  const ongoing = h("div", { id: "attacks-ongoing-box" });
  const past = h("div", { id: "attacks-past-box" });
  root.append(
    h("h1", {}, "Attacks"),
    status,
    h("h2", {}, "Ongoing"),
    ongoing,
    h("h2", {}, "Past attacks"),
    past,
  );
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const poll = async (): Promise<void> => {
    try {
      const [on, ended, st] = await Promise.all([
        api<Attack[]>("/api/v1/attacks?state=ongoing&limit=100"),
        api<Attack[]>("/api/v1/attacks?state=ended&limit=100"),
        api<DetectStatus>("/api/v1/detect/status").catch(() => null),
      ]);
      if (stopped) return;
      ongoing.replaceChildren(attackTable("attacks-ongoing", on, "No attack going on."));
      past.replaceChildren(attackTable("attacks-past", ended, "No past attacks."));
      const c = st?.counters;
      status.textContent =
        `${on.length} ongoing, ${ended.length} past` +
        (c ? ` · tracking ${c.hosts ?? 0} host(s), ${c.prefixes ?? 0} prefix(es)` : "") +
        (st && st.baselineReady === false ? " · baselines still learning (static thresholds only)" : "") +
        ` · refreshed every ${POLL_MS / 1000} s, ${new Date().toLocaleTimeString()}`;
      status.className = "muted";
      root.dataset.state = "ready";
    } catch (e) {
      if (stopped) return;
      root.dataset.state = isMissing(e) ? "missing" : "error";
      status.textContent = isMissing(e) ? MISSING : `error: ${(e as Error).message}`;
      status.className = isMissing(e) ? "muted" : "error";
      if (isMissing(e)) {
        ongoing.replaceChildren();
        past.replaceChildren();
      }
    }
    if (!stopped) timer = setTimeout(() => void poll(), POLL_MS);
  };
  void poll();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

function topTable(
  title: string,
  id: string,
  rows: TopEntry[],
  key: (k: string) => string = (k) => k,
): HTMLElement {
  return h(
    "div",
    {},
    h("h3", {}, title),
    rows.length
      ? h(
          "table",
          { class: "grid", id },
          h("thead", {}, h("tr", {}, h("th", {}, "key"), h("th", {}, "bits/s"), h("th", {}, "packets/s"))),
          h(
            "tbody",
            {},
            rows.map((r) =>
              h(
                "tr",
                {},
                h("td", {}, key(r.key)),
                h("td", { class: "num" }, si(r.bps, "b/s")),
                h("td", { class: "num" }, si(r.pps, "p/s")),
              ),
            ),
          ),
        )
      : h("p", { class: "muted", id }, "none"),
  );
}

/** Copy to the clipboard; a plain http page without the Clipboard API falls back to a selection copy. */
async function copyText(text: string): Promise<void> {
  if (navigator.clipboard?.writeText) {
    await navigator.clipboard.writeText(text);
    return;
  }
  const ta = h("textarea", {}, text);
  document.body.append(ta);
  ta.select();
  document.execCommand("copy");
  ta.remove();
}

function mitigationBlock(title: string, id: string, text: string): HTMLElement {
  const note = h("span", { class: "muted", id: `${id}-copied` }, "");
  return h(
    "section",
    {},
    h(
      "div",
      { class: "copy-row" },
      h("h3", {}, title),
      h(
        "button",
        {
          id: `${id}-copy`,
          type: "button",
          disabled: !text,
          onclick: () => {
            copyText(text).then(
              () => (note.textContent = "copied"),
              (e: unknown) => (note.textContent = `copy failed: ${(e as Error).message}`),
            );
          },
        },
        "Copy",
      ),
      note,
    ),
    h("pre", { class: "mitigation", id }, text || "(none)"),
  );
}

function fingerprint(a: Attack): HTMLElement {
  const f = a.fingerprint;
  const flags = Object.entries(f.tcpFlags).sort((x, y) => y[1] - x[1]);
  return h(
    "section",
    { id: "attack-fingerprint" },
    h("h2", {}, "Fingerprint"),
    h(
      "dl",
      { class: "attack-summary" },
      h("dt", {}, "vectors"),
      h("dd", { id: "fp-vectors" }, f.vectors.join(", ") || "–"),
      h("dt", {}, "protocols"),
      h("dd", { id: "fp-protocols" }, f.protocols.map(proto).join(", ") || "–"),
      h("dt", {}, "mean packet size"),
      h("dd", { id: "fp-packet-size" }, `${Math.round(f.packetSize)} bytes`),
      h("dt", {}, "TCP flags"),
      h(
        "dd",
        { id: "fp-tcp-flags" },
        flags.length ? flags.map(([k, v]) => `${k} ${(v * 100).toFixed(1)} %`).join(", ") : "– (no TCP)",
      ),
      h("dt", {}, "fragments"),
      h("dd", {}, `${(f.fragmentShare * 100).toFixed(1)} % of packets`),
      h("dt", {}, "sampling rates"),
      h(
        "dd",
        {},
        f.samplingRates.length ? f.samplingRates.map((r) => (r ? `1:${r}` : "unknown")).join(", ") : "–",
      ),
    ),
    h(
      "div",
      { class: "fp-grid" },
      topTable("Top source ports", "fp-src-ports", f.topSrcPorts),
      topTable("Top destination ports", "fp-dst-ports", f.topDstPorts),
      topTable("Top sources", "fp-sources", f.topSources),
      topTable("Top source ASes", "fp-src-as", f.topSrcAs, (k) => (/^\d+$/.test(k) ? `AS${k}` : k)),
      h(
        "div",
        {},
        h("h3", {}, "Ingress (exporter / interface)"),
        f.ingress.length
          ? h(
              "table",
              { class: "grid", id: "fp-ingress" },
              h(
                "thead",
                {},
                h(
                  "tr",
                  {},
                  ["exporter", "in if", "bits/s", "packets/s"].map((t) => h("th", {}, t)),
                ),
              ),
              h(
                "tbody",
                {},
                f.ingress.map((g) =>
                  h(
                    "tr",
                    {},
                    h("td", {}, g.exporter),
                    h("td", { class: "num" }, g.inIf),
                    h("td", { class: "num" }, si(g.bps, "b/s")),
                    h("td", { class: "num" }, si(g.pps, "p/s")),
                  ),
                ),
              ),
            )
          : h("p", { class: "muted", id: "fp-ingress" }, "none"),
      ),
    ),
  );
}

/** Per-second bits/s (left axis) and packets/s (right axis) of the target, the attack's span shaded. */
function seriesChart(el: HTMLElement, a: Attack, points: SecondPoint[]): uPlot {
  const pts = [...points].sort((x, y) => x.t - y.t);
  const times = pts.map((p) => p.t / 1000);
  const opts: uPlot.Options = {
    width: Math.max(400, el.clientWidth || 900),
    height: 280,
    cursor: { drag: { x: false, y: false } },
    scales: {
      x: { time: true },
      bps: { range: (_u, _min, max) => [0, max > 0 ? max * 1.05 : 1] },
      pps: { range: (_u, _min, max) => [0, max > 0 ? max * 1.05 : 1] },
    },
    axes: [
      { label: `time (${timeZoneLabel()})`, labelSize: 18, space: 90 },
      { scale: "bps", size: 80, values: (_u, vals) => vals.map((v) => si(v, "b/s")) },
      {
        scale: "pps",
        side: 1,
        size: 80,
        grid: { show: false },
        values: (_u, vals) => vals.map((v) => si(v, "p/s")),
      },
    ],
    series: [
      { value: (_u, v) => (v == null ? "" : new Date(v * 1000).toLocaleTimeString()) },
      {
        label: "bits/s",
        scale: "bps",
        stroke: color(0),
        fill: "rgba(78, 121, 167, 0.15)",
        width: 1.5,
        points: { show: false },
        value: (_u, v) => (v == null ? "–" : si(v, "b/s")),
      },
      {
        label: "packets/s",
        scale: "pps",
        stroke: color(1),
        width: 1.5,
        points: { show: false },
        value: (_u, v) => (v == null ? "–" : si(v, "p/s")),
      },
    ],
    hooks: {
      drawClear: [
        (u) => {
          const { left, top, width, height } = u.bbox;
          const x0 = Math.max(left, u.valToPos(a.startMs / 1000, "x", true));
          const x1 = Math.min(left + width, u.valToPos(attackEnd(a) / 1000, "x", true));
          if (x1 <= x0) return;
          u.ctx.save();
          u.ctx.fillStyle = "rgba(225, 87, 89, 0.12)";
          u.ctx.fillRect(x0, top, x1 - x0, height);
          u.ctx.restore();
        },
      ],
    },
  };
  const u = new uPlot(opts, [times, pts.map((p) => p.bps), pts.map((p) => p.pps)], el);
  el.dataset.points = String(pts.length);
  return u;
}

/** #/attacks/<id>: one attack; refreshed every 2 s while it goes on. */
export function attackPage(root: HTMLElement, id: string): () => void {
  const status = h("p", { class: "muted", id: "attack-status" }, "loading…");
  const body = h("div", { id: "attack-detail" });
  root.append(h("p", {}, h("a", { href: "#/attacks", id: "attack-back" }, "← all attacks")), status, body);
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let plot: uPlot | null = null;
  const enc = encodeURIComponent(id);
  const load = async (): Promise<void> => {
    let again = false;
    try {
      const [a, series] = await Promise.all([
        api<Attack>(`/api/v1/attacks/${enc}`),
        api<{ target: string; points: SecondPoint[] }>(`/api/v1/attacks/${enc}/series`).catch(
          (e: unknown) => {
            if (isMissing(e)) return { target: "", points: [] };
            throw e;
          },
        ),
      ]);
      if (stopped) return;
      plot?.destroy();
      const chart = h("div", { class: "chart", id: "attack-chart" });
      const end = attackEnd(a);
      body.replaceChildren(
        h(
          "div",
          { class: "toolbar" },
          h("h1", { id: "attack-title" }, `Attack on ${a.target.prefix}`),
          stateBadge(a),
          h(
            "a",
            { class: "button", id: "attack-explore", href: explorerLink(a) },
            "Explore the target's traffic",
          ),
        ),
        h(
          "dl",
          { class: "attack-summary", id: "attack-summary" },
          h("dt", {}, "target"),
          h(
            "dd",
            { id: "attack-target" },
            a.target.prefix + (a.target.group ? ` (group ${a.target.group})` : ""),
          ),
          h("dt", {}, "state"),
          h("dd", { id: "attack-state" }, a.state),
          h("dt", {}, "start"),
          h("dd", {}, when(a.startMs)),
          h("dt", {}, "end"),
          h("dd", {}, a.endMs === null ? `ongoing (last over threshold ${when(a.lastMs)})` : when(a.endMs)),
          h("dt", {}, "duration"),
          h("dd", {}, duration(end - a.startMs)),
          h("dt", {}, "peak"),
          h(
            "dd",
            { id: "attack-peak" },
            `${si(a.peak.bps, "b/s")}, ${si(a.peak.pps, "p/s")}, ${si(a.peak.flowsPerSecond, "flows/s")} at ${new Date(a.peak.atMs).toLocaleTimeString()}`,
          ),
          h("dt", {}, "reason"),
          h("dd", { id: "attack-reason" }, `${a.reason} (${a.trigger})`),
          h("dt", {}, "detection delay"),
          h(
            "dd",
            {},
            `${((a.detectedMs - a.firstSeenMs) / 1000).toFixed(1)} s from the first attack flow at the collector`,
          ),
        ),
        h("h2", {}, "Per second"),
        chart,
        fingerprint(a),
        h("h2", {}, "Mitigation"),
        mitigationBlock("BGP Flowspec", "attack-flowspec", a.mitigation.flowspec),
        mitigationBlock("RTBH announcement", "attack-rtbh", a.mitigation.rtbh),
      );
      plot = series.points.length ? seriesChart(chart, a, series.points) : null;
      if (!plot) chart.append(h("p", { class: "muted" }, "no per-second data kept for this attack"));
      status.textContent =
        a.state === "ongoing" ? `ongoing · refreshed every ${POLL_MS / 1000} s` : `ended ${when(a.endMs)}`;
      root.dataset.state = "ready";
      again = a.state === "ongoing";
    } catch (e) {
      if (stopped) return;
      status.textContent = isMissing(e)
        ? `${MISSING} (or no attack ${id})`
        : `error: ${(e as Error).message}`;
      status.className = isMissing(e) ? "muted" : "error";
      root.dataset.state = isMissing(e) ? "missing" : "error";
    }
    if (again && !stopped) timer = setTimeout(() => void load(), POLL_MS);
  };
  void load();
  return () => {
    stopped = true;
    clearTimeout(timer);
    plot?.destroy();
  };
}
