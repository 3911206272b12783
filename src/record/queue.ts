// Request records leave the hot path: a finished exchange is recorded a few milliseconds later, in a batch.
import type { Logger } from "pino";

/** What makes a batch of records durable at once: held while they are recorded, saved before any response ends. */
export interface DurableBatch {
  hold(): void;
  commit(): void;
}

/**
 * llama-server's batched decoding ends many streams at once, and each client sends its next request the
 * moment its stream ends. Recording (span end, a dozen metric updates, the ledgers) during that burst
 * would hold up the next requests; after it, it costs nobody anything. Anything that reads what the
 * records feed (/metrics, /api/stats, shutdown) calls flush() first, so no reader ever sees a stale view.
 *
 * A relayed response's last bytes wait for its record (`release`): a crash between the two would lose a request
 * its client saw complete. Such records are made at the end of the current turn of the event loop, the whole burst
 * of them together, saved in one write (`DurableBatch`: one journal entry for the burst, not a write each), and
 * only then are their responses ended: a crash never loses a request whose client has seen it end. What the
 * records put off (verdicts, histograms, spans) waits a few milliseconds more, and then runs a slice at a time, one
 * slice per turn of the event loop: the clients whose responses just ended send their next requests now, and none
 * of those waits for more than a slice of it on its way to llama-server.
 */
/** Records whose put-off work runs in one turn of the event loop. */
const SLICE = 32;

export class RecordQueue {
  private pending: { record: () => (() => void) | undefined; release?: () => void }[] = [];
  /** What the records made so far put off, to run after their responses' ends are out. */
  private afterwards: (() => void)[] = [];
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private slicing: NodeJS.Immediate | undefined;

  constructor(
    private readonly logger: Logger,
    private readonly delayMs = 5,
    private readonly durable: readonly DurableBatch[] = [],
  ) {}

  /**
   * Records later; `release`, if given, runs once the record is written (this turn's end at the latest). What
   * `record` returns runs after the releases: work no response needs to wait for.
   */
  defer(record: () => (() => void) | undefined, release?: () => void): void {
    this.pending.push({ record, release });
    if (release) {
      this.immediate ??= setImmediate(() => {
        this.immediate = undefined;
        this.recordPending();
        this.later();
      });
    } else this.later();
  }

  /** Records everything pending, now, saves the records, releases what waited for them, then does what they put off. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.immediate) clearImmediate(this.immediate);
    this.immediate = undefined;
    this.recordPending();
    this.finishSlice(Number.POSITIVE_INFINITY);
  }

  /** The rest of the work, a few milliseconds from now, a slice per turn of the event loop. */
  private later(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.recordPending();
      this.finishSlice(SLICE);
    }, this.delayMs);
    this.timer.unref();
  }

  /** Does up to `n` records' put-off work; what is left goes on at the next turn. */
  private finishSlice(n: number): void {
    if (this.slicing) clearImmediate(this.slicing);
    this.slicing = undefined;
    const slice = this.afterwards.length <= n ? this.afterwards : this.afterwards.slice(0, n);
    this.afterwards = slice === this.afterwards ? [] : this.afterwards.slice(n);
    for (const after of slice) this.run(after, "finishing a request's record failed");
    if (this.afterwards.length > 0) this.slicing = setImmediate(() => this.finishSlice(SLICE)).unref();
  }

  private recordPending(): void {
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return;
    for (const d of this.durable) d.hold();
    for (const { record } of batch) {
      const after = this.run(record, "recording a finished request failed");
      if (after) this.afterwards.push(after);
    }
    for (const d of this.durable) this.run(() => d.commit(), "saving finished requests failed");
    for (const { release } of batch) if (release) this.run(release, "ending a response failed");
  }

  private run<T>(fn: () => T, what: string): T | undefined {
    try {
      return fn();
    } catch (err) {
      // A failing sink must not take the others, or the process, down with it.
      this.logger.error({ err }, what);
      return undefined;
    }
  }
}
