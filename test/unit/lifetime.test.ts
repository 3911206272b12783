import { describe, expect, it } from "vitest";
import { humanCount } from "../../src/dashboard/public/format.js";
import type { RequestRecord } from "../../src/observe/observation.js";
import { applyScrape, lifetimeCounters } from "../../src/scrape/lifetime.js";
import { parseLlamaMetrics } from "../../src/scrape/llama-metrics.js";
import { emptyHistory, percentile, recordHistory, toPoints } from "../../src/stats/history.js";
import { addRecord, totals } from "../../src/stats/request-ledger.js";
import { joinKey, ledgerModels, splitKey } from "../../src/store/ledger-keys.js";
import { emptyStats } from "../../src/store/schema.js";
import { BoundedLabel, LABEL_MAX_LENGTH, MODEL_LABEL_LIMIT } from "../../src/wire/labels.js";
import { fixture } from "../support/fake-llama.js";

const ledger = () => emptyStats(new Date(0)).upstream;

const rec = (ttftMs: number, decodeTps: number): RequestRecord => ({
  id: "r",
  startedAt: 0,
  route: "/v1/messages",
  operation: "chat",
  client: "claude-code",
  model: "m",
  modelLabel: "m",
  stream: true,
  status: 200,
  outcome: "ok",
  prefillTokens: 100,
  cachedTokens: 900,
  outputTokens: 10,
  ttftMs,
  decodeTps,
  durationMs: 1000,
  derived: false,
});

describe("lifetime ledger", () => {
  it("sums the final counters of every incarnation when the header changes", () => {
    const l = ledger();
    applyScrape(l, { incarnation: "100", counters: { tokens_predicted_total: 10 }, at: 1 });
    applyScrape(l, { incarnation: "100", counters: { tokens_predicted_total: 25 }, at: 2 });
    // A restart whose new counters already exceed the old ones is still caught by the header.
    expect(applyScrape(l, { incarnation: "200", counters: { tokens_predicted_total: 40 }, at: 3 })).toBe(true);
    applyScrape(l, { incarnation: "200", counters: { tokens_predicted_total: 41 }, at: 4 });
    expect(lifetimeCounters(l).tokens_predicted_total).toBe(25 + 41);
    expect(l.restartCount).toBe(1);
    expect(l.restarts).toEqual([3]);
  });

  it("keeps a counter's last good value through a scrape that left it out or sent it lower, and banks it at the restart", () => {
    const l = ledger();
    const down: string[] = [];
    applyScrape(l, { incarnation: "100", counters: { a_total: 1000, b_total: 5 }, at: 1 });
    // b_total's value was invalid (left out by the parser); a_total went down without a restart.
    applyScrape(l, { incarnation: "100", counters: { a_total: 900 }, at: 2 }, (k) => down.push(k));
    expect(lifetimeCounters(l)).toEqual({ a_total: 1000, b_total: 5 });
    expect(down).toEqual(["a_total"]);
    applyScrape(l, { incarnation: "200", counters: { a_total: 10, b_total: 1 }, at: 3 });
    expect(lifetimeCounters(l)).toEqual({ a_total: 1010, b_total: 6 });
  });

  it("detects a restart without the header from any counter going down", () => {
    const l = ledger();
    applyScrape(l, { incarnation: null, counters: { a_total: 5, b_total: 7 }, at: 1 });
    expect(applyScrape(l, { incarnation: null, counters: { a_total: 9, b_total: 7 }, at: 2 })).toBe(false);
    expect(applyScrape(l, { incarnation: null, counters: { a_total: 10, b_total: 2 }, at: 3 })).toBe(true);
    expect(lifetimeCounters(l)).toEqual({ a_total: 19, b_total: 9 });
  });

  it("takes a seen model load as a restart when there is no header", () => {
    const l = ledger();
    applyScrape(l, { incarnation: null, counters: { a_total: 5 }, at: 1 });
    expect(applyScrape(l, { incarnation: null, counters: { a_total: 8 }, at: 2, sawRestart: true })).toBe(true);
    expect(lifetimeCounters(l).a_total).toBe(13);
  });

  it("counts nothing twice when the sidecar restarts and finds the same incarnation", () => {
    const l = ledger();
    applyScrape(l, { incarnation: "1", counters: { a_total: 5 }, at: 1 });
    const reloaded = JSON.parse(JSON.stringify(l));
    applyScrape(reloaded, { incarnation: "1", counters: { a_total: 6 }, at: 2 });
    expect(lifetimeCounters(reloaded).a_total).toBe(6);
    expect(reloaded.restartCount).toBe(0);
  });

  it("keeps n_tokens_max, a high-water mark, out of the sums", () => {
    const m = parseLlamaMetrics(fixture("get-metrics").body);
    expect(m.counters.prompt_tokens_total).toBeGreaterThan(0);
    expect(m.counters.tokens_predicted_total).toBeGreaterThan(0);
    expect(m.counters.n_tokens_max).toBeUndefined();
    expect(m.gauges.n_tokens_max).toBeGreaterThan(0);
    expect(m.gauges.requests_processing).toBe(0);
  });
});

describe("request ledger keys and labels", () => {
  it("reads back every part of a key whatever characters a client put in it, and keys written before escaping", () => {
    for (const parts of [
      ["/v1/messages", "a|b", "other", "ok"],
      ["%7C", "50%", "x|%|y", ""],
    ]) {
      expect(splitKey(joinKey(parts))).toEqual(parts);
    }
    expect(splitKey("/v1/messages|tiny|claude-code|ok")).toEqual(["/v1/messages", "tiny", "claude-code", "ok"]);
  });

  it("keeps the first models by name for good: seeded from the ledger, so labels agree across restarts", () => {
    const doc = emptyStats(new Date(0)).sidecar;
    const labels = new BoundedLabel(MODEL_LABEL_LIMIT, () => ledgerModels(doc));
    const record = (model: string) => ({ ...rec(100, 10), model, modelLabel: labels.value(model) });
    for (let i = 0; i < MODEL_LABEL_LIMIT + 5; i++) addRecord(doc, record(`m|${i}`));
    const names = new Set(ledgerModels(doc));
    expect(names.size).toBe(MODEL_LABEL_LIMIT + 1);
    expect(names.has("other")).toBe(true);
    expect(totals(doc).requests).toBe(MODEL_LABEL_LIMIT + 5);
    // After a restart, a new label set learns the same names from the ledger: an old model keeps its name,
    // a new one is "other", as it was before.
    const again = new BoundedLabel(MODEL_LABEL_LIMIT, () => ledgerModels(doc));
    expect(again.value("m|3")).toBe("m|3");
    expect(again.value("brand-new")).toBe("other");
    expect(again.value("y".repeat(500))).toBe("other");
    expect(new BoundedLabel(1).value("y".repeat(500))).toHaveLength(LABEL_MAX_LENGTH);
  });
});

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
