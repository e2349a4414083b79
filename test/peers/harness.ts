// Harness for the end-to-end tests with real peers on loopback:
//
//   exporter (softflowd / pmacctd) ──UDP──▶ UdpTee ──┬─▶ Nagare (`nagare start`, in process) ─▶ JSON lines
//                                                    ├─▶ nfcapd (NetFlow/IPFIX) ─▶ nfdump -o json
//                                                    └─▶ nfacctd / sfacctd (optional) ─▶ CSV
//
// The tee receives each export datagram once and forwards the very same bytes
// to every receiver, so Nagare and the reference collectors judge one export
// (pmacctd's counts vary from run to run; softflowd's would not, but the tee
// keeps the comparison honest either way). Receivers see the tee's socket as
// the exporter (127.0.0.1).
//
// A missing tool is an assertion failure naming the tool and how to install
// it: these tests never skip.
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createSocket, type Socket } from "node:dgram";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before } from "node:test";
import type { App } from "../../src/app.js";
import { main } from "../../src/cli/main.js";
import { formatIp, parseIp } from "../../src/collector/ip.js";
import {
  tupleKey,
  writeTrafficPcap,
  type TrafficOptions,
  type TrafficSummary,
  type TupleKey,
} from "./traffic.js";

export const TOOLS = {
  softflowd: "/usr/sbin/softflowd",
  pmacctd: "/usr/sbin/pmacctd",
  nfacctd: "/usr/sbin/nfacctd",
  sfacctd: "/usr/sbin/sfacctd",
  nfcapd: "/usr/bin/nfcapd",
  nfdump: "/usr/bin/nfdump",
} as const;

const PACKAGE: Record<keyof typeof TOOLS, string> = {
  softflowd: "softflowd",
  pmacctd: "pmacct",
  nfacctd: "pmacct",
  sfacctd: "pmacct",
  nfcapd: "nfdump",
  nfdump: "nfdump",
};

/** Fail (never skip) when a peer is missing. */
export function requireTools(...names: (keyof typeof TOOLS)[]): void {
  for (const n of names) {
    assert.ok(
      existsSync(TOOLS[n]),
      `${n} is required by this end-to-end test but ${TOOLS[n]} does not exist: ` +
        `install the Debian package "${PACKAGE[n]}" (bash .ci/run does)`,
    );
  }
}

/** The generated traffic of one describe(): a temp dir and its pcap, made before its tests, removed after. */
export interface TrafficFixture {
  dir: string;
  pcap: string;
  /** The generator's ground truth for the pcap. */
  truth: TrafficSummary;
}

/** Call inside describe(): registers the before/after hooks that make and remove the fixture. */
export function trafficFixture(prefix: string, opts: TrafficOptions = {}): TrafficFixture {
  const fx: TrafficFixture = { dir: "", pcap: "", truth: undefined as unknown as TrafficSummary };
  before(() => {
    fx.dir = mkdtempSync(join(tmpdir(), `nagare-${prefix}-`));
    fx.pcap = join(fx.dir, "traffic.pcap");
    fx.truth = writeTrafficPcap(fx.pcap, opts);
  });
  after(() => {
    if (fx.dir) rmSync(fx.dir, { recursive: true, force: true });
  });
  return fx;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Poll `cond` every 50 ms until it holds or `timeoutMs` passes; returns whether it held. */
export async function waitFor(cond: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (cond()) return true;
    await sleep(50);
  }
  return cond();
}

/** A UDP port free on 127.0.0.1 right now (the kernel picks it). */
export async function freeUdpPort(): Promise<number> {
  const s = createSocket("udp4");
  await new Promise<void>((resolve, reject) => {
    s.once("error", reject);
    s.bind(0, "127.0.0.1", () => resolve());
  });
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Is some socket bound to this UDP port (v4 or v6)? Read from /proc, so it works for other processes. */
export function udpPortBound(port: number): boolean {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, "0")} `;
  for (const f of ["/proc/net/udp", "/proc/net/udp6"]) {
    try {
      for (const line of readFileSync(f, "utf8").split("\n").slice(1)) {
        const local = line.trim().split(/\s+/)[1];
        if (local && `${local} `.endsWith(hex)) return true;
      }
    } catch {
      // no IPv6
    }
  }
  return false;
}

const SOCKET_BUFFER = 32 * 1024 * 1024;

// ---- the tee -----------------------------------------------------------------

export class UdpTee {
  private sock: Socket | null = null;
  port = 0;
  datagrams = 0;
  bytes = 0;
  lastMs = 0;
  sendErrors = 0;
  private pending = 0;

  constructor(readonly targets: number[]) {}

  async start(): Promise<void> {
    const sock = createSocket({ type: "udp4", recvBufferSize: SOCKET_BUFFER });
    await new Promise<void>((resolve, reject) => {
      sock.once("error", reject);
      sock.bind(0, "127.0.0.1", () => resolve());
    });
    this.port = sock.address().port;
    sock.on("message", (msg) => {
      this.datagrams++;
      this.bytes += msg.length;
      this.lastMs = Date.now();
      for (const port of this.targets) {
        this.pending++;
        // Sent from the receiving socket itself: every receiver sees one
        // exporter address, as if the exporter had sent to it directly.
        sock.send(msg, port, "127.0.0.1", (err) => {
          this.pending--;
          if (err) this.sendErrors++;
        });
      }
    });
    this.sock = sock;
  }

  /** Wait until nothing arrived for `quietMs` and every forward was handed to the kernel. */
  async drained(quietMs = 400, timeoutMs = 20_000): Promise<void> {
    const ok = await waitFor(
      () => this.pending === 0 && this.lastMs > 0 && Date.now() - this.lastMs >= quietMs,
      timeoutMs,
    );
    assert.ok(
      ok,
      `tee: export did not go quiet within ${timeoutMs} ms (received ${this.datagrams} datagrams)`,
    );
  }

  async stop(): Promise<void> {
    const s = this.sock;
    this.sock = null;
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }
}

// ---- child processes ---------------------------------------------------------

export interface Proc {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

export function startProc(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Proc {
  const child = spawn(cmd, args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let text = "";
  const keep = (d: Buffer): void => {
    text += d.toString();
    if (text.length > 200_000) text = text.slice(-100_000);
  };
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  const exited = new Promise<number | null>((resolve) => {
    child.once("error", (err) => {
      text += `\nspawn error: ${err.message}`;
      resolve(-1);
    });
    child.once("exit", (code, signal) => resolve(signal ? -1 : code));
  });
  return { child, output: () => text, exited };
}

/** Wait for a process to end by itself; kill it (SIGKILL) and fail after `timeoutMs`. */
export async function awaitExit(p: Proc, what: string, timeoutMs: number): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), timeoutMs)));
  const res = await Promise.race([p.exited, timeout]);
  clearTimeout(timer);
  if (res === "timeout") {
    p.child.kill("SIGKILL");
    await p.exited;
    assert.fail(`${what} did not exit within ${timeoutMs} ms; output:\n${p.output().slice(-3000)}`);
  }
  return res;
}

/** Send a signal and wait for the exit (SIGKILL and fail if it hangs). */
export async function stopProc(
  p: Proc,
  what: string,
  signal: NodeJS.Signals,
  timeoutMs = 10_000,
): Promise<void> {
  if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill(signal);
  await awaitExit(p, what, timeoutMs);
}

// ---- nfcapd / nfdump ----------------------------------------------------------

export class Nfcapd {
  proc: Proc | null = null;
  port = 0;
  constructor(readonly dir: string) {}

  async start(): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    this.port = await freeUdpPort();
    // -B: a large socket buffer (exporters send the whole file in one burst);
    // -t 3600: one file for the whole test (no rotation mid-run).
    this.proc = startProc(TOOLS.nfcapd, [
      "-B",
      String(SOCKET_BUFFER),
      "-b",
      "127.0.0.1",
      "-p",
      String(this.port),
      "-t",
      "3600",
      "-w",
      this.dir,
    ]);
    const ok = await waitFor(() => udpPortBound(this.port) || this.proc!.child.exitCode !== null, 10_000);
    assert.ok(ok && this.proc.child.exitCode === null, `nfcapd did not start:\n${this.proc.output()}`);
  }

  /** SIGTERM makes nfcapd flush its file and exit. */
  async stop(): Promise<void> {
    if (this.proc) await stopProc(this.proc, "nfcapd", "SIGTERM");
  }

  /** "Sequence Errors: N" from nfcapd's exit line (softflowd's IPFIX trips it with nothing lost). */
  get sequenceErrors(): number {
    const m = /Sequence Errors: (\d+)/.exec(this.proc?.output() ?? "");
    return m ? Number(m[1]) : -1;
  }
}

export interface FlowRec {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  proto: number;
  packets: number;
  bytes: number;
  /** ms since epoch, or NaN when the source does not carry it. */
  first: number;
  last: number;
  /** 1-in-N sampling rate the record carries (Nagare's sampling_rate column); absent for references. */
  samplingRate?: number;
}

/** Canonical text of an address (both sides pass through the same formatter). */
export function canonIp(text: string): string {
  const b = parseIp(text.trim());
  assert.ok(b, `not an IP address: "${text}"`);
  return formatIp(b, 0);
}

/** Every flow record nfdump reads back from nfcapd's files (`nfdump -R DIR -o json`). */
export function nfdumpRecords(dir: string): FlowRec[] {
  // TZ=UTC: nfdump prints first/last in local time without an offset.
  const r = spawnSync(TOOLS.nfdump, ["-R", dir, "-o", "json"], {
    encoding: "utf8",
    maxBuffer: 1 << 30,
    env: { ...process.env, TZ: "UTC" },
  });
  assert.equal(r.status, 0, `nfdump -R ${dir} failed: ${r.stderr}`);
  const text = r.stdout.trim();
  const rows = (text === "" ? [] : JSON.parse(text)) as Record<string, string | number>[];
  return rows
    .filter((x) => x.type === "FLOW")
    .map((x) => ({
      src: canonIp(String(x.src4_addr ?? x.src6_addr)),
      dst: canonIp(String(x.dst4_addr ?? x.dst6_addr)),
      // ICMP records carry icmp_type/icmp_code instead of ports (nfdump
      // stores type*256+code in the destination port, as NetFlow v5 does).
      sport: x.icmp_type !== undefined ? 0 : Number(x.src_port),
      dport: x.icmp_type !== undefined ? Number(x.icmp_type) * 256 + Number(x.icmp_code) : Number(x.dst_port),
      proto: Number(x.proto),
      packets: Number(x.in_packets),
      bytes: Number(x.in_bytes),
      first: Date.parse(String(x.first) + "Z"),
      last: Date.parse(String(x.last) + "Z"),
    }));
}

// ---- Nagare -------------------------------------------------------------------

export interface NagareRun {
  app: App;
  port: number;
  jsonl: string;
  stop: () => Promise<void>;
  output: () => string;
}

/**
 * Start the real collector through the `nagare start` command (src/cli/main.ts,
 * the code bin/nagare.js runs) in this process: UDP on an ephemeral loopback
 * port, HTTP on an ephemeral port, no demo traffic, every flow written as a
 * JSON line.
 */
export async function startNagare(dir: string): Promise<NagareRun> {
  const jsonl = join(dir, "flows.jsonl");
  const abort = new AbortController();
  let text = "";
  const sink = (): NodeJS.WritableStream =>
    ({
      write: (s: string | Uint8Array): boolean => {
        text += typeof s === "string" ? s : Buffer.from(s).toString();
        return true;
      },
    }) as unknown as NodeJS.WritableStream;
  let started: (app: App) => void = () => {};
  const appReady = new Promise<App>((r) => (started = r));
  const done = main(
    [
      "start",
      "--listen",
      "127.0.0.1:0",
      "--http-listen",
      "127.0.0.1:0",
      "--no-demo",
      "--data-dir",
      join(dir, "data"),
      "--output",
      `jsonl:${jsonl}`,
      "--log-level",
      "error",
    ],
    { out: sink(), err: sink(), env: {}, stop: abort.signal, onStarted: started },
  );
  const app = await Promise.race([
    appReady,
    done.then((code) => assert.fail(`nagare start exited early (code ${String(code)}):\n${text}`)),
  ]);
  const port = app.collector.bound[0]?.port;
  assert.ok(port, `nagare bound no UDP socket:\n${text}`);
  return {
    app,
    port,
    jsonl,
    output: () => text,
    stop: async () => {
      abort.abort();
      const code = await done;
      assert.equal(code, 0, `nagare start exited with ${String(code)}:\n${text}`);
    },
  };
}

/** Nagare's flows from its JSON-lines output. ICMP type/code folded into dport as exporters and nfdump do. */
export function nagareRecords(jsonl: string): FlowRec[] {
  const out: FlowRec[] = [];
  for (const line of readFileSync(jsonl, "utf8").split("\n")) {
    if (line === "") continue;
    const r = JSON.parse(line) as Record<string, string | number>;
    const proto = Number(r.protocol);
    const icmp = proto === 1 || proto === 58;
    out.push({
      src: canonIp(String(r.src_addr)),
      dst: canonIp(String(r.dst_addr)),
      sport: Number(r.src_port),
      dport: icmp ? Number(r.icmp_type) * 256 + Number(r.icmp_code) : Number(r.dst_port),
      proto,
      packets: Number(r.packets),
      bytes: Number(r.bytes),
      first: Number(r.time_flow_start),
      last: Number(r.time_flow_end),
      samplingRate: Number(r.sampling_rate),
    });
  }
  return out;
}

/**
 * Traffic estimate of sampled records: each one stands for sampling_rate
 * times its packets and bytes (an sFlow flow sample is one packet, stored
 * unscaled). A record without a rate gives NaN, so the comparison fails.
 */
export function scaleBySampling(recs: readonly FlowRec[]): FlowRec[] {
  return recs.map((r) => {
    const n = r.samplingRate ?? NaN;
    return { ...r, packets: r.packets * n, bytes: r.bytes * n };
  });
}

// ---- comparison ---------------------------------------------------------------

export interface Agg {
  flows: number;
  packets: number;
  bytes: number;
}

/** How a record is keyed: its 5-tuple, unless a test must blur a field a reference cannot see. */
export type KeyOf = (r: FlowRec) => TupleKey;
export const fiveTuple: KeyOf = (r) => tupleKey(r.src, r.dst, r.sport, r.dport, r.proto);

export function aggregate(recs: readonly FlowRec[], keyOf: KeyOf = fiveTuple): Map<TupleKey, Agg> {
  const m = new Map<TupleKey, Agg>();
  for (const r of recs) {
    const k = keyOf(r);
    const a = m.get(k);
    if (a) {
      a.flows++;
      a.packets += r.packets;
      a.bytes += r.bytes;
    } else m.set(k, { flows: 1, packets: r.packets, bytes: r.bytes });
  }
  return m;
}

export function totals(m: ReadonlyMap<TupleKey, Agg>): Agg {
  const t = { flows: 0, packets: 0, bytes: 0 };
  for (const a of m.values()) {
    t.flows += a.flows;
    t.packets += a.packets;
    t.bytes += a.bytes;
  }
  return t;
}

/**
 * Differences between two per-5-tuple aggregates, as readable lines (empty =
 * identical). `fields` picks what must match (flows are not compared against
 * the traffic's ground truth, which has no notion of flow splitting).
 */
export function diffAggregates(
  a: ReadonlyMap<TupleKey, Partial<Agg>>,
  b: ReadonlyMap<TupleKey, Partial<Agg>>,
  names: [string, string],
  fields: (keyof Agg)[] = ["flows", "packets", "bytes"],
): string[] {
  const out: string[] = [];
  for (const [k, x] of a) {
    const y = b.get(k);
    if (!y) {
      out.push(`${k}: only in ${names[0]} ${JSON.stringify(x)}`);
      continue;
    }
    for (const f of fields) {
      if (x[f] !== y[f]) out.push(`${k}: ${f} ${names[0]}=${x[f]} ${names[1]}=${y[f]}`);
    }
  }
  for (const [k, y] of b) if (!a.has(k)) out.push(`${k}: only in ${names[1]} ${JSON.stringify(y)}`);
  return out;
}

export function showDiff(lines: readonly string[], limit = 20): string {
  const head = lines.slice(0, limit).join("\n  ");
  return `${lines.length} difference(s):\n  ${head}${lines.length > limit ? `\n  … and ${lines.length - limit} more` : ""}`;
}

/** Per-5-tuple earliest start and latest end (ms), to compare flow times between collectors. */
export function timeSpans(
  recs: readonly FlowRec[],
  keyOf: KeyOf = fiveTuple,
): Map<TupleKey, { first: number; last: number }> {
  const m = new Map<TupleKey, { first: number; last: number }>();
  for (const r of recs) {
    const k = keyOf(r);
    const s = m.get(k);
    if (s) {
      s.first = Math.min(s.first, r.first);
      s.last = Math.max(s.last, r.last);
    } else m.set(k, { first: r.first, last: r.last });
  }
  return m;
}

// ---- one export, every receiver -----------------------------------------------

export interface ExportRun {
  nagare: FlowRec[];
  /** Empty without nfcapd. */
  nfdump: FlowRec[];
  tee: UdpTee;
  nfcapd: Nfcapd | null;
  /** Nagare's counters after the run. */
  stats: {
    packets: number;
    flowRecords: number;
    errors: number;
    sequenceLost: number;
    kernelDrops: number;
    handlerErrors: number;
    decodeErrors: Record<string, number>;
  };
  extra: Map<string, unknown>;
}

/** A receiver beside Nagare and nfcapd (nfacctd, sfacctd): started before the export, stopped after it. */
export interface ExtraReceiver {
  name: string;
  start(): Promise<number>; // → its UDP port
  stop(): Promise<unknown>; // → its result, kept in ExportRun.extra
}

/**
 * Start nfcapd (unless `opts.nfcapd` is false: it does not read sFlow),
 * Nagare (and any extra receiver), a tee in front of them, run
 * `exporter(teePort)` to completion, let everything drain, stop the receivers
 * (flushing them) and read back what each one stored.
 */
export async function exportToCollectors(
  dir: string,
  exporter: (teePort: number, tee: UdpTee) => Promise<void>,
  extras: ExtraReceiver[] = [],
  opts: { nfcapd?: boolean } = {},
): Promise<ExportRun> {
  const nfcapd = opts.nfcapd === false ? null : new Nfcapd(join(dir, "nfcapd"));
  await nfcapd?.start();
  let nagare: NagareRun;
  try {
    nagare = await startNagare(dir);
  } catch (err) {
    await nfcapd?.stop().catch(() => {});
    throw err;
  }
  const tee = new UdpTee(nfcapd ? [nagare.port, nfcapd.port] : [nagare.port]);
  const started: ExtraReceiver[] = [];
  const extra = new Map<string, unknown>();
  let failure: unknown = null;
  try {
    for (const x of extras) {
      tee.targets.push(await x.start());
      started.push(x);
    }
    await tee.start();
    await exporter(tee.port, tee);
    await tee.drained();
    const decoded = await waitFor(() => nagare.app.stats.totals().packets >= tee.datagrams, 10_000);
    assert.ok(
      decoded,
      `Nagare decoded ${nagare.app.stats.totals().packets} of the ${tee.datagrams} export datagrams the tee forwarded`,
    );
    // nfcapd (and the extras) read their sockets on their own schedule; give them a moment.
    await sleep(300);
  } catch (err) {
    failure = err;
  }
  // Stop everything even after a failure (no stray daemons); the first error wins.
  await tee.stop();
  nagare.app.collector.readDrops();
  const stops: (() => Promise<void>)[] = [
    () => nfcapd?.stop() ?? Promise.resolve(),
    () => nagare.stop(),
    ...started.map((x) => async () => void extra.set(x.name, await x.stop())),
  ];
  for (const stop of stops) {
    try {
      await stop();
    } catch (err) {
      failure ??= err;
    }
  }
  if (failure) throw failure;
  const errors: Record<string, number> = {};
  for (const s of nagare.app.stats.exporters.values()) {
    for (const [k, v] of Object.entries(s.errors)) if (v) errors[k] = (errors[k] ?? 0) + v;
  }
  const t = nagare.app.stats.totals();
  return {
    nagare: nagareRecords(nagare.jsonl),
    nfdump: nfcapd ? nfdumpRecords(nfcapd.dir) : [],
    tee,
    nfcapd,
    stats: {
      packets: t.packets,
      flowRecords: t.flowRecords,
      errors: t.errors,
      sequenceLost: t.sequenceLost,
      kernelDrops: nagare.app.stats.kernelDrops,
      handlerErrors: nagare.app.collector.handlerErrors,
      decodeErrors: errors,
    },
    extra,
  };
}

// ---- pmacct: pmacctd as an exporter, nfacctd / sfacctd as references ------------

const PROTO_NAMES: Record<string, number> = { icmp: 1, tcp: 6, udp: 17, "ipv6-icmp": 58 };

/** Pipe sizes per /work/shared/peers/README.md: with the defaults pmacct loses 3–10 % of records in a burst. */
const pmacctPipes = (plugin: string): string[] => [
  `plugin_pipe_size[${plugin}]: 102400000`,
  `plugin_buffer_size[${plugin}]: 102400`,
];

/** How long pmacctd's export plugin gets to drain its pipe after the core read the file. */
export const PMACCTD_DRAIN_MS = 8000;

/**
 * Run pmacctd over `pcap` with one export plugin (nfprobe or sfprobe, its
 * settings given without the `[name]` suffix), per the peers README:
 * pcap_savefile_wait keeps pmacctd up after the file, `caughtUp` (by
 * default ~8 s) lets the plugin drain its pipe, then SIGINT makes it export
 * everything it still holds and exit.
 */
export async function runPmacctd(
  dir: string,
  pcap: string,
  plugin: "nfprobe" | "sfprobe",
  settings: Record<string, string | number>,
  caughtUp: () => Promise<void> = () => sleep(PMACCTD_DRAIN_MS),
): Promise<void> {
  const conf = join(dir, "pmacctd.conf");
  writeFileSync(
    conf,
    [
      "daemonize: false",
      `pcap_savefile: ${pcap}`,
      "pcap_savefile_wait: true",
      `plugins: ${plugin}[p]`,
      ...Object.entries(settings).map(([k, v]) => `${k}[p]: ${v}`),
      ...pmacctPipes("p"),
      "",
    ].join("\n"),
  );
  const p = startProc(TOOLS.pmacctd, ["-f", conf]);
  try {
    const read = await waitFor(
      () => p.output().includes("finished reading PCAP capture file") || p.child.exitCode !== null,
      20_000,
    );
    assert.ok(read && p.child.exitCode === null, `pmacctd did not read ${pcap}:\n${p.output().slice(-3000)}`);
    await caughtUp();
  } finally {
    // SIGINT: the plugin exports what it still holds, then pmacctd exits.
    await stopProc(p, "pmacctd", "SIGINT", 20_000);
  }
  // Two clean endings: the core exits ("OK, Exiting ...") or, when the plugin
  // finished its shutdown first, notices it gone ("no more plugins active").
  assert.match(
    p.output(),
    /Exiting|no more plugins active\. Shutting down/,
    `pmacctd did not shut down cleanly:\n${p.output().slice(-2000)}`,
  );
}

/**
 * nfacctd or sfacctd with the print plugin: a CSV aggregated on the 5-tuple,
 * written when it exits (print_refresh_time 3600, SIGINT purges the cache).
 * It has no flow count, so comparisons look at packets and bytes only.
 */
function pmacctReceiver(tool: "nfacctd" | "sfacctd", dir: string): ExtraReceiver & { csv: string } {
  const csv = join(dir, `${tool}.csv`);
  let proc: Proc | null = null;
  return {
    name: tool,
    csv,
    async start() {
      mkdirSync(dir, { recursive: true });
      const port = await freeUdpPort();
      const conf = join(dir, `${tool}.conf`);
      writeFileSync(
        conf,
        [
          "daemonize: false",
          `${tool}_ip: 127.0.0.1`,
          `${tool}_port: ${port}`,
          `${tool}_pipe_size: ${SOCKET_BUFFER}`,
          "plugins: print[p]",
          "aggregate[p]: src_host,dst_host,src_port,dst_port,proto",
          "print_output[p]: csv",
          `print_output_file[p]: ${csv}`,
          "print_refresh_time[p]: 3600",
          ...pmacctPipes("p"),
          "",
        ].join("\n"),
      );
      proc = startProc(TOOLS[tool], ["-f", conf]);
      const p = proc;
      const ok = await waitFor(() => udpPortBound(port) || p.child.exitCode !== null, 10_000);
      assert.ok(ok && p.child.exitCode === null, `${tool} did not start:\n${p.output()}`);
      return port;
    },
    async stop() {
      if (!proc) return [];
      await stopProc(proc, tool, "SIGINT");
      assert.ok(existsSync(csv), `${tool} wrote no ${csv}:\n${proc.output().slice(-2000)}`);
      return pmacctRecords(csv, tool);
    },
  };
}

/** nfacctd, NetFlow/IPFIX reference; it reports ICMP with ports 0/0 (compare on nfacctdKey). */
export const nfacctdReceiver = (dir: string): ExtraReceiver & { csv: string } =>
  pmacctReceiver("nfacctd", dir);

/** sfacctd, sFlow reference. */
export const sfacctdReceiver = (dir: string): ExtraReceiver & { csv: string } =>
  pmacctReceiver("sfacctd", dir);

/** The records of a pmacct print-plugin CSV (5-tuple, PACKETS, BYTES). */
export function pmacctRecords(csv: string, tool = "pmacct"): FlowRec[] {
  const lines = readFileSync(csv, "utf8")
    .split("\n")
    .filter((l) => l !== "");
  const head = lines.shift()?.split(",") ?? [];
  const col = (name: string): number => {
    const i = head.indexOf(name);
    assert.ok(i >= 0, `${tool} CSV has no ${name} column: ${head.join(",")}`);
    return i;
  };
  const [sa, da, sp, dp, pr, pk, by] = [
    "SRC_IP",
    "DST_IP",
    "SRC_PORT",
    "DST_PORT",
    "PROTOCOL",
    "PACKETS",
    "BYTES",
  ].map(col);
  return lines.map((l) => {
    const f = l.split(",");
    const protoText = f[pr!]!;
    const proto = /^\d+$/.test(protoText) ? Number(protoText) : PROTO_NAMES[protoText];
    assert.ok(proto !== undefined, `${tool} CSV: unknown protocol "${protoText}"`);
    return {
      src: canonIp(f[sa!]!),
      dst: canonIp(f[da!]!),
      sport: Number(f[sp!]),
      dport: Number(f[dp!]),
      proto,
      packets: Number(f[pk!]),
      bytes: Number(f[by!]),
      first: NaN,
      last: NaN,
    };
  });
}

/** The 5-tuple with ICMP/ICMPv6 type and code left out (for references that lose them). */
export const icmpBlindKey: KeyOf = (r) =>
  fiveTuple(r.proto === 1 || r.proto === 58 ? { ...r, sport: 0, dport: 0 } : r);

/** The key nfacctd can be compared on: it prints ICMP with ports 0/0. */
export const nfacctdKey: KeyOf = icmpBlindKey;

/** Per-5-tuple flow start/end differences (ms), Nagare vs a reference, as readable lines. */
export function diffTimes(
  ours: readonly FlowRec[],
  ref: readonly FlowRec[],
  keyOf: KeyOf = fiveTuple,
): string[] {
  const mine = timeSpans(ours, keyOf);
  const out: string[] = [];
  for (const [k, r] of timeSpans(ref, keyOf)) {
    const o = mine.get(k);
    if (o && (o.first !== r.first || o.last !== r.last)) {
      out.push(`${k}: nagare ${o.first}..${o.last} reference ${r.first}..${r.last}`);
    }
  }
  return out;
}

/**
 * The export really happened and Nagare took every datagram cleanly: as many
 * export packets as the tee forwarded, no decode error (but `tolerated`
 * reasons, each at most once per datagram), no handler exception, no kernel
 * drop, one JSON line per flow record.
 */
export function assertCleanRun(run: ExportRun, tolerated: string[] = []): void {
  assert.ok(run.tee.datagrams > 10, `the tee saw only ${run.tee.datagrams} export datagrams`);
  assert.equal(run.tee.sendErrors, 0, "the tee failed to forward some datagrams");
  assert.equal(run.stats.packets, run.tee.datagrams, "Nagare counted a different number of export packets");
  const errors = { ...run.stats.decodeErrors };
  for (const reason of tolerated) {
    if ((errors[reason] ?? 0) <= run.tee.datagrams) delete errors[reason];
  }
  assert.deepEqual(errors, {}, "Nagare reported decode errors");
  assert.equal(run.stats.handlerErrors, 0, "Nagare's message handler threw");
  assert.equal(run.stats.kernelDrops, 0, "the kernel dropped datagrams on Nagare's socket");
  assert.equal(run.stats.flowRecords, run.nagare.length, "flow records counted ≠ JSON lines written");
}
