// Who hears of a finished request, and when: two events, owned here, subscribed to in one place (app.ts).
import type { Logger } from "pino";
import type { JudgedRecord, RequestRecord } from "./request-record.js";

type Listener<T> = (value: T) => void;

/**
 * A request is published twice. `recorded`: its record, to what must hold it before its client sees the response
 * end (the ledgers and journal, the metrics); `judged`: the record with the cache and speed verdicts, later, off the
 * response's path. Like undici's diagnostics channels, publishers do not know who listens; unlike them, a listener
 * that throws is logged and the others still hear (a failing view must not cost a ledger its count).
 */
export class RecordEvents {
  private readonly onRecord: Listener<RequestRecord>[] = [];
  private readonly onJudge: Listener<JudgedRecord>[] = [];

  constructor(private readonly logger: Logger) {}

  recorded(listener: Listener<RequestRecord>): this {
    this.onRecord.push(listener);
    return this;
  }

  judged(listener: Listener<JudgedRecord>): this {
    this.onJudge.push(listener);
    return this;
  }

  publishRecorded(record: RequestRecord): void {
    this.publish(this.onRecord, record, "a listener of recorded requests failed");
  }

  publishJudged(judged: JudgedRecord): void {
    this.publish(this.onJudge, judged, "a listener of judged requests failed");
  }

  private publish<T>(listeners: readonly Listener<T>[], value: T, what: string): void {
    for (const listener of listeners) {
      try {
        listener(value);
      } catch (err) {
        this.logger.error({ err }, what);
      }
    }
  }
}
