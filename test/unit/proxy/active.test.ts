// The requests in flight as the views show them: phase, and a prefill's progress reported or estimated.
import { describe, expect, it } from "vitest";
import { ActiveRequests, prefillProgress } from "../../../src/proxy/active.js";
import { begin, type Exchange } from "../../../src/proxy/exchange.js";

function exchange(path = "/v1/chat/completions"): Exchange {
  return begin({ path, method: "POST", req: { headers: {} } } as never);
}

describe("prefill progress", () => {
  it("counts reused tokens as done and times the rest at the speed of the tokens processed so far", () => {
    // 1,000 of 5,000 reused, 1,000 more in 2 s: 3,000 left at 500 tokens/s is 6 s, 1 s of it gone since the report.
    const p = prefillProgress({ total: 5000, cache: 1000, processed: 2000, timeMs: 2000, at: 0 }, "stream", 1000);
    expect(p).toEqual({ ratio: 0.4, processed: 2000, total: 5000, cached: 1000, etaMs: 5000, source: "stream" });
  });

  it("has no time left to give before a token was processed", () => {
    expect(prefillProgress({ total: 10, cache: 0, processed: 0, timeMs: 0, at: 0 }, "stream", 0).etaMs).toBeUndefined();
  });
});

describe("ActiveRequests", () => {
  it("shows each request's phase, and progress only while it prefills", () => {
    const active = new ActiveRequests();
    const ex = exchange();
    active.follow(ex);
    expect(active.view(ex.receivedAt + 5)[0]).toMatchObject({ phase: "queued", progress: undefined });
    ex.dispatchedAt = ex.receivedAt + 1;
    ex.progress = { total: 100, cache: 0, processed: 50, timeMs: 10, at: ex.receivedAt + 11 };
    expect(active.view(ex.receivedAt + 11)[0]).toMatchObject({
      phase: "prefilling",
      progress: { ratio: 0.5, etaMs: 10, source: "stream" },
    });
    ex.obs.content(ex.receivedAt + 20);
    expect(active.view(ex.receivedAt + 21)[0]).toMatchObject({ phase: "generating", progress: undefined });
  });

  it("estimates a prefill without reports from its exact size and the measured speed, never to 100%", () => {
    const active = new ActiveRequests();
    const ex = exchange("/v1/messages");
    active.follow(ex);
    ex.dispatchedAt = ex.receivedAt;
    ex.estimate = { total: 4000 };
    // Without a measured speed there is nothing to estimate with.
    expect(active.view(ex.receivedAt + 1000)[0]?.progress).toBeUndefined();
    ex.estimate = { total: 4000, prefillTps: 1000 };
    expect(active.view(ex.receivedAt + 1000)[0]?.progress).toEqual({
      ratio: 0.25,
      processed: 1000,
      total: 4000,
      cached: 0,
      etaMs: 3000,
      source: "estimate",
    });
    // Past its estimate the prefill is overdue: 99%, time left unknown.
    expect(active.view(ex.receivedAt + 9000)[0]?.progress).toMatchObject({ ratio: 0.99, etaMs: undefined });
    // Just short of its total the rounded ratio would read 100%: it stays under.
    expect(active.view(ex.receivedAt + 3999)[0]?.progress?.ratio).toBe(0.999);
  });

  it("stops following a request when told", () => {
    const active = new ActiveRequests();
    const stop = active.follow(exchange());
    stop();
    expect(active.view()).toEqual([]);
  });
});
