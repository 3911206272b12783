// The stats views (/api/stats, /api/history) over a real Stats fed through its recorded and judged listeners.
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Miss } from "../../../src/forensics/forensics.js";
import type { NotedSlowdown } from "../../../src/forensics/speed.js";
import type { JudgedRecord, RequestRecord } from "../../../src/record/request-record.js";
import { applyScrape } from "../../../src/scrape/lifetime.js";
import { openStats, type Stats } from "../../../src/stats/service.js";
import { historyView, statsView, type UpstreamPart } from "../../../src/stats/views.js";
import { upstreamLedger } from "../../../src/store/schema.js";
import type { ActiveRequest } from "../../../src/wire/active-request.js";
import { freshDir, requestRecord, silent } from "../../support/records.js";

/** A frozen record, as the record floor publishes it: a good chat turn unless told otherwise. */
const record = (id: string, over: Partial<RequestRecord> = {}): RequestRecord =>
  Object.freeze({ ...requestRecord(100, 50), id, ...over });

const part = (over: Partial<UpstreamPart> = {}): UpstreamPart => ({
  name: "gpu0",
  url: "http://127.0.0.1:8080",
  status: { state: "online", since: Date.UTC(2026, 4, 12, 9) },
  scrape: { ok: true, at: Date.UTC(2026, 4, 12, 10), slots: [], rates: {} },
  queue: { depth: 0, active: 0, limit: 1, capacity: 1 },
  ledgerKey: "gpu0",
  models: ["m"],
  ...over,
});

const noForensics = { cache: { recentMisses: [], conversationCount: 0 }, speed: { recent: [] } };

const view = (stats: Stats, parts: [UpstreamPart, ...UpstreamPart[]] = [part()]) =>
  statsView(stats, parts, noForensics);

async function statsWith(...records: RequestRecord[]): Promise<Stats> {
  const stats = await openStats(freshDir(), silent);
  for (const r of records) stats.recorded(r);
  return stats;
}

afterEach(() => {
  vi.useRealTimers();
});

describe("statsView: the recent requests", () => {
  it("lists model work and background calls, newest first and at most 50; health checks and the like never", async () => {
    const stats = await statsWith();
    const all: string[] = [];
    const listed: string[] = [];
    const add = (r: RequestRecord) => {
      stats.recorded(r);
      all.push(r.id);
      if (r.operation) listed.push(r.id);
    };
    for (let i = 0; i < 60; i++) {
      add(record(`chat${i}`));
      if (i % 10 === 0) add(record(`health${i}`, { route: "/health", operation: undefined }));
    }
    add(record("title", { background: "title", backgroundPolicy: "forward" }));
    add(record("count", { route: "/v1/messages/count_tokens", operation: undefined }));
    const rows = view(stats).recent;
    expect(rows.map((r) => r.id)).toEqual(listed.slice(-50).reverse());
    expect(rows[0]?.id).toBe("title");
    // The list keeps the last 100 of every kind, oldest first; the view shows model work out of them.
    for (let i = 0; i < 60; i++) add(record(`more${i}`));
    expect(stats.recent.map((r) => r.id)).toEqual(all.slice(-100));
  });

  it("shows a judged request's verdicts in its own row, in its place; a judgement with none leaves the row as it was", async () => {
    const a = record("a");
    const b = record("b", { session: "s1" });
    const c = record("c");
    const stats = await statsWith(a, b, c);
    const judged: JudgedRecord = {
      record: b,
      upstream: "gpu0",
      cache: {
        expectedTokens: 900,
        lostTokens: 800,
        cause: "billing_header",
        location: "system[0]",
        lostPrefillMs: 40,
      },
      speed: { cause: "deeper_context", detail: "context 2k -> 30k", usualTps: 80 },
    };
    stats.judged(judged);
    stats.judged({ record: a, upstream: "gpu0" });
    const rows = view(stats).recent;
    expect(rows.map((r) => r.id)).toEqual(["c", "b", "a"]);
    expect(rows[0]).toBe(c);
    expect(rows[2]).toBe(a);
    expect(rows[1]).toEqual({
      ...b,
      cacheExpectedTokens: 900,
      cacheLostTokens: 800,
      missCause: "billing_header",
      missLocation: "system[0]",
      slowdownCause: "deeper_context",
      slowdownDetail: "context 2k -> 30k",
      usualTps: 80,
    });
    expect(stats.recent).toHaveLength(3);
  });

  it("ignores the judgement of a request no longer listed, or never listed", async () => {
    const first = record("first");
    const stats = await statsWith(first);
    for (let i = 0; i < 100; i++) stats.recorded(record(`r${i}`));
    const before = [...stats.recent];
    expect(before.map((r) => r.id)).not.toContain("first");
    const verdict = { upstream: "gpu0", cache: { expectedTokens: 10, lostTokens: 10, cause: "unknown" as const } };
    stats.judged({ record: first, ...verdict });
    stats.judged({ record: record("stranger"), ...verdict });
    expect(stats.recent).toHaveLength(before.length);
    expect(stats.recent.every((r, i) => r === before[i])).toBe(true);
    expect(view(stats).recent.some((r) => "missCause" in r)).toBe(false);
  });
});

describe("statsView: totals", () => {
  it("sums model work by client and by model; failed and aborted calls counted as such, the rest never", async () => {
    const stats = await statsWith(
      record("1", { client: "claude-code", modelLabel: "m", prefillTokens: 100, cachedTokens: 900, outputTokens: 10 }),
      record("2", { client: "claude-code", modelLabel: "n", prefillTokens: 50, cachedTokens: 0, outputTokens: 5 }),
      record("3", { client: "other", modelLabel: "m", outcome: "upstream_error", prefillTokens: 7, cachedTokens: 3 }),
      record("4", { client: "other", modelLabel: "m", outcome: "client_abort", prefillTokens: 1, outputTokens: 0 }),
      // Not model work: in the ledger by route, never in these totals or their names.
      record("5", { client: "cline", modelLabel: "x", route: "/health", operation: undefined }),
      // A background call: counted apart.
      record("6", { client: "cursor", background: "haiku", backgroundPolicy: "forward", prefillTokens: 1000 }),
    );
    const { sidecar } = view(stats);
    const all = { requests: 4, errors: 1, aborts: 1, prompt: 158, cached: 1803, generated: 25 };
    // Record 4's cached tokens are the helper's 900; record 3 has no output of its own: the helper's 10.
    expect(sidecar.totals).toEqual(all);
    expect(sidecar.cacheReuse).toBeCloseTo(all.cached / (all.prompt + all.cached), 12);
    expect(Object.keys(sidecar.byClient).sort()).toEqual(["claude-code", "other"]);
    expect(sidecar.byClient["claude-code"]).toEqual({
      requests: 2,
      errors: 0,
      aborts: 0,
      prompt: 150,
      cached: 900,
      generated: 15,
    });
    expect(sidecar.byClient.other).toEqual({
      requests: 2,
      errors: 1,
      aborts: 1,
      prompt: 8,
      cached: 903,
      generated: 10,
    });
    expect(Object.keys(sidecar.byModel).sort()).toEqual(["m", "n"]);
    expect(sidecar.byModel.m).toMatchObject({ requests: 3, prompt: 108, cached: 1803 });
    expect(sidecar.byModel.n).toMatchObject({ requests: 1, prompt: 50, cached: 0 });
    expect(view(stats).summary).toMatch(/ · 4 requests since /);
  });

  it("counts background calls by class, apart from model work: answered here or sent on", async () => {
    const stats = await statsWith(
      record("t1", { background: "title", backgroundPolicy: "local", outcome: "local" }),
      record("t2", { background: "title", backgroundPolicy: "local", outcome: "local" }),
      record("t3", { background: "title", backgroundPolicy: "forward" }),
      record("h1", { background: "haiku", backgroundPolicy: "route" }),
      record("chat"),
    );
    const v = view(stats);
    expect(v.background).toEqual({
      total: 4,
      local: 2,
      byClass: { title: { local: 2, forwarded: 1 }, haiku: { local: 0, forwarded: 1 } },
    });
    expect(v.sidecar.totals.requests).toBe(1);
  });

  it("has nothing to show of an empty data dir", async () => {
    const v = view(await statsWith());
    expect(v.sidecar.totals).toEqual({ requests: 0, errors: 0, aborts: 0, prompt: 0, cached: 0, generated: 0 });
    expect(v.sidecar.cacheReuse).toBeNull();
    expect(v.sidecar.byClient).toEqual({});
    expect(v.recent).toEqual([]);
    expect(v.live).toMatchObject({
      generationTps: null,
      prefillTps: null,
      ttft: { lastMs: null, p50Ms: null, p95Ms: null, window: 0 },
      cacheReuse: { last: null, rolling: null, window: 0 },
      prefillSavedMs: null,
      queue: { lastWaitMs: null },
    });
    expect(v.store).toMatchObject({ writable: true, unsavedRequests: 0, error: null });
  });
});

describe("statsView: the live numbers", () => {
  it("takes TTFT percentiles and cache reuse over the recent good model work, not failures or background calls", async () => {
    const ttfts = [400, 100, 500, 200, 300];
    const good = ttfts.map((t, i) =>
      record(`g${i}`, { ttftMs: t, prefillTokens: 10 * (i + 1), cachedTokens: 90 * i, decodeTps: 40 + i }),
    );
    const stats = await statsWith(
      ...good,
      record("failed", { outcome: "upstream_error", ttftMs: 90_000, prefillTokens: 5000, cachedTokens: 0 }),
      record("bg", { background: "title", backgroundPolicy: "forward", ttftMs: 1, cachedTokens: 0 }),
    );
    const { live } = view(stats);
    // Nearest rank over [100, 200, 300, 400, 500]: the 3rd for p50, the 5th for p95.
    expect(live.ttft).toEqual({ lastMs: 300, p50Ms: 300, p95Ms: 500, window: 5 });
    const prompt = good.reduce((a, r) => a + (r.prefillTokens ?? 0) + (r.cachedTokens ?? 0), 0);
    const cached = good.reduce((a, r) => a + (r.cachedTokens ?? 0), 0);
    expect(live.cacheReuse).toEqual({ last: 360 / (50 + 360), rolling: cached / prompt, window: 5 });
    // No scrape has measured speeds: the last good request's.
    expect(live.generationTps).toBe(44);
  });

  it("prefers the scrape's speeds, prices the cache at llama-server's lifetime prefill speed, and sums the queues", async () => {
    const stats = await statsWith(
      record("a", { queueWaitMs: 120, prefillTps: 900, cachedTokens: 2000 }),
      record("b", { queueWaitMs: 30, prefillTps: 1500, cachedTokens: 1000 }),
      record("c", { route: "/v1/models", operation: undefined }),
    );
    const scrape = { ok: true, slots: [], rates: { generationTps: 61, prefillTps: 1800 } };
    const gpu0 = part({ scrape, queue: { depth: 2, active: 1, limit: 1, capacity: 3 } });
    const gpu1 = part({ name: "gpu1", ledgerKey: "gpu1", queue: { depth: 1, active: 2, limit: 2, capacity: 4 } });
    let { live } = view(stats, [gpu0, gpu1]);
    expect(live.generationTps).toBe(61);
    expect(live.prefillTps).toBe(1800);
    expect(live.queue).toEqual({ depth: 3, active: 3, limit: 3, capacity: 7, lastWaitMs: 30 });
    // No lifetime counters yet: the last request's own prefill speed prices what the cache saved.
    expect(live.prefillSavedMs).toBe((3000 / 1500) * 1000);
    applyScrape(upstreamLedger(stats.doc, "gpu0"), {
      incarnation: "1",
      counters: { prompt_tokens_total: 4000, prompt_seconds_total: 2 },
      at: 1,
    });
    ({ live } = view(stats, [gpu0, gpu1]));
    expect(live.prefillSavedMs).toBe((3000 / (4000 / 2)) * 1000);
  });
});

describe("statsView: upstreams and forensics", () => {
  it("shows each upstream's state, slots, scrape and lifetime across restarts; the primary also as `upstream`", async () => {
    const stats = await statsWith();
    const ledger = upstreamLedger(stats.doc, "gpu0");
    const restartAt = Date.UTC(2026, 4, 12, 11);
    applyScrape(ledger, {
      incarnation: "1",
      counters: { prompt_tokens_total: 300, tokens_predicted_total: 40 },
      at: 1,
    });
    applyScrape(ledger, {
      incarnation: "2",
      counters: { prompt_tokens_total: 20, tokens_predicted_total: 5, prompt_tokens_cached_total: 7 },
      at: restartAt,
    });
    const slots = [{ id: 0, nCtx: 4096, used: 120, processing: true }];
    const gpu0 = part({
      status: {
        state: "online",
        since: Date.UTC(2026, 4, 12, 9),
        props: { model: "m.gguf", nCtx: 4096, totalSlots: 1 },
      },
      scrape: { ok: true, at: Date.UTC(2026, 4, 12, 10), slots, rates: { generationTps: 33 }, newFormat: true },
    });
    const router = part({
      name: "box",
      model: "q",
      ledgerKey: "box/q",
      url: "http://10.0.0.2:8080",
      status: { state: "unreachable", since: Date.UTC(2026, 4, 12, 8), detail: "ECONNREFUSED" },
      scrape: { ok: false, error: "ECONNREFUSED", slots: [], rates: {} },
      queue: { depth: 0, active: 0, limit: 2, capacity: 2 },
      models: ["q", "q-alias"],
    });
    const v = view(stats, [gpu0, router]);
    expect(v.upstream).toEqual({
      url: "http://127.0.0.1:8080",
      state: "online",
      stateSince: "2026-05-12T09:00:00.000Z",
      detail: null,
      model: "m.gguf",
      modelState: null,
      totalSlots: 1,
      nCtx: 4096,
      slots,
      restarts: { count: 1, last: new Date(restartAt).toISOString(), recent: [new Date(restartAt).toISOString()] },
      lifetime: {
        promptTokens: 320,
        cachedTokens: 7,
        generatedTokens: 45,
        promptSeconds: 0,
        generationSeconds: 0,
        counters: { prompt_tokens_total: 320, tokens_predicted_total: 45, prompt_tokens_cached_total: 7 },
      },
      rates: { generationTps: 33 },
      scrape: { ok: true, at: "2026-05-12T10:00:00.000Z", error: null, newFormat: true },
    });
    expect(v.upstreams[0]).toEqual({
      name: "gpu0",
      routerModel: null,
      models: ["m"],
      queue: gpu0.queue,
      ...v.upstream,
    });
    expect(v.upstreams[1]).toMatchObject({
      name: "box",
      routerModel: "q",
      models: ["q", "q-alias"],
      state: "unreachable",
      detail: "ECONNREFUSED",
      restarts: { count: 0, last: null, recent: [] },
      // An upstream never scraped: no lifetime, and no cached counter known.
      lifetime: { promptTokens: 0, cachedTokens: null, generatedTokens: 0, counters: {} },
      scrape: { ok: false, at: null, error: "ECONNREFUSED", newFormat: null },
    });
    // Only the primary's scrape feeds the live speeds.
    expect(v.live.generationTps).toBe(33);
  });

  it("lists cache misses and slowdowns newest first, and the requests in flight as given", async () => {
    const miss = (at: number, cause: Miss["cause"]): Miss => ({
      at,
      conversation: "c1",
      cause,
      expectedTokens: 1000,
      lostTokens: 900,
    });
    const slow = (at: number): NotedSlowdown => ({
      at,
      model: "m",
      cause: "more_decoding",
      detail: "2 decoding",
      tps: 10,
      usualTps: 40,
    });
    const active: ActiveRequest[] = [
      { route: "/v1/messages", client: "claude-code", phase: "prefilling", elapsedMs: 1200, generated: 0 },
    ];
    const forensics = {
      cache: { recentMisses: [miss(1, "tools_changed"), miss(2, "billing_header")], conversationCount: 3 },
      speed: { recent: [slow(5), slow(6)] },
    };
    const v = statsView(await statsWith(), [part()], forensics, active);
    expect(v.cache).toEqual({ misses: [miss(2, "billing_header"), miss(1, "tools_changed")], conversations: 3 });
    expect(v.slowdowns.map((s) => s.at)).toEqual([6, 5]);
    expect(v.active).toBe(active);
    // The forensics' own lists are left in their order.
    expect(forensics.cache.recentMisses.map((m) => m.at)).toEqual([1, 2]);
  });
});

describe("historyView", () => {
  it("charts model work by minute and by hour: counts, tokens, cache reuse and the bucket of the median TTFT", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const stats = await statsWith();
    vi.setSystemTime(Date.UTC(2026, 4, 12, 10, 30, 15));
    stats.recorded(record("a", { ttftMs: 80, prefillTokens: 100, cachedTokens: 300, outputTokens: 20 }));
    stats.recorded(record("b", { ttftMs: 90, prefillTokens: 50, cachedTokens: 50, outputTokens: 5 }));
    stats.recorded(record("x", { outcome: "upstream_error", ttftMs: 30_000, prefillTokens: 10, cachedTokens: 0 }));
    // Neither is charted: a background call, and no model work.
    stats.recorded(record("bg", { background: "title", backgroundPolicy: "forward" }));
    stats.recorded(record("h", { route: "/health", operation: undefined }));
    vi.setSystemTime(Date.UTC(2026, 4, 12, 10, 31, 5));
    stats.recorded(record("c", { ttftMs: 2000, prefillTokens: 1000, cachedTokens: 0, outputTokens: 1 }));
    const { minutes, hours } = historyView(stats);
    expect(minutes.map((p) => p.t)).toEqual([Date.UTC(2026, 4, 12, 10, 30), Date.UTC(2026, 4, 12, 10, 31)]);
    expect(minutes[0]).toMatchObject({ requests: 3, errors: 1, prompt: 160, cached: 350, generated: 35 });
    expect(minutes[0]?.cacheReuse).toBeCloseTo(350 / 510, 12);
    // The failure's TTFT is left out: both good ones lie in the (50, 100] ms bucket.
    expect(minutes[0]?.ttftP50Ms).toBeGreaterThan(50);
    expect(minutes[0]?.ttftP50Ms).toBeLessThanOrEqual(100);
    expect(minutes[1]).toMatchObject({ requests: 1, errors: 0, prompt: 1000, cached: 0, cacheReuse: 0 });
    expect(hours).toHaveLength(1);
    expect(hours[0]).toMatchObject({ t: Date.UTC(2026, 4, 12, 10), requests: 4, errors: 1, prompt: 1160, cached: 350 });
    expect(hours[0]?.ttftP95Ms).toBeGreaterThan(1000);
    expect(hours[0]?.ttftP95Ms).toBeLessThanOrEqual(2500);
  });

  it("is empty before any request", async () => {
    expect(historyView(await statsWith())).toEqual({ minutes: [], hours: [] });
  });
});
