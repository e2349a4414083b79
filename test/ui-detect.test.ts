// End-to-end test of the detection pages of the web UI (web/src/attacks.ts,
// alerts.ts, anomaly.ts): Debian's Chromium driven by playwright-core against
// a real `nagare start` fed by the demo generator over loopback UDP
// (test/helpers/nagare-proc.ts).
//
//   1. Attacks: the page draws (ongoing list or its empty state); an attack
//      sent with `nagare gen` (DNS amplification towards one host) against
//      the running collector shows in the list, and its detail page shows the
//      fingerprint, the per-second chart and the Flowspec / RTBH texts — the
//      same as GET /api/v1/attacks/:id — and links to the explorer on the target.
//   2. Alerts: a webhook rule to a real HTTP server run by this test is
//      created through the form; "Test" delivers to that server and the
//      outcome shows, then in the History tab; silence and unsilence; a
//      viewer sees the rule with every edit control disabled (and gets 403);
//      delete.
//   3. Anomalies: the page draws the traffic and the score chart of the total
//      traffic with as many points as GET /api/v1/anomalies/series answers;
//      the explorer's "anomaly score" overlay draws under the chart, lined up
//      with it; a dashboard flow widget with "anomaly": true draws it too.
//
// Screenshots go to test-output/ui/detect-*.png. Chromium is required: the
// test fails, not skips, when /usr/bin/chromium is missing. Nothing is
// mocked: a page whose endpoint is not served fails its assertion.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import type { AlertRule, Attack, NotificationRecord } from "../src/detect/types.js";
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
  type NagareProc,
} from "./helpers/nagare-proc.js";
import { repoRoot } from "./helpers/repo.js";

const ROOT = repoRoot();
const SHOTS = join(ROOT, "test-output", "ui");
const TARGET = "100.64.0.7";
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let nagare: NagareProc | null = null;
let browser: Browser | null = null;
let page: Page;
let api: ApiClient;

/** Requests the webhook receiver got. */
const received: { method: string; url: string; type: string; body: string }[] = [];
let hook: Server | null = null;
let hookUrl = "";

before(async () => {
  ensureBuilt();
  mkdirSync(SHOTS, { recursive: true });
  hook = createServer((req, res) => {
    let body = "";
    req.on("data", (d: Buffer) => (body += d.toString()));
    req.on("end", () => {
      received.push({
        method: req.method ?? "",
        url: req.url ?? "",
        type: req.headers["content-type"] ?? "",
        body,
      });
      res.writeHead(200, { "Content-Type": "application/json" }).end('{"ok":true}');
    });
  });
  await new Promise<void>((r) => hook!.listen(0, "127.0.0.1", r));
  hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`;
  browser = await launchChromium();
  nagare = await startNagare();
  api = await ApiClient.login(nagare.base, "admin", ADMIN_PASSWORD);
  page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  page.on("dialog", (d) => void d.accept());
  await signIn(page, nagare.base, "admin", ADMIN_PASSWORD);
});

after(async () => {
  await browser?.close().catch(() => undefined);
  await nagare?.stop();
  await new Promise((r) => hook?.close(r));
});

const shot = (name: string): Promise<Buffer> =>
  page.screenshot({ path: join(SHOTS, `detect-${name}.png`), fullPage: true });

/** Open a page and wait until it says how it went (data-state on <main>): ready, missing (404) or error. */
async function open(hash: string, main: string): Promise<string> {
  await page.goto(`${nagare!.base}/${hash}`);
  await page.waitForSelector(`#${main}[data-state]`, { timeout: 20_000 });
  return (await page.getAttribute(`#${main}`, "data-state")) ?? "";
}

/** `nagare gen` against the running collector; resolves when it exits. */
function gen(args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [join(ROOT, "bin", "nagare.js"), "gen", "--to", `127.0.0.1:${nagare!.collectorPort}`, ...args],
      { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
    );
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    child.on("exit", (code) => resolve({ code, output }));
  });
}

test(
  "attacks page: the list, then an attack sent with nagare gen, its fingerprint and mitigation",
  { timeout: 150_000 },
  async () => {
    // The page draws whatever the server says: a list (maybe empty) — never a blank page.
    const first = await open("#/attacks", "page-attacks");
    await shot("attacks-list");
    const status = (await page.textContent("#attacks-status")) ?? "";
    assert.equal(first, "ready", `the attacks page did not load: ${status}`);
    assert.ok(
      (await page.locator("#attacks-ongoing, #attacks-ongoing-empty").count()) === 1,
      "neither the ongoing list nor its empty state is shown",
    );

    // DNS amplification towards one host: 12 s at 1000 flows/s (of ~25 packets of 1400 bytes each,
    // sampled 1:1000, so ~25 M packets/s as the router saw it: far over the default host threshold)
    // on top of 300 flows/s of background, starting 10 s after gen starts (docs/gen.md).
    const sent = gen([
      "--rate",
      "300",
      "--duration",
      "26s",
      "--attack-kind",
      "dns",
      "--attack-target",
      TARGET,
      "--attack-rate",
      "1000",
      "--attack-duration",
      "12s",
      "--attack-every",
      "1m",
    ]);
    const targetRe = new RegExp(`^${TARGET.replace(/\./g, "\\.")}/`);
    const row = page
      .locator("tr[data-attack-id]")
      .filter({ has: page.locator("a.attack-target", { hasText: targetRe }) });
    await row.first().waitFor({ timeout: 45_000 });
    await shot("attacks-detected");
    const id = (await row.first().getAttribute("data-attack-id")) ?? "";
    assert.ok(id);
    const g = await sent;
    assert.equal(g.code, 0, `nagare gen failed:\n${g.output}`);

    await row.first().locator("a.attack-target").click();
    await page.waitForSelector("#page-attacks[data-state=ready] #attack-fingerprint", { timeout: 20_000 });
    const a = await api.ok<Attack>("GET", `/api/v1/attacks/${encodeURIComponent(id)}`);
    assert.ok(a.target.prefix.startsWith(`${TARGET}/`), a.target.prefix);
    assert.ok(a.fingerprint.vectors.includes("dns_amplification"), JSON.stringify(a.fingerprint.vectors));
    // The page shows the detector's answer.
    await waitText(page, "#attack-target", new RegExp(`^${TARGET.replace(/\./g, "\\.")}/`));
    assert.match((await page.textContent("#fp-vectors")) ?? "", /dns_amplification/);
    assert.match((await page.textContent("#fp-protocols")) ?? "", /udp/i);
    // Reflectors answer from port 53: the top source port of the fingerprint.
    assert.match((await page.textContent("#fp-src-ports tbody tr:first-child td:first-child")) ?? "", /^53$/);
    assert.ok((await page.locator("#fp-sources tbody tr").count()) > 0, "no top sources shown");
    assert.ok(a.mitigation.flowspec.length > 0 && a.mitigation.rtbh.length > 0, JSON.stringify(a.mitigation));
    assert.equal(((await page.textContent("#attack-flowspec")) ?? "").trim(), a.mitigation.flowspec.trim());
    assert.equal(((await page.textContent("#attack-rtbh")) ?? "").trim(), a.mitigation.rtbh.trim());
    assert.match(a.mitigation.flowspec, new RegExp(TARGET.replace(/\./g, "\\.")));
    // The per-second chart: drawn, with the points the API answers (at least the attack's seconds).
    await page.waitForSelector("#attack-chart canvas", { timeout: 10_000 });
    assert.ok(Number(await page.getAttribute("#attack-chart", "data-points")) >= 5);
    await page.click("#attack-flowspec-copy");
    await waitText(page, "#attack-flowspec-copied", /copied|copy failed/);
    await shot("attack-detail");

    // The explorer link: filtered on the target over the attack's time.
    await page.click("#attack-explore");
    await page.waitForSelector("#page-explorer");
    assert.equal(await page.inputValue("#ex-filter"), `dst ip ${TARGET}`);
    await waitText(page, "#ex-status", /^(?!running)/, 20_000);
    assert.doesNotMatch((await page.textContent("#ex-status")) ?? "", /^error/);
    assert.ok(
      (await page.locator("#ex-rows tr").count()) > 0,
      "the explorer shows no flow towards the target",
    );
    await shot("attack-explorer");
  },
);

test(
  "alerts page: webhook rule, Test delivers to a real server, history, silence, viewer read-only",
  { timeout: 120_000 },
  async () => {
    const state = await open("#/alerts", "page-alerts");
    assert.equal(state, "ready", `the alerts page did not load: ${await page.textContent("#al-status")}`);
    await page.click("#al-new");
    await page.fill("#al-name", "e2e webhook");
    await page.selectOption("#al-kind", "attack");
    await page.fill("#al-min-pps", "1000");
    await page.selectOption("#al-dests .al-dest-kind", "webhook");
    await page.fill("#al-dests .al-dest-target", hookUrl);
    await shot("alerts-form");
    await page.click("#al-save");
    const row = page.locator('#al-rules tr[data-rule-name="e2e webhook"]');
    await row.waitFor({ timeout: 10_000 });
    const rules = await api.ok<AlertRule[]>("GET", "/api/v1/alerts/rules");
    const rule = rules.find((r) => r.name === "e2e webhook");
    assert.ok(rule, JSON.stringify(rules));
    assert.deepEqual(rule.destinations, [{ kind: "webhook", target: hookUrl }]);
    assert.equal(rule.source.kind, "attack");
    assert.equal(rule.source.kind === "attack" ? rule.source.minPps : null, 1000);
    assert.match((await row.locator(".al-badges").textContent()) ?? "", /^(ok|unknown|triggered)/);

    // Test: one notification to the real receiver, its outcome in the page.
    const before = received.length;
    await row.locator(".al-test").click();
    await page.waitForSelector('#al-test-table tr[data-outcome="sent"]', { timeout: 20_000 });
    assert.ok(received.length > before, "the webhook receiver got nothing");
    const got = received[received.length - 1]!;
    assert.equal(got.method, "POST");
    assert.equal(got.url, "/hook");
    assert.match(got.type, /json/);
    const payload = JSON.parse(got.body) as unknown;
    assert.match(JSON.stringify(payload), /e2e webhook|test/i);
    await shot("alerts-test");

    // History: the test notification, newest first.
    await page.click("#al-tab-history");
    await page.waitForSelector("#page-alerts[data-state=ready]");
    const hist = await api.ok<NotificationRecord[]>(
      "GET",
      `/api/v1/alerts/history?ruleId=${encodeURIComponent(rule.id)}`,
    );
    assert.ok(
      hist.some((n) => n.state === "test" && n.outcome === "sent"),
      JSON.stringify(hist),
    );
    await page.waitForSelector(`#al-history tr[data-record-id="${hist[0]!.id}"]`, { timeout: 10_000 });
    assert.match(
      (await page.textContent(`#al-history tr[data-record-id="${hist[0]!.id}"]`)) ?? "",
      /e2e webhook/,
    );
    await shot("alerts-history");

    // Silence for 10 minutes, then unsilence.
    await open("#/alerts", "page-alerts");
    await row.locator(".al-silence-minutes").fill("10");
    const t0 = Date.now();
    await row.locator(".al-silence").click();
    await row.locator(".badge.silenced").waitFor({ timeout: 10_000 });
    const silenced = await api.ok<AlertRule>("GET", `/api/v1/alerts/rules/${encodeURIComponent(rule.id)}`);
    assert.ok(silenced.silencedUntil !== null, "silencedUntil not set");
    assert.ok(
      Math.abs(silenced.silencedUntil - (t0 + 600_000)) < 60_000,
      `silencedUntil ${silenced.silencedUntil}`,
    );
    await shot("alerts-silenced");
    await row.locator(".al-unsilence").click();
    await row.locator(".al-silence").waitFor({ timeout: 10_000 });
    assert.equal(await row.locator(".badge.silenced").count(), 0);
    const unsilenced = await api.ok<AlertRule>("GET", `/api/v1/alerts/rules/${encodeURIComponent(rule.id)}`);
    assert.ok(unsilenced.silencedUntil === null || unsilenced.silencedUntil <= Date.now());

    // A viewer: sees the rule, can press nothing that writes, and the server refuses.
    const csrf = await pageCsrf(page);
    const created = await pageFetch(page, "/api/v1/users", {
      method: "POST",
      csrf,
      body: { name: "alert-watcher", role: "viewer", password: "viewer-password" },
    });
    assert.equal(created.status, 201, created.body);
    const vctx = await browser!.newContext({ viewport: { width: 1280, height: 900 } });
    const vpage = await vctx.newPage();
    try {
      await signIn(vpage, nagare!.base, "alert-watcher", "viewer-password");
      await vpage.goto(`${nagare!.base}/#/alerts`);
      await vpage.waitForSelector("#page-alerts[data-state=ready]");
      const vrow = vpage.locator('#al-rules tr[data-rule-name="e2e webhook"]');
      await vrow.waitFor();
      assert.equal(await vpage.isDisabled("#al-new"), true);
      for (const b of [".al-edit", ".al-test", ".al-silence", ".al-delete"])
        assert.equal(await vrow.locator(b).isDisabled(), true, `${b} enabled for a viewer`);
      await vpage.screenshot({ path: join(SHOTS, "detect-alerts-viewer.png"), fullPage: true });
      const vcsrf = await pageCsrf(vpage);
      const w = await pageFetch(vpage, `/api/v1/alerts/rules/${encodeURIComponent(rule.id)}/silence`, {
        method: "POST",
        csrf: vcsrf,
        body: { minutes: 5 },
      });
      assert.equal(w.status, 403, w.body);
    } finally {
      await vctx.close();
    }

    // Delete (the confirm dialog is accepted).
    await row.locator(".al-delete").click();
    await page.waitForSelector('#al-rules-empty, #al-rules:not(:has(tr[data-rule-name="e2e webhook"]))');
    assert.equal((await api.call("GET", `/api/v1/alerts/rules/${encodeURIComponent(rule.id)}`)).status, 404);
  },
);

test("anomalies page and the explorer overlay draw the score chart", { timeout: 150_000 }, async () => {
  // The anomaly service scores closed steps: wait until the total traffic has a scored point.
  type Series = { stepMs: number; points: { t: number; score: number }[] };
  const until = Date.now() + 120_000;
  let total: Series;
  for (;;) {
    const now = Date.now();
    const r = await api.call<Series>(
      "GET",
      `/api/v1/anomalies/series?series=total&key=&start=${now - 86_400_000}&end=${now}`,
    );
    assert.notEqual(r.status, 404, `GET /api/v1/anomalies/series is not served: ${r.text}`);
    assert.equal(r.status, 200, r.text);
    total = r.body;
    if (total.points.length > 0) break;
    assert.ok(Date.now() < until, "no anomaly score of the total traffic after 2 min of demo traffic");
    await sleep(2000);
  }

  const state = await open("#/anomalies?range=24h", "page-anomalies");
  assert.equal(state, "ready", `the anomalies page did not load: ${await page.textContent("#an-status")}`);
  await page.waitForSelector("#an-traffic canvas");
  await page.waitForSelector("#an-score canvas");
  // As many points as the API has for the range (it may have scored one more step since).
  const shown = Number(await page.getAttribute("#an-score", "data-points"));
  assert.ok(
    shown >= total.points.length && shown <= total.points.length + 2,
    `${shown} vs ${total.points.length}`,
  );
  assert.ok((await page.locator("#an-events tr").count()) > 0, "events table empty (not even its empty row)");
  await shot("anomalies");
  // A top series opens its chart.
  const topRows = page.locator("#an-top tr[data-series]");
  if ((await topRows.count()) > 0) {
    const series = (await topRows.first().getAttribute("data-series")) ?? "";
    await topRows.first().click();
    await page.waitForFunction(
      (s) => (globalThis as unknown as { location: { hash: string } }).location.hash.includes(`series=${s}`),
      series,
    );
    await page.waitForSelector("#page-anomalies[data-state=ready] #an-score canvas", { timeout: 20_000 });
  }

  // The explorer: total traffic (no filter) with the overlay; the score chart sits under the traffic chart.
  await page.goto(`${nagare!.base}/#/explorer?range=1h&dims=protocol&metric=bps&top=5&anomaly=1`);
  await page.waitForSelector("#ex-anomaly[data-state=ready] canvas", { timeout: 30_000 });
  assert.equal(await page.isChecked("#ex-anomaly-toggle"), true);
  assert.ok(Number(await page.getAttribute("#ex-anomaly .anomaly-plot", "data-points")) >= 1);
  const boxes = await page.evaluate(() => {
    const d = (
      globalThis as unknown as {
        document: {
          querySelector(
            s: string,
          ): { getBoundingClientRect(): { left: number; top: number; bottom: number; width: number } } | null;
        };
      }
    ).document;
    const a = d.querySelector("#ex-chart .u-over")!.getBoundingClientRect();
    const b = d.querySelector("#ex-anomaly .u-over")!.getBoundingClientRect();
    return {
      a: { left: a.left, width: a.width, bottom: a.bottom },
      b: { left: b.left, width: b.width, top: b.top },
    };
  });
  // Same time axis: the plot areas line up, the score below the traffic.
  assert.ok(Math.abs(boxes.a.left - boxes.b.left) <= 1, JSON.stringify(boxes));
  assert.ok(Math.abs(boxes.a.width - boxes.b.width) <= 1, JSON.stringify(boxes));
  assert.ok(boxes.b.top > boxes.a.bottom, JSON.stringify(boxes));
  await shot("explorer-anomaly-total");

  // Stacked by destination AS: one score line per top AS.
  await page.goto(`${nagare!.base}/#/explorer?range=1h&dims=dst_as&metric=bps&top=5&anomaly=1`);
  await page.waitForSelector("#ex-anomaly[data-state=ready] canvas", { timeout: 30_000 });
  await waitCount(page, "#ex-anomaly .u-legend .u-series", 2);
  await shot("explorer-anomaly-dst-as");

  // A dashboard flow widget with "anomaly": true draws the score under its chart;
  // the server keeps the flag and refuses a non-boolean.
  const flow = { dimensions: ["protocol"], metric: "bps", shape: "timeseries", chart: "area" };
  const dashBody = (anomaly: unknown): unknown => ({
    name: "anomaly overlay",
    timeRange: { start: "now-1h", end: "now" },
    refreshSec: 0,
    params: [],
    filter: "",
    widgets: [{ id: "t", type: "flow", title: "total", x: 0, y: 0, w: 12, h: 5, flow: { ...flow, anomaly } }],
  });
  const bad = await api.call("POST", "/api/v1/dashboards", dashBody("yes"));
  assert.equal(bad.status, 400, bad.text);
  const dash = await api.ok<{ id: string; widgets: { flow?: { anomaly?: boolean } }[] }>(
    "POST",
    "/api/v1/dashboards",
    dashBody(true),
  );
  assert.equal(dash.widgets[0]?.flow?.anomaly, true);
  await page.goto(`${nagare!.base}/#/dashboards/${dash.id}`);
  await page.waitForSelector('.widget[data-widget-id="t"] .w-anomaly[data-state=ready] canvas', {
    timeout: 30_000,
  });
  assert.ok(Number(await page.getAttribute('.widget[data-widget-id="t"] .anomaly-plot', "data-points")) >= 1);
  await shot("dashboard-anomaly");
});
