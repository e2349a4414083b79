// A shared dashboard: #/share/<token>, opened without signing in. Everything
// comes from /api/v1/share/<token> (the dashboard and its saved queries,
// without their SQL) and each widget runs through
// /api/v1/share/<token>/widgets/<id>/run: the server runs the widget as saved,
// so a link can show this dashboard and nothing else, and stops working the
// moment it is revoked. The viewer may still change the time range,
// parameters, refresh and full screen (kept in the URL); nothing is saved.
import { ApiError, api } from "./api.js";
import { mountDashboard } from "./dashboards.js";
import { h } from "./dom.js";
import type { SharedDashboard } from "./types.js";

export function sharePage(root: HTMLElement, token: string, params: URLSearchParams): () => void {
  let dispose: () => void = () => undefined;
  let gone = false;
  const status = h("p", { class: "muted", id: "share-status" }, "loading…");
  root.append(
    h(
      "div",
      { class: "share-banner", id: "share-banner" },
      h("b", {}, "Nagare"),
      " · shared dashboard, read-only",
    ),
    status,
  );
  api<SharedDashboard>(`/api/v1/share/${encodeURIComponent(token)}`).then(
    (s) => {
      if (gone) return;
      status.remove();
      document.title = `${s.dashboard.name} · Nagare`;
      dispose = mountDashboard(root, s.dashboard, {
        hashBase: `#/share/${encodeURIComponent(token)}`,
        params,
        editable: false,
        share: { token, queries: s.queries },
      });
    },
    (e: unknown) => {
      status.className = "error";
      status.textContent =
        e instanceof ApiError && (e.status === 404 || e.status === 403)
          ? "This share link does not exist or was revoked."
          : `error: ${(e as Error).message}`;
    },
  );
  return () => {
    gone = true;
    dispose();
  };
}
