// Span export where the standard OTEL_TRACES_EXPORTER and OTEL_EXPORTER_OTLP_* variables ask for it, read from
// the environment the sidecar was given: the same choices NodeSDK makes, without its reading process.env.
import type { tracing as Tracing } from "@opentelemetry/sdk-node";
import { otlpProtocol } from "./push-metrics.js";

type SpanProcessor = Tracing.SpanProcessor;

type TraceExporterName = "otlp" | "console" | "zipkin";

const KNOWN: readonly string[] = ["otlp", "console", "zipkin"];

/**
 * Traces leave the process only when the user asked through the standard variables; the SDK would otherwise
 * default to OTLP on localhost:4318 and log export failures forever.
 */
export function tracesRequested(env: NodeJS.ProcessEnv): boolean {
  const exporter = env.OTEL_TRACES_EXPORTER?.trim();
  if (exporter) return exporter !== "none";
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

/** The trace exporters asked for (OTLP when only an endpoint is given), and the names the sidecar lacks. */
export function traceExportersRequested(env: NodeJS.ProcessEnv): {
  exporters: TraceExporterName[];
  unsupported: string[];
} {
  if (!tracesRequested(env)) return { exporters: [], unsupported: [] };
  const names = [
    ...new Set(
      (env.OTEL_TRACES_EXPORTER ?? "")
        .split(",")
        .map((s) => s.trim())
        .filter((s) => s && s !== "none"),
    ),
  ];
  if (names.length === 0) return { exporters: ["otlp"], unsupported: [] };
  return {
    exporters: names.filter((n): n is TraceExporterName => KNOWN.includes(n)),
    unsupported: names.filter((n) => !KNOWN.includes(n)),
  };
}

/** The OTLP exporter for the configured protocol; each reads its endpoint and headers from OTEL_EXPORTER_OTLP_*. */
async function otlpExporter(env: NodeJS.ProcessEnv) {
  switch (otlpProtocol(env, "TRACES")) {
    case "grpc":
      return new (await import("@opentelemetry/exporter-trace-otlp-grpc")).OTLPTraceExporter();
    case "http/json":
      return new (await import("@opentelemetry/exporter-trace-otlp-http")).OTLPTraceExporter();
    case "http/protobuf":
      return new (await import("@opentelemetry/exporter-trace-otlp-proto")).OTLPTraceExporter();
  }
}

/** One processor per requested exporter: batched, except the console's, which prints each span as it ends. */
export async function spanProcessors(env: NodeJS.ProcessEnv): Promise<SpanProcessor[]> {
  const { exporters } = traceExportersRequested(env);
  // The trace SDK and its exporters (about 14 MB resident) are loaded only when spans are to leave the process.
  if (exporters.length === 0) return [];
  const { tracing } = await import("@opentelemetry/sdk-node");
  const processors: SpanProcessor[] = [];
  for (const name of exporters) {
    if (name === "console") processors.push(new tracing.SimpleSpanProcessor(new tracing.ConsoleSpanExporter()));
    else if (name === "zipkin") {
      const { ZipkinExporter } = await import("@opentelemetry/exporter-zipkin");
      processors.push(new tracing.BatchSpanProcessor(new ZipkinExporter()));
    } else processors.push(new tracing.BatchSpanProcessor(await otlpExporter(env)));
  }
  return processors;
}
