// Where the repository is, for tests that spawn bin/nagare.js (they run from
// test/ under tsx or from dist/test/ after the build).
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root: the first parent of this file holding bin/nagare.js. */
export function repoRoot(): string {
  let d = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(d, "bin", "nagare.js"))) {
    const up = dirname(d);
    assert.notEqual(up, d, "bin/nagare.js not found above this test");
    d = up;
  }
  return d;
}
