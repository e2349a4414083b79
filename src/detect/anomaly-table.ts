// The anomaly_scores table of the store's DuckDB file: one row per series per
// step (src/detect/anomaly-service.ts writes it, the SQL sandbox shows it as a
// read-only view, docs/sql.md). Its own module so src/query/sql can name it
// without importing the service.

export const ANOMALY_TABLE = "anomaly_scores";

/** DDL of the table; `qualified` may name the catalog ("db".main.anomaly_scores). */
export function anomalyTableSql(qualified = ANOMALY_TABLE): string {
  return `CREATE TABLE IF NOT EXISTS ${qualified} (time TIMESTAMP_MS NOT NULL, series VARCHAR NOT NULL, key VARCHAR NOT NULL, value DOUBLE, expected DOUBLE, score DOUBLE)`;
}
