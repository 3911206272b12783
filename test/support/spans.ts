// Span assertions for tests: attribute names from the same constants the spans are written with.
import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { expect } from "vitest";
import { ATTR } from "../../src/telemetry/span-attributes.js";

export { ATTR };

/**
 * Asserts that the span exists and carries each attribute given, with that value (or matching that asymmetric
 * matcher, such as expect.any(Number)); a failure names the attribute. Attributes not given are not checked.
 */
export function expectSpanAttributes(span: ReadableSpan | undefined, want: Record<string, unknown>): void {
  expect(span, "no span was recorded").toBeDefined();
  for (const [name, value] of Object.entries(want)) expect(span?.attributes[name], name).toEqual(value);
}

/** What a request span must say, beside its named attributes. */
export interface RequestSpanWant {
  /** The HTTP status the client got. */
  status: number;
  outcome: "ok" | "upstream_error" | "client_abort" | "rejected" | "local";
  /** "chat claude" for model work, "POST /v1/x" for the rest. */
  name?: string;
}

/**
 * Asserts the invariants every request span holds: a CLIENT span, ended, with a start before its end, the status
 * code and outcome attributes, and its status mapped from the outcome (a client that left is no service error;
 * an upstream error or a 5xx is, with error.type set). Then the attributes given, as expectSpanAttributes.
 */
export function assertRequestSpan(
  span: ReadableSpan | undefined,
  want: RequestSpanWant,
  attributes: Record<string, unknown> = {},
): void {
  expect(span, "no span was recorded").toBeDefined();
  const s = span as ReadableSpan;
  expect(s.kind, "span kind").toBe(SpanKind.CLIENT);
  expect(s.ended, "span ended").toBe(true);
  const [seconds, nanos] = s.duration;
  expect(seconds * 1e9 + nanos, "span duration").toBeGreaterThanOrEqual(0);
  expect(s.attributes[ATTR.HTTP_RESPONSE_STATUS_CODE], "status code").toBe(want.status);
  expect(s.attributes[ATTR.OUTCOME], "outcome").toBe(want.outcome);
  if (want.name !== undefined) expect(s.name, "span name").toBe(want.name);
  const failed = want.outcome === "upstream_error" || (want.outcome !== "client_abort" && want.status >= 500);
  expect(s.status.code, "span status").toBe(failed ? SpanStatusCode.ERROR : SpanStatusCode.UNSET);
  if (want.outcome === "client_abort") expect(s.attributes[ATTR.ERROR_TYPE], "error.type").toBe("client_abort");
  else if (failed) expect(s.attributes[ATTR.ERROR_TYPE], "error.type").toBeDefined();
  else expect(s.attributes[ATTR.ERROR_TYPE], "error.type").toBeUndefined();
  expectSpanAttributes(s, attributes);
}
