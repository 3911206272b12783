// What one request taught us: filled in as the response streams past, then frozen into a RequestRecord.
import { labelText } from "../wire/labels.js";
import type { ClientName } from "./client-name.js";
import { errorKind, upstreamErrorKind } from "./redact.js";
import { ValueCheck } from "./upstream-values.js";

const MODEL_NAME_MAX_LENGTH = 256;

/** rejected: the sidecar answered itself (bad request, too large) and nothing reached llama-server. */
export type Outcome = "ok" | "upstream_error" | "client_abort" | "rejected" | "local";

/** llama-server's `timings` object (server_slot_stats::to_json). */
export interface LlamaTimings {
  cache_n?: number;
  prompt_n?: number;
  prompt_ms?: number;
  prompt_per_second?: number;
  predicted_n?: number;
  predicted_ms?: number;
  predicted_per_token_ms?: number;
  predicted_per_second?: number;
}

/** Everything recorded about one forwarded request; never prompt or completion text. */
export interface RequestRecord {
  id: string;
  startedAt: number;
  route: string;
  operation?: string;
  client: ClientName;
  model: string;
  /** The model as metrics and the ledger label it: cut, and "other" past the first few names (wire/labels). */
  modelLabel: string;
  stream: boolean;
  status: number;
  outcome: Outcome;
  finishReason?: string;
  /** Prompt tokens llama-server had to process (prompt_n): the prefill. */
  prefillTokens?: number;
  /** Prompt tokens served from the KV cache (cache_n). */
  cachedTokens?: number;
  outputTokens?: number;
  ttftMs?: number;
  durationMs: number;
  prefillMs?: number;
  prefillTps?: number;
  decodeTps?: number;
  tpotMs?: number;
  /** Time spent in the sidecar's admission queue before going to llama-server. */
  queueWaitMs?: number;
  /** Model requests in flight to llama-server when this one was admitted, itself included. */
  concurrent?: number;
  /** The sidecar's own time before forwarding: request received to sent upstream, less the queue wait. */
  overheadMs?: number;
  /** Estimated wait inside llama-server for a slot: TTFT less prefill, first decode step and queue wait. */
  slotWaitMs?: number;
  /** The session the client named: an identifier it chose, never prompt text. */
  session?: string;
  /** A Claude Code background call, and what the policy did with it. */
  background?: string;
  backgroundPolicy?: string;
  /** The billing header was normalized in this request's prompt. */
  normalized?: boolean;
  /** The client's max_tokens, where the sidecar lowered it to fit beside the prompt in the slot's context. */
  maxTokensAsked?: number;
  /** The upstream (its configured name) that answered, or the last one tried. */
  upstream?: string;
  /** The local model a client's model name was mapped to by an alias. */
  aliasedTo?: string;
  /** Upstreams tried before the one that answered, which failed before sending anything back. */
  failedOver?: string[];
  /** The router model (its id) that served it, on a llama-server in router mode. */
  upstreamModel?: string;
  /** How long it waited for its model to be loaded (router mode), apart from its queue wait and prefill. */
  modelLoadMs?: number;
  /** It set that load off (the load is counted and timed once, on this request). */
  modelLoaded?: boolean;
  /** Answered through Anthropic-to-OpenAI translation. */
  translated?: boolean;
  /** True where TTFT or speeds were computed from the stream rather than read from llama-server's timings. */
  derived: boolean;
  errorMessage?: string;
  /** Fields of llama-server's answer that held a bad number (negative, NaN, not a number, absurd): left out. */
  invalidFields?: string[];
  /** Cache forensics, for a turn of a conversation seen before: tokens a warm cache would have kept... */
  cacheExpectedTokens?: number;
  /** ...and those of them llama-server processed again. */
  cacheLostTokens?: number;
  /** For a miss: why (forensics/explain.ts: MISS_CAUSES), and where the prompt changed or what came between. */
  missCause?: string;
  missLocation?: string;
  /** Generation well below the model's usual speed: why (forensics/speed.ts: SLOWDOWN_CAUSES), what changed... */
  slowdownCause?: string;
  slowdownDetail?: string;
  /** ...and the usual speed it fell below. */
  usualTps?: number;
}

/** A consumer of finished request records (the ledgers, the history, tests). */
export type RecordSink = (record: RequestRecord) => void;

export interface Usage {
  prefill?: number;
  cached?: number;
  output?: number;
}

/** Mutable state while the response passes; every time is performance.now() milliseconds. */
export class Observation {
  firstContentAt?: number;
  lastContentAt?: number;
  contentEvents = 0;
  usage: Usage = {};
  timings?: LlamaTimings;
  finishReason?: string;
  responseModel?: string;
  /** What went wrong, as it may be kept: the sidecar's own words, or an upstream error's kind. */
  errorMessage?: string;
  /** An upstream error's own text, which may quote the prompt: kept only with --capture-content. */
  errorText?: string;
  /** Generated text, kept only when the user turned on --capture-content; goes to the span, nowhere else. */
  captured?: string;
  /** llama-server's numbers are checked here as they are read; the bad ones never reach a record. */
  readonly check = new ValueCheck();

  constructor(readonly receivedAt: number) {}

  /** An error llama-server sent: its text kept apart, its kind what the record shows. */
  upstreamError(message: string | undefined, type: string | undefined): void {
    this.errorText = message;
    this.errorMessage = upstreamErrorKind(message, type);
  }

  capture(text: unknown): void {
    if (this.captured === undefined || typeof text !== "string" || !text) return;
    if (this.captured.length < CAPTURE_LIMIT) this.captured += text.slice(0, CAPTURE_LIMIT - this.captured.length);
  }

  content(at: number): void {
    if (this.firstContentAt === undefined) this.firstContentAt = at;
    this.lastContentAt = at;
    this.contentEvents++;
  }

  setUsage(u: Usage): void {
    // Later reports (final chunk) override earlier partial ones (message_start's output_tokens: 0).
    for (const [k, v] of Object.entries(u) as [keyof Usage, number | undefined][]) {
      if (typeof v === "number" && Number.isFinite(v)) this.usage[k] = v;
    }
  }
}

/** Characters of prompt or completion text a span may carry when capture is on. */
export const CAPTURE_LIMIT = 32 * 1024;

const round = (n: number, digits = 3) => Math.round(n * 10 ** digits) / 10 ** digits;

interface Speeds {
  prefillMs?: number;
  prefillTps?: number;
  decodeTps?: number;
  tpotMs?: number;
  derived: boolean;
}

/** Speeds from llama-server's own timings where present, else from when content arrived. */
function speeds(obs: Observation, output: number | undefined, ttftMs: number | undefined, queueMs = 0): Speeds {
  const t = obs.timings;
  if (t && typeof t.predicted_per_second === "number") {
    return {
      prefillMs: t.prompt_ms,
      prefillTps: t.prompt_per_second,
      decodeTps: t.predicted_per_second,
      tpotMs: t.predicted_per_token_ms,
      derived: false,
    };
  }
  const out: Speeds = { derived: true };
  const first = obs.firstContentAt;
  const last = obs.lastContentAt;
  // n tokens arrive over n-1 inter-token gaps; the first token's time belongs to prefill.
  if (output !== undefined && output > 1 && first !== undefined && last !== undefined && last > first) {
    out.decodeTps = round(((output - 1) * 1000) / (last - first));
    out.tpotMs = round((last - first) / (output - 1));
  }
  const prefill = obs.usage.prefill;
  // The prefill ran from when llama-server got the request: a wait in the sidecar's queue is not prefill.
  const prefillMs = ttftMs === undefined ? undefined : ttftMs - queueMs;
  if (prefill !== undefined && prefillMs !== undefined && prefillMs > 0)
    out.prefillTps = round((prefill * 1000) / prefillMs);
  return out;
}

function finite(n: number | undefined): number | undefined {
  return typeof n === "number" && Number.isFinite(n) ? n : undefined;
}

export interface RecordContext {
  id: string;
  startedAt: number;
  route: string;
  operation?: string;
  client: ClientName;
  requestModel?: string;
  stream: boolean;
  status: number;
  outcome: Outcome;
  endedAt: number;
  queueWaitMs?: number;
  concurrent?: number;
  dispatchedAt?: number;
  tags?: Pick<
    RequestRecord,
    | "background"
    | "backgroundPolicy"
    | "normalized"
    | "translated"
    | "maxTokensAsked"
    | "upstream"
    | "aliasedTo"
    | "failedOver"
    | "upstreamModel"
    | "modelLoadMs"
    | "modelLoaded"
  >;
  /** The session the client named (Claude Code's x-claude-code-session-id, or prompt_cache_key). */
  session?: string;
  /** --capture-content: keep error messages whole; otherwise only their kind (no quoted request text). */
  keepText?: boolean;
  /**
   * The metric label for the model: the owner's bounded set of names (model work), or the name made label-safe
   * (background calls, counted by class and so taking no place among the names kept).
   */
  labelModel?: (model: string) => string;
}

interface Times {
  ttftMs?: number;
  /** TTFT read from llama-server's timings, not seen: a non-streamed answer arrives whole. */
  ttftDerived: boolean;
  durationMs: number;
  slotWaitMs?: number;
}

function times(obs: Observation, ctx: RecordContext): Times {
  const t = obs.timings;
  const durationMs = ctx.endedAt - obs.receivedAt;
  let ttftMs = obs.firstContentAt !== undefined ? obs.firstContentAt - obs.receivedAt : undefined;
  let ttftDerived = false;
  if (ttftMs === undefined && !ctx.stream && t?.predicted_ms !== undefined && ctx.outcome === "ok") {
    // A non-streamed answer arrives whole: its first token came one generation time before the end.
    ttftMs = Math.max(0, durationMs - t.predicted_ms + (t.predicted_per_token_ms ?? 0));
    ttftDerived = true;
  }
  const slotWaitMs =
    ttftMs !== undefined && t?.prompt_ms !== undefined
      ? Math.max(0, ttftMs - t.prompt_ms - (t.predicted_per_token_ms ?? 0) - waitedMs(ctx))
      : undefined;
  return { ttftMs, ttftDerived, durationMs, slotWaitMs };
}

/** Time a request spent waiting before llama-server saw it: for a slot, and for its model to be loaded. */
const waitedMs = (ctx: RecordContext) => (ctx.queueWaitMs ?? 0) + (ctx.tags?.modelLoadMs ?? 0);

export function toRecord(obs: Observation, ctx: RecordContext): RequestRecord {
  const t = obs.timings;
  const prefill = finite(t?.prompt_n) ?? obs.usage.prefill;
  const cached = finite(t?.cache_n) ?? obs.usage.cached;
  const output = finite(t?.predicted_n) ?? obs.usage.output ?? (obs.contentEvents || undefined);
  const { ttftMs, ttftDerived, durationMs, slotWaitMs } = times(obs, ctx);
  // A model name may come from the client's body: keep a sane length for spans, stats and the dashboard.
  const model = (obs.responseModel || ctx.requestModel || "unknown").slice(0, MODEL_NAME_MAX_LENGTH);
  const sp = speeds(obs, output, ttftMs, waitedMs(ctx));
  return {
    id: ctx.id,
    startedAt: ctx.startedAt,
    route: ctx.route,
    operation: ctx.operation,
    client: ctx.client,
    model,
    modelLabel: (ctx.labelModel ?? labelText)(model),
    stream: ctx.stream,
    status: ctx.status,
    outcome: ctx.outcome,
    finishReason: obs.finishReason,
    prefillTokens: prefill,
    cachedTokens: cached,
    outputTokens: output,
    ttftMs: ttftMs === undefined ? undefined : round(ttftMs),
    durationMs: round(durationMs),
    prefillMs: finite(sp.prefillMs),
    prefillTps: finite(sp.prefillTps),
    decodeTps: finite(sp.decodeTps),
    tpotMs: finite(sp.tpotMs),
    queueWaitMs: ctx.queueWaitMs === undefined ? undefined : round(ctx.queueWaitMs),
    concurrent: ctx.concurrent,
    overheadMs:
      ctx.dispatchedAt === undefined ? undefined : round(ctx.dispatchedAt - obs.receivedAt - waitedMs(ctx), 4),
    slotWaitMs: slotWaitMs === undefined ? undefined : round(slotWaitMs),
    ...ctx.tags,
    session: ctx.session,
    derived: sp.derived || ttftDerived,
    errorMessage: ctx.keepText ? (obs.errorText ?? obs.errorMessage) : obs.errorMessage && errorKind(obs.errorMessage),
    invalidFields: obs.check.invalid,
  };
}
