// End-to-end test of the web UI: Debian's Chromium driven by playwright-core
// against a real `nagare start` (compiled CLI, demo traffic over loopback UDP,
// temporary data dir, ephemeral ports).
//
//   sign in → Live: the numbers change each second, and a flow from a new
//   exporter shows in the TopN within 2 s → Explorer: a query with a filter,
//   then a drill-down (click a row = add it to the filter) → Exporters →
//   a viewer's write attempt gets 403 at the API.
//
// Screenshots of each page go to test-output/ui/ (gitignored). Chromium is
// required: the test fails, not skips, when /usr/bin/chromium is missing
// (apt-get install chromium; .ci/run installs it).
import assert from "node:assert/strict";
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { createSocket } from "node:dgram";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { FlowModel, NetflowV9Exporter } from "../src/demo/generator.js";
import { repoRoot } from "./helpers/repo.js";

const CHROMIUM = process.env.NAGARE_CHROMIUM ?? "/usr/bin/chromium";
const ADMIN_PASSWORD = "e2e-admin-password";

const ROOT = repoRoot();
const SHOTS = join(ROOT, "test-output", "ui");
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let dir = "";
let child: ChildProcess | null = null;
let output = "";
let base = "";
let collectorPort = 0;
let ctx: BrowserContext | null = null;

before(async () => {
  assert.ok(
    existsSync(CHROMIUM),
    `Chromium not found at ${CHROMIUM}: install it (apt-get install -y chromium) — this test does not skip`,
  );
  // The UI bundle must be current (npm test builds it; a direct tsx run may not have).
  execFileSync(process.execPath, [join(ROOT, "web", "build.mjs")], { cwd: ROOT, stdio: "inherit" });
  assert.ok(existsSync(join(ROOT, "dist", "src", "cli", "main.js")), "dist/ not built: run npm run build");
  mkdirSync(SHOTS, { recursive: true });
  dir = mkdtempSync(join(tmpdir(), "nagare-ui-"));
  const config = join(dir, "nagare.json");
  writeFileSync(
    config,
    JSON.stringify({
      collector: { listen: ["127.0.0.1:0"], sflowListen: ["127.0.0.1:0"] },
      http: { listen: "127.0.0.1:0" },
      dataDir: join(dir, "data"),
      store: { intervalMs: 500 },
      demo: { enabled: true, idleSeconds: 1, flowsPerSecond: 400 },
    }),
  );
  child = spawn(process.execPath, [join(ROOT, "bin", "nagare.js"), "start", "--config", config], {
    cwd: dir,
    env: { ...process.env, NAGARE_CONFIG: "", NAGARE_ADMIN_PASSWORD: ADMIN_PASSWORD },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout!.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (output += d.toString()));
  const end = Date.now() + 20_000;
  while (Date.now() < end && child.exitCode === null) {
    const http = /web ui: (http:\/\/127\.0\.0\.1:\d+)\//.exec(output);
    const udp = /collector: listening on udp 127\.0\.0\.1:(\d+)/.exec(output);
    if (http && udp && /demo: /.test(output)) {
      base = http[1]!;
      collectorPort = Number(udp[1]);
      break;
    }
    await sleep(50);
  }
  assert.ok(base, `nagare start did not come up (or the UI is not built):\n${output}`);
  assert.match(output, /admin password: from NAGARE_ADMIN_PASSWORD/);
  ctx = await chromium.launchPersistentContext(join(dir, "chromium-profile"), {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    viewport: { width: 1280, height: 900 },
  });
});

after(async () => {
  await ctx?.close().catch(() => undefined);
  if (child && child.exitCode === null) {
    const exited = new Promise((r) => child!.once("exit", r));
    child.kill("SIGTERM");
    await Promise.race([exited, sleep(15_000)]);
    if (child.exitCode === null) child.kill("SIGKILL");
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Fetch from inside the page (its session cookie, its CSRF token when given). */
function pageFetch(
  page: Page,
  path: string,
  init: { method?: string; body?: unknown; csrf?: string | null },
): Promise<{ status: number; body: string }> {
  return page.evaluate(
    async ({ path, init }) => {
      const headers: Record<string, string> = { "Content-Type": "application/json" };
      if (init.csrf) headers["X-CSRF-Token"] = init.csrf;
      const r = await fetch(path, {
        method: init.method ?? "GET",
        headers,
        body: init.body === undefined ? undefined : JSON.stringify(init.body),
      });
      return { status: r.status, body: await r.text() };
    },
    { path, init },
  );
}

// Predicates run in the page, passed as functions (the UI's CSP forbids eval,
// so no string expressions). This file has no DOM types: a minimal view of document.
interface Doc {
  querySelector(s: string): { textContent: string | null; value?: string } | null;
  querySelectorAll(s: string): { length: number };
}

/** Wait until the text (or, for an input, the value) of `selector` matches `re`. */
async function waitText(page: Page, selector: string, re: RegExp, timeout = 10_000): Promise<void> {
  await page.waitForFunction(
    ({ selector, source, flags }) => {
      const e = (globalThis as unknown as { document: Doc }).document.querySelector(selector);
      return !!e && new RegExp(source, flags).test(e.value ?? e.textContent ?? "");
    },
    { selector, source: re.source, flags: re.flags },
    { timeout },
  );
}

/** Wait until `selector` matches at least `n` elements. */
async function waitCount(page: Page, selector: string, n: number, timeout = 10_000): Promise<void> {
  await page.waitForFunction(
    ({ selector, n }) =>
      (globalThis as unknown as { document: Doc }).document.querySelectorAll(selector).length >= n,
    { selector, n },
    { timeout },
  );
}

async function signIn(page: Page, user: string, password: string): Promise<void> {
  await page.goto(base + "/");
  await page.waitForSelector("#login-form");
  await page.fill("#login-user", user);
  await page.fill("#login-password", password);
  await page.click("#login-submit");
  await page.waitForSelector("#who");
  assert.match((await page.textContent("#who")) ?? "", new RegExp(`^${user} \\(`));
}

test("ui: sign in, live, explorer with drill-down, exporters, viewer 403", { timeout: 120_000 }, async () => {
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
  await signIn(page, "admin", ADMIN_PASSWORD);

  // ---- live: the numbers change from one second to the next
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
  const me = JSON.parse((await pageFetch(page, "/api/v1/auth/me", {})).body) as { csrf: string };
  const created = await pageFetch(page, "/api/v1/users", {
    method: "POST",
    csrf: me.csrf,
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

  await signIn(page, "watcher", "viewer-password");
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
  const users = JSON.parse(readFileSync(join(dir, "data", "users.json"), "utf8")) as {
    users: { name: string }[];
  };
  assert.deepEqual(users.users.map((u) => u.name).sort(), ["admin", "watcher"]);
});
