// The `nagare` command. bin/nagare.js calls main(process.argv.slice(2)).
//
// Exit codes: 0 success, 1 runtime failure (e.g. a port already in use),
// 2 usage or configuration error (the message names the key and the reason).
import { readFileSync } from "node:fs";
import { App, nagareVersion } from "../app.js";
import { tokenPath } from "../api/token.js";
import { ConfigError } from "../config/schema.js";
import { loadConfig, type Override } from "../config/load.js";
import { GEN_HELP } from "../gen/cli.js";

export interface MainIo {
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
  /** Stops `nagare start` when aborted (tests); SIGINT/SIGTERM always do. */
  stop?: AbortSignal;
  /** Period of the rate summary line (default 10 s). */
  summaryIntervalMs?: number;
  /** Receives the running App once started (tests). */
  onStarted?: (app: App) => void;
}

const HELP = `nagare — network flow collector and analyzer

Usage:
  nagare start [options]      run the collector and the HTTP API
      --config FILE           configuration file (YAML or JSON); also NAGARE_CONFIG
      --listen ADDR:PORT      UDP listen address, repeatable ("0.0.0.0:2055", "[::]:2055")
      --http-listen ADDR:PORT HTTP API address (default 127.0.0.1:8080)
      --data-dir DIR          state directory (templates, API token; default ./data)
      --output jsonl:PATH     also write every flow as a JSON line to PATH ("-" = stdout)
      --no-demo | --demo      disable / enable built-in demo traffic
      --no-store              run without the flow store (no DuckDB file, no SQL API)
      --mode all|collector|store  all-in-one (default); UDP collector → Kafka only; Kafka → store + UI
      --log-level LEVEL       debug, info, warn, error
  nagare decode FILE...       decode capture files (pcap or raw export datagrams) to JSON lines
  nagare stats [--url URL] [--token T] [--data-dir DIR] [--json]
                              show per-exporter statistics of a running collector
  nagare query [--url URL] [--token T|--data-dir DIR] [--format table|csv|json] [--limit N] "SQL"
                              run read-only SQL on a running server (views: flows, flows_1m, flows_1h)
  nagare top -s DIM [-n N] [--last 1h | --from T --to T] [--metric bytes|packets|flows] ['filter']
                              TopN like nfdump -s; DIM: dstip srcip dstport srcport dstas srcas proto exporter
  nagare trino-tables --out DIR [--config FILE] [--topic T] [--schema S]
                              write Trino/Presto Kafka-connector table descriptions of the topic (docs/trino.md)
${GEN_HELP}  nagare version              print the version
  nagare help                 this text

Configuration reference: docs/configuration.md; operations: docs/operations.md.
`;

class UsageError extends Error {}

function takeValue(args: string[], i: number, flag: string): string {
  const v = args[i + 1];
  if (v === undefined || v.startsWith("--")) throw new UsageError(`${flag} needs a value`);
  return v;
}

interface StartArgs {
  config?: string;
  flags: Override[];
}

export function parseStartArgs(args: string[], env: NodeJS.ProcessEnv): StartArgs {
  const flags: Override[] = [];
  const listen: string[] = [];
  let config = env.NAGARE_CONFIG || undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const [name, inline] =
      a.startsWith("--") && a.includes("=")
        ? [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)]
        : [a, undefined];
    const value = (): string => {
      if (inline !== undefined) return inline;
      const v = takeValue(args, i, name);
      i++;
      return v;
    };
    switch (name) {
      case "--config":
        config = value();
        break;
      case "--listen":
        listen.push(value());
        break;
      case "--http-listen":
        flags.push({ key: "http.listen", value: value(), origin: "--http-listen" });
        break;
      case "--data-dir":
        flags.push({ key: "dataDir", value: value(), origin: "--data-dir" });
        break;
      case "--output": {
        const v = value();
        if (!v.startsWith("jsonl:") || v.length === 6)
          throw new UsageError(`--output: expected jsonl:PATH, got "${v}"`);
        flags.push({ key: "output.jsonl", value: v.slice(6), origin: "--output" });
        break;
      }
      case "--no-demo":
        flags.push({ key: "demo.enabled", value: false, origin: "--no-demo" });
        break;
      case "--no-store":
        flags.push({ key: "store.enabled", value: false, origin: "--no-store" });
        break;
      case "--demo":
        flags.push({ key: "demo.enabled", value: true, origin: "--demo" });
        break;
      case "--mode":
        flags.push({ key: "mode", value: value(), origin: "--mode" });
        break;
      case "--log-level":
        flags.push({ key: "log.level", value: value(), origin: "--log-level" });
        break;
      default:
        throw new UsageError(`unknown option "${a}" for start (see nagare help)`);
    }
  }
  if (listen.length) flags.push({ key: "collector.listen", value: listen, origin: "--listen" });
  return { config, flags };
}

async function start(args: string[], io: MainIo): Promise<number> {
  const { config: file, flags } = parseStartArgs(args, io.env);
  const loaded = loadConfig({ file, env: io.env, flags });
  const app = new App({ config: loaded.config, listenDefaulted: loaded.listenDefaulted });
  try {
    await app.start();
  } catch (err) {
    io.err.write(`nagare: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
  io.out.write(`nagare ${nagareVersion()} started${loaded.file ? ` (config ${loaded.file})` : ""}\n`);
  for (const line of app.describe()) io.out.write(line + "\n");
  io.onStarted?.(app);

  const summary = setInterval(() => io.out.write(app.summary() + "\n"), io.summaryIntervalMs ?? 10_000);
  await new Promise<void>((resolve) => {
    const done = (): void => {
      process.off("SIGINT", done);
      process.off("SIGTERM", done);
      io.stop?.removeEventListener("abort", done);
      resolve();
    };
    process.once("SIGINT", done);
    process.once("SIGTERM", done);
    if (io.stop?.aborted) done();
    else io.stop?.addEventListener("abort", done);
  });
  clearInterval(summary);
  io.out.write("nagare: stopping (flushing flows, saving templates)\n");
  await app.stop();
  io.out.write(app.summary() + "\n");
  io.out.write("nagare: stopped\n");
  return 0;
}

interface ExporterRow {
  exporter: string;
  packets: number;
  flowRecords: number;
  optionsRecords: number;
  sequenceLost: number;
  templates: number;
  pendingSets: number;
  versions: Record<string, number>;
  errors: Record<string, number>;
  lastSeen: string | null;
}

async function stats(args: string[], io: MainIo): Promise<number> {
  let url = "http://127.0.0.1:8080";
  let token = io.env.NAGARE_HTTP_TOKEN ?? "";
  let dataDir = io.env.NAGARE_DATA_DIR || "./data";
  let json = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--url") url = takeValue(args, i++, a);
    else if (a === "--token") token = takeValue(args, i++, a);
    else if (a === "--data-dir") dataDir = takeValue(args, i++, a);
    else if (a === "--json") json = true;
    else throw new UsageError(`unknown option "${a}" for stats`);
  }
  if (!token) {
    try {
      token = readFileSync(tokenPath(dataDir), "utf8").trim();
    } catch {
      io.err.write(
        `nagare: no API token: pass --token, set NAGARE_HTTP_TOKEN, or run where ${tokenPath(dataDir)} is readable\n`,
      );
      return 2;
    }
  }
  let res: Response;
  try {
    res = await fetch(new URL("/api/v1/exporters", url), { headers: { Authorization: `Bearer ${token}` } });
  } catch (err) {
    io.err.write(
      `nagare: cannot reach ${url}: ${(err as Error & { cause?: Error }).cause?.message ?? String(err)}\n`,
    );
    return 1;
  }
  if (!res.ok) {
    io.err.write(`nagare: ${url} answered ${res.status} ${res.statusText}\n`);
    return 1;
  }
  const rows = (await res.json()) as ExporterRow[];
  if (json) {
    io.out.write(JSON.stringify(rows, null, 2) + "\n");
    return 0;
  }
  const table: string[][] = [
    [
      "EXPORTER",
      "VERSIONS",
      "PACKETS",
      "FLOWS",
      "OPTIONS",
      "ERRORS",
      "SEQ LOST",
      "TEMPLATES",
      "PENDING",
      "LAST SEEN",
    ],
  ];
  for (const r of rows) {
    const errs = Object.values(r.errors).reduce((n, v) => n + v, 0);
    table.push([
      r.exporter,
      Object.keys(r.versions).join(",") || "-",
      String(r.packets),
      String(r.flowRecords),
      String(r.optionsRecords),
      errs
        ? `${errs} (${Object.entries(r.errors)
            .map(([k, v]) => `${k}:${v}`)
            .join(" ")})`
        : "0",
      String(r.sequenceLost),
      String(r.templates),
      String(r.pendingSets),
      r.lastSeen ?? "-",
    ]);
  }
  const widths = table[0]!.map((_, c) => Math.max(...table.map((row) => row[c]!.length)));
  for (const row of table)
    io.out.write(
      row
        .map((cell, c) => cell.padEnd(widths[c]!))
        .join("  ")
        .trimEnd() + "\n",
    );
  if (rows.length === 0) io.out.write("(no exporter has sent anything yet)\n");
  return 0;
}

export async function main(args: string[], ioIn: Partial<MainIo> = {}): Promise<number> {
  const io: MainIo = { out: process.stdout, err: process.stderr, env: process.env, ...ioIn };
  const [cmd = "help", ...rest] = args;
  try {
    switch (cmd) {
      case "start":
        return await start(rest, io);
      case "decode": {
        const { runDecode } = await import("./decode.js");
        const { SflowDecoder } = await import("../collector/sflow/decoder.js");
        return await runDecode(rest, io.out, io.err, { sflow: (o) => new SflowDecoder(o) });
      }
      case "stats":
        return await stats(rest, io);
      case "query":
      case "top": {
        const q = await import("./query.js");
        try {
          return cmd === "query" ? await q.runQuery(rest, io) : await q.runTop(rest, io);
        } catch (err) {
          if (err instanceof q.QueryUsageError) throw new UsageError(err.message);
          throw err;
        }
      }
      case "trino-tables": {
        const t = await import("../bus/trino-tables.js");
        try {
          return await t.runTrinoTables(rest, io);
        } catch (err) {
          if (err instanceof t.TrinoTablesUsageError) throw new UsageError(err.message);
          throw err;
        }
      }
      case "gen": {
        const g = await import("../gen/cli.js");
        try {
          return await g.runGen(rest, { out: io.out, err: io.err, stop: io.stop });
        } catch (err) {
          if (err instanceof g.GenUsageError) throw new UsageError(err.message);
          throw err;
        }
      }
      case "version":
      case "--version":
      case "-v":
        io.out.write(`nagare ${nagareVersion()}\n`);
        return 0;
      case "help":
      case "--help":
      case "-h":
        io.out.write(HELP);
        return 0;
      default:
        io.err.write(`nagare: unknown command "${cmd}"\n\n${HELP}`);
        return 2;
    }
  } catch (err) {
    if (err instanceof ConfigError || err instanceof UsageError) {
      io.err.write(`${err instanceof UsageError ? "nagare: " : ""}${err.message}\n`);
      return 2;
    }
    throw err;
  }
}
