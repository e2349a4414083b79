// The saved queries list (#/queries?q=…&tag=…): search over name, description,
// SQL and tags (done by the server, GET /api/v1/queries?q=&tag=), a tag
// filter, and "New query". The search and tag are in the URL so a filtered
// list can be shared and survives a reload.
import "./queries.css";
import { ApiError, api, session } from "./api.js";
import { h } from "./dom.js";
import type { SavedQuerySummary } from "./types.js";

export function queriesPage(root: HTMLElement, params: URLSearchParams): () => void {
  const q = params.get("q") ?? "";
  const tag = params.get("tag") ?? "";
  const canEdit = session.me?.role !== "viewer";
  const search = h("input", {
    id: "q-search",
    type: "search",
    placeholder: "search name, description, SQL, tags",
    value: q,
    size: 40,
  });
  const tagsEl = h("div", { class: "q-tagbar", id: "q-tag-filter" });
  const tbody = h("tbody", { id: "q-list" });
  const status = h("p", { class: "muted", id: "q-list-status" }, "loading…");
  let timer: ReturnType<typeof setTimeout> | undefined;
  let seq = 0;

  const url = (nq: string, ntag: string): string => {
    const p = new URLSearchParams();
    if (nq) p.set("q", nq);
    if (ntag) p.set("tag", ntag);
    const s = p.toString();
    return `#/queries${s ? `?${s}` : ""}`;
  };

  const load = (text: string, t: string): void => {
    const my = ++seq;
    const p = new URLSearchParams();
    if (text) p.set("q", text);
    if (t) p.set("tag", t);
    // The tag bar lists every tag, so it comes from the unfiltered list.
    Promise.all([
      api<SavedQuerySummary[]>(`/api/v1/queries?${p.toString()}`),
      text || t ? api<SavedQuerySummary[]>("/api/v1/queries") : null,
    ]).then(
      ([list, all]) => {
        if (my !== seq) return;
        drawTags(all ?? list, t);
        status.textContent = `${list.length} ${list.length === 1 ? "query" : "queries"}${
          text || t ? " match" : ""
        }`;
        tbody.replaceChildren(
          ...list.map((x) =>
            h(
              "tr",
              { "data-query-id": x.id },
              h("td", {}, h("a", { href: `#/queries/${encodeURIComponent(x.id)}` }, x.name || "(unnamed)")),
              h("td", { class: "muted" }, x.description),
              h(
                "td",
                {},
                x.tags.map((tg) => h("a", { class: "tag", href: url(text, tg), "data-tag": tg }, tg)),
              ),
              h("td", { class: "num" }, `v${x.version}`),
              h("td", { class: "muted" }, `${new Date(x.updatedAt).toLocaleString()} by ${x.updatedBy}`),
            ),
          ),
        );
      },
      (e: unknown) => {
        if (my !== seq) return;
        status.textContent = e instanceof ApiError ? e.message : String(e);
        status.className = "error";
      },
    );
  };

  const drawTags = (all: SavedQuerySummary[], active: string): void => {
    const counts = new Map<string, number>();
    for (const x of all) for (const t of x.tags) counts.set(t, (counts.get(t) ?? 0) + 1);
    const tags = [...counts.keys()].sort();
    tagsEl.replaceChildren(
      h("span", { class: "muted" }, "Tags: "),
      h("a", { class: `tag${active ? "" : " active"}`, href: url(search.value.trim(), "") }, "all"),
      ...tags.map((t) =>
        h(
          "a",
          { class: `tag${t === active ? " active" : ""}`, href: url(search.value.trim(), t), "data-tag": t },
          `${t} (${counts.get(t)})`,
        ),
      ),
    );
  };

  search.addEventListener("input", () => {
    clearTimeout(timer);
    // Keep the URL in step without a re-render (replaceState fires no hashchange).
    timer = setTimeout(() => {
      history.replaceState(null, "", url(search.value.trim(), tag));
      load(search.value.trim(), tag);
    }, 200);
  });

  root.replaceChildren(
    h(
      "div",
      { class: "toolbar" },
      h("h1", {}, "Queries"),
      search,
      h(
        "a",
        {
          class: "button",
          href: "#/queries/new",
          id: "q-new",
          title: canEdit ? "" : "viewers can run SQL, not save it",
        },
        "New query",
      ),
    ),
    tagsEl,
    status,
    h(
      "table",
      { class: "grid q-table" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["Name", "Description", "Tags", "Version", "Updated"].map((c) => h("th", {}, c)),
        ),
      ),
      tbody,
    ),
  );
  load(q, tag);
  return () => {
    clearTimeout(timer);
    seq++;
  };
}
