// Test-only: start Debian's gobgpd on loopback with a generated config, and
// drive it with the gobgp CLI. Used by test/enrich-bgp*.test.ts and
// test/enrich-bmp*.test.ts through test/helpers/gobgpd.ts, which stops them
// after the file. A missing gobgpd is an error (CI installs it:
// .ci/setup.d/40-gobgp.sh), never a skip.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const GOBGPD = process.env.NAGARE_GOBGPD ?? "/usr/bin/gobgpd";
export const GOBGP = process.env.NAGARE_GOBGP ?? "/usr/bin/gobgp";

export interface GobgpNeighbor {
  address: string;
  peerAs: number;
  /** Port to connect to (our BGP listener, or another gobgpd). */
  remotePort?: number;
  /** Wait for the neighbor to connect instead. */
  passive?: boolean;
  localAddress?: string;
  /** RFC 7911 ADD-PATH on both families: receive paths, and/or send up to sendMax. */
  addPaths?: { receive?: boolean; sendMax?: number };
}

export interface GobgpdOptions {
  as: number;
  routerId: string;
  /** BGP port gobgpd listens on (-1: none). */
  port?: number;
  listenAddress?: string;
  neighbors?: GobgpNeighbor[];
  /** BMP stations to stream to: route-monitoring-policy "pre-policy" | "post-policy" | "both" | "local-rib" | "all". */
  bmp?: { port: number; policy: string }[];
}

/**
 * Path attributes of a route as the gobgp CLI's keyword/value pairs, in the
 * order given: nexthop, aspath ("65010,{65040,65041}"), community,
 * large-community, local-pref, identifier (ADD-PATH path id) …
 */
export type RouteAttrs = Record<string, string | number>;

export interface Gobgpd {
  api: number;
  proc: ChildProcess;
  /** Run the gobgp CLI against this daemon; rejects on a non-zero exit. */
  cli(args: string[]): Promise<string>;
  /** `gobgp global rib add prefix -a ipv4|ipv6 attrs…` (the family from the prefix). */
  announce(prefix: string, attrs?: RouteAttrs): Promise<string>;
  /** `gobgp global rib del prefix -a ipv4|ipv6 attrs…` (e.g. { identifier: 1 }). */
  withdraw(prefix: string, attrs?: RouteAttrs): Promise<string>;
  /** SIGTERM and wait for the exit. */
  stop(): Promise<void>;
  log(): string;
}

export async function freePort(host = "127.0.0.1"): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, host, r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export function requireGobgp(): void {
  for (const bin of [GOBGPD, GOBGP])
    if (!existsSync(bin))
      throw new Error(`${bin} not found: install gobgpd (Debian package; CI runs .ci/setup.d/40-gobgp.sh)`);
}

function toml(o: GobgpdOptions): string {
  const lines = [
    "[global.config]",
    `  as = ${o.as}`,
    `  router-id = "${o.routerId}"`,
    `  port = ${o.port ?? -1}`,
  ];
  if (o.listenAddress) lines.push(`  local-address-list = ["${o.listenAddress}"]`);
  for (const n of o.neighbors ?? []) {
    lines.push(
      "[[neighbors]]",
      "  [neighbors.config]",
      `    neighbor-address = "${n.address}"`,
      `    peer-as = ${n.peerAs}`,
      "  [neighbors.transport.config]",
      `    passive-mode = ${n.passive ? "true" : "false"}`,
    );
    if (n.remotePort) lines.push(`    remote-port = ${n.remotePort}`);
    if (n.localAddress) lines.push(`    local-address = "${n.localAddress}"`);
    lines.push(
      "  [neighbors.timers.config]",
      "    connect-retry = 1",
      "    hold-time = 9",
      "    keepalive-interval = 3",
    );
    for (const fam of ["ipv4-unicast", "ipv6-unicast"]) {
      lines.push(
        "  [[neighbors.afi-safis]]",
        "    [neighbors.afi-safis.config]",
        `      afi-safi-name = "${fam}"`,
      );
      if (n.addPaths)
        lines.push(
          "    [neighbors.afi-safis.add-paths.config]",
          `      receive = ${n.addPaths.receive ? "true" : "false"}`,
          `      send-max = ${n.addPaths.sendMax ?? 0}`,
        );
    }
  }
  for (const b of o.bmp ?? [])
    lines.push(
      "[[bmp-servers]]",
      "  [bmp-servers.config]",
      '    address = "127.0.0.1"',
      `    port = ${b.port}`,
      `    route-monitoring-policy = "${b.policy}"`,
    );
  return lines.join("\n") + "\n";
}

function ribArgs(op: "add" | "del", prefix: string, attrs: RouteAttrs): string[] {
  const family = prefix.includes(":") ? "ipv6" : "ipv4";
  return [
    "global",
    "rib",
    op,
    prefix,
    "-a",
    family,
    ...Object.entries(attrs).flatMap(([k, v]) => [k, String(v)]),
  ];
}

export async function startGobgpd(o: GobgpdOptions): Promise<Gobgpd> {
  requireGobgp();
  const dir = mkdtempSync(join(tmpdir(), "nagare-gobgpd-"));
  const conf = join(dir, "gobgpd.toml");
  writeFileSync(conf, toml(o));
  const api = await freePort();
  const proc = spawn(GOBGPD, ["-f", conf, "-p", "--pprof-disable", "--api-hosts", `127.0.0.1:${api}`], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  proc.stdout?.on("data", (d: Buffer) => (out = (out + d.toString()).slice(-20000)));
  proc.stderr?.on("data", (d: Buffer) => (out = (out + d.toString()).slice(-20000)));
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  const cli = (args: string[]): Promise<string> =>
    new Promise((resolve, reject) =>
      execFile(
        GOBGP,
        ["-u", "127.0.0.1", "-p", String(api), ...args],
        { timeout: 10_000 },
        (err, stdout, stderr) =>
          err ? reject(new Error(`gobgp ${args.join(" ")}: ${stderr || err.message}`)) : resolve(stdout),
      ),
    );
  const g: Gobgpd = {
    api,
    proc,
    cli,
    announce: (prefix, attrs = {}) => cli(ribArgs("add", prefix, attrs)),
    withdraw: (prefix, attrs = {}) => cli(ribArgs("del", prefix, attrs)),
    log: () => out,
    async stop() {
      if (proc.exitCode === null) proc.kill("SIGTERM");
      const t = setTimeout(() => proc.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(t);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`gobgpd exited (${proc.exitCode}): ${out}`);
    try {
      await cli(["global"]);
      return g;
    } catch (e) {
      if (Date.now() > deadline) {
        await g.stop();
        throw new Error(`gobgpd API not ready: ${(e as Error).message}\n${out}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** Poll until `cond` holds (or fail after `ms`, saying what). */
export async function waitFor(what: string, cond: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
