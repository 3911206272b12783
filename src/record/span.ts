// A finished request's span, made whole once it is judged, with the start time the request arrived: llama-server
// is not traced, so nothing needs the span while the request runs.
import { type Attributes, context as otelContext, SpanStatusCode } from "@opentelemetry/api";
import { CAPTURE_LIMIT } from "../observe/observation.js";
import { cappedJson, outputMessages } from "../telemetry/genai-content.js";
import { ATTR } from "../telemetry/span-attributes.js";
import { startRequestSpan } from "../telemetry/spans.js";
import type { Telemetry } from "../telemetry/telemetry.js";
import type { FactsToJudge, ServingUnit } from "./exchange-facts.js";
import type { JudgedRecord } from "./request-record.js";

function defined(attrs: Record<string, string | number | boolean | undefined>): Attributes {
  const out: Attributes = {};
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined) out[k] = v;
  return out;
}

/** The attributes a judged record gives its span (undefined values left out). */
function recordAttributes({ record: r, cache, speed }: JudgedRecord): Attributes {
  return defined({
    [ATTR.HTTP_RESPONSE_STATUS_CODE]: r.status,
    [ATTR.GEN_AI_CONVERSATION_ID]: r.session ?? cache?.conversation,
    [ATTR.GEN_AI_RESPONSE_ID]: r.responseId,
    [ATTR.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK]: r.stream && r.ttftMs !== undefined ? r.ttftMs / 1000 : undefined,
    [ATTR.GEN_AI_RESPONSE_MODEL]: r.operation ? r.model : undefined,
    [ATTR.GEN_AI_USAGE_INPUT_TOKENS]:
      r.prefillTokens !== undefined ? r.prefillTokens + (r.cachedTokens ?? 0) : undefined,
    [ATTR.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS]: r.cachedTokens,
    [ATTR.GEN_AI_USAGE_OUTPUT_TOKENS]: r.outputTokens,
    [ATTR.CLIENT]: r.client,
    [ATTR.STREAM]: r.stream,
    [ATTR.OUTCOME]: r.outcome,
    [ATTR.PREFILL_TOKENS]: r.prefillTokens,
    [ATTR.TTFT_MS]: r.ttftMs,
    [ATTR.DURATION_MS]: r.durationMs,
    [ATTR.PREFILL_MS]: r.prefillMs,
    [ATTR.PREFILL_TOKENS_PER_SECOND]: r.prefillTps,
    [ATTR.DECODE_TOKENS_PER_SECOND]: r.decodeTps,
    [ATTR.DECODE_MS_PER_TOKEN]: r.tpotMs,
    [ATTR.QUEUE_WAIT_MS]: r.queueWaitMs,
    [ATTR.PROXY_OVERHEAD_MS]: r.overheadMs,
    [ATTR.SLOT_WAIT_MS]: r.slotWaitMs,
    [ATTR.BACKGROUND_CLASS]: r.background,
    [ATTR.BACKGROUND_POLICY]: r.backgroundPolicy,
    [ATTR.PROMPT_NORMALIZED]: r.normalized,
    [ATTR.TRANSLATED]: r.translated,
    [ATTR.TIMINGS_DERIVED]: r.operation ? r.derived : undefined,
    [ATTR.CACHE_EXPECTED_TOKENS]: cache?.expectedTokens,
    [ATTR.CACHE_LOST_TOKENS]: cache?.lostTokens,
    [ATTR.CACHE_MISS_CAUSE]: cache?.cause,
    [ATTR.CACHE_MISS_LOCATION]: cache?.location,
    [ATTR.MAX_TOKENS_ASKED]: r.maxTokensAsked,
    [ATTR.UPSTREAM]: r.upstream,
    [ATTR.ALIASED_TO]: r.aliasedTo,
    [ATTR.UPSTREAM_MODEL]: r.upstreamModel,
    [ATTR.MODEL_LOAD_MS]: r.modelLoadMs,
    [ATTR.SPEED_SLOWDOWN_CAUSE]: speed?.cause,
    [ATTR.SPEED_SLOWDOWN_DETAIL]: speed?.detail,
    [ATTR.SPEED_USUAL_TPS]: speed?.usualTps,
  });
}

/** Ends a judged request's span: its start from the exchange, its attributes and status from the record. */
export function recordSpan(
  telemetry: Telemetry,
  ex: FactsToJudge,
  unit: ServingUnit,
  judged: JudgedRecord,
  endedAt: number,
): void {
  const parent = telemetry.propagator.extract(otelContext.active(), ex.headers, {
    get: (carrier, key) => carrier[key],
    keys: (carrier) => Object.keys(carrier),
  });
  const { record: r } = judged;
  const url = unit.upstream.url;
  const span = startRequestSpan(telemetry.tracer, {
    method: ex.method,
    route: ex.route.label,
    operation: ex.route.operation,
    requestModel: ex.model?.model,
    maxTokens: ex.model?.maxTokens,
    temperature: ex.model?.temperature,
    serverAddress: url.hostname,
    serverPort: Number(url.port) || (url.protocol === "https:" ? 443 : 80),
    startTime: new Date(ex.startedAt),
    parent,
  });
  const endTime = new Date(ex.startedAt + (endedAt - ex.receivedAt));
  // Without a trace exporter the span records nothing: the attributes would be built only to be dropped.
  if (!span.isRecording()) {
    span.end(endTime);
    return;
  }
  if (ex.capturedPrompt !== undefined) {
    span.setAttribute(ATTR.GEN_AI_INPUT_MESSAGES, ex.capturedPrompt.input);
    if (ex.capturedPrompt.system) span.setAttribute(ATTR.GEN_AI_SYSTEM_INSTRUCTIONS, ex.capturedPrompt.system);
  }
  if (ex.completion !== undefined) {
    const output = outputMessages(ex.completion, r.finishReason);
    span.setAttribute(ATTR.GEN_AI_OUTPUT_MESSAGES, cappedJson(output, CAPTURE_LIMIT));
  }
  span.setAttributes(recordAttributes(judged));
  if (r.finishReason) span.setAttribute(ATTR.GEN_AI_RESPONSE_FINISH_REASONS, [r.finishReason]);
  if (r.invalidFields) span.setAttribute(ATTR.UPSTREAM_INVALID_FIELDS, [...r.invalidFields]);
  if (r.failedOver) span.setAttribute(ATTR.FAILED_OVER, [...r.failedOver]);
  // A client that left is not a failure of the service, whatever the request's state then.
  if (r.outcome === "client_abort") {
    span.setAttribute(ATTR.ERROR_TYPE, "client_abort");
  } else if (r.outcome === "upstream_error" || r.status >= 500) {
    span.setAttribute(ATTR.ERROR_TYPE, r.errorMessage ? "upstream_error" : String(r.status));
    span.setStatus({ code: SpanStatusCode.ERROR, message: r.errorMessage });
  }
  span.end(endTime);
}
