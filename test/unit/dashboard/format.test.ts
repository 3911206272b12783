import { describe, expect, it } from "vitest";
import { humanCount } from "../../../src/dashboard/public/format.js";

describe("formatting", () => {
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
});
