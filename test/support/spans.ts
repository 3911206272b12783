// Span assertions for tests: attribute names from the same constants the spans are written with.
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { expect } from "vitest";

export { ATTR } from "../../src/telemetry/span-attributes.js";

/**
 * Asserts that the span exists and carries each attribute given, with that value (or matching that asymmetric
 * matcher, such as expect.any(Number)); a failure names the attribute. Attributes not given are not checked.
 */
export function expectSpanAttributes(span: ReadableSpan | undefined, want: Record<string, unknown>): void {
  expect(span, "no span was recorded").toBeDefined();
  for (const [name, value] of Object.entries(want)) expect(span?.attributes[name], name).toEqual(value);
}
