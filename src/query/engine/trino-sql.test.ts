// Trino SQL generated from flow queries (./trino-sql.ts): the dialect
// differences the lake needs, checked on the text, and the client-side zero
// fill against the DuckDB planner's fill rules. The same plans run on a real
// Trino server in test/trino-engine.test.ts.
import assert from "node:assert/strict";
import { test } from "node:test";
import { PlanError } from "../planner/index.js";
import { parseFilter } from "../filter/parser.js";
import { validateEngineConfig } from "./config.js";
import { ConfigError } from "../../config/schema.js";
import { lakeTableDdl, planTrinoFlowQuery, trinoFilterSql, trinoTimestamp } from "./trino-sql.js";
import { fillTrinoSeries } from "./trino.js";
import { refuseStatement } from "./routes.js";

const LAKE = { catalog: "hive", schema: "nagare", table: "flows" };
const H = 3_600_000;
const T0 = Date.UTC(2026, 10, 20, 22); // 22:00 UTC: a 3-hour range crosses midnight

test("table TopN: one statement over the lake, partitions pruned, TopN with other, DECIMAL sums, ordinal GROUP BY", () => {
  const p = planTrinoFlowQuery(
    {
      start: T0,
      end: T0 + 3 * H,
      resolution: "auto",
      dimensions: ["dst_addr", "dst_port"],
      metric: "bytes",
      topN: 10,
      shape: "table",
    },
    LAKE,
    T0 + 4 * H,
  );
  assert.equal(p.table, "hive.nagare.flows");
  assert.equal(p.startMs, T0);
  assert.equal(p.endMs, T0 + 3 * H);
  assert.equal(p.fill, undefined);
  assert.match(p.sql, /FROM "hive"\."nagare"\."flows"/);
  assert.match(
    p.sql,
    /time_received >= TIMESTAMP '2026-11-20 22:00:00\.000' AND time_received < TIMESTAMP '2026-11-21 01:00:00\.000'/,
  );
  assert.match(p.sql, /"date" BETWEEN '2026-11-20' AND '2026-11-21'/);
  assert.match(p.sql, /sum\(CAST\(bytes AS DECIMAL\(38,0\)\) \* greatest\(sampling_rate, 1\)\) AS v/);
  assert.match(p.sql, /GROUP BY 1, 2\n/);
  assert.match(p.sql, /LIMIT 10\n/);
  assert.match(p.sql, /k\.in_top IS NULL AS other/);
  // ip columns are text in the lake: no nagare_ip, no UHUGEINT.
  assert.doesNotMatch(p.sql, /nagare_ip|UHUGEINT|HUGEINT|epoch_ms|::/);
  assert.match(p.sql, /ORDER BY other, value DESC, dst_addr, dst_port$/);
});

test("time series: buckets in epoch ms independent of the session zone, previous period shifted, rates as DOUBLE, fill left to the engine", () => {
  const p = planTrinoFlowQuery(
    {
      start: T0 + 61_000,
      end: T0 + H,
      resolution: "minute",
      dimensions: ["protocol"],
      metric: "bps",
      shape: "timeseries",
      comparePrevious: true,
    },
    LAKE,
    T0 + 2 * H,
  );
  assert.equal(p.startMs, T0 + 60_000); // aligned down to the minute, as the DuckDB planner does
  assert.equal(p.resolutionMs, 60_000);
  const len = p.endMs - p.startMs;
  assert.match(
    p.sql,
    /\(date_diff\('millisecond', TIMESTAMP '1970-01-01 00:00:00\.000', time_received\) \/ 60000\) \* 60000 AS time_ms/,
  );
  assert.ok(
    p.sql.includes(`+ ${len}) / 60000) * 60000 AS time_ms`),
    "previous period moved forward by the range length",
  );
  assert.match(p.sql, /'previous' AS period/);
  assert.match(p.sql, /CAST\(sum\(v\) AS DOUBLE\) \* 8 \/ 60 AS value/);
  assert.deepEqual(p.fill, {
    startMs: p.startMs,
    endMs: p.endMs,
    stepMs: 60_000,
    period: true,
    rest: ["protocol"],
  });
});

test("filters: nfdump semantics in Trino's dialect (bitwise_and, IPADDRESS over text columns, <>, LIKE escapes)", () => {
  const f = (s: string): string => trinoFilterSql(parseFilter(s));
  assert.equal(f("flags S"), "bitwise_and(tcp_flags, 2) = 2");
  assert.equal(
    f("src ip 10.1.2.3"),
    "coalesce(try_cast(nullif(src_addr, '') AS IPADDRESS), IPADDRESS '::') = IPADDRESS '10.1.2.3'",
  );
  assert.equal(
    f("dst net 10.0.0.0/8"),
    "coalesce(try_cast(nullif(dst_addr, '') AS IPADDRESS), IPADDRESS '::') BETWEEN IPADDRESS '10.0.0.0' AND IPADDRESS '10.255.255.255'",
  );
  assert.match(
    f("src net 2001:db8::/32"),
    /BETWEEN IPADDRESS '2001:db8:0:0:0:0:0:0' AND IPADDRESS '2001:db8:ffff:ffff:ffff:ffff:ffff:ffff'/,
  );
  assert.equal(f("not proto udp"), "(NOT protocol = 17)");
  assert.match(f("duration > 1000"), /^date_diff\('millisecond', time_flow_start, time_flow_end\) > 1000$/);
  assert.match(
    f("bpp > 100"),
    /CASE WHEN packets > 0 THEN floor\(CAST\(bytes AS DOUBLE\) \/ packets\) ELSE 0 END/,
  );
  const p = planTrinoFlowQuery(
    {
      start: T0,
      end: T0 + H,
      resolution: "auto",
      dimensions: [],
      metric: "flows",
      filter: "port 443 and icmp-type 8",
      shape: "table",
    },
    LAKE,
  );
  assert.match(
    p.sql,
    /AND \(\(\(src_port = 443 OR dst_port = 443\) AND \(protocol IN \(1, 58\) AND icmp_type = 8\)\)\)/,
  );
});

test("invalid queries fail with the DuckDB planner's errors; values never reach the text unvalidated", () => {
  const q = {
    start: T0,
    end: T0 + H,
    resolution: "auto" as const,
    metric: "bytes" as const,
    shape: "table" as const,
  };
  assert.throws(() => planTrinoFlowQuery({ ...q, dimensions: ["nope"] }, LAKE), PlanError);
  assert.throws(() => planTrinoFlowQuery({ ...q, dimensions: ["time_received"] }, LAKE), PlanError);
  assert.throws(() => planTrinoFlowQuery({ ...q, dimensions: ["protocol"], topN: 0 }, LAKE), PlanError);
  assert.throws(() => planTrinoFlowQuery({ ...q, dimensions: [], end: T0 }, LAKE), PlanError);
  // A string value is a literal with its quote doubled.
  const f = trinoFilterSql({ type: "str", columns: ["exporter_name"], values: ["o'brien*"] });
  assert.equal(f, "lower(exporter_name) LIKE 'o''brien%' ESCAPE '\\'");
  assert.equal(trinoTimestamp(Date.UTC(2026, 0, 2, 3, 4, 5, 6)), "TIMESTAMP '2026-01-02 03:04:05.006'");
});

test("client-side zero fill: every bucket × every series seen, zeros typed like the value, DuckDB's row order", () => {
  const fill = { startMs: 0, endMs: 3000, stepMs: 1000, period: false, rest: ["protocol", "other"] };
  const cols = ["time_ms", "protocol", "other", "value"];
  const rows = [
    ["1000", 6, false, "50"],
    ["2000", 17, false, "70"],
    ["2000", null, true, "5"],
  ];
  const out = fillTrinoSeries(fill, cols, rows, "0");
  assert.deepEqual(out, [
    ["0", 6, false, "0"],
    ["0", 17, false, "0"],
    ["0", null, true, "0"],
    ["1000", 6, false, "50"],
    ["1000", 17, false, "0"],
    ["1000", null, true, "0"],
    ["2000", 17, false, "70"],
    ["2000", 6, false, "0"],
    ["2000", null, true, "5"],
  ]);
  // No dimension: the one series exists even with no row at all.
  assert.deepEqual(
    fillTrinoSeries(
      { startMs: 0, endMs: 2000, stepMs: 1000, period: false, rest: [] },
      ["time_ms", "value"],
      [],
      0,
    ),
    [
      ["0", 0],
      ["1000", 0],
    ],
  );
});

test("lake DDL: every schema column with the export's lake types, partitioned by date and hour", () => {
  const ddl = lakeTableDdl(LAKE, "local:///data/export");
  assert.match(ddl, /src_addr VARCHAR/);
  assert.match(ddl, /time_received TIMESTAMP\(3\)/);
  assert.match(ddl, /bytes BIGINT/);
  assert.match(ddl, /protocol INTEGER/);
  assert.match(ddl, /partitioned_by = ARRAY\['date', 'hour'\]/);
  assert.match(ddl, /external_location = 'local:\/\/\/data\/export'/);
});

test("query.engine config: defaults, validation with key paths", () => {
  assert.equal(validateEngineConfig(undefined).kind, "duckdb");
  const c = validateEngineConfig({
    kind: "trino",
    trino: { server: "http://127.0.0.1:8089", schema: "lake" },
  });
  assert.equal(c.trino.schema, "lake");
  assert.equal(c.trino.catalog, "hive");
  const bad = (raw: unknown, key: RegExp): void =>
    assert.throws(
      () => validateEngineConfig(raw),
      (e: unknown) => e instanceof ConfigError && key.test(e.message),
    );
  bad({ kind: "trino" }, /query\.engine\.trino\.server/);
  bad({ kind: "presto" }, /query\.engine\.kind/);
  bad({ trino: { host: "x" } }, /query\.engine\.trino\.host/);
  bad({ kind: "trino", trino: { server: "http://h:1", password: "pw" } }, /query\.engine\.trino\.password/);
});

test("the Trino SQL route lets only reading statements through", () => {
  assert.equal(refuseStatement("SELECT 1"), null);
  assert.equal(refuseStatement("  -- top talkers\n/* x */ (WITH a AS (SELECT 1) SELECT * FROM a)"), null);
  assert.equal(refuseStatement("show tables;"), null);
  assert.equal(refuseStatement("SELECT 'a;b'"), null);
  assert.match(refuseStatement("DROP TABLE flows")!, /DROP/);
  assert.match(refuseStatement("CALL system.sync_partition_metadata('a','b','ADD')")!, /CALL/);
  assert.match(refuseStatement("SELECT 1; DROP TABLE flows")!, /one statement/);
  assert.match(refuseStatement("")!, /nothing/);
});
