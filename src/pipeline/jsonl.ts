// JsonlWriter: one JSON line per flow (batch.row(i)), for operators piping
// flows into other tools and for end-to-end tests. "-" writes to stdout.
//
// Writes go through a stream; if the file cannot keep up, lines are buffered
// by the stream up to a bound and then dropped (counted), so a slow disk never
// grows the collector's memory without limit.
import { createWriteStream, type WriteStream } from "node:fs";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { FlowBatch } from "../collector/batch.js";
import type { FlowConsumer } from "./index.js";

const MAX_BUFFERED = 64 * 1024 * 1024;

export class JsonlWriter implements FlowConsumer {
  readonly name = "jsonl";
  readonly path: string;
  private stream: WriteStream | NodeJS.WriteStream | null = null;
  written = 0;
  dropped = 0;

  constructor(path: string) {
    this.path = path;
  }

  async start(): Promise<void> {
    if (this.path === "-") {
      this.stream = process.stdout;
      return;
    }
    mkdirSync(dirname(this.path), { recursive: true });
    const s = createWriteStream(this.path, { flags: "a" });
    await new Promise<void>((resolve, reject) => {
      s.once("open", () => resolve());
      s.once("error", reject);
    });
    s.on("error", () => {}); // reported by the write path below as drops
    this.stream = s;
  }

  consume(batch: FlowBatch): void {
    const s = this.stream;
    if (!s) return;
    if (s.writableLength > MAX_BUFFERED) {
      this.dropped += batch.length;
      return;
    }
    let text = "";
    for (let i = 0; i < batch.length; i++) text += JSON.stringify(batch.row(i)) + "\n";
    s.write(text);
    this.written += batch.length;
  }

  async stop(): Promise<void> {
    const s = this.stream;
    this.stream = null;
    if (!s || s === process.stdout) return;
    await new Promise<void>((resolve) => (s as WriteStream).end(() => resolve()));
  }
}
