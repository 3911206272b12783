// A session looked back on: its turns from the request log, and where its wall time went, turn by turn; with the
// agent's telemetry, also what filled the gaps between turns (tools, the person) and the agent's view of each call.
import type { AgentEvent } from "../store/agent-events.js";
import type { LogRow } from "../store/log-row.js";
import { type AgentCallView, type AgentTimeline, matchCalls, splitGap, timelineOf, toolRollup } from "./agent-side.js";
import {
  type EnergyPrice,
  gpuSentences,
  type SessionDraft,
  type SessionEnergy,
  sessionDraft,
  sessionEnergy,
} from "./session-gpu.js";

/** Where a stretch of the session's wall time went. */
export interface TimeSplit {
  /** Waiting in the sidecar's queue for a llama-server slot. */
  queueMs: number;
  /** Prefill of the tokens that had to be processed (new to the cache), and the sidecar's and slot's own wait. */
  prefillMs: number;
  /** Prefill of tokens a warm cache would have kept, re-processed after a miss, by the miss's cause. */
  lostPrefillMs: Record<string, number>;
  generationMs: number;
  /** A whole answer whose phases nobody reported (not streamed, no timings), or one the sidecar gave itself. */
  unsplitMs: number;
  /** A request that failed or was cut: its time, whatever it was spent on. */
  otherMs: number;
  /** Between turns, the agent's tools by tool (from its telemetry). */
  toolMs: Record<string, number>;
  /** Between turns, waiting for the person: from the last thing that ended up to each prompt they sent. */
  personMs: number;
  /**
   * Between turns, the rest: the agent itself (its own work, the network); without the agent's telemetry, all of
   * the time between turns (its tools and the person too).
   */
  gapMs: number;
}

export interface Turn extends LogRow {
  /** 1-based, in the order the turns started. */
  turn: number;
  /** prefill + cached: the prompt as the slot held it. */
  prompt?: number;
  /** This turn's share of the wall time (overlapping turns: each stretch counted once, for the earlier turn). */
  time: TimeSplit;
  /** The prompt shrank sharply after growing: the client compacted the conversation before this turn. */
  compacted?: { from: number; to: number };
  /** The agent's own view of this call (its telemetry): its duration beside the sidecar's, its figures. */
  agent?: AgentCallView;
}

/** What the agent's telemetry added to the session. */
export interface AgentSide {
  tools: { tool: string; calls: number; failures: number; ms: number }[];
  prompts: number;
  /** API calls the agent reported, and its own cost estimate for them (list prices, not a local model's). */
  calls: number;
  costUsd?: number;
}

export interface SessionReport {
  id: string;
  startedAt: number;
  endedAt: number;
  wallMs: number;
  clients: string[];
  models: string[];
  turns: Turn[];
  time: TimeSplit;
  tokens: { prefill: number; cached: number; generated: number };
  /** Share of the prompt tokens served from the cache. */
  cacheReuse?: number;
  misses: { turn: number; cause: string; location?: string; lostTokens: number; lostPrefillMs: number }[];
  slowdowns: { turn: number; cause: string; detail?: string }[];
  errors: { turn: number; outcome: string; status: number; error?: string }[];
  /** The largest prompt of the session against the slot's context. */
  peakContext?: { tokens: number; nCtx?: number };
  compactions: { turn: number; from: number; to: number }[];
  /** The agent's side, when it sent its telemetry (Claude Code with `llama-sidecar claude`). */
  agent?: AgentSide;
  /** What the GPU drew for the session's requests, where its power was read: watt-hours, tokens per joule, cost. */
  energy?: SessionEnergy;
  /** How often the draft model's tokens were kept, where llama-server drafts (speculative decoding). */
  draft?: SessionDraft;
  /** One paragraph: where the time went. */
  summary: string;
}

/** Outcomes that are failures: not a client leaving, nor an answer the sidecar gave itself. */
const FAILED = new Set(["upstream_error", "rejected"]);

/** A prompt that falls below this share of the last one, from at least MIN_COMPACTED tokens, was compacted. */
const COMPACTED_SHARE = 0.5;
const MIN_COMPACTED = 1000;

const emptySplit = (): TimeSplit => ({
  queueMs: 0,
  prefillMs: 0,
  lostPrefillMs: {},
  generationMs: 0,
  unsplitMs: 0,
  otherMs: 0,
  toolMs: {},
  personMs: 0,
  gapMs: 0,
});

/** A turn's own phases, in the order they ran, each [name, ms]; a lost prefill names its cause. */
export function turnPhases(r: LogRow): [keyof TimeSplit | `lost:${string}`, number][] {
  const queue = Math.min(r.queueMs ?? 0, r.durationMs);
  if (r.outcome === "local") return [["unsplitMs", r.durationMs]];
  if (r.outcome !== "ok")
    return [
      ["queueMs", queue],
      ["otherMs", r.durationMs - queue],
    ];
  // Without a first token's time, the prefill's end is unknown: all but the lost prefill stays one piece.
  const ttft = r.ttftMs === undefined ? r.durationMs : Math.min(Math.max(r.ttftMs, queue), r.durationMs);
  const lost = r.missCause ? Math.min(r.lostPrefillMs ?? 0, ttft - queue) : 0;
  const lostPhase: [`lost:${string}`, number][] = lost > 0 ? [[`lost:${r.missCause}`, lost]] : [];
  if (r.ttftMs === undefined) return [["queueMs", queue], ...lostPhase, ["unsplitMs", r.durationMs - queue - lost]];
  return [["queueMs", queue], ...lostPhase, ["prefillMs", ttft - queue - lost], ["generationMs", r.durationMs - ttft]];
}

function add(split: TimeSplit, phase: keyof TimeSplit | `lost:${string}`, ms: number): void {
  if (ms <= 0) return;
  if (phase.startsWith("lost:")) {
    const cause = phase.slice(5);
    split.lostPrefillMs[cause] = (split.lostPrefillMs[cause] ?? 0) + ms;
  } else if (phase !== "lostPrefillMs" && phase !== "toolMs")
    split[phase as Exclude<keyof TimeSplit, "lostPrefillMs" | "toolMs">] += ms;
}

/**
 * Each turn's time, the overlaps counted once: a turn that starts while an earlier one runs is given only what runs
 * past the earlier one's end (its first phases are the ones dropped), and the time before a turn with none in
 * flight is the gap it waited behind. So the splits add up to the wall time, exactly.
 */
function splitTime(rows: readonly LogRow[], timeline: AgentTimeline): TimeSplit[] {
  let coveredUntil = rows[0]?.startedAt ?? 0;
  return rows.map((r) => {
    const split = emptySplit();
    const end = r.startedAt + r.durationMs;
    if (r.startedAt > coveredUntil) {
      const gap = splitGap(coveredUntil, r.startedAt, timeline);
      split.toolMs = gap.toolMs;
      split.personMs = gap.personMs;
      split.gapMs = gap.restMs;
    }
    let skip = Math.max(0, coveredUntil - r.startedAt);
    for (const [phase, ms] of turnPhases(r)) {
      const kept = Math.max(0, ms - skip);
      skip = Math.max(0, skip - ms);
      add(split, phase, kept);
    }
    coveredUntil = Math.max(coveredUntil, end);
    return split;
  });
}

function sumSplits(splits: readonly TimeSplit[]): TimeSplit {
  const total = emptySplit();
  for (const s of splits) {
    for (const k of ["queueMs", "prefillMs", "generationMs", "unsplitMs", "otherMs", "personMs", "gapMs"] as const)
      total[k] += s[k];
    for (const [cause, ms] of Object.entries(s.lostPrefillMs)) add(total, `lost:${cause}`, ms);
    for (const [tool, ms] of Object.entries(s.toolMs)) total.toolMs[tool] = (total.toolMs[tool] ?? 0) + ms;
  }
  return total;
}

/** Main turns whose prompt fell sharply after growing (background calls carry prompts of their own). */
function compactionOf(turns: readonly Turn[], t: Turn): Turn["compacted"] {
  if (t.background || t.prompt === undefined) return undefined;
  const before = turns.findLast((x) => x.turn < t.turn && !x.background && x.prompt !== undefined);
  const from = before?.prompt;
  if (from === undefined || from < MIN_COMPACTED || t.prompt >= from * COMPACTED_SHARE) return undefined;
  return { from, to: t.prompt };
}

/** What the agent's telemetry adds to the report, if it sent any. */
function agentSide(events: readonly AgentEvent[]): AgentSide | undefined {
  if (events.length === 0) return undefined;
  const calls = events.filter((e) => e.kind === "api" || e.kind === "api_error");
  const costs = calls.map((e) => e.detail?.cost_usd).filter((c): c is number => typeof c === "number");
  return {
    tools: toolRollup(events),
    prompts: events.filter((e) => e.kind === "prompt").length,
    calls: calls.length,
    costUsd: costs.length > 0 ? costs.reduce((a, b) => a + b, 0) : undefined,
  };
}

/**
 * The report of a session from its rows (in the order they started) and what the agent told of it; undefined for
 * no rows.
 */
export function sessionReport(
  id: string,
  rows: readonly LogRow[],
  events: readonly AgentEvent[] = [],
  options: { energyPrice?: EnergyPrice } = {},
): SessionReport | undefined {
  const first = rows[0];
  if (!first) return undefined;
  const splits = splitTime(rows, timelineOf(events));
  const views = matchCalls(rows, events);
  const turns: Turn[] = [];
  rows.forEach((r, i) => {
    const prompt = r.prefill === undefined ? undefined : r.prefill + (r.cached ?? 0);
    const turn: Turn = { ...r, turn: i + 1, prompt, time: splits[i] ?? emptySplit(), agent: views.get(r.id) };
    turn.compacted = compactionOf(turns, turn);
    turns.push(turn);
  });
  const endedAt = Math.max(...rows.map((r) => r.startedAt + r.durationMs));
  const sum = (f: (r: LogRow) => number | undefined) => rows.reduce((a, r) => a + (f(r) ?? 0), 0);
  const tokens = { prefill: sum((r) => r.prefill), cached: sum((r) => r.cached), generated: sum((r) => r.generated) };
  const prompts = tokens.prefill + tokens.cached;
  const peak = turns.reduce<Turn | undefined>((a, t) => ((t.prompt ?? 0) > (a?.prompt ?? 0) ? t : a), undefined);
  const report: SessionReport = {
    id,
    startedAt: first.startedAt,
    endedAt,
    wallMs: endedAt - first.startedAt,
    clients: [...new Set(rows.map((r) => r.client))],
    models: [...new Set(rows.map((r) => r.model))],
    turns,
    time: sumSplits(splits),
    tokens,
    cacheReuse: prompts > 0 ? tokens.cached / prompts : undefined,
    misses: turns.flatMap((t) =>
      t.missCause
        ? [
            {
              turn: t.turn,
              cause: t.missCause,
              location: t.missLocation,
              lostTokens: t.cacheLost ?? 0,
              lostPrefillMs: t.lostPrefillMs ?? 0,
            },
          ]
        : [],
    ),
    slowdowns: turns.flatMap((t) =>
      t.slowdownCause ? [{ turn: t.turn, cause: t.slowdownCause, detail: t.slowdownDetail }] : [],
    ),
    errors: turns.flatMap((t) =>
      FAILED.has(t.outcome) ? [{ turn: t.turn, outcome: t.outcome, status: t.status, error: t.error }] : [],
    ),
    peakContext: peak?.prompt === undefined ? undefined : { tokens: peak.prompt, nCtx: peak.nCtx },
    compactions: turns.flatMap((t) => (t.compacted ? [{ turn: t.turn, ...t.compacted }] : [])),
    agent: agentSide(events),
    energy: sessionEnergy(rows, tokens.generated, options.energyPrice),
    draft: sessionDraft(rows),
    summary: "",
  };
  report.summary = summarize(report);
  return report;
}

const seconds = (ms: number) => (ms >= 60_000 ? `${Math.round(ms / 60_000)} min` : `${(ms / 1000).toFixed(1)} s`);
const share = (ms: number, wall: number) => `${wall > 0 ? Math.round((ms / wall) * 100) : 0}%`;

/** Where the time went, in one paragraph a person reads. */
export function summarize(r: SessionReport): string {
  const { time, wallMs: wall } = r;
  const lost = Object.values(time.lostPrefillMs).reduce((a, b) => a + b, 0);
  const tools = Object.entries(time.toolMs).sort((a, b) => b[1] - a[1]);
  const toolTotal = tools.reduce((a, [, ms]) => a + ms, 0);
  const between = r.agent
    ? [
        ...(toolTotal > 0
          ? [
              `${share(toolTotal, wall)} in tools (${tools
                .filter(([, ms], i) => i === 0 || ms / wall >= 0.005)
                .map(([t, ms]) => `${t} ${share(ms, wall)}`)
                .join(", ")})`,
            ]
          : []),
        `${share(time.personMs, wall)} waiting for the person`,
        `${share(time.gapMs, wall)} the agent itself between turns`,
      ]
    : [`${share(time.gapMs, wall)} between turns (the agent's tools and the person)`];
  const parts = [
    ...between,
    `${share(time.prefillMs + lost, wall)} prefill${lost > 0 ? ` (${seconds(lost)} of it re-processing what the cache lost)` : ""}`,
    `${share(time.generationMs, wall)} generation`,
  ];
  const some = (ms: number) => wall > 0 && ms / wall >= 0.005;
  if (some(time.unsplitMs))
    parts.push(
      `${share(time.unsplitMs, wall)} in answers not streamed or given by the sidecar (prefill and generation as one)`,
    );
  if (some(time.queueMs)) parts.push(`${share(time.queueMs, wall)} waiting for a slot`);
  if (some(time.otherMs)) parts.push(`${share(time.otherMs, wall)} in requests that failed or were cut`);
  const misses = r.misses.length
    ? `${r.misses.length} cache miss${r.misses.length > 1 ? "es" : ""} (${[...new Set(r.misses.map((m) => m.cause))].join(", ")})`
    : "no cache misses";
  const reuse =
    r.cacheReuse === undefined ? "" : `, ${Math.round(r.cacheReuse * 100)}% of prompt tokens from the cache`;
  const ctx = r.peakContext
    ? ` Context peaked at ${r.peakContext.tokens} tokens${r.peakContext.nCtx ? ` of ${r.peakContext.nCtx}` : ""}${r.compactions.length ? `, compacted ${r.compactions.length}×` : ""}.`
    : "";
  const slow = r.slowdowns.length ? ` ${r.slowdowns.length} turn(s) generated slowly.` : "";
  const errors = r.errors.length ? ` ${r.errors.length} turn(s) failed.` : "";
  const gpu = gpuSentences(r.energy, r.draft);
  return `${r.turns.length} turns over ${seconds(wall)}: ${parts.join(", ")}. ${misses}${reuse}.${ctx}${slow}${errors}${gpu}`;
}
