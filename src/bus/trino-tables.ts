// Trino/Presto Kafka-connector table descriptions of Nagare's topics, so the
// old pmacct → Kafka → Presto pipeline reads Nagare's topic without
// hand-written files (docs/trino.md "Kafka tables").
//
// Format (https://trino.io/docs/current/connector/kafka.html, "Table
// definition files"; Presto's is the same): one JSON file per table in
// kafka.table-description-dir:
//   {tableName, schemaName, topicName,
//    message: {dataFormat: "json", fields: [{name, type, mapping, dataFormat?, formatHint?}]}}
// mapping is the JSON key (a "/"-separated path); a timestamp field given as
// text needs dataFormat "custom-date-time" and a Joda pattern in formatHint.
//
// The dot trap: the connector exposes only the tables named in
// kafka.table-names, and parses each entry by splitting on "." — exactly one
// dot is "schema.table", anything else is a table of kafka.default-schema.
// A description whose tableName is the topic "nagare.flows" is therefore
// keyed (default, "nagare.flows") but the table-names entry "nagare.flows"
// looks for (nagare, flows): no match, and Trino shows a dummy table with only
// the internal columns. So the table is never named after the topic text:
// schemaName is explicit (config), tableName is the topic with every
// character outside [a-z0-9_] turned into "_" (Trino lower-cases names), and
// topicName keeps the real topic. The matching kafka.table-names entry is
// written beside the files (kafka.properties.example).
//
// Only the pmacct-json format can be described: Trino has no decoder for
// Nagare's binary format, so a nagare-binary topic gets no file.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigError } from "../config/schema.js";
import type { BusConfig } from "./config.js";
import { PMACCT_FIELDS, resolveFields } from "./pmacct.js";

export interface TrinoTablesConfig {
  /** Directory to write the description files into at start ("" = off; `nagare trino-tables --out DIR` writes them on demand). */
  dir: string;
  /** Trino schema of the Kafka tables. */
  schema: string;
}

export function defaultTrinoTablesConfig(): TrinoTablesConfig {
  return { dir: "", schema: "nagare" };
}

const NAME_RE = /^[a-z][a-z0-9_]*$/;

/** Validate a raw `trinoTables` section over the defaults; errors name the key ("trinoTables.schema: …"). */
export function validateTrinoTablesConfig(
  raw: unknown,
  defaults: TrinoTablesConfig = defaultTrinoTablesConfig(),
  prefix = "trinoTables",
): TrinoTablesConfig {
  if (raw === undefined || raw === null) return { ...defaults };
  if (typeof raw !== "object" || Array.isArray(raw))
    throw new ConfigError(prefix, `${JSON.stringify(raw)} — must be a mapping`);
  const out = { ...defaults };
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
    const key = `${prefix}.${k}`;
    if (k !== "dir" && k !== "schema") throw new ConfigError(key, "unknown key (known here: dir, schema)");
    if (typeof v !== "string") throw new ConfigError(key, `${JSON.stringify(v)} — must be a string`);
    if (k === "schema" && !NAME_RE.test(v))
      throw new ConfigError(
        key,
        `${JSON.stringify(v)} — must be lower-case [a-z][a-z0-9_]* (Trino lower-cases names)`,
      );
    out[k] = v;
  }
  return out;
}

export interface KafkaTableField {
  name: string;
  type: "varchar" | "bigint" | "timestamp";
  mapping: string;
  dataFormat?: string;
  formatHint?: string;
  comment?: string;
}

export interface KafkaTableDescription {
  tableName: string;
  schemaName: string;
  topicName: string;
  message: { dataFormat: "json"; fields: KafkaTableField[] };
}

/** The table name of a topic: lower case, every character outside [a-z0-9_] → "_" (no dot: see the header). */
export function kafkaTableName(topic: string): string {
  const t = topic.toLowerCase().replace(/[^a-z0-9_]/g, "_");
  return /^[a-z_]/.test(t) ? t : `t_${t}`;
}

/** Joda patterns of pmacct's time texts (src/bus/pmacct.ts: pmacctTimestamp, pmacctStamp). */
export const PMACCT_TIMESTAMP_HINT = "yyyy-MM-dd HH:mm:ss.SSSSSS";
export const PMACCT_STAMP_HINT = "yyyy-MM-dd HH:mm:ss";

const time = (name: string, hint: string, comment: string): KafkaTableField => ({
  name,
  type: "timestamp",
  mapping: name,
  dataFormat: "custom-date-time",
  formatHint: hint,
  comment,
});

/**
 * The description of a pmacct-json topic: the fields the encoder writes
 * (`fields` = bus.producer.pmacct.fields, [] = all), each typed as it is on
 * the wire — numbers bigint, addresses, MACs, protocol names and the
 * decimal-string tcp_flags varchar, times timestamp.
 */
export function pmacctTableDescription(
  topic: string,
  schema: string,
  fields: readonly string[] = [],
  history = false,
): KafkaTableDescription {
  const out: KafkaTableField[] = [{ name: "event_type", type: "varchar", mapping: "event_type" }];
  for (const f of resolveFields(fields.length ? fields : undefined)) {
    switch (f.type) {
      case "num":
        out.push({ name: f.json, type: "bigint", mapping: f.json });
        break;
      case "time":
        out.push(time(f.json, PMACCT_TIMESTAMP_HINT, `UTC, microseconds (column ${f.column})`));
        break;
      case "flags":
        out.push({
          name: f.json,
          type: "varchar",
          mapping: f.json,
          comment: "decimal text: CAST(tcp_flags AS bigint)",
        });
        break;
      default:
        out.push({ name: f.json, type: "varchar", mapping: f.json });
    }
  }
  if (history) {
    out.push(time("stamp_inserted", PMACCT_STAMP_HINT, "time bin start (UTC)"));
    out.push(time("stamp_updated", PMACCT_STAMP_HINT, "time bin last update (UTC)"));
  }
  out.push(
    { name: "flows", type: "bigint", mapping: "flows" },
    { name: "packets", type: "bigint", mapping: "packets" },
    { name: "bytes", type: "bigint", mapping: "bytes" },
    { name: "writer_id", type: "varchar", mapping: "writer_id" },
  );
  return {
    tableName: kafkaTableName(topic),
    schemaName: schema,
    topicName: topic,
    message: { dataFormat: "json", fields: out },
  };
}

export interface WrittenTables {
  files: string[];
  /** The kafka.table-names value that exposes them. */
  tableNames: string;
  /** Why nothing was written (binary format), else "". */
  skipped: string;
}

/**
 * Write the description of the configured topic into `dir` (one
 * <schema>.<table>.json) and kafka.properties.example with the matching
 * kafka.table-names and kafka.table-description-dir.
 */
export function writeTrinoTables(dir: string, bus: BusConfig, schema: string): WrittenTables {
  if (bus.producer.format !== "pmacct-json") {
    return {
      files: [],
      tableNames: "",
      skipped: `bus.producer.format is ${bus.producer.format}: Trino's Kafka connector decodes pmacct-json only`,
    };
  }
  const d = pmacctTableDescription(
    bus.topic,
    schema,
    bus.producer.pmacct.fields,
    bus.producer.pmacct.historySeconds > 0,
  );
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${d.schemaName}.${d.tableName}.json`);
  writeFileSync(file, JSON.stringify(d, null, 2) + "\n");
  const tableNames = `${d.schemaName}.${d.tableName}`;
  writeFileSync(
    join(dir, "kafka.properties.example"),
    [
      "# Trino catalog file for Nagare's topic (copy to etc/catalog/kafka.properties).",
      "connector.name=kafka",
      `kafka.nodes=${bus.brokers.join(",")}`,
      "kafka.table-description-supplier=FILE",
      `kafka.table-description-dir=${dir}`,
      `kafka.table-names=${tableNames}`,
      "kafka.hide-internal-columns=false",
      "",
    ].join("\n"),
  );
  return { files: [file], tableNames, skipped: "" };
}

/** Every pmacct JSON key the descriptions may map (the codec's fields plus the envelope). */
export const PMACCT_DESCRIBED_KEYS: readonly string[] = [
  "event_type",
  ...PMACCT_FIELDS.map((f) => f.json),
  "stamp_inserted",
  "stamp_updated",
  "flows",
  "packets",
  "bytes",
  "writer_id",
];

export class TrinoTablesUsageError extends Error {}

/**
 * `nagare trino-tables --out DIR [--config FILE] [--topic T] [--schema S]`:
 * the descriptions of the configured topic (bus.topic, bus.producer.pmacct),
 * or of `--topic` (e.g. an existing pmacct deployment's topic: described as
 * pmacct-json whatever bus.producer.format says). Returns the exit code.
 */
export async function runTrinoTables(
  args: string[],
  io: { out: NodeJS.WritableStream; err: NodeJS.WritableStream; env: NodeJS.ProcessEnv },
): Promise<number> {
  const { loadConfig } = await import("../config/load.js");
  let out = "";
  let file = io.env.NAGARE_CONFIG || undefined;
  let topic: string | undefined;
  let schema: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const v = (): string => {
      const x = args[++i];
      if (x === undefined) throw new TrinoTablesUsageError(`${a} needs a value`);
      return x;
    };
    if (a === "--out") out = v();
    else if (a === "--config") file = v();
    else if (a === "--topic") topic = v();
    else if (a === "--schema") schema = v();
    else throw new TrinoTablesUsageError(`unknown option "${a}" for trino-tables (see nagare help)`);
  }
  if (!out) throw new TrinoTablesUsageError("trino-tables needs --out DIR");
  const cfg = loadConfig({ ...(file !== undefined ? { file } : {}), env: io.env }).config;
  const tables = validateTrinoTablesConfig(
    schema === undefined ? {} : { schema },
    cfg.trinoTables,
    "--schema",
  );
  const bus = { ...cfg.bus, producer: { ...cfg.bus.producer } };
  if (topic !== undefined) {
    bus.topic = topic;
    bus.producer.format = "pmacct-json";
  }
  const w = writeTrinoTables(out, bus, tables.schema);
  if (w.skipped) {
    io.err.write(`nagare: ${w.skipped} (give --topic to describe a pmacct-json topic anyway)\n`);
    return 1;
  }
  for (const f of w.files) io.out.write(`${f}\n`);
  io.out.write(`kafka.table-names=${w.tableNames}\n`);
  return 0;
}
