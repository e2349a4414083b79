// `nagare gen`: send generated NetFlow v9 / IPFIX / sFlow over UDP, or write
// a span of generated history straight into the store. See docs/gen.md.
import { join } from "node:path";
import { PROTOCOLS, type Proto } from "./encode.js";
import { ATTACK_KINDS, type AttackKind, type PeriodicAttacks } from "./model.js";

export class GenUsageError extends Error {}

export interface GenIo {
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
  /** Stops a running `nagare gen` (tests); SIGINT/SIGTERM always do. */
  stop?: AbortSignal;
}

export const GEN_HELP = `  nagare gen [--to HOST:PORT] [--proto v9|ipfix|sflow] [--rate N] [--duration 60s] [--attack] [--seed N]
                              send generated flows over UDP (default 127.0.0.1:2055, v9, 1000 flows/s)
  nagare gen history --data-dir DIR --days 30 --flows N [--seed N]
                              write generated history straight into the store (docs/gen.md)
`;

/** "500ms", "60s", "5m", "2h", "30d"; a bare number is seconds. */
export function parseDuration(text: string, option: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text);
  if (!m) throw new GenUsageError(`${option}: expected a duration like 60s, 5m, 2h or 30d, got "${text}"`);
  const mult = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? "s") as "s"];
  const v = Number(m[1]) * mult;
  if (!(v > 0)) throw new GenUsageError(`${option}: must be more than 0, got "${text}"`);
  return Math.round(v);
}

function parseNumber(text: string, option: string, min: number, max: number, integer = true): number {
  const v = Number(text);
  if (text.trim() === "" || !Number.isFinite(v) || (integer && !Number.isInteger(v)) || v < min || v > max)
    throw new GenUsageError(
      `${option}: expected ${integer ? "a whole number" : "a number"} in ${min}-${max}, got "${text}"`,
    );
  return v;
}

/** "127.0.0.1:2055", "[::1]:2055", "localhost:2055" (loopback). */
export function parseTarget(text: string): { host: string; port: number } {
  const m = /^\[([0-9a-fA-F:.]+)\]:(\d+)$/.exec(text) ?? /^([^:]+):(\d+)$/.exec(text);
  if (!m) throw new GenUsageError(`--to: expected HOST:PORT or [IPv6]:PORT, got "${text}"`);
  const host = m[1] === "localhost" ? "127.0.0.1" : m[1]!;
  const port = Number(m[2]);
  if (!(port >= 1 && port <= 65535)) throw new GenUsageError(`--to: port ${m[2]} out of range 1-65535`);
  return { host, port };
}

interface Common {
  seed: number;
  exporters?: number;
  samplingRate?: number;
  attack: boolean;
  attackEvery?: number;
  attackDuration?: number;
  attackRate?: number;
  attackTarget?: string;
  attackKinds?: AttackKind[];
}

/** Options shared by both forms; returns true when `a` was one of them. */
function common(c: Common, a: string, value: () => string): boolean {
  switch (a) {
    case "--seed":
      c.seed = parseNumber(value(), a, 0, 2 ** 32 - 1);
      return true;
    case "--exporters":
      c.exporters = parseNumber(value(), a, 1, 250);
      return true;
    case "--sampling":
      c.samplingRate = parseNumber(value(), a, 1, 2 ** 32 - 1);
      return true;
    case "--attack":
      c.attack = true;
      return true;
    case "--attack-every":
      c.attackEvery = parseDuration(value(), a);
      c.attack = true;
      return true;
    case "--attack-duration":
      c.attackDuration = parseDuration(value(), a);
      c.attack = true;
      return true;
    case "--attack-rate":
      c.attackRate = parseNumber(value(), a, 1, 10_000_000);
      c.attack = true;
      return true;
    case "--attack-target":
      c.attackTarget = value();
      if (!/^[0-9.]+$|:/.test(c.attackTarget))
        throw new GenUsageError(`${a}: not an IP address: "${c.attackTarget}"`);
      c.attack = true;
      return true;
    case "--attack-kind": {
      const kinds = value().split(",");
      for (const k of kinds)
        if (!(ATTACK_KINDS as readonly string[]).includes(k))
          throw new GenUsageError(`${a}: unknown attack "${k}" (one of ${ATTACK_KINDS.join(", ")})`);
      c.attackKinds = kinds as AttackKind[];
      c.attack = true;
      return true;
    }
  }
  return false;
}

function plan(
  c: Common,
  firstMs: number,
  rate: number,
  d: { everyMs: number; durationMs: number; minRate: number } = {
    everyMs: 180_000,
    durationMs: 30_000,
    minRate: 100,
  },
): PeriodicAttacks | undefined {
  if (!c.attack) return undefined;
  const durationMs = c.attackDuration ?? d.durationMs;
  const everyMs = c.attackEvery ?? d.everyMs;
  if (durationMs > everyMs) throw new GenUsageError("--attack-duration: longer than --attack-every");
  return {
    firstMs,
    everyMs,
    durationMs,
    rate: c.attackRate ?? Math.max(d.minRate, rate),
    kinds: c.attackKinds ?? ATTACK_KINDS,
    target: c.attackTarget,
  };
}

export function parseGenArgs(args: string[]): {
  mode: "send" | "history";
  send: { host: string; port: number; proto: Proto; rate: number; durationMs?: number };
  history: { dataDir: string; days: number; flows: number; endMs: number };
  c: Common;
} {
  const history = args[0] === "history";
  const rest = history ? args.slice(1) : args;
  const c: Common = { seed: 1, attack: false };
  const send: { host: string; port: number; proto: Proto; rate: number; durationMs?: number } = {
    host: "127.0.0.1",
    port: 2055,
    proto: "v9",
    rate: 1000,
  };
  const h = { dataDir: "", days: 30, flows: 0, endMs: Math.floor(Date.now() / 60_000) * 60_000 };
  let sawFlows = false;
  for (let i = 0; i < rest.length; i++) {
    const raw = rest[i]!;
    const eq = raw.startsWith("--") ? raw.indexOf("=") : -1;
    const a = eq > 0 ? raw.slice(0, eq) : raw;
    const value = (): string => {
      if (eq > 0) return raw.slice(eq + 1);
      const v = rest[i + 1];
      if (v === undefined || v.startsWith("--")) throw new GenUsageError(`${a} needs a value`);
      i++;
      return v;
    };
    if (common(c, a, value)) continue;
    if (history) {
      switch (a) {
        case "--data-dir":
          h.dataDir = value();
          continue;
        case "--days":
          h.days = parseNumber(value(), a, 0.001, 3650, false);
          continue;
        case "--flows":
          h.flows = parseNumber(value(), a, 1, 1e11);
          sawFlows = true;
          continue;
        case "--end": {
          const v = value();
          const t = Date.parse(v);
          if (Number.isNaN(t)) throw new GenUsageError(`--end: not a date/time: "${v}"`);
          h.endMs = t;
          continue;
        }
      }
      throw new GenUsageError(`unknown option "${raw}" for gen history (see nagare help)`);
    }
    switch (a) {
      case "--to":
        Object.assign(send, parseTarget(value()));
        continue;
      case "--proto": {
        const v = value();
        if (!(PROTOCOLS as readonly string[]).includes(v))
          throw new GenUsageError(`--proto: expected one of ${PROTOCOLS.join(", ")}, got "${v}"`);
        send.proto = v as Proto;
        continue;
      }
      case "--rate":
        send.rate = parseNumber(value(), a, 1, 10_000_000);
        continue;
      case "--duration":
        send.durationMs = parseDuration(value(), a);
        continue;
    }
    throw new GenUsageError(`unknown option "${raw}" for gen (see nagare help)`);
  }
  if (history) {
    if (!h.dataDir) throw new GenUsageError("--data-dir: required for gen history");
    if (!sawFlows) throw new GenUsageError("--flows: required for gen history (total flows to write)");
  }
  return { mode: history ? "history" : "send", send, history: h, c };
}

export async function runGen(args: string[], io: GenIo): Promise<number> {
  const p = parseGenArgs(args);
  const c = p.c;
  const model = { seed: c.seed, exporters: c.exporters, samplingRate: c.samplingRate };
  if (p.mode === "history") {
    const { writeHistory } = await import("./history.js");
    const { StoreWriter, defaultStoreConfig } = await import("../store/index.js");
    const h = p.history;
    const endMs = h.endMs;
    const startMs = endMs - Math.round(h.days * 86_400_000);
    const path = join(h.dataDir, "nagare.duckdb");
    const keepDays = Math.ceil(h.days) + 1;
    // Retention must not delete the history while it is written.
    const store = new StoreWriter({
      config: {
        path,
        retention: {
          ...defaultStoreConfig().retention,
          rawDays: keepDays,
          minuteDays: Math.max(90, keepDays),
          hourDays: Math.max(730, keepDays),
          intervalMs: 3_600_000,
        },
      },
    });
    await store.start();
    const t0 = Date.now();
    let lastReport = t0;
    try {
      const r = await writeHistory(store, {
        ...model,
        startMs,
        endMs,
        flows: h.flows,
        // History: a 15-minute attack every 6 hours at twice the mean flow rate.
        periodic: plan(c, startMs + 3_600_000, (2 * h.flows) / ((endMs - startMs) / 1000), {
          everyMs: 6 * 3_600_000,
          durationMs: 15 * 60_000,
          minRate: 1,
        }),
        onProgress: (rows) => {
          if (Date.now() - lastReport < 2000) return;
          lastReport = Date.now();
          io.err.write(`nagare gen: ${rows} flows written\n`);
        },
      });
      const s = (Date.now() - t0) / 1000;
      io.out.write(
        `nagare gen: wrote ${r.rows} flows (${r.attack} of them attack flows) from ${new Date(startMs).toISOString()} to ` +
          `${new Date(endMs).toISOString()} into ${path} in ${s.toFixed(1)} s (${Math.round(r.rows / s)} flows/s)\n`,
      );
      if (keepDays > 7)
        io.out.write(
          `nagare gen: the store keeps raw flows 7 days by default: start nagare with store.retention.rawDays >= ${keepDays} to keep them all\n`,
        );
    } finally {
      await store.stop();
    }
    return 0;
  }
  const { sendTraffic } = await import("./send.js");
  const s = p.send;
  const ac = new AbortController();
  const stop = (): void => ac.abort();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  io.stop?.addEventListener("abort", stop);
  io.out.write(
    `nagare gen: sending ${s.proto} to ${s.host}:${s.port} at ${s.rate} flows/s` +
      `${s.durationMs ? ` for ${s.durationMs / 1000} s` : " (Ctrl-C stops)"}${c.attack ? ", with attacks" : ""}\n`,
  );
  try {
    const r = await sendTraffic({
      ...model,
      ...s,
      periodic: plan(c, Date.now() + Math.min(10_000, c.attackEvery ?? 10_000), s.rate),
      signal: ac.signal,
      onProgress: (x) => io.err.write(`nagare gen: ${x.flows} flows, ${x.packets} datagrams\n`),
    });
    io.out.write(
      `nagare gen: sent ${r.flows} flows (${r.attackFlows} attack) in ${r.packets} datagrams, ${r.bytes} bytes, ` +
        `${(r.elapsedMs / 1000).toFixed(1)} s${r.sendErrors ? `, ${r.sendErrors} send errors` : ""}\n`,
    );
    return r.sendErrors && r.packets === r.sendErrors ? 1 : 0;
  } finally {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
    io.stop?.removeEventListener("abort", stop);
  }
}
