// Builds a finished exchange's record straight from its facts and its observation: the one place a record is made.
import type { Observation } from "../observe/observation.js";
import { errorKind } from "../observe/redact.js";
import type { Outcome } from "../wire/request-kinds.js";
import type { ExchangeFacts } from "./exchange-facts.js";
import { RecordIds } from "./record-id.js";
import type { RequestRecord } from "./request-record.js";

const MODEL_NAME_MAX_LENGTH = 256;
/** One sequence for the process: ids made in the same millisecond still sort in the order they were made. */
const ids = new RecordIds();

/** How a record is made beyond its exchange's facts. */
export interface BuildOptions {
  /** --capture-content: keep error messages whole; otherwise only their kind (no quoted request text). */
  keepText: boolean;
  /**
   * The metric label for a model: the owner's bounded set of names. Background calls are counted by class, not
   * model: their models take no place among the names kept.
   */
  labelModel(model: string): string;
  /** Makes a model name safe as a label without keeping it (background calls). */
  labelText(model: string): string;
}

const round = (n: number, digits = 3) => Math.round(n * 10 ** digits) / 10 ** digits;

function finite(n: number | undefined): number | undefined {
  return typeof n === "number" && Number.isFinite(n) ? n : undefined;
}

interface Speeds {
  prefillMs?: number;
  prefillTps?: number;
  decodeTps?: number;
  tpotMs?: number;
  derived: boolean;
}

/** Speeds from llama-server's own timings where present, else from when content arrived. */
function speeds(obs: Observation, generated: number | undefined, ttftMs: number | undefined, waited: number): Speeds {
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
  if (generated !== undefined && generated > 1 && first !== undefined && last !== undefined && last > first) {
    out.decodeTps = round(((generated - 1) * 1000) / (last - first));
    out.tpotMs = round((last - first) / (generated - 1));
  }
  const prefill = obs.usage.prefill;
  // The prefill ran from when llama-server got the request: a wait in the sidecar's queue is not prefill.
  const prefillMs = ttftMs === undefined ? undefined : ttftMs - waited;
  if (prefill !== undefined && prefillMs !== undefined && prefillMs > 0)
    out.prefillTps = round((prefill * 1000) / prefillMs);
  return out;
}

interface Times {
  ttftMs?: number;
  /** TTFT read from llama-server's timings, not seen: a non-streamed answer arrives whole. */
  ttftDerived: boolean;
  durationMs: number;
  slotWaitMs?: number;
}

function times(ex: ExchangeFacts, outcome: Outcome, endedAt: number, waited: number): Times {
  const { obs } = ex;
  const t = obs.timings;
  const durationMs = endedAt - ex.receivedAt;
  let ttftMs = obs.firstContentAt !== undefined ? obs.firstContentAt - ex.receivedAt : undefined;
  let ttftDerived = false;
  if (ttftMs === undefined && !ex.model?.stream && t?.predicted_ms !== undefined && outcome === "ok") {
    // A non-streamed answer arrives whole: its first token came one generation time before the end.
    ttftMs = Math.max(0, durationMs - t.predicted_ms + (t.predicted_per_token_ms ?? 0));
    ttftDerived = true;
  }
  const slotWaitMs =
    ttftMs !== undefined && t?.prompt_ms !== undefined
      ? Math.max(0, ttftMs - t.prompt_ms - (t.predicted_per_token_ms ?? 0) - waited)
      : undefined;
  return { ttftMs, ttftDerived, durationMs, slotWaitMs };
}

/** The error as the record may keep it: whole with --capture-content, else only its kind. */
function errorOf(obs: Observation, keepText: boolean): string | undefined {
  return keepText ? (obs.errorText ?? obs.errorMessage) : obs.errorMessage && errorKind(obs.errorMessage);
}

/**
 * The record of a finished exchange; `endedAt` is when its response ended (performance.now()). An error event in
 * the stream makes an "ok" an upstream error. The record is frozen: whoever it is handed to sees it as it was made.
 */
export function buildRecord(ex: ExchangeFacts, outcome: Outcome, endedAt: number, opts: BuildOptions): RequestRecord {
  const { obs, tags } = ex;
  const t = obs.timings;
  const final = outcome === "ok" && obs.errorMessage ? "upstream_error" : outcome;
  // Time the request waited before llama-server saw it: for a slot, and for its model to be loaded.
  const waited = (ex.queueWaitMs ?? 0) + (tags.modelLoadMs ?? 0);
  const generated = finite(t?.predicted_n) ?? obs.usage.generated ?? (obs.contentEvents || undefined);
  const { ttftMs, ttftDerived, durationMs, slotWaitMs } = times(ex, final, endedAt, waited);
  // A model name may come from the client's body: keep a sane length for spans, stats and the dashboard.
  const model = (obs.responseModel || ex.model?.model || "unknown").slice(0, MODEL_NAME_MAX_LENGTH);
  const sp = speeds(obs, generated, ttftMs, waited);
  // Every field written out, in one order: a literal of one shape is built fast; spreading the tags in made each
  // record a slow dictionary object (tens of µs each, in the burst that ends many streams at once).
  return Object.freeze({
    // Made here, not when the request came in: nothing needs it before the record. Time-ordered (UUIDv7, RFC 9562),
    // so the request log's rows, kept in the order of their id, go in at the end of its tree: a random id wrote each
    // into a page of its own, 20 to 35% more of a commit's time, more still once the log outgrows its page cache.
    id: ids.make(),
    startedAt: ex.startedAt,
    route: ex.route.label,
    operation: ex.route.operation,
    client: ex.client,
    model,
    modelLabel: tags.background ? opts.labelText(model) : opts.labelModel(model),
    stream: ex.model?.stream ?? false,
    status: ex.status,
    outcome: final,
    finishReason: obs.finishReason,
    responseId: obs.responseId?.slice(0, 256),
    prefillTokens: finite(t?.prompt_n) ?? obs.usage.prefill,
    cachedTokens: finite(t?.cache_n) ?? obs.usage.cached,
    outputTokens: generated,
    draftTokens: finite(t?.draft_n),
    draftAccepted: finite(t?.draft_n_accepted),
    ttftMs: ttftMs === undefined ? undefined : round(ttftMs),
    durationMs: round(durationMs),
    prefillMs: finite(sp.prefillMs),
    prefillTps: finite(sp.prefillTps),
    decodeTps: finite(sp.decodeTps),
    tpotMs: finite(sp.tpotMs),
    queueWaitMs: ex.queueWaitMs === undefined ? undefined : round(ex.queueWaitMs),
    concurrent: ex.concurrent,
    overheadMs: ex.dispatchedAt === undefined ? undefined : round(ex.dispatchedAt - ex.receivedAt - waited, 4),
    slotWaitMs: slotWaitMs === undefined ? undefined : round(slotWaitMs),
    session: ex.prompt?.sessionKey,
    derived: sp.derived || ttftDerived,
    errorMessage: errorOf(obs, opts.keepText),
    errorKind: obs.errorMessage && errorKind(obs.errorMessage),
    overflow: ex.overflow ?? obs.overflow,
    invalidFields: obs.check.invalid,
    background: tags.background,
    backgroundPolicy: tags.backgroundPolicy,
    normalized: tags.normalized,
    translated: tags.translated,
    maxTokensAsked: tags.maxTokensAsked,
    upstream: tags.upstream,
    aliasedTo: tags.aliasedTo,
    failedOver: tags.failedOver,
    upstreamModel: tags.upstreamModel,
    modelLoadMs: tags.modelLoadMs,
    modelLoaded: tags.modelLoaded,
  });
}
