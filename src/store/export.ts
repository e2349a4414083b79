// Parquet export: every closed hour of flows_raw, written once, as
//   <dir>/date=YYYY-MM-DD/hour=HH/flows-YYYYMMDDTHH.parquet   (UTC)
// — the Hive layout lake engines (Trino/Presto's Hive connector, Spark,
// DuckDB's hive_partitioning) read as a table partitioned by date and hour.
// The partition values live only in the directory names, not in the files.
//
// Once: a file is first written under a hidden name (".…parquet.tmp": Hive
// readers skip names starting with "." or "_") in its final directory, then
// renamed, so a reader never sees half a file. Which hours are done is kept
// in <dir>/_nagare_export.json ("through": every hour before it is written)
// and, between two updates of that file, by the files themselves: after a
// crash between a rename and the state update, the file exists and the hour
// is skipped; before the rename, only the hidden temp file exists, which is
// removed at start and the hour is written again. An hour already past the
// state's "through" is never rewritten, even if its file was moved away (a
// lake compacting or archiving files does not get duplicates).
//
// Closed: an hour is written `delayMs` after its end, once the micro-batches
// received in its last second are committed (time_received is the
// collector's clock, so later rows belong to later hours).
//
// Column types are the lake's, not DuckDB's (Trino and Hive have no unsigned
// integers): u8/u16 → INTEGER, u32 → BIGINT, u64 and mac → BIGINT (u64
// clamped at 2^63-1, which no real counter reaches), ip → VARCHAR text as
// nagare_ip prints it ('' = absent), time → TIMESTAMP (milliseconds, UTC).
//
// Access: the SQL sandbox turns DuckDB's external access off for the whole
// instance (src/query/sql/service.ts), which would refuse this COPY TO too.
// start() adds the export directory to DuckDB's allowed_directories first, so
// it must run before the sandbox locks the configuration (app.ts starts the
// store, then the export, then the SQL service). User SQL still cannot write
// there (only SELECT statements pass the sandbox); it can read the export
// back with read_parquet, which is the same data flows_raw holds.
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve, sep } from "node:path";
import type { DuckDBConnection, DuckDBInstance } from "@duckdb/node-api";
import { silentLogger, type Logger } from "../log.js";
import { MACROS } from "../query/sql/macros.js";
import { FLOW_COLUMNS, type ColumnKind } from "../schema.js";
import type { ExportConfig } from "./config.js";
import { RAW_TABLE, rawTimeSql } from "./schema.js";

const HOUR_MS = 3_600_000;
export const EXPORT_STATE_FILE = "_nagare_export.json";
const BIGINT_MAX = "9223372036854775807";

const IP_COLUMNS = FLOW_COLUMNS.filter((c) => c.kind === "ip").map((c) => c.name);

/**
 * An ip column as text, equal to nagare_ip's (src/query/sql/macros.ts) but
 * about 4× faster on what most addresses are: absent (0 → '') and
 * IPv4-mapped, formatted from the low 32 bits computed once in the inner
 * projection (exportSelectSql); only IPv6 goes through the nagare_ip macro's
 * string work. Checked against nagare_ip on real IPv4 and IPv6 flows in export.test.ts.
 */
function ipText(n: string): string {
  const lo = `${n}__lo`;
  const octet = (shift: number): string => `((${lo} >> ${shift}) & 255)::VARCHAR`;
  return `CASE WHEN ${n} = 0::UHUGEINT THEN '' WHEN ${n}__v4 THEN concat(${octet(24)}, '.', ${octet(16)}, '.', ${octet(8)}, '.', ${octet(0)}) ELSE nagare_ip(${n}) END`;
}

/** Lake type of each schema kind (see the header). */
function exportExpr(name: string, kind: ColumnKind): string {
  switch (kind) {
    case "u8":
    case "u16":
      return `${name}::INTEGER AS ${name}`;
    case "u32":
      return `${name}::BIGINT AS ${name}`;
    case "u64":
    case "mac":
      return `least(${name}, ${BIGINT_MAX}::UBIGINT)::BIGINT AS ${name}`;
    case "ip":
      return `${ipText(name)} AS ${name}`;
    case "time":
      return `${name}::TIMESTAMP AS ${name}`;
    case "string":
      // Stored NULL when empty (src/store/writer.ts): the lake gets "" like the flows view.
      return `coalesce(${name}, '') AS ${name}`;
  }
}

/** The SELECT of an exported file (schema order, lake types) over the flows_raw rows matching `where`. */
export function exportSelectSql(where: string): string {
  const helpers = IP_COLUMNS.map(
    (n) => `(${n} >> 32) = 65535::UHUGEINT AS ${n}__v4, (${n} & 4294967295::UHUGEINT)::UBIGINT AS ${n}__lo`,
  );
  const outer = FLOW_COLUMNS.map((c) => exportExpr(c.name, c.kind)).join(", ");
  return `SELECT ${outer} FROM (SELECT *, ${helpers.join(", ")} FROM ${RAW_TABLE} WHERE ${where})`;
}

/** Relative path of an hour's file under the export directory. */
export function hourPath(hourMs: number): string {
  const iso = new Date(hourMs).toISOString(); // YYYY-MM-DDTHH:…Z, always UTC
  const date = iso.slice(0, 10);
  const hh = iso.slice(11, 13);
  return join(`date=${date}`, `hour=${hh}`, `flows-${date.replace(/-/g, "")}T${hh}.parquet`);
}

export interface ExportStats {
  hoursWritten: number;
  rowsWritten: number;
  errors: number;
  /** Every hour before this (epoch ms) is exported. */
  through: number;
}

export interface ParquetExportOptions {
  /** The store's instance (e.g. `() => writer.database`). */
  db: () => DuckDBInstance;
  /** config.dir must be resolved (not ""). */
  config: ExportConfig;
  /** Paths that must not be inside the export directory (the data directory: it holds the API token). */
  protect?: readonly string[];
  log?: Logger;
  /** Clock of the timer's runs (tests). */
  now?: () => number;
}

function sqlString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

export class ParquetExport {
  readonly config: ExportConfig;
  readonly dir: string;
  readonly stats: ExportStats = { hoursWritten: 0, rowsWritten: 0, errors: 0, through: 0 };
  private readonly db: () => DuckDBInstance;
  private readonly log: Logger;
  private readonly now: () => number;
  private conn: DuckDBConnection | null = null;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;

  constructor(opts: ParquetExportOptions) {
    if (opts.config.dir === "") throw new Error("store.export.dir must be resolved before the export starts");
    this.config = opts.config;
    this.dir = resolve(opts.config.dir);
    this.db = opts.db;
    this.log = opts.log ?? silentLogger;
    this.now = opts.now ?? Date.now;
    for (const p of opts.protect ?? []) {
      const abs = resolve(p);
      if (abs === this.dir || abs.startsWith(this.dir + sep)) {
        // User SQL may read the export directory: it must not hold the data directory (API token, users).
        throw new Error(`store.export.dir ${this.dir} must not contain ${abs}: use a dedicated directory`);
      }
    }
  }

  /** Allow COPY into the directory (before the SQL sandbox locks the configuration), clean up, start the timer. */
  async start(): Promise<void> {
    if (this.conn) return;
    mkdirSync(this.dir, { recursive: true });
    this.removeTemps(this.dir);
    this.stats.through = this.readState();
    const conn = await this.db().connect();
    try {
      // Append to what is allowed already (another component may have set some); the trailing
      // separator keeps "/x/export" from also allowing "/x/export-other".
      const cur = (
        await conn.runAndReadAll("SELECT current_setting('allowed_directories')::VARCHAR[]")
      ).getRowsJS()[0]?.[0] as { items?: string[] } | string[] | null | undefined;
      const list = Array.isArray(cur) ? cur : (cur?.items ?? []);
      const mine = this.dir + sep;
      if (!list.includes(mine)) {
        await conn.run(`SET GLOBAL allowed_directories = [${[...list, mine].map(sqlString).join(", ")}]`);
      }
      for (const m of MACROS) await conn.run(m);
    } catch (err) {
      conn.closeSync();
      throw new Error(
        `store export: cannot allow writes to ${this.dir} (${String(err)}); it must start before the SQL service locks DuckDB's configuration`,
        { cause: err },
      );
    }
    this.conn = conn;
    this.timer = setInterval(() => void this.run(this.now()), this.config.intervalMs);
    this.timer.unref();
    void this.run(this.now());
  }

  /** Stop the timer, wait for a file being written, close the connection. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
    this.conn?.closeSync();
    this.conn = null;
  }

  /** Write every closed hour not yet exported; runs never overlap; failures are counted, retried next run. */
  run(nowMs = this.now()): Promise<void> {
    this.running ??= this.runOnce(nowMs).finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async runOnce(nowMs: number): Promise<void> {
    const conn = this.conn;
    if (!conn) return;
    // Hours ending at or before this are closed.
    const cutoff = Math.floor((nowMs - this.config.delayMs) / HOUR_MS) * HOUR_MS;
    if (cutoff <= this.stats.through) return;
    try {
      const r = await conn.runAndReadAll(
        `SELECT DISTINCT epoch_ms(time_bucket(INTERVAL 1 HOUR, time_received::TIMESTAMP)) AS h FROM ${RAW_TABLE}
         WHERE time_received >= ${rawTimeSql("$from")} AND time_received < ${rawTimeSql("$to")} ORDER BY h`,
        { from: this.stats.through, to: cutoff },
      );
      for (const [h] of r.getRowsJS()) {
        const hour = Number(h);
        if (!existsSync(join(this.dir, hourPath(hour)))) await this.writeHour(conn, hour);
        // Advance hour by hour: a failure later in the list leaves the earlier ones recorded.
        this.writeState(hour + HOUR_MS);
      }
      this.writeState(cutoff);
    } catch (err) {
      this.stats.errors++;
      this.log.limited("store:export", "error", "parquet export failed (retried next run)", {
        error: String(err),
      });
    }
  }

  private async writeHour(conn: DuckDBConnection, hour: number): Promise<void> {
    const rel = hourPath(hour);
    const final = join(this.dir, rel);
    const dir = join(final, "..");
    mkdirSync(dir, { recursive: true });
    const tmp = join(dir, `.${rel.split(sep).pop()!}.tmp`);
    const r = await conn.runAndReadAll(
      `COPY (${exportSelectSql(`time_received >= ${rawTimeSql(hour)} AND time_received < ${rawTimeSql(hour + HOUR_MS)}`)})
       TO ${sqlString(tmp)} (FORMAT parquet, COMPRESSION ${this.config.compression})`,
    );
    renameSync(tmp, final);
    this.stats.hoursWritten++;
    this.stats.rowsWritten += Number(r.getRowsJS()[0]?.[0] ?? 0);
    this.log.info("store export: hour written", { file: final });
  }

  private readState(): number {
    try {
      const v = JSON.parse(readFileSync(join(this.dir, EXPORT_STATE_FILE), "utf8")) as { through?: unknown };
      return typeof v.through === "number" && Number.isFinite(v.through) ? v.through : 0;
    } catch {
      return 0; // no state yet: every hour still in flows_raw whose file is missing is written
    }
  }

  private writeState(through: number): void {
    if (through <= this.stats.through) return;
    const p = join(this.dir, EXPORT_STATE_FILE);
    const tmp = `${p}.tmp`;
    writeFileSync(tmp, JSON.stringify({ through, throughIso: new Date(through).toISOString() }) + "\n");
    renameSync(tmp, p);
    this.stats.through = through;
  }

  /** Temp files of a run that died before its rename. */
  private removeTemps(dir: string): void {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) this.removeTemps(p);
      else if (e.name.startsWith(".") && e.name.endsWith(".parquet.tmp")) rmSync(p, { force: true });
    }
  }
}
