// The Nagare web UI: a single-page app routed by the URL hash
// (#/live, #/explorer?…, #/exporters). Sign-in is a session cookie set by
// POST /api/v1/auth/login; the CSRF token comes back in the answer (and from
// /api/v1/auth/me after a reload) and is sent on every state-changing request.
import "uplot/dist/uPlot.min.css";
import "./style.css";
import { ApiError, api, session, setOnUnauthorized, type Me } from "./api.js";
import { h } from "./dom.js";
import { explorerPage } from "./explorer.js";
import { exportersPage } from "./exporters.js";
import { livePage } from "./live.js";

const app = document.getElementById("app")!;
let cleanup: (() => void) | null = null;

const PAGES: [string, string][] = [
  ["live", "Live"],
  ["explorer", "Explorer"],
  ["exporters", "Exporters"],
];

function route(): { page: string; params: URLSearchParams } {
  const m = /^#\/([a-z]+)(?:\?(.*))?$/.exec(location.hash);
  return { page: m?.[1] ?? "live", params: new URLSearchParams(m?.[2] ?? "") };
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
  if (!session.me) return loginPage();
  cleanup?.();
  cleanup = null;
  const { page, params } = route();
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
  if (page === "explorer") cleanup = explorerPage(main, params);
  else if (page === "exporters") cleanup = exportersPage(main);
  else cleanup = livePage(main, params);
}

setOnUnauthorized(() => {
  session.me = null;
  loginPage("Session ended; sign in again.");
});
window.addEventListener("hashchange", () => {
  // The live page rewrites its own hash with replaceState (no event); anything else re-renders.
  if (session.me) render();
});

api<Me>("/api/v1/auth/me").then(
  (me) => {
    session.me = me;
    render();
  },
  () => loginPage(),
);
