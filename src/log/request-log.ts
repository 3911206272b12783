// The request log's life on the main thread: records journaled with the burst they ended in (before any response
// of it is released), judged rows handed to the log's thread in batches after, the journal dropped once the log
// holds all it covered, and replayed into the log after a crash. Reads go to the thread too.
import type { Logger } from "pino";
import type { JudgedRecord, RequestRecord } from "../record/request-record.js";
import { Journal } from "../store/journal.js";
import type { Content } from "../store/log-content.js";
import type { RequestFilter, SessionFilter, SessionSummary } from "../store/log-db.js";
import type { LogRow } from "../store/log-row.js";
import type { LogThreadData } from "../store/log-worker.js";
import { LogThread } from "./log-thread.js";
import { judgedRow, recordedRow } from "./rows.js";

export const LOG_JOURNAL = "requests-log.journal";
/** Rows handed to the log's thread in one transaction. */
const BATCH = 512;
/** Rows kept in memory while the log refuses them; past that the oldest wait in the journal alone. */
const MAX_PENDING = 100_000;
const RETRY_MS = 2000;
/** How long judged rows gather before they go to the log's thread together. */
const WRITE_AFTER_MS = 100;
/** A quiet journal (every entry in the log) is dropped this long after it became quiet. */
const SEAL_AFTER_MS = 1000;
const PRUNE_EVERY_MS = 3600_000;

export interface LogSettings {
  dir: string;
  /** --capture-content: how bodies are kept (patterns redacted, secrets redacted, bytes per body). */
  capture: LogThreadData["capture"];
  /** Requests older than this are deleted. */
  retentionMs: number;
  /** The file is kept under this many bytes, the oldest requests deleted first. */
  maxBytes: number;
}

export interface LogHealth {
  writable: boolean;
  failedWrites: number;
  /** Finished requests not yet in the log (waiting for a batch, or for a disk that refused them). */
  pending: number;
  /** Requests neither the log nor its journal could keep (both refused, memory full). */
  lost: number;
  error: string | null;
}

export class RequestLog {
  private held: RequestRecord[] | undefined;
  /** A journaled record's entry number, until its row is in the log. */
  private readonly seqOf = new Map<string, number>();
  /** Rows not yet in the log, per journal entry. */
  private readonly outstanding = new Map<number, number>();
  private readonly queue: LogRow[] = [];
  /** Captured bodies (--capture-content) waiting to go with their rows. */
  private bodies: Content[] = [];
  /** Records the journal refused (a full or read-only disk): on disk only once their rows are in the log. */
  private readonly unjournaled = new Set<string>();
  private writing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private retry: NodeJS.Timeout | undefined;
  private sealTimer: NodeJS.Timeout | undefined;
  private readonly pruneTimer: NodeJS.Timeout;
  private failing: Error | undefined;
  private failedInserts = 0;
  private dropped = 0;

  private constructor(
    private readonly thread: LogThread,
    private readonly journal: Journal,
    private readonly settings: LogSettings,
    private readonly logger: Logger,
  ) {
    this.pruneTimer = setInterval(() => void this.prune(), PRUNE_EVERY_MS).unref();
  }

  /** Opens the log (a newer schema than this build knows is refused), and replays a crash's journal into it. */
  static async open(settings: LogSettings, logger: Logger): Promise<RequestLog> {
    const { entries, lastSeq, unreadable } = Journal.replay(settings.dir, LOG_JOURNAL, 0);
    const thread = new LogThread({ dir: settings.dir, capture: settings.capture }, (err) =>
      logger.error({ err: err.message }, "the request log's thread failed: finished requests wait in the journal"),
    );
    try {
      await thread.call("count");
    } catch (err) {
      await thread.close();
      throw new Error(`cannot open the request log in ${settings.dir}: ${(err as Error).message}`);
    }
    const log = new RequestLog(thread, new Journal(settings.dir, LOG_JOURNAL, lastSeq), settings, logger);
    if (unreadable > 0) logger.warn({ unreadable }, `${LOG_JOURNAL}: skipped ${unreadable} unreadable line(s)`);
    const rows = entries.flatMap((e) => (Array.isArray(e.d) ? (e.d as LogRow[]) : []));
    if (rows.length > 0) {
      const added = await thread.call<number>("insert", rows);
      logger.info({ added }, `replayed ${added} request(s) into the request log from ${LOG_JOURNAL}`);
    }
    if (log.journal.sealLeftover()) log.journal.dropThrough(lastSeq);
    await log.prune();
    return log;
  }

  /** Holds what `recorded` hears until commit(): a burst's records are one journal entry, one write. */
  hold(): void {
    this.held ??= [];
  }

  commit(): void {
    const held = this.held;
    this.held = undefined;
    if (held && held.length > 0) this.journalRecords(held);
  }

  /** Listens to recorded requests: each is in the journal before its response may end. */
  readonly recorded = (r: RequestRecord): void => {
    if (this.held) this.held.push(r);
    else this.journalRecords([r]);
  };

  /** Listens to judged requests: their rows go to the log's thread soon, together. */
  readonly judged = (j: JudgedRecord): void => {
    this.queue.push(judgedRow(j));
    if (j.content) this.bodies.push({ id: j.record.id, ...j.content });
    if (this.queue.length > MAX_PENDING) this.forget(this.queue.splice(0, this.queue.length - MAX_PENDING));
    this.writeSoon();
  };

  /** The burst's rows as the log will first hold them (no text: the error's kind only), in one journal entry. */
  private journalRecords(records: RequestRecord[]): void {
    if (!this.journal.append(records.map(recordedRow))) {
      // Not on disk yet: the log's own write may still take them; until it does, the health says so.
      for (const r of records) this.unjournaled.add(r.id);
      return;
    }
    const seq = this.journal.seq;
    for (const r of records) this.seqOf.set(r.id, seq);
    this.outstanding.set(seq, records.length);
  }

  /**
   * Rows wait a moment and go together: fewer, larger transactions cost the log's thread less, and that thread
   * shares the machine's cores with the proxy's event loop while a burst of requests arrives.
   */
  private writeSoon(): void {
    if (this.timer || this.writing || this.retry) return;
    this.timer = setTimeout(() => this.writeNow(), WRITE_AFTER_MS).unref();
  }

  private writeNow(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.writing) return;
    this.writing = this.write().finally(() => {
      this.writing = undefined;
      if (this.queue.length > 0 && !this.retry) this.writeSoon();
    });
  }

  private async write(): Promise<void> {
    const batch = this.queue.splice(0, BATCH);
    if (batch.length === 0) return;
    // Bodies go with the batch their rows are in; one whose row waits for a later batch waits with it.
    const ids = new Set(batch.map((r) => r.id));
    const bodies = this.bodies.filter((b) => ids.has(b.id));
    if (bodies.length > 0) this.bodies = this.bodies.filter((b) => !ids.has(b.id));
    try {
      await this.thread.call("insert", batch, bodies);
    } catch (err) {
      this.queue.unshift(...batch);
      this.bodies.unshift(...bodies);
      if (!this.failing)
        this.logger.error({ err: (err as Error).message }, "the request log refused rows: they wait, and the journal");
      this.failing = err as Error;
      this.failedInserts++;
      this.retry = setTimeout(() => {
        this.retry = undefined;
        this.writeSoon();
      }, RETRY_MS).unref();
      return;
    }
    if (this.failing) this.logger.info("the request log takes rows again");
    this.failing = undefined;
    this.settle(batch);
  }

  /** Rows now in the log: their journal entries are done with once every row of them is. */
  private settle(rows: readonly LogRow[]): void {
    for (const { id } of rows) {
      this.unjournaled.delete(id);
      const seq = this.seqOf.get(id);
      if (seq === undefined) continue;
      this.seqOf.delete(id);
      const left = (this.outstanding.get(seq) ?? 1) - 1;
      if (left > 0) this.outstanding.set(seq, left);
      else this.outstanding.delete(seq);
    }
    if (this.outstanding.size === 0 && !this.sealTimer) {
      this.sealTimer = setTimeout(() => this.dropJournal(), SEAL_AFTER_MS).unref();
    }
  }

  /** Rows the memory cannot keep: a journaled one is replayed at the next start, others are lost (and counted). */
  private forget(rows: readonly LogRow[]): void {
    const lost = rows.filter((r) => !this.seqOf.has(r.id)).length;
    for (const r of rows) this.unjournaled.delete(r.id);
    if (lost > 0 && this.dropped === 0)
      this.logger.error({ lost }, "the request log refuses rows and the journal too: the oldest are lost");
    this.dropped += lost;
  }

  private dropJournal(): void {
    this.sealTimer = undefined;
    if (this.outstanding.size > 0 || this.held) return;
    this.journal.dropThrough(this.journal.seal());
  }

  private async prune(): Promise<void> {
    try {
      const removed = await this.thread.call<number>(
        "prune",
        Date.now() - this.settings.retentionMs,
        this.settings.maxBytes,
      );
      if (removed > 0) this.logger.info({ removed }, `request log: ${removed} old request(s) deleted by retention`);
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, "request log: retention failed; it runs again in an hour");
    }
  }

  /** Resolves once every row judged so far is in the log (or refused): what a reader waits for. */
  async settled(): Promise<void> {
    for (;;) {
      if (this.timer) this.writeNow();
      if (!this.writing) return;
      await this.writing;
    }
  }

  health(): LogHealth {
    const unsaved =
      this.unjournaled.size > 0 ? (this.journal.failing ?? new Error("requests wait to be saved")) : undefined;
    const failing = this.failing ?? unsaved;
    return {
      writable: !failing,
      failedWrites: this.failedInserts + this.journal.failedWrites,
      pending: this.queue.length,
      lost: this.dropped,
      error: failing ? failing.message : null,
    };
  }

  requests(filter: RequestFilter, limit: number, before?: { endedAt: number; id: string }): Promise<LogRow[]> {
    return this.thread.call("requests", filter, limit, before);
  }

  pageAfter(filter: RequestFilter, limit: number, after?: { endedAt: number; id: string }): Promise<LogRow[]> {
    return this.thread.call("pageAfter", filter, limit, after);
  }

  session(id: string): Promise<LogRow[]> {
    return this.thread.call("session", id);
  }

  row(id: string): Promise<LogRow | undefined> {
    return this.thread.call("row", id);
  }

  /** A request's captured bodies (undefined without --capture-content). */
  content(id: string): Promise<Content | undefined> {
    return this.thread.call("content", id);
  }

  /** The last request of the same session before this one that has captured bodies. */
  previousCaptured(id: string): Promise<string | undefined> {
    return this.thread.call("previousCaptured", id);
  }

  lastSession(): Promise<string | undefined> {
    return this.thread.call("lastSession");
  }

  sessions(filter: SessionFilter, limit: number, offset: number): Promise<SessionSummary[]> {
    return this.thread.call("sessions", filter, limit, offset);
  }

  /** Writes what is waiting, then ends the thread; the journal keeps whatever the log could not take. */
  async close(): Promise<void> {
    clearInterval(this.pruneTimer);
    clearTimeout(this.retry);
    this.retry = undefined;
    await this.settled();
    while (this.queue.length > 0 && !this.failing) await this.write();
    // The journal stays: what it holds is in the log (the next start replays it, once, to no effect), and a full
    // disk stays as full as it was, for the totals' own last write.
    clearTimeout(this.sealTimer);
    this.journal.close();
    await this.thread.close();
  }
}
