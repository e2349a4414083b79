// Alerts (#/alerts, #/alerts/history): the alert rules (src/alerts) with
// their state, a form to create or edit one (source: attacks, anomaly events,
// or a saved SQL query compared with a threshold; destinations: webhook,
// Slack, email, syslog), Test (a test notification to every destination, the
// outcome of each shown), Silence for N minutes / Unsilence, Delete; and the
// history of every notification. Viewers see everything, edit nothing (the
// buttons are disabled; the server refuses their writes with 403 anyway).
//
//   GET/POST /api/v1/alerts/rules, GET/PUT/DELETE /api/v1/alerts/rules/:id
//   POST /api/v1/alerts/rules/:id/test     → NotificationRecord[]
//   POST /api/v1/alerts/rules/:id/silence  {minutes} (0 = unsilence) → AlertRule
//   GET  /api/v1/alerts/history?ruleId=&limit= → NotificationRecord[]
import { ApiError, api, session } from "./api.js";
import { isMissing } from "./anomaly.js";
import "./detect.css";
import { h } from "./dom.js";
import {
  ANOMALY_SERIES,
  ATTACK_VECTORS,
  type AlertRule,
  type AlertSource,
  type Destination,
  type DestinationKind,
  type NotificationRecord,
  type SavedQuerySummary,
} from "./types.js";

const MISSING = "Alerts are not available on this server (this version has no /api/v1/alerts).";
const OPS = [">", ">=", "<", "<=", "==", "!="] as const;
const DEST_KINDS: [DestinationKind, string, string][] = [
  ["webhook", "webhook (JSON POST)", "http://host/path"],
  ["slack", "Slack-compatible webhook", "https://hooks.slack.com/services/…"],
  ["email", "email (SMTP)", "ops@example.net"],
  ["syslog", "syslog (RFC 5424)", "udp://host:514 or tcp://host:601"],
];

type RuleInput = Pick<AlertRule, "name" | "source" | "destinations" | "rearmSec" | "enabled">;

function errText(e: unknown): string {
  return e instanceof ApiError ? e.message : String(e);
}

/** One line describing what a rule watches. */
export function describeSource(s: AlertSource, queries: Map<string, string>): string {
  if (s.kind === "attack") {
    const parts = ["attacks"];
    if (s.vectors?.length) parts.push(`(${s.vectors.join(", ")})`);
    if (s.minBps) parts.push(`≥ ${s.minBps} b/s`);
    if (s.minPps) parts.push(`≥ ${s.minPps} p/s`);
    return parts.join(" ");
  }
  if (s.kind === "anomaly") {
    const parts = ["anomaly events"];
    if (s.series?.length) parts.push(`on ${s.series.join(", ")}`);
    if (s.minScore !== undefined) parts.push(`score ≥ ${s.minScore}`);
    return parts.join(" ");
  }
  const q = queries.get(s.queryId) ?? s.queryId;
  const what = s.measure === "rows" ? "row count" : `${s.column ?? "first column"} of the first row`;
  return `query "${q}": ${what} ${s.op} ${s.value}, every ${s.intervalSec} s`;
}

function stateBadges(r: AlertRule): HTMLElement[] {
  const out = [h("span", { class: `badge ${r.state}`, "data-state": r.state }, r.state)];
  if (r.silencedUntil !== null && r.silencedUntil > Date.now())
    out.push(
      h(
        "span",
        { class: "badge silenced", title: `until ${new Date(r.silencedUntil).toLocaleString()}` },
        `silenced until ${new Date(r.silencedUntil).toLocaleTimeString()}`,
      ),
    );
  if (!r.enabled) out.push(h("span", { class: "badge disabled" }, "disabled"));
  return out;
}

function historyTable(list: NotificationRecord[], id: string): HTMLElement {
  if (!list.length) return h("p", { class: "detect-empty", id: `${id}-empty` }, "No notifications yet.");
  return h(
    "table",
    { class: "grid", id },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        ["time", "rule", "state", "destination", "outcome", "attempts", "summary / error"].map((t) =>
          h("th", {}, t),
        ),
      ),
    ),
    h(
      "tbody",
      {},
      list.map((n) =>
        h(
          "tr",
          { "data-record-id": n.id, "data-outcome": n.outcome },
          h("td", {}, new Date(n.atMs).toLocaleString()),
          h("td", {}, n.ruleName),
          h("td", {}, h("span", { class: `badge ${n.state === "test" ? "" : n.state}` }, n.state)),
          h("td", {}, `${n.destination.kind} ${n.destination.target}`),
          h("td", { class: n.outcome === "failed" ? "error" : "" }, n.outcome),
          h("td", { class: "num" }, n.attempts),
          h("td", {}, n.summary, n.error ? h("span", { class: "error" }, ` — ${n.error}`) : null),
        ),
      ),
    ),
  );
}

function tabs(active: "rules" | "history"): HTMLElement {
  return h(
    "nav",
    { class: "tabs" },
    h("a", { href: "#/alerts", id: "al-tab-rules", class: active === "rules" ? "active" : "" }, "Rules"),
    h(
      "a",
      { href: "#/alerts/history", id: "al-tab-history", class: active === "history" ? "active" : "" },
      "History",
    ),
  );
}

/** #/alerts/history[?ruleId=…] */
function historyPage(root: HTMLElement, params: URLSearchParams): () => void {
  const ruleId = params.get("ruleId") ?? "";
  const status = h("p", { class: "muted", id: "al-history-status" }, "loading…");
  const box = h("div", { id: "al-history-box" });
  const sel = h(
    "select",
    {
      id: "al-history-rule",
      onchange: () =>
        (location.hash = `#/alerts/history${sel.value ? `?ruleId=${encodeURIComponent(sel.value)}` : ""}`),
    },
    h("option", { value: "" }, "all rules"),
  );
  root.append(
    h("div", { class: "toolbar" }, h("h1", {}, "Alerts"), tabs("history")),
    h("div", { class: "toolbar" }, h("label", {}, "Rule ", sel), status),
    box,
  );
  let stopped = false;
  const q = new URLSearchParams({ limit: "200" });
  if (ruleId) q.set("ruleId", ruleId);
  Promise.all([
    api<NotificationRecord[]>(`/api/v1/alerts/history?${q.toString()}`),
    api<AlertRule[]>("/api/v1/alerts/rules"),
  ]).then(
    ([list, rules]) => {
      if (stopped) return;
      sel.append(...rules.map((r) => h("option", { value: r.id, selected: r.id === ruleId }, r.name)));
      box.replaceChildren(historyTable(list, "al-history"));
      status.textContent = `${list.length} notification(s), newest first`;
      root.dataset.state = "ready";
    },
    (e: unknown) => {
      if (stopped) return;
      status.textContent = isMissing(e) ? MISSING : `error: ${errText(e)}`;
      status.className = isMissing(e) ? "muted" : "error";
      root.dataset.state = isMissing(e) ? "missing" : "error";
    },
  );
  return () => {
    stopped = true;
  };
}

/** The create/edit form; `rule` null = a new rule. Calls `done` after a save or cancel. */
function ruleForm(
  rule: AlertRule | null,
  queries: SavedQuerySummary[],
  done: (saved: boolean) => void,
): HTMLElement {
  const src = rule?.source;
  const err = h("p", { class: "error", id: "al-form-error" });
  const name = h("input", { id: "al-name", value: rule?.name ?? "", size: 30, required: true });
  const enabled = h("input", { id: "al-enabled", type: "checkbox", checked: rule?.enabled ?? true });
  const rearm = h("input", { id: "al-rearm", type: "number", min: 0, value: rule?.rearmSec ?? 300, size: 6 });
  const kind = h(
    "select",
    { id: "al-kind" },
    [
      ["attack", "attacks (DDoS detector)"],
      ["anomaly", "anomaly events"],
      ["query", "saved SQL query"],
    ].map(([k, l]) => h("option", { value: k, selected: (src?.kind ?? "attack") === k }, l)),
  );
  const num = (id: string, v: number | undefined, step = "any"): HTMLInputElement =>
    h("input", { id, type: "number", min: 0, step, value: v ?? "", size: 10 });

  // attack
  const minBps = num("al-min-bps", src?.kind === "attack" ? src.minBps : undefined);
  const minPps = num("al-min-pps", src?.kind === "attack" ? src.minPps : undefined);
  const vectorBoxes = ATTACK_VECTORS.map((v) =>
    h(
      "label",
      { class: "chip" },
      h("input", {
        type: "checkbox",
        value: v,
        "data-vector": v,
        checked: src?.kind === "attack" && (src.vectors ?? []).includes(v),
      }),
      v,
    ),
  );
  const attackSet = h(
    "fieldset",
    { id: "al-src-attack" },
    h("legend", {}, "Attacks"),
    h("label", {}, "min bits/s ", minBps),
    h("label", {}, "min packets/s ", minPps),
    h("div", { class: "dims" }, "vectors (none = any): ", vectorBoxes),
  );
  // anomaly
  const minScore = num("al-min-score", src?.kind === "anomaly" ? src.minScore : undefined);
  const seriesBoxes = ANOMALY_SERIES.map((s) =>
    h(
      "label",
      { class: "chip" },
      h("input", {
        type: "checkbox",
        value: s,
        "data-series": s,
        checked: src?.kind === "anomaly" && (src.series ?? []).includes(s),
      }),
      s,
    ),
  );
  const anomalySet = h(
    "fieldset",
    { id: "al-src-anomaly" },
    h("legend", {}, "Anomaly events"),
    h("label", {}, "min score ", minScore),
    h("div", { class: "dims" }, "series (none = any): ", seriesBoxes),
  );
  // query
  const qsrc = src?.kind === "query" ? src : null;
  const querySel = h(
    "select",
    { id: "al-query" },
    h("option", { value: "" }, queries.length ? "pick a saved query…" : "no saved queries"),
    queries.map((q) => h("option", { value: q.id, selected: qsrc?.queryId === q.id }, q.name || q.id)),
  );
  const measure = h(
    "select",
    { id: "al-measure" },
    [
      ["value", "a column of the first row"],
      ["rows", "the row count"],
    ].map(([k, l]) => h("option", { value: k, selected: (qsrc?.measure ?? "value") === k }, l)),
  );
  const column = h("input", { id: "al-column", value: qsrc?.column ?? "", size: 14, placeholder: "column" });
  const op = h(
    "select",
    { id: "al-op" },
    OPS.map((o) => h("option", { value: o, selected: (qsrc?.op ?? ">") === o }, o)),
  );
  const value = num("al-value", qsrc?.value);
  const interval = h("input", {
    id: "al-interval",
    type: "number",
    min: 10,
    value: qsrc?.intervalSec ?? 60,
    size: 6,
  });
  const querySet = h(
    "fieldset",
    { id: "al-src-query" },
    h("legend", {}, "Saved query (evaluated on a schedule)"),
    h("label", {}, "query ", querySel),
    h("label", {}, "compare ", measure),
    column,
    op,
    value,
    h("label", {}, "every ", interval, " s"),
  );
  const showKind = (): void => {
    attackSet.hidden = kind.value !== "attack";
    anomalySet.hidden = kind.value !== "anomaly";
    querySet.hidden = kind.value !== "query";
    column.disabled = measure.value === "rows";
  };
  kind.addEventListener("change", showKind);
  measure.addEventListener("change", showKind);
  showKind();

  // destinations
  const dests = h("div", { id: "al-dests" });
  const addDest = (d?: Destination): void => {
    const k = h(
      "select",
      { class: "al-dest-kind" },
      DEST_KINDS.map(([v, l]) => h("option", { value: v, selected: (d?.kind ?? "webhook") === v }, l)),
    );
    const t = h("input", { class: "al-dest-target", value: d?.target ?? "", size: 44 });
    const hint = (): void => {
      t.placeholder = DEST_KINDS.find(([v]) => v === k.value)?.[2] ?? "";
    };
    k.addEventListener("change", hint);
    hint();
    const row = h(
      "div",
      { class: "dest-row" },
      k,
      t,
      h("button", { type: "button", class: "al-dest-remove", onclick: () => row.remove() }, "Remove"),
    );
    dests.append(row);
  };
  for (const d of rule?.destinations ?? []) addDest(d);
  if (!rule) addDest();

  const collect = (): RuleInput => {
    const optNum = (i: HTMLInputElement): number | undefined =>
      i.value.trim() === "" ? undefined : Number(i.value);
    const checked = (boxes: HTMLLabelElement[]): string[] =>
      boxes
        .map((l) => l.querySelector("input")!)
        .filter((i) => i.checked)
        .map((i) => i.value);
    let source: AlertSource;
    if (kind.value === "attack") {
      const vectors = checked(vectorBoxes) as (typeof ATTACK_VECTORS)[number][];
      source = {
        kind: "attack",
        minBps: optNum(minBps),
        minPps: optNum(minPps),
        vectors: vectors.length ? vectors : undefined,
      };
    } else if (kind.value === "anomaly") {
      const series = checked(seriesBoxes) as (typeof ANOMALY_SERIES)[number][];
      source = { kind: "anomaly", minScore: optNum(minScore), series: series.length ? series : undefined };
    } else {
      source = {
        kind: "query",
        queryId: querySel.value,
        measure: measure.value as "value" | "rows",
        column: measure.value === "rows" ? undefined : column.value.trim() || undefined,
        op: op.value as (typeof OPS)[number],
        value: Number(value.value || 0),
        intervalSec: Number(interval.value || 60),
      };
    }
    const destinations: Destination[] = [...dests.querySelectorAll<HTMLElement>(".dest-row")].map((r) => ({
      kind: r.querySelector<HTMLSelectElement>(".al-dest-kind")!.value as DestinationKind,
      target: r.querySelector<HTMLInputElement>(".al-dest-target")!.value.trim(),
    }));
    return {
      name: name.value.trim(),
      source,
      destinations,
      rearmSec: Number(rearm.value || 0),
      enabled: enabled.checked,
    };
  };

  const form = h(
    "form",
    {
      class: "alert-form",
      id: "al-form",
      onsubmit: (e: Event) => {
        e.preventDefault();
        const body = collect();
        if (body.source.kind === "query" && !body.source.queryId) {
          err.textContent = "pick a saved query";
          return;
        }
        const req = rule
          ? api<AlertRule>(`/api/v1/alerts/rules/${encodeURIComponent(rule.id)}`, { method: "PUT", body })
          : api<AlertRule>("/api/v1/alerts/rules", { method: "POST", body });
        req.then(
          () => done(true),
          (e2: unknown) => (err.textContent = errText(e2)),
        );
      },
    },
    h("h2", {}, rule ? `Edit rule "${rule.name}"` : "New rule"),
    h(
      "div",
      { class: "toolbar wrap" },
      h("label", {}, "Name ", name),
      h("label", {}, "Source ", kind),
      h("label", { class: "chip" }, enabled, "enabled"),
      h(
        "label",
        { title: "after returning to ok, notify again only after this many seconds" },
        "re-arm after ",
        rearm,
        " s",
      ),
    ),
    attackSet,
    anomalySet,
    querySet,
    h(
      "fieldset",
      {},
      h("legend", {}, "Destinations"),
      dests,
      h("button", { type: "button", id: "al-dest-add", onclick: () => addDest() }, "Add destination"),
    ),
    h(
      "div",
      { class: "toolbar" },
      h("button", { type: "submit", id: "al-save" }, rule ? "Save" : "Create"),
      h("button", { type: "button", id: "al-cancel", onclick: () => done(false) }, "Cancel"),
      err,
    ),
  );
  return form;
}

/** #/alerts: the rules. */
function rulesPage(root: HTMLElement): () => void {
  const canEdit = session.me?.role !== "viewer";
  const status = h("p", { class: "muted", id: "al-status" }, "loading…");
  const formBox = h("div", { id: "al-form-box" });
  const list = h("div", { id: "al-rules-box" });
  const result = h("div", { id: "al-test-result" });
  let rules: AlertRule[] = [];
  let queries: SavedQuerySummary[] = [];
  let stopped = false;
  const editorsOnly = canEdit ? "" : "editors only";

  const openForm = (rule: AlertRule | null): void => {
    formBox.replaceChildren(
      ruleForm(rule, queries, (saved) => {
        formBox.replaceChildren();
        if (saved) void load();
      }),
    );
    formBox.querySelector<HTMLInputElement>("#al-name")?.focus();
  };

  const act = (what: string, p: Promise<unknown>, after?: (v: unknown) => void): void => {
    status.textContent = `${what}…`;
    status.className = "muted";
    p.then(
      (v) => {
        after?.(v);
        void load();
      },
      (e: unknown) => {
        status.textContent = `${what} failed: ${errText(e)}`;
        status.className = "error";
      },
    );
  };

  const row = (r: AlertRule, qnames: Map<string, string>): HTMLElement => {
    const enc = encodeURIComponent(r.id);
    const minutes = h("input", {
      class: "al-silence-minutes",
      type: "number",
      min: 1,
      value: 60,
      size: 4,
      disabled: !canEdit,
      title: "minutes",
    });
    const silenced = r.silencedUntil !== null && r.silencedUntil > Date.now();
    return h(
      "tr",
      { "data-rule-id": r.id, "data-rule-name": r.name },
      h("td", { class: "al-rule-name" }, r.name),
      h("td", { class: "al-badges" }, stateBadges(r)),
      h("td", {}, describeSource(r.source, qnames)),
      h(
        "td",
        {},
        r.destinations.map((d) => h("div", {}, `${d.kind}: ${d.target}`)),
      ),
      h("td", { class: "muted" }, `since ${new Date(r.stateSince).toLocaleString()}`),
      h(
        "td",
        { class: "actions" },
        h(
          "button",
          { class: "al-edit", disabled: !canEdit, title: editorsOnly, onclick: () => openForm(r) },
          "Edit",
        ),
        h(
          "button",
          {
            class: "al-test",
            disabled: !canEdit,
            title: canEdit ? "send a test notification to every destination" : editorsOnly,
            onclick: () =>
              act(
                "sending a test notification",
                api<NotificationRecord[]>(`/api/v1/alerts/rules/${enc}/test`, { method: "POST" }),
                (v) =>
                  result.replaceChildren(
                    h("h3", {}, `Test of "${r.name}"`),
                    historyTable(v as NotificationRecord[], "al-test-table"),
                  ),
              ),
          },
          "Test",
        ),
        silenced
          ? h(
              "button",
              {
                class: "al-unsilence",
                disabled: !canEdit,
                title: editorsOnly,
                onclick: () =>
                  act(
                    "unsilencing",
                    api(`/api/v1/alerts/rules/${enc}/silence`, { method: "POST", body: { minutes: 0 } }),
                  ),
              },
              "Unsilence",
            )
          : [
              minutes,
              h(
                "button",
                {
                  class: "al-silence",
                  disabled: !canEdit,
                  title: canEdit ? "no notifications for this many minutes" : editorsOnly,
                  onclick: () =>
                    act(
                      "silencing",
                      api(`/api/v1/alerts/rules/${enc}/silence`, {
                        method: "POST",
                        body: { minutes: Math.max(1, Number(minutes.value) || 60) },
                      }),
                    ),
                },
                "Silence",
              ),
            ],
        h("a", { class: "button", href: `#/alerts/history?ruleId=${enc}` }, "History"),
        h(
          "button",
          {
            class: "al-delete",
            disabled: !canEdit,
            title: editorsOnly,
            onclick: () => {
              if (confirm(`Delete the rule "${r.name}"?`))
                act("deleting", api(`/api/v1/alerts/rules/${enc}`, { method: "DELETE" }));
            },
          },
          "Delete",
        ),
      ),
    );
  };

  const draw = (): void => {
    const qnames = new Map(queries.map((q) => [q.id, q.name]));
    list.replaceChildren(
      rules.length
        ? h(
            "table",
            { class: "grid", id: "al-rules" },
            h(
              "thead",
              {},
              h(
                "tr",
                {},
                ["name", "state", "source", "destinations", "", ""].map((t) => h("th", {}, t)),
              ),
            ),
            h(
              "tbody",
              {},
              rules.map((r) => row(r, qnames)),
            ),
          )
        : h("p", { class: "detect-empty", id: "al-rules-empty" }, "No alert rules yet."),
    );
  };

  const load = async (): Promise<void> => {
    try {
      const [r, q] = await Promise.all([
        api<AlertRule[]>("/api/v1/alerts/rules"),
        api<SavedQuerySummary[]>("/api/v1/queries").catch(() => []),
      ]);
      if (stopped) return;
      rules = r;
      queries = q;
      draw();
      status.textContent = `${r.length} rule(s)${canEdit ? "" : " · read-only (viewer)"}`;
      status.className = "muted";
      root.dataset.state = "ready";
    } catch (e) {
      if (stopped) return;
      status.textContent = isMissing(e) ? MISSING : `error: ${errText(e)}`;
      status.className = isMissing(e) ? "muted" : "error";
      root.dataset.state = isMissing(e) ? "missing" : "error";
    }
  };

  root.append(
    h(
      "div",
      { class: "toolbar" },
      h("h1", {}, "Alerts"),
      tabs("rules"),
      h(
        "button",
        {
          id: "al-new",
          disabled: !canEdit,
          title: canEdit ? "" : editorsOnly,
          onclick: () => openForm(null),
        },
        "New rule",
      ),
    ),
    status,
    formBox,
    list,
    result,
  );
  void load();
  // Rule states change on their own (evaluations, silences running out): refresh unless a form is open.
  const timer = setInterval(() => {
    if (!formBox.firstChild) void load();
  }, 10_000);
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}

export function alertsPage(root: HTMLElement, sub: string, params: URLSearchParams): () => void {
  return sub === "history" ? historyPage(root, params) : rulesPage(root);
}
