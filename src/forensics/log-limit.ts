// At most one log line per cause in a window, the rest counted into the next line: a cache that never works, or
// a GPU that stays slow, must not flood the log.
import type { Logger } from "pino";

const LOG_EVERY_MS = 10_000;

export class LimitedLog<Cause extends string> {
  private readonly last = new Map<Cause, { at: number; skipped: number }>();

  constructor(
    private readonly logger: Logger | undefined,
    private readonly everyMs = LOG_EVERY_MS,
  ) {}

  /** Logs `line` unless this cause was logged less than the window ago (at: the event's time, ms). */
  info(cause: Cause, at: number, fields: object, line: string): void {
    if (!this.logger) return;
    const last = this.last.get(cause);
    if (last && at - last.at < this.everyMs) {
      last.skipped++;
      return;
    }
    const more = last?.skipped ? ` (and ${last.skipped} more of this cause since the last line)` : "";
    this.last.set(cause, { at, skipped: 0 });
    this.logger.info({ cause, ...fields }, `${line}${more}`);
  }
}
