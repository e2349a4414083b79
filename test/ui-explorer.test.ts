// End-to-end test of the explorer (web/src/explorer.ts, completion.ts):
// Debian's Chromium driven by playwright-core against a real `nagare start`
// fed by the demo generator over loopback UDP (test/helpers/nagare-proc.ts).
//
//   1. filter completion by keyboard and mouse: keywords the grammar allows,
//      then values from GET /api/v1/flows/values — the same values, in the
//      same order, as the API answers for that column under the filter typed
//      before it — and the query it builds runs.
//   2. every chart type with the previous period and the 95th percentile:
//      canvases / SVG drawn, the table's total 95th equals the percentile
//      of the API's own time series, drill-down from a legend entry, a small
//      chart's title and a Sankey link; the state survives in the URL.
//
// Screenshots go to test-output/ui/explorer-*.png. Chromium is required: the
// test fails, not skips, when /usr/bin/chromium is missing.
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import { percentile95 } from "../src/query/planner/percentile.js";
import {
  ADMIN_PASSWORD,
  ApiClient,
  ensureBuilt,
  launchChromium,
  signIn,
  startNagare,
  waitText,
  type NagareProc,
} from "./helpers/nagare-proc.js";
import { repoRoot } from "./helpers/repo.js";

const SHOTS = join(repoRoot(), "test-output", "ui");
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let nagare: NagareProc | null = null;
let browser: Browser | null = null;
let page: Page;
let api: ApiClient;
/** When nagare (and its demo traffic) had started (epoch ms). */
let dataFrom = 0;

before(async () => {
  ensureBuilt();
  mkdirSync(SHOTS, { recursive: true });
  browser = await launchChromium();
  nagare = await startNagare();
  dataFrom = Date.now();
  api = await ApiClient.login(nagare.base, "admin", ADMIN_PASSWORD);
  page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  await signIn(page, nagare.base, "admin", ADMIN_PASSWORD);
  // Demo traffic in the store: at least a few TCP destination ports over the last minutes.
  const until = Date.now() + 30_000;
  for (;;) {
    const r = await api.ok<{ rows: unknown[][] }>("POST", "/api/v1/flows/query", {
      start: Date.now() - 900_000,
      end: Date.now(),
      resolution: "auto",
      dimensions: ["dst_port"],
      filter: "proto tcp",
      metric: "bytes",
      shape: "table",
      topN: 5,
    });
    if (r.rows.length >= 3) break;
    assert.ok(Date.now() < until, "no demo traffic reached the store in 30 s");
    await sleep(500);
  }
});

after(async () => {
  await browser?.close().catch(() => undefined);
  await nagare?.stop();
});

async function open(query: string): Promise<void> {
  await page.goto(`${nagare!.base}/#/explorer?${query}`);
  await page.waitForSelector("#page-explorer");
  await waitText(page, "#ex-status", /^(?!running)/, 20_000);
  const status = (await page.textContent("#ex-status")) ?? "";
  assert.doesNotMatch(status, /^error/, status);
}
const popup = (): Promise<string[]> => page.locator("#ex-completion li .label").allTextContents();
const filter = (): Promise<string> => page.inputValue("#ex-filter");

test("filter completion: grammar keywords, then values from the API, by keyboard and mouse", async () => {
  await open("range=15m&dims=dst_port&metric=bytes&top=5");
  await page.click("#ex-filter");
  await page.keyboard.type("pro");
  await page.waitForSelector("#ex-completion:not([hidden])");
  assert.deepEqual(await popup(), ["proto"]);
  await page.keyboard.press("Tab");
  assert.equal(await filter(), "proto ");
  // After "proto ": protocol names; ↓ picks the first starting with "t" once typed.
  await page.keyboard.type("t");
  await page.waitForTimeout(400);
  assert.equal((await popup())[0], "tcp");
  await page.keyboard.press("ArrowDown");
  await page.keyboard.press("Enter");
  assert.equal(await filter(), "proto tcp ");
  assert.deepEqual((await popup()).slice(0, 2), ["and", "or"]);

  // A value position: the popup lists the API's top destination ports of TCP traffic, in its order.
  // The very answer the page got is captured: the demo traffic keeps moving the ranking, so a
  // second API call a moment later may order the tail (or even the top two) differently.
  const answered = page.waitForResponse(
    (r) => r.url().includes("/api/v1/flows/values") && r.url().includes("column=dst_port"),
    { timeout: 10_000 },
  );
  await page.keyboard.type("and dst port ");
  await page.waitForFunction(
    () => {
      const d = (globalThis as unknown as { document: { querySelectorAll(s: string): ArrayLike<unknown> } })
        .document;
      return d.querySelectorAll("#ex-completion li.value").length > 0;
    },
    null,
    { timeout: 10_000 },
  );
  const shown = (await page.locator("#ex-completion li.value .label").allTextContents()).map(Number);
  const res = await answered;
  const asked = new URL(res.url());
  assert.match(
    asked.searchParams.get("filter") ?? "",
    /^proto tcp\s*$/,
    "values asked under the filter typed so far",
  );
  const viaPage = (await res.json()) as { rows: [number, number][] };
  assert.ok(shown.length >= 3, `ports offered: ${shown.join(" ")}`);
  // Exactly the API's answer, in its order (ports by bytes, largest first).
  assert.deepEqual(
    shown,
    viaPage.rows.slice(0, shown.length).map((r) => r[0]),
  );
  // Operators follow the values.
  assert.ok((await popup()).includes("in ["));
  await page.screenshot({ path: join(SHOTS, "explorer-completion.png") });
  await page.keyboard.press("ArrowDown");
  await page.keyboard.press("Enter");
  assert.equal(await filter(), `proto tcp and dst port ${shown[0]} `);
  await page.keyboard.press("Escape");
  assert.ok(await page.locator("#ex-completion").isHidden());

  // Mouse: "or" then a click on "src" then on "port".
  await page.keyboard.type("o");
  await page.locator("#ex-completion li", { hasText: "or" }).first().click();
  await page.locator("#ex-completion li .label", { hasText: /^src$/ }).click();
  await page.locator("#ex-completion li .label", { hasText: /^port$/ }).click();
  assert.equal(await filter(), `proto tcp and dst port ${shown[0]} or src port `);
  await page.keyboard.type("443");
  await page.keyboard.press("Escape");
  // Enter with nothing picked runs the query; the filter lands in the URL.
  await page.keyboard.press("Enter");
  await waitText(page, "#ex-status", /^(?!running)/, 20_000);
  assert.match(
    decodeURIComponent(page.url()),
    new RegExp(`filter=proto\\+tcp\\+and\\+dst\\+port\\+${shown[0]}`),
  );
  assert.doesNotMatch((await page.textContent("#ex-status")) ?? "", /^error/);
  assert.ok((await page.locator("#ex-rows tr").count()) > 0);
});

test("chart types, previous period, 95th percentile, drill-down", async () => {
  // An absolute range of whole seconds just past, while the demo traffic flowed, so the
  // page and this test see the same flows; the store commits every 500 ms.
  if (Date.now() - dataFrom < 15_000) await sleep(15_000 - (Date.now() - dataFrom));
  const end = Math.floor(Date.now() / 1000) * 1000 - 2000;
  const start = Math.max(Math.ceil(dataFrom / 1000) * 1000 + 2000, end - 30_000);
  const local = (ms: number): string => {
    const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
    return d.toISOString().slice(0, 19);
  };
  await sleep(1000);
  const range = `range=custom&from=${local(start)}&to=${local(end)}`;

  for (const chart of ["area", "lines", "grid", "table"]) {
    await open(`${range}&dims=protocol&metric=bps&top=3&chart=${chart}&prev=1&p95=1`);
    const rows = await page.locator("#ex-rows tr").count();
    assert.ok(rows > 0, chart);
    const canvases = await page.locator("#ex-chart canvas").count();
    if (chart === "table") assert.equal(canvases, 0);
    else if (chart === "grid") assert.equal(canvases, rows, "one small chart per series");
    else assert.equal(canvases, 1);
    const head = await page.locator("#ex-table thead th").allTextContents();
    assert.ok(head.includes("95th") && head.includes("previous") && head.includes("change"), head.join("|"));
    if (chart !== "table") {
      // The legend names the 95th line (area: of the total; lines: one per series).
      const legend = (await page.locator("#ex-chart").textContent()) ?? "";
      assert.match(legend, /95th/);
      if (chart !== "grid") assert.match(legend, /previous/);
    }
    await page.screenshot({ path: join(SHOTS, `explorer-${chart}.png`), fullPage: true });
  }
  assert.match((await page.textContent("#ex-tz")) ?? "", /time zone: .+\(UTC[+-]\d\d:\d\d\)/);

  // The total's 95th in the table is the 95th of the API's own series (under an hour: one sample per bucket).
  const ts = await api.ok<{ resolutionMs: number; columns: { name: string }[]; rows: unknown[][] }>(
    "POST",
    "/api/v1/flows/query",
    {
      start,
      end,
      resolution: "auto",
      dimensions: ["protocol"],
      metric: "bps",
      topN: 3,
      shape: "timeseries",
    },
  );
  const ti = ts.columns.findIndex((c) => c.name === "time_ms");
  const vi = ts.columns.findIndex((c) => c.name === "value");
  const total = new Map<number, number>();
  for (const r of ts.rows) total.set(Number(r[ti]), (total.get(Number(r[ti])) ?? 0) + Number(r[vi]));
  const times = [...total.keys()].sort((a, b) => a - b);
  const p = percentile95(
    times.map((t) => total.get(t)!),
    times.map((t) => t / 1000),
    ts.resolutionMs,
    true,
  );
  assert.ok(p.value > 0);
  // The page prints it with SI prefixes and three significant digits ("1.23 Mb/s").
  const shown = /^([\d.]+) ([kMGTP]?)b\/s$/.exec((await page.textContent("#ex-p95-total")) ?? "");
  assert.ok(shown, "the total's 95th is a bit rate");
  const value = Number(shown[1]) * 1000 ** " kMGTP".indexOf(shown[2] || " ");
  assert.ok(Math.abs(value - p.value) / p.value < 0.006, `page ${shown[0]} vs API series ${p.value}`);

  // Drill-down from a legend entry (lines).
  await open(`${range}&dims=protocol&metric=bps&top=3&chart=lines`);
  const first = ((await page.locator("#ex-rows tr").first().locator("td").nth(1).textContent()) ?? "").trim();
  await page.locator("#ex-chart .u-legend tr.u-series", { hasText: first }).first().click();
  await waitText(page, "#ex-filter", /^proto \d+$/);
  assert.match(decodeURIComponent(page.url()), /chart=lines/);
  await waitText(page, "#ex-status", /^(?!running)/, 20_000);
  assert.deepEqual(await page.locator("#ex-rows tr td:nth-child(2)").allTextContents(), [first]);

  // Drill-down from a small chart's title (grid).
  await open(`${range}&dims=dst_port&metric=bytes&top=4&chart=grid&filter=proto+tcp`);
  const port = ((await page.locator("#ex-rows tr").first().locator("td").nth(1).textContent()) ?? "").trim();
  await page.locator(".ex-cell h4.pickable").first().click();
  await waitText(page, "#ex-filter", new RegExp(`^\\(proto tcp\\) and dst port ${port}$`));

  // Sankey: one link per TopN pair; a link adds both values.
  await open(`${range}&dims=protocol,dst_port&metric=bytes&top=8&chart=sankey`);
  const pairs = await page.locator("#ex-rows tr").count();
  const links = await page.locator("#ex-chart svg.sankey path.link").count();
  const hasOther = (await page.locator("#ex-rows tr", { hasText: "other" }).count()) > 0;
  assert.equal(links, pairs - (hasOther ? 1 : 0));
  await page.screenshot({ path: join(SHOTS, "explorer-sankey.png"), fullPage: true });
  await page.locator("#ex-chart svg.sankey path.link").first().click({ force: true });
  await waitText(page, "#ex-filter", /^proto \d+ and dst port \d+$/);
  await waitText(page, "#ex-status", /^(?!running)/, 20_000);
  assert.equal(await page.locator("#ex-chart svg.sankey path.link").count(), 1);

  // Sankey with one dimension says what it needs.
  await open(`${range}&dims=protocol&chart=sankey`);
  assert.match((await page.textContent("#ex-sankey-error")) ?? "", /exactly 2 dimensions/);
});
