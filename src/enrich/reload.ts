// A data file that is reloaded without a restart: the networks file, the
// AS-names file and the .mmdb databases all use this.
//
// Why polling the mtime (and size) instead of fs.watch: editors and
// configuration management replace files by rename, which fs.watch reports
// inconsistently across platforms and loses once the watched inode is gone;
// a stat every few seconds is cheap and always right. A load runs beside the
// pipeline (never inside a lookup) and swaps the parsed data in one
// assignment, so a lookup sees either the old or the new data, never half.
// A bad reload keeps the old data and reports the error in the state.
import { readFile, stat } from "node:fs/promises";
import type { SourceState } from "./types.js";

export interface ReloadOptions<T> {
  /** Stable state name ("networks", "geoip:country" …). */
  name: string;
  kind: string;
  path: string;
  /** Poll interval; 0 = load once at start. */
  pollMs: number;
  /** Parse the file's bytes; throw to reject it (the old data stays). */
  parse(bytes: Buffer): T;
  /** Entries in the parsed data (for the state). */
  count(data: T): number;
  /** Called after each successful load with the new data. */
  onLoad?(data: T): void;
}

export class ReloadingFile<T> {
  private readonly opts: ReloadOptions<T>;
  /** The data served now; null before the first good load. */
  data: T | null = null;
  private updatedMs: number | null = null;
  private errors = 0;
  private lastError: string | null = null;
  private seen = "";
  private timer: NodeJS.Timeout | null = null;
  private loading: Promise<void> | null = null;
  /** Successful loads (the first one included). */
  loads = 0;

  constructor(opts: ReloadOptions<T>) {
    this.opts = opts;
  }

  get name(): string {
    return this.opts.name;
  }

  async start(): Promise<void> {
    await this.check();
    if (this.opts.pollMs > 0) {
      this.timer = setInterval(() => void this.check(), this.opts.pollMs);
      this.timer.unref();
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.loading;
  }

  /** Stat the file and load it when its mtime or size changed (or it was never loaded). */
  check(): Promise<void> {
    if (this.loading) return this.loading;
    this.loading = this.checkNow().finally(() => {
      this.loading = null;
    });
    return this.loading;
  }

  private async checkNow(): Promise<void> {
    const path = this.opts.path;
    let sig: string;
    try {
      const st = await stat(path);
      sig = `${st.mtimeMs}|${st.size}|${st.ino}`;
    } catch (err) {
      // A missing file is reported once per disappearance, not at every poll.
      const msg = `${path}: ${err instanceof Error ? err.message : String(err)}`;
      if (this.lastError !== msg || this.seen !== "missing") this.fail(msg);
      this.seen = "missing";
      return;
    }
    if (sig === this.seen) return;
    this.seen = sig;
    try {
      const data = this.opts.parse(await readFile(path));
      this.data = data;
      this.updatedMs = Date.now();
      this.lastError = null;
      this.loads++;
      this.opts.onLoad?.(data);
    } catch (err) {
      this.fail(`${path}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  private fail(msg: string): void {
    this.errors++;
    this.lastError = msg;
  }

  state(): SourceState {
    const d = this.data;
    return {
      name: this.opts.name,
      kind: this.opts.kind,
      status: this.lastError !== null ? "error" : d === null ? "loading" : "loaded",
      entries: d === null ? 0 : this.opts.count(d),
      updatedMs: this.updatedMs,
      errors: this.errors,
      lastError: this.lastError,
      detail: { path: this.opts.path, loads: this.loads },
    };
  }
}
