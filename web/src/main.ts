// The Nagare web UI: a single-page app routed by the URL hash
// (#/live, #/explorer?…, #/exporters). Sign-in is a session cookie set by
// POST /api/v1/auth/login; the CSRF token comes back in the answer (and from
// /api/v1/auth/me after a reload) and is sent on every state-changing request.
import "uplot/dist/uPlot.min.css";
import "./style.css";
import { alertsPage } from "./alerts.js";
import { anomaliesPage } from "./anomaly.js";
import { ApiError, api, session, setOnUnauthorized, type Me } from "./api.js";
import { attackPage, attacksPage } from "./attacks.js";
import { dashboardPage, dashboardsListPage } from "./dashboards.js";
import { h } from "./dom.js";
import { explorerPage } from "./explorer.js";
import { exportersPage } from "./exporters.js";
import { livePage } from "./live.js";
import { queriesPage } from "./queries.js";
import { queryPage } from "./query-page.js";
import { sharePage } from "./share.js";

const app = document.getElementById("app")!;
let cleanup: (() => void) | null = null;

const PAGES: [string, string][] = [
  ["dashboards", "Dashboards"],
  ["live", "Live"],
  ["explorer", "Explorer"],
  ["exporters", "Exporters"],
  ["queries", "Queries"],
  ["attacks", "Attacks"],
  ["anomalies", "Anomalies"],
  ["alerts", "Alerts"],
];

/** #/<page>[/<sub>][?params]; no hash: the Overview dashboard. */
function route(): { page: string; sub: string; params: URLSearchParams } {
  if (location.hash === "" || location.hash === "#" || location.hash === "#/")
    history.replaceState(null, "", "#/dashboards/overview");
  const m = /^#\/([a-z]+)(?:\/([^?]*))?(?:\?(.*))?$/.exec(location.hash);
  return {
    page: m?.[1] ?? "dashboards",
    sub: decodeURIComponent(m?.[2] ?? ""),
    params: new URLSearchParams(m?.[3] ?? ""),
  };
}

/** #/share/<token>: drawn without a session (and without asking for one). */
function renderShare(): boolean {
  const { page, sub, params } = route();
  if (page !== "share") return false;
  cleanup?.();
  const main = h("main", { id: "page-share" });
  app.replaceChildren(main);
  cleanup = sharePage(main, sub, params);
  return true;
}

function loginPage(message = ""): void {
  cleanup?.();
  cleanup = null;
  const user = h("input", {
    id: "login-user",
    name: "user",
    autocomplete: "username",
    value: "admin",
    required: true,
  });
  const pass = h("input", {
    id: "login-password",
    name: "password",
    type: "password",
    autocomplete: "current-password",
    required: true,
  });
  const err = h("p", { class: "error", id: "login-error" }, message);
  app.replaceChildren(
    h(
      "form",
      {
        class: "login",
        id: "login-form",
        onsubmit: (e: Event) => {
          e.preventDefault();
          api<Me>("/api/v1/auth/login", {
            method: "POST",
            body: { user: user.value, password: pass.value },
          }).then(
            (me) => {
              session.me = me;
              render();
            },
            (e2: unknown) => {
              err.textContent = e2 instanceof ApiError ? e2.message : String(e2);
            },
          );
        },
      },
      h("h1", {}, "Nagare"),
      h("label", {}, "User", user),
      h("label", {}, "Password", pass),
      h("button", { type: "submit", id: "login-submit" }, "Sign in"),
      err,
      h(
        "p",
        { class: "muted" },
        'First start: the admin password is printed once in nagare\'s log (line "admin password (shown once…)").',
      ),
    ),
  );
}

function render(): void {
  if (renderShare()) return;
  if (!session.me) return loginPage();
  cleanup?.();
  cleanup = null;
  const { page, sub, params } = route();
  const me = session.me;
  const main = h("main", { id: `page-${page}` });
  app.replaceChildren(
    h(
      "header",
      {},
      h("span", { class: "brand" }, "Nagare"),
      h(
        "nav",
        {},
        PAGES.map(([p, l]) =>
          h("a", { href: `#/${p}`, class: p === page ? "active" : "", id: `nav-${p}` }, l),
        ),
      ),
      h("span", { class: "who", id: "who" }, `${me.user} (${me.role})`),
      h(
        "button",
        {
          id: "logout",
          onclick: () => {
            api("/api/v1/auth/logout", { method: "POST" })
              .catch(() => undefined)
              .finally(() => {
                session.me = null;
                loginPage("Signed out.");
              });
          },
        },
        "Sign out",
      ),
    ),
    main,
  );
  if (page === "dashboards") cleanup = sub ? dashboardPage(main, sub, params) : dashboardsListPage(main);
  else if (page === "queries")
    cleanup = sub ? queryPage(main, sub === "new" ? null : sub, params) : queriesPage(main, params);
  else if (page === "explorer") cleanup = explorerPage(main, params);
  else if (page === "exporters") cleanup = exportersPage(main);
  else if (page === "attacks") cleanup = sub ? attackPage(main, sub) : attacksPage(main);
  else if (page === "anomalies") cleanup = anomaliesPage(main, params);
  else if (page === "alerts") cleanup = alertsPage(main, sub, params);
  else cleanup = livePage(main, params);
}

setOnUnauthorized(() => {
  session.me = null;
  loginPage("Session ended; sign in again.");
});
window.addEventListener("hashchange", () => {
  // The live page rewrites its own hash with replaceState (no event); anything else re-renders.
  if (session.me || route().page === "share") render();
});

if (!renderShare())
  api<Me>("/api/v1/auth/me").then(
    (me) => {
      session.me = me;
      render();
    },
    () => loginPage(),
  );
