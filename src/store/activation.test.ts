// Column activation (src/store/writer.ts, docs/store.md "Column activation"):
// the enrichment columns enter the in-memory stage only once they carry a
// value. A real capture unit goes through the store in batches without
// enrichment, then with some enrichment columns set part-way (a second
// group later, some values empty), across a restart (which starts narrow
// again); every row of flows_raw must hold exactly what its batch held.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { DuckDBInstance, type DuckDBConnection } from "@duckdb/node-api";
import type { FlowBatch } from "../collector/batch.js";
import { ENRICHMENT_COLUMNS, FLOW_COLUMNS } from "../schema.js";
import { decodeUnit } from "../../test/helpers/captures.js";
import { StoreWriter } from "./writer.js";

const UNIT = "ipfixcol2__example_flows"; // 3979 IPFIX flows, IPv4 and IPv6
const dir = mkdtempSync(join(tmpdir(), "nagare-activation-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** The unit decoded as the collector does, in small pooled batches, each retained for the test. */
function decodeBatches(capacity = 128, unitName = UNIT): FlowBatch[] {
  const out: FlowBatch[] = [];
  decodeUnit(unitName, (b) => out.push(b.retain()), 0, undefined, capacity);
  return out;
}

/** The enrichment values the test writes; the other enrichment columns stay empty. */
interface Enriched {
  exporter_name: string;
  src_as_name: string;
  in_if_speed: number;
  dst_country: string;
  out_if_speed: number;
}
const NONE: Enriched = {
  exporter_name: "",
  src_as_name: "",
  in_if_speed: 0,
  dst_country: "",
  out_if_speed: 0,
};

/**
 * Number every row (mpls_label_3 := id, a u32 the unit leaves 0) and set
 * enrichment values from `firstA` on (exporter_name, src_as_name, some
 * empty, in_if_speed) and from `firstB` on (dst_country, out_if_speed).
 */
function label(batches: FlowBatch[], idBase: number, firstA: number, firstB: number): Map<number, Enriched> {
  const want = new Map<number, Enriched>();
  let id = idBase;
  for (const b of batches) {
    for (let i = 0; i < b.length; i++, id++) {
      const c = b.cols;
      assert.equal(c.mpls_label_3[i], 0);
      for (const name of ENRICHMENT_COLUMNS) {
        const v = (c as unknown as Record<string, ArrayLike<unknown>>)[name]![i];
        assert.ok(v === "" || v === 0, `${name} is empty in the unit`);
      }
      c.mpls_label_3[i] = id;
      const e = { ...NONE };
      if (id >= firstA) {
        e.exporter_name = `edge-${id % 5}`;
        e.src_as_name = id % 3 === 0 ? "" : `AS-${id % 11} ünïcode`;
        e.in_if_speed = (id % 4) * 10_000_000_000;
      }
      if (id >= firstB) {
        e.dst_country = ["FR", "JP", ""][id % 3]!;
        e.out_if_speed = 2 ** 40 + id;
      }
      c.exporter_name[i] = e.exporter_name;
      c.src_as_name[i] = e.src_as_name;
      c.in_if_speed[i] = e.in_if_speed;
      c.dst_country[i] = e.dst_country;
      c.out_if_speed[i] = e.out_if_speed;
      want.set(id, e);
    }
  }
  return want;
}

/**
 * Feed the batches to the writers: an explicit flush after some, a flush
 * timer running, so activation happens with rows already in the stage and
 * with the stage just switched.
 */
async function feed(ws: StoreWriter[], batches: FlowBatch[]): Promise<void> {
  for (const [k, b] of batches.entries()) {
    for (const w of ws) w.consume(b);
    b.release();
    if (k % 5 === 4) await Promise.all(ws.map((w) => w.flush()));
    else if (k % 3 === 0) await new Promise((r) => setTimeout(r, 3));
  }
}

async function rows(c: DuckDBConnection, sql: string): Promise<unknown[][]> {
  return (await c.runAndReadAll(sql)).getRowsJS();
}

test("enrichment columns join the stage at their first value: every row exact, both append paths, across a restart", async () => {
  const paths = ["chunks", "rows"].map((m) => join(dir, `${m}.duckdb`));
  const open = (): StoreWriter[] =>
    paths.map((path, i) => {
      // A short interval: the flush timer commits too, between the test's flushes.
      const w = new StoreWriter({ config: { path, intervalMs: 40 } });
      w.chunkMode = i === 0;
      return w;
    });
  const want = new Map<number, Enriched>();

  // Run 1: rows 1..N; enrichment from row 1000, more columns from row 2500.
  let ws = open();
  for (const w of ws) await w.start();
  const run1 = decodeBatches();
  const n1 = run1.reduce((s, b) => s + b.length, 0);
  assert.ok(n1 > 3000 && run1.length > 20, `${n1} rows in ${run1.length} batches`);
  for (const [k, v] of label(run1, 1, 1000, 2500)) want.set(k, v);
  await feed(ws, run1);
  for (const w of ws) await w.flush();
  for (const w of ws) assert.equal(w.rowsCommitted, n1);
  for (const w of ws) await w.stop();

  // Run 2 (restart): the shape starts narrow again; enrichment from the 2000th row of the run on.
  ws = open();
  for (const w of ws) await w.start();
  const run2 = decodeBatches();
  const base = n1 + 1;
  for (const [k, v] of label(run2, base, base + 2000, base + 2000)) want.set(k, v);
  await feed(ws, run2);
  for (const w of ws) await w.stop();

  const inst = await DuckDBInstance.create();
  const c = await inst.connect();
  for (const [i, p] of paths.entries()) await c.run(`ATTACH '${p}' AS d${i} (READ_ONLY)`);
  const others = [...ENRICHMENT_COLUMNS].filter((n) => !(n in NONE));
  for (const i of [0, 1]) {
    const got = await rows(
      c,
      `SELECT mpls_label_3, exporter_name, src_as_name, in_if_speed, dst_country, out_if_speed,
              ${others.map((n) => `${n} IS NULL OR ${n} = 0`).join(" AND ")}
       FROM d${i}.flows_raw`,
    );
    assert.equal(got.length, want.size, `d${i}: every row once`);
    const seen = new Set<number>();
    for (const [id, name, asName, inSpeed, country, outSpeed, othersEmpty] of got) {
      const e = want.get(Number(id));
      assert.ok(e, `d${i}: row ${String(id)} expected`);
      seen.add(Number(id));
      // "" is stored as NULL (migration 5); an absent numeric column as 0.
      assert.deepEqual(
        [name, asName, inSpeed, country, outSpeed, othersEmpty],
        [
          e.exporter_name || null,
          e.src_as_name || null,
          BigInt(e.in_if_speed),
          e.dst_country || null,
          BigInt(e.out_if_speed),
          true,
        ],
        `d${i}: row ${String(id)}`,
      );
    }
    assert.equal(seen.size, want.size);
    // Receive order kept: within each family (src/store/layout.ts runs), ids ascend in table order.
    for (const v of [4, 6]) {
      const ids = (
        await rows(c, `SELECT mpls_label_3 FROM d${i}.flows_raw WHERE ip_version = ${v} ORDER BY rowid`)
      ).map((r) => Number(r[0]));
      assert.ok(ids.length > (v === 4 ? 1000 : 10), `IPv${v} rows: ${ids.length}`);
      for (let k = 1; k < ids.length; k++) assert.ok(ids[k]! > ids[k - 1]!, `d${i} IPv${v} order at ${k}`);
    }
  }
  // Both append paths wrote the same rows, to the column.
  assert.deepEqual(
    // seq numbers the stages, which the two paths cut differently.
    await rows(
      c,
      "SELECT count(*) FROM (SELECT * EXCLUDE (seq) FROM d0.flows_raw EXCEPT ALL SELECT * EXCLUDE (seq) FROM d1.flows_raw)",
    ),
    [[0n]],
  );
  c.closeSync();
  inst.closeSync();
});

test("a store without enrichment keeps its stages narrow; flows_raw still has every column", async () => {
  const path = join(dir, "narrow.duckdb");
  const w = new StoreWriter({ config: { path } });
  await w.start();
  const batches = decodeBatches(512);
  for (const b of batches) {
    w.consume(b);
    b.release();
  }
  await w.flush();
  const stageCols = await rows(
    w.connection,
    "SELECT count(*) FROM duckdb_columns() WHERE database_name = 'nagare_stage' AND table_name = 'stage_0'",
  );
  assert.deepEqual(stageCols, [[BigInt(FLOW_COLUMNS.length - ENRICHMENT_COLUMNS.size)]]);
  const raw = await rows(
    w.connection,
    "SELECT count(*) FROM duckdb_columns() WHERE database_name <> 'nagare_stage' AND table_name = 'flows_raw'",
  );
  assert.deepEqual(raw, [[BigInt(FLOW_COLUMNS.length + 1)]]); // and seq (src/store/live.ts)
  assert.deepEqual(
    await rows(
      w.connection,
      "SELECT count(*), count(exporter_name), sum(in_if_speed), count(*) FILTER (WHERE out_if_speed = 0) FROM flows_raw",
    ),
    [[BigInt(w.rowsCommitted), 0n, 0n, BigInt(w.rowsCommitted)]],
  );
  await w.stop();
});

test("sFlow's extended gateway activates the BGP route columns: as decoded (tcpdump's decode), none before", async () => {
  const path = join(dir, "sflow.duckdb");
  const w = new StoreWriter({ config: { path } });
  await w.start();
  // Flow samples without a gateway record, then tcpdump__sflow_expanded's one sample with it.
  const before = decodeBatches(512, "tcpdump__sflow_multiple_counter_30_pdus");
  const n0 = before.reduce((s, b) => s + b.length, 0);
  assert.ok(n0 > 0);
  for (const b of before) {
    w.consume(b);
    b.release();
  }
  await w.flush();
  for (const b of decodeBatches(512, "tcpdump__sflow_expanded")) {
    w.consume(b);
    b.release();
  }
  await w.flush();
  assert.equal(w.rowsCommitted, n0 + 1);
  // The values tcpdump prints for that sample (test/sflow-conformance.test.ts checks the decode).
  assert.deepEqual(
    await rows(
      w.connection,
      "SELECT as_path, bgp_communities, local_pref, dst_as FROM flows_raw WHERE as_path IS NOT NULL",
    ),
    [["8218 29605 203361", "8218:101 29169:100 29169:50000 29169:51706", 100, 203361]],
  );
  assert.deepEqual(
    await rows(
      w.connection,
      "SELECT count(*) FROM flows_raw WHERE as_path IS NULL AND bgp_communities IS NULL AND local_pref = 0",
    ),
    [[BigInt(n0)]],
  );
  await w.stop();
});
