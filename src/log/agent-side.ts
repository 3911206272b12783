// The agent's side of a session looked back on (Claude Code's telemetry): what filled the gaps between the model's
// turns (tools, by tool, and the person), and the agent's own view of each API call beside the sidecar's.
import type { AgentEvent } from "../store/agent-events.js";
import type { LogRow } from "../store/log-row.js";

/** A gap between turns, split: each stretch counted once (tools that overlap: the one that started first). */
export interface GapSplit {
  toolMs: Record<string, number>;
  personMs: number;
  /** Neither a tool nor the person: the agent itself (its own work, the network), or what it did not report. */
  restMs: number;
}

/** A session's events sorted for the gaps: tool calls as intervals, prompts as instants. */
export interface AgentTimeline {
  tools: readonly { name: string; start: number; end: number }[];
  prompts: readonly number[];
}

export function timelineOf(events: readonly AgentEvent[]): AgentTimeline {
  const tools = events
    .filter((e) => e.kind === "tool")
    .map((e) => ({ name: e.name ?? "unknown", start: e.at, end: e.at + (e.durationMs ?? 0) }))
    .sort((a, b) => a.start - b.start);
  const prompts = events
    .filter((e) => e.kind === "prompt")
    .map((e) => e.at)
    .sort((a, b) => a - b);
  return { tools, prompts };
}

/**
 * The gap [from, to]: tools' time clipped to it; the person's, from the last thing that ended before each prompt
 * the person sent in it (a turn, or a tool) up to that prompt; the rest.
 */
export function splitGap(from: number, to: number, t: AgentTimeline): GapSplit {
  const split: GapSplit = { toolMs: {}, personMs: 0, restMs: 0 };
  if (to <= from) return split;
  let cursor = from;
  let toolTotal = 0;
  for (const tool of t.tools) {
    const s = Math.max(tool.start, cursor);
    const e = Math.min(tool.end, to);
    if (e <= s) continue;
    split.toolMs[tool.name] = (split.toolMs[tool.name] ?? 0) + (e - s);
    toolTotal += e - s;
    cursor = e;
  }
  for (const p of t.prompts) {
    if (p <= from || p > to) continue;
    const lastEnd = t.tools.reduce((a, x) => (x.end <= p && x.end > a ? x.end : a), from);
    split.personMs += p - lastEnd;
  }
  split.personMs = Math.min(split.personMs, to - from - toolTotal);
  split.restMs = to - from - toolTotal - split.personMs;
  return split;
}

/** The agent's own view of one API call: its duration (to set beside the sidecar's) and its figures. */
export interface AgentCallView {
  durationMs: number;
  ok: boolean;
  costUsd?: number;
  inputTokens?: number;
  outputTokens?: number;
}

/** How far apart the agent's and the sidecar's ends of the same call may be. */
const MATCH_WITHIN_MS = 5000;

/**
 * Each API call the agent reported, given to the turn of the session that ended nearest its end (each turn at most
 * one): the agent's clock and the sidecar's are the same machine's, or near enough.
 */
export function matchCalls(rows: readonly LogRow[], events: readonly AgentEvent[]): Map<string, AgentCallView> {
  const out = new Map<string, AgentCallView>();
  for (const e of events) {
    if ((e.kind !== "api" && e.kind !== "api_error") || e.durationMs === undefined) continue;
    const end = e.at + e.durationMs;
    let best: LogRow | undefined;
    for (const r of rows) {
      const d = Math.abs(r.startedAt + r.durationMs - end);
      if (d <= MATCH_WITHIN_MS && !out.has(r.id) && (!best || d < Math.abs(best.startedAt + best.durationMs - end)))
        best = r;
    }
    if (!best) continue;
    const n = (k: string) => (typeof e.detail?.[k] === "number" ? (e.detail[k] as number) : undefined);
    out.set(best.id, {
      durationMs: e.durationMs,
      ok: e.kind === "api",
      costUsd: n("cost_usd"),
      inputTokens: n("input_tokens"),
      outputTokens: n("output_tokens"),
    });
  }
  return out;
}

/** The session's tools, the most time first: calls, failures, and time. */
export function toolRollup(
  events: readonly AgentEvent[],
): { tool: string; calls: number; failures: number; ms: number }[] {
  const by = new Map<string, { tool: string; calls: number; failures: number; ms: number }>();
  for (const e of events) {
    if (e.kind !== "tool") continue;
    const tool = e.name ?? "unknown";
    const t = by.get(tool) ?? { tool, calls: 0, failures: 0, ms: 0 };
    t.calls++;
    if (e.outcome !== "success") t.failures++;
    t.ms += e.durationMs ?? 0;
    by.set(tool, t);
  }
  return [...by.values()].sort((a, b) => b.ms - a.ms);
}
