import { describe, expect, it } from "vitest";
import { traceExportersRequested, tracesRequested } from "../../../src/telemetry/trace-export.js";

describe("trace export from the standard variables", () => {
  it("exports nothing unless asked", () => {
    expect(tracesRequested({})).toBe(false);
    expect(traceExportersRequested({})).toEqual({ exporters: [], unsupported: [] });
    expect(traceExportersRequested({ OTEL_TRACES_EXPORTER: "none" }).exporters).toEqual([]);
    // "none" wins over an endpoint: the user turned traces off
    expect(tracesRequested({ OTEL_TRACES_EXPORTER: "none", OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318" })).toBe(false);
  });

  it("exports OTLP when only an endpoint is given", () => {
    expect(traceExportersRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318" }).exporters).toEqual(["otlp"]);
    expect(
      traceExportersRequested({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://c:4318/v1/traces" }).exporters,
    ).toEqual(["otlp"]);
  });

  it("names each exporter once, and the ones it lacks apart", () => {
    expect(traceExportersRequested({ OTEL_TRACES_EXPORTER: " otlp, console,otlp ,jaeger" })).toEqual({
      exporters: ["otlp", "console"],
      unsupported: ["jaeger"],
    });
    expect(traceExportersRequested({ OTEL_TRACES_EXPORTER: "zipkin" }).exporters).toEqual(["zipkin"]);
  });
});
