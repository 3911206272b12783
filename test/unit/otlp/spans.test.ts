// An agent's spans, relayed: made by the trace SDK, serialized by the OTLP serializers (both encodings), decoded,
// and rebuilt as finished spans whose ids, parent, times, attributes, events, links, status and resource are the
// originals'.
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { JsonTraceSerializer, ProtobufTraceSerializer } from "@opentelemetry/otlp-transformer";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { describe, expect, it } from "vitest";
import { decodeOtlp } from "../../../src/otlp/decode.js";
import { spansFromOtlp } from "../../../src/otlp/spans.js";

function claudeSpans() {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ "service.name": "claude-code", "service.version": "2.1.197" }),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  const tracer = provider.getTracer("com.anthropic.claude_code.tracing", "1.0.0");
  const interaction = tracer.startSpan("claude_code.interaction", {
    attributes: { "session.id": "s1", user_prompt_length: 14, "span.type": "interaction" },
  });
  const ctx = trace.setSpan(ROOT_CONTEXT, interaction);
  const llm = tracer.startSpan(
    "claude_code.llm_request",
    { kind: SpanKind.CLIENT, attributes: { model: "tiny" } },
    ctx,
  );
  llm.addEvent("gen_ai.request.attempt", { attempt: 1 });
  llm.addLink({ context: interaction.spanContext(), attributes: { "link.type": "parent_of" } });
  llm.setStatus({ code: SpanStatusCode.ERROR, message: "overloaded" });
  llm.setAttribute("gen_ai.response.finish_reasons", ["tool_use"]);
  llm.end();
  interaction.end();
  return exporter.getFinishedSpans();
}

describe("an agent's spans, relayed", () => {
  it("are rebuilt as they were made, from either encoding", () => {
    const made = claudeSpans();
    for (const [body, encoding] of [
      [ProtobufTraceSerializer.serializeRequest(made), "protobuf"],
      [JsonTraceSerializer.serializeRequest(made), "json"],
    ] as const) {
      const spans = spansFromOtlp(decodeOtlp("traces", Buffer.from(body as Uint8Array), encoding));
      expect(spans.map((s) => s.name)).toEqual(made.map((s) => s.name));
      for (const [i, s] of spans.entries()) {
        const m = made[i];
        if (!m) throw new Error("missing");
        expect(s.spanContext()).toMatchObject({ traceId: m.spanContext().traceId, spanId: m.spanContext().spanId });
        expect(s.parentSpanContext?.spanId).toBe(m.parentSpanContext?.spanId);
        expect(s.kind).toBe(m.kind);
        expect(s.startTime).toEqual(m.startTime);
        expect(s.endTime).toEqual(m.endTime);
        expect(s.duration).toEqual(m.duration);
        expect(s.attributes).toEqual(m.attributes);
        expect(s.events.map((e) => [e.name, e.attributes])).toEqual(m.events.map((e) => [e.name, e.attributes]));
        expect(s.links.map((l) => [l.context.spanId, l.attributes])).toEqual(
          m.links.map((l) => [l.context.spanId, l.attributes]),
        );
        expect(s.status.code).toBe(m.status.code);
        expect(s.resource.attributes["service.name"]).toBe("claude-code");
        expect(s.instrumentationScope.name).toBe("com.anthropic.claude_code.tracing");
      }
    }
  });
});
