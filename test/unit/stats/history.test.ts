import { describe, expect, it } from "vitest";
import { emptyHistory, recordHistory, toPoints } from "../../../src/stats/history.js";
import { requestRecord as rec } from "../../support/records.js";

describe("history", () => {
  it("keeps per-minute buckets for 24 hours and per-hour buckets for 30 days, no more", () => {
    const h = emptyHistory();
    const start = Date.UTC(2026, 0, 1);
    // One request every 10 minutes for 40 days.
    for (let t = start; t < start + 40 * 86_400_000; t += 600_000) recordHistory(h, rec(500, 40), t);
    expect(h.minutes.length).toBeLessThanOrEqual(24 * 60);
    expect(h.hours.length).toBe(30 * 24);
    const last = h.minutes.at(-1)?.t ?? 0;
    expect(last - (h.minutes[0]?.t ?? 0)).toBeLessThan(86_400_000);
    expect(h.hours.reduce((a, b) => a + b.requests, 0)).toBe(30 * 24 * 6);
    expect(JSON.stringify(h).length).toBeLessThan(1_000_000);
  });

  it("turns buckets into points with percentiles and cache reuse", () => {
    const h = emptyHistory();
    for (const ttft of [100, 200, 300, 400, 5000]) recordHistory(h, rec(ttft, 40), 60_000);
    const [p] = toPoints(h.minutes);
    expect(p?.requests).toBe(5);
    expect(p?.cacheReuse).toBeCloseTo(0.9);
    expect(p?.ttftP50Ms).toBeGreaterThan(100);
    expect(p?.ttftP50Ms).toBeLessThanOrEqual(500);
    expect(p?.ttftP95Ms).toBeGreaterThan(2500);
    expect(p?.tpsP50).toBeGreaterThan(30);
    expect(p?.tpsP50).toBeLessThanOrEqual(40);
  });
});
