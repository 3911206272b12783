// UpstreamScraper against recorded llama-server answers: its view, rates from counter deltas, restarts, its ledger.
import { pino } from "pino";
import { afterEach, describe, expect, it, vi } from "vitest";
import { lifetimeCounters } from "../../../src/scrape/lifetime.js";
import { type ScrapePaths, UpstreamScraper } from "../../../src/scrape/scraper.js";
import { openStats, type Stats } from "../../../src/stats/service.js";
import { createUpstream, type Upstream } from "../../../src/upstream/client.js";
import { UpstreamMonitor } from "../../../src/upstream/monitor.js";
import { type Answer, type AnsweringServer, answeringServer } from "../../support/answering-server.js";
import { fixture } from "../../support/fake-llama.js";
import { freshDir, silent } from "../../support/records.js";
import { until } from "../../support/until.js";

const METRICS = fixture("get-metrics");
const SLOTS = fixture("get-slots");
const START = METRICS.headers["process-start-time-unix"] as string;

/** A counter's or gauge's value in the recorded /metrics text. */
function recorded(name: string): number {
  const line = new RegExp(`^llamacpp:${name} (\\S+)$`, "m").exec(METRICS.body);
  if (!line) throw new Error(`no ${name} in the recording`);
  return Number(line[1]);
}

/** The recorded /metrics text with some samples given other values. */
function metricsWith(values: Record<string, number | string>): string {
  let text = METRICS.body;
  for (const [name, v] of Object.entries(values)) {
    recorded(name);
    text = text.replace(new RegExp(`^llamacpp:${name} .*$`, "m"), `llamacpp:${name} ${v}`);
  }
  return text;
}

/** /metrics as llama-server sends it: the recording with these values, under this start time (null: an older build). */
const metrics = (values: Record<string, number | string> = {}, start: string | null = START): Answer => ({
  body: metricsWith(values),
  headers: start === null ? {} : { "process-start-time-unix": start },
});

interface Llama {
  server: AnsweringServer;
  upstream: Upstream;
  monitor: UpstreamMonitor;
  stats: Stats;
  scraper: UpstreamScraper;
  /** What the fake answers now; `gate`, while set, holds every /metrics answer until it resolves. */
  answers: { metrics: Answer; slots: Answer; health: number; gate?: Promise<void> };
  invalid: [field: string, where: string][];
  warnings: { msg: string; restarts?: number }[];
}

const open: Llama[] = [];
afterEach(async () => {
  for (const l of open.splice(0)) {
    await l.scraper.stop();
    l.monitor.stop();
    await l.upstream.close();
    await l.server.close();
  }
});

async function llama(
  opts: { paths?: ScrapePaths; ready?: () => boolean; ledgerKey?: string; intervalMs?: number } = {},
): Promise<Llama> {
  const answers: Llama["answers"] = {
    metrics: metrics(),
    slots: { body: SLOTS.body, headers: { "content-type": "application/json" } },
    health: 200,
  };
  const server = await answeringServer(async (req) => {
    const path = req.path.split("?")[0];
    if (path === "/metrics") {
      await answers.gate;
      return answers.metrics;
    }
    if (path === "/slots") return answers.slots;
    if (path === "/health") return { status: answers.health, body: { status: answers.health === 200 ? "ok" : "x" } };
    return { status: 404, body: { error: { code: 404, message: "File Not Found", type: "not_found_error" } } };
  });
  const upstream = createUpstream(server.url, 10);
  const monitor = new UpstreamMonitor(upstream, 60_000);
  const stats = await openStats(freshDir(), silent);
  const invalid: Llama["invalid"] = [];
  const warnings: Llama["warnings"] = [];
  const logger = pino({ level: "warn" }, { write: (line: string) => void warnings.push(JSON.parse(line)) });
  const scraper = new UpstreamScraper(upstream, stats.store, monitor, {
    intervalMs: opts.intervalMs ?? 60_000,
    logger,
    reportInvalid: (field, where) => invalid.push([field, where]),
    ledgerKey: opts.ledgerKey ?? "default",
    paths: opts.paths,
    ready: opts.ready,
  });
  const l = { server, upstream, monitor, stats, scraper, answers, invalid, warnings };
  open.push(l);
  return l;
}

const gate = () => {
  let release = () => {};
  const held = new Promise<void>((r) => {
    release = r;
  });
  return { held, release };
};

describe("UpstreamScraper: one scrape", () => {
  it("reads the recorded /metrics and /slots into its view, and banks the counters in its ledger", async () => {
    const { scraper, server } = await llama();
    const heard: unknown[] = [];
    scraper.on("scraped", (v) => heard.push(v));
    expect(scraper.view.ok).toBe(false);
    const before = Date.now();
    await scraper.scrape();
    const view = scraper.view;
    expect(view.ok).toBe(true);
    expect(view.at).toBeGreaterThanOrEqual(before);
    expect(view.at).toBeLessThanOrEqual(Date.now());
    expect(view.newFormat).toBe(true);
    expect(view.error).toBeUndefined();
    for (const name of ["prompt_tokens_total", "prompt_tokens_cached_total", "tokens_predicted_seconds_total"])
      expect(view.metrics?.counters[name]).toBe(recorded(name));
    // A high-water mark, not a running sum: kept with the gauges.
    expect(view.metrics?.counters.n_tokens_max).toBeUndefined();
    expect(view.metrics?.gauges.n_tokens_max).toBe(recorded("n_tokens_max"));
    expect(view.metrics?.gauges.requests_processing).toBe(recorded("requests_processing"));
    const slot = (JSON.parse(SLOTS.body) as { id: number; n_ctx: number; n_prompt_tokens: number }[])[0];
    expect(view.slots).toEqual([
      {
        id: slot?.id,
        nCtx: slot?.n_ctx,
        used: slot?.n_prompt_tokens,
        processing: false,
        cachedAfter: slot?.n_prompt_tokens,
      },
    ]);
    // A first scrape has nothing to measure a rate against.
    expect(view.rates).toEqual({});
    expect(heard).toEqual([view]);
    expect(scraper.ledger).toMatchObject({ incarnation: START, restartCount: 0, lastScrapeAt: view.at, base: {} });
    expect(scraper.ledger.last).toEqual(view.metrics?.counters);
    expect(server.asked.map((a) => a.path)).toEqual(["/metrics", "/slots"]);
    for (const a of server.asked) expect(a.headers["user-agent"]).toMatch(/^llama-sidecar\//);
  });

  it("takes an older build's /metrics (no start-time header) as good, and says so", async () => {
    const l = await llama();
    l.answers.metrics = metrics({}, null);
    await l.scraper.scrape();
    expect(l.scraper.view).toMatchObject({ ok: true, newFormat: false });
    expect(l.scraper.ledger.incarnation).toBeNull();
  });

  it("keeps a scrape good with no slots when /slots fails", async () => {
    const l = await llama();
    l.answers.slots = { status: 501, body: { error: { message: "This server does not support slots endpoint." } } };
    await l.scraper.scrape();
    expect(l.scraper.view).toMatchObject({ ok: true, slots: [] });
    l.answers.slots = { body: "not json" };
    await l.scraper.scrape();
    expect(l.scraper.view).toMatchObject({ ok: true, slots: [] });
  });

  it("on an answer that is no scrape, says why and keeps the last good numbers; the ledger is untouched", async () => {
    const l = await llama();
    await l.scraper.scrape();
    const good = l.scraper.view;
    const ledger = structuredClone(l.scraper.ledger);
    const cases: [Answer, string][] = [
      [{ status: 501, body: "metrics disabled" }, "/metrics answered HTTP 501 (start llama-server with --metrics)"],
      [{ status: 404, body: "nope" }, "/metrics answered HTTP 404 (start llama-server with --metrics)"],
      [{ status: 500, body: "boom" }, "/metrics answered HTTP 500"],
    ];
    for (const [answer, error] of cases) {
      l.answers.metrics = answer;
      await l.scraper.scrape();
      expect(l.scraper.view).toEqual({ ...good, ok: false, error });
    }
    l.answers.metrics = { body: '# TYPE llamacpp:prompt_tokens_total counter\nllamacpp:prompt_tokens_total{a="1" 3\n' };
    await l.scraper.scrape();
    expect(l.scraper.view).toMatchObject({ ok: false, metrics: good.metrics, slots: good.slots });
    expect(l.scraper.view.error).toMatch(/^\/metrics is not Prometheus text: /);
    expect(l.scraper.ledger).toEqual(ledger);
  });

  it("says what kept it from a llama-server it cannot reach", async () => {
    const l = await llama();
    await l.server.close();
    await l.scraper.scrape();
    expect(l.scraper.view).toEqual({ ok: false, error: "ECONNREFUSED", slots: [], rates: {} });
    expect(l.stats.doc.upstreams).toEqual({});
  });

  it("reports a bad sample and leaves it out; the ledger keeps that counter's last good value", async () => {
    const l = await llama();
    await l.scraper.scrape();
    const lifetime = lifetimeCounters(l.scraper.ledger);
    l.answers.metrics = metrics({ tokens_predicted_total: -5, prompt_tokens_total: "NaN" });
    await l.scraper.scrape();
    expect(l.scraper.view.ok).toBe(true);
    expect(l.scraper.view.metrics?.counters).not.toHaveProperty("tokens_predicted_total");
    expect(l.scraper.view.metrics?.counters).not.toHaveProperty("prompt_tokens_total");
    expect(l.invalid).toEqual([
      ["metrics.prompt_tokens_total", "/metrics"],
      ["metrics.tokens_predicted_total", "/metrics"],
    ]);
    expect(lifetimeCounters(l.scraper.ledger)).toEqual(lifetime);
    expect(l.scraper.ledger.restartCount).toBe(0);
  });

  it("scrapes nothing while not ready: the view and ledger stay as they were", async () => {
    let ready = false;
    const l = await llama({ ready: () => ready });
    await l.scraper.scrape();
    expect(l.server.asked).toEqual([]);
    expect(l.scraper.view).toEqual({ ok: false, slots: [], rates: {} });
    expect(l.stats.doc.upstreams).toEqual({});
    ready = true;
    await l.scraper.scrape();
    expect(l.scraper.view.ok).toBe(true);
  });

  it("scrapes the paths it is given into its own ledger, and saves that ledger soon", async () => {
    const paths = { metrics: "/metrics?model=m&autoload=false", slots: "/slots?model=m" };
    const l = await llama({ paths, ledgerKey: "gpu0/m", intervalMs: 50 });
    await l.scraper.scrape();
    expect(l.server.asked.map((a) => a.path)).toEqual([paths.metrics, paths.slots]);
    expect(Object.keys(l.stats.doc.upstreams)).toEqual(["gpu0/m"]);
    expect(l.scraper.ledger).toBe(l.stats.doc.upstreams["gpu0/m"]);
    await until("the ledger on disk", () => l.stats.savedUpstream("gpu0/m").lastScrapeAt === l.scraper.view.at);
    expect(l.stats.savedLifetime("gpu0/m")).toEqual(l.scraper.view.metrics?.counters);
  });
});

describe("UpstreamScraper: rates and restarts", () => {
  it("measures speeds from counter deltas, and keeps the last measured one between bursts", async () => {
    const l = await llama();
    const base = {
      tokens_predicted_total: 1000,
      tokens_predicted_seconds_total: 10,
      prompt_tokens_total: 5000,
      prompt_seconds_total: 2,
      spec_decode_num_draft_tokens_total: 100,
      spec_decode_num_accepted_tokens_total: 60,
    };
    l.answers.metrics = metrics(base);
    await l.scraper.scrape();
    expect(l.scraper.view.rates).toEqual({});
    l.answers.metrics = metrics({
      tokens_predicted_total: 1200,
      tokens_predicted_seconds_total: 14,
      prompt_tokens_total: 9000,
      prompt_seconds_total: 3,
      spec_decode_num_draft_tokens_total: 140,
      spec_decode_num_accepted_tokens_total: 90,
    });
    await l.scraper.scrape();
    expect(l.scraper.view.rates).toEqual({ generationTps: 200 / 4, prefillTps: 4000 / 1, specAcceptance: 30 / 40 });
    const measured = l.scraper.view.rates;
    // Nothing happened since: no speed is measured, and none drops to 0 (that would read as stalled).
    await l.scraper.scrape();
    expect(l.scraper.view.rates).toEqual(measured);
    // Only generation moved: prefill keeps its last speed.
    l.answers.metrics = metrics({
      tokens_predicted_total: 1300,
      tokens_predicted_seconds_total: 15,
      prompt_tokens_total: 9000,
      prompt_seconds_total: 3,
      spec_decode_num_draft_tokens_total: 140,
      spec_decode_num_accepted_tokens_total: 90,
    });
    await l.scraper.scrape();
    expect(l.scraper.view.rates).toEqual({ ...measured, generationTps: 100 / 1 });
  });

  it("takes a new start-time header for a restart: banks the last counters, the lifetime carries on, rates start again", async () => {
    const l = await llama();
    l.answers.metrics = metrics({ tokens_predicted_total: 500, tokens_predicted_seconds_total: 5 });
    await l.scraper.scrape();
    l.answers.metrics = metrics({ tokens_predicted_total: 600, tokens_predicted_seconds_total: 6 });
    await l.scraper.scrape();
    expect(l.scraper.view.rates.generationTps).toBe(100);
    const before = l.scraper.view.metrics?.counters ?? {};
    const restartedAt = Date.now();
    l.answers.metrics = metrics(
      { tokens_predicted_total: 40, tokens_predicted_seconds_total: 1 },
      String(Number(START) + 60),
    );
    await l.scraper.scrape();
    const ledger = l.scraper.ledger;
    expect(ledger.restartCount).toBe(1);
    expect(ledger.restarts).toHaveLength(1);
    expect(ledger.restarts[0]).toBeGreaterThanOrEqual(restartedAt);
    expect(ledger.incarnation).toBe(String(Number(START) + 60));
    expect(ledger.base).toEqual(before);
    expect(lifetimeCounters(ledger).tokens_predicted_total).toBe(640);
    // No rate across two processes' counters.
    expect(l.scraper.view.rates).toEqual({});
    expect(l.warnings).toEqual([expect.objectContaining({ restarts: 1, msg: expect.stringContaining("restarted") })]);
    l.answers.metrics = metrics(
      { tokens_predicted_total: 90, tokens_predicted_seconds_total: 2 },
      String(Number(START) + 60),
    );
    await l.scraper.scrape();
    expect(l.scraper.view.rates.generationTps).toBe(50);
    expect(lifetimeCounters(l.scraper.ledger).tokens_predicted_total).toBe(690);
    expect(l.scraper.ledger.restartCount).toBe(1);
  });

  it("without the header, takes a counter going down for a restart, and counters going up for none", async () => {
    const l = await llama();
    l.answers.metrics = metrics({ prompt_tokens_total: 300, n_decode_total: 50 }, null);
    await l.scraper.scrape();
    l.answers.metrics = metrics({ prompt_tokens_total: 400, n_decode_total: 60 }, null);
    await l.scraper.scrape();
    expect(l.scraper.ledger.restartCount).toBe(0);
    expect(lifetimeCounters(l.scraper.ledger)).toMatchObject({ prompt_tokens_total: 400, n_decode_total: 60 });
    l.answers.metrics = metrics({ prompt_tokens_total: 10, n_decode_total: 70 }, null);
    await l.scraper.scrape();
    expect(l.scraper.ledger.restartCount).toBe(1);
    expect(lifetimeCounters(l.scraper.ledger)).toMatchObject({ prompt_tokens_total: 410, n_decode_total: 130 });
    expect(l.invalid).toEqual([]);
  });

  it("counts a restart the monitor saw (llama-server loading its model) though no counter went down, and scrapes once it is back", async () => {
    const l = await llama();
    l.answers.metrics = metrics({ tokens_predicted_total: 100 }, null);
    await l.scraper.scrape();
    l.answers.health = 503;
    expect((await l.monitor.check()).state).toBe("loading");
    // More tokens than before: only the monitor can tell this is another process.
    l.answers.metrics = metrics({ tokens_predicted_total: 150 }, null);
    l.answers.health = 200;
    expect((await l.monitor.check()).state).toBe("online");
    // Online again sets off a scrape of its own.
    await until("the scrape after the restart", () => l.scraper.view.metrics?.counters.tokens_predicted_total === 150);
    expect(l.scraper.ledger.restartCount).toBe(1);
    expect(lifetimeCounters(l.scraper.ledger).tokens_predicted_total).toBe(250);
    // Only once: the next scrape is the same process.
    l.answers.metrics = metrics({ tokens_predicted_total: 160 }, null);
    await l.scraper.scrape();
    expect(l.scraper.ledger.restartCount).toBe(1);
    expect(lifetimeCounters(l.scraper.ledger).tokens_predicted_total).toBe(260);
  });

  it("takes a counter going down under the same start time for a fault: reported, and the lifetime never goes down", async () => {
    const l = await llama();
    l.answers.metrics = metrics({ prompt_tokens_total: 900 });
    await l.scraper.scrape();
    l.answers.metrics = metrics({ prompt_tokens_total: 100 });
    await l.scraper.scrape();
    expect(l.scraper.ledger.restartCount).toBe(0);
    expect(lifetimeCounters(l.scraper.ledger).prompt_tokens_total).toBe(900);
    expect(l.invalid).toEqual([["metrics.prompt_tokens_total", "/metrics (a counter went down without a restart)"]]);
    l.answers.metrics = metrics({ prompt_tokens_total: 950 });
    await l.scraper.scrape();
    expect(lifetimeCounters(l.scraper.ledger).prompt_tokens_total).toBe(950);
  });

  // A sample left out as invalid once read as 0 in the next scrape's rates, which then counted the counter's whole
  // value as made in one interval; the ledger keeps the last good value, and so do the rates.
  it("measures the speed after a scrape with a bad sample against the last good value, not against 0", async () => {
    const l = await llama();
    l.answers.metrics = metrics({ tokens_predicted_total: 100_000, tokens_predicted_seconds_total: 1000 });
    await l.scraper.scrape();
    l.answers.metrics = metrics({ tokens_predicted_total: "NaN", tokens_predicted_seconds_total: 1001 });
    await l.scraper.scrape();
    l.answers.metrics = metrics({ tokens_predicted_total: 100_100, tokens_predicted_seconds_total: 1002 });
    await l.scraper.scrape();
    expect(l.scraper.view.rates.generationTps).toBe(50);
  });
  // A 200 answer to /metrics with no samples in it (a login or error page from something in front of llama-server)
  // once passed as a good scrape: read as another incarnation, the counters were banked and later counted twice,
  // with a restart that never happened.
  it("takes a 200 /metrics answer with no samples for a failed scrape, not a restart", async () => {
    const l = await llama();
    await l.scraper.scrape();
    l.answers.metrics = { body: "<html><body><h1>Sign in</h1></body></html>" };
    await l.scraper.scrape();
    l.answers.metrics = metrics({ prompt_tokens_total: recorded("prompt_tokens_total") + 10 });
    await l.scraper.scrape();
    expect(l.scraper.ledger.restartCount).toBe(0);
    expect(lifetimeCounters(l.scraper.ledger).prompt_tokens_total).toBe(recorded("prompt_tokens_total") + 10);
  });
});

describe("UpstreamScraper: scheduling", () => {
  it("shares one scrape among concurrent callers", async () => {
    const l = await llama();
    const { held, release } = gate();
    l.answers.gate = held;
    const first = l.scraper.scrape();
    await until("the held /metrics call", () => l.server.askedAt("/metrics").length === 1);
    expect(l.scraper.scrape()).toBe(first);
    release();
    await first;
    expect(l.server.askedAt("/metrics")).toHaveLength(1);
    expect(l.scraper.view.ok).toBe(true);
  });

  it("answers nextView() callers with one scrape that starts after they asked, one asking during a scrape with the next", async () => {
    const l = await llama();
    const views = await Promise.all([l.scraper.nextView(), l.scraper.nextView(), l.scraper.nextView()]);
    expect(views[0]?.ok).toBe(true);
    expect(views[1]).toBe(views[0]);
    expect(views[2]).toBe(views[0]);
    expect(l.server.askedAt("/metrics")).toHaveLength(1);

    const { held, release } = gate();
    l.answers.gate = held;
    const running = l.scraper.scrape();
    await until("the held /metrics call", () => l.server.askedAt("/metrics").length === 2);
    // Asked while a scrape runs: that scrape read llama-server before the question, so the answer is the next one.
    const next = l.scraper.nextView();
    l.answers.gate = undefined;
    l.answers.metrics = metrics({ tokens_predicted_total: recorded("tokens_predicted_total") + 7 });
    const releasedAt = Date.now();
    release();
    await running;
    const view = await next;
    expect(l.server.askedAt("/metrics")).toHaveLength(3);
    expect(view?.at).toBeGreaterThanOrEqual(releasedAt);
    expect(view?.metrics?.counters.tokens_predicted_total).toBe(recorded("tokens_predicted_total") + 7);
  });

  it("answers nextView() with nothing when the scrape fails, or once stopped", async () => {
    const l = await llama();
    l.answers.metrics = { status: 500, body: "boom" };
    expect(await l.scraper.nextView()).toBeUndefined();
    const { held, release } = gate();
    l.answers.gate = held;
    l.answers.metrics = metrics();
    const running = l.scraper.scrape();
    await until("the held /metrics call", () => l.server.askedAt("/metrics").length === 2);
    const waiting = l.scraper.nextView();
    const stopped = l.scraper.stop();
    expect(await waiting).toBeUndefined();
    release();
    await Promise.all([running, stopped]);
    expect(await l.scraper.nextView()).toBeUndefined();
  });

  it("folds requestSoon() calls into the one pending, whose delay stands; stop cancels it", async () => {
    const l = await llama();
    const scrape = vi.spyOn(l.scraper, "scrape").mockResolvedValue();
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    try {
      l.scraper.requestSoon();
      l.scraper.requestSoon(0);
      l.scraper.requestSoon(10);
      vi.advanceTimersByTime(249);
      expect(scrape).not.toHaveBeenCalled();
      vi.advanceTimersByTime(1);
      expect(scrape).toHaveBeenCalledTimes(1);
      vi.advanceTimersByTime(1000);
      expect(scrape).toHaveBeenCalledTimes(1);
      // Once it has run, the next call schedules anew.
      l.scraper.requestSoon(5);
      vi.advanceTimersByTime(5);
      expect(scrape).toHaveBeenCalledTimes(2);
      l.scraper.requestSoon(100);
      await l.scraper.stop();
      l.scraper.requestSoon(0);
      vi.advanceTimersByTime(1000);
      expect(scrape).toHaveBeenCalledTimes(2);
    } finally {
      vi.useRealTimers();
    }
  });

  it("polls at once and then every interval after each scrape settles, until stopped", async () => {
    const l = await llama({ intervalMs: 1000 });
    const scrape = vi.spyOn(l.scraper, "scrape").mockResolvedValue();
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    try {
      l.scraper.start();
      expect(scrape).toHaveBeenCalledTimes(1);
      await vi.advanceTimersByTimeAsync(999);
      expect(scrape).toHaveBeenCalledTimes(1);
      await vi.advanceTimersByTimeAsync(1);
      expect(scrape).toHaveBeenCalledTimes(2);
      await vi.advanceTimersByTimeAsync(1000);
      expect(scrape).toHaveBeenCalledTimes(3);
      await l.scraper.stop();
      await vi.advanceTimersByTimeAsync(10_000);
      expect(scrape).toHaveBeenCalledTimes(3);
    } finally {
      vi.useRealTimers();
    }
  });
});
