// A finished turn's cache verdict, made off the hot path while the request's parsed body is still at hand (its text
// is hashed, never kept): a new value beside the record, which stays as it was published.
import type { Dialect } from "../wire/dialect.js";
import type { ExchangeFacts, PromptRef, ServingUnit } from "./exchange-facts.js";
import type { CacheVerdict, RequestRecord } from "./request-record.js";

/**
 * A turn refused for a prompt longer than the slot's context: nothing was re-processed, but the conversation cannot
 * go on in this cache (or at all) until it is compacted, so it is listed with the misses, with both sizes.
 */
function judgeOverflow(
  unit: ServingUnit,
  ex: Pick<ExchangeFacts, "prompt">,
  record: RequestRecord,
): CacheVerdict | undefined {
  const o = record.overflow;
  if (!o) return undefined;
  const location = `prompt ${o.promptTokens} tokens > n_ctx ${o.nCtx}`;
  unit.forensics.note({
    at: record.startedAt,
    conversation: ex.prompt?.sessionKey !== undefined ? `s:${ex.prompt.sessionKey}` : "unnamed",
    cause: "context_overflow",
    location,
    expectedTokens: o.promptTokens,
    lostTokens: 0,
  });
  return { cause: "context_overflow", location };
}

/**
 * Judges a finished turn. On a one-slot server at once; on one with several slots once llama-server's /slots says
 * which served it (then a promise, which the span waits for).
 */
export function judgeCache(
  unit: ServingUnit,
  ex: Pick<ExchangeFacts, "prompt" | "route">,
  record: RequestRecord,
): CacheVerdict | undefined | Promise<CacheVerdict | undefined> {
  const overflow = judgeOverflow(unit, ex, record);
  if (overflow) return overflow;
  const { prompt } = ex;
  const dialect = ex.route.dialect;
  // A call routed to the background llama-server ran on another cache; a failed one reports nothing to judge.
  if (!prompt || !dialect || record.outcome !== "ok" || record.backgroundPolicy === "route") return undefined;
  const { prefillTokens: prefill, cachedTokens: cached, outputTokens: generated } = record;
  const known = prefill !== undefined && cached !== undefined && generated !== undefined;
  const slot = known ? unit.slotOf({ prefill, cached, generated }) : undefined;
  if (!(slot instanceof Promise)) return judgeOnSlot(unit, { dialect, prompt }, record, slot);
  return slot.then((s) => judgeOnSlot(unit, { dialect, prompt }, record, s));
}

function judgeOnSlot(
  unit: ServingUnit,
  { dialect, prompt }: { dialect: Dialect; prompt: PromptRef },
  record: RequestRecord,
  slot: number | undefined,
): CacheVerdict | undefined {
  const facts = unit.facts();
  const verdict = unit.forensics.judge({
    dialect,
    body: prompt.body,
    sessionKey: prompt.sessionKey,
    model: record.model,
    prefillTokens: record.prefillTokens,
    cachedTokens: record.cachedTokens,
    background: record.background,
    restarts: facts.restarts,
    nCtx: facts.nCtx,
    slot,
  });
  if (!verdict) return undefined;
  const { expectedTokens, lostTokens, cause, location, conversation } = verdict;
  if (expectedTokens === undefined || lostTokens === undefined) return { conversation };
  if (!cause) return { conversation, expectedTokens, lostTokens };
  // The request's own prefill speed; Anthropic answers carry none, so then llama-server's recent one from /metrics.
  const prefillTps = record.prefillTps ?? facts.prefillTps;
  const lostPrefillMs = prefillTps ? (lostTokens / prefillTps) * 1000 : undefined;
  unit.forensics.note({
    at: record.startedAt,
    conversation,
    cause,
    location,
    expectedTokens,
    lostTokens,
    lostPrefillMs,
  });
  return { conversation, expectedTokens, lostTokens, cause, location, lostPrefillMs };
}
