// An agent's spans (an OTLP traces export request, in OTLP/JSON's shape) as the trace SDK's finished spans, so the
// sidecar's own span processors export them beside its spans, ids, times, attributes and links unchanged.
import type { HrTime, Link, SpanContext, SpanStatus } from "@opentelemetry/api";
import { resourceFromAttributes } from "@opentelemetry/resources";
import type { tracing as Tracing } from "@opentelemetry/sdk-node";
import { attributesOf } from "./any-value.js";

type ReadableSpan = Tracing.ReadableSpan;
type TimedEvent = Tracing.TimedEvent;
type Json = Record<string, unknown>;

/** Nanoseconds since the epoch (a string of up to 19 digits) as [seconds, nanoseconds], without losing digits. */
function hrTime(nanos: unknown): HrTime {
  const digits = String(nanos ?? "0").padStart(10, "0");
  return [Number(digits.slice(0, -9)), Number(digits.slice(-9))];
}

const hex = (v: unknown) => (typeof v === "string" ? v : "");
const SAMPLED = 1;

function context(traceId: unknown, spanId: unknown): SpanContext {
  return { traceId: hex(traceId), spanId: hex(spanId), traceFlags: SAMPLED, isRemote: true };
}

/** OTLP's span kinds start at 1 (INTERNAL); the API's at 0. */
const kindOf = (k: unknown): number => Math.max(0, Number(k ?? 1) - 1);

function spanOf(s: Json, resource: ReadableSpan["resource"], scope: Json | undefined): ReadableSpan {
  const startTime = hrTime(s.startTimeUnixNano);
  const endTime = hrTime(s.endTimeUnixNano);
  const own = context(s.traceId, s.spanId);
  const parent = hex(s.parentSpanId) ? context(s.traceId, s.parentSpanId) : undefined;
  const status = (s.status as Json | undefined) ?? {};
  const events: TimedEvent[] = ((s.events as Json[] | undefined) ?? []).map((e) => ({
    name: String(e.name ?? ""),
    time: hrTime(e.timeUnixNano),
    attributes: attributesOf(e.attributes),
    droppedAttributesCount: Number(e.droppedAttributesCount ?? 0),
  }));
  const links: Link[] = ((s.links as Json[] | undefined) ?? []).map((l) => ({
    context: context(l.traceId, l.spanId),
    attributes: attributesOf(l.attributes),
  }));
  const nanos = (t: HrTime) => BigInt(t[0]) * 1_000_000_000n + BigInt(t[1]);
  const took = nanos(endTime) - nanos(startTime);
  return {
    name: String(s.name ?? ""),
    kind: kindOf(s.kind),
    spanContext: () => own,
    parentSpanContext: parent,
    startTime,
    endTime,
    status: { code: Number(status.code ?? 0), message: status.message as string | undefined } as SpanStatus,
    attributes: attributesOf(s.attributes),
    links,
    events,
    duration: [Number(took / 1_000_000_000n), Number(took % 1_000_000_000n)],
    ended: true,
    resource,
    instrumentationScope: {
      name: String(scope?.name ?? ""),
      version: scope?.version as string | undefined,
      schemaUrl: scope?.schemaUrl as string | undefined,
    },
    droppedAttributesCount: Number(s.droppedAttributesCount ?? 0),
    droppedEventsCount: Number(s.droppedEventsCount ?? 0),
    droppedLinksCount: Number(s.droppedLinksCount ?? 0),
  };
}

/** Every span of the request, with its own resource (the agent's service name) and scope. */
export function spansFromOtlp(request: Json): ReadableSpan[] {
  const out: ReadableSpan[] = [];
  for (const rs of (request.resourceSpans as Json[] | undefined) ?? []) {
    const resource = resourceFromAttributes(attributesOf((rs?.resource as Json | undefined)?.attributes));
    for (const ss of (rs?.scopeSpans as Json[] | undefined) ?? []) {
      for (const span of (ss?.spans as Json[] | undefined) ?? []) {
        if (hex(span.traceId) && hex(span.spanId)) out.push(spanOf(span, resource, ss.scope as Json | undefined));
      }
    }
  }
  return out;
}
