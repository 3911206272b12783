// Keeps label values bounded, the same way for metrics and the persisted ledger: cut to a length, and past the
// first distinct values, "other".

/** Longest label value kept; longer ones are cut (a model name comes from the client's request body). */
export const LABEL_MAX_LENGTH = 80;
/** Distinct model names that keep their own label, over the sidecar's lifetime; later ones report "other". */
export const MODEL_LABEL_LIMIT = 20;

/** A raw value as a label: cut to LABEL_MAX_LENGTH, "unknown" when empty. */
export function labelText(raw: string | undefined): string {
  return (raw ?? "").slice(0, LABEL_MAX_LENGTH) || "unknown";
}

/**
 * The first `max` distinct values pass, the rest become "other". Seeded, at first use, with the values the
 * persisted ledger already holds, so a model keeps the same label in counters and histograms across restarts.
 */
export class BoundedLabel {
  private seen: Set<string> | undefined;

  constructor(
    private readonly max: number,
    private readonly seed: () => Iterable<string> = () => [],
  ) {}

  value(raw: string | undefined): string {
    const v = labelText(raw);
    this.seen ??= new Set(this.seed());
    if (this.seen.has(v)) return v;
    if (this.seen.size >= this.max) return "other";
    this.seen.add(v);
    return v;
  }
}
