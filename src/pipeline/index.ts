// The pipeline: where decoded flow batches go.
//
// The collector hands each FlowBatch to Pipeline.push(); the pipeline fans it
// out to every consumer (rate meter, JSON-lines writer, later the DuckDB
// store). Consumers must not throw; if one does, the error is logged
// (rate-limited) and the other consumers still get the batch.
//
// Batch ownership: a batch is lent to consume() for the duration of the call.
// The collector recycles batches (BatchPool): once push() returns and no one
// holds a reference, the batch is zeroed and refilled with newer flows. A
// consumer that needs the rows later (an asynchronous store) calls
// batch.retain() inside consume() and batch.release() exactly once when it is
// done; until then that batch stays out of the pool. Synchronous consumers
// (rate meter, JSON-lines writer) do nothing.
import type { FlowBatch } from "../collector/batch.js";
import { silentLogger, type Logger } from "../log.js";

export interface FlowConsumer {
  name: string;
  /** The batch is valid only during this call unless the consumer retain()s it (see above). */
  consume(batch: FlowBatch): void;
  start?(): Promise<void>;
  /** Flush and release resources. */
  stop?(): Promise<void>;
}

export class Pipeline {
  private readonly consumers: FlowConsumer[] = [];
  private readonly log: Logger;
  private running = false;
  /** Batches and flows handed on so far. */
  batches = 0;
  flows = 0;
  /** Consumer exceptions caught (each is a bug in that consumer). */
  consumerErrors = 0;

  constructor(opts: { log?: Logger } = {}) {
    this.log = opts.log ?? silentLogger;
  }

  add(consumer: FlowConsumer): this {
    this.consumers.push(consumer);
    return this;
  }

  get names(): string[] {
    return this.consumers.map((c) => c.name);
  }

  async start(): Promise<void> {
    for (const c of this.consumers) await c.start?.();
    this.running = true;
  }

  async stop(): Promise<void> {
    this.running = false;
    for (const c of [...this.consumers].reverse()) {
      try {
        await c.stop?.();
      } catch (err) {
        this.log.error("pipeline consumer failed to stop", { consumer: c.name, error: String(err) });
      }
    }
  }

  push(batch: FlowBatch): void {
    if (batch.length === 0) return;
    this.batches++;
    this.flows += batch.length;
    for (const c of this.consumers) {
      try {
        c.consume(batch);
      } catch (err) {
        this.consumerErrors++;
        this.log.limited(`consumer:${c.name}`, "error", "pipeline consumer failed", {
          consumer: c.name,
          error: err instanceof Error ? err.message : String(err),
        });
      }
    }
  }

  get isRunning(): boolean {
    return this.running;
  }
}

export { RateMeter, type RateSample } from "./rate.js";
export { JsonlWriter } from "./jsonl.js";
