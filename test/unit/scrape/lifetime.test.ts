import { describe, expect, it } from "vitest";
import { applyScrape, lifetimeCounters } from "../../../src/scrape/lifetime.js";
import { parseLlamaMetrics } from "../../../src/scrape/llama-metrics.js";
import { emptyUpstreamLedger } from "../../../src/store/schema.js";
import { fixture } from "../../support/fake-llama.js";

const ledger = () => emptyUpstreamLedger();

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
