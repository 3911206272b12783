// OTLP's AnyValue and key-value lists, in OTLP/JSON's shape, as OpenTelemetry attribute values.
import type { Attributes, AttributeValue } from "@opentelemetry/api";

type Json = Record<string, unknown>;

/**
 * One value: 64-bit integers arrive as strings in JSON (and decoded protobuf), arrays of primitives are kept, and a
 * map (which an attribute cannot hold) becomes its JSON text.
 */
export function anyValue(v: unknown): AttributeValue | undefined {
  if (v === null || typeof v !== "object") return undefined;
  const any = v as Json;
  if (typeof any.stringValue === "string") return any.stringValue;
  if (typeof any.boolValue === "boolean") return any.boolValue;
  if (any.intValue !== undefined) return Number(any.intValue);
  if (typeof any.doubleValue === "number") return any.doubleValue;
  if (any.arrayValue !== undefined) {
    const values = ((any.arrayValue as Json).values as unknown[] | undefined) ?? [];
    return values.map(anyValue).filter((x) => x !== undefined && typeof x !== "object") as AttributeValue;
  }
  if (any.kvlistValue !== undefined) return JSON.stringify(attributesOf((any.kvlistValue as Json).values));
  return undefined;
}

/** A list of key-values as attributes; entries without a key or a readable value are left out. */
export function attributesOf(list: unknown): Attributes {
  const out: Attributes = {};
  for (const kv of (Array.isArray(list) ? list : []) as Json[]) {
    const v = anyValue(kv?.value);
    if (typeof kv?.key === "string" && v !== undefined) out[kv.key] = v;
  }
  return out;
}
