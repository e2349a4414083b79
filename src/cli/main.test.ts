import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import type { App } from "../app.js";
import { main, parseStartArgs } from "./main.js";

function capture(): { stream: { write(s: string): boolean }; text: () => string } {
  let buf = "";
  return {
    stream: {
      write(s: string) {
        buf += s;
        return true;
      },
    },
    text: () => buf,
  };
}

test("version, help, unknown command", async () => {
  const out = capture();
  assert.equal(await main(["version"], { out: out.stream as never }), 0);
  assert.match(out.text(), /^nagare \d+\.\d+\.\d+\n$/);
  const help = capture();
  assert.equal(await main(["help"], { out: help.stream as never }), 0);
  assert.match(help.text(), /nagare start/);
  const err = capture();
  assert.equal(await main(["frobnicate"], { err: err.stream as never }), 2);
  assert.match(err.text(), /unknown command "frobnicate"/);
});

test("a bad config stops start-up with exit code 2 and names the key", async () => {
  const dir = mkdtempSync(join(tmpdir(), "nagare-cli-"));
  const file = join(dir, "nagare.yaml");
  writeFileSync(file, 'collector:\n  listen: ["127.0.0.1:2055", "1.2.3.4:99999"]\n');
  const err = capture();
  assert.equal(await main(["start", "--config", file], { err: err.stream as never, env: {} }), 2);
  assert.equal(err.text(), 'config: collector.listen[1]: "1.2.3.4:99999" — port must be 1-65535\n');

  const err2 = capture();
  assert.equal(await main(["start", "--listen", "nope"], { err: err2.stream as never, env: {} }), 2);
  assert.match(err2.text(), /^config: collector\.listen\[0\]: "nope" — .* \(set by --listen\)\n$/);

  const err3 = capture();
  assert.equal(await main(["start", "--bogus"], { err: err3.stream as never, env: {} }), 2);
  assert.match(err3.text(), /unknown option "--bogus"/);
});

test("start flags become overrides", () => {
  const a = parseStartArgs(
    [
      "--listen",
      "127.0.0.1:1",
      "--listen=[::1]:2",
      "--no-demo",
      "--output",
      "jsonl:/tmp/x.jsonl",
      "--data-dir",
      "d",
    ],
    { NAGARE_CONFIG: "/etc/nagare.yaml" },
  );
  assert.equal(a.config, "/etc/nagare.yaml");
  const byKey = Object.fromEntries(a.flags.map((f) => [f.key, f.value]));
  assert.deepEqual(byKey, {
    "collector.listen": ["127.0.0.1:1", "[::1]:2"],
    "demo.enabled": false,
    "output.jsonl": "/tmp/x.jsonl",
    dataDir: "d",
  });
  assert.throws(() => parseStartArgs(["--output", "csv:x"], {}), /jsonl:PATH/);
});

test("nagare start runs, prints where it listens, writes JSON lines, serves stats, stops cleanly", async () => {
  const dir = mkdtempSync(join(tmpdir(), "nagare-cli-"));
  const file = join(dir, "nagare.json");
  writeFileSync(
    file,
    JSON.stringify({
      collector: { listen: ["127.0.0.1:0"] },
      http: { listen: "127.0.0.1:0" },
      dataDir: join(dir, "data"),
      log: { level: "error" },
    }),
  );
  const out = capture();
  const stop = new AbortController();
  let app: App | undefined;
  const run = main(["start", "--config", file, "--output", `jsonl:${join(dir, "flows.jsonl")}`], {
    out: out.stream as never,
    env: {},
    stop: stop.signal,
    summaryIntervalMs: 200,
    onStarted: (a) => (app = a),
  });
  const end = Date.now() + 3000;
  while (!app && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  assert.ok(app, "started");
  const text = out.text();
  assert.match(text, /collector: listening on udp 127\.0\.0\.1:\d+/);
  assert.match(text, /http: listening on http:\/\/127\.0\.0\.1:\d+/);
  assert.match(text, /api token: .*api-token \(new\)/);
  assert.match(text, /api token \(shown once\): \S{16,}/);
  assert.doesNotMatch(text, /demo:/, "a config file makes the demo opt-in");

  const sock = createSocket("udp4");
  const dat = readFileSync("/work/shared/captures/logstash__netflow5_test_microtik.dat");
  await new Promise<void>((r) => sock.send(dat, app!.collector.bound[0]!.port, "127.0.0.1", () => r()));
  sock.close();
  while (app.pipeline.flows < 30 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 250)); // one summary line

  const statsOut = capture();
  const code = await main(["stats", "--url", `http://${app.http.address}`, "--data-dir", join(dir, "data")], {
    out: statsOut.stream as never,
    env: {},
  });
  assert.equal(code, 0);
  const lines = statsOut.text().trim().split("\n");
  assert.match(lines[0]!, /^EXPORTER\s+VERSIONS\s+PACKETS\s+FLOWS/);
  assert.match(lines[1]!, /^127\.0\.0\.1\s+5\s+1\s+30\s+0\s+0\s/);

  stop.abort();
  assert.equal(await run, 0);
  assert.match(out.text(), /flows\/s \d+ · packets\/s [\d.,]+ · exporters 1 · decode errors \+0/);
  assert.match(out.text(), /nagare: stopped\n$/);
  const rows = readFileSync(join(dir, "flows.jsonl"), "utf8").trim().split("\n");
  assert.equal(rows.length, 30);
  assert.equal((JSON.parse(rows[0]!) as { src_addr: string }).src_addr, "10.0.13.1");
});
