// Typed errors of the SQL service. `status` is the HTTP status the API
// answers with; `code` is stable for clients.

export type SqlErrorCode = "refused" | "invalid" | "timeout" | "cancelled" | "unavailable";

export class SqlError extends Error {
  readonly code: SqlErrorCode;
  readonly status: number;
  constructor(code: SqlErrorCode, status: number, message: string) {
    super(message);
    this.name = "SqlError";
    this.code = code;
    this.status = status;
  }
}

/** Not a single read-only query, or it touched files, network, extensions or settings. */
export class SqlRefusedError extends SqlError {
  constructor(message: string) {
    super("refused", 403, message);
    this.name = "SqlRefusedError";
  }
}

/** DuckDB rejected the query (syntax, unknown column, type error …); the message is DuckDB's. */
export class SqlInvalidError extends SqlError {
  constructor(message: string) {
    super("invalid", 400, message);
    this.name = "SqlInvalidError";
  }
}

export class SqlTimeoutError extends SqlError {
  constructor(timeoutMs: number) {
    super("timeout", 408, `query interrupted after its time limit of ${timeoutMs} ms`);
    this.name = "SqlTimeoutError";
  }
}

export class SqlCancelledError extends SqlError {
  constructor(id: string) {
    super("cancelled", 409, `query ${id} was cancelled`);
    this.name = "SqlCancelledError";
  }
}

/** The service is not started (or stopping). */
export class SqlUnavailableError extends SqlError {
  constructor() {
    super("unavailable", 503, "SQL service not started");
    this.name = "SqlUnavailableError";
  }
}
