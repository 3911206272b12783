// Request records leave the hot path: a finished exchange is recorded a few milliseconds later, in a batch.
import type { Logger } from "pino";

/**
 * llama-server's batched decoding ends many streams at once, and each client sends its next request the
 * moment its stream ends. Recording (span end, a dozen metric updates, the ledgers) during that burst
 * would hold up the next requests; after it, it costs nobody anything. Anything that reads what the
 * records feed (/metrics, /api/stats, shutdown) calls flush() first, so no reader ever sees a stale view.
 */
export class RecordQueue {
  private pending: (() => void)[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly logger: Logger,
    private readonly delayMs = 5,
  ) {}

  defer(record: () => void): void {
    this.pending.push(record);
    if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), this.delayMs);
      this.timer.unref();
    }
  }

  /** Records everything pending, now. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.pending;
    this.pending = [];
    for (const record of batch) {
      try {
        record();
      } catch (err) {
        // A failing sink must not take the others, or the process, down with it.
        this.logger.error({ err }, "recording a finished request failed");
      }
    }
  }
}
