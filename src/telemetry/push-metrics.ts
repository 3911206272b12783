// Metric export beside /metrics, when the standard OTEL_METRICS_EXPORTER asks for it (otlp, console).
import {
  ConsoleMetricExporter,
  type IMetricReader,
  PeriodicExportingMetricReader,
  type PushMetricExporter,
} from "@opentelemetry/sdk-metrics";

/**
 * The push exporters OTEL_METRICS_EXPORTER names. "prometheus" is always served (GET /metrics), so it adds
 * nothing; "none" turns the others off. Unset means none: /metrics is the sidecar's metrics interface.
 */
export function pushExportersRequested(env: NodeJS.ProcessEnv): { exporters: string[]; unsupported: string[] } {
  const names = (env.OTEL_METRICS_EXPORTER ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  if (names.includes("none")) return { exporters: [], unsupported: [] };
  const pushed = names.filter((n) => n !== "prometheus");
  return {
    exporters: pushed.filter((n) => n === "otlp" || n === "console"),
    unsupported: pushed.filter((n) => n !== "otlp" && n !== "console"),
  };
}

/** The OTLP protocol for a signal: its own variable, else the shared one, else http/protobuf (the default). */
export function otlpProtocol(
  env: NodeJS.ProcessEnv,
  signal: "METRICS" | "TRACES",
): "grpc" | "http/json" | "http/protobuf" {
  const raw = (env[`OTEL_EXPORTER_OTLP_${signal}_PROTOCOL`] || env.OTEL_EXPORTER_OTLP_PROTOCOL || "").trim();
  return raw === "grpc" || raw === "http/json" ? raw : "http/protobuf";
}

/** The OTLP exporter for the configured protocol; each reads its endpoint, headers and temporality from OTEL_*. */
async function otlpExporter(env: NodeJS.ProcessEnv): Promise<PushMetricExporter> {
  switch (otlpProtocol(env, "METRICS")) {
    case "grpc":
      return new (await import("@opentelemetry/exporter-metrics-otlp-grpc")).OTLPMetricExporter();
    case "http/json":
      return new (await import("@opentelemetry/exporter-metrics-otlp-http")).OTLPMetricExporter();
    case "http/protobuf":
      return new (await import("@opentelemetry/exporter-metrics-otlp-proto")).OTLPMetricExporter();
  }
}

function millis(raw: string | undefined, fallback: number): number {
  const n = Number(raw);
  return raw && Number.isFinite(n) && n > 0 ? n : fallback;
}

/** One periodic reader per requested exporter, at OTEL_METRIC_EXPORT_INTERVAL (default 60 s). */
export async function pushMetricReaders(env: NodeJS.ProcessEnv): Promise<IMetricReader[]> {
  const readers: IMetricReader[] = [];
  const intervalMs = millis(env.OTEL_METRIC_EXPORT_INTERVAL, 60_000);
  for (const name of pushExportersRequested(env).exporters) {
    const exporter = name === "console" ? new ConsoleMetricExporter() : await otlpExporter(env);
    readers.push(
      new PeriodicExportingMetricReader({
        exporter,
        exportIntervalMillis: intervalMs,
        exportTimeoutMillis: Math.min(intervalMs, millis(env.OTEL_METRIC_EXPORT_TIMEOUT, 30_000)),
      }),
    );
  }
  return readers;
}
