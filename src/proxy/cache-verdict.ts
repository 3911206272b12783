// A finished turn's cache verdict, written onto its record and counted: the record's owner calls it, off the hot
// path, while the request's parsed body is still at hand (its text is hashed, never kept).
import type { RequestRecord } from "../observe/observation.js";
import type { Exchange, RecordDeps } from "./exchange.js";

/** Sessions named by the client: Claude Code's header, or OpenAI's prompt_cache_key in the body. */
export function sessionKeyOf(headers: Exchange["headers"], body: Record<string, unknown>): string | undefined {
  const header = headers["x-claude-code-session-id"];
  if (typeof header === "string" && header.length > 0 && header.length <= 256) return header;
  return typeof body.prompt_cache_key === "string" ? body.prompt_cache_key.slice(0, 256) : undefined;
}

export function judgeCache(deps: RecordDeps, ex: Exchange, record: RequestRecord): void {
  const dialect = ex.route.dialect;
  // A call routed to the background llama-server ran on another cache; a failed one reports nothing to judge.
  if (!ex.prompt || !dialect || record.outcome !== "ok" || ex.tags.backgroundPolicy === "route") return;
  const facts = deps.upstreamFacts();
  const verdict = deps.forensics.judge({
    dialect,
    body: ex.prompt.body,
    sessionKey: ex.prompt.sessionKey,
    model: record.model,
    prefillTokens: record.prefillTokens,
    cachedTokens: record.cachedTokens,
    background: record.background,
    restarts: facts.restarts,
    nCtx: facts.nCtx,
  });
  if (!verdict) return;
  record.cacheExpectedTokens = verdict.expectedTokens;
  record.cacheLostTokens = verdict.lostTokens;
  if (!verdict.cause) return;
  record.missCause = verdict.cause;
  record.missLocation = verdict.location;
  // The request's own prefill speed; Anthropic answers carry none, so then llama-server's recent one from /metrics.
  const prefillTps = record.prefillTps ?? facts.prefillTps;
  const lostPrefillMs = prefillTps ? (verdict.lostTokens / prefillTps) * 1000 : undefined;
  deps.telemetry.state.countMiss(verdict.cause, verdict.lostTokens, lostPrefillMs);
  deps.forensics.note({
    at: record.startedAt,
    conversation: verdict.conversation,
    cause: verdict.cause,
    location: verdict.location,
    expectedTokens: verdict.expectedTokens,
    lostTokens: verdict.lostTokens,
    lostPrefillMs,
  });
}
