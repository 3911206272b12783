// One span per forwarded request, named and attributed after the OpenTelemetry GenAI conventions: how it starts
// (the record floor, record/span.ts, ends it with what the record and its verdicts say).
import { type Attributes, type Context, type Span, SpanKind, type Tracer } from "@opentelemetry/api";
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
