// Claude Code's telemetry as it arrives: log records and metric points made by the OpenTelemetry SDK Claude Code
// bundles (0.208), serialized by its own OTLP serializers in both encodings, decoded, and read into the agent's
// events: the same events from either encoding, the attributes typed the way Claude Code sends them.
import { SeverityNumber } from "@opentelemetry/api-logs";
import {
  JsonLogsSerializer,
  JsonMetricsSerializer,
  JsonTraceSerializer,
  ProtobufLogsSerializer,
  ProtobufMetricsSerializer,
  ProtobufTraceSerializer,
} from "@opentelemetry/otlp-transformer";
import { InMemoryLogRecordExporter, LoggerProvider, SimpleLogRecordProcessor } from "@opentelemetry/sdk-logs";
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from "@opentelemetry/sdk-metrics";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { describe, expect, it } from "vitest";
import { agentEventsFromLogs, agentEventsFromMetrics } from "../../../src/otlp/claude-events.js";
import { decodeOtlp, otlpEncoding, otlpResponse } from "../../../src/otlp/decode.js";

const SESSION = "8f4f6960-c58b-4c8d-8aa3-302aee592396";
const END = Date.parse("2026-12-07T10:00:05.000Z");

/** The records Claude Code 2.1.197 emits (attribute types as it sends them: some numbers are strings). */
function claudeLogs() {
  const exporter = new InMemoryLogRecordExporter();
  const provider = new LoggerProvider({ processors: [new SimpleLogRecordProcessor(exporter)] });
  const logger = provider.getLogger("com.anthropic.claude_code.events", "2.1.197");
  const common = { "session.id": SESSION, "user.id": "abc", "terminal.type": "tmux" };
  const emit = (name: string, seq: number, at: number, attributes: Record<string, string | number>) =>
    logger.emit({
      body: `claude_code.${name}`,
      timestamp: at,
      severityNumber: SeverityNumber.UNSPECIFIED,
      attributes: {
        ...common,
        "event.name": name,
        "event.timestamp": new Date(at).toISOString(),
        "event.sequence": seq,
        ...attributes,
      },
    });
  emit("user_prompt", 1, END - 5000, { prompt_length: "14", prompt: "<REDACTED>" });
  emit("api_request", 2, END - 3000, {
    model: "tiny",
    input_tokens: 1200,
    output_tokens: 30,
    cache_read_tokens: 0,
    cache_creation_tokens: 0,
    cost_usd: 0.0042,
    duration_ms: 1500,
  });
  emit("tool_decision", 3, END - 2900, { tool_name: "Bash", decision: "accept", source: "config" });
  emit("tool_result", 4, END - 2000, { tool_name: "Bash", success: "true", duration_ms: "800" });
  emit("tool_result", 5, END - 1000, { tool_name: "mcp_tool", success: "false", duration_ms: "40", error_type: "x" });
  emit("assistant_response", 6, END, { response_length: 20 });
  logger.emit({ body: "claude_code.user_prompt", attributes: { "event.name": "user_prompt" } }); // no session
  return exporter.getFinishedLogRecords();
}

describe("Claude Code's telemetry, read", () => {
  it("gives the same events from http/protobuf and http/json bodies", () => {
    const records = claudeLogs();
    const proto = Buffer.from(ProtobufLogsSerializer.serializeRequest(records) as Uint8Array);
    const json = Buffer.from(JsonLogsSerializer.serializeRequest(records) as Uint8Array);
    const fromProto = agentEventsFromLogs(decodeOtlp("logs", proto, "protobuf"));
    const fromJson = agentEventsFromLogs(decodeOtlp("logs", json, "json"));
    expect(fromProto).toEqual(fromJson);
    expect(fromProto.rejected).toBe(1); // the record without a session.id
    expect(fromProto.ignored).toBe(1); // assistant_response: not kept
    const byKind = Object.fromEntries(fromProto.events.map((e) => [`${e.kind}:${e.name ?? ""}`, e]));
    expect(byKind["prompt:"]).toMatchObject({ session: SESSION, at: END - 5000, value: 14 });
    expect(byKind["api:tiny"]).toMatchObject({
      at: END - 3000 - 1500,
      durationMs: 1500,
      outcome: "success",
      detail: { input_tokens: 1200, output_tokens: 30, cost_usd: 0.0042 },
    });
    expect(byKind["tool:Bash"]).toMatchObject({ at: END - 2800, durationMs: 800, outcome: "success" });
    expect(byKind["tool:mcp_tool"]).toMatchObject({ outcome: "failure", detail: { error_type: "x" } });
    expect(byKind["decision:Bash"]).toMatchObject({ outcome: "accept", detail: { source: "config" } });
    // Nothing of a prompt's text is kept, not even Claude Code's placeholder.
    expect(JSON.stringify(fromProto.events)).not.toMatch(/REDACTED|"prompt":/);
  });

  it("reads Claude Code's delta metric points per session, and marks running totals", async () => {
    const read = async (temporality: AggregationTemporality) => {
      const exporter = new InMemoryMetricExporter(temporality);
      const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 60_000 });
      const provider = new MeterProvider({ readers: [reader] });
      const meter = provider.getMeter("com.anthropic.claude_code", "2.1.197");
      const tokens = meter.createCounter("claude_code.token.usage", { unit: "tokens" });
      tokens.add(1200, { "session.id": SESSION, type: "input", model: "tiny" });
      tokens.add(30, { "session.id": SESSION, type: "output", model: "tiny" });
      meter
        .createCounter("claude_code.active_time.total", { unit: "s" })
        .add(2.5, { "session.id": SESSION, type: "cli" });
      meter.createCounter("other.metric").add(1, { "session.id": SESSION });
      await reader.forceFlush();
      const [metrics] = exporter.getMetrics();
      await provider.shutdown();
      const body = Buffer.from(ProtobufMetricsSerializer.serializeRequest(metrics as never) as Uint8Array);
      const json = Buffer.from(JsonMetricsSerializer.serializeRequest(metrics as never) as Uint8Array);
      const a = agentEventsFromMetrics(decodeOtlp("metrics", body, "protobuf"));
      expect(agentEventsFromMetrics(decodeOtlp("metrics", json, "json")).events).toEqual(a.events);
      return a;
    };
    const delta = await read(AggregationTemporality.DELTA);
    expect(delta.ignored).toBe(1);
    expect(delta.events.map((e) => [e.name, e.outcome, e.value, e.detail])).toEqual(
      expect.arrayContaining([
        ["claude_code.token.usage", "input", 1200, { model: "tiny" }],
        ["claude_code.token.usage", "output", 30, { model: "tiny" }],
        ["claude_code.active_time.total", "cli", 2.5, undefined],
      ]),
    );
    const cumulative = await read(AggregationTemporality.CUMULATIVE);
    expect(cumulative.events.every((e) => e.detail?.cumulative === 1)).toBe(true);
  });

  it("decodes spans with their ids in hex, as OTLP/JSON writes them", () => {
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    const span = provider.getTracer("com.anthropic.claude_code.tracing").startSpan("claude_code.llm_request");
    span.end();
    const [finished] = exporter.getFinishedSpans();
    const proto = decodeOtlp(
      "traces",
      Buffer.from(ProtobufTraceSerializer.serializeRequest([finished as never]) as Uint8Array),
      "protobuf",
    );
    const json = decodeOtlp(
      "traces",
      Buffer.from(JsonTraceSerializer.serializeRequest([finished as never]) as Uint8Array),
      "json",
    );
    const first = (r: Record<string, unknown>) =>
      (r.resourceSpans as { scopeSpans: { spans: Record<string, unknown>[] }[] }[])[0]?.scopeSpans[0]?.spans[0];
    expect(first(proto)?.traceId).toBe(finished?.spanContext().traceId);
    expect(first(proto)?.spanId).toBe(first(json)?.spanId);
  });

  it("knows OTLP's content types, and answers in the request's encoding", () => {
    expect(otlpEncoding("application/x-protobuf")).toBe("protobuf");
    expect(otlpEncoding("application/json; charset=utf-8")).toBe("json");
    expect(otlpEncoding("text/plain")).toBeUndefined();
    expect(otlpResponse("logs", "json", 0, "").body).toEqual({});
    expect(otlpResponse("logs", "json", 2, "no session").body).toEqual({
      partialSuccess: { rejectedLogRecords: 2, errorMessage: "no session" },
    });
    const proto = otlpResponse("metrics", "protobuf", 3, "too many series");
    expect(proto.type).toBe("application/x-protobuf");
    expect((proto.body as Buffer).length).toBeGreaterThan(0);
    expect(() => decodeOtlp("logs", Buffer.from([0xff, 0xff, 0xff]), "protobuf")).toThrow();
    expect(() => decodeOtlp("logs", Buffer.from("[1]"), "json")).toThrow(SyntaxError);
  });
});
