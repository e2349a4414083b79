// End-to-end test of the Queries pages: Debian's Chromium driven by
// playwright-core against a real `nagare start` fed by the demo generator
// (test/helpers/nagare-proc.ts).
//
//   1. A SQL query with a {{ proto }} parameter is typed into the editor,
//      run with proto = 6, turned into a bar visualization, saved (name,
//      tags, parameter, visualization all stored), found in the list, put on
//      a dashboard whose "proto" parameter feeds it; the dashboard is loaded
//      again and the widget is drawn (data-state="ready") from a run with
//      that parameter — and with another value once the URL changes it.
//   2. A 200,000-row result opens without freezing the page: while it opens
//      and while the table is scrolled to its end, no main-thread task is
//      longer than 200 ms (PerformanceObserver "longtask"; the longest gap
//      between animation frames is reported too), the DOM never holds more
//      than 200 rows, and the last row (199999) shows at the end. Then the
//      CSV of the same query streams: read in the page as a stream, the
//      first chunk comes before the end and there are 200,001 lines.
//
// Screenshots go to test-output/ui/. Chromium is required (the test fails,
// not skips, without /usr/bin/chromium).
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { Browser, BrowserContext, Page } from "playwright-core";
import {
  ADMIN_PASSWORD,
  ApiClient,
  editorText,
  gridRows,
  ensureBuilt,
  launchChromium,
  readFreezeMonitor,
  setEditor,
  shotOnFailure,
  signIn,
  startFreezeMonitor,
  startNagare,
  waitGridRow,
  waitText,
  waitWidgetsReady,
  type NagareProc,
} from "./helpers/nagare-proc.js";
import { repoRoot } from "./helpers/repo.js";

const SHOTS = join(repoRoot(), "test-output", "ui");
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
  ctx = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  await signIn(await ctx.newPage(), base, "admin", ADMIN_PASSWORD);
});

after(async () => {
  await ctx?.close().catch(() => undefined);
  await browser?.close().catch(() => undefined);
  await nagare?.stop();
});

const hashOf = (page: Page): string => new URL(page.url()).hash;

/** Set a parameter's value in the editor's form: #q-param-<name> is the input (or holds one). */
async function setParam(page: Page, name: string, value: string): Promise<void> {
  const sel = `#q-param-${name}`;
  await page.waitForSelector(sel, { timeout: 10_000 });
  const tag = await page.locator(sel).evaluate((e) => (e as unknown as { tagName: string }).tagName);
  if (tag === "SELECT") await page.selectOption(sel, value);
  else if (tag === "INPUT" || tag === "TEXTAREA") await page.fill(sel, value);
  else await page.fill(`${sel} input`, value);
}

/** Rows the results grid holds in the DOM right now (data rows, the header not counted). */
async function domRows(page: Page): Promise<number> {
  return (await gridRows(page, "#q-results")).length;
}

test(
  "queries: a {{ }} parameter → bar visualization → saved → on a dashboard, reloaded",
  { timeout: 180_000 },
  async () => {
    const page = await ctx!.newPage();
    await shotOnFailure(page, "queries-param", async () => {
      const api = await ApiClient.login(base, "admin", ADMIN_PASSWORD);
      const sql =
        "SELECT dst_port, sum(bytes) AS bytes FROM flows WHERE protocol = {{ proto }} GROUP BY 1 ORDER BY 2 DESC LIMIT 10";

      // Demo traffic must be in the store (TCP flows), else the result is empty for a dull reason.
      for (let i = 0; ; i++) {
        const r = await api.ok<{ rows: unknown[][] }>("POST", "/api/v1/sql", {
          sql: "SELECT count(*) FROM flows WHERE protocol = 6",
        });
        if (Number(r.rows[0]?.[0]) > 0) break;
        assert.ok(i < 40, "no TCP flow reached the store in 20 s");
        await sleep(500);
      }

      // ---- type, declare the parameter a number (default 6), run
      await page.goto(`${base}/#/queries/new`);
      await setEditor(page, sql);
      assert.equal(await editorText(page), sql);
      await page.waitForSelector("#q-param-proto");
      await page.click("#q-param-settings");
      const def = page.locator('tr[data-param-def="proto"]');
      await def.locator('select[data-def="type"]').selectOption("number");
      await def.locator('input[data-def="default"]').fill("6");
      // Leaving the field commits it (its change event), which redraws the value form.
      await def.locator('input[data-def="default"]').press("Tab");
      await sleep(200);
      await setParam(page, "proto", "6");
      assert.equal(await page.inputValue("#q-param-proto"), "6");
      // Run: the editor sends the text with the parameter's value and definition, the
      // server renders it; the table shows that answer.
      const answer = page.waitForResponse(
        (r) =>
          r.url().endsWith("/api/v1/sql") &&
          r.request().method() === "POST" &&
          (r.request().postData() ?? "").includes("{{ proto }}"),
        { timeout: 20_000 },
      );
      await page.click("#q-run");
      const resp = await answer;
      assert.equal(resp.status(), 200, await resp.text());
      const sent = JSON.parse(resp.request().postData() ?? "{}") as {
        params?: Record<string, unknown>;
        paramDefs?: { name: string; type: string }[];
      };
      assert.equal(sent.params?.proto, 6);
      assert.deepEqual(
        sent.paramDefs?.map((d) => [d.name, d.type]),
        [["proto", "number"]],
      );
      const got = (await resp.json()) as { rows: unknown[][] };
      assert.ok(got.rows.length > 0, "no TCP destination ports in the store");
      const firstPort = String(got.rows[0]![0]);
      await page.waitForFunction(
        (port) => {
          const c = (
            globalThis as unknown as {
              document: { querySelector(s: string): { textContent: string | null } | null };
            }
          ).document.querySelector('#q-results [data-row="0"] .vgrid-cell');
          return (c?.textContent ?? "").trim() === port;
        },
        firstPort,
        { timeout: 10_000 },
      );
      const shown = await gridRows(page, "#q-results");
      assert.equal(shown.length, got.rows.length);
      // The same text rendered by the server's renderer on its own: a number, safely.
      const rendered = await api.ok<{ sql: string }>("POST", "/api/v1/sql/render", {
        sql,
        params: { proto: 6 },
        paramDefs: [{ name: "proto", type: "number" }],
      });
      assert.match(rendered.sql, /protocol =\s+6\b/);
      const injected = await api.call("POST", "/api/v1/sql/render", {
        sql,
        params: { proto: "6 OR 1=1" },
        paramDefs: [{ name: "proto", type: "number" }],
      });
      assert.equal(injected.status, 400, `a non-number for a number parameter: ${injected.text}`);

      // ---- a bar visualization, name, tags, save
      await page.click("#q-add-viz");
      await page.selectOption("#q-viz-type", "bar");
      await page.waitForSelector("#q-viz canvas, #q-viz svg", { timeout: 10_000 });
      await page.fill("#q-name", "Top TCP ports (e2e)");
      await page.fill("#q-tags", "e2e, ports");
      await page.click("#q-save");
      await page.waitForFunction(
        () => {
          const hash = (globalThis as unknown as { location: { hash: string } }).location.hash;
          return /^#\/queries\/[A-Za-z0-9_-]+/.test(hash) && !hash.startsWith("#/queries/new");
        },
        null,
        { timeout: 10_000 },
      );
      const id = /^#\/queries\/([A-Za-z0-9_-]+)/.exec(hashOf(page))![1]!;
      const saved = await api.ok<{
        name: string;
        sql: string;
        tags: string[];
        params: { name: string; type: string; default?: unknown }[];
        visualizations: { id: string; type: string }[];
        version: number;
      }>("GET", `/api/v1/queries/${id}`);
      assert.equal(saved.name, "Top TCP ports (e2e)");
      assert.equal(saved.sql, sql);
      assert.deepEqual([...saved.tags].sort(), ["e2e", "ports"]);
      assert.deepEqual(
        saved.params.map((p) => [p.name, p.type, p.default]),
        [["proto", "number", 6]],
      );
      const bar = saved.visualizations.find((v) => v.type === "bar");
      assert.ok(bar, `no bar visualization saved: ${JSON.stringify(saved.visualizations)}`);
      await page.screenshot({ path: join(SHOTS, "query-editor-viz.png"), fullPage: true });

      // ---- the list finds it (search and tag)
      await page.goto(`${base}/#/queries`);
      await waitText(page, "#q-list", /Top TCP ports \(e2e\)/);
      await page.screenshot({ path: join(SHOTS, "queries.png"), fullPage: true });
      const found = await api.ok<{ id: string }[]>("GET", "/api/v1/queries?q=TCP%20ports&tag=e2e");
      assert.deepEqual(
        found.map((q) => q.id),
        [id],
      );

      // ---- a new dashboard (its page), then "add to dashboard" from the query's page
      await page.goto(`${base}/#/dashboards`);
      await page.fill("#d-new-name", "Ports by protocol (e2e)");
      await page.click("#d-new");
      await page.waitForFunction(
        () =>
          /^#\/dashboards\/(?!overview)[A-Za-z0-9_-]+/.test(
            (globalThis as unknown as { location: { hash: string } }).location.hash,
          ),
        null,
        { timeout: 10_000 },
      );
      const dashId = /^#\/dashboards\/([A-Za-z0-9_-]+)/.exec(hashOf(page))![1]!;
      await page.goto(`${base}/#/queries/${id}`);
      await page.waitForSelector("#q-editor");
      await page.click("#q-add-to-dashboard");
      await page.waitForSelector("#q-dashboard-select");
      await page.selectOption("#q-dashboard-select", dashId);
      await page.selectOption("#q-dashboard-viz", bar.id);
      await page.click("#q-add-dash-go");
      await page.waitForSelector("#q-dashboard-link", { timeout: 10_000 });
      const dash = await api.ok<{
        params: { name: string; type: string }[];
        widgets: {
          id: string;
          type: string;
          queryId?: string;
          vizId?: string;
          paramMap?: Record<string, string>;
        }[];
      }>("GET", `/api/v1/dashboards/${dashId}`);
      assert.equal(dash.widgets.length, 1);
      const widget = dash.widgets[0]!;
      assert.deepEqual(
        [widget.type, widget.queryId, widget.vizId, widget.paramMap],
        ["viz", id, bar.id, { proto: "proto" }],
      );
      assert.deepEqual(
        dash.params.map((p) => [p.name, p.type]),
        [["proto", "number"]],
      );

      // The widget's run: which parameter it sent and which SQL the server ran.
      const widgetRun = async (load: () => Promise<unknown>): Promise<{ params: unknown; sql: string }> => {
        const resp = page.waitForResponse(
          (r) => r.url().endsWith(`/api/v1/queries/${id}/run`) && r.request().method() === "POST",
          { timeout: 20_000 },
        );
        await load();
        const r = await resp;
        assert.equal(r.status(), 200, await r.text());
        const sent = JSON.parse(r.request().postData() ?? "{}") as { params?: Record<string, unknown> };
        const body = (await r.json()) as { sql: string; rows: unknown[] };
        assert.ok(body.rows.length > 0, "the widget's run returned no rows");
        return { params: sent.params?.proto, sql: body.sql };
      };
      let run = await widgetRun(() => page.goto(`${base}/#/dashboards/${dashId}`));
      await waitWidgetsReady(page, 1);
      // Loaded again from scratch: still drawn, with the parameter's default proto = 6.
      run = await widgetRun(() => page.reload());
      await waitWidgetsReady(page, 1);
      assert.equal(String(run.params), "6");
      assert.match(run.sql, /protocol =\s+6\b/);
      assert.ok(
        await page
          .locator(
            `.widget[data-widget-id="${widget.id}"] canvas, .widget[data-widget-id="${widget.id}"] svg`,
          )
          .count(),
        "the bar widget drew no chart",
      );
      await page.screenshot({ path: join(SHOTS, "dashboard-param.png"), fullPage: true });
      // The parameter is live: UDP from the URL.
      await page.goto("about:blank");
      run = await widgetRun(() => page.goto(`${base}/#/dashboards/${dashId}?p_proto=17`));
      await waitWidgetsReady(page, 1);
      assert.equal(String(run.params), "17");
      assert.match(run.sql, /protocol =\s+17\b/);
      await page.close();
    });
  },
);

test(
  "queries: a 200,000-row result opens and scrolls without freezing; its CSV streams",
  { timeout: 180_000 },
  async (t) => {
    const page = await ctx!.newPage();
    await shotOnFailure(page, "queries-200k", async () => {
      const sql = "SELECT range AS n, range * 2 AS m FROM range(200000) ORDER BY n";
      await page.goto(`${base}/#/queries/new`);
      await setEditor(page, sql);

      // ---- open: run, the first rows show, the page never blocks for 200 ms
      await startFreezeMonitor(page);
      await page.click("#q-run");
      await waitGridRow(page, "#q-results", 0, 30_000);
      assert.deepEqual((await gridRows(page, "#q-results"))[0], { row: 0, cells: ["0", "0"] });
      await sleep(500);
      let maxRows = await domRows(page);
      const opened = await readFreezeMonitor(page);
      t.diagnostic(
        `open: longest task ${opened.maxLongtaskMs.toFixed(0)} ms, longest frame gap ${opened.maxFrameGapMs.toFixed(0)} ms, ${maxRows} DOM rows`,
      );
      assert.ok(maxRows > 0, "the results table shows no row");

      // ---- scroll to the end in steps (as a user dragging the scrollbar), then to the very end
      const scroller = await page.evaluate(() => {
        type E = {
          scrollHeight: number;
          clientHeight: number;
          id: string;
          setAttribute(a: string, v: string): void;
        };
        const d = (globalThis as unknown as { document: { querySelectorAll(s: string): ArrayLike<E> } })
          .document;
        const all = [
          ...Array.from(d.querySelectorAll("#q-results")),
          ...Array.from(d.querySelectorAll("#q-results *")),
        ];
        const s = all.find((e) => e.scrollHeight > e.clientHeight + 50);
        if (!s) return false;
        s.setAttribute("data-e2e-scroller", "1");
        return true;
      });
      assert.ok(scroller, "no scrollable element in #q-results");
      const scrollTo = (f: number): Promise<void> =>
        page.evaluate((f) => {
          const d = (
            globalThis as unknown as {
              document: {
                querySelector(s: string): { scrollTop: number; scrollHeight: number; clientHeight: number };
              };
            }
          ).document;
          const s = d.querySelector("[data-e2e-scroller]");
          s.scrollTop = (s.scrollHeight - s.clientHeight) * f;
        }, f);
      const STEPS = 40;
      for (let k = 1; k <= STEPS; k++) {
        await scrollTo(k / STEPS);
        await sleep(120);
        maxRows = Math.max(maxRows, await domRows(page));
      }
      await scrollTo(1);
      await waitGridRow(page, "#q-results", 199_999);
      await scrollTo(1);
      await sleep(300);
      maxRows = Math.max(maxRows, await domRows(page));
      const all = await readFreezeMonitor(page);
      t.diagnostic(
        `open + scroll: ${all.longtasks.length} long tasks, longest ${all.maxLongtaskMs.toFixed(0)} ms; longest frame gap ${all.maxFrameGapMs.toFixed(0)} ms over ${all.frames} frames; at most ${maxRows} DOM rows`,
      );
      const last = (await gridRows(page, "#q-results")).at(-1);
      assert.deepEqual(last, { row: 199_999, cells: ["199999", "399998"] }, "the last row");
      assert.ok(all.frames > 0, "no animation frame ran");
      assert.ok(
        all.maxLongtaskMs <= 200,
        `a main-thread task took ${all.maxLongtaskMs.toFixed(0)} ms (> 200): ${all.longtasks.map((x) => x.toFixed(0)).join(", ")}`,
      );
      assert.ok(maxRows <= 200, `the DOM held ${maxRows} rows (> 200)`);
      await page.screenshot({ path: join(SHOTS, "query-200k-end.png") });

      // ---- the CSV streams: read as a stream in the page, with its session
      const csv = await page.evaluate(async (q) => {
        const t0 = performance.now();
        const r = await fetch("/api/v1/sql.csv?q=" + encodeURIComponent(q));
        const type = r.headers.get("content-type") ?? "";
        const reader = r.body!.getReader();
        let firstMs = -1;
        let chunks = 0;
        let bytes = 0;
        let lines = 0;
        let head = new Uint8Array(0);
        let tail = new Uint8Array(0);
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          if (firstMs < 0) firstMs = performance.now() - t0;
          chunks++;
          bytes += value.length;
          for (let k = 0; k < value.length; k++) if (value[k] === 10) lines++;
          if (head.length < 64) head = value.slice(0, 64);
          tail = value.slice(Math.max(0, value.length - 64));
        }
        const dec = new TextDecoder();
        return {
          status: r.status,
          type,
          firstMs,
          totalMs: performance.now() - t0,
          chunks,
          bytes,
          lines,
          head: dec.decode(head),
          tail: dec.decode(tail),
        };
      }, sql);
      t.diagnostic(
        `csv: first chunk after ${csv.firstMs.toFixed(0)} ms, whole body ${csv.totalMs.toFixed(0)} ms, ${csv.chunks} chunks, ${csv.bytes} bytes`,
      );
      assert.equal(csv.status, 200);
      assert.match(csv.type, /^text\/csv/);
      assert.equal(csv.lines, 200_001, "header + 200,000 rows");
      assert.ok(csv.head.startsWith("n,m\n0,0\n1,2\n"), csv.head);
      assert.ok(csv.tail.endsWith("\n199999,399998\n"), csv.tail);
      assert.ok(csv.chunks > 1, "the CSV came in one piece");
      assert.ok(csv.firstMs < csv.totalMs, "the first chunk did not come before the whole body");

      // ---- and the editor's download button gives the whole file
      const download = page.waitForEvent("download", { timeout: 30_000 });
      await page.click("#q-download-csv");
      const file = await (await download).path();
      const text = readFileSync(file, "utf8");
      assert.equal(text.split("\n").filter((l) => l !== "").length, 200_001);
      await page.close();
    });
  },
);
