// A real `nagare start` (the compiled CLI, bin/nagare.js) in a child process
// for end-to-end tests and benchmarks: a temporary config with ephemeral
// loopback ports, the admin password from NAGARE_ADMIN_PASSWORD, the ports
// read back from its log. Also the Chromium launcher the browser tests share,
// and small HTTP helpers that sign in the way the web UI does.
//
// Why a child process and not the app in-process: the browser tests must see
// exactly what a user sees (the built bundle, the served CSP, the CLI's
// start-up), and a benchmark must not share the event loop with its driver.
import assert from "node:assert/strict";
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { repoRoot } from "./repo.js";

export const CHROMIUM = process.env.NAGARE_CHROMIUM ?? "/usr/bin/chromium";
export const ADMIN_PASSWORD = "e2e-admin-password";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface NagareOptions {
  /** Demo traffic (the generator over loopback UDP); false = none. Default: on, 400 flows/s. */
  demo?: false | { flowsPerSecond?: number; idleSeconds?: number };
  adminPassword?: string;
  /**
   * Extra config merged (deeply) over the test defaults, e.g. `{ store: { path, retention } }`.
   * The defaults: collector and HTTP on 127.0.0.1:0, dataDir <dir>/data, store.intervalMs 500.
   */
  config?: Record<string, unknown>;
  /** Working directory (config, data dir); default a fresh temp dir removed by stop(). */
  dir?: string;
  /** How long start-up may take. */
  startTimeoutMs?: number;
}

export interface NagareProc {
  /** http://127.0.0.1:PORT (the web UI and the API). */
  base: string;
  /** The NetFlow/IPFIX UDP port on 127.0.0.1. */
  collectorPort: number;
  dir: string;
  dataDir: string;
  adminPassword: string;
  /** The API bearer token (<dataDir>/api-token, generated at first start). */
  token: string;
  /** Everything the process printed so far (stdout and stderr). */
  output(): string;
  /** SIGTERM, then SIGKILL after 15 s; removes the temp dir unless `dir` was given. */
  stop(): Promise<void>;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function merge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    out[k] = isObject(prev) && isObject(v) ? merge(prev, v) : v;
  }
  return out;
}

/**
 * Build the web bundle (a direct tsx run may not have) and check the CLI is
 * compiled. Both are what `npm test` / `npm run build` produce.
 */
export function ensureBuilt(): void {
  const root = repoRoot();
  execFileSync(process.execPath, [join(root, "web", "build.mjs")], { cwd: root, stdio: "inherit" });
  assert.ok(existsSync(join(root, "dist", "src", "cli", "main.js")), "dist/ not built: run npm run build");
}

export async function startNagare(opts: NagareOptions = {}): Promise<NagareProc> {
  const root = repoRoot();
  const ownDir = opts.dir === undefined;
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), "nagare-e2e-"));
  mkdirSync(dir, { recursive: true });
  const dataDir = join(dir, "data");
  const adminPassword = opts.adminPassword ?? ADMIN_PASSWORD;
  const demo = opts.demo ?? {};
  let config: Record<string, unknown> = {
    collector: { listen: ["127.0.0.1:0"], sflowListen: ["127.0.0.1:0"] },
    http: { listen: "127.0.0.1:0" },
    dataDir,
    store: { intervalMs: 500 },
    demo:
      demo === false
        ? { enabled: false }
        : { enabled: true, idleSeconds: demo.idleSeconds ?? 1, flowsPerSecond: demo.flowsPerSecond ?? 400 },
  };
  if (opts.config) config = merge(config, opts.config);
  const configPath = join(dir, "nagare.json");
  writeFileSync(configPath, JSON.stringify(config, null, 2));

  const child: ChildProcess = spawn(
    process.execPath,
    [join(root, "bin", "nagare.js"), "start", "--config", configPath],
    {
      cwd: dir,
      env: { ...process.env, NAGARE_CONFIG: "", NAGARE_ADMIN_PASSWORD: adminPassword },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let output = "";
  child.stdout!.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (output += d.toString()));

  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await Promise.race([exited, sleep(15_000)]);
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    }
    if (ownDir) rmSync(dir, { recursive: true, force: true });
  };

  let base = "";
  let collectorPort = 0;
  const end = Date.now() + (opts.startTimeoutMs ?? 30_000);
  while (Date.now() < end && child.exitCode === null) {
    const http = /web ui: (http:\/\/127\.0\.0\.1:\d+)\//.exec(output);
    const udp = /collector: listening on udp 127\.0\.0\.1:(\d+)/.exec(output);
    if (http && udp && (demo === false || /demo: /.test(output))) {
      base = http[1]!;
      collectorPort = Number(udp[1]);
      break;
    }
    await sleep(50);
  }
  if (!base) {
    await stop();
    assert.fail(`nagare start did not come up (or the UI is not built):\n${output}`);
  }
  const tokenPath = join(dataDir, "api-token");
  const tokenEnd = Date.now() + 5_000;
  while (!existsSync(tokenPath) && Date.now() < tokenEnd) await sleep(50);
  const token = existsSync(tokenPath) ? readFileSync(tokenPath, "utf8").trim() : "";
  return { base, collectorPort, dir, dataDir, adminPassword, token, output: () => output, stop };
}

/** Debian's Chromium, headless. Fails (never skips) when it is missing. */
export async function launchChromium(): Promise<Browser> {
  assert.ok(
    existsSync(CHROMIUM),
    `Chromium not found at ${CHROMIUM}: install it (apt-get install -y chromium) — this test does not skip`,
  );
  return chromium.launch({
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
  });
}

/** An HTTP answer: status and parsed JSON body (or the raw text when it is not JSON). */
export interface Answer<T = unknown> {
  status: number;
  body: T;
  text: string;
}

/**
 * A client of the API from Node: a bearer token, or a session cookie and its
 * CSRF token (what the browser holds after sign-in).
 */
export class ApiClient {
  constructor(
    readonly base: string,
    private readonly auth: { token: string } | { cookie: string; csrf: string | null },
  ) {}

  /** Sign in as the web UI does (POST /api/v1/auth/login) and keep the session. */
  static async login(base: string, user: string, password: string): Promise<ApiClient> {
    const r = await fetch(`${base}/api/v1/auth/login`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ user, password }),
    });
    const text = await r.text();
    assert.equal(r.status, 200, `login ${user}: ${r.status} ${text}`);
    const cookie = (r.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
    assert.ok(cookie, "login set no session cookie");
    const me = JSON.parse(text) as { csrf?: string | null };
    return new ApiClient(base, { cookie, csrf: me.csrf ?? null });
  }

  async call<T = unknown>(method: string, path: string, body?: unknown): Promise<Answer<T>> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if ("token" in this.auth) headers.Authorization = `Bearer ${this.auth.token}`;
    else {
      headers.Cookie = this.auth.cookie;
      if (this.auth.csrf) headers["X-CSRF-Token"] = this.auth.csrf;
    }
    const r = await fetch(this.base + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON (CSV, HTML): keep the text
    }
    return { status: r.status, body: parsed as T, text };
  }

  /** call() that must answer `want` (default 2xx); returns the body. */
  async ok<T = unknown>(method: string, path: string, body?: unknown, want?: number): Promise<T> {
    const a = await this.call<T>(method, path, body);
    if (want === undefined)
      assert.ok(a.status >= 200 && a.status < 300, `${method} ${path}: ${a.status} ${a.text}`);
    else assert.equal(a.status, want, `${method} ${path}: ${a.status} ${a.text}`);
    return a.body;
  }
}

// ---- browser-side helpers -------------------------------------------------------
//
// Predicates run in the page, passed as functions: the UI's CSP forbids eval,
// so no string expressions. This file has no DOM types: a minimal view of the
// document is declared for the functions that run in the page.

interface El {
  textContent: string | null;
  value?: string;
  getAttribute(name: string): string | null;
  querySelectorAll(s: string): ArrayLike<El>;
}
interface Doc {
  querySelector(s: string): El | null;
  querySelectorAll(s: string): ArrayLike<El>;
}
// The page functions are serialized into the page, so each repeats the cast of globalThis.

/** Fetch from inside the page (its session cookie; its CSRF token when given). */
export function pageFetch(
  page: Page,
  path: string,
  init: { method?: string; body?: unknown; csrf?: string | null } = {},
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

/** The page's CSRF token (GET /api/v1/auth/me with its session). */
export async function pageCsrf(page: Page): Promise<string> {
  const me = JSON.parse((await pageFetch(page, "/api/v1/auth/me")).body) as { csrf: string };
  return me.csrf;
}

/** Wait until the text (or, for an input, the value) of `selector` matches `re`. */
export async function waitText(page: Page, selector: string, re: RegExp, timeout = 10_000): Promise<void> {
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
export async function waitCount(page: Page, selector: string, n: number, timeout = 10_000): Promise<void> {
  await page.waitForFunction(
    ({ selector, n }) =>
      (globalThis as unknown as { document: Doc }).document.querySelectorAll(selector).length >= n,
    { selector, n },
    { timeout },
  );
}

/** Sign in through the login form; the page is on the UI's first page after it. */
export async function signIn(page: Page, base: string, user: string, password: string): Promise<void> {
  await page.goto(base + "/");
  await page.waitForSelector("#login-form");
  await page.fill("#login-user", user);
  await page.fill("#login-password", password);
  await page.click("#login-submit");
  await page.waitForSelector("#who");
  assert.match((await page.textContent("#who")) ?? "", new RegExp(`^${user} \\(`));
}

/** Widget states of the dashboard on the page: id → data-state (and the text of errored ones). */
export async function widgetStates(page: Page): Promise<{ id: string; state: string; text: string }[]> {
  return page.evaluate(() =>
    Array.from(
      (globalThis as unknown as { document: Doc }).document.querySelectorAll(".widget[data-widget-id]"),
    ).map((w) => ({
      id: w.getAttribute("data-widget-id") ?? "",
      state: w.getAttribute("data-state") ?? "",
      text: (w.textContent ?? "").slice(0, 300),
    })),
  );
}

/**
 * Wait until at least `n` widgets are drawn (data-state="ready"); fails at once,
 * naming it, when a widget reports data-state="error".
 */
export async function waitWidgetsReady(page: Page, n: number, timeout = 30_000): Promise<void> {
  const end = Date.now() + timeout;
  let last: { id: string; state: string; text: string }[] = [];
  while (Date.now() < end) {
    last = await widgetStates(page);
    const bad = last.filter((w) => w.state === "error");
    assert.deepEqual(bad, [], `dashboard widgets in error: ${JSON.stringify(bad)}`);
    if (last.length >= n && last.filter((w) => w.state === "ready").length >= n) return;
    await sleep(100);
  }
  assert.fail(`fewer than ${n} widgets ready after ${timeout} ms: ${JSON.stringify(last)}`);
}

/**
 * Put `sql` into the query editor (#q-editor): a textarea or a contenteditable,
 * or a wrapper around one (an editor with highlighting keeps its text in one).
 */
export async function setEditor(page: Page, sql: string): Promise<void> {
  await page.waitForSelector("#q-editor");
  const target = await page.evaluate(() => {
    const e = (globalThis as unknown as { document: Doc }).document.querySelector("#q-editor") as unknown as {
      tagName: string;
      isContentEditable?: boolean;
      querySelector(s: string): unknown;
    } | null;
    if (!e) return "";
    if (e.tagName === "TEXTAREA" || e.tagName === "INPUT" || e.isContentEditable) return "#q-editor";
    if (e.querySelector("textarea")) return "#q-editor textarea";
    return "#q-editor [contenteditable]";
  });
  assert.ok(target, "no #q-editor");
  await page.click(target);
  await page.fill(target, sql);
}

/** The text of the query editor (whatever it is made of). */
export async function editorText(page: Page): Promise<string> {
  return page.evaluate(() => {
    const e = (globalThis as unknown as { document: Doc }).document.querySelector("#q-editor");
    if (!e) return "";
    const ta = e.querySelectorAll("textarea")[0];
    return e.value ?? ta?.value ?? e.textContent ?? "";
  });
}

/**
 * Main-thread freeze monitor, installed in the page: PerformanceObserver
 * 'longtask' entries (tasks over 50 ms, with their duration) and a
 * requestAnimationFrame gap monitor (the longest time between two frames:
 * what the user sees as a frozen page, even when the work is split into
 * tasks the observer does not attribute).
 */
export async function startFreezeMonitor(page: Page): Promise<void> {
  await page.evaluate(() => {
    const g = globalThis as unknown as {
      __freeze?: { longtasks: number[]; maxGap: number; running: boolean; frames: number };
      requestAnimationFrame(cb: (t: number) => void): number;
    };
    const state = { longtasks: [] as number[], maxGap: 0, running: true, frames: 0 };
    g.__freeze = state;
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) state.longtasks.push(e.duration);
      // Node's types know no "longtask" entry type; Chromium does.
    }).observe({ type: "longtask" } as never);
    let prev = performance.now();
    const tick = (t: number): void => {
      if (!state.running) return;
      state.maxGap = Math.max(state.maxGap, t - prev);
      state.frames++;
      prev = t;
      g.requestAnimationFrame(tick);
    };
    g.requestAnimationFrame(tick);
  });
}

export interface FreezeReport {
  longtasks: number[];
  maxLongtaskMs: number;
  maxFrameGapMs: number;
  frames: number;
}

export async function readFreezeMonitor(page: Page): Promise<FreezeReport> {
  return page.evaluate(() => {
    const s = (
      globalThis as unknown as {
        __freeze?: { longtasks: number[]; maxGap: number; running: boolean; frames: number };
      }
    ).__freeze;
    if (!s) throw new Error("freeze monitor not started");
    return {
      longtasks: s.longtasks,
      maxLongtaskMs: Math.max(0, ...s.longtasks),
      maxFrameGapMs: s.maxGap,
      frames: s.frames,
    };
  });
}

/**
 * The rows the virtualized results grid (web/src/grid.ts) holds in the DOM:
 * row index (data-row) and the text of each cell, in row order.
 */
export async function gridRows(page: Page, container: string): Promise<{ row: number; cells: string[] }[]> {
  return page.evaluate((container) => {
    const d = (globalThis as unknown as { document: Doc }).document;
    return Array.from(d.querySelectorAll(`${container} [data-row]`))
      .map((r) => ({
        row: Number(r.getAttribute("data-row")),
        cells: Array.from(r.querySelectorAll(".vgrid-cell")).map((c) => (c.textContent ?? "").trim()),
      }))
      .sort((a, b) => a.row - b.row);
  }, container);
}

/**
 * Wait until the grid in `container` holds row `index` (data-row) in the DOM
 * with its data: a row whose page is still being fetched shows "…".
 */
export async function waitGridRow(
  page: Page,
  container: string,
  index: number,
  timeout = 20_000,
): Promise<void> {
  await page.waitForFunction(
    ({ container, index }) => {
      const r = (globalThis as unknown as { document: Doc }).document.querySelector(
        `${container} [data-row="${index}"]`,
      );
      if (!r) return false;
      const first = (r.querySelectorAll(".vgrid-cell")[0]?.textContent ?? "").trim();
      return first !== "" && first !== "…";
    },
    { container, index },
    { timeout },
  );
}

/** Run `fn`; when it throws, save a screenshot of `page` as test-output/ui/FAILED-<name>.png first. */
export async function shotOnFailure<T>(page: Page, name: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const dir = join(repoRoot(), "test-output", "ui");
    mkdirSync(dir, { recursive: true });
    await page.screenshot({ path: join(dir, `FAILED-${name}.png`), fullPage: true }).catch(() => undefined);
    throw err;
  }
}
