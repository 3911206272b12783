// A session's report from its rows: the time split adds up to the wall time, overlaps counted once; misses, slow
// turns, failures, compactions and the context's peak.
import { describe, expect, it } from "vitest";
import { type SessionReport, sessionReport, type TimeSplit } from "../../../src/log/session-report.js";
import type { AgentEvent } from "../../../src/store/agent-events.js";
import type { LogRow } from "../../../src/store/log-row.js";
import { splitTotal } from "../../support/time-split.js";

let n = 0;
function turn(startedAt: number, over: Partial<LogRow> = {}): LogRow {
  const durationMs = over.durationMs ?? 1000;
  return {
    id: `t${n++}`,
    startedAt,
    endedAt: startedAt + durationMs,
    session: "s",
    client: "claude-code",
    model: "tiny",
    route: "/v1/messages",
    outcome: "ok",
    status: 200,
    stream: true,
    prefill: 100,
    cached: 900,
    generated: 50,
    nCtx: 8192,
    ttftMs: 400,
    queueMs: 100,
    durationMs,
    judged: true,
    ...over,
  };
}

const total = splitTotal;

function report(rows: LogRow[]): SessionReport {
  const r = sessionReport("s", rows);
  if (!r) throw new Error("no report");
  return r;
}

describe("a session's report", () => {
  it("splits each turn into queue, prefill, lost prefill by cause and generation, and the gaps between", () => {
    const r = report([
      turn(0),
      turn(3000, { missCause: "other_conversation", lostPrefillMs: 250, cacheLost: 800 }),
      turn(6000),
    ]);
    expect(r.wallMs).toBe(7000);
    expect(r.time).toEqual({
      queueMs: 300,
      prefillMs: 650,
      lostPrefillMs: { other_conversation: 250 },
      generationMs: 1800,
      unsplitMs: 0,
      otherMs: 0,
      toolMs: {},
      personMs: 0,
      gapMs: 4000,
    });
    expect(total(r.time)).toBe(r.wallMs);
    expect(r.turns[1]?.time.gapMs).toBe(2000);
    expect(r.misses).toEqual([
      { turn: 2, cause: "other_conversation", location: undefined, lostTokens: 800, lostPrefillMs: 250 },
    ]);
    expect(r.summary).toMatch(/^3 turns over 7\.0 s: 57% between turns .*, 13% prefill \(0\.3 s of it re-processing/);
    expect(r.summary).toContain("1 cache miss (other_conversation)");
  });

  it("counts time two turns overlap once, for the earlier, so the split still adds up to the wall time", () => {
    // A background call runs beside the main turn, and one ends after it.
    const rows = [turn(0, { durationMs: 2000 }), turn(500, { background: "haiku" }), turn(1800, { durationMs: 1500 })];
    const r = report(rows);
    expect(r.wallMs).toBe(3300);
    expect(total(r.time)).toBeCloseTo(r.wallMs, 6);
    expect(total(r.turns[1]?.time as TimeSplit)).toBe(0); // wholly inside the first
    // The third's first 200 ms ran beside the first: only its rest counts, its queue and prefill first dropped.
    expect(r.turns[2]?.time).toMatchObject({ gapMs: 0, queueMs: 0, prefillMs: 200, generationMs: 1100 });
  });

  it("keeps an answer without a first token's time whole, and a failed one apart", () => {
    const r = report([
      turn(0, { ttftMs: undefined, stream: false, missCause: "prefix_changed", lostPrefillMs: 300 }),
      turn(2000, { outcome: "upstream_error", status: 502, ttftMs: undefined, error: "upstream_unreachable" }),
    ]);
    expect(r.time).toMatchObject({
      queueMs: 200,
      lostPrefillMs: { prefix_changed: 300 },
      unsplitMs: 600,
      otherMs: 900,
    });
    expect(total(r.time)).toBe(r.wallMs);
    expect(r.errors).toEqual([{ turn: 2, outcome: "upstream_error", status: 502, error: "upstream_unreachable" }]);
    expect(r.summary).toContain("1 turn(s) failed");
    // A background call the sidecar answered itself is no failure: its few milliseconds are one piece.
    const local = report([turn(0), turn(1500, { outcome: "local", durationMs: 4, ttftMs: undefined })]);
    expect(local.errors).toEqual([]);
    expect(local.turns[1]?.time).toMatchObject({ gapMs: 500, unsplitMs: 4, otherMs: 0 });
  });

  it("finds a compaction: a prompt that falls below half of the last one, background calls aside", () => {
    const r = report([
      turn(0, { prefill: 1000, cached: 0 }),
      turn(2000, { prefill: 500, cached: 4500 }),
      turn(4000, { prefill: 300, cached: 0, background: "haiku" }), // its own small prompt: no compaction
      turn(6000, { prefill: 1200, cached: 0 }),
      turn(8000, { prefill: 100, cached: 1200 }),
    ]);
    expect(r.compactions).toEqual([{ turn: 4, from: 5000, to: 1200 }]);
    expect(r.peakContext).toEqual({ tokens: 5000, nCtx: 8192 });
    expect(r.tokens).toEqual({ prefill: 3100, cached: 5700, generated: 250 });
    expect(r.cacheReuse).toBeCloseTo(5700 / 8800, 6);
    expect(r.summary).toContain("compacted 1×");
  });

  it("lists slow turns with their cause, and is undefined for a session with no rows", () => {
    const r = report([turn(0, { slowdownCause: "batch_contention", slowdownDetail: "3 in flight" })]);
    expect(r.slowdowns).toEqual([{ turn: 1, cause: "batch_contention", detail: "3 in flight" }]);
    expect(sessionReport("none", [])).toBeUndefined();
  });

  it("splits the gaps between turns into the agent's tools, the person and the rest, and sets its view of each call beside the sidecar's", () => {
    // Turn 1 (0-1000) asks for Bash; Bash runs 1200-2000; turn 2 (2100-3100) answers; the person types at 9000
    // (after reading); turn 3 starts at 9300. Both sides are the same machine's clock.
    const t1 = turn(0);
    const t2 = turn(2100);
    const t3 = turn(9300);
    const ev = (e: Partial<AgentEvent> & Pick<AgentEvent, "kind" | "at">): AgentEvent => ({
      id: `e${e.at}`,
      session: "s",
      ...e,
    });
    const events = [
      ev({ kind: "api", at: 0, durationMs: 1030, name: "tiny", detail: { cost_usd: 0.01, input_tokens: 1000 } }),
      ev({ kind: "tool", at: 1200, durationMs: 800, name: "Bash", outcome: "success" }),
      ev({ kind: "tool", at: 1500, durationMs: 200, name: "Read", outcome: "failure" }), // inside Bash's stretch
      ev({ kind: "api", at: 2100, durationMs: 1020, name: "tiny", detail: { cost_usd: 0.02 } }),
      ev({ kind: "prompt", at: 9000, value: 12 }),
    ];
    const r = sessionReport("s", [t1, t2, t3], events);
    if (!r) throw new Error("no report");
    expect(r.turns[1]?.time).toMatchObject({ toolMs: { Bash: 800 }, personMs: 0, gapMs: 300 });
    expect(r.turns[2]?.time).toMatchObject({ toolMs: {}, personMs: 5900, gapMs: 300 });
    expect(total(r.time)).toBe(r.wallMs);
    expect(r.turns[0]?.agent).toEqual({
      durationMs: 1030,
      ok: true,
      costUsd: 0.01,
      inputTokens: 1000,
      outputTokens: undefined,
    });
    expect(r.turns[1]?.agent?.durationMs).toBe(1020);
    expect(r.agent).toEqual({
      tools: [
        { tool: "Bash", calls: 1, failures: 0, ms: 800 },
        { tool: "Read", calls: 1, failures: 1, ms: 200 },
      ],
      prompts: 1,
      calls: 2,
      costUsd: 0.03,
    });
    expect(r.summary).toMatch(/in tools \(Bash 8%\), 57% waiting for the person, 6% the agent itself between turns/);
  });
});
