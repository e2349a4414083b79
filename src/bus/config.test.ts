// The `bus` section: defaults, the whole config's validator reaching it, and
// errors that name the key path.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { ConfigError, validateConfig } from "../config/schema.js";
import { defaultBusConfig, parseBroker, validateBusConfig } from "./config.js";
import { connectionOptions } from "./producer.js";

test("defaults: off, binary, key = exporter, lz4, acks all, 64 MiB buffer", () => {
  const c = validateBusConfig(undefined);
  assert.deepEqual(c, defaultBusConfig());
  assert.equal(c.enabled, false);
  assert.equal(c.producer.format, "nagare-binary");
  assert.equal(c.producer.partitionKey, "exporter");
  assert.equal(c.producer.compression, "lz4");
  assert.equal(c.producer.acks, -1);
  assert.equal(c.producer.bufferBytes, 64 * 1024 * 1024);
});

test("the whole config validates bus.* through this module", () => {
  const cfg = validateConfig({
    bus: {
      enabled: true,
      brokers: ["kafka1:9092", "[2001:db8::1]:9093"],
      topic: "flows.v1",
      producer: {
        format: "pmacct-json",
        partitionKey: "dst_addr",
        acks: 1,
        pmacct: { fields: ["ip_src", "ip_dst"], historySeconds: 300, refreshSeconds: 60 },
      },
      consumer: { groupId: "store-a" },
    },
  });
  assert.equal(cfg.bus.enabled, true);
  assert.equal(cfg.bus.producer.pmacct.historySeconds, 300);
  assert.deepEqual(cfg.bus.producer.pmacct.fields, ["ip_src", "ip_dst"]);
  assert.equal(cfg.bus.consumer.groupId, "store-a");
  assert.deepEqual(parseBroker("[2001:db8::1]:9093"), { host: "2001:db8::1", port: 9093 });
});

test("errors name the key path", () => {
  const cases: [unknown, string][] = [
    [{ nope: 1 }, "bus.nope"],
    [{ brokers: [] }, "bus.brokers"],
    [{ brokers: ["kafka"] }, "bus.brokers[0]"],
    [{ topic: "a b" }, "bus.topic"],
    [{ producer: { acks: 2 } }, "bus.producer.acks"],
    [{ producer: { compression: "zstd" } }, "bus.producer.compression"],
    [{ producer: { partitionKey: "tenant" } }, "bus.producer.partitionKey"],
    [{ producer: { bufferBytes: 10 } }, "bus.producer.bufferBytes"],
    [{ producer: { pmacct: { fields: ["ip_src", "peer_as"] } } }, "bus.producer.pmacct.fields"],
    [{ producer: { pmacct: { historySeconds: 30 } } }, "bus.producer.pmacct.historySeconds"],
    [{ producer: { pmacct: { extra: 1 } } }, "bus.producer.pmacct.extra"],
    [{ tls: { cert: "/c.pem" } }, "bus.tls.key"],
    [{ sasl: { mechanism: "plain" } }, "bus.sasl.username"],
    [{ sasl: { mechanism: "gssapi" } }, "bus.sasl.mechanism"],
    [{ consumer: { groupId: "" } }, "bus.consumer.groupId"],
  ];
  for (const [raw, key] of cases) {
    assert.throws(
      () => validateBusConfig(raw),
      (e: unknown) => e instanceof ConfigError && e.key === key,
      `${JSON.stringify(raw)} → ${key}`,
    );
  }
});

test("TLS files are read and SASL mapped to the client's mechanism names", () => {
  const dir = mkdtempSync(join(tmpdir(), "nagare-bus-tls-"));
  try {
    writeFileSync(join(dir, "ca.pem"), "CA");
    const c = validateBusConfig({
      tls: { enabled: true, ca: join(dir, "ca.pem"), insecure: true, serverName: "kafka.example" },
      sasl: { mechanism: "scram-sha-512", username: "u", password: "p" },
    });
    const o = connectionOptions(c);
    assert.equal(String(o.tls?.ca), "CA");
    assert.equal(o.tls?.rejectUnauthorized, false);
    assert.equal(o.tls?.servername, "kafka.example");
    assert.deepEqual(o.sasl, { mechanism: "SCRAM-SHA-512", username: "u", password: "p" });
    assert.deepEqual(connectionOptions(defaultBusConfig()), {});
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
