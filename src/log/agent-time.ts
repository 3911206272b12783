// Where agents' time goes, counted as it happens for /metrics: each request's phases, each tool call the agent
// reports, and the time its person took before each prompt (from the last thing of the session that ended).
import type { AgentEvent } from "../store/agent-events.js";
import type { LogRow } from "../store/log-row.js";
import type { AgentCounters } from "../telemetry/agent-counters.js";
import { type SessionPhase, toolLabel } from "../wire/agent-tools.js";
import { turnPhases } from "./session-report.js";

/** Sessions followed, and the ends kept for each: enough to place a prompt that arrives a few seconds late. */
const SESSIONS_KEPT = 256;
const ENDS_KEPT = 64;

const PHASE: Record<string, SessionPhase | undefined> = {
  queueMs: "queue",
  prefillMs: "prefill",
  generationMs: "generation",
};

export class AgentTime {
  /** Each session's recent ends (of requests and tool calls), oldest first. */
  private readonly ends = new Map<string, number[]>();

  constructor(private readonly counters: AgentCounters) {}

  /** A judged request's row: its phases, and its end as the session's activity. */
  judged(row: LogRow): void {
    for (const [phase, ms] of turnPhases(row)) {
      const name = phase.startsWith("lost:") ? "prefill_lost" : PHASE[phase];
      if (name) this.counters.phase(name, ms / 1000);
    }
    if (row.session) this.ended(row.session, row.endedAt);
  }

  /** What the agent reported: its tool calls first (their ends place the prompts), then the person's prompts. */
  events(events: readonly AgentEvent[]): void {
    for (const e of events) {
      if (e.kind !== "tool") continue;
      const seconds = (e.durationMs ?? 0) / 1000;
      this.counters.tool(toolLabel(e.name), e.outcome === "success" ? "success" : "failure", seconds);
      this.counters.phase("tool", seconds);
      this.ended(e.session, e.at + (e.durationMs ?? 0));
    }
    for (const e of events) {
      if (e.kind !== "prompt") continue;
      const last = this.ends.get(e.session)?.findLast((end) => end <= e.at);
      if (last !== undefined) this.counters.phase("person", (e.at - last) / 1000);
    }
  }

  private ended(session: string, at: number): void {
    let ends = this.ends.get(session);
    if (!ends) {
      if (this.ends.size >= SESSIONS_KEPT) this.ends.delete(this.ends.keys().next().value as string);
      ends = [];
      this.ends.set(session, ends);
    }
    let i = ends.length;
    while (i > 0 && (ends[i - 1] as number) > at) i--;
    ends.splice(i, 0, at);
    if (ends.length > ENDS_KEPT) ends.shift();
  }
}
