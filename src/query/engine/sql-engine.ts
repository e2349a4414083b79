// What the API, the content routes (saved queries, dashboards' SQL widgets),
// the scheduler and SQL alerts need from "the engine that runs user SQL":
// the embedded DuckDB sandbox (src/query/sql/service.ts SqlService) or a
// Trino/Presto server (./trino-sql-service.ts, query.engine.kind trino).
// SqlService fits it as it is; the composition root (src/app.ts) picks one.
import type { Json } from "@duckdb/node-api";
import type { SqlColumn, SqlPage, SqlQueryOptions } from "../sql/index.js";

/** A block of a whole result read forward (SqlEngine.scan). */
export interface SqlBlock {
  columns: SqlColumn[];
  /** JSON-safe values, converted as for SqlPage.rows. */
  rows: Json[][];
}

export interface SqlEngine {
  /** One page of one read-only statement's result (errors: SqlError with the HTTP status). */
  query(sql: string, opts?: SqlQueryOptions): Promise<SqlPage>;
  /** Stop a running query by id; it fails with SqlCancelledError. False if no such query runs. */
  cancel(id: string): boolean;
  /** The tables/views the editor's schema browser lists. */
  listViews(): string[] | Promise<string[]>;
  /** A view's columns (type names as DuckDB writes them), or null for an unknown view. */
  listColumns(view: string): Promise<SqlColumn[] | null>;
  /**
   * The whole result in one run, block by block (downloads). Optional: without
   * it a download pages with query() at growing offsets, which re-runs the
   * statement per page. Leaving the loop early stops the query.
   */
  scan?(sql: string): AsyncGenerator<SqlBlock>;
}

/** Which engine answers user SQL, for GET /api/v1/engine and the SQL page. */
export interface EngineInfo {
  kind: "duckdb" | "trino";
  /** Shown on the SQL page: "DuckDB (embedded store)", "Trino http://… (hive.nagare)". */
  label: string;
}
