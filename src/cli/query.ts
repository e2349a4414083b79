// `nagare query` and `nagare top`: clients of a running server's HTTP API
// (POST /api/v1/sql and POST /api/v1/flows/query, see docs/api.md), printing
// tables like nfdump, or CSV / JSON.
import { readFileSync } from "node:fs";
import { tokenPath } from "../api/token.js";

export interface CliIo {
  out: { write(s: string): unknown };
  err: { write(s: string): unknown };
  env: NodeJS.ProcessEnv;
}

export class QueryUsageError extends Error {}

interface Conn {
  url: string;
  token: string;
  dataDir: string;
}

type Format = "table" | "csv" | "json";

function value(args: string[], i: number, flag: string): string {
  const v = args[i + 1];
  if (v === undefined || (v.startsWith("-") && v.length > 1 && !/^-\d/.test(v)))
    throw new QueryUsageError(`${flag} needs a value`);
  return v;
}

function resolveToken(c: Conn): string {
  if (c.token) return c.token;
  try {
    return readFileSync(tokenPath(c.dataDir), "utf8").trim();
  } catch {
    throw new QueryUsageError(
      `no API token: pass --token, set NAGARE_HTTP_TOKEN, or run where ${tokenPath(c.dataDir)} is readable`,
    );
  }
}

interface Answer {
  columns: { name: string; type: string }[];
  rows: unknown[][];
  nextOffset?: number | null;
}

/** POST JSON to the API; the error body's message on a non-2xx status. */
async function post(c: Conn, path: string, body: unknown, io: CliIo): Promise<Answer | null> {
  let res: Response;
  try {
    res = await fetch(new URL(path, c.url), {
      method: "POST",
      headers: { Authorization: `Bearer ${resolveToken(c)}`, "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
  } catch (err) {
    io.err.write(
      `nagare: cannot reach ${c.url}: ${(err as Error & { cause?: Error }).cause?.message ?? String(err)}\n`,
    );
    return null;
  }
  const text = await res.text();
  if (!res.ok) {
    let msg = text.trim();
    try {
      const j = JSON.parse(text) as { error?: string };
      if (j.error) msg = j.error;
    } catch {
      // not JSON: print as is
    }
    io.err.write(`nagare: ${res.status}: ${msg}\n`);
    return null;
  }
  return JSON.parse(text) as Answer;
}

function cell(v: unknown): string {
  if (v === null || v === undefined) return "";
  return typeof v === "object" ? JSON.stringify(v) : String(v);
}

function csvCell(v: unknown): string {
  const s = cell(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Right-align numbers, left-align the rest. */
export function renderTable(header: string[], rows: string[][], numeric: boolean[]): string {
  const all = [header, ...rows];
  const widths = header.map((_, c) => Math.max(...all.map((r) => (r[c] ?? "").length)));
  return all
    .map((r) =>
      r
        .map((v, c) => (numeric[c] ? v.padStart(widths[c]!) : v.padEnd(widths[c]!)))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

function print(a: Answer, format: Format, io: CliIo): void {
  if (format === "json") {
    io.out.write(JSON.stringify(a, null, 2) + "\n");
    return;
  }
  if (format === "csv") {
    io.out.write(a.columns.map((c) => csvCell(c.name)).join(",") + "\n");
    for (const r of a.rows) io.out.write(r.map(csvCell).join(",") + "\n");
    return;
  }
  const numeric = a.columns.map((c) => /INT|DOUBLE|FLOAT|DECIMAL|REAL/i.test(c.type));
  io.out.write(
    renderTable(
      a.columns.map((c) => c.name),
      a.rows.map((r) => r.map(cell)),
      numeric,
    ) + "\n",
  );
  io.out.write(
    `(${a.rows.length} row${a.rows.length === 1 ? "" : "s"}${a.nextOffset != null ? ", more" : ""})\n`,
  );
}

function connDefaults(io: CliIo): Conn {
  return {
    url: io.env.NAGARE_URL || "http://127.0.0.1:8080",
    token: io.env.NAGARE_HTTP_TOKEN ?? "",
    dataDir: io.env.NAGARE_DATA_DIR || "./data",
  };
}

/** Common options; returns true when args[i] was one (and advances through `step`). */
function connOption(c: Conn, args: string[], i: number, step: () => void): boolean {
  const a = args[i]!;
  if (a === "--url") c.url = value(args, i, a);
  else if (a === "--token") c.token = value(args, i, a);
  else if (a === "--data-dir") c.dataDir = value(args, i, a);
  else return false;
  step();
  return true;
}

function parseFormat(v: string): Format {
  if (v !== "table" && v !== "csv" && v !== "json")
    throw new QueryUsageError(`--format: table, csv or json, not "${v}"`);
  return v;
}

/** nagare query [--url U] [--token T|--data-dir D] [--format table|csv|json] [--limit N] "SQL" */
export async function runQuery(args: string[], io: CliIo): Promise<number> {
  const c = connDefaults(io);
  let format: Format = "table";
  let limit: number | undefined;
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (connOption(c, args, i, () => i++)) continue;
    const a = args[i]!;
    if (a === "--format") format = parseFormat(value(args, i++, a));
    else if (a === "--limit") limit = Number(value(args, i++, a));
    else if (a.startsWith("--")) throw new QueryUsageError(`unknown option "${a}" for query`);
    else rest.push(a);
  }
  if (rest.length !== 1)
    throw new QueryUsageError('query needs exactly one SQL argument, e.g. nagare query "select 1"');
  const a = await post(c, "/api/v1/sql", { sql: rest[0], ...(limit !== undefined ? { limit } : {}) }, io);
  if (!a) return 1;
  print(a, format, io);
  return 0;
}

/** nfdump's -s names → schema columns. */
export const TOP_DIMENSIONS: Record<string, string> = {
  srcip: "src_addr",
  dstip: "dst_addr",
  srcport: "src_port",
  dstport: "dst_port",
  srcas: "src_as",
  dstas: "dst_as",
  proto: "protocol",
  exporter: "exporter_address",
};

/** "90s", "15m", "1h", "7d" → milliseconds. */
export function parseDuration(s: string): number {
  const m = /^(\d+(?:\.\d+)?)(s|m|h|d)$/.exec(s);
  if (!m) throw new QueryUsageError(`--last: expected a duration such as 15m, 1h or 7d, not "${s}"`);
  return Number(m[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as "s" | "m" | "h" | "d"];
}

function parseTime(s: string, flag: string): number {
  const t = /^\d+$/.test(s) ? Number(s) : Date.parse(s);
  if (!Number.isFinite(t))
    throw new QueryUsageError(`${flag}: expected ISO 8601 time or epoch ms, not "${s}"`);
  return t;
}

/**
 * nagare top -s DIM [-n N] [--last 1h | --from T --to T] [--metric bytes|packets|flows] [--format …] ['filter']
 */
export async function runTop(args: string[], io: CliIo, now = Date.now()): Promise<number> {
  const c = connDefaults(io);
  let dim: string | undefined;
  let n = 10;
  let last = 3_600_000;
  let from: number | undefined;
  let to: number | undefined;
  let metric = "bytes";
  let format: Format = "table";
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (connOption(c, args, i, () => i++)) continue;
    const a = args[i]!;
    if (a === "-s") dim = value(args, i++, a);
    else if (a === "-n") n = Number(value(args, i++, a));
    else if (a === "--last") last = parseDuration(value(args, i++, a));
    else if (a === "--from") from = parseTime(value(args, i++, a), a);
    else if (a === "--to") to = parseTime(value(args, i++, a), a);
    else if (a === "--metric") metric = value(args, i++, a);
    else if (a === "--format") format = parseFormat(value(args, i++, a));
    else if (a.startsWith("-") && a.length > 1) throw new QueryUsageError(`unknown option "${a}" for top`);
    else rest.push(a);
  }
  if (!dim || !TOP_DIMENSIONS[dim])
    throw new QueryUsageError(`top needs -s one of ${Object.keys(TOP_DIMENSIONS).join(", ")}`);
  if (!Number.isInteger(n) || n < 1) throw new QueryUsageError("-n must be an integer ≥ 1");
  if (!["bytes", "packets", "flows"].includes(metric))
    throw new QueryUsageError(`--metric: bytes, packets or flows, not "${metric}"`);
  if (rest.length > 1) throw new QueryUsageError("top takes one filter argument (quote it)");
  const end = to ?? now + 1000;
  const start = from ?? end - last;
  const column = TOP_DIMENSIONS[dim];
  const a = await post(
    c,
    "/api/v1/flows/query",
    {
      start,
      end,
      resolution: "auto",
      dimensions: [column],
      metric,
      topN: n,
      shape: "table",
      ...(rest[0] ? { filter: rest[0] } : {}),
    },
    io,
  );
  if (!a) return 1;
  const names = a.columns.map((x) => x.name);
  const iDim = names.indexOf(column!);
  const iOther = names.indexOf("other");
  const iVal = names.indexOf("value");
  const rows = a.rows
    .map((r) => ({ key: r[iOther] === true ? "(other)" : cell(r[iDim]), value: Number(r[iVal]) }))
    .sort((x, y) => Number(x.key === "(other)") - Number(y.key === "(other)") || y.value - x.value);
  if (format !== "table") {
    print(
      {
        columns: [
          { name: dim, type: "VARCHAR" },
          { name: metric, type: "BIGINT" },
        ],
        rows: rows.map((r) => [r.key, r.value]),
      },
      format,
      io,
    );
    return 0;
  }
  const total = rows.reduce((s, r) => s + r.value, 0);
  io.out.write(
    `Top ${n} ${dim} ordered by ${metric} (${new Date(start).toISOString()} – ${new Date(end).toISOString()}):\n`,
  );
  const body = rows.map((r, k) => [
    r.key === "(other)" ? "" : String(k + 1),
    r.key,
    String(r.value),
    total ? `${((100 * r.value) / total).toFixed(1)}%` : "-",
  ]);
  io.out.write(renderTable(["#", dim, metric, "%"], body, [true, false, true, true]) + "\n");
  io.out.write(`Summary: total ${metric} ${total}\n`);
  return 0;
}
