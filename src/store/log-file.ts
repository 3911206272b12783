// The request log's file as the running sidecar holds it: opened on demand, closed after a second without use, and
// captured bodies redacted and capped on their way in.
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import type { AgentEvent } from "./agent-events.js";
import { type Content, capped, redactor } from "./log-content.js";
import { LogDb } from "./log-db.js";

/** How captured bodies are kept: patterns and literal secrets redacted, then at most `maxBytes` per body. */
export interface CaptureRules {
  patterns: readonly string[];
  secrets: readonly string[];
  maxBytes: number;
}

/**
 * The file is closed once nothing has used it for this long: a disk may then be remounted read-only (the kernel
 * refuses while a file on it is open for writing). Long, since a close costs a full collection (below): an agent's
 * turns and a busy proxy's rounds find the file open, and only a sidecar with nothing to do pays for it.
 */
const IDLE_CLOSE_MS = 30_000;

let fullGc: (() => void) | undefined;
/**
 * libsql 0.5.29 keeps the file open after close() until every statement the connection prepared is collected, and
 * only a full collection collects them (tursodatabase/libsql-js#228, fixed by #236 after that release): so a close
 * is followed by one (tens of milliseconds), on a sidecar that has been idle for half a minute. `gc` is reachable from a new context once the
 * flag is set; the sidecar's own global never gets it.
 */
function collectStatements(): void {
  if (!fullGc) {
    setFlagsFromString("--expose-gc");
    fullGc = runInNewContext("gc") as () => void;
  }
  fullGc();
}

export class LogFile {
  private db: LogDb | undefined;
  private idle: NodeJS.Timeout | undefined;
  private readonly redact: (text: string) => string;

  constructor(
    private readonly dir: string,
    private readonly capture: CaptureRules,
  ) {
    this.redact = redactor(capture.patterns, capture.secrets);
  }

  /** Runs `fn` on the open file (opening, creating or migrating it first), and closes it again once idle. */
  use<T>(fn: (db: LogDb) => T): T {
    if (!this.db) {
      this.db = new LogDb(this.dir);
      this.idle = setTimeout(() => this.close(), IDLE_CLOSE_MS).unref();
    } else this.idle?.refresh();
    return fn(this.db);
  }

  /**
   * Adds rows, their bodies (redacted and capped here) and the agent's events in one transaction; returns how many
   * rows were new.
   */
  insert(
    rows: Parameters<LogDb["insert"]>[0],
    bodies: readonly Content[] = [],
    events: readonly AgentEvent[] = [],
  ): number {
    const added = this.append(rows, bodies, events);
    this.commit();
    return added;
  }

  /** The same inside the open transaction (opening one), made durable by commit(). */
  append(
    rows: Parameters<LogDb["insert"]>[0],
    bodies: readonly Content[] = [],
    events: readonly AgentEvent[] = [],
  ): number {
    const max = this.capture.maxBytes;
    const kept = bodies.map((b) => ({
      id: b.id,
      request: capped(this.redact(b.request), max),
      response: b.response === undefined ? undefined : capped(this.redact(b.response), max),
    }));
    return this.use((db) => db.append(rows, kept, events));
  }

  commit(): void {
    this.db?.commit();
  }

  close(): void {
    clearTimeout(this.idle);
    this.idle = undefined;
    if (!this.db) return;
    this.db.close();
    this.db = undefined;
    // Once this call's frame, which still holds the connection, is gone.
    setImmediate(collectStatements);
  }
}
