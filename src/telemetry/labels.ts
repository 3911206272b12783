// Keeps label values bounded: the first N distinct values of a label pass, the rest become "other".

export class BoundedLabel {
  private readonly seen = new Set<string>();

  constructor(
    private readonly max: number,
    private readonly maxLength = 80,
  ) {}

  value(raw: string | undefined): string {
    const v = (raw ?? "").slice(0, this.maxLength) || "unknown";
    if (this.seen.has(v)) return v;
    if (this.seen.size >= this.max) return "other";
    this.seen.add(v);
    return v;
  }
}
