// The Exporters page's enrichment part in Debian's Chromium (playwright-core):
// a real HttpApi serving the built web UI, with the /api/v1/enrichment routes
// over an interface source fed with a real IOS-XR capture's options data and
// a static entry, and one source in error. The page must show every source
// with its state and error, and, per exporter, the interfaces with names,
// descriptions and speeds. Fails (never skips) when Chromium is missing.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { FlowDecoder } from "../src/collector/decoder.js";
import { parseIp } from "../src/collector/ip.js";
import { CollectorStats } from "../src/collector/stats.js";
import { RecordSink } from "../src/collector/types.js";
import { parseListen, type ListenAddress } from "../src/config/address.js";
import { HttpApi } from "../src/api/server.js";
import { HttpAuth } from "../src/api/auth-http.js";
import { UserStore } from "../src/api/auth.js";
import { createInterfaceSource, validateInterfacesConfig } from "../src/enrich/interfaces/index.js";
import { EnrichmentRoutes } from "../src/enrich/routes.js";
import type { SourceState } from "../src/enrich/types.js";
import { readUnitDatagrams, unit } from "./helpers/captures.js";
import { launchChromium, signIn, waitText } from "./helpers/nagare-proc.js";
import { repoRoot } from "./helpers/repo.js";

const ROOT = repoRoot();
const dir = mkdtempSync(join(tmpdir(), "nagare-enrich-ui-"));
let api: HttpApi;
let browser: Browser | null = null;
let base = "";

const src = createInterfaceSource(
  validateInterfacesConfig({
    static: {
      "192.0.2.1": { "517": { name: "xe-0/0/1", description: "Transit: NTT [10G]", speedBps: 10e9 } },
    },
  }),
);
const broken: SourceState = {
  name: "geoip:asn",
  kind: "geoip",
  status: "error",
  entries: 0,
  updatedMs: null,
  errors: 3,
  lastError: "ENOENT: /nonexistent/asn.mmdb",
};

before(async () => {
  execFileSync(process.execPath, [join(ROOT, "web", "build.mjs")], { cwd: ROOT, stdio: "ignore" });
  const decoder = new FlowDecoder({ stats: new CollectorStats() });
  const sink = new RecordSink(
    () => {},
    (r) => src.options(r),
  );
  for (const d of readUnitDatagrams(unit("pmacct__500__traffic-00")))
    decoder.decode(
      d.payload,
      { exporter: d.srcAddr, exporterIp: parseIp(d.srcAddr)!, receivedMs: d.timeMs },
      sink,
    );
  const users = new UserStore(join(dir, "data"));
  await users.set("vi", "viewer", "viewer-password");
  api = new HttpApi({
    listen: parseListen("127.0.0.1:0") as ListenAddress,
    token: "t0ken-for-tests-0123456789",
    stats: new CollectorStats(),
    auth: new HttpAuth({ users, sessionTtlMs: 3600_000, secureCookies: false }),
    webDir: join(ROOT, "web", "dist"),
    modules: [new EnrichmentRoutes({ states: () => [...src.state(), broken], interfaces: src })],
  });
  await api.start();
  base = `http://${api.address}`;
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await api.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** No DOM lib here: the little of an element the row reader needs. */
interface Row {
  querySelectorAll(s: string): ArrayLike<{ textContent: string | null }>;
}

/** The cells' text of every row matching `selector`. */
function cellsOf(page: Page, selector: string): Promise<string[][]> {
  return page.$$eval(selector, (trs) =>
    trs.map((tr) =>
      Array.from((tr as unknown as Row).querySelectorAll("td")).map((td) => td.textContent ?? ""),
    ),
  );
}

test("Exporters page: enrichment sources and interfaces per exporter", async () => {
  const page = await browser!.newPage();
  await signIn(page, base, "vi", "viewer-password");
  await page.goto(base + "/#/exporters");
  await waitText(page, "#enrichment-sources", /interfaces:options/);
  const rows = await cellsOf(page, "#enrichment-sources tr");
  const byName = new Map(rows.map((r) => [r[0], r]));
  // source, kind, state, entries, age, errors, last error
  assert.deepEqual(byName.get("interfaces:options")?.slice(1, 4), ["options", "loaded", "4"]);
  assert.deepEqual(byName.get("interfaces:static")?.slice(1, 4), ["static", "loaded", "1"]);
  assert.deepEqual(byName.get("snmp")?.slice(1, 3), ["snmp", "disabled"]);
  assert.deepEqual(byName.get("geoip:asn"), [
    "geoip:asn",
    "geoip",
    "error",
    "0",
    "never",
    "3",
    broken.lastError,
  ]);

  await waitText(page, "#enrichment-interfaces", /198\.51\.100\.54 — 4 interface/);
  await page.click('#enrichment-interfaces details[data-exporter="192.0.2.1"] summary');
  const [cells] = await cellsOf(page, '#enrichment-interfaces details[data-exporter="192.0.2.1"] tbody tr');
  assert.deepEqual(cells, ["517", "xe-0/0/1", "Transit: NTT [10G]", "10.0 Gbps", "static"]);
  const xr = await cellsOf(page, '#enrichment-interfaces details[data-exporter="198.51.100.54"] tbody tr');
  assert.deepEqual(xr[0], ["42", "TenGigE0_0_0_0", "TenGigE0/0/0/0", "–", "options"]);
  await page.close();
});
