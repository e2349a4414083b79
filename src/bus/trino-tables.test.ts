// The Kafka-connector table descriptions against what the pmacct encoder
// really writes for a real capture: every described field's mapping is a key
// of the messages, its declared type matches the JSON value, timestamps parse
// with the declared Joda pattern, and dotted topics get a dot-free table name
// with a matching kafka.table-names entry.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { decodeUnit } from "../../test/helpers/captures.js";
import type { FlowBatch } from "../collector/batch.js";
import { ConfigError } from "../config/schema.js";
import { defaultBusConfig } from "./config.js";
import { PmacctJsonEncoder } from "./pmacct.js";
import {
  PMACCT_STAMP_HINT,
  PMACCT_TIMESTAMP_HINT,
  kafkaTableName,
  pmacctTableDescription,
  validateTrinoTablesConfig,
  writeTrinoTables,
  type KafkaTableDescription,
} from "./trino-tables.js";

const dir = mkdtempSync(join(tmpdir(), "nagare-trino-tables-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Real pmacct JSON: a capture decoded and encoded by the producer's encoder. */
function messages(fields?: string[]): Record<string, unknown>[] {
  const enc = new PmacctJsonEncoder({ ...(fields ? { fields } : {}) });
  const out: Record<string, unknown>[] = [];
  decodeUnit("ipfixcol2__example_flows", (b: FlowBatch) => {
    for (const m of enc.encode(b)) out.push(JSON.parse(m.value.toString("utf8")) as Record<string, unknown>);
  });
  return out;
}

/** A Joda pattern of the two forms we emit as a regular expression (y M d H m s S only). */
function jodaRegex(p: string): RegExp {
  return new RegExp(`^${p.replace(/[yMdHmsS]+/g, (t) => `\\d{${t.length}}`).replace(/\./g, "\\.")}$`);
}

function checkAgainst(d: KafkaTableDescription, rows: Record<string, unknown>[]): void {
  assert.ok(rows.length > 1000);
  for (const f of d.message.fields) {
    for (const r of rows.slice(0, 500)) {
      assert.ok(Object.hasOwn(r, f.mapping), `mapping ${f.mapping} is not a key of the encoder's JSON`);
      const v = r[f.mapping];
      if (f.type === "bigint")
        assert.ok(Number.isInteger(v), `${f.name}: ${JSON.stringify(v)} is not an integer`);
      if (f.type === "varchar") assert.equal(typeof v, "string", `${f.name}: ${JSON.stringify(v)}`);
      if (f.type === "timestamp") {
        assert.equal(f.dataFormat, "custom-date-time");
        assert.match(String(v), jodaRegex(f.formatHint!), `${f.name}: ${String(v)} vs ${f.formatHint}`);
      }
    }
  }
  // Every key the encoder writes is described (nothing of the message is unreachable from SQL).
  const described = new Set(d.message.fields.map((f) => f.mapping));
  for (const k of Object.keys(rows[0]!)) assert.ok(described.has(k), `encoder key ${k} is not described`);
}

test("description of a pmacct-json topic: file schema, mappings and types match the real encoder output", () => {
  const d = pmacctTableDescription("nagare.flows", "nagare");
  assert.deepEqual(Object.keys(d), ["tableName", "schemaName", "topicName", "message"]);
  assert.equal(d.message.dataFormat, "json");
  assert.equal(d.topicName, "nagare.flows");
  const names = d.message.fields.map((f) => f.name);
  assert.equal(new Set(names).size, names.length, "field names are unique");
  for (const n of [
    "ip_src",
    "ip_dst",
    "port_src",
    "port_dst",
    "ip_proto",
    "bytes",
    "packets",
    "timestamp_start",
    "peer_ip_src",
  ])
    assert.ok(names.includes(n), n);
  assert.equal(d.message.fields.find((f) => f.name === "timestamp_start")!.formatHint, PMACCT_TIMESTAMP_HINT);
  assert.equal(d.message.fields.find((f) => f.name === "bytes")!.type, "bigint");
  assert.equal(d.message.fields.find((f) => f.name === "tcp_flags")!.type, "varchar"); // pmacct writes "27"
  checkAgainst(d, messages());
});

test("a field subset (bus.producer.pmacct.fields) is described as the encoder writes it", () => {
  const fields = ["ip_src", "ip_dst", "port_dst", "ip_proto", "timestamp_start"];
  const d = pmacctTableDescription("flows", "nagare", fields);
  assert.deepEqual(
    d.message.fields.map((f) => f.name),
    ["event_type", ...fields, "flows", "packets", "bytes", "writer_id"],
  );
  checkAgainst(d, messages(fields));
});

test("time-bin stamps are described with pmacct's second-precision pattern", () => {
  const d = pmacctTableDescription("flows", "nagare", [], true);
  const st = d.message.fields.find((f) => f.name === "stamp_inserted")!;
  assert.equal(st.formatHint, PMACCT_STAMP_HINT);
  assert.match("2017-08-08 11:06:00", jodaRegex(st.formatHint!)); // real nfacctd stamp (src/bus/pmacct.ts header)
  assert.match("2017-08-08 11:07:08.000000", jodaRegex(PMACCT_TIMESTAMP_HINT));
});

test("dotted topics: table names carry no dot, the topic is kept, table-names matches the file", () => {
  assert.equal(kafkaTableName("nagare.flows"), "nagare_flows");
  assert.equal(kafkaTableName("Flows-v1.2"), "flows_v1_2");
  assert.equal(kafkaTableName("1flows"), "t_1flows");
  const bus = defaultBusConfig();
  bus.topic = "nagare.flows.v1";
  bus.producer.format = "pmacct-json";
  const out = join(dir, "tables");
  const w = writeTrinoTables(out, bus, "nagare");
  assert.equal(w.skipped, "");
  assert.deepEqual(readdirSync(out).sort(), ["kafka.properties.example", "nagare.nagare_flows_v1.json"]);
  const d = JSON.parse(readFileSync(w.files[0]!, "utf8")) as KafkaTableDescription;
  assert.equal(d.topicName, "nagare.flows.v1");
  assert.equal(d.schemaName, "nagare");
  assert.equal(d.tableName, "nagare_flows_v1");
  // Trino splits each kafka.table-names entry on ".": exactly two parts, equal to (schemaName, tableName).
  const props = readFileSync(join(out, "kafka.properties.example"), "utf8");
  const entry = /^kafka\.table-names=(.*)$/m.exec(props)![1]!;
  assert.deepEqual(entry.split("."), [d.schemaName, d.tableName]);
  assert.match(props, new RegExp(`^kafka.table-description-dir=${out}$`, "m"));
});

test("the binary format gets no description; config is validated with key paths", () => {
  const w = writeTrinoTables(join(dir, "none"), defaultBusConfig(), "nagare");
  assert.deepEqual(w.files, []);
  assert.match(w.skipped, /nagare-binary/);
  assert.deepEqual(validateTrinoTablesConfig({ dir: "/x" }), { dir: "/x", schema: "nagare" });
  assert.throws(
    () => validateTrinoTablesConfig({ schema: "Nagare.x" }),
    (e: unknown) => e instanceof ConfigError && /trinoTables\.schema/.test(e.message),
  );
  assert.throws(
    () => validateTrinoTablesConfig({ tables: 1 }),
    (e: unknown) => e instanceof ConfigError && /trinoTables\.tables/.test(e.message),
  );
});

test("nagare start writes the descriptions when trinoTables.dir is set", async () => {
  const { App } = await import("../app.js");
  const { validateConfig } = await import("../config/schema.js");
  const { silentLogger } = await import("../log.js");
  const out = join(dir, "at-start");
  const config = validateConfig({
    dataDir: join(dir, "app"),
    collector: { listen: ["127.0.0.1:0"], sflowListen: ["127.0.0.1:0"] },
    http: { listen: "127.0.0.1:0" },
    demo: { enabled: false },
    store: { enabled: false },
    bus: { topic: "flows.v1", producer: { format: "pmacct-json" } },
    trinoTables: { dir: out, schema: "lake" },
  });
  const app = new App({ config, log: silentLogger });
  await app.start();
  try {
    assert.deepEqual(readdirSync(out).sort(), ["kafka.properties.example", "lake.flows_v1.json"]);
    const d = JSON.parse(readFileSync(join(out, "lake.flows_v1.json"), "utf8")) as KafkaTableDescription;
    assert.equal(d.topicName, "flows.v1");
  } finally {
    await app.stop();
  }
});
