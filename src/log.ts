// Logging with per-key rate limits, so a flood of bad packets cannot flood the log.

export type LogLevel = "debug" | "info" | "warn" | "error";
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  /** Log at most `perMinute` messages for `key` each minute; the rest are counted and summarised. */
  limited(key: string, level: LogLevel, msg: string, fields?: Record<string, unknown>): void;
}

export interface LoggerOptions {
  level?: LogLevel;
  perMinute?: number;
  write?: (line: string) => void;
  now?: () => number;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const min = ORDER[opts.level ?? "info"];
  const perMinute = opts.perMinute ?? 10;
  const write = opts.write ?? ((line: string) => process.stderr.write(line + "\n"));
  const now = opts.now ?? Date.now;
  const windows = new Map<string, { start: number; count: number; suppressed: number }>();

  const emit = (level: LogLevel, msg: string, fields?: Record<string, unknown>): void => {
    if (ORDER[level] < min) return;
    write(JSON.stringify({ time: new Date(now()).toISOString(), level, msg, ...fields }));
  };

  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    limited(key, level, msg, fields) {
      const t = now();
      let w = windows.get(key);
      if (!w || t - w.start >= 60_000) {
        if (w && w.suppressed > 0) emit(level, `${w.suppressed} similar messages suppressed`, { key });
        if (windows.size > 10_000) windows.clear(); // bound the key space itself
        w = { start: t, count: 0, suppressed: 0 };
        windows.set(key, w);
      }
      if (w.count < perMinute) {
        w.count++;
        emit(level, msg, fields);
      } else {
        w.suppressed++;
      }
    },
  };
}

export const silentLogger: Logger = createLogger({ write: () => {} });
