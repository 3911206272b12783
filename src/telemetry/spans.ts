// One span per forwarded request, named and attributed after the OpenTelemetry GenAI conventions.
import { type Attributes, type Context, type Span, SpanKind, SpanStatusCode, type Tracer } from "@opentelemetry/api";
import type { RequestRecord } from "../observe/observation.js";

/** llama.cpp-specific span attributes live under this one prefix. */
export const LLAMA_ATTR = "llamacpp";

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
    "http.request.method": s.method,
    "http.route": s.route,
    "server.address": s.serverAddress,
    "server.port": s.serverPort,
  };
  if (s.operation) {
    attributes["gen_ai.operation.name"] = s.operation;
    attributes["gen_ai.provider.name"] = "llama.cpp";
    if (s.requestModel) attributes["gen_ai.request.model"] = s.requestModel;
    if (s.maxTokens !== undefined) attributes["gen_ai.request.max_tokens"] = s.maxTokens;
    if (s.temperature !== undefined) attributes["gen_ai.request.temperature"] = s.temperature;
  }
  return tracer.startSpan(name, { kind: SpanKind.CLIENT, startTime: s.startTime, attributes }, s.parent);
}

function defined(attrs: Record<string, string | number | boolean | undefined>): Attributes {
  const out: Attributes = {};
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined) out[k] = v;
  return out;
}

export function endRequestSpan(span: Span, r: RequestRecord, endTime: Date): void {
  // Without a trace exporter the span records nothing: the attributes would be built only to be dropped.
  if (!span.isRecording()) {
    span.end(endTime);
    return;
  }
  const L = LLAMA_ATTR;
  span.setAttributes(
    defined({
      "http.response.status_code": r.status,
      "gen_ai.response.model": r.operation ? r.model : undefined,
      "gen_ai.usage.input_tokens": r.prefillTokens !== undefined ? r.prefillTokens + (r.cachedTokens ?? 0) : undefined,
      "gen_ai.usage.cache_read.input_tokens": r.cachedTokens,
      "gen_ai.usage.output_tokens": r.outputTokens,
      [`${L}.client`]: r.client,
      [`${L}.stream`]: r.stream,
      [`${L}.outcome`]: r.outcome,
      [`${L}.prefill.tokens`]: r.prefillTokens,
      [`${L}.ttft_ms`]: r.ttftMs,
      [`${L}.duration_ms`]: r.durationMs,
      [`${L}.prefill.ms`]: r.prefillMs,
      [`${L}.prefill.tokens_per_second`]: r.prefillTps,
      [`${L}.decode.tokens_per_second`]: r.decodeTps,
      [`${L}.decode.ms_per_token`]: r.tpotMs,
      [`${L}.queue.wait_ms`]: r.queueWaitMs,
      [`${L}.proxy.overhead_ms`]: r.overheadMs,
      [`${L}.slot.wait_ms`]: r.slotWaitMs,
      [`${L}.background.class`]: r.background,
      [`${L}.background.policy`]: r.backgroundPolicy,
      [`${L}.prompt.normalized`]: r.normalized,
      [`${L}.translated`]: r.translated,
      [`${L}.timings.derived`]: r.operation ? r.derived : undefined,
    }),
  );
  if (r.finishReason) span.setAttribute("gen_ai.response.finish_reasons", [r.finishReason]);
  if (r.invalidFields) span.setAttribute(`${L}.upstream.invalid_fields`, r.invalidFields);
  // A client that left is not a failure of the service, whatever the request's state then.
  if (r.outcome === "client_abort") {
    span.setAttribute("error.type", "client_abort");
  } else if (r.outcome === "upstream_error" || r.status >= 500) {
    span.setAttribute("error.type", r.errorMessage ? "upstream_error" : String(r.status));
    span.setStatus({ code: SpanStatusCode.ERROR, message: r.errorMessage });
  }
  span.end(endTime);
}
