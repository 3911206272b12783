// What an agent (Claude Code) tells of its own side of a session, as the request log keeps it: tool calls, the
// person's prompts, its view of each API call, and its metric points, one row per event beside the requests.
import type Database from "libsql";

export type AgentEventKind = "prompt" | "tool" | "api" | "api_error" | "decision" | "metric";

export interface AgentEvent {
  /** Unique per event: the session and the agent's own sequence number, or a metric point's series and time. */
  id: string;
  session: string;
  kind: AgentEventKind;
  /** When it started, epoch ms (a tool call or an API call: its end less its duration). */
  at: number;
  durationMs?: number;
  /** The tool's name, the API call's model, the metric's name. */
  name?: string;
  /** A tool or API call's success or failure, a decision's accept or reject, a metric point's type. */
  outcome?: string;
  /** A metric point's value (a delta), a prompt's length in characters. */
  value?: number;
  /** The agent's own figures: an API call's tokens and cost, a decision's source, an error's status. */
  detail?: Readonly<Record<string, number | string>>;
}

/** Schema 3: the table, as a migration step of the log. */
export const AGENT_EVENTS_SCHEMA = `CREATE TABLE agent_events (
    id TEXT PRIMARY KEY,
    session TEXT NOT NULL,
    kind TEXT NOT NULL,
    at REAL NOT NULL,
    duration_ms REAL,
    name TEXT,
    outcome TEXT,
    value REAL,
    detail TEXT
  ) WITHOUT ROWID;
  CREATE INDEX agent_events_session ON agent_events(session, at);
  CREATE INDEX agent_events_at ON agent_events(at)`;

const INSERT = `INSERT OR IGNORE INTO agent_events (id, session, kind, at, duration_ms, name, outcome, value, detail)
  VALUES (@id, @session, @kind, @at, @durationMs, @name, @outcome, @value, @detail)`;

/** Adds events (inside the caller's transaction); one already there is left as it is. */
export function insertAgentEvents(db: Database.Database, events: readonly AgentEvent[]): void {
  if (events.length === 0) return;
  const insert = db.prepare(INSERT);
  for (const e of events) {
    insert.run({
      id: e.id,
      session: e.session,
      kind: e.kind,
      at: e.at,
      durationMs: e.durationMs ?? null,
      name: e.name ?? null,
      outcome: e.outcome ?? null,
      value: e.value ?? null,
      detail: e.detail ? JSON.stringify(e.detail) : null,
    });
  }
}

interface EventRow {
  id: string;
  session: string;
  kind: AgentEventKind;
  at: number;
  duration_ms: number | null;
  name: string | null;
  outcome: string | null;
  value: number | null;
  detail: string | null;
}

const fromRow = (r: EventRow): AgentEvent => {
  const e: AgentEvent = { id: r.id, session: r.session, kind: r.kind, at: r.at };
  return Object.assign(
    e,
    r.duration_ms === null ? {} : { durationMs: r.duration_ms },
    r.name === null ? {} : { name: r.name },
    r.outcome === null ? {} : { outcome: r.outcome },
    r.value === null ? {} : { value: r.value },
    r.detail === null ? {} : { detail: JSON.parse(r.detail) },
  );
};

/** A session's events in time order. */
export function sessionAgentEvents(db: Database.Database, session: string): AgentEvent[] {
  const rows = db.prepare("SELECT * FROM agent_events WHERE session = ? ORDER BY at, id").all(session);
  return (rows as EventRow[]).map(fromRow);
}

/** Deletes at most `most` events older than `cutoff`; returns how many. */
export function pruneAgentEvents(db: Database.Database, cutoff: number, most: number): number {
  return db
    .prepare("DELETE FROM agent_events WHERE id IN (SELECT id FROM agent_events WHERE at < ? ORDER BY at LIMIT ?)")
    .run(cutoff, most).changes;
}
