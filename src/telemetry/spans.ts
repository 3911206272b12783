// One span per forwarded request, named and attributed after the OpenTelemetry GenAI conventions.
import { type Attributes, type Context, type Span, SpanKind, SpanStatusCode, type Tracer } from "@opentelemetry/api";
import type { RequestRecord } from "../observe/observation.js";
import { ATTR } from "./span-attributes.js";

export interface SpanStart {
  method: string;
  route: string;
  operation?: string;
  requestModel?: string;
  maxTokens?: number;
  temperature?: number;
  serverAddress: string;
  serverPort: number;
  startTime: Date;
  parent: Context;
}

export function startRequestSpan(tracer: Tracer, s: SpanStart): Span {
  const name = s.operation ? `${s.operation} ${s.requestModel ?? "unknown"}` : `${s.method} ${s.route}`;
  const attributes: Attributes = {
    [ATTR.HTTP_REQUEST_METHOD]: s.method,
    [ATTR.HTTP_ROUTE]: s.route,
    [ATTR.SERVER_ADDRESS]: s.serverAddress,
    [ATTR.SERVER_PORT]: s.serverPort,
  };
  if (s.operation) {
    attributes[ATTR.GEN_AI_OPERATION_NAME] = s.operation;
    attributes[ATTR.GEN_AI_PROVIDER_NAME] = "llama.cpp";
    if (s.requestModel) attributes[ATTR.GEN_AI_REQUEST_MODEL] = s.requestModel;
    if (s.maxTokens !== undefined) attributes[ATTR.GEN_AI_REQUEST_MAX_TOKENS] = s.maxTokens;
    if (s.temperature !== undefined) attributes[ATTR.GEN_AI_REQUEST_TEMPERATURE] = s.temperature;
  }
  return tracer.startSpan(name, { kind: SpanKind.CLIENT, startTime: s.startTime, attributes }, s.parent);
}

function defined(attrs: Record<string, string | number | boolean | undefined>): Attributes {
  const out: Attributes = {};
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined) out[k] = v;
  return out;
}

/** The attributes a finished request's record gives its span (undefined values left out). */
function recordAttributes(r: RequestRecord): Attributes {
  return defined({
    [ATTR.HTTP_RESPONSE_STATUS_CODE]: r.status,
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
    [ATTR.CACHE_EXPECTED_TOKENS]: r.cacheExpectedTokens,
    [ATTR.CACHE_LOST_TOKENS]: r.cacheLostTokens,
    [ATTR.CACHE_MISS_CAUSE]: r.missCause,
    [ATTR.CACHE_MISS_LOCATION]: r.missLocation,
    [ATTR.MAX_TOKENS_ASKED]: r.maxTokensAsked,
    [ATTR.UPSTREAM]: r.upstream,
    [ATTR.ALIASED_TO]: r.aliasedTo,
    [ATTR.UPSTREAM_MODEL]: r.upstreamModel,
    [ATTR.MODEL_LOAD_MS]: r.modelLoadMs,
    [ATTR.SPEED_SLOWDOWN_CAUSE]: r.slowdownCause,
    [ATTR.SPEED_SLOWDOWN_DETAIL]: r.slowdownDetail,
    [ATTR.SPEED_USUAL_TPS]: r.usualTps,
  });
}

export function endRequestSpan(span: Span, r: RequestRecord, endTime: Date): void {
  // Without a trace exporter the span records nothing: the attributes would be built only to be dropped.
  if (!span.isRecording()) {
    span.end(endTime);
    return;
  }
  span.setAttributes(recordAttributes(r));
  if (r.finishReason) span.setAttribute(ATTR.GEN_AI_RESPONSE_FINISH_REASONS, [r.finishReason]);
  if (r.invalidFields) span.setAttribute(ATTR.UPSTREAM_INVALID_FIELDS, r.invalidFields);
  if (r.failedOver) span.setAttribute(ATTR.FAILED_OVER, r.failedOver);
  // A client that left is not a failure of the service, whatever the request's state then.
  if (r.outcome === "client_abort") {
    span.setAttribute(ATTR.ERROR_TYPE, "client_abort");
  } else if (r.outcome === "upstream_error" || r.status >= 500) {
    span.setAttribute(ATTR.ERROR_TYPE, r.errorMessage ? "upstream_error" : String(r.status));
    span.setStatus({ code: SpanStatusCode.ERROR, message: r.errorMessage });
  }
  span.end(endTime);
}
