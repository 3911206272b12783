// Numbers llama-server reports are checked before they count: one negative, NaN, infinite or absurd value must
// never enter a ledger, where it would stay for the sidecar's lifetime (and, persisted, fail the next start).

/**
 * More tokens than any context holds: a count past this in one response is a fault, not work. (A million-token
 * context is large today; a thousand times that leaves room without letting a 1e300 wreck every total.)
 */
const MAX_TOKENS = 1e9;
/** Eleven days in milliseconds: no one request's prefill or generation runs longer. */
const MAX_DURATION_MS = 1e9;

/**
 * Every field a bad value can be reported for: the label's whole range. Each series starts at 0, so the first bad
 * value shows as an increase (and alerts); a test holds the readers in observe/dialects.ts to this list.
 */
export const CHECKED_FIELDS = [
  "timings.prompt_n",
  "timings.cache_n",
  "timings.predicted_n",
  "timings.prompt_ms",
  "timings.predicted_ms",
  "timings.predicted_per_token_ms",
  "timings.prompt_per_second",
  "timings.predicted_per_second",
  "timings.draft_n",
  "timings.draft_n_accepted",
  "usage.prompt_tokens",
  "usage.cached_tokens",
  "usage.completion_tokens",
  "usage.input_tokens",
  "usage.output_tokens",
  "usage.cache_read_input_tokens",
  "usage.tokens_evaluated",
  "usage.tokens_cached",
  "usage.tokens_predicted",
] as const;

/** A field of llama-server's answers whose numbers are checked. */
export type CheckedField = (typeof CHECKED_FIELDS)[number];

/** Collects the fields of one response that failed their check; each is reported once per request. */
export class ValueCheck {
  /** Field names (CHECKED_FIELDS, so a bounded label) that held a bad value. */
  invalid: CheckedField[] | undefined;

  private bad(field: CheckedField): undefined {
    this.invalid ??= [];
    if (!this.invalid.includes(field)) this.invalid.push(field);
    return undefined;
  }

  /** A token count: a non-negative integer up to MAX_TOKENS. Absent (undefined, null) is not invalid. */
  tokens(field: CheckedField, v: unknown): number | undefined {
    if (v === undefined || v === null) return undefined;
    return typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= MAX_TOKENS ? v : this.bad(field);
  }

  /** A duration in milliseconds: finite, non-negative, up to MAX_DURATION_MS. */
  ms(field: CheckedField, v: unknown): number | undefined {
    if (v === undefined || v === null) return undefined;
    return typeof v === "number" && Number.isFinite(v) && v >= 0 && v <= MAX_DURATION_MS ? v : this.bad(field);
  }

  /** A speed (tokens per second): finite and non-negative. */
  rate(field: CheckedField, v: unknown): number | undefined {
    if (v === undefined || v === null) return undefined;
    return typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : this.bad(field);
  }

  /** `part` must not exceed `whole` (cached within prompt tokens); when it does, the part is dropped as invalid. */
  within(field: CheckedField, part: number | undefined, whole: number | undefined): number | undefined {
    return part !== undefined && whole !== undefined && part > whole ? this.bad(field) : part;
  }
}

/** Largest value a scraped llama-server counter may hold: beyond this a total would lose integer precision. */
const MAX_COUNTER = Number.MAX_SAFE_INTEGER;

/** llama-server's counters, by the short name the sidecar keeps; any other name reports as "other". */
const KNOWN_COUNTERS = new Set([
  "prompt_tokens_total",
  "prompt_seconds_total",
  "tokens_predicted_total",
  "tokens_predicted_seconds_total",
  "n_decode_total",
  "prompt_tokens_cached_total",
  "n_tokens_max",
]);

/** The `field` labels of scraped series. */
export const METRICS_FIELDS = [...[...KNOWN_COUNTERS].map((c) => `metrics.${c}`), "metrics.other"];

/** The bounded `field` label for a scraped series: llama-server could send any name. */
export function metricsField(short: string): string {
  return `metrics.${KNOWN_COUNTERS.has(short) ? short : "other"}`;
}

/** A scraped counter's value: finite, non-negative, within MAX_COUNTER. */
export function validCounter(v: number): boolean {
  return Number.isFinite(v) && v >= 0 && v <= MAX_COUNTER;
}
