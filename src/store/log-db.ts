// The request log on disk: one row per finished request in an embedded SQLite file (libsql), with its schema's
// migrations, the searches the views and the command line make, and retention. Synchronous: the sidecar calls it in
// short slices between requests (log/request-log.ts), the command line as it likes.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import Database from "libsql";
import {
  AGENT_EVENTS_SCHEMA,
  type AgentEvent,
  insertAgentEvents,
  pruneAgentEvents,
  sessionAgentEvents,
} from "./agent-events.js";
import { type Content, pack, unpack } from "./log-content.js";
import { type LogRow, ROW_COLUMNS } from "./log-row.js";

export const LOG_FILE = "requests.db";
/** How long a reader waits for a commit in progress. */
const READER_WAIT_MS = 5000;

/** Each step takes the schema one version on; PRAGMA user_version says how many have run. Never edit one: add one. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE requests (
    id TEXT PRIMARY KEY,
    started_at REAL NOT NULL,
    ended_at REAL NOT NULL,
    session TEXT,
    conversation TEXT,
    client TEXT NOT NULL,
    model TEXT NOT NULL,
    upstream TEXT,
    route TEXT NOT NULL,
    outcome TEXT NOT NULL,
    status INTEGER NOT NULL,
    stream INTEGER NOT NULL,
    background TEXT,
    prefill INTEGER,
    cached INTEGER,
    generated INTEGER,
    n_ctx INTEGER,
    ttft_ms REAL,
    duration_ms REAL NOT NULL,
    queue_ms REAL,
    prefill_ms REAL,
    prefill_tps REAL,
    decode_tps REAL,
    finish_reason TEXT,
    miss_cause TEXT,
    miss_location TEXT,
    cache_expected INTEGER,
    cache_lost INTEGER,
    lost_prefill_ms REAL,
    slowdown_cause TEXT,
    slowdown_detail TEXT,
    usual_tps REAL,
    overflow_prompt INTEGER,
    error TEXT,
    judged INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX requests_ended ON requests(ended_at);
  CREATE INDEX requests_session ON requests(session, started_at);
  CREATE INDEX requests_model ON requests(model, ended_at);
  CREATE INDEX requests_upstream ON requests(upstream, ended_at);
  CREATE INDEX requests_client ON requests(client, ended_at);
  CREATE INDEX requests_outcome ON requests(outcome, ended_at);
  CREATE INDEX requests_miss ON requests(miss_cause, ended_at) WHERE miss_cause IS NOT NULL;`,
  // --capture-content: a request's bodies, compressed, beside its row (and deleted with it).
  `CREATE TABLE bodies (id TEXT PRIMARY KEY, request BLOB, response BLOB) WITHOUT ROWID;`,
  // The agent's own side (Claude Code's telemetry): tool calls, prompts, its view of API calls, metric points.
  AGENT_EVENTS_SCHEMA,
  // Each request's share of the GPU's energy, where its power is read.
  "ALTER TABLE requests ADD COLUMN energy_j REAL",
  // Speculative decoding: each request's drafted and accepted tokens.
  "ALTER TABLE requests ADD COLUMN draft INTEGER; ALTER TABLE requests ADD COLUMN draft_accepted INTEGER",
];

export const LOG_SCHEMA_VERSION = MIGRATIONS.length;

/** What a search may narrow by: each an exact match, times in epoch milliseconds. */
export interface RequestFilter {
  session?: string;
  cause?: string;
  model?: string;
  client?: string;
  upstream?: string;
  outcome?: string;
  since?: number;
  until?: number;
}

export interface SessionFilter {
  since?: number;
  until?: number;
  client?: string;
  model?: string;
}

/** A session's totals as the list of sessions shows them; the full report is built from its rows. */
export interface SessionSummary {
  id: string;
  startedAt: number;
  endedAt: number;
  clients: string[];
  models: string[];
  requests: number;
  prefill: number;
  cached: number;
  generated: number;
  misses: number;
  lostPrefillMs: number;
  errors: number;
}

const FILTER_SQL: Record<keyof RequestFilter, string> = {
  session: "session = @session",
  cause: "(miss_cause = @cause OR slowdown_cause = @cause)",
  model: "model = @model",
  client: "client = @client",
  upstream: "upstream = @upstream",
  outcome: "outcome = @outcome",
  since: "ended_at >= @since",
  until: "ended_at < @until",
};

function where(filter: object): { sql: string; params: Record<string, unknown> } {
  const params = Object.fromEntries(Object.entries(filter).filter(([, v]) => v !== undefined));
  const parts = Object.keys(params).map((k) => FILTER_SQL[k as keyof RequestFilter]);
  return { sql: parts.length ? `WHERE ${parts.join(" AND ")}` : "", params };
}

const toRow = (r: Record<string, unknown>): LogRow => {
  const row: Record<string, unknown> = {};
  for (const [key, column] of ROW_COLUMNS) {
    const v = r[column];
    if (v !== null && v !== undefined) row[key] = key === "stream" || key === "judged" ? v === 1 : v;
  }
  return row as unknown as LogRow;
};

/**
 * Rows' values in the columns' order, one row after another: bound by position (a fifth cheaper per insert than by
 * name), a statement's rows at once.
 */
const toParams = (rows: readonly LogRow[]): unknown[] => {
  const width = ROW_COLUMNS.length;
  const out = new Array<unknown>(rows.length * width);
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r] as LogRow;
    for (let i = 0; i < width; i++) {
      const v = row[(ROW_COLUMNS[i] as (typeof ROW_COLUMNS)[number])[0]];
      out[r * width + i] = typeof v === "boolean" ? Number(v) : (v ?? null);
    }
  }
  return out;
};

/**
 * Rows one INSERT statement takes: each statement's call into libsql costs what several rows' values do, so a slice
 * of rows goes in one (41 columns a row: far inside SQLite's limit on a statement's parameters).
 */
const ROWS_PER_INSERT = 32;

export class LogDb {
  private readonly db: Database.Database;
  /** Prepared at the first insert: a reader of an older schema (the command line) never inserts. */
  private inserts: { rows: Map<number, Database.Statement>; body: Database.Statement | undefined } | undefined;
  /** The schema the file is at: a reader (the command line) reads an older one as it is, without migrating it. */
  private schema = LOG_SCHEMA_VERSION;

  /** Opens (and creates, and migrates) the log in `dir`; read-only opens never create or migrate. */
  constructor(dir: string, opts: { readonly?: boolean } = {}) {
    if (!opts.readonly) mkdirSync(dir, { recursive: true });
    // A reader (the command line) waits out the sidecar's commit; the sidecar never waits on the file, since it
    // would wait on its event loop: a busy file is offered its rows again a moment later.
    this.db = new Database(join(dir, LOG_FILE), {
      readonly: opts.readonly ?? false,
      fileMustExist: opts.readonly,
      timeout: opts.readonly ? READER_WAIT_MS : 0,
    });
    if (!opts.readonly) {
      // A rollback journal, not WAL: closing a WAL database deletes its side files, which on a full disk frees space
      // behind the totals' back, and they hold the disk busy for a read-only remount. A commit survives the
      // process's death either way (the kernel holds it); readers wait out a commit (the busy timeout).
      // A small page cache: the log is written in batches and read a session at a time; memory is the sidecar's.
      this.db.exec("PRAGMA journal_mode = TRUNCATE; PRAGMA synchronous = NORMAL; PRAGMA cache_size = -512;");
      this.migrate();
    } else this.schema = this.checkVersion();
  }

  private prepareInserts(): { rows: Map<number, Database.Statement>; body: Database.Statement | undefined } {
    if (this.inserts) return this.inserts;
    this.inserts = {
      rows: new Map(),
      body: this.hasBodies
        ? this.db.prepare("INSERT OR IGNORE INTO bodies (id, request, response) VALUES (?, ?, ?)")
        : undefined,
    };
    return this.inserts;
  }

  /** The statement inserting `n` rows (at most ROWS_PER_INSERT), prepared the first time `n` rows come. */
  private rowsInsert(n: number): Database.Statement {
    const { rows } = this.prepareInserts();
    let statement = rows.get(n);
    if (!statement) {
      const columns = ROW_COLUMNS.map(([, c]) => c);
      const values = Array.from({ length: n }, () => `(${columns.map(() => "?").join(", ")})`).join(", ");
      statement = this.db.prepare(`INSERT OR IGNORE INTO requests (${columns.join(", ")}) VALUES ${values}`);
      rows.set(n, statement);
    }
    return statement;
  }

  private version(): number {
    return Number((this.db.prepare("PRAGMA user_version").get() as { user_version: number }).user_version);
  }

  private checkVersion(): number {
    const at = this.version();
    if (at > LOG_SCHEMA_VERSION) {
      throw new Error(
        `${LOG_FILE} was written by a newer llama-sidecar (schema ${at}, this one knows ${LOG_SCHEMA_VERSION}): upgrade, or point --data-dir elsewhere`,
      );
    }
    return at;
  }

  private migrate(): void {
    const at = this.checkVersion();
    if (at === 0) this.db.exec("PRAGMA auto_vacuum = INCREMENTAL; VACUUM;");
    for (let v = at; v < MIGRATIONS.length; v++) {
      this.db.exec(`BEGIN; ${MIGRATIONS[v]}; PRAGMA user_version = ${v + 1}; COMMIT;`);
    }
  }

  /**
   * Adds rows, and captured bodies already redacted and capped, in one transaction; a row whose id is there already
   * is left as it is. Returns how many rows were new.
   */
  insert(rows: readonly LogRow[], bodies: readonly Content[] = [], events: readonly AgentEvent[] = []): number {
    const added = this.append(rows, bodies, events);
    this.commit();
    return added;
  }

  /**
   * Adds them inside the open transaction (opening one), for commit() to make durable: a commit's sync is most of a
   * small transaction's cost, so slices written turn by turn share one. A failure rolls the whole transaction back.
   */
  append(rows: readonly LogRow[], bodies: readonly Content[] = [], events: readonly AgentEvent[] = []): number {
    let added = 0;
    if (!this.db.inTransaction) this.db.exec("BEGIN");
    try {
      for (let at = 0; at < rows.length; at += ROWS_PER_INSERT) {
        const part = rows.slice(at, at + ROWS_PER_INSERT);
        added += this.rowsInsert(part.length).run(toParams(part)).changes;
      }
      const insert = this.prepareInserts();
      for (const b of bodies) insert.body?.run(b.id, pack(b.request), pack(b.response));
      if (this.hasAgentEvents) insertAgentEvents(this.db, events);
    } catch (err) {
      this.rollback();
      throw err;
    }
    return added;
  }

  commit(): void {
    if (!this.db.inTransaction) return;
    try {
      this.db.exec("COMMIT");
    } catch (err) {
      this.rollback();
      throw err;
    }
  }

  /** SQLite may have rolled back already (a full disk does): the error to report is the first one. */
  private rollback(): void {
    if (this.db.inTransaction) this.db.exec("ROLLBACK");
  }

  /** Newest first, `limit` of them, from before the cursor (the last page's last row) if given. */
  requests(filter: RequestFilter, limit: number, before?: { endedAt: number; id: string }): LogRow[] {
    const w = where(filter);
    const cursor = before ? `${w.sql ? " AND" : "WHERE"} (ended_at, id) < (@cEnded, @cId)` : "";
    const rows = this.db
      .prepare(`SELECT * FROM requests ${w.sql}${cursor} ORDER BY ended_at DESC, id DESC LIMIT @limit`)
      .all({ ...w.params, ...(before ? { cEnded: before.endedAt, cId: before.id } : {}), limit });
    return (rows as Record<string, unknown>[]).map(toRow);
  }

  /** Oldest first, `limit` rows after the cursor (the last page's last row): the pages an export streams. */
  pageAfter(filter: RequestFilter, limit: number, after?: { endedAt: number; id: string }): LogRow[] {
    const w = where(filter);
    const rows = this.db
      .prepare(
        `SELECT * FROM requests ${w.sql ? `${w.sql} AND` : "WHERE"} (ended_at, id) > (@aEnded, @aId) ORDER BY ended_at, id LIMIT @limit`,
      )
      .all({ ...w.params, aEnded: after?.endedAt ?? -1, aId: after?.id ?? "", limit });
    return (rows as Record<string, unknown>[]).map(toRow);
  }

  /** Schema 2 added captured bodies. */
  private get hasBodies(): boolean {
    return this.schema >= 2;
  }

  /** Schema 3 added the agent's events. */
  private get hasAgentEvents(): boolean {
    return this.schema >= 3;
  }

  /** What the agent told of the session (Claude Code's telemetry), in time order. */
  agentEvents(session: string): AgentEvent[] {
    return this.hasAgentEvents ? sessionAgentEvents(this.db, session) : [];
  }

  /** One request's row. */
  row(id: string): LogRow | undefined {
    const r = this.db.prepare("SELECT * FROM requests WHERE id = ?").get(id) as Record<string, unknown> | undefined;
    return r ? toRow(r) : undefined;
  }

  /** A request's captured bodies, if capture was on for it. */
  content(id: string): Content | undefined {
    if (!this.hasBodies) return undefined;
    const row = this.db.prepare("SELECT request, response FROM bodies WHERE id = ?").get(id) as
      | { request: Uint8Array | null; response: Uint8Array | null }
      | undefined;
    return row ? { id, request: unpack(row.request) ?? "", response: unpack(row.response) } : undefined;
  }

  /** The request of the same session that ended last before this one, among those with captured bodies. */
  previousCaptured(id: string): string | undefined {
    if (!this.hasBodies) return undefined;
    const row = this.db
      .prepare(
        `SELECT p.id FROM requests t JOIN requests p ON p.session = t.session AND p.ended_at < t.started_at
         JOIN bodies b ON b.id = p.id WHERE t.id = ? ORDER BY p.ended_at DESC LIMIT 1`,
      )
      .get(id) as { id: string } | undefined;
    return row?.id;
  }

  /** A session's requests in the order they started. */
  session(id: string): LogRow[] {
    const bodies = this.hasBodies ? "LEFT JOIN bodies b ON b.id = r.id" : "LEFT JOIN (SELECT NULL AS id) b ON 0";
    const rows = this.db
      .prepare(
        `SELECT r.*, b.id IS NOT NULL AS has_body FROM requests r ${bodies}
         WHERE r.session = ? ORDER BY r.started_at, r.id`,
      )
      .all(id) as Record<string, unknown>[];
    return rows.map((r) => (r.has_body ? { ...toRow(r), captured: true } : toRow(r)));
  }

  /** The session with the newest request. */
  lastSession(): string | undefined {
    const row = this.db
      .prepare("SELECT session FROM requests WHERE session IS NOT NULL ORDER BY ended_at DESC LIMIT 1")
      .get() as { session: string } | undefined;
    return row?.session;
  }

  /** Sessions with a request in the range, the latest first. */
  sessions(filter: SessionFilter, limit: number, offset = 0): SessionSummary[] {
    const w = where({ since: filter.since, until: filter.until, client: filter.client, model: filter.model });
    // The time index, not the session one: a range is most of what narrows a list of sessions. A prompt refused as
    // too long is no cache miss here (nothing was re-processed): its session counts it among the errors.
    const rows = this.db
      .prepare(
        `SELECT session AS id, min(started_at) AS startedAt, max(ended_at) AS endedAt,
          group_concat(DISTINCT client) AS clients, group_concat(DISTINCT model) AS models, count(*) AS requests,
          total(prefill) AS prefill, total(cached) AS cached, total(generated) AS generated,
          sum(miss_cause IS NOT NULL AND miss_cause <> 'context_overflow') AS misses, total(lost_prefill_ms) AS lostPrefillMs,
          sum(outcome IN ('upstream_error', 'rejected')) AS errors
        FROM requests INDEXED BY requests_ended ${w.sql ? `${w.sql} AND` : "WHERE"} session IS NOT NULL
        GROUP BY session ORDER BY endedAt DESC LIMIT @limit OFFSET @offset`,
      )
      .all({ ...w.params, limit, offset }) as (Omit<SessionSummary, "clients" | "models"> & {
      clients: string;
      models: string;
    })[];
    return rows.map((r) => ({ ...r, clients: r.clients.split(","), models: r.models.split(",") }));
  }

  /** Bytes the file takes, its free pages not counted. */
  usedBytes(): number {
    const get = (p: string) => Number(Object.values(this.db.prepare(`PRAGMA ${p}`).get() as object)[0]);
    return (get("page_count") - get("freelist_count")) * get("page_size");
  }

  /**
   * Deletes at most `most` requests (with their bodies): those that ended before `cutoff` first, then the oldest
   * while the file is over `maxBytes`. Returns how many; the caller repeats until none, so no one call runs long.
   */
  prune(cutoff: number, maxBytes: number, most = 500): number {
    const select = (cond: string) => `SELECT id FROM requests ${cond} ORDER BY ended_at LIMIT @most`;
    const remove = (cond: string, params: object) => {
      if (this.hasBodies) this.db.prepare(`DELETE FROM bodies WHERE id IN (${select(cond)})`).run(params);
      return this.db.prepare(`DELETE FROM requests WHERE id IN (${select(cond)})`).run(params).changes;
    };
    const removed = this.db.transaction(() => {
      let n = remove("WHERE ended_at < @cutoff", { cutoff, most });
      if (n < most && this.usedBytes() > maxBytes) n += remove("", { most: most - n });
      // The agent's events go by age, and with the requests of their time when the size forces those out.
      const oldest = this.db.prepare("SELECT min(started_at) AS at FROM requests").get() as { at: number | null };
      const before = n > 0 ? Math.max(cutoff, oldest.at ?? cutoff) : cutoff;
      if (this.hasAgentEvents && n < most) n += pruneAgentEvents(this.db, before, most - n);
      return n;
    })() as number;
    if (removed > 0) this.db.exec("PRAGMA incremental_vacuum");
    return removed;
  }

  count(): number {
    return Number((this.db.prepare("SELECT count(*) AS n FROM requests").get() as { n: number }).n);
  }

  close(): void {
    this.db.close();
  }
}
