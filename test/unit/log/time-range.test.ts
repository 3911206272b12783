// Times as people write them: durations back from now, day names, dates, ISO times, epoch ms; anything else refused.
import { describe, expect, it } from "vitest";
import { parseTime } from "../../../src/log/time-range.js";

const NOW = new Date(2026, 11, 7, 15, 30).getTime();

describe("parseTime", () => {
  it("reads durations back from now, day names, dates (local midnight), ISO times and epoch ms", () => {
    expect(parseTime("30m", NOW)).toBe(NOW - 30 * 60_000);
    expect(parseTime("7d", NOW)).toBe(NOW - 7 * 86_400_000);
    expect(parseTime("1.5h", NOW)).toBe(NOW - 90 * 60_000);
    expect(parseTime("today", NOW)).toBe(new Date(2026, 11, 7).getTime());
    expect(parseTime("yesterday", NOW)).toBe(new Date(2026, 11, 7).getTime() - 86_400_000);
    expect(parseTime("2026-12-01", NOW)).toBe(new Date(2026, 11, 1).getTime());
    expect(parseTime("2026-12-01T10:00:00Z", NOW)).toBe(Date.UTC(2026, 11, 1, 10));
    expect(parseTime("1796646892275", NOW)).toBe(1796646892275);
  });

  it("refuses what is none of those, saying what is accepted", () => {
    for (const bad of ["", "7 days", "-1d", "12:00", "1e12", "2026-13-45T"]) {
      const r = parseTime(bad, NOW);
      expect(typeof r === "object" && r.error).toMatch(/is not a time: use a duration back from now/);
    }
  });
});
