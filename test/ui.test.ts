// End-to-end test of the web UI: Debian's Chromium driven by playwright-core
// against a real `nagare start` (compiled CLI, demo traffic over loopback UDP,
// temporary data dir, ephemeral ports; test/helpers/nagare-proc.ts).
//
//   1. sign in → the Overview dashboard is drawn → Live: the numbers change
//      each second, and a flow from a new exporter shows in the TopN within
//      2 s → Explorer: a query with a filter, then a drill-down (click a row =
//      add it to the filter) → Exporters → a viewer's write attempt gets 403.
//   2. a dashboard shared by its button opens read-only in a fresh browser
//      context with no session; the share API is read-only; revoking the
//      link makes the page and the API fail.
//   3. a viewer sees no edit controls on dashboards and queries; writes
//      forced from the UI and at the API answer 403, reads still work.
//   4. a second nagare on a store filled by writeHistory (30 k flows over 30
//      days): the 8-widget dashboard of bench/dashboard.ts is fully drawn
//      (every widget data-state="ready", the "nagare:dashboard-drawn" mark),
//      and its tables show what the flow query API answers.
//
// The Queries side (a parameterized SQL query → visualization → dashboard,
// and a 200,000-row result) is test/ui-queries.test.ts.
//
// Screenshots of each page go to test-output/ui/ (gitignored). Chromium is
// required: the test fails, not skips, when /usr/bin/chromium is missing
// (apt-get install chromium; .ci/run installs it).
import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { createBenchDashboard, fillStore, loadDashboard, startOnStore } from "../bench/dashboard.js";
import { FlowModel, NetflowV9Exporter } from "../src/demo/generator.js";
import {
  ADMIN_PASSWORD,
  ApiClient,
  ensureBuilt,
  launchChromium,
  pageCsrf,
  pageFetch,
  signIn,
  startNagare,
  waitCount,
  waitText,
  waitWidgetsReady,
  widgetStates,
  type NagareProc,
} from "./helpers/nagare-proc.js";
import { repoRoot } from "./helpers/repo.js";

const ROOT = repoRoot();
const SHOTS = join(ROOT, "test-output", "ui");
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let nagare: NagareProc | null = null;
let browser: Browser | null = null;
let ctx: BrowserContext | null = null;
let base = "";

before(async () => {
  ensureBuilt();
  mkdirSync(SHOTS, { recursive: true });
  browser = await launchChromium();
  nagare = await startNagare();
  base = nagare.base;
  assert.match(nagare.output(), /admin password: from NAGARE_ADMIN_PASSWORD/);
  ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
});

after(async () => {
  await ctx?.close().catch(() => undefined);
  await browser?.close().catch(() => undefined);
  await nagare?.stop();
});

/** Edit controls of the dashboard page that a viewer (and a share link) must not get. */
const DASHBOARD_EDIT = ["#d-edit", "#d-add-widget", "#d-save", "#d-share"];
/** Write controls of the query editor. */
const QUERY_EDIT = ["#q-save", "#q-fork", "#q-add-viz"];

/** Those of `selectors` a user could press: present, visible and enabled. */
async function usable(page: Page, selectors: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const s of selectors) {
    const l = page.locator(s);
    if ((await l.count()) === 0) continue;
    if ((await l.first().isVisible()) && (await l.first().isEnabled())) out.push(s);
  }
  return out;
}

/** A request with no session and no token (what a share-link visitor has). */
async function anon(method: string, path: string, body?: unknown): Promise<{ status: number; text: string }> {
  const r = await fetch(base + path, {
    method,
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: r.status, text: await r.text() };
}

test(
  "ui: sign in, overview, live, explorer with drill-down, exporters, viewer 403",
  { timeout: 180_000 },
  async () => {
    const page = await ctx!.newPage();
    const consoleErrors: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error") consoleErrors.push(m.text());
    });
    // Anything the page fetches must come from nagare itself (no CDN).
    const foreign: string[] = [];
    page.on("request", (r) => {
      if (!r.url().startsWith(base) && !r.url().startsWith("data:")) foreign.push(r.url());
    });

    // ---- sign-in: a wrong password is refused, then the right one
    await page.goto(base + "/");
    await page.waitForSelector("#login-form");
    await page.screenshot({ path: join(SHOTS, "signin.png") });
    await page.fill("#login-user", "admin");
    await page.fill("#login-password", "not-the-password");
    await page.click("#login-submit");
    await waitText(page, "#login-error", /wrong user or password/);
    await signIn(page, base, "admin", ADMIN_PASSWORD);

    // ---- the first page after sign-in: the ready-made Overview dashboard, every widget drawn
    // (traffic, top src/dst AS, protocols, ports, exporters, interfaces, live).
    await page.waitForFunction(
      () =>
        (globalThis as unknown as { location: { hash: string } }).location.hash.startsWith(
          "#/dashboards/overview",
        ),
      null,
      { timeout: 10_000 },
    );
    await waitWidgetsReady(page, 8, 30_000);
    await page.screenshot({ path: join(SHOTS, "overview.png"), fullPage: true });

    // ---- live: the numbers change from one second to the next
    await page.goto(`${base}/#/live`);
    await page.waitForSelector("#page-live");
    await waitText(page, "#live-flows", /\d/);
    const seen = new Set<string>();
    const until = Date.now() + 10_000;
    while (seen.size < 3 && Date.now() < until) {
      seen.add(`${await page.textContent("#live-bps")}|${await page.textContent("#live-status")}`);
      await sleep(400);
    }
    assert.ok(seen.size >= 3, `live numbers did not change: ${[...seen].join(", ")}`);
    assert.ok((await page.locator("#live-top tr").count()) > 0, "the live TopN table is empty");
    assert.ok(await page.locator("#live-chart canvas").count(), "no live chart drawn");

    // A flow from a new exporter shows in the live TopN (stacked by exporter) within 2 s.
    await page.selectOption("#live-dim", "exporter");
    await waitCount(page, "#live-top tr", 1);
    const collectorPort = nagare!.collectorPort;
    const sock = createSocket("udp4");
    await new Promise<void>((r) => sock.bind(0, "127.0.0.77", () => r()));
    const v9 = new NetflowV9Exporter({ sourceId: 77, samplingRate: 1 }, Date.now() - 60_000);
    const sentAt = Date.now();
    for (const d of v9.encode(new FlowModel(7).flows(20, sentAt), sentAt))
      await new Promise<void>((r, j) => sock.send(d, collectorPort, "127.0.0.1", (e) => (e ? j(e) : r())));
    sock.close();
    await waitText(page, "#live-top", /127\.0\.0\.77/, 2_500);
    const shownAfter = Date.now() - sentAt;
    assert.ok(shownAfter <= 2_500, `new exporter shown after ${shownAfter} ms`);
    await page.screenshot({ path: join(SHOTS, "live.png") });

    // ---- explorer: destination ports of TCP traffic, then drill into the first row
    await page.goto(`${base}/#/explorer?range=15m&dims=dst_port&filter=proto%20tcp&metric=bytes&top=5`);
    await page.waitForSelector("#page-explorer");
    let rows = 0;
    for (let i = 0; i < 20 && rows === 0; i++) {
      await waitText(page, "#ex-status", /^(?!running)/);
      const status = (await page.textContent("#ex-status")) ?? "";
      assert.doesNotMatch(status, /error/, status);
      rows = await page.locator("#ex-rows tr").count();
      if (rows === 0) {
        await sleep(500);
        await page.reload();
      }
    }
    assert.ok(rows > 0, "explorer returned no rows for proto tcp");
    assert.match((await page.textContent("#ex-tz")) ?? "", /time zone: .+\(UTC[+-]\d\d:\d\d\)/);
    assert.equal(await page.inputValue("#ex-filter"), "proto tcp");
    assert.ok(await page.locator("#ex-chart canvas").count(), "no explorer chart drawn");
    await page.screenshot({ path: join(SHOTS, "explorer.png") });
    const firstPort = (
      (await page.locator("#ex-rows tr").first().locator("td").nth(1).textContent()) ?? ""
    ).trim();
    assert.match(firstPort, /^\d+$/);
    await page.locator("#ex-rows tr").first().click();
    await waitText(page, "#ex-filter", new RegExp(`^\\(proto tcp\\) and dst port ${firstPort}$`));
    // The drill-down is in the URL (the state is shareable).
    assert.ok(
      new URLSearchParams(new URL(page.url()).hash.split("?")[1]).get("filter") ===
        `(proto tcp) and dst port ${firstPort}`,
      page.url(),
    );
    await waitText(page, "#ex-status", /^(?!running)/);
    assert.equal(await page.inputValue("#ex-filter"), `(proto tcp) and dst port ${firstPort}`);
    const drilled = await page.locator("#ex-rows tr td:nth-child(2)").allTextContents();
    assert.ok(drilled.length >= 1, "drill-down returned no rows");
    for (const t of drilled)
      assert.ok(t.trim() === firstPort || t.trim() === "other", `row ${t} after drill-down`);
    await page.screenshot({ path: join(SHOTS, "explorer-drilldown.png") });

    // ---- exporters: the three demo exporters (and 127.0.0.77) with their counters
    await page.click("#nav-exporters");
    await waitCount(page, "#exporters-rows tr", 3);
    await waitText(page, "#exporters-rows", /\/s/, 6_000);
    const exporters = (await page.textContent("#exporters-rows")) ?? "";
    assert.match(exporters, /127\.0\.0\.11/);
    assert.match(exporters, /1:\d+/, "sampling rate shown");
    await page.screenshot({ path: join(SHOTS, "exporters.png") });

    // ---- a viewer: created by the admin (CSRF token from /auth/me), refused any write
    const created = await pageFetch(page, "/api/v1/users", {
      method: "POST",
      csrf: await pageCsrf(page),
      body: { name: "watcher", role: "viewer", password: "viewer-password" },
    });
    assert.equal(created.status, 201, created.body);
    await page.click("#logout");
    await page.waitForSelector("#login-form");
    assert.equal(
      (await pageFetch(page, "/api/v1/exporters", {})).status,
      401,
      "logout did not end the session",
    );

    await signIn(page, base, "watcher", "viewer-password");
    assert.equal(await page.textContent("#who"), "watcher (viewer)");
    const vme = JSON.parse((await pageFetch(page, "/api/v1/auth/me", {})).body) as {
      csrf: string;
      role: string;
    };
    assert.equal(vme.role, "viewer");
    const write = await pageFetch(page, "/api/v1/users", {
      method: "POST",
      csrf: vme.csrf,
      body: { name: "mallory", role: "admin", password: "mallory-password" },
    });
    assert.equal(write.status, 403, write.body);
    const del = await pageFetch(page, "/api/v1/users/admin", { method: "DELETE", csrf: vme.csrf });
    assert.equal(del.status, 403, del.body);
    // Reading is allowed: the viewer runs a flow query.
    const q = await pageFetch(page, "/api/v1/flows/query", {
      method: "POST",
      csrf: vme.csrf,
      body: {
        start: Date.now() - 600_000,
        end: Date.now(),
        dimensions: ["protocol"],
        metric: "bytes",
        shape: "table",
        resolution: "auto",
      },
    });
    assert.equal(q.status, 200, q.body);
    await page.screenshot({ path: join(SHOTS, "viewer.png") });

    assert.deepEqual(foreign, [], "the page fetched from outside nagare");
    assert.deepEqual(
      consoleErrors.filter((e) => !/401|403|Failed to load resource/.test(e)),
      [],
    );
    const users = JSON.parse(readFileSync(join(nagare!.dataDir, "users.json"), "utf8")) as {
      users: { name: string }[];
    };
    assert.deepEqual(users.users.map((u) => u.name).sort(), ["admin", "watcher"]);
  },
);

test(
  "ui: a share link opens read-only without sign-in; revoking it ends it",
  { timeout: 120_000 },
  async () => {
    const admin = await ApiClient.login(base, "admin", ADMIN_PASSWORD);
    const dash = await admin.ok<{ id: string }>("POST", "/api/v1/dashboards", {
      name: "Shared: protocols",
      tags: ["e2e"],
      timeRange: { start: "now-15m", end: "now" },
      refreshSec: 0,
      params: [],
      filter: "",
      widgets: [
        {
          id: "w-proto",
          type: "flow",
          title: "Protocols",
          x: 0,
          y: 0,
          w: 6,
          h: 3,
          flow: { dimensions: ["protocol"], metric: "bytes", topN: 5, shape: "table", chart: "table" },
        },
        {
          id: "w-traffic",
          type: "flow",
          title: "Traffic",
          x: 6,
          y: 0,
          w: 6,
          h: 3,
          flow: { dimensions: ["protocol"], metric: "bps", topN: 5, shape: "timeseries", chart: "area" },
        },
        { id: "w-note", type: "text", title: "Note", x: 0, y: 3, w: 12, h: 1, text: "Shared with the NOC" },
      ],
    });

    // ---- the admin opens it and presses Share
    // The first test's context ends signed in as a viewer: a context of the admin's own.
    const actx = await browser!.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await actx.newPage();
    await signIn(page, base, "admin", ADMIN_PASSWORD);
    await page.goto(`${base}/#/dashboards/${dash.id}`);
    await waitWidgetsReady(page, 3);
    await page.screenshot({ path: join(SHOTS, "dashboard.png"), fullPage: true });
    const answer = page.waitForResponse(
      (r) => r.url().endsWith(`/api/v1/dashboards/${dash.id}/share`) && r.request().method() === "POST",
    );
    await page.click("#d-share");
    const resp = await answer;
    assert.equal(resp.status(), 201, await resp.text());
    const share = (await resp.json()) as { token: string; url: string };
    assert.equal(share.url, `/#/share/${share.token}`);
    // The page shows the link to copy (as text or in an input).
    await page.waitForFunction(
      (token) => {
        const d = (
          globalThis as unknown as {
            document: {
              body: { textContent: string | null };
              querySelectorAll(s: string): ArrayLike<{ value: string }>;
            };
          }
        ).document;
        return (
          (d.body.textContent ?? "").includes(token) ||
          Array.from(d.querySelectorAll("input, textarea")).some((i) => i.value.includes(token))
        );
      },
      share.token,
      { timeout: 5_000 },
    );

    await page.screenshot({ path: join(SHOTS, "dashboard-share-panel.png") });

    // ---- a fresh browser context: no cookie, no session
    const anonCtx = await browser!.newContext({ viewport: { width: 1280, height: 900 } });
    try {
      const sp = await anonCtx.newPage();
      const apiCalls: string[] = [];
      sp.on("request", (r) => {
        const u = new URL(r.url());
        if (u.pathname.startsWith("/api/")) apiCalls.push(`${r.method()} ${u.pathname}`);
      });
      await sp.goto(base + share.url);
      await waitWidgetsReady(sp, 3);
      assert.equal(await sp.locator("#login-form").count(), 0, "the share view asked for a sign-in");
      assert.deepEqual(await usable(sp, DASHBOARD_EDIT), [], "edit controls on a shared dashboard");
      assert.match((await sp.textContent("body")) ?? "", /Shared with the NOC/);
      await sp.screenshot({ path: join(SHOTS, "share.png"), fullPage: true });
      // It reads only through the share API (plus, at most, a sign-in probe that gets 401).
      const other = apiCalls.filter((c) => !/ \/api\/v1\/share\//.test(c) && c !== "GET /api/v1/auth/me");
      assert.deepEqual(other, [], "the share view called other APIs");

      // ---- the share API: read-only, this dashboard only
      const got = await anon("GET", `/api/v1/share/${share.token}`);
      assert.equal(got.status, 200, got.text);
      const shared = JSON.parse(got.text) as { dashboard: { id: string; widgets: unknown[] } };
      assert.equal(shared.dashboard.id, dash.id);
      assert.equal(shared.dashboard.widgets.length, 3);
      const run = await anon("POST", `/api/v1/share/${share.token}/widgets/w-proto/run`, {});
      assert.equal(run.status, 200, run.text);
      assert.ok((JSON.parse(run.text) as { rows: unknown[] }).rows.length > 0, "shared widget: no rows");
      for (const [method, path, body] of [
        ["PUT", `/api/v1/share/${share.token}`, { name: "hijacked" }],
        ["DELETE", `/api/v1/share/${share.token}`, undefined],
        ["POST", `/api/v1/share/${share.token}`, {}],
      ] as const) {
        const r = await anon(method, path, body);
        assert.ok(r.status === 403 || r.status === 405, `${method} ${path}: ${r.status} ${r.text}`);
      }
      // The token opens nothing else.
      for (const path of [
        `/api/v1/dashboards/${dash.id}`,
        "/api/v1/dashboards",
        "/api/v1/queries",
        "/api/v1/dashboards/overview",
      ]) {
        const r = await anon("GET", path);
        assert.equal(r.status, 401, `${path} without a session: ${r.status}`);
      }
      const sql = await anon("POST", "/api/v1/sql", { sql: "SELECT 1" });
      assert.equal(sql.status, 401, sql.text);
      const name = (await admin.ok<{ name: string }>("GET", `/api/v1/dashboards/${dash.id}`)).name;
      assert.equal(name, "Shared: protocols");

      // ---- revoke (an editor's action): the link stops working, page and API
      const shares = await admin.ok<{ token: string; revoked: boolean }[]>(
        "GET",
        `/api/v1/dashboards/${dash.id}/shares`,
      );
      assert.deepEqual(
        shares.map((s) => [s.token, s.revoked]),
        [[share.token, false]],
      );
      // Revoked with the share panel's button (still open on the admin's page).
      const row = page.locator(`#d-share-list tr[data-token="${share.token}"]`);
      await row.locator(".d-share-revoke").click();
      await page.waitForFunction(
        (token) =>
          (
            (
              globalThis as unknown as {
                document: { querySelector(s: string): { textContent: string | null } | null };
              }
            ).document.querySelector(`#d-share-list tr[data-token="${token}"]`)?.textContent ?? ""
          ).includes("revoked"),
        share.token,
        { timeout: 5_000 },
      );
      const revoked = await admin.ok<{ token: string; revoked: boolean }[]>(
        "GET",
        `/api/v1/dashboards/${dash.id}/shares`,
      );
      assert.deepEqual(
        revoked.map((s) => [s.token, s.revoked]),
        [[share.token, true]],
      );
      const gone = await anon("GET", `/api/v1/share/${share.token}`);
      assert.equal(gone.status, 404, gone.text);
      const goneRun = await anon("POST", `/api/v1/share/${share.token}/widgets/w-proto/run`, {});
      assert.equal(goneRun.status, 404, goneRun.text);
      await sp.reload();
      await sleep(1500);
      const after = await widgetStates(sp);
      assert.equal(after.filter((w) => w.state === "ready").length, 0, "revoked link still draws widgets");
      assert.match((await sp.textContent("body")) ?? "", /revoked|not found|no such|invalid|expired/i);
      await sp.screenshot({ path: join(SHOTS, "share-revoked.png") });
    } finally {
      await anonCtx.close();
    }

    // ---- full-screen (NOC wall) mode of the same dashboard: drawn, no edit controls
    await page.goto(`${base}/#/dashboards/${dash.id}?fullscreen=1`);
    await waitWidgetsReady(page, 3);
    assert.deepEqual(await usable(page, DASHBOARD_EDIT), [], "edit controls shown in full-screen mode");
    await page.screenshot({ path: join(SHOTS, "fullscreen.png") });
    await actx.close();
  },
);

test(
  "ui: a viewer has no edit controls; forced writes fail in the UI and at the API",
  { timeout: 120_000 },
  async () => {
    const admin = await ApiClient.login(base, "admin", ADMIN_PASSWORD);
    await admin.ok(
      "POST",
      "/api/v1/users",
      { name: "noc", role: "viewer", password: "noc-viewer-password" },
      201,
    );
    const saved = await admin.ok<{ id: string; version: number }>("POST", "/api/v1/queries", {
      name: "Flows per protocol",
      sql: "SELECT protocol, count(*) AS flows FROM flows GROUP BY 1 ORDER BY 2 DESC",
      tags: ["e2e"],
    });
    assert.equal(saved.version, 1);

    const vctx = await browser!.newContext({ viewport: { width: 1280, height: 900 } });
    try {
      const page = await vctx.newPage();
      await signIn(page, base, "noc", "noc-viewer-password");
      assert.equal(await page.textContent("#who"), "noc (viewer)");

      // ---- dashboards: drawn, but nothing to edit, share or save
      await page.goto(`${base}/#/dashboards/overview`);
      await waitWidgetsReady(page, 8, 30_000);
      assert.deepEqual(await usable(page, DASHBOARD_EDIT), [], "a viewer got dashboard edit controls");

      // ---- a saved query: the viewer may run it, not save, fork or add a visualization
      await page.goto(`${base}/#/queries/${saved.id}`);
      await page.waitForSelector("#q-editor");
      assert.deepEqual(await usable(page, QUERY_EDIT), [], "a viewer got query write controls");
      assert.deepEqual(await usable(page, ["#q-run"]), ["#q-run"], "a viewer cannot run a query");
      await page.click("#q-run");
      await waitText(page, "#q-results", /\d/, 15_000);
      await page.screenshot({ path: join(SHOTS, "viewer-query.png") });

      // Forced from the UI: a save button made usable by hand is refused by the server.
      const forced = await page.evaluate(() => {
        const b = (
          globalThis as unknown as {
            document: {
              querySelector(s: string): {
                disabled?: boolean;
                hidden: boolean;
                style: { display: string };
                removeAttribute(a: string): void;
                click(): void;
              } | null;
            };
          }
        ).document.querySelector("#q-save");
        if (!b) return false;
        b.disabled = false;
        b.hidden = false;
        b.style.display = "";
        b.removeAttribute("disabled");
        b.click();
        return true;
      });
      if (forced) {
        await waitText(page, "body", /403|forbidden|not allowed|permission|viewer/i, 5_000);
      }
      // Forced from the page with its own session and CSRF token: what any UI write would send.
      const csrf = await pageCsrf(page);
      const writes: [string, string, unknown][] = [
        ["PUT", `/api/v1/queries/${saved.id}`, { name: "changed by a viewer" }],
        ["POST", "/api/v1/queries", { name: "viewer's", sql: "SELECT 1" }],
        ["POST", `/api/v1/queries/${saved.id}/fork`, {}],
        ["DELETE", `/api/v1/queries/${saved.id}`, undefined],
        ["POST", "/api/v1/dashboards", { name: "viewer's", widgets: [] }],
        ["PUT", "/api/v1/dashboards/overview", { name: "changed by a viewer" }],
        ["DELETE", "/api/v1/dashboards/overview", undefined],
        ["POST", "/api/v1/dashboards/overview/share", {}],
      ];
      for (const [method, path, body] of writes) {
        const r = await pageFetch(page, path, { method, body, csrf });
        assert.equal(r.status, 403, `viewer ${method} ${path} from the page: ${r.status} ${r.body}`);
      }

      // ---- at the API from outside the browser, with the viewer's session
      const viewer = await ApiClient.login(base, "noc", "noc-viewer-password");
      for (const [method, path, body] of writes) {
        const r = await viewer.call(method, path, body);
        assert.equal(r.status, 403, `viewer ${method} ${path}: ${r.status} ${r.text}`);
      }
      // Reads and runs are allowed.
      await viewer.ok("GET", "/api/v1/queries");
      await viewer.ok("GET", `/api/v1/queries/${saved.id}`);
      await viewer.ok("GET", "/api/v1/dashboards/overview");
      const ran = await viewer.ok<{ rows: unknown[] }>("POST", `/api/v1/queries/${saved.id}/run`, {});
      assert.ok(ran.rows.length > 0, "the viewer's run returned no rows");

      // Nothing changed.
      const after = await admin.ok<{ version: number; name: string }>("GET", `/api/v1/queries/${saved.id}`);
      assert.deepEqual([after.version, after.name], [1, "Flows per protocol"]);
      const overview = await admin.ok<{ name: string }>("GET", "/api/v1/dashboards/overview");
      assert.notEqual(overview.name, "changed by a viewer");
    } finally {
      await vctx.close();
    }
  },
);

test("ui: an 8-widget dashboard over 30 days of flows is fully drawn", { timeout: 240_000 }, async () => {
  // A second nagare, on a store holding a month written by writeHistory (the
  // small version of `npm run bench -- dashboard`; no time assertion here).
  const dir = mkdtempSync(join(tmpdir(), "nagare-ui-month-"));
  let month: NagareProc | null = null;
  const mctx = await browser!.newContext({ viewport: { width: 1600, height: 1000 } });
  try {
    const meta = await fillStore(dir, { flows: 30_000, days: 30, seed: 5 });
    assert.ok(meta.rows >= 30_000, `history wrote ${meta.rows} rows`);
    month = await startOnStore(dir);
    const api = await ApiClient.login(month.base, "admin", ADMIN_PASSWORD);
    const id = await createBenchDashboard(api);
    const page = await mctx.newPage();
    await signIn(page, month.base, "admin", ADMIN_PASSWORD);
    const t = await loadDashboard(page, month.base, id, 120_000);
    assert.equal(t.widgets, 8);
    await waitWidgetsReady(page, 8);
    await page.screenshot({ path: join(SHOTS, "dashboard-month.png"), fullPage: true });

    // What the tables show is what the flow query API answers for the month.
    const top = async (dim: string): Promise<string> => {
      const r = await api.ok<{ rows: unknown[][]; columns: { name: string }[] }>(
        "POST",
        "/api/v1/flows/query",
        {
          start: Date.now() - 30 * 86_400_000,
          end: Date.now(),
          resolution: "auto",
          dimensions: [dim],
          metric: "bytes",
          topN: 10,
          shape: "table",
        },
      );
      const k = r.columns.findIndex((c) => c.name === dim);
      const other = r.columns.findIndex((c) => c.name === "other");
      const first = r.rows.find((row) => row[other] === false);
      assert.ok(first, `no ${dim} rows over the month`);
      return String(first[k]);
    };
    const text = async (wid: string): Promise<string> =>
      (await page.locator(`.widget[data-widget-id="${wid}"]`).textContent()) ?? "";
    const port = await top("dst_port");
    assert.ok((await text("w-ports")).includes(port), `top dst port ${port} not in the ports widget`);
    const exporter = await top("exporter_address");
    assert.ok(
      (await text("w-exporters")).includes(exporter),
      `top exporter ${exporter} not in the exporters widget`,
    );
  } finally {
    await mctx.close();
    await month?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
