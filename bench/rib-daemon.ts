// Bench-only: Debian's BIRD 2 on loopback, announcing a generated table over
// one eBGP session (IPv4 and IPv6 unicast, MP-BGP) to our passive BGP
// listener. Used by `npm run bench -- rib --via bird` (bench/enrich-rib.ts) and
// `npm run bench -- receive --enrich --routing` (bench/receive.ts).
//
// The routes are `protocol static` routes with their BGP attributes set in
// the route's filter block (AS path by prepends, communities, large
// communities), one included file per family. BIRD needs `multihop` for a
// loopback neighbor (it refuses host-scope addresses on a direct session) and
// an explicit next hop per channel (a v6 next hop over an IPv4 session).
// A missing bird binary is an error saying how to install it, never a skip.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const BIRD = process.env.NAGARE_BIRD ?? "/usr/sbin/bird";

export function requireBird(): void {
  if (!existsSync(BIRD))
    throw new Error(
      `${BIRD} not found: bench rib --via bird and bench receive --enrich --routing need BIRD 2 from Debian ` +
        "(apt-get install -y -q --no-install-recommends bird2; or set NAGARE_BIRD)",
    );
}

export interface BirdRoute {
  /** "1.2.3.0/24" or "2001:db8::/48". */
  prefix: string;
  /** AS path after BIRD's own AS (which eBGP prepends), first hop first. */
  path: number[];
  /** "a:b a:b" */
  communities: string;
  /** "a:b:c a:b:c" */
  largeCommunities: string;
}

export interface BirdOptions {
  localAs: number;
  routerId: string;
  /** Our listener. */
  neighbor: { address: string; port: number; as: number };
  /** NEXT_HOP sent for IPv4 and IPv6 routes. */
  nextHop4: string;
  nextHop6: string;
  v4: number;
  v6: number;
  /** Route i (v4 first, then v6). */
  route(i: number): BirdRoute;
}

export interface Bird {
  proc: ChildProcess;
  dir: string;
  /** Seconds from spawn to BIRD's "Started" (config with every static route parsed). */
  startedSeconds: number;
  /** Bytes of the two route files. */
  configBytes: number;
  /** BIRD's resident set size now (kB), from /proc. */
  rssKiB(): number;
  log(): string;
  stop(): Promise<void>;
}

/** One `route …;` line of a static protocol. */
function routeLine(r: BirdRoute): string {
  const cmds: string[] = [];
  // prepend() puts its AS first: prepend the origin first and the first hop last.
  for (let k = r.path.length - 1; k >= 0; k--) cmds.push(`bgp_path.prepend(${r.path[k]});`);
  if (r.communities)
    for (const c of r.communities.split(" ")) cmds.push(`bgp_community.add((${c.replace(":", ",")}));`);
  if (r.largeCommunities)
    for (const c of r.largeCommunities.split(" "))
      cmds.push(`bgp_large_community.add((${c.replaceAll(":", ",")}));`);
  return cmds.length
    ? `route ${r.prefix} blackhole { ${cmds.join(" ")} };\n`
    : `route ${r.prefix} blackhole;\n`;
}

function writeRoutes(path: string, from: number, to: number, route: (i: number) => BirdRoute): number {
  const fd = openSync(path, "w");
  let bytes = 0;
  try {
    let chunk = "";
    for (let i = from; i < to; i++) {
      chunk += routeLine(route(i));
      if (chunk.length > 1 << 20) {
        bytes += writeSync(fd, chunk);
        chunk = "";
      }
    }
    bytes += writeSync(fd, chunk);
  } finally {
    closeSync(fd);
  }
  return bytes;
}

function config(o: BirdOptions): string {
  return `log stderr { info, remote, warning, error, auth, fatal, bug };
router id ${o.routerId};
protocol device { }
ipv4 table t4;
ipv6 table t6;
protocol static s4 {
  ipv4 { table t4; };
include "routes4.conf";
}
protocol static s6 {
  ipv6 { table t6; };
include "routes6.conf";
}
protocol bgp nagare {
  local 127.0.0.1 as ${o.localAs};
  neighbor ${o.neighbor.address} port ${o.neighbor.port} as ${o.neighbor.as};
  multihop;
  connect delay time 1;
  connect retry time 1;
  ipv4 { table t4; import none; export all; next hop address ${o.nextHop4}; };
  ipv6 { table t6; import none; export all; next hop address ${o.nextHop6}; };
}
`;
}

/** Write the config and routes, start BIRD, resolve once it has parsed them and started. */
export async function startBird(o: BirdOptions, timeoutMs = 600_000): Promise<Bird> {
  requireBird();
  const dir = mkdtempSync(join(tmpdir(), "nagare-bird-"));
  let configBytes = writeRoutes(join(dir, "routes4.conf"), 0, o.v4, o.route);
  configBytes += writeRoutes(join(dir, "routes6.conf"), o.v4, o.v4 + o.v6, o.route);
  const conf = join(dir, "bird.conf");
  writeFileSync(conf, config(o));
  const t0 = process.hrtime.bigint();
  // -f: foreground; the control socket and pid file in our temp dir, so it
  // neither needs nor touches /run/bird.
  const proc = spawn(BIRD, ["-f", "-c", conf, "-s", join(dir, "bird.ctl"), "-P", join(dir, "bird.pid")], {
    cwd: dir,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let started = 0;
  const onData = (d: Buffer): void => {
    out = (out + d.toString()).slice(-20000);
    if (!started && out.includes("Started")) started = Number(process.hrtime.bigint() - t0) / 1e9;
  };
  proc.stdout?.on("data", onData);
  proc.stderr?.on("data", onData);
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  const kill = (): void => {
    if (proc.exitCode === null) proc.kill("SIGKILL");
  };
  process.once("exit", kill);
  const b: Bird = {
    proc,
    dir,
    startedSeconds: 0,
    configBytes,
    rssKiB() {
      try {
        const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${proc.pid}/status`, "utf8"));
        return m ? Number(m[1]) : 0;
      } catch {
        return 0;
      }
    },
    log: () => out,
    async stop() {
      if (proc.exitCode === null) proc.kill("SIGTERM");
      const t = setTimeout(() => proc.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(t);
      process.removeListener("exit", kill);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  const deadline = Date.now() + timeoutMs;
  while (!started) {
    if (proc.exitCode !== null) {
      await b.stop();
      throw new Error(`bird exited (${proc.exitCode}):\n${out}`);
    }
    if (Date.now() > deadline) {
      await b.stop();
      throw new Error(`bird did not start within ${timeoutMs / 1000} s:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  b.startedSeconds = started;
  return b;
}

/** "BIRD version 2.0.12" (bird prints it on stderr). */
export function birdVersion(): string {
  const r = spawnSync(BIRD, ["--version"], { encoding: "utf8" });
  return `${r.stdout}${r.stderr}`.trim();
}
