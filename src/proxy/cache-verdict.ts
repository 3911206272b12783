// A finished turn's cache verdict, written onto its record and counted: the record's owner calls it, off the hot
// path, while the request's parsed body is still at hand (its text is hashed, never kept).
import type { IncomingHttpHeaders } from "node:http";
import type { UpstreamFacts } from "../fleet/upstream-unit.js";
import type { CacheForensics } from "../forensics/forensics.js";
import type { RequestRecord } from "../observe/observation.js";
import type { TaskNumbers } from "../scrape/scraper.js";
import type { Telemetry } from "../telemetry/telemetry.js";
import { overflowInMessage } from "../translate/context-overflow.js";
import type { Dialect } from "../wire/dialect.js";
import type { JsonObject } from "../wire/json.js";

/** A model call's parsed body and the conversation it names, kept on the exchange until its record. */
export interface PromptRef {
  body: JsonObject;
  sessionKey?: string;
}

/** What a verdict needs of the app: the llama-server's forensics, what it knows of that server now, the counters. */
export interface VerdictDeps {
  /** The upstream's configured name, the misses' label. */
  upstream: string;
  forensics: CacheForensics;
  upstreamFacts(): UpstreamFacts;
  /** Which slot served a finished request: at once, later (asked of llama-server), or not at all. */
  slotOf(r: TaskNumbers): number | undefined | Promise<number | undefined>;
  telemetry: Telemetry;
}

/** What a verdict needs of the finished request, besides its record. */
export interface JudgedRequest {
  dialect?: Dialect;
  prompt?: PromptRef;
  backgroundPolicy?: string;
}

/** Sessions named by the client: Claude Code's header, or OpenAI's prompt_cache_key in the body. */
export function sessionKeyOf(headers: IncomingHttpHeaders, body: JsonObject): string | undefined {
  const header = headers["x-claude-code-session-id"];
  if (typeof header === "string" && header.length > 0 && header.length <= 256) return header;
  return typeof body.prompt_cache_key === "string" ? body.prompt_cache_key.slice(0, 256) : undefined;
}

/**
 * A turn refused for a prompt longer than the slot's context: nothing was re-processed, but the conversation cannot
 * go on in this cache (or at all) until it is compacted, so it is listed with the misses, with both sizes.
 */
function judgeOverflow(deps: VerdictDeps, req: JudgedRequest, record: RequestRecord): boolean {
  const o = record.outcome === "upstream_error" ? overflowInMessage(record.errorMessage) : undefined;
  if (!o) return false;
  const { promptTokens } = o;
  record.missCause = "context_overflow";
  record.missLocation = `prompt ${promptTokens} tokens > n_ctx ${o.nCtx}`;
  deps.telemetry.state.countMiss(deps.upstream, "context_overflow", 0, undefined);
  deps.forensics.note({
    at: record.startedAt,
    conversation: req.prompt?.sessionKey !== undefined ? `s:${req.prompt.sessionKey}` : "unnamed",
    cause: "context_overflow",
    location: record.missLocation,
    expectedTokens: promptTokens,
    lostTokens: 0,
  });
  return true;
}

/**
 * Judges a finished turn. On a one-slot server at once; on one with several slots once llama-server's /slots says
 * which served it (then a promise, which the span waits for).
 */
export function judgeCache(deps: VerdictDeps, req: JudgedRequest, record: RequestRecord): undefined | Promise<void> {
  if (judgeOverflow(deps, req, record)) return;
  const { dialect, prompt } = req;
  // A call routed to the background llama-server ran on another cache; a failed one reports nothing to judge.
  if (!prompt || !dialect || record.outcome !== "ok" || req.backgroundPolicy === "route") return;
  const { prefillTokens: processed, cachedTokens: cached, outputTokens: decoded } = record;
  const known = processed !== undefined && cached !== undefined && decoded !== undefined;
  const slot = known ? deps.slotOf({ processed, cached, decoded }) : undefined;
  if (!(slot instanceof Promise)) return judgeOnSlot(deps, { dialect, prompt }, record, slot);
  return slot.then((s) => judgeOnSlot(deps, { dialect, prompt }, record, s));
}

function judgeOnSlot(
  deps: VerdictDeps,
  { dialect, prompt }: { dialect: Dialect; prompt: PromptRef },
  record: RequestRecord,
  slot: number | undefined,
): undefined {
  const facts = deps.upstreamFacts();
  const verdict = deps.forensics.judge({
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
  if (!verdict) return;
  record.cacheExpectedTokens = verdict.expectedTokens;
  record.cacheLostTokens = verdict.lostTokens;
  if (!verdict.cause) return;
  record.missCause = verdict.cause;
  record.missLocation = verdict.location;
  // The request's own prefill speed; Anthropic answers carry none, so then llama-server's recent one from /metrics.
  const prefillTps = record.prefillTps ?? facts.prefillTps;
  const lostPrefillMs = prefillTps ? (verdict.lostTokens / prefillTps) * 1000 : undefined;
  deps.telemetry.state.countMiss(deps.upstream, verdict.cause, verdict.lostTokens, lostPrefillMs);
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
