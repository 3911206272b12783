// OTLP/HTTP request bodies read into one shape: OTLP/JSON's (camelCase fields, 64-bit integers as strings, ids as
// hex), whether they came as http/json or as http/protobuf (decoded by protobufjs from the official .proto files).
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import type protobuf from "protobufjs";

export type OtlpSignal = "logs" | "metrics" | "traces";

/** The content types OTLP/HTTP uses: binary protobuf, or JSON. */
export type OtlpEncoding = "protobuf" | "json";

const SERVICES: Record<OtlpSignal, { request: string; response: string }> = {
  logs: {
    request: "opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest",
    response: "opentelemetry.proto.collector.logs.v1.ExportLogsServiceResponse",
  },
  metrics: {
    request: "opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest",
    response: "opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceResponse",
  },
  traces: {
    request: "opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest",
    response: "opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse",
  },
};

/** opentelemetry-proto v1.11.0, as published (Apache-2.0), beside this file in the source and in the build. */
const PROTO_DIR = fileURLToPath(new URL("./proto/", import.meta.url));
const PROTO_FILES = [
  "opentelemetry/proto/collector/logs/v1/logs_service.proto",
  "opentelemetry/proto/collector/metrics/v1/metrics_service.proto",
  "opentelemetry/proto/collector/trace/v1/trace_service.proto",
];

let root: protobuf.Root | undefined;
/**
 * Loaded and parsed once, on the first protobuf body: a sidecar whose agents send JSON, or nothing, never pays for it
 * (protobufjs alone is some 9 MB of a process's memory).
 */
function protoRoot(): protobuf.Root {
  if (root) return root;
  const { Root } = createRequire(import.meta.url)("protobufjs") as typeof protobuf;
  const r = new Root();
  r.resolvePath = (_origin, target) => (existsSync(target) ? target : `${PROTO_DIR}${target}`);
  r.loadSync(PROTO_FILES, { keepCase: false });
  root = r;
  return r;
}

/** The body's encoding from its Content-Type, or undefined for one OTLP/HTTP does not use. */
export function otlpEncoding(contentType: string | undefined): OtlpEncoding | undefined {
  const type = contentType?.split(";")[0]?.trim().toLowerCase();
  if (type === "application/x-protobuf" || type === "application/protobuf") return "protobuf";
  if (type === "application/json") return "json";
  return undefined;
}

const HEX_IDS = new Set(["traceId", "spanId", "parentSpanId"]);

/** protobufjs gives bytes as base64; OTLP/JSON writes trace and span ids as hex, and the rest is already alike. */
function idsToHex(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(idsToHex);
  if (value === null || typeof value !== "object") return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = HEX_IDS.has(k) && typeof v === "string" ? Buffer.from(v, "base64").toString("hex") : idsToHex(v);
  }
  return out;
}

/**
 * The export request in OTLP/JSON's shape. Throws a RangeError or SyntaxError for a body that is not one: the
 * caller answers 400.
 */
export function decodeOtlp(signal: OtlpSignal, body: Buffer, encoding: OtlpEncoding): Record<string, unknown> {
  if (encoding === "json") {
    const parsed: unknown = JSON.parse(body.toString("utf8"));
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed))
      throw new SyntaxError("an OTLP/JSON body is an object");
    return parsed as Record<string, unknown>;
  }
  const type = protoRoot().lookupType(SERVICES[signal].request);
  const message = type.decode(body);
  return idsToHex(
    type.toObject(message, { longs: String, bytes: String, enums: Number, arrays: true, defaults: false }),
  ) as Record<string, unknown>;
}

/**
 * The success answer in the request's encoding: an empty response, or one with `partialSuccess` when some records
 * were refused (the receiver's limits), which exporters log rather than retry.
 */
export function otlpResponse(
  signal: OtlpSignal,
  encoding: OtlpEncoding,
  rejected: number,
  why: string,
): { type: string; body: Buffer | Record<string, unknown> } {
  const field = { logs: "rejectedLogRecords", metrics: "rejectedDataPoints", traces: "rejectedSpans" }[signal];
  const answer = rejected > 0 ? { partialSuccess: { [field]: rejected, errorMessage: why } } : {};
  if (encoding === "json") return { type: "application/json", body: answer };
  const type = protoRoot().lookupType(SERVICES[signal].response);
  return { type: "application/x-protobuf", body: Buffer.from(type.encode(type.fromObject(answer)).finish()) };
}
