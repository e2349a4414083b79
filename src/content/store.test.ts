// ContentStore on a real temporary directory: versions, baseVersion
// conflicts, fork, restore, search, share links, Overview once, and that all
// of it survives a reload from disk (a restart).
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { overviewDashboard } from "./overview.js";
import { ContentStore } from "./store.js";
import { ContentError } from "./validate.js";

const dir = mkdtempSync(join(tmpdir(), "nagare-content-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function fresh(name: string): ContentStore {
  const s = new ContentStore(join(dir, name));
  s.load();
  return s;
}

function status(fn: () => unknown): number {
  try {
    fn();
  } catch (err) {
    if (err instanceof ContentError) return err.status;
    throw err;
  }
  return 0;
}

test("queries: create, update keeps every version, baseVersion conflict, restore, fork", () => {
  const s = fresh("q");
  const q = s.createQuery(
    {
      name: "Top talkers",
      sql: "SELECT src_addr, sum(bytes) FROM flows WHERE protocol = {{ proto }} GROUP BY 1",
      tags: ["traffic", "traffic", " ops "],
      params: [{ name: "proto", type: "number", default: 6 }],
      visualizations: [
        { id: "v1", type: "bar", name: "Bars", options: { x: "src_addr", y: ["b"], junk: 1 } },
      ],
      schedule: { intervalSec: 300 },
      bogus: "dropped",
    },
    "ed",
  );
  assert.equal(q.version, 1);
  assert.match(q.id, /^[A-Za-z0-9_-]{12}$/);
  assert.deepEqual(q.tags, ["traffic", "ops"]);
  assert.deepEqual(q.visualizations[0]!.options, { x: "src_addr", y: ["b"] });
  assert.equal((q as unknown as Record<string, unknown>).bogus, undefined);
  assert.equal(q.createdBy, "ed");
  assert.equal(q.forkedFrom, null);

  const v2 = s.updateQuery(q.id, { name: "Top talkers (TCP)" }, "al", 1);
  assert.equal(v2.version, 2);
  assert.equal(v2.sql, q.sql, "fields not named stay");
  assert.equal(v2.updatedBy, "al");
  assert.equal(v2.createdBy, "ed");
  assert.equal(
    status(() => s.updateQuery(q.id, { name: "stale" }, "ed", 1)),
    409,
  );
  const v3 = s.updateQuery(q.id, { sql: "SELECT 1" }, "ed");
  assert.equal(v3.version, 3);
  assert.deepEqual(
    s.queryVersions(q.id).map((v) => [v.version, v.name]),
    [
      [3, "Top talkers (TCP)"],
      [2, "Top talkers (TCP)"],
      [1, "Top talkers"],
    ],
  );
  assert.equal(s.queryVersion(q.id, 1).sql, q.sql);
  const v4 = s.restoreQuery(q.id, 1, "vi");
  assert.equal(v4.version, 4);
  assert.equal(v4.sql, q.sql);
  assert.equal(v4.name, "Top talkers");
  assert.equal(
    status(() => s.queryVersion(q.id, 99)),
    404,
  );

  const f = s.forkQuery(q.id, "al");
  assert.equal(f.name, "Copy of Top talkers");
  assert.equal(f.forkedFrom, q.id);
  assert.equal(f.version, 1);
  assert.equal(f.schedule, null, "a fork does not double the scheduled load");
  assert.notEqual(f.id, q.id);

  // Validation answers 400 naming the field.
  assert.equal(
    status(() => s.createQuery({ name: "x" }, "ed")),
    400,
  );
  assert.equal(
    status(() => s.createQuery({ name: "", sql: "SELECT 1" }, "ed")),
    400,
  );
  assert.equal(
    status(() => s.createQuery({ name: "x", sql: "SELECT 1", schedule: { intervalSec: 5 } }, "ed")),
    400,
  );
  assert.equal(
    status(() => s.createQuery({ name: "x", sql: "SELECT 1", tags: "a" }, "ed")),
    400,
  );
  assert.equal(
    status(() => s.createQuery({ name: "x", sql: "SELECT 1", params: [{ name: "a;", type: "text" }] }, "ed")),
    400,
  );
  assert.equal(
    status(() =>
      s.createQuery({ name: "x", sql: "SELECT 1", visualizations: [{ id: "v", type: "3d" }] }, "ed"),
    ),
    400,
  );
  assert.equal(
    status(() => s.getQuery("../../etc/passwd")),
    404,
  );

  // Search over name/description/sql/tags, and by tag.
  s.createQuery({ name: "DNS", description: "port 53 traffic", sql: "SELECT 53", tags: ["dns"] }, "ed");
  assert.deepEqual(
    s.listQueries("port 53").map((x) => x.name),
    ["DNS"],
  );
  assert.deepEqual(
    s
      .listQueries("SRC_ADDR")
      .map((x) => x.id)
      .sort(),
    [q.id, f.id].sort(),
    "case-insensitive, in the sql",
  );
  assert.deepEqual(
    s.listQueries("", "dns").map((x) => x.name),
    ["DNS"],
  );
  assert.deepEqual(
    s
      .listQueries("", "ops")
      .map((x) => x.id)
      .sort(),
    [q.id, f.id].sort(),
  );
  assert.equal(s.listQueries("no such text").length, 0);

  // Reload from disk: same content, all versions.
  const r = fresh("q");
  assert.deepEqual(r.getQuery(q.id), v4);
  assert.equal(r.queryVersions(q.id).length, 4);
  assert.equal(r.listQueries().length, 3);

  s.deleteQuery(f.id);
  assert.equal(
    status(() => s.getQuery(f.id)),
    404,
  );
  assert.equal(fresh("q").listQueries().length, 2);
  // Atomic writes leave no temporary files.
  assert.deepEqual(
    readdirSync(join(dir, "q", "queries")).filter((x) => !x.endsWith(".json")),
    [],
  );
});

test("dashboards: versions, widget checks; share links: create, find, revoke, persist", () => {
  const s = fresh("d");
  const d = s.createDashboard(
    {
      name: "NOC",
      timeRange: { start: "now-24h", end: "now" },
      refreshSec: 30,
      widgets: [
        { id: "w1", type: "text", title: "Hi", x: 0, y: 0, w: 4, h: 2, text: "<b>not html</b>" },
        {
          id: "w2",
          type: "flow",
          title: "By proto",
          x: 4,
          y: 0,
          w: 8,
          h: 4,
          flow: { dimensions: ["protocol"], metric: "bytes", shape: "timeseries", chart: "area", topN: 5 },
        },
      ],
    },
    "ed",
  );
  assert.equal(d.version, 1);
  assert.equal(d.filter, "");
  assert.equal(d.widgets[0]!.text, "<b>not html</b>", "stored as given; the UI escapes");
  const bad = (w: Record<string, unknown>): number =>
    status(() =>
      s.updateDashboard(
        d.id,
        { widgets: [{ id: "x", type: "text", title: "", x: 0, y: 0, w: 1, h: 1, ...w }] },
        "ed",
      ),
    );
  assert.equal(bad({ x: 8, w: 6 }), 400, "off the 12-column grid");
  assert.equal(bad({ type: "iframe" }), 400);
  assert.equal(bad({ type: "viz" }), 400, "viz needs a queryId");
  assert.equal(
    bad({ type: "flow", flow: { dimensions: [], metric: "evil", shape: "table", chart: "table" } }),
    400,
  );
  assert.equal(
    status(() => s.updateDashboard(d.id, { timeRange: { start: "yesterday", end: "now" } }, "ed")),
    400,
  );
  const d2 = s.updateDashboard(d.id, { filter: "proto tcp" }, "al", 1);
  assert.equal(d2.version, 2);
  assert.equal(d2.widgets.length, 2);
  assert.equal(
    status(() => s.updateDashboard(d.id, { filter: "" }, "al", 1)),
    409,
  );
  assert.equal(s.restoreDashboard(d.id, 1, "ed").filter, "");

  const link = s.createShare(d.id, "ed");
  assert.match(link.token, /^[A-Za-z0-9_-]{32}$/);
  assert.equal(s.share(link.token)!.dashboard.id, d.id);
  assert.equal(s.share("x".repeat(32)), null);
  const other = s.createDashboard({ name: "Other" }, "ed");
  assert.equal(
    status(() => s.revokeShare(other.id, link.token)),
    404,
    "a token is revoked on its own dashboard only",
  );
  assert.deepEqual(
    s.listShares(d.id).map((x) => x.revoked),
    [false],
  );
  // Persisted: a reload knows the link; a revoke survives a reload.
  assert.equal(fresh("d").share(link.token)!.dashboard.name, "NOC");
  s.revokeShare(d.id, link.token);
  assert.equal(s.share(link.token), null);
  assert.equal(fresh("d").share(link.token), null);
  assert.deepEqual(
    fresh("d")
      .listShares(d.id)
      .map((x) => x.revoked),
    [true],
  );
  // Deleting a dashboard revokes its links.
  const l2 = s.createShare(other.id, "ed");
  s.deleteDashboard(other.id);
  assert.equal(s.share(l2.token), null);
  assert.equal(JSON.parse(readFileSync(join(dir, "d", "shares.json"), "utf8")).length, 2);
});

test("Overview: created once on first start, not brought back after a delete", () => {
  const s = fresh("o");
  assert.equal(s.ensureOverview(overviewDashboard), true);
  const o = s.getDashboard("overview");
  assert.equal(o.name, "Overview");
  assert.deepEqual(o.timeRange, { start: "now-6h", end: "now" });
  assert.equal(o.refreshSec, 60);
  const dims = o.widgets.filter((w) => w.type === "flow").map((w) => w.flow!.dimensions.join("+"));
  for (const want of ["protocol", "src_as", "dst_as", "exporter_address", "exporter_address+in_if"])
    assert.ok(dims.includes(want), `Overview has ${want}: ${dims.join(", ")}`);
  assert.ok(dims.some((d) => d.includes("dst_port")));
  const traffic = o.widgets.find((w) => w.type === "flow" && w.flow!.shape === "timeseries")!;
  assert.equal(traffic.flow!.chart, "area");
  assert.ok(o.widgets.some((w) => w.type === "live"));
  assert.equal(s.listDashboards()[0]!.id, "overview");
  assert.equal(fresh("o").ensureOverview(overviewDashboard), false, "second start: exists");
  s.deleteDashboard("overview");
  assert.equal(fresh("o").ensureOverview(overviewDashboard), false, "deleted stays deleted");
  assert.ok(existsSync(join(dir, "o", "state.json")));
});

test("a damaged file is skipped, the rest loads", () => {
  const s = fresh("bad");
  const q = s.createQuery({ name: "ok", sql: "SELECT 1" }, "ed");
  writeFileSync(join(dir, "bad", "queries", "broken.json"), "{not json");
  const r = fresh("bad");
  assert.equal(r.getQuery(q.id).name, "ok");
  assert.equal(r.listQueries().length, 1);
});
