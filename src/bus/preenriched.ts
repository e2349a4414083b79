// Enrichment once, not twice (store mode).
//
//   collector: UDP ─▶ EnrichmentService ─▶ KafkaProducer (nagare-binary, header flag PREENRICHED)
//   store:     KafkaFlowSource ─▶ PreenrichedGate(EnrichmentService) ─▶ store …
//
// A store-mode App enriches what it consumes because pmacct JSON (and
// nagare-binary from a collector with enrich.enabled false) arrives bare. Rows
// a Nagare collector already enriched would only be enriched again: the
// service fills just the empty columns, so the values stay the collector's,
// but every lookup is work done twice. The consumer keeps flagged rows in
// batches of their own and says which they are (PushInfo.preenriched); the
// App pushes such a batch with the gate closed, so the enrichment consumer
// does not see it and its counters (enrich_flows …) do not move. The
// consumer's batches_preenriched / flows_preenriched count what was skipped.
//
// The pipeline hands a batch to its consumers synchronously, so a flag set
// around pipeline.push() is exactly "this batch".
import type { FlowBatch } from "../collector/batch.js";
import type { FlowConsumer } from "../pipeline/index.js";

export class PreenrichedGate implements FlowConsumer {
  readonly name: string;
  private closed = false;
  /** Batches and flows the inner consumer did not see. */
  skippedBatches = 0;
  skippedFlows = 0;

  constructor(private readonly inner: FlowConsumer) {
    this.name = inner.name;
  }

  async start(): Promise<void> {
    await this.inner.start?.();
  }

  async stop(): Promise<void> {
    await this.inner.stop?.();
  }

  consume(batch: FlowBatch): void {
    if (this.closed) {
      this.skippedBatches++;
      this.skippedFlows += batch.length;
      return;
    }
    this.inner.consume(batch);
  }

  /** Run `push` (a synchronous pipeline.push) with the inner consumer skipped when `preenriched`. */
  pass(preenriched: boolean, push: () => void): void {
    this.closed = preenriched;
    try {
      push();
    } finally {
      this.closed = false;
    }
  }
}
