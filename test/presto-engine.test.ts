// Nagare's explorer with a PrestoSQL server as the engine (query.engine.kind
// trino, query.engine.trino.protocol presto).
//
// Always: the protocol option is validated (key path in the error) and the
// client speaks the header family it names — checked on the wire against a
// loopback HTTP server that answers as a coordinator does.
//
// Gate (docs/trino.md "One PrestoSQL server: Kafka, Hive and the explorer"):
// the lake tests (test/presto-lake.ts) run only when NAGARE_PRESTO_SERVER
// names a running PrestoSQL 350 (scripts/presto/run.sh start prints it). Set
// but unreachable → FAIL. Unset → skipped with the reason. `scripts/presto/
// run.sh demo` runs the same lake tests from test/presto-kafka.test.ts on the
// server that also holds the Kafka catalog.
import assert from "node:assert/strict";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { ConfigError } from "../src/config/schema.js";
import { validateEngineConfig } from "../src/query/engine/config.js";
import { TrinoClient } from "../src/query/engine/trino-client.js";
import { prestoLakeSuite } from "./presto-lake.js";

const SERVER = process.env.NAGARE_PRESTO_SERVER ?? "";

test("query.engine.trino.protocol: trino by default, presto accepted, anything else names the key", () => {
  assert.equal(validateEngineConfig(undefined).trino.protocol, "trino");
  const c = validateEngineConfig({
    kind: "trino",
    trino: { server: "http://127.0.0.1:8090", protocol: "presto" },
  });
  assert.equal(c.trino.protocol, "presto");
  assert.throws(
    () => validateEngineConfig({ trino: { protocol: "prestodb" } }),
    (e: unknown) => e instanceof ConfigError && /query\.engine\.trino\.protocol/.test(e.message),
  );
});

test("the client sends X-Presto-* with protocol presto and X-Trino-* by default, on every request", async () => {
  const seen: IncomingHttpHeaders[] = [];
  const srv = createServer((req, res) => {
    seen.push(req.headers);
    req.resume();
    const base = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
    res.setHeader("Content-Type", "application/json");
    // First answer: columns and a nextUri, as a coordinator's queued state; second: the data.
    if (req.method === "POST")
      res.end(
        JSON.stringify({
          id: "q1",
          nextUri: `${base}/v1/statement/q1/1`,
          columns: [{ name: "x", type: "integer" }],
        }),
      );
    else res.end(JSON.stringify({ id: "q1", data: [[1]] }));
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  try {
    const server = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
    const opts = { server, user: "op", catalog: "hive", schema: "nagare" };
    const r = await new TrinoClient({ ...opts, protocol: "presto" }).query("SELECT 1");
    assert.deepEqual(r.rows, [[1]]);
    assert.equal(seen.length, 2);
    for (const h of seen) {
      assert.equal(h["x-presto-user"], "op");
      assert.equal(h["x-presto-catalog"], "hive");
      assert.equal(h["x-presto-schema"], "nagare");
      assert.equal(h["x-presto-source"], "nagare");
      assert.equal(h["x-trino-user"], undefined);
    }
    seen.length = 0;
    await new TrinoClient(opts).query("SELECT 1");
    for (const h of seen) {
      assert.equal(h["x-trino-user"], "op");
      assert.equal(h["x-presto-user"], undefined);
    }
  } finally {
    srv.close();
  }
});

prestoLakeSuite(
  () => SERVER,
  SERVER ? false : "NAGARE_PRESTO_SERVER not set (scripts/presto/run.sh start prints a server to set it to)",
);
