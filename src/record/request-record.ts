// The record of one finished request, and its verdicts: built once, frozen, then published (record/events.ts).
import type { ClientName } from "../observe/client-name.js";
import type { ContextOverflow } from "../wire/context-overflow.js";
import type { MissCause, Outcome, SlowdownCause } from "../wire/request-kinds.js";
import type { RequestTags } from "./exchange-facts.js";

/**
 * Everything recorded about one forwarded request; never prompt or completion text. Token counts follow the
 * glossary (README, "One name per quantity"): prefill + cached = prompt; generated is what the model wrote.
 */
export interface RequestRecord extends Readonly<RequestTags> {
  /** A UUIDv7: later records have greater ids (the request log's order on disk). */
  readonly id: string;
  readonly startedAt: number;
  readonly route: string;
  readonly operation?: string;
  readonly client: ClientName;
  readonly model: string;
  /** The model as metrics and the ledger label it: cut, and "other" past the first few names (wire/labels). */
  readonly modelLabel: string;
  readonly stream: boolean;
  readonly status: number;
  readonly outcome: Outcome;
  readonly finishReason?: string;
  /** The answer's id as llama-server gave it (chatcmpl-…, msg_…). */
  readonly responseId?: string;
  /** Prompt tokens llama-server had to process (prompt_n): the prefill. */
  readonly prefillTokens?: number;
  /** Prompt tokens served from the KV cache (cache_n). */
  readonly cachedTokens?: number;
  /** Tokens generated (predicted_n): OpenTelemetry's output tokens. */
  readonly outputTokens?: number;
  /** Tokens a draft model proposed (draft_n), and those of them the model kept (speculative decoding only). */
  readonly draftTokens?: number;
  readonly draftAccepted?: number;
  readonly ttftMs?: number;
  readonly durationMs: number;
  readonly prefillMs?: number;
  readonly prefillTps?: number;
  readonly decodeTps?: number;
  readonly tpotMs?: number;
  /** Time spent in the sidecar's admission queue before going to llama-server. */
  readonly queueWaitMs?: number;
  /** Model requests in flight to llama-server when this one was admitted, itself included. */
  readonly concurrent?: number;
  /** The sidecar's own time before forwarding: request received to sent upstream, less the queue wait. */
  readonly overheadMs?: number;
  /** Estimated wait inside llama-server for a slot: TTFT less prefill, first decode step and queue wait. */
  readonly slotWaitMs?: number;
  /** The session the client named: an identifier it chose, never prompt text. */
  readonly session?: string;
  /** True where TTFT or speeds were computed from the stream rather than read from llama-server's timings. */
  readonly derived: boolean;
  readonly errorMessage?: string;
  /** The error's kind alone, whatever --capture-content says: what goes to disk (the request log). */
  readonly errorKind?: string;
  /** llama-server refused the prompt as longer than the slot's context: both sizes. */
  readonly overflow?: ContextOverflow;
  /** Fields of llama-server's answer that held a bad number (negative, NaN, not a number, absurd): left out. */
  readonly invalidFields?: readonly string[];
}

/** Cache forensics for a turn: its conversation, and for a turn of a conversation seen before, the verdict. */
export interface CacheVerdict {
  /** The conversation the prompt's fingerprints placed it in (a key, never text). */
  readonly conversation?: string;
  /** Tokens a warm cache would have kept... (none for a prompt refused as too long: nothing was processed) */
  readonly expectedTokens?: number;
  /** ...and those of them llama-server processed again. */
  readonly lostTokens?: number;
  /** For a miss: why, and where the prompt changed or what came between. */
  readonly cause?: MissCause;
  readonly location?: string;
  /** The prefill time the lost tokens cost, at the request's (or llama-server's recent) prefill speed. */
  readonly lostPrefillMs?: number;
}

/** Generation well below the model's usual speed: why, what changed, and the usual speed it fell below. */
export interface SpeedVerdict {
  readonly cause: SlowdownCause;
  readonly detail: string;
  readonly usualTps: number;
}

/** A record and what the forensics made of it: the second, later event of a request (record/events.ts). */
export interface JudgedRecord {
  readonly record: RequestRecord;
  /** The upstream that judged it (its configured name), the label of its misses and slowdowns. */
  readonly upstream: string;
  /** The context size of the slot that served it, as llama-server stood when it was judged. */
  readonly nCtx?: number;
  readonly cache?: CacheVerdict;
  readonly speed?: SpeedVerdict;
  /** Joules the GPU drew for it: its power over the request's time, shared among the requests decoding at once. */
  readonly energyJ?: number;
  /** --capture-content only: the request's body as the client sent it, and the completion's text. */
  readonly content?: { readonly request: string; readonly response?: string };
}

/** A record with its verdicts, flat, as /api/stats lists the recent requests. */
export interface RecordRow extends RequestRecord {
  readonly cacheExpectedTokens?: number;
  readonly cacheLostTokens?: number;
  readonly missCause?: MissCause;
  readonly missLocation?: string;
  readonly slowdownCause?: SlowdownCause;
  readonly slowdownDetail?: string;
  readonly usualTps?: number;
}

/** Whether a judged record says anything beyond its conversation: a cache verdict or a slowdown. */
export function hasVerdict(judged: JudgedRecord | undefined): boolean {
  const cache = judged?.cache;
  return cache?.expectedTokens !== undefined || cache?.cause !== undefined || judged?.speed !== undefined;
}

/** The row of a record, judged or not yet. */
export function recordRow(record: RequestRecord, judged?: JudgedRecord): RecordRow {
  const { cache, speed } = judged ?? {};
  if (!hasVerdict(judged)) return record;
  return {
    ...record,
    cacheExpectedTokens: cache?.expectedTokens,
    cacheLostTokens: cache?.lostTokens,
    missCause: cache?.cause,
    missLocation: cache?.location,
    slowdownCause: speed?.cause,
    slowdownDetail: speed?.detail,
    usualTps: speed?.usualTps,
  };
}
