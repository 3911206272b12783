// Builds the telemetry the app is given: a tracer, the request instruments, the state gauges and /metrics.
import { type Meter, metrics, type TextMapPropagator, type Tracer, trace } from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import type { PrometheusExporter } from "@opentelemetry/exporter-prometheus";
import { detectResources, envDetector, resourceFromAttributes } from "@opentelemetry/resources";
import { MeterProvider } from "@opentelemetry/sdk-metrics";
import { ledgerModels } from "../store/ledger-keys.js";
import type { RequestLedger } from "../store/schema.js";
import { VERSION } from "../version.js";
import { BoundedLabel, MODEL_LABEL_LIMIT } from "../wire/labels.js";
import { createOtelPrometheusReader, MetricsExposition } from "./exposition.js";
import {
  createRequestInstruments,
  createStateGauges,
  type RequestInstruments,
  type StateGauges,
} from "./instruments.js";
import { pushMetricReaders } from "./push-metrics.js";

export interface Telemetry {
  tracer: Tracer;
  propagator: TextMapPropagator;
  requests: RequestInstruments;
  /** One decision per model name, shared by histograms and the ledger's counters. */
  modelLabels: BoundedLabel;
  state: StateGauges;
  exposition: MetricsExposition;
  shutdown(): Promise<void>;
}

export interface TelemetryParts {
  tracer: Tracer;
  meter: Meter;
  otelReader: PrometheusExporter;
  shutdown?: () => Promise<void>;
}

/** Composes telemetry from providers the caller made: NodeSDK's in production, in-memory ones in tests. */
export function buildTelemetry(parts: TelemetryParts, ledger: () => RequestLedger): Telemetry {
  const state = createStateGauges();
  return {
    tracer: parts.tracer,
    propagator: new W3CTraceContextPropagator(),
    requests: createRequestInstruments(parts.meter, ledger),
    modelLabels: new BoundedLabel(MODEL_LABEL_LIMIT, () => ledgerModels(ledger())),
    state,
    exposition: new MetricsExposition(state.registry, parts.otelReader),
    shutdown: parts.shutdown ?? (async () => {}),
  };
}

/**
 * Traces leave the process only when the user asked through the standard variables; NodeSDK would
 * otherwise default to OTLP on localhost:4318 and log export failures forever.
 */
export function tracesRequested(env: NodeJS.ProcessEnv): boolean {
  const exporter = env.OTEL_TRACES_EXPORTER?.trim();
  if (exporter) return exporter !== "none";
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

/**
 * Production telemetry. With trace export asked for, NodeSDK reads OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES,
 * OTEL_EXPORTER_OTLP_* and friends. Without, the SDK and its exporters (about 25 MB of resident memory, gRPC
 * and protobuf included) are not loaded at all: a plain MeterProvider feeds /metrics. Either way, metrics also
 * go out where OTEL_METRICS_EXPORTER asks: NodeSDK would ignore that variable once given /metrics' reader.
 */
export async function startTelemetry(
  ledger: () => RequestLedger,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Telemetry> {
  const otelReader = createOtelPrometheusReader();
  const readers = [otelReader, ...(await pushMetricReaders(env))];
  if (!tracesRequested(env)) {
    const meterProvider = new MeterProvider({
      // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES name the source of pushed metrics, as NodeSDK would.
      resource: resourceFromAttributes({ "service.name": "llama-sidecar" }).merge(
        detectResources({ detectors: [envDetector] }),
      ),
      readers,
    });
    return buildTelemetry(
      {
        tracer: trace.getTracer("llama-sidecar", VERSION), // the API's no-op tracer: nothing to export to
        meter: meterProvider.getMeter("llama-sidecar", VERSION),
        otelReader,
        shutdown: () => meterProvider.shutdown(),
      },
      ledger,
    );
  }
  const { NodeSDK } = await import("@opentelemetry/sdk-node");
  const sdk = new NodeSDK({
    serviceName: env.OTEL_SERVICE_NAME ? undefined : "llama-sidecar",
    metricReaders: readers,
    instrumentations: [],
  });
  // NodeSDK would build readers from OTEL_METRICS_EXPORTER even though it is given its readers, and for
  // "prometheus" open a second, unbound endpoint on port 9464: the variable is read above, not by it.
  const requested = process.env.OTEL_METRICS_EXPORTER;
  delete process.env.OTEL_METRICS_EXPORTER;
  try {
    sdk.start();
  } finally {
    if (requested !== undefined) process.env.OTEL_METRICS_EXPORTER = requested;
  }
  return buildTelemetry(
    {
      tracer: trace.getTracer("llama-sidecar", VERSION),
      meter: metrics.getMeter("llama-sidecar", VERSION),
      otelReader,
      shutdown: () => sdk.shutdown(),
    },
    ledger,
  );
}
