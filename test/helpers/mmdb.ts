// Writes small .mmdb files for the GeoIP tests with test/tools/mmdbgen (Go,
// MaxMind's mmdbwriter), built by .ci/setup.d/45-mmdb.sh, which exports
// NAGARE_MMDBGEN. No fallback: without the writer the GeoIP tests cannot
// prove anything, so they fail and say how to build it.
import { execFileSync } from "node:child_process";
import { existsSync, renameSync, writeFileSync } from "node:fs";

export interface MmdbSpec {
  databaseType: string;
  ipVersion?: 4 | 6;
  recordSize?: 24 | 28 | 32;
  networks: { prefix: string; data: unknown }[];
}

export function mmdbgenPath(): string {
  const p = process.env.NAGARE_MMDBGEN;
  if (!p || !existsSync(p))
    throw new Error(
      `mmdbgen not found (NAGARE_MMDBGEN=${p ?? "unset"}): run ` +
        "`bash -euo pipefail -c 'ROOT=$PWD; source .ci/setup.d/45-mmdb.sh'` and export NAGARE_MMDBGEN",
    );
  return p;
}

/** Write `spec` as a MaxMind DB at `out` (via a JSON spec file beside it). */
export function writeMmdb(out: string, spec: MmdbSpec): void {
  const gen = mmdbgenPath();
  const specPath = `${out}.json`;
  writeFileSync(specPath, JSON.stringify(spec));
  // To a temporary name then rename: a reader polling the file never sees it half-written.
  execFileSync(gen, [specPath, `${out}.tmp`], { stdio: ["ignore", "ignore", "pipe"] });
  renameSync(`${out}.tmp`, out);
}
