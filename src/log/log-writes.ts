// The request log's rows on their way to the file: gathered while requests keep ending, then written in short
// slices with the event loop's turns between them; rows the file refuses wait and are offered again.
import type { Logger } from "pino";
import type { AgentEvent } from "../store/agent-events.js";
import type { Content } from "../store/log-content.js";
import type { LogFile } from "../store/log-file.js";
import type { LogRow } from "../store/log-row.js";

/**
 * Rows written in one slice of the event loop's time (seven indexes each), so a stream's next chunk waits at most
 * about that long; the slices of one batch share a transaction, and its commit's sync, up to COMMIT_ROWS.
 */
const SLICE = 32;
/** Rows one transaction takes at most: a commit's sync costs what a hundred rows do. */
const COMMIT_ROWS = 512;
/** The agent's events are smaller (one index): more of them go in a slice. */
const EVENT_SLICE = 128;
/** Events kept while the file refuses them: the agent's telemetry has no journal, the oldest go first. */
const MAX_EVENTS = 20_000;
/**
 * Rows are written once no request has ended for this long: a burst's requests end together and their clients send
 * the next ones at once, and those arrivals, not the log, should have the event loop.
 */
const QUIET_MS = 100;
/**
 * ...or once the oldest has waited this long, however busy the proxy: a transaction's fixed cost (its sync at
 * commit) is most of a small one's, so steady traffic pays it every few seconds, not every second. Readers
 * write what waits first, and the journal holds it meanwhile.
 */
const MAX_WAIT_MS = 5000;
/** A file refusing rows (a full or read-only disk) is offered them again this often. */
const RETRY_MS = 2000;
/** A file busy with a reader (the command line) is tried again this soon, and counts as refusing only after a while. */
const BUSY_RETRY_MS = 100;
const BUSY_GRACE_MS = 5000;

export interface WritesHealth {
  /** Why the file refuses rows now, if it does. */
  failing: Error | undefined;
  failedWrites: number;
  pending: number;
}

export class LogWrites {
  private readonly queue: LogRow[] = [];
  private events: AgentEvent[] = [];
  /** Captured bodies (--capture-content) waiting to go with their rows. */
  private bodies: Content[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** The next slice, while the queue is being written. */
  private slicing: NodeJS.Immediate | undefined;
  private retry: NodeJS.Timeout | undefined;
  /** When the last row came, and when the oldest waiting one did. */
  private lastAt = 0;
  private oldestAt = 0;
  private busySince: number | undefined;
  private failing: Error | undefined;
  private failedWrites = 0;
  private closed = false;
  /** What the open transaction holds: handed on (or put back) at its commit. */
  private open: { rows: LogRow[]; bodies: Content[]; events: AgentEvent[] } = { rows: [], bodies: [], events: [] };

  constructor(
    private readonly file: LogFile,
    private readonly logger: Logger,
    /** Rows now in the file. */
    private readonly written: (rows: readonly LogRow[]) => void,
    /** Rows memory cannot keep (past `maxPending`), oldest first. */
    private readonly dropped: (rows: readonly LogRow[]) => void,
    private readonly maxPending: number,
  ) {}

  /** A finished request's row (and its captured bodies): written soon, once requests stop ending for a moment. */
  add(row: LogRow, content?: Omit<Content, "id">): void {
    this.lastAt = performance.now();
    if (this.queue.length === 0) this.oldestAt = this.lastAt;
    this.queue.push(row);
    if (content) this.bodies.push({ id: row.id, ...content });
    if (this.queue.length > this.maxPending) this.dropped(this.queue.splice(0, this.queue.length - this.maxPending));
    this.writeSoon();
  }

  /** The agent's events (Claude Code's telemetry): written with the rows, in the same slices. */
  addEvents(events: readonly AgentEvent[]): void {
    if (events.length === 0) return;
    if (this.queue.length === 0 && this.events.length === 0) this.oldestAt = performance.now();
    this.events.push(...events);
    if (this.events.length > MAX_EVENTS) this.events.splice(0, this.events.length - MAX_EVENTS);
    this.writeSoon();
  }

  /** Writes everything waiting now, unless the file refuses it (what a reader, and a shutdown, do first). */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    clearImmediate(this.slicing);
    this.slicing = undefined;
    while (this.waiting() && !this.retry && this.write()) {}
    if (!this.retry) this.commit();
  }

  health(): WritesHealth {
    return { failing: this.failing, failedWrites: this.failedWrites, pending: this.queue.length };
  }

  private waiting(): boolean {
    return this.queue.length > 0 || this.events.length > 0;
  }

  /** Writes what it can, then stops: what the file refused stays in the journal. */
  close(): void {
    clearTimeout(this.retry);
    this.retry = undefined;
    this.flush();
    this.closed = true;
    clearTimeout(this.retry);
  }

  private writeSoon(delay = QUIET_MS): void {
    if (this.timer || this.slicing || this.retry || this.closed) return;
    this.timer = setTimeout(() => this.whenQuiet(), delay).unref();
  }

  /** Starts writing once requests have stopped ending for a moment (or the oldest row has waited long enough). */
  private whenQuiet(): void {
    this.timer = undefined;
    const now = performance.now();
    const quietFor = now - this.lastAt;
    if (quietFor < QUIET_MS && now - this.oldestAt < MAX_WAIT_MS) this.writeSoon(QUIET_MS - quietFor);
    else this.writeSlice();
  }

  /** One transaction of rows; the next slice waits for the event loop's next turn, so streams go on between. */
  private writeSlice(): void {
    this.slicing = undefined;
    if (this.write() && this.waiting()) this.slicing = setImmediate(() => this.writeSlice());
  }

  /**
   * Writes the oldest slice of the queue into the open transaction, and commits it once nothing more waits (or it
   * holds COMMIT_ROWS); false when the file refused it (then the whole transaction waits, and is offered again).
   */
  private write(): boolean {
    const batch = this.queue.splice(0, SLICE);
    const events = this.events.splice(0, EVENT_SLICE);
    if (batch.length === 0 && events.length === 0) return this.commit();
    this.oldestAt = performance.now();
    // Bodies go with the slice their rows are in; one whose row waits for a later slice waits with it.
    const ids = new Set(batch.map((r) => r.id));
    const bodies = this.bodies.length > 0 ? this.bodies.filter((b) => ids.has(b.id)) : [];
    if (bodies.length > 0) this.bodies = this.bodies.filter((b) => !ids.has(b.id));
    this.open.rows.push(...batch);
    this.open.bodies.push(...bodies);
    this.open.events.push(...events);
    try {
      this.file.append(batch, bodies, events);
    } catch (err) {
      return this.putBack(err as Error & { code?: string });
    }
    return this.waiting() && this.open.rows.length < COMMIT_ROWS ? true : this.commit();
  }

  /** Makes the open transaction durable, then hands its rows on (their journal may go). */
  private commit(): boolean {
    const open = this.open;
    if (open.rows.length === 0 && open.events.length === 0) return true;
    try {
      this.file.commit();
    } catch (err) {
      return this.putBack(err as Error & { code?: string });
    }
    this.open = { rows: [], bodies: [], events: [] };
    if (this.failing) this.logger.info("the request log takes rows again");
    this.failing = undefined;
    this.busySince = undefined;
    this.written(open.rows);
    return true;
  }

  /** A refused transaction (rolled back) goes back to the front of the queue, to be offered again. */
  private putBack(err: Error & { code?: string }): false {
    const open = this.open;
    this.open = { rows: [], bodies: [], events: [] };
    this.queue.unshift(...open.rows);
    this.events.unshift(...open.events);
    this.bodies.unshift(...open.bodies);
    this.refused(err);
    return false;
  }

  /**
   * A refused write is offered again later. A file busy with a reader is tried again soon, and counts as refusing
   * only once it has been busy for a while; anything else (a full or read-only disk) counts at once.
   */
  private refused(err: Error & { code?: string }): void {
    const now = performance.now();
    const busy = err.code === "SQLITE_BUSY" || err.code === "SQLITE_LOCKED";
    if (busy) this.busySince ??= now;
    const patient = busy && now - (this.busySince ?? now) < BUSY_GRACE_MS;
    if (!patient) {
      if (!this.failing)
        this.logger.error({ err: err.message }, "the request log refused rows: they wait, and the journal");
      this.failing = err;
      this.failedWrites++;
    }
    const retryIn = patient ? BUSY_RETRY_MS : RETRY_MS;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      this.writeSoon(0);
    }, retryIn).unref();
  }
}
