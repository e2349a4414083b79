// Receive path over loopback: the real collector (`nagare start`, forked via
// bench/collector.ts) and the peers nfcapd (nfdump) and nfacctd (pmacct),
// each fed the SAME real NetFlow v9 stream by a separate sender process at
// stepped rates. Loss = 1 − received/sent flow records per step; the figure
// of merit is the highest rate with < 0.1% loss. Collectors run one at a
// time (2 cores: one for the sender, one for the collector under test).
import { fork, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { CollectorReport } from "./collector.js";
import { requireBird, startBird, type Bird } from "./rib-daemon.js";
import type { SenderArgs, SenderResult } from "./sender.js";

export const RECEIVE_RATES = [100_000, 250_000, 500_000, 1_000_000, 1_500_000, 2_000_000];
export const LOSS_LIMIT = 0.001;
const HOST = "127.0.0.1";
/** Socket receive buffer for every collector (nfcapd did 2.0 M/s here with this). */
export const RCVBUF = 16 * 1024 * 1024;

export interface StepResult {
  collector: string;
  targetRate: number;
  /** Flow records/s the sender achieved. */
  sentRate: number;
  sent: number;
  received: number;
  loss: number;
  /** CPU of the collector during the step, in % of one core (where measurable). */
  cpuPercent: number | null;
  note?: string;
}

export interface MemorySample {
  rate: number;
  rss: number;
  heapUsed: number;
  heapTotal: number;
  arrayBuffers: number;
}

export interface ReceiveResult {
  stream: string;
  seconds: number;
  rcvbuf: number;
  rmemMax: number;
  steps: StepResult[];
  /** Highest sent rate with < 0.1% loss, per collector. */
  best: Record<string, number>;
  memory: MemorySample[];
}

const here = dirname(fileURLToPath(import.meta.url));
const isTs = import.meta.url.endsWith(".ts");

/** node arguments to run a sibling script (compiled .js, or .ts under tsx during development). */
function script(name: string): { path: string; execArgv: string[] } {
  return { path: join(here, `${name}.${isTs ? "ts" : "js"}`), execArgv: isTs ? ["--import", "tsx"] : [] };
}

function sleep(ms: number): Promise<void> {
  return new Promise((res) => setTimeout(res, ms));
}

async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once("error", rej);
    s.listen(0, HOST, () => {
      const a = s.address();
      const port = typeof a === "object" && a ? a.port : 0;
      s.close(() => res(port));
    });
  });
}

/** A free UDP port: a TCP probe is good enough on loopback, offset into a quiet range. */
export async function freeUdpPort(): Promise<number> {
  const { createSocket } = await import("node:dgram");
  return new Promise((res) => {
    const s = createSocket("udp4");
    s.bind(0, HOST, () => {
      const p = s.address().port;
      s.close(() => res(p));
    });
  });
}

export async function runSender(
  port: number,
  rate: number,
  seconds: number,
  extra: Partial<SenderArgs> = {},
): Promise<SenderResult> {
  const s = script("sender");
  const child = spawn(
    process.execPath,
    [...s.execArgv, s.path, JSON.stringify({ host: HOST, port, rate, seconds, ...extra })],
    {
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  let out = "";
  child.stdout.on("data", (b: Buffer) => (out += b.toString()));
  const code = await new Promise<number | null>((res) => child.on("close", res));
  if (code !== 0) throw new Error(`sender exited with ${code}`);
  return JSON.parse(out.trim().split("\n").at(-1) ?? "{}") as SenderResult;
}

/** utime+stime of a process in clock ticks (Linux), or null. */
function cpuTicks(pid: number | undefined): number | null {
  if (!pid) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(f[11]) + Number(f[12]);
  } catch {
    return null;
  }
}
const CLK_TCK = 100;

export async function killGroup(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || !child.pid) return;
  const closed = new Promise<void>((res) => child.once("exit", () => res()));
  try {
    process.kill(-child.pid, "SIGTERM");
  } catch {
    child.kill("SIGTERM");
  }
  const timer = setTimeout(() => {
    try {
      process.kill(-child.pid!, "SIGKILL");
    } catch {
      child.kill("SIGKILL");
    }
  }, graceMs);
  await closed;
  clearTimeout(timer);
}

export function requireTool(name: string): void {
  const r = spawnSync("sh", ["-c", `command -v ${name}`]);
  if (r.status !== 0)
    throw new Error(
      `${name} not found: the receive benchmark measures it as a peer (apt-get install nfdump pmacct)`,
    );
}

// --- Nagare -----------------------------------------------------------------

/** What NagareUnderTest.measure saw: flows received = after.flows - before.flows. */
export interface NagareRun {
  s: SenderResult;
  before: CollectorReport;
  mid: CollectorReport | undefined;
  after: CollectorReport;
  c0: Cpu;
  c1: Cpu;
  received: number;
}

export class NagareUnderTest {
  private child!: ChildProcess;
  port = 0;
  private dir = "";

  /** `configFile`: passed as --config (bench receive --enrich: every enrichment source configured). */
  async start(configFile?: string): Promise<void> {
    this.port = await freeUdpPort();
    const http = await freePort();
    this.dir = mkdtempSync(join(tmpdir(), "nagare-bench-"));
    const s = script("collector");
    this.child = fork(
      s.path,
      [
        "start",
        "--listen",
        `${HOST}:${this.port}`,
        "--no-demo",
        "--http-listen",
        `${HOST}:${http}`,
        "--data-dir",
        this.dir,
        "--log-level",
        "error",
        ...(configFile ? ["--config", configFile] : []),
      ],
      {
        execArgv: s.execArgv,
        stdio: ["ignore", "ignore", "inherit", "ipc"],
        env: { ...process.env, NAGARE_RECEIVE_BUFFER_BYTES: String(RCVBUF) },
      },
    );
    await new Promise<void>((res, rej) => {
      const t = setTimeout(() => rej(new Error("nagare did not start in 20 s")), 20_000);
      this.child.once("exit", (c) => rej(new Error(`nagare exited with ${c}`)));
      this.child.on("message", (m) => {
        if (m === "ready") {
          clearTimeout(t);
          res();
        }
      });
    });
  }

  /** A control message to the forked collector (bench/collector.ts). */
  send(msg: string): void {
    this.child.send(msg);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  report(): Promise<CollectorReport> {
    return new Promise((res) => {
      const on = (m: unknown): void => {
        if (typeof m === "object" && m !== null) {
          this.child.off("message", on);
          res(m as CollectorReport);
        }
      };
      this.child.on("message", on);
      this.child.send("stats");
    });
  }

  /**
   * One load step against the running collector: counters and CPU before,
   * the sender, a 700 ms drain, counters and CPU after. With `sampleMid`, one
   * more report half-way through the send (for its memory figures).
   */
  async measure(
    rate: number,
    seconds: number,
    extra: Partial<SenderArgs> = {},
    sampleMid = false,
  ): Promise<NagareRun> {
    const before = await this.report();
    const c0 = cpuNow(this.pid);
    let mid: CollectorReport | undefined;
    const sampler = sampleMid
      ? sleep((seconds * 1000) / 2 + 250).then(async () => (mid = await this.report()))
      : undefined;
    const s = await runSender(this.port, rate, seconds, extra);
    await sampler;
    await sleep(700);
    const after = await this.report();
    const c1 = cpuNow(this.pid);
    return { s, before, mid, after, c0, c1, received: after.flows - before.flows };
  }

  async stop(): Promise<void> {
    const exited = new Promise<void>((res) => this.child.once("exit", () => res()));
    this.child.send("stop");
    const t = setTimeout(() => this.child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(t);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

// --- the steps ------------------------------------------------------------------

export async function runReceive(
  opts: { rates?: number[]; seconds?: number; log?: (s: string) => void } = {},
): Promise<ReceiveResult> {
  const rates = opts.rates ?? RECEIVE_RATES;
  const seconds = opts.seconds ?? 3;
  const log = opts.log ?? (() => {});
  requireTool("nfcapd");
  requireTool("nfdump");
  requireTool("nfacctd");
  requireTool("pmacct");
  const rmemMax = raiseRmemMax(RCVBUF * 2);
  const { RECEIVE_STREAM } = await import("./stream.js");
  const steps: StepResult[] = [];
  const memory: MemorySample[] = [];

  const nagare = new NagareUnderTest();
  await nagare.start();
  try {
    for (const rate of rates) {
      // Nagare: one long-running process, counters read before and after.
      const { s, before, mid, after, c0, c1, received } = await nagare.measure(rate, seconds, {}, true);
      steps.push(
        step(
          "nagare",
          rate,
          s,
          received,
          c0,
          c1,
          dropNote(after.kernelDrops - before.kernelDrops, after.ringDrops - before.ringDrops),
        ),
      );
      if (mid)
        memory.push({
          rate,
          rss: mid.rss,
          heapUsed: mid.heapUsed,
          heapTotal: mid.heapTotal,
          arrayBuffers: mid.arrayBuffers,
        });
      log(line(steps.at(-1)!));

      steps.push(await nfcapdStep(rate, seconds));
      log(line(steps.at(-1)!));
      steps.push(await nfacctdStep(rate, seconds));
      log(line(steps.at(-1)!));
    }
  } finally {
    await nagare.stop();
  }
  return {
    stream: RECEIVE_STREAM.name,
    seconds,
    rcvbuf: RCVBUF,
    rmemMax,
    steps,
    best: bestRates(steps),
    memory,
  };
}

/** What `receive --enrich --routing` reports about the routes (bench/run.ts prints it). */
export interface ReceiveEnrichRouting {
  v4: number;
  v6: number;
  /** Seconds: BIRD parse + start, then from Established to the last route. */
  birdStartSeconds: number;
  loadSeconds: number;
  /** Check step: flows seen after enrichment and those with a destination route. */
  checkFlows: number;
  routedFlows: number;
  /** The RIB's lookup cache over the check step and the measured steps. */
  cacheHits: number;
  cacheMisses: number;
}

/**
 * `npm run bench -- receive --enrich`: the loss-free rate of the real
 * collector (`nagare start --no-store`, forked) with enrichment off and with
 * every static source on — networks file, GeoIP Country + ASN .mmdb, AS
 * names, exporter and interface classifier rules, static interface names for
 * the sending exporter (127.0.0.1): the sources of `bench enrich`
 * (bench/enrich.ts writeSourcesRaw, written as a config file).
 *
 * With `routing` (`--routing`) the "on" collector also has `enrich.bgp`: a
 * BGP listener on 127.0.0.1 (ephemeral port, read back over IPC), and
 * Debian's BIRD 2 (bench/rib-daemon.ts) announces the generated full table of
 * `rib --via bird` (bench/enrich-rib.ts generatedBirdTable: 1 M IPv4 + 200 k
 * IPv6 routes) to it over eBGP from 127.0.0.1. The neighbor address is the
 * router's address, and the sender's datagrams come from 127.0.0.1 too, so
 * the flows' exporter maps to that RIB directly (no routers.map, no
 * fallback). The steps start once the RIB holds every route; a check step
 * (1 s at 20 k flows/s, counting on) then gives the share of flows that got
 * a destination route (non-empty as_path) — the stream's 4 addresses are
 * 172.17.0.2, 192.168.65.1 and 93.184.216.34, which the table covers, and
 * 8.8.8.8, which it does not. BIRD stays up (idle, keepalives) during the
 * steps, as a router's session would, and is stopped at the end.
 *
 * Two long-running collectors, stepped alternately at each rate; the peers
 * are not run in this mode.
 */
export async function runReceiveEnrich(
  opts: {
    rates?: number[];
    seconds?: number;
    log?: (s: string) => void;
    /** Also BGP routing with a generated table of this size announced by BIRD. */
    routing?: { v4: number; v6: number };
    /** Send synthetic IPFIX (4 864 source addresses, the stream of bench enrich) instead of the capture (bench/sender.ts). */
    synth?: boolean;
  } = {},
): Promise<{ steps: StepResult[]; best: Record<string, number>; routing?: ReceiveEnrichRouting }> {
  const rates = opts.rates ?? RECEIVE_RATES;
  const seconds = opts.seconds ?? 3;
  const log = opts.log ?? (() => {});
  if (opts.routing) requireBird();
  raiseRmemMax(RCVBUF * 2);
  const { writeSourcesRaw } = await import("./enrich.js");
  const dir = mkdtempSync(join(tmpdir(), "nagare-bench-enrich-cfg-"));
  const steps: StepResult[] = [];
  const off = new NagareUnderTest();
  const on = new NagareUnderTest();
  let bird: Bird | undefined;
  let routing: ReceiveEnrichRouting | undefined;
  try {
    const cfg = join(dir, "nagare.json");
    const enrich = writeSourcesRaw(dir, { networks: 10_000, geo: 20_000 }, HOST);
    if (opts.routing)
      enrich.bgp = {
        listen: `${HOST}:0`,
        asn: BGP_LOCAL_AS,
        routerId: "192.0.2.254",
        holdTimeSec: 240,
        keepMs: 0,
        neighbors: [{ address: HOST, asn: BGP_BIRD_AS, name: "bird" }],
      };
    writeFileSync(cfg, JSON.stringify({ enrich }, null, 2));
    await off.start();
    await on.start(cfg);
    if (opts.routing) {
      const r = await loadRoutesViaBird(on, opts.routing, log);
      bird = r.bird;
      routing = r.routing;
    }
    for (const rate of rates) {
      for (const [name, c] of [
        ["nagare", off],
        ["nagare+enrich", on],
      ] as const) {
        const { s, before, after, c0, c1, received } = await c.measure(
          rate,
          seconds,
          opts.synth ? { synth: true } : {},
        );
        steps.push(
          step(
            name,
            rate,
            s,
            received,
            c0,
            c1,
            dropNote(after.kernelDrops - before.kernelDrops, after.ringDrops - before.ringDrops),
          ),
        );
        log(line(steps.at(-1)!));
      }
    }
    if (routing) {
      const rr = (await on.report()).routing;
      routing.cacheHits = rr?.cacheHits ?? 0;
      routing.cacheMisses = rr?.cacheMisses ?? 0;
    }
  } finally {
    await Promise.allSettled([off.stop(), on.stop(), bird?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  }
  return routing ? { steps, best: bestRates(steps), routing } : { steps, best: bestRates(steps) };
}

/** Our AS and BIRD's (eBGP), as in `rib --via bird`. */
const BGP_LOCAL_AS = 65_535;
const BGP_BIRD_AS = 64_500;

/**
 * Start BIRD announcing the generated table to `on`'s BGP listener, wait
 * until that collector's RIB for 127.0.0.1 holds every route, then run the
 * check step. The caller stops the returned BIRD.
 */
async function loadRoutesViaBird(
  on: NagareUnderTest,
  size: { v4: number; v6: number },
  log: (s: string) => void,
): Promise<{ bird: Bird; routing: ReceiveEnrichRouting }> {
  const { generatedBirdTable } = await import("./enrich-rib.js");
  const first = (await on.report()).routing;
  if (!first?.bgpPort) throw new Error("receive --routing: the collector has no BGP listener port");
  const table = generatedBirdTable(size.v4, size.v6);
  const t0 = performance.now();
  const bird = await startBird({
    localAs: BGP_BIRD_AS,
    routerId: "192.0.2.1",
    neighbor: { address: HOST, port: first.bgpPort, as: BGP_LOCAL_AS },
    nextHop4: table.nextHop4,
    nextHop6: table.nextHop6,
    v4: size.v4,
    v6: size.v6,
    route: table.route,
  });
  try {
    const birdStartSeconds = (performance.now() - t0) / 1000;
    log(
      `  BIRD parsed ${(bird.configBytes / 1048576).toFixed(0)} MiB of static routes and started in ${bird.startedSeconds.toFixed(1)} s`,
    );
    const fail = (why: string): Error => new Error(`receive --routing: ${why}\nbird:\n${bird.log()}`);
    let rr = first;
    for (const dl = Date.now() + 60_000; !rr.established; rr = (await on.report()).routing ?? rr) {
      if (Date.now() > dl || bird.proc.exitCode !== null) throw fail("no BGP session from BIRD within 60 s");
      await sleep(50);
    }
    const t1 = performance.now();
    let last = -1;
    let lastChange = Date.now();
    for (;;) {
      rr = (await on.report()).routing ?? rr;
      if (rr.routesV4 === size.v4 && rr.routesV6 === size.v6) break;
      if (!rr.established) throw fail("BGP session lost while receiving");
      const n = rr.routesV4 + rr.routesV6;
      if (n !== last) {
        last = n;
        lastChange = Date.now();
      } else if (Date.now() - lastChange > 60_000)
        throw fail(`stalled at ${rr.routesV4}/${size.v4} IPv4, ${rr.routesV6}/${size.v6} IPv6 routes`);
      await sleep(100);
    }
    const loadSeconds = (performance.now() - t1) / 1000;
    log(
      `  collector RIB for exporter ${HOST}: ${rr.routesV4} IPv4 + ${rr.routesV6} IPv6 routes, ${loadSeconds.toFixed(1)} s from Established`,
    );
    // Check step: counting on, a low rate, counting off.
    on.send("count-routed");
    await on.measure(20_000, 1);
    on.send("count-routed-off");
    rr = (await on.report()).routing ?? rr;
    if (rr.countedFlows === 0) throw fail("check step: no flows reached the enrichment");
    if (rr.routedFlows === 0)
      throw fail(`check step: none of ${rr.countedFlows} flows got a route (as_path empty)`);
    log(
      `  check step: ${rr.routedFlows}/${rr.countedFlows} flows (${((rr.routedFlows / rr.countedFlows) * 100).toFixed(1)}%) got a destination route (non-empty as_path)`,
    );
    return {
      bird,
      routing: {
        v4: size.v4,
        v6: size.v6,
        birdStartSeconds,
        loadSeconds,
        checkFlows: rr.countedFlows,
        routedFlows: rr.routedFlows,
        cacheHits: rr.cacheHits,
        cacheMisses: rr.cacheMisses,
      },
    };
  } catch (e) {
    await bird.stop();
    throw e;
  }
}

function dropNote(kernel: number, ring: number): string | undefined {
  const parts: string[] = [];
  if (kernel > 0) parts.push(`kernel drops ${kernel} datagrams`);
  if (ring > 0) parts.push(`receive ring drops ${ring} datagrams`);
  return parts.length ? parts.join(", ") : undefined;
}

export interface Cpu {
  ticks: number | null;
  ms: number;
}

export function cpuNow(pid: number | undefined): Cpu {
  return { ticks: cpuTicks(pid), ms: performance.now() };
}

/** CPU of the collector from c0 to c1 (sender start to after the drain), % of one core. */
export function step(
  collector: string,
  rate: number,
  s: SenderResult,
  received: number,
  c0: Cpu,
  c1: Cpu,
  note?: string,
): StepResult {
  const cpu =
    c0.ticks !== null && c1.ticks !== null
      ? ((c1.ticks - c0.ticks) / CLK_TCK / ((c1.ms - c0.ms) / 1000)) * 100
      : null;
  const r: StepResult = {
    collector,
    targetRate: rate,
    sentRate: Math.round(s.rateFlows),
    sent: s.sentFlows,
    received,
    loss: s.sentFlows > 0 ? Math.max(0, 1 - received / s.sentFlows) : 0,
    cpuPercent: cpu === null ? null : Math.round(cpu),
  };
  if (note) r.note = note;
  return r;
}

export function line(s: StepResult): string {
  return `  ${s.collector.padEnd(8)} target ${(s.targetRate / 1e6).toFixed(2)} M/s  sent ${(s.sentRate / 1e6).toFixed(2)} M/s  received ${s.received}/${s.sent}  loss ${(s.loss * 100).toFixed(3)}%${s.cpuPercent !== null ? `  cpu ${s.cpuPercent}%` : ""}${s.note ? `  (${s.note})` : ""}`;
}

/** nfcapd: fresh process and directory per step; flows counted by `nfdump -R DIR -I`. */
async function nfcapdStep(rate: number, seconds: number): Promise<StepResult> {
  const dir = mkdtempSync(join(tmpdir(), "nfcapd-bench-"));
  const port = await freeUdpPort();
  const child = spawn("nfcapd", ["-B", String(RCVBUF), "-b", HOST, "-p", String(port), "-w", dir], {
    stdio: "ignore",
    detached: true,
  });
  try {
    await sleep(600);
    const c0 = cpuNow(child.pid);
    const s = await runSender(port, rate, seconds);
    await sleep(700);
    const c1 = cpuNow(child.pid);
    await killGroup(child, 5000); // SIGTERM: nfcapd closes its current file
    const out = spawnSync("nfdump", ["-R", dir, "-I"], { encoding: "utf8" }).stdout ?? "";
    const m = /^Flows:\s+(\d+)/m.exec(out);
    if (!m) throw new Error(`nfdump -I printed no flow count:\n${out}`);
    return step("nfcapd", rate, s, Number(m[1]), c0, c1);
  } finally {
    await killGroup(child, 2000);
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * nfacctd with the memory plugin (the print plugin loses records above about
 * 20 k/s, peers README). The memory table aggregates flows, so records are
 * counted through the packets they carry: received = sent flows × (packets in
 * the table / packets sent). CPU: core process only (the plugin is another).
 */
async function nfacctdStep(rate: number, seconds: number): Promise<StepResult> {
  const { s, packets, c0, c1 } = await pmacctMemoryRun("nfacctd", rate, seconds);
  const received = Math.round((s.sentFlows * packets) / s.sentPackets);
  return step("nfacctd", rate, s, received, c0, c1, "counted by packets in the memory table");
}

/**
 * One step against a fresh pmacct daemon (nfacctd or sfacctd; both read the
 * same keys under their own prefix) with the memory plugin: the sender's
 * result, the CPU samples around it and the packets `pmacct -s` finds in the
 * memory table. The caller turns packets into received records.
 */
export async function pmacctMemoryRun(
  daemon: "nfacctd" | "sfacctd",
  rate: number,
  seconds: number,
  extra: Partial<SenderArgs> = {},
): Promise<{ s: SenderResult; packets: number; c0: Cpu; c1: Cpu }> {
  const dir = mkdtempSync(join(tmpdir(), `${daemon}-bench-`));
  const port = await freeUdpPort();
  const pipe = join(dir, "pmacct.pipe");
  const conf = join(dir, `${daemon}.conf`);
  writeFileSync(
    conf,
    [
      "daemonize: false",
      `${daemon}_ip: ${HOST}`,
      `${daemon}_port: ${port}`,
      `${daemon}_pipe_size: ${RCVBUF}`,
      "plugins: memory[m]",
      "aggregate[m]: src_host,dst_host,src_port,dst_port,proto",
      `imt_path[m]: ${pipe}`,
      "imt_mem_pools_number: 0",
      "plugin_pipe_size[m]: 102400000",
      "plugin_buffer_size[m]: 102400",
      "",
    ].join("\n"),
  );
  const child = spawn(daemon, ["-f", conf], { stdio: "ignore", detached: true });
  try {
    await sleep(1200);
    const c0 = cpuNow(child.pid);
    const s = await runSender(port, rate, seconds, extra);
    await sleep(1500);
    const c1 = cpuNow(child.pid);
    const out =
      spawnSync("pmacct", ["-p", pipe, "-s", "-O", "json"], { encoding: "utf8", maxBuffer: 1 << 28 })
        .stdout ?? "";
    let packets = 0;
    for (const l of out.split("\n")) {
      if (!l.startsWith("{")) continue;
      packets += (JSON.parse(l) as { packets: number }).packets;
    }
    if (packets === 0 && s.sentPackets > 0) throw new Error("pmacct -s returned an empty memory table");
    return { s, packets, c0, c1 };
  } finally {
    await killGroup(child, 2000);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Per collector, the highest sent rate of a step with loss under LOSS_LIMIT (0 when none). */
export function bestRates(steps: StepResult[]): Record<string, number> {
  const best: Record<string, number> = {};
  for (const st of steps) {
    if (st.loss < LOSS_LIMIT) best[st.collector] = Math.max(best[st.collector] ?? 0, st.sentRate);
    else best[st.collector] ??= 0;
  }
  return best;
}

/** Raise net.core.rmem_max (root only) so every collector gets the buffer it asks for; returns the value in force. */
export function raiseRmemMax(want: number): number {
  const path = "/proc/sys/net/core/rmem_max";
  try {
    const cur = Number(readFileSync(path, "utf8").trim());
    if (cur >= want) return cur;
    try {
      writeFileSync(path, String(want));
    } catch {
      return cur;
    }
    return Number(readFileSync(path, "utf8").trim());
  } catch {
    return 0;
  }
}
