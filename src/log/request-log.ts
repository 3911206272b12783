// The request log's life in the sidecar: records journaled with the burst they ended in (before any response of it
// is released), judged rows written in short slices once requests stop ending for a moment, the journal dropped once
// the log holds all it covered, and replayed into the log after a crash.
import type { Logger } from "pino";
import type { JudgedRecord, RequestRecord } from "../record/request-record.js";
import type { AgentEvent } from "../store/agent-events.js";
import { Journal } from "../store/journal.js";
import type { Content } from "../store/log-content.js";
import type { LogDb, RequestFilter, SessionFilter, SessionSummary } from "../store/log-db.js";
import { type CaptureRules, LogFile } from "../store/log-file.js";
import type { LogRow } from "../store/log-row.js";
import { LogWrites } from "./log-writes.js";
import { recordedRow } from "./rows.js";

export const LOG_JOURNAL = "requests-log.journal";
/** Rows kept in memory while the log refuses them; past that the oldest wait in the journal alone. */
const MAX_PENDING = 100_000;
/** Rows deleted by retention per slice. */
const PRUNE_SLICE = 200;
/** A quiet journal (every entry in the log) is dropped this long after it became quiet. */
const SEAL_AFTER_MS = 1000;
const PRUNE_EVERY_MS = 3600_000;

export interface LogSettings {
  dir: string;
  /** --capture-content: how bodies are kept (patterns redacted, secrets redacted, bytes per body). */
  capture: CaptureRules;
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
  /** Records the journal refused (a full or read-only disk): on disk only once their rows are in the log. */
  private readonly unjournaled = new Set<string>();
  private readonly writes: LogWrites;
  private pruning = false;
  private closed = false;
  private sealTimer: NodeJS.Timeout | undefined;
  private readonly pruneTimer: NodeJS.Timeout;
  private dropped = 0;

  private constructor(
    private readonly file: LogFile,
    private readonly journal: Journal,
    private readonly settings: LogSettings,
    private readonly logger: Logger,
  ) {
    this.pruneTimer = setInterval(() => void this.prune(), PRUNE_EVERY_MS).unref();
    this.writes = new LogWrites(
      file,
      logger,
      (rows) => this.settle(rows),
      (rows) => this.forget(rows),
      MAX_PENDING,
    );
  }

  /** Opens the log (a newer schema than this build knows is refused), and replays a crash's journal into it. */
  static async open(settings: LogSettings, logger: Logger): Promise<RequestLog> {
    const { entries, lastSeq, unreadable } = Journal.replay(settings.dir, LOG_JOURNAL, 0);
    const file = new LogFile(settings.dir, settings.capture);
    try {
      file.use((db) => db.count());
    } catch (err) {
      file.close();
      throw new Error(`cannot open the request log in ${settings.dir}: ${(err as Error).message}`);
    }
    const log = new RequestLog(file, new Journal(settings.dir, LOG_JOURNAL, lastSeq), settings, logger);
    if (unreadable > 0) logger.warn({ unreadable }, `${LOG_JOURNAL}: skipped ${unreadable} unreadable line(s)`);
    const rows = entries.flatMap((e) => (Array.isArray(e.d) ? (e.d as LogRow[]) : []));
    if (rows.length > 0) {
      const added = file.insert(rows);
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

  /** A judged request's row (and captured bodies): written soon, once requests stop ending for a moment. */
  judged(row: LogRow, content?: JudgedRecord["content"]): void {
    this.writes.add(row, content);
  }

  /** What the agent told of its side (Claude Code's telemetry): kept beside the requests, written with them. */
  addAgentEvents(events: readonly AgentEvent[]): void {
    this.writes.addEvents(events);
  }

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

  /** Retention, a slice at a time with the event loop's turns between, so a large deletion never holds it up. */
  private async prune(): Promise<void> {
    if (this.pruning) return;
    this.pruning = true;
    const cutoff = Date.now() - this.settings.retentionMs;
    let removed = 0;
    try {
      while (!this.closed) {
        // Rows written in slices share a transaction: it is committed before retention opens its own.
        this.writes.flush();
        const n = this.file.use((db) => db.prune(cutoff, this.settings.maxBytes, PRUNE_SLICE));
        removed += n;
        if (n === 0) break;
        await new Promise(setImmediate);
      }
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, "request log: retention failed; it runs again in an hour");
    } finally {
      this.pruning = false;
    }
    if (removed > 0) this.logger.info({ removed }, `request log: ${removed} old request(s) deleted by retention`);
  }

  /** Writes every row judged so far (unless the log refuses them): what a reader does first. */
  async settled(): Promise<void> {
    this.writes.flush();
  }

  health(): LogHealth {
    const unsaved =
      this.unjournaled.size > 0 ? (this.journal.failing ?? new Error("requests wait to be saved")) : undefined;
    const writes = this.writes.health();
    const failing = writes.failing ?? unsaved;
    return {
      writable: !failing,
      failedWrites: writes.failedWrites + this.journal.failedWrites,
      pending: writes.pending,
      lost: this.dropped,
      error: failing ? failing.message : null,
    };
  }

  /** A read of the file, as a promise (a failed read rejects it). */
  private async read<T>(fn: (db: LogDb) => T): Promise<T> {
    return this.file.use(fn);
  }

  requests(filter: RequestFilter, limit: number, before?: { endedAt: number; id: string }): Promise<LogRow[]> {
    return this.read((db) => db.requests(filter, limit, before));
  }

  pageAfter(filter: RequestFilter, limit: number, after?: { endedAt: number; id: string }): Promise<LogRow[]> {
    return this.read((db) => db.pageAfter(filter, limit, after));
  }

  session(id: string): Promise<LogRow[]> {
    return this.read((db) => db.session(id));
  }

  row(id: string): Promise<LogRow | undefined> {
    return this.read((db) => db.row(id));
  }

  /** A request's captured bodies (undefined without --capture-content). */
  content(id: string): Promise<Content | undefined> {
    return this.read((db) => db.content(id));
  }

  /** The last request of the same session before this one that has captured bodies. */
  previousCaptured(id: string): Promise<string | undefined> {
    return this.read((db) => db.previousCaptured(id));
  }

  /** What the agent told of a session, in time order. */
  agentEvents(session: string): Promise<AgentEvent[]> {
    return this.read((db) => db.agentEvents(session));
  }

  lastSession(): Promise<string | undefined> {
    return this.read((db) => db.lastSession());
  }

  sessions(filter: SessionFilter, limit: number, offset: number): Promise<SessionSummary[]> {
    return this.read((db) => db.sessions(filter, limit, offset));
  }

  /** Writes what is waiting and closes the file; the journal keeps whatever the log could not take. */
  async close(): Promise<void> {
    clearInterval(this.pruneTimer);
    this.closed = true;
    this.writes.close();
    // The journal stays: what it holds is in the log (the next start replays it, once, to no effect), and a full
    // disk stays as full as it was, for the totals' own last write.
    clearTimeout(this.sealTimer);
    this.journal.close();
    this.file.close();
  }
}
