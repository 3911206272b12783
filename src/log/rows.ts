// A request's record (and its verdicts) as a row of the request log: the one place the two shapes meet.
import type { JudgedRecord, RequestRecord } from "../record/request-record.js";
import type { LogRow } from "../store/log-row.js";

/** The row of a record alone: what the journal keeps, replayed after a crash before its verdicts were made. */
export function recordedRow(r: RequestRecord): LogRow {
  return {
    id: r.id,
    startedAt: r.startedAt,
    endedAt: r.startedAt + r.durationMs,
    session: r.session,
    client: r.client,
    model: r.model,
    upstream: r.upstream,
    route: r.route,
    outcome: r.outcome,
    status: r.status,
    stream: r.stream,
    background: r.background,
    prefill: r.prefillTokens,
    cached: r.cachedTokens,
    generated: r.outputTokens,
    draft: r.draftTokens,
    draftAccepted: r.draftAccepted,
    ttftMs: r.ttftMs,
    durationMs: r.durationMs,
    queueMs: r.queueWaitMs,
    prefillMs: r.prefillMs,
    prefillTps: r.prefillTps,
    decodeTps: r.decodeTps,
    finishReason: r.finishReason,
    overflowPrompt: r.overflow?.promptTokens,
    error: r.errorKind,
    judged: false,
  };
}

/**
 * The row of a judged record. A request without a session of its own (no Claude Code session id, no
 * prompt_cache_key) belongs to the conversation its prompt's fingerprints found.
 */
export function judgedRow(j: JudgedRecord): LogRow {
  const { record, cache, speed } = j;
  const row = recordedRow(record);
  row.judged = true;
  row.conversation = cache?.conversation;
  row.session ??= cache?.conversation;
  row.nCtx = j.nCtx ?? record.overflow?.nCtx;
  row.energyJ = j.energyJ;
  if (cache) {
    row.missCause = cache.cause;
    row.missLocation = cache.location;
    row.cacheExpected = cache.expectedTokens;
    row.cacheLost = cache.lostTokens;
    row.lostPrefillMs = cache.lostPrefillMs;
  }
  if (speed) {
    row.slowdownCause = speed.cause;
    row.slowdownDetail = speed.detail;
    row.usualTps = speed.usualTps;
  }
  return row;
}
