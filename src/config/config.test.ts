import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { parseListen, parsePrefix, prefixContains } from "./address.js";
import { loadConfig } from "./load.js";
import { ConfigError, defaultConfig, validateConfig } from "./schema.js";
import { parseIp } from "../collector/ip.js";

function errorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail("expected a ConfigError");
}

test("defaults validate and are sane", () => {
  const c = validateConfig({});
  assert.deepEqual(c.collector.listen, ["0.0.0.0:2055"]);
  assert.equal(c.collector.receiveBufferBytes, 32 * 1024 * 1024);
  assert.equal(c.http.listen, "127.0.0.1:8080");
  assert.equal(c.dataDir, "./data");
  assert.deepEqual(validateConfig(defaultConfig()), defaultConfig());
});

test("a bad port names the list index and the reason", () => {
  const e = errorOf(() => validateConfig({ collector: { listen: ["0.0.0.0:2055", "1.2.3.4:99999"] } }));
  assert.equal(e.key, "collector.listen[1]");
  assert.equal(e.message, 'config: collector.listen[1]: "1.2.3.4:99999" — port must be 1-65535');
});

test("listen syntax errors", () => {
  assert.match(
    errorOf(() => validateConfig({ collector: { listen: ["::1:2055"] } })).message,
    /\[addr\]:port/,
  );
  assert.match(
    errorOf(() => validateConfig({ collector: { listen: ["300.1.1.1:2055"] } })).message,
    /not an IPv4/,
  );
  assert.match(errorOf(() => validateConfig({ collector: { listen: [] } })).message, /at least one/);
  assert.match(errorOf(() => validateConfig({ collector: { listen: "0.0.0.0:2055" } })).message, /list/);
  assert.match(
    errorOf(() => validateConfig({ collector: { listen: ["0.0.0.0:2055", "0.0.0.0:2055"] } })).message,
    /collector\.listen\[1\].*listed twice/,
  );
  const ok = validateConfig({ collector: { listen: ["[::]:2055", "127.0.0.1:9995", "localhost:6343"] } });
  assert.equal(ok.collector.listen.length, 3);
  assert.deepEqual(parseListen("[::]:2055"), { host: "::", port: 2055, family: 6, text: "[::]:2055" });
});

test("unknown keys are errors, at any depth", () => {
  const e = errorOf(() => validateConfig({ collector: { listne: ["0.0.0.0:2055"] } }));
  assert.equal(e.key, "collector.listne");
  assert.match(e.message, /unknown key/);
  assert.equal(errorOf(() => validateConfig({ colector: {} })).key, "colector");
  assert.equal(
    errorOf(() => validateConfig({ collector: { templates: { maxTemplates: 1 } } })).key,
    "collector.templates.maxTemplates",
  );
});

test("type and range errors name the key", () => {
  assert.equal(
    errorOf(() => validateConfig({ collector: { receiveBufferBytes: "32M" } })).key,
    "collector.receiveBufferBytes",
  );
  assert.equal(
    errorOf(() => validateConfig({ collector: { maxExporters: 0 } })).key,
    "collector.maxExporters",
  );
  assert.equal(errorOf(() => validateConfig({ log: { level: "verbose" } })).key, "log.level");
  assert.equal(errorOf(() => validateConfig({ demo: { enabled: "yes" } })).key, "demo.enabled");
  assert.equal(errorOf(() => validateConfig({ http: { token: "short" } })).key, "http.token");
  assert.equal(errorOf(() => validateConfig({ collector: { templates: 5 } })).key, "collector.templates");
});

test("sampling overrides: addresses and prefixes, positive rates", () => {
  const c = validateConfig({
    collector: {
      sampling: { default: 1, exporters: { "192.0.2.1": 1000, "10.0.0.0/8": 512, "2001:db8::/32": 64 } },
    },
  });
  assert.equal(c.collector.sampling.exporters["10.0.0.0/8"], 512);
  const bad = errorOf(() => validateConfig({ collector: { sampling: { exporters: { "10.0.0.0/33": 1 } } } }));
  assert.equal(bad.key, "collector.sampling.exporters.10.0.0.0/33");
  assert.equal(
    errorOf(() => validateConfig({ collector: { sampling: { exporters: { "10.0.0.1": 0 } } } })).key,
    "collector.sampling.exporters.10.0.0.1",
  );
  const p = parsePrefix("10.0.0.0/8");
  assert.ok(typeof p !== "string");
  assert.ok(prefixContains(p, parseIp("10.200.3.4")!));
  assert.ok(!prefixContains(p, parseIp("11.0.0.1")!));
  const p6 = parsePrefix("2001:db8::/33");
  assert.ok(typeof p6 !== "string");
  assert.ok(prefixContains(p6, parseIp("2001:db8:7fff::1")!));
  assert.ok(!prefixContains(p6, parseIp("2001:db8:8000::1")!));
});

test("file (YAML and JSON), env and flags, in that order of precedence", () => {
  const dir = mkdtempSync(join(tmpdir(), "nagare-cfg-"));
  const yml = join(dir, "nagare.yaml");
  writeFileSync(
    yml,
    'collector:\n  listen:\n    - 127.0.0.1:2055\n    - "[::1]:2055"\ndataDir: /var/lib/nagare\n',
  );
  const a = loadConfig({ file: yml });
  assert.deepEqual(a.config.collector.listen, ["127.0.0.1:2055", "[::1]:2055"]);
  assert.equal(a.config.dataDir, "/var/lib/nagare");
  assert.equal(a.listenDefaulted, false);
  assert.equal(a.config.demo.enabled, false, "a config file makes the demo opt-in");

  const json = join(dir, "nagare.json");
  writeFileSync(json, JSON.stringify({ http: { listen: "127.0.0.1:9000" }, demo: { enabled: true } }));
  const b = loadConfig({
    file: json,
    env: { NAGARE_LISTEN: "127.0.0.1:3000, 127.0.0.1:3001", NAGARE_HTTP_LISTEN: "127.0.0.1:9001" },
    flags: [{ key: "http.listen", value: "127.0.0.1:9002", origin: "--http-listen" }],
  });
  assert.deepEqual(b.config.collector.listen, ["127.0.0.1:3000", "127.0.0.1:3001"]);
  assert.equal(b.config.http.listen, "127.0.0.1:9002");
  assert.equal(b.config.demo.enabled, true);

  const none = loadConfig({ env: {} });
  assert.equal(none.config.demo.enabled, true, "without a config file the demo is on");
  assert.equal(none.listenDefaulted, true);
});

test("errors from env or flags say where the value came from", () => {
  const e = errorOf(() => loadConfig({ env: { NAGARE_LISTEN: "0.0.0.0:2055,1.2.3.4:99999" } }));
  assert.equal(
    e.message,
    'config: collector.listen[1]: "1.2.3.4:99999" — port must be 1-65535 (set by NAGARE_LISTEN)',
  );
  const f = errorOf(() => loadConfig({ env: { NAGARE_RECEIVE_BUFFER_BYTES: "lots" } }));
  assert.match(
    f.message,
    /collector\.receiveBufferBytes: "lots" — must be an integer \(set by NAGARE_RECEIVE_BUFFER_BYTES\)/,
  );
});

test("unreadable or unparsable files are config errors", () => {
  const dir = mkdtempSync(join(tmpdir(), "nagare-cfg-"));
  assert.match(errorOf(() => loadConfig({ file: join(dir, "missing.yaml") })).message, /cannot read: ENOENT/);
  const bad = join(dir, "bad.json");
  writeFileSync(bad, "{ nope");
  assert.match(errorOf(() => loadConfig({ file: bad })).message, /cannot parse/);
  const dup = join(dir, "dup.yaml");
  writeFileSync(dup, "dataDir: a\ndataDir: b\n");
  assert.match(errorOf(() => loadConfig({ file: dup })).message, /cannot parse/);
  const list = join(dir, "list.yaml");
  writeFileSync(list, "- a\n");
  assert.match(errorOf(() => loadConfig({ file: list })).message, /must be a map/);
});
