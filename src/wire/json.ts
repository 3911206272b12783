// JSON as it arrives from clients and llama-server: narrowed field by field, never trusted. Two contracts,
// named apart: `as*` answers undefined for a value of another type, `*OrEmpty` answers an empty value so that
// optional nested fields read in one expression.

/** A JSON object, keys to values of unknown type. */
export type JsonObject = Record<string, unknown>;

/** The value if it is a JSON object (not null, not an array); otherwise undefined. */
export function asObject(v: unknown): JsonObject | undefined {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as JsonObject) : undefined;
}

/** The value if it is a JSON object; otherwise an empty object. */
export function objectOrEmpty(v: unknown): JsonObject {
  return asObject(v) ?? {};
}

/** The value if it is a string; otherwise undefined. */
export function asString(v: unknown): string | undefined {
  return typeof v === "string" ? v : undefined;
}

/** The value if it is a string; otherwise "". */
export function stringOrEmpty(v: unknown): string {
  return typeof v === "string" ? v : "";
}

/** The value if it is a finite number; otherwise undefined. */
export function asFiniteNumber(v: unknown): number | undefined {
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}

/** The value if it is a finite number; otherwise 0. */
export function finiteOrZero(v: unknown): number {
  return asFiniteNumber(v) ?? 0;
}

/** Text that should hold a JSON object, parsed; anything else (not JSON, an array, a scalar) is undefined. */
export function parseObject(text: string): JsonObject | undefined {
  try {
    return asObject(JSON.parse(text));
  } catch {
    return undefined;
  }
}
