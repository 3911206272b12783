import { describe, expect, it } from "vitest";
import { humanCount } from "../../../src/dashboard/public/format.js";
import { percentile } from "../../../src/stats/history.js";

describe("formatting and percentiles", () => {
  it.each([
    [999, "999"],
    [187_234, "187.2K"],
    [19_600, "19.6K"],
    [244_200, "244.2K"],
    [10_000, "10K"],
    [1_250_000, "1.3M"],
  ])("humanCount(%d) = %s", (n, s) => {
    expect(humanCount(n)).toBe(s);
  });

  it("interpolates percentiles inside buckets like histogram_quantile", () => {
    expect(percentile([0, 10, 0], [1, 2], 0.5)).toBeCloseTo(1.5);
    expect(percentile([0, 0, 0], [1, 2], 0.5)).toBeUndefined();
  });
});
