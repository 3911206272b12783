// Renders GET /metrics: prom-client's registry and the OpenTelemetry Prometheus exporter, as one text page.
import { PrometheusExporter, PrometheusSerializer } from "@opentelemetry/exporter-prometheus";
import type { Registry } from "prom-client";

export class MetricsExposition {
  private readonly serializer = new PrometheusSerializer(undefined, false);

  constructor(
    private readonly registry: Registry,
    private readonly otel: PrometheusExporter,
  ) {}

  readonly contentType = "text/plain; version=0.0.4; charset=utf-8";

  async render(): Promise<string> {
    const [prom, collected] = await Promise.all([this.registry.metrics(), this.otel.collect()]);
    return `${prom.trimEnd()}\n${this.serializer.serialize(collected.resourceMetrics)}`;
  }
}

/** The OTel exporter as a plain metric reader: the sidecar serves /metrics itself, on its own port. */
export function createOtelPrometheusReader(): PrometheusExporter {
  return new PrometheusExporter({ preventServerStart: true });
}
