// One definition of a percentile for the sidecar's own views: the value at rank p·n of the n observations.
// Raw values (the live TTFT window) give the observation at that rank; bucketed counts (the history) give a
// value inside the bucket that holds it, by linear interpolation, as Prometheus' histogram_quantile does.

/** The observation at rank p·n (nearest rank, rounded up), or undefined when there are none. */
export function percentile(values: readonly number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
}

/** The value at rank p·n from bucket counts (`bounds` are the buckets' upper bounds), interpolated in its bucket. */
export function bucketPercentile(counts: readonly number[], bounds: readonly number[], p: number): number | undefined {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return undefined;
  const rank = p * total;
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i] ?? 0;
    if (seen + c >= rank && c > 0) {
      const lo = i === 0 ? 0 : (bounds[i - 1] ?? 0);
      const hi = bounds[i] ?? bounds[bounds.length - 1] ?? lo;
      return lo + (hi - lo) * ((rank - seen) / c);
    }
    seen += c;
  }
  return bounds[bounds.length - 1];
}
