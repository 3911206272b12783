import { describe, expect, it } from "vitest";
import { bucketPercentile, percentile } from "../../../src/stats/percentile.js";

describe("percentiles", () => {
  it("interpolates percentiles inside buckets like histogram_quantile", () => {
    expect(bucketPercentile([0, 10, 0], [1, 2], 0.5)).toBeCloseTo(1.5);
    expect(bucketPercentile([0, 0, 0], [1, 2], 0.5)).toBeUndefined();
  });

  it("takes the observation at rank p·n from raw values, whatever their order", () => {
    const values = [50, 10, 40, 20, 30, 100, 90, 80, 70, 60];
    expect(percentile(values, 0.5)).toBe(50);
    expect(percentile(values, 0.95)).toBe(100);
    expect(percentile(values, 0.1)).toBe(10);
    expect(percentile(values, 0)).toBe(10);
    expect(percentile([7], 0.95)).toBe(7);
    expect(percentile([], 0.5)).toBeUndefined();
    expect(values[0]).toBe(50); // the caller's array is left as it was
  });

  it("agrees with the bucketed form when every observation sits at its bucket's upper bound", () => {
    const values = [1, 2, 2, 3, 3, 3, 4, 4, 4, 4];
    const counts = [1, 2, 3, 4];
    for (const p of [0.1, 0.3, 0.6, 1]) expect(bucketPercentile(counts, [1, 2, 3, 4], p)).toBe(percentile(values, p));
  });
});
