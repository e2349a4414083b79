import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { FLOW_COLUMNS } from "./schema.js";
import { FlowBatch } from "./collector/batch.js";

// Works from src/ (tsx) and from dist/src/ (compiled): find the repo root by walking up.
function repoFile(rel: string): string {
  let dir = fileURLToPath(new URL(".", import.meta.url));
  for (let k = 0; k < 4; k++) {
    try {
      return readFileSync(`${dir}/${rel}`, "utf8");
    } catch {
      dir = `${dir}/..`;
    }
  }
  throw new Error(`cannot find ${rel} above ${import.meta.url}`);
}

test("schema column names are unique snake_case", () => {
  const names = FLOW_COLUMNS.map((c) => c.name);
  assert.equal(new Set(names).size, names.length);
  for (const n of names) assert.match(n, /^[a-z][a-z0-9_]*$/);
});

test("docs/schema.md lists every column with its kind, and nothing else", () => {
  const doc = repoFile("docs/schema.md");
  const documented = [...doc.matchAll(/^\| `([a-z0-9_]+)` \| (\w+) \|/gm)].map((m) => [m[1], m[2]]);
  assert.deepEqual(
    documented,
    FLOW_COLUMNS.map((c) => [c.name, c.kind]),
  );
});

test("FlowBatch has one typed column per schema column; absent values read as zero/empty", () => {
  const b = new FlowBatch(4);
  const row = b.row(2);
  assert.deepEqual(
    Object.keys(row),
    FLOW_COLUMNS.map((c) => c.name),
  );
  assert.equal(row.src_addr, "");
  assert.equal(row.bytes, 0);
  b.cols.bytes[1] = 2 ** 40;
  b.cols.src_port[1] = 443;
  b.cols.src_addr.set([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1], 16);
  assert.equal(b.row(1).src_addr, "10.0.0.1");
  assert.equal(b.row(1).bytes, 2 ** 40);
  b.clearRow(1);
  assert.deepEqual(b.row(1), row);
});
