// End to end: a real NetFlow v5 capture sent over UDP to a running App with
// the store on, then queried through the HTTP API (real sockets, ephemeral
// ports, a real DuckDB file in a temp dir).
import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { App } from "../app.js";
import { main, parseStartArgs } from "../cli/main.js";
import { readCapture } from "../collector/capture.js";
import { validateConfig } from "../config/schema.js";
import { silentLogger } from "../log.js";

const CAPTURES = "/work/shared/captures";
const UNIT = "logstash__netflow5_test_microtik";

interface Expected {
  bytes: number;
  packets: number;
  dport: number;
}

function expected(): Expected[] {
  return readFileSync(join(CAPTURES, "expected", `${UNIT}.jsonl`), "utf8")
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Expected & { kind: string });
}

function makeApp(dataDir: string): App {
  const config = validateConfig({
    dataDir,
    collector: { listen: ["127.0.0.1:0"], sflowListen: ["127.0.0.1:0"] },
    http: { listen: "127.0.0.1:0" },
    demo: { enabled: false },
    store: { intervalMs: 100 },
    // Small pages, so the CSV download spans several.
    query: { sql: { maxRows: 7 } },
  });
  return new App({ config, log: silentLogger });
}

async function api(
  app: App,
  method: string,
  path: string,
  body?: unknown,
  token: string | null = app.token!.token,
): Promise<{ status: number; json: Record<string, unknown> & { rows?: unknown[][] } }> {
  const headers: Record<string, string> = { "Content-Type": "application/json" };
  if (token !== null) headers.Authorization = `Bearer ${token}`;
  const r = await fetch(`http://127.0.0.1:${app.http.port}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: r.status, json: (await r.json()) as never };
}

async function sendCapture(app: App): Promise<void> {
  const port = app.collector.bound[0]!.port;
  const sock = createSocket("udp4");
  for (const d of readCapture(join(CAPTURES, `${UNIT}.dat`))) {
    await new Promise<void>((res, rej) =>
      sock.send(d.payload, port, "127.0.0.1", (e) => (e ? rej(e) : res())),
    );
  }
  sock.close();
}

async function until<T>(what: string, f: () => Promise<T | null>, ms = 2000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== null) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const COUNT_SQL = "select count(*) as n, sum(bytes) as b, sum(packets) as p from flows";

test("flows sent over UDP are queryable through the SQL and flow query APIs, and survive a restart", async () => {
  const exp = expected();
  assert.equal(exp.length, 30);
  const totalBytes = exp.reduce((s, r) => s + r.bytes, 0);
  const totalPackets = exp.reduce((s, r) => s + r.packets, 0);
  const dir = mkdtempSync(join(tmpdir(), "nagare-api-query-"));

  const app = makeApp(dir);
  await app.start();
  try {
    await sendCapture(app);
    // Within ~2 s (flush interval 100 ms here, at most 1 s by default) the totals match tshark's decode.
    const row = await until("30 flows in the store", async () => {
      const r = await api(app, "POST", "/api/v1/sql", { sql: COUNT_SQL });
      assert.equal(r.status, 200, JSON.stringify(r.json));
      const first = r.json.rows![0]!;
      return Number(first[0]) === 30 ? first : null;
    });
    assert.deepEqual(row.map(Number), [30, totalBytes, totalPackets]);

    const sql = await api(app, "POST", "/api/v1/sql", { sql: COUNT_SQL });
    assert.deepEqual(
      (sql.json.columns as { name: string }[]).map((c) => c.name),
      ["n", "b", "p"],
    );
    assert.equal(sql.json.nextOffset, null);

    // Paging.
    const page = await api(app, "POST", "/api/v1/sql", {
      sql: "select dst_port from flows order by dst_port, bytes",
      limit: 10,
      offset: 25,
    });
    assert.equal(page.status, 200);
    assert.equal(page.json.rows!.length, 5);
    assert.equal(page.json.nextOffset, null);

    // TopN by dst_port through the planner, against the same totals computed from tshark's decode.
    const byPort = new Map<number, number>();
    for (const r of exp) byPort.set(r.dport, (byPort.get(r.dport) ?? 0) + r.bytes);
    const top = [...byPort.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0]).slice(0, 3);
    const now = Date.now();
    const fq = await api(app, "POST", "/api/v1/flows/query", {
      start: now - 3_600_000,
      end: now + 60_000,
      resolution: "auto",
      dimensions: ["dst_port"],
      metric: "bytes",
      topN: 3,
      shape: "table",
    });
    assert.equal(fq.status, 200, JSON.stringify(fq.json));
    const cols = (fq.json.columns as { name: string }[]).map((c) => c.name);
    const iPort = cols.indexOf("dst_port");
    const iOther = cols.indexOf("other");
    const iBytes = cols.indexOf("value");
    assert.ok(iPort >= 0 && iOther >= 0 && iBytes >= 0, cols.join(","));
    const got = fq.json
      .rows!.filter((r) => r[iOther] !== true)
      .map((r) => [Number(r[iPort]), Number(r[iBytes])])
      .sort((a, b) => b[1]! - a[1]! || a[0]! - b[0]!);
    assert.deepEqual(got, top);
    const other = fq.json.rows!.find((r) => r[iOther] === true);
    assert.equal(Number(other?.[iBytes]), totalBytes - top.reduce((s, t) => s + t[1], 0));
    assert.equal(typeof fq.json.table, "string");
    assert.equal(typeof fq.json.resolutionMs, "number");

    // A filter with an IP (bound as UHUGEINT).
    const filtered = await api(app, "POST", "/api/v1/flows/query", {
      start: now - 3_600_000,
      end: now + 60_000,
      resolution: "auto",
      dimensions: ["protocol"],
      filter: "dst net 192.168.0.0/16",
      metric: "flows",
      shape: "table",
    });
    assert.equal(filtered.status, 200, JSON.stringify(filtered.json));
    const toLan = exp.filter((r) => (r as unknown as { dst: string }).dst.startsWith("192.168.")).length;
    assert.ok(toLan > 0);
    const iFlows = (filtered.json.columns as { name: string }[]).findIndex((c) => c.name === "value");
    assert.equal(
      filtered.json.rows!.reduce((s, r) => s + Number(r[iFlows]), 0),
      toLan,
    );

    // Refusals and errors.
    const refused = await api(app, "POST", "/api/v1/sql", { sql: "select * from read_csv('/etc/passwd')" });
    assert.equal(refused.status, 403, JSON.stringify(refused.json));
    assert.equal(typeof refused.json.error, "string");
    const invalid = await api(app, "POST", "/api/v1/sql", { sql: "select nope from flows" });
    assert.equal(invalid.status, 400);
    const badFilter = await api(app, "POST", "/api/v1/flows/query", {
      start: now - 3_600_000,
      end: now,
      resolution: "auto",
      dimensions: ["dst_port"],
      filter: "proto tcp and port foo",
      metric: "bytes",
      shape: "table",
    });
    assert.equal(badFilter.status, 400);
    assert.equal(badFilter.json.offset, 19);
    const badPlan = await api(app, "POST", "/api/v1/flows/query", {
      start: now - 3_600_000,
      end: now,
      resolution: "auto",
      dimensions: ["nope"],
      metric: "bytes",
      shape: "table",
    });
    assert.equal(badPlan.status, 400);
    assert.equal(badPlan.json.code, "unknown_dimension");
    assert.equal((await api(app, "POST", "/api/v1/sql", "{not json")).status, 400);
    assert.equal((await api(app, "POST", "/api/v1/sql", { sql: "x".repeat(1024 * 1024 + 1) })).status, 413);
    assert.equal((await api(app, "POST", "/api/v1/sql", { sql: COUNT_SQL }, null)).status, 401);
    assert.equal((await api(app, "GET", "/api/v1/views", undefined, null)).status, 401);

    // Views and columns.
    const views = await api(app, "GET", "/api/v1/views");
    assert.ok((views.json as unknown as string[]).includes("flows"));
    const columns = await api(app, "GET", "/api/v1/views/flows/columns");
    assert.ok((columns.json as unknown as { name: string }[]).some((c) => c.name === "dst_port"));
    assert.equal((await api(app, "GET", "/api/v1/views/nope/columns")).status, 404);

    // CSV download, paged internally (maxRows is 7 here: five pages; the whole result comes back).
    const csvRes = await fetch(
      `http://127.0.0.1:${app.http.port}/api/v1/sql.csv?q=${encodeURIComponent("select dst_port, bytes from flows order by dst_port, bytes")}`,
      { headers: { Authorization: `Bearer ${app.token!.token}` } },
    );
    assert.equal(csvRes.status, 200);
    assert.match(csvRes.headers.get("content-type") ?? "", /^text\/csv/);
    const csvLines = (await csvRes.text()).trimEnd().split("\n");
    assert.equal(csvLines[0], "dst_port,bytes");
    assert.deepEqual(
      csvLines.slice(1),
      [...exp].sort((a, b) => a.dport - b.dport || a.bytes - b.bytes).map((r) => `${r.dport},${r.bytes}`),
    );
    const csvRefused = await fetch(
      `http://127.0.0.1:${app.http.port}/api/v1/sql.csv?q=${encodeURIComponent("copy flows to '/tmp/x.csv'")}`,
      { headers: { Authorization: `Bearer ${app.token!.token}` } },
    );
    assert.equal(csvRefused.status, 403);
    // The same whole result as a streamed JSON array of objects (also paged internally).
    const jsonRes = await fetch(
      `http://127.0.0.1:${app.http.port}/api/v1/sql.json?q=${encodeURIComponent("select dst_port, bytes from flows order by dst_port, bytes")}`,
      { headers: { Authorization: `Bearer ${app.token!.token}` } },
    );
    assert.equal(jsonRes.status, 200);
    assert.match(jsonRes.headers.get("content-type") ?? "", /^application\/json/);
    const objs = JSON.parse(await jsonRes.text()) as { dst_port: number; bytes: string }[];
    assert.deepEqual(
      objs.map((o) => `${o.dst_port},${o.bytes}`),
      csvLines.slice(1),
    );

    // The CLI against the running server: nagare top and nagare query.
    const out = {
      text: "",
      write(s: string) {
        this.text += s;
        return true;
      },
    };
    const err = {
      text: "",
      write(s: string) {
        this.text += s;
        return true;
      },
    };
    const io = { out, err, env: {} } as never;
    const url = `http://127.0.0.1:${app.http.port}`;
    assert.equal(
      await main(["top", "--url", url, "--data-dir", dir, "-s", "dstport", "-n", "3"], io),
      0,
      err.text,
    );
    const lines = out.text.trimEnd().split("\n");
    assert.match(lines[0]!, /^Top 3 dstport ordered by bytes/);
    assert.match(lines[1]!, /^#\s+dstport\s+bytes\s+%$/);
    for (const [k, [port, bytes]] of top.entries()) {
      assert.match(lines[2 + k]!, new RegExp(`^${k + 1}\\s+${port}\\s+${bytes}\\s+\\d+\\.\\d%$`));
    }
    assert.match(lines[5]!, /^\s+\(other\)\s+\d+/);
    assert.equal(lines[6], `Summary: total bytes ${totalBytes}`);

    out.text = "";
    assert.equal(
      await main(
        ["top", "--url", url, "--data-dir", dir, "-s", "proto", "--metric", "flows", "proto tcp"],
        io,
      ),
      0,
      err.text,
    );
    const tcp = exp.filter((r) => (r as unknown as { proto: number }).proto === 6).length;
    assert.match(out.text, new RegExp(`\\n1\\s+6\\s+${tcp}\\s+100\\.0%\\n`));

    out.text = "";
    assert.equal(
      await main(["query", "--url", url, "--data-dir", dir, "--format", "csv", COUNT_SQL], io),
      0,
      err.text,
    );
    assert.equal(out.text, `n,b,p\n30,${totalBytes},${totalPackets}\n`);

    assert.equal(await main(["top", "--url", url, "--data-dir", dir, "-s", "dstport", "port foo"], io), 1);
    assert.match(err.text, /400: filter: unexpected "foo" at 5/);
    assert.equal(await main(["top", "--url", url, "-s", "nope"], io), 2);
  } finally {
    await app.stop();
  }

  // A clean stop flushed everything: a new App on the same data dir answers the same totals.
  const again = makeApp(dir);
  await again.start();
  try {
    const r = await api(again, "POST", "/api/v1/sql", { sql: COUNT_SQL });
    assert.equal(r.status, 200);
    assert.deepEqual(r.json.rows![0]!.map(Number), [30, totalBytes, totalPackets]);
  } finally {
    await again.stop();
  }
});

test("--no-store is an override of store.enabled", () => {
  const a = parseStartArgs(["--no-store"], {});
  assert.deepEqual(a.flags, [{ key: "store.enabled", value: false, origin: "--no-store" }]);
});

test("with store.enabled false there is no store and no SQL API", async () => {
  const dir = mkdtempSync(join(tmpdir(), "nagare-api-nostore-"));
  const config = validateConfig({
    dataDir: dir,
    collector: { listen: ["127.0.0.1:0"], sflowListen: ["127.0.0.1:0"] },
    http: { listen: "127.0.0.1:0" },
    demo: { enabled: false },
    store: { enabled: false },
  });
  const app = new App({ config, log: silentLogger });
  await app.start();
  try {
    assert.equal(app.store, null);
    const r = await fetch(`http://127.0.0.1:${app.http.port}/api/v1/views`, {
      headers: { Authorization: `Bearer ${app.token!.token}` },
    });
    assert.equal(r.status, 404);
  } finally {
    await app.stop();
  }
});
