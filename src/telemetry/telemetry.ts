// Builds the telemetry the app is given: a tracer, the request instruments, the state gauges and /metrics.
import { type Meter, type TextMapPropagator, type Tracer, trace } from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import type { PrometheusExporter } from "@opentelemetry/exporter-prometheus";
import { detectResources, envDetector, resourceFromAttributes } from "@opentelemetry/resources";
import { MeterProvider } from "@opentelemetry/sdk-metrics";
import type { tracing as Tracing } from "@opentelemetry/sdk-node";
import { ledgerModels } from "../store/ledger-keys.js";
import type { RequestLedger } from "../store/schema.js";
import { VERSION } from "../version.js";
import { BoundedLabel, MODEL_LABEL_LIMIT } from "../wire/labels.js";
import { type AgentCounters, createAgentCounters } from "./agent-counters.js";
import { createOtelPrometheusReader, MetricsExposition } from "./exposition.js";
import { energyCounter } from "./gpu-gauges.js";
import { createRequestInstruments, type RequestInstruments } from "./instruments.js";
import { pushMetricReaders } from "./push-metrics.js";
import { createStateGauges, type StateGauges } from "./state-gauges.js";
import { spanProcessors } from "./trace-export.js";

type ReadableSpan = Tracing.ReadableSpan;
type SpanProcessor = Tracing.SpanProcessor;

export interface Telemetry {
  tracer: Tracer;
  propagator: TextMapPropagator;
  requests: RequestInstruments;
  /** One decision per model name, shared by histograms and the ledger's counters. */
  modelLabels: BoundedLabel;
  state: StateGauges;
  /** The agent's side of its sessions: tool calls, and the sessions' time by phase. */
  agent: AgentCounters;
  /** A request's share of the GPU's energy, by upstream. */
  energy(upstream: string, joules: number): void;
  exposition: MetricsExposition;
  /** Finished spans from elsewhere (an agent's own), exported where the sidecar's go; nowhere without export. */
  relaySpans(spans: readonly ReadableSpan[]): void;
  shutdown(): Promise<void>;
}

export interface TelemetryParts {
  tracer: Tracer;
  meter: Meter;
  otelReader: PrometheusExporter;
  /** The span processors the sidecar's own spans end in, for spans relayed from an agent. */
  spanProcessors?: readonly SpanProcessor[];
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
    agent: createAgentCounters(state.registry),
    energy: energyCounter(state.registry),
    exposition: new MetricsExposition(state.registry, parts.otelReader),
    relaySpans: (spans) => {
      for (const p of parts.spanProcessors ?? []) for (const s of spans) p.onEnd(s);
    },
    shutdown: parts.shutdown ?? (async () => {}),
  };
}

/**
 * Production telemetry from the standard variables, read and never rewritten: metrics for /metrics plus where
 * OTEL_METRICS_EXPORTER asks, spans exported only where OTEL_TRACES_EXPORTER or an OTLP endpoint asks. The
 * providers are built here rather than by NodeSDK, which builds readers from OTEL_METRICS_EXPORTER even when given
 * its own (for "prometheus", a second, unbound endpoint on port 9464). Without trace export, the trace SDK and
 * its exporters (about 25 MB of resident memory, gRPC and protobuf included) are not loaded.
 */
export async function startTelemetry(ledger: () => RequestLedger, env: NodeJS.ProcessEnv): Promise<Telemetry> {
  const otelReader = createOtelPrometheusReader();
  // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES name the source, as NodeSDK would.
  const resource = resourceFromAttributes({ "service.name": "llama-sidecar" }).merge(
    detectResources({ detectors: [envDetector] }),
  );
  const meterProvider = new MeterProvider({ resource, readers: [otelReader, ...(await pushMetricReaders(env))] });
  const processors = await spanProcessors(env);
  const tracerProvider =
    processors.length > 0
      ? new (await import("@opentelemetry/sdk-node")).node.NodeTracerProvider({ resource, spanProcessors: processors })
      : undefined;
  return buildTelemetry(
    {
      // Without export, the API's no-op tracer: nothing to export to.
      tracer: (tracerProvider ?? trace).getTracer("llama-sidecar", VERSION),
      meter: meterProvider.getMeter("llama-sidecar", VERSION),
      otelReader,
      spanProcessors: processors,
      shutdown: async () => {
        await Promise.all([meterProvider.shutdown(), tracerProvider?.shutdown()]);
      },
    },
    ledger,
  );
}
