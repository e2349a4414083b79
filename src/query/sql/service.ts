// SqlService: user SQL over the store, read-only and sandboxed.
//
// Where the guarantees come from (details and limits in docs/sql.md):
// - The sandbox shares the StoreWriter's DuckDBInstance: DuckDB lets one
//   process open a file read-write only once, and a second read-only instance
//   would not see the writer's newer commits. So what DuckDB enforces per
//   instance is set on that instance at start(), then locked:
//   enable_external_access=false (no file, URL, ATTACH of a file, COPY,
//   INSTALL), autoinstall/autoload of extensions off, unsigned extensions off,
//   memory_limit and threads, and lock_configuration=true (no SET afterwards).
// - Per query: DuckDB's own parser splits the text (extractStatements); more
//   than one statement is refused, and the one statement must prepare as a
//   SELECT (DuckDB's statement type, so PRAGMA/SHOW/DESCRIBE that DuckDB
//   rewrites into a SELECT are allowed, everything else is not).
// - The query runs inside BEGIN TRANSACTION READ ONLY: even a write that got
//   through would fail in DuckDB's transaction manager.
// - Results are streamed chunk by chunk and stop after one page.
import { randomUUID } from "node:crypto";
import {
  JsonDuckDBValueConverter,
  StatementType,
  type DuckDBConnection,
  type DuckDBInstance,
  type DuckDBResult,
  type DuckDBType,
  type DuckDBValue,
  type Json,
} from "@duckdb/node-api";
import { defaultSqlConfig, type SqlConfig } from "./config.js";
import {
  SqlCancelledError,
  SqlError,
  SqlInvalidError,
  SqlRefusedError,
  SqlTimeoutError,
  SqlUnavailableError,
} from "./errors.js";
import { ensureLiveView } from "../../store/live.js";
import { MACROS, VIEW_NAMES, viewsSql } from "./macros.js";

export interface SqlColumn {
  name: string;
  type: string;
}

export interface SqlPage {
  /** Id the query ran under (cancel() takes it). */
  id: string;
  columns: SqlColumn[];
  /** At most maxRows rows, as JSON-safe values (DuckDB's JSON conversion: 64-bit integers and BLOBs become strings …). */
  rows: Json[][];
  /** Row number of rows[0] in the whole result. */
  offset: number;
  /** Offset of the next page, or null when this page is the last. */
  nextOffset: number | null;
}

export interface SqlQueryOptions {
  /** Rows of the result to skip (a page's nextOffset). The query runs again: use ORDER BY for stable pages. */
  offset?: number;
  /** Rows per page, at most config.maxRows. */
  limit?: number;
  /** Caller-chosen id for cancel(); a random one otherwise. */
  id?: string;
  /** Time limit for this query, at most config.timeoutMs. */
  timeoutMs?: number;
}

export interface SqlCursorOptions {
  /** Values for the statement's ? / $n parameters, bound by DuckDB (never spliced into the text). */
  params?: DuckDBValue[];
  /** DuckDB types of `params` (undefined entries: inferred from the value). */
  paramTypes?: (DuckDBType | undefined)[];
  /** Caller-chosen id for cancel(); a random one otherwise. */
  id?: string;
  /** Time limit from open() to close(), at most config.timeoutMs. */
  timeoutMs?: number;
}

/**
 * A query kept open and read forward chunk by chunk (the Trino protocol's
 * nextUri paging): one sandbox connection and its read-only transaction are
 * held until close(), which the caller must call (also on errors).
 */
export interface SqlCursor {
  readonly id: string;
  readonly columns: SqlColumn[];
  /** DuckDB's column types, for typed encodings. */
  readonly types: DuckDBType[];
  /** Up to maxRows further rows as DuckDB values; [] once the result is exhausted. */
  next(maxRows: number): Promise<DuckDBValue[][]>;
  /** True once next() has returned the last row. */
  readonly done: boolean;
  /** Ends the query (interrupting it if it runs) and returns the connection. Idempotent. */
  close(): Promise<void>;
}

interface Running {
  conn: DuckDBConnection;
  cancelled: boolean;
  /** Repeats the interrupt until the query ends (see stopRunning). */
  repeat?: NodeJS.Timeout;
}

/** How often an interrupt is repeated until the query stops. */
const INTERRUPT_REPEAT_MS = 25;

/**
 * Interrupt `r`'s query, again every INTERRUPT_REPEAT_MS until query()
 * clears it: DuckDB drops an interrupt that comes while the connection is
 * between statements (parsing, preparing, BEGIN) — its flag is reset when a
 * query starts — and a single interrupt there would let the query run on.
 */
function stopRunning(r: Running): void {
  r.conn.interrupt();
  r.repeat ??= setInterval(() => r.conn.interrupt(), INTERRUPT_REPEAT_MS);
}

/** Statement type names for error messages. */
function typeName(t: StatementType): string {
  return (StatementType[t] ?? String(t)).toUpperCase();
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * DuckDB's own refusals (external access off, locked configuration,
 * read-only transaction) → SqlRefusedError; any other DuckDB error is the
 * user's query → SqlInvalidError. The message is DuckDB's, which names the
 * file/setting and points at the position in the query.
 */
function classify(err: unknown): SqlError {
  if (err instanceof SqlError) return err;
  const msg = errorText(err);
  if (
    /Permission Error|configuration has been locked|read-only mode|disabled through configuration/i.test(msg)
  ) {
    return new SqlRefusedError(msg);
  }
  return new SqlInvalidError(msg);
}

export class SqlService {
  readonly config: SqlConfig;
  private readonly db: () => DuckDBInstance;
  private idle: DuckDBConnection[] = [];
  private readonly running = new Map<string, Running>();
  private started = false;

  /** `db` returns the store's instance (e.g. `() => writer.database`), read at start(). */
  constructor(db: () => DuckDBInstance, config: Partial<SqlConfig> = {}) {
    this.db = db;
    this.config = { ...defaultSqlConfig(), ...config };
  }

  /** Lock the instance down (see the header) and check the views build. */
  async start(): Promise<void> {
    if (this.started) return;
    const conn = await this.db().connect();
    try {
      const c = this.config;
      // Order matters: every SET before lock_configuration, which forbids the rest.
      const settings = [
        `SET GLOBAL memory_limit = '${c.memoryLimit}'`,
        ...(c.threads > 0 ? [`SET GLOBAL threads = ${c.threads}`] : []),
        "SET GLOBAL autoinstall_known_extensions = false",
        "SET GLOBAL autoload_known_extensions = false",
        "SET GLOBAL allow_unsigned_extensions = false",
        "SET GLOBAL allow_community_extensions = false",
        "SET GLOBAL enable_external_access = false",
        "SET GLOBAL lock_configuration = true",
      ];
      // The flows view reads flows_live (src/store/live.ts): made here if no writer made it, before the lock.
      await ensureLiveView(conn);
      for (const s of settings) await conn.run(s);
      await this.prepareConnection(conn);
    } catch (err) {
      conn.closeSync();
      throw err;
    }
    this.idle.push(conn);
    this.started = true;
  }

  /** Interrupt running queries and close the sandbox connections. The instance stays locked. */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    for (const [id] of this.running) this.cancel(id);
    for (const c of this.idle) c.closeSync();
    this.idle = [];
    await Promise.resolve();
  }

  /** Ids of the queries running now. */
  runningIds(): string[] {
    return [...this.running.keys()];
  }

  /** Interrupt a running query; it fails with SqlCancelledError. False if no such query runs. */
  cancel(id: string): boolean {
    const r = this.running.get(id);
    if (!r) return false;
    r.cancelled = true;
    stopRunning(r);
    return true;
  }

  /** The documented views. */
  listViews(): string[] {
    return [...VIEW_NAMES];
  }

  /** Columns of a view with their DuckDB types, from information_schema; null for an unknown view. */
  async listColumns(view: string): Promise<SqlColumn[] | null> {
    if (!(VIEW_NAMES as readonly string[]).includes(view)) return null;
    const conn = await this.acquire();
    try {
      const r = await conn.runAndReadAll(
        `SELECT column_name, data_type FROM information_schema.columns
         WHERE table_catalog = 'temp' AND table_name = $view ORDER BY ordinal_position`,
        { view },
      );
      return r.getRowsJS().map((row) => ({ name: String(row[0]), type: String(row[1]) }));
    } finally {
      this.release(conn);
    }
  }

  /** Run one read-only statement and return one page of its result. */
  async query(sql: string, opts: SqlQueryOptions = {}): Promise<SqlPage> {
    const id = opts.id ?? randomUUID();
    if (this.running.has(id)) throw new SqlInvalidError(`a query with id ${id} is already running`);
    const offset = opts.offset ?? 0;
    if (!Number.isInteger(offset) || offset < 0) throw new SqlInvalidError("offset must be an integer ≥ 0");
    const limit = Math.min(opts.limit ?? this.config.maxRows, this.config.maxRows);
    if (!Number.isInteger(limit) || limit < 1) throw new SqlInvalidError("limit must be an integer ≥ 1");
    const timeoutMs = Math.min(opts.timeoutMs ?? this.config.timeoutMs, this.config.timeoutMs);

    const conn = await this.acquire();
    const run: Running = { conn, cancelled: false };
    this.running.set(id, run);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      stopRunning(run);
    }, timeoutMs);
    let inTx = false;
    try {
      const prepared = await this.prepareOne(conn, sql);
      await conn.run("BEGIN TRANSACTION READ ONLY");
      inTx = true;
      const result = await prepared.stream();
      // An interrupt() that came before DuckDB started executing is lost (the
      // flag is reset when a query starts), so a cancel is also checked here
      // and before every chunk, where the query does its work.
      const page = await readPage(result, offset, limit, () => run.cancelled || timedOut);
      if (run.cancelled || timedOut) throw new Error("interrupted");
      return { id, ...page };
    } catch (err) {
      if (run.cancelled) throw new SqlCancelledError(id);
      if (timedOut) throw new SqlTimeoutError(timeoutMs);
      throw classify(err);
    } finally {
      clearTimeout(timer);
      clearInterval(run.repeat);
      this.running.delete(id);
      if (inTx) await conn.run("ROLLBACK").catch(() => {});
      this.release(conn);
    }
  }

  /**
   * Open one read-only statement as a cursor, with optional bound parameters.
   * The same sandbox as query() (one statement, SELECT only, read-only
   * transaction, time limit); the time limit runs from open to close, so a
   * client that stops reading cannot hold a connection past it.
   */
  async open(sql: string, opts: SqlCursorOptions = {}): Promise<SqlCursor> {
    const id = opts.id ?? randomUUID();
    if (this.running.has(id)) throw new SqlInvalidError(`a query with id ${id} is already running`);
    const timeoutMs = Math.min(opts.timeoutMs ?? this.config.timeoutMs, this.config.timeoutMs);
    const conn = await this.acquire();
    const run: Running = { conn, cancelled: false };
    this.running.set(id, run);
    let timedOut = false;
    // Between pages the connection is idle: an interrupt then would be lost
    // (and repeated for nothing); the next fetch sees timedOut instead.
    let working = true;
    const timer = setTimeout(() => {
      timedOut = true;
      if (working) stopRunning(run);
    }, timeoutMs);
    let inTx = false;
    let closed = false;
    const close = async (): Promise<void> => {
      if (closed) return;
      closed = true;
      clearTimeout(timer);
      // Interrupt a result still being produced before the ROLLBACK.
      if (!done) conn.interrupt();
      clearInterval(run.repeat);
      this.running.delete(id);
      if (inTx) await conn.run("ROLLBACK").catch(() => {});
      this.release(conn);
    };
    const fail = (err: unknown): SqlError => {
      if (run.cancelled) return new SqlCancelledError(id);
      if (timedOut) return new SqlTimeoutError(timeoutMs);
      return classify(err);
    };
    let done = false;
    let result: DuckDBResult;
    try {
      const prepared = await this.prepareOne(conn, sql);
      if (opts.params?.length) {
        try {
          prepared.bind(opts.params, opts.paramTypes as DuckDBType[] | undefined);
        } catch (err) {
          throw new SqlInvalidError(`parameters: ${errorText(err)}`);
        }
      }
      await conn.run("BEGIN TRANSACTION READ ONLY");
      inTx = true;
      result = await prepared.stream();
    } catch (err) {
      const e = fail(err);
      await close();
      throw e;
    }
    working = false;
    const names = result.columnNames();
    const types = result.columnTypes();
    let buffered: DuckDBValue[][] = [];
    const stopped = (): boolean => run.cancelled || timedOut || closed;
    return {
      id,
      columns: names.map((name, i) => ({ name, type: types[i]!.toString() })),
      types,
      get done() {
        return done;
      },
      next: async (maxRows: number): Promise<DuckDBValue[][]> => {
        const out: DuckDBValue[][] = [];
        working = true;
        if (timedOut) stopRunning(run);
        try {
          while (out.length < maxRows && !done) {
            if (buffered.length === 0) {
              if (stopped()) throw new Error("interrupted");
              const chunk = await result.fetchChunk();
              if (stopped()) throw new Error("interrupted");
              if (!chunk || chunk.rowCount === 0) {
                done = true;
                break;
              }
              buffered = chunk.getRows();
            }
            const take = buffered.splice(0, maxRows - out.length);
            for (const r of take) out.push(r);
          }
        } catch (err) {
          const e = closed && !run.cancelled && !timedOut ? new SqlCancelledError(id) : fail(err);
          await close();
          throw e;
        } finally {
          working = false;
        }
        return out;
      },
      close,
    };
  }

  /** Parse with DuckDB and accept exactly one statement that prepares as a SELECT. */
  private async prepareOne(conn: DuckDBConnection, sql: string) {
    let extracted;
    try {
      extracted = await conn.extractStatements(sql);
    } catch (err) {
      throw classify(err);
    }
    if (extracted.count === 0) throw new SqlInvalidError("no SQL statement");
    if (extracted.count > 1) {
      throw new SqlRefusedError(
        `${extracted.count} statements: only one SELECT statement may be run at a time`,
      );
    }
    let prepared;
    try {
      prepared = await extracted.prepare(0);
    } catch (err) {
      throw classify(err);
    }
    const t = prepared.statementType;
    if (t !== StatementType.SELECT) {
      prepared.destroySync();
      throw new SqlRefusedError(
        `${typeName(t)} statement refused: only read-only queries (SELECT, WITH, VALUES, FROM …) are allowed`,
      );
    }
    return prepared;
  }

  private async acquire(): Promise<DuckDBConnection> {
    if (!this.started) throw new SqlUnavailableError();
    const c = this.idle.pop();
    if (c) return c;
    const conn = await this.db().connect();
    await this.prepareConnection(conn);
    return conn;
  }

  private release(conn: DuckDBConnection): void {
    if (this.started && this.idle.length < this.config.poolSize) this.idle.push(conn);
    else conn.closeSync();
  }

  /** The temp macros and views live per connection. */
  private async prepareConnection(conn: DuckDBConnection): Promise<void> {
    const db = (await conn.runAndReadAll("SELECT current_database()")).getRowsJS()[0]![0] as string;
    for (const s of [...MACROS, ...viewsSql(db)]) await conn.run(s);
  }
}

/** Skip `offset` rows and keep `limit`, chunk by chunk; one row more tells whether a next page exists. */
async function readPage(
  result: DuckDBResult,
  offset: number,
  limit: number,
  stopped: () => boolean,
): Promise<Omit<SqlPage, "id">> {
  const names = result.columnNames();
  const types = result.columnTypes();
  const columns = names.map((name, i) => ({ name, type: types[i]!.toString() }));
  const rows: Json[][] = [];
  let skip = offset;
  let more = false;
  for (;;) {
    if (stopped()) throw new Error("interrupted");
    const chunk = await result.fetchChunk();
    if (!chunk || chunk.rowCount === 0) break;
    const n = chunk.rowCount;
    if (skip >= n) {
      skip -= n;
      continue;
    }
    const chunkRows = chunk.convertRows(JsonDuckDBValueConverter);
    for (let i = skip; i < n; i++) {
      if (rows.length === limit) {
        more = true;
        break;
      }
      rows.push(chunkRows[i] ?? []);
    }
    skip = 0;
    if (more) break;
  }
  return { columns, rows, offset, nextOffset: more ? offset + rows.length : null };
}
