// The JSON views of the sidecar's statistics: GET /api/stats and GET /api/history, as the dashboard reads them.

import type { QueueNumbers } from "../admission/queue.js";
import type { Miss } from "../forensics/forensics.js";
import type { NotedSlowdown } from "../forensics/speed.js";
import type { GpuReading } from "../gpu/reading.js";
import type { RecordRow } from "../record/request-record.js";
import type { ScrapeView } from "../scrape/scraper.js";
import { decodeKey } from "../store/ledger-keys.js";
import { emptyUpstreamLedger } from "../store/schema.js";
import type { UpstreamStatus } from "../upstream/monitor.js";
import type { ActiveRequest } from "../wire/active-request.js";
import { toPoints } from "./history.js";
import { percentile } from "./percentile.js";
import { isModelWork, type RequestTotals } from "./request-ledger.js";
import type { Stats } from "./service.js";

function byKey(stats: Stats, part: "client" | "model"): Record<string, RequestTotals> {
  const names = new Set(Object.keys(stats.doc.sidecar.tokens).map((k) => decodeKey("tokens", k)[part]));
  for (const k of Object.keys(stats.doc.sidecar.requests)) {
    const key = decodeKey("requests", k);
    if (isModelWork(key.route)) names.add(key[part]);
  }
  return Object.fromEntries([...names].map((n) => [n, stats.totals({ [part]: n })]));
}

/** What the forensics offer the view: why the cache missed, and why generation slowed. */
interface ForensicsView {
  cache: { recentMisses: readonly Miss[]; conversationCount: number };
  speed: { recent: readonly NotedSlowdown[] };
}

const iso = (ms: number | null | undefined) => (ms ? new Date(ms).toISOString() : null);

const reuse = (r: RecordRow) => {
  const total = (r.prefillTokens ?? 0) + (r.cachedTokens ?? 0);
  return total > 0 ? (r.cachedTokens ?? 0) / total : null;
};

/** The numbers a person watches: speeds now, TTFT, cache reuse, queue, from the recent requests and the last scrape. */
function liveView(stats: Stats, scrape: ScrapeView, queue: QueueNumbers) {
  const work = stats.recent.filter((r) => r.operation && !r.background && r.outcome === "ok");
  const last = work.at(-1);
  const ttfts = work.map((r) => r.ttftMs).filter((v): v is number => v !== undefined);
  const prompt = work.reduce((a, r) => a + (r.prefillTokens ?? 0) + (r.cachedTokens ?? 0), 0);
  const cached = work.reduce((a, r) => a + (r.cachedTokens ?? 0), 0);
  const life = stats.lifetime();
  // What the cache saved: every cached token would have been prefilled at llama-server's measured prefill speed.
  const prefillSpeed =
    life.prompt_seconds_total && life.prompt_tokens_total
      ? life.prompt_tokens_total / life.prompt_seconds_total
      : last?.prefillTps;
  const ownCached = stats.totals().cached;
  return {
    generationTps: scrape.rates.generationTps ?? last?.decodeTps ?? null,
    prefillTps: scrape.rates.prefillTps ?? last?.prefillTps ?? null,
    /** Share of the draft model's tokens kept lately (speculative decoding); null without drafting. */
    draftAcceptance: scrape.rates.specAcceptance ?? null,
    ttft: {
      lastMs: ttfts.at(-1) ?? null,
      p50Ms: percentile(ttfts, 0.5) ?? null,
      p95Ms: percentile(ttfts, 0.95) ?? null,
      window: ttfts.length,
    },
    cacheReuse: { last: last ? reuse(last) : null, rolling: prompt > 0 ? cached / prompt : null, window: work.length },
    prefillSavedMs: prefillSpeed && ownCached ? (ownCached / prefillSpeed) * 1000 : null,
    // The last request that queued at all: preflights, model lists and local answers never wait.
    queue: { ...queue, lastWaitMs: stats.recent.findLast((r) => r.queueWaitMs !== undefined)?.queueWaitMs ?? null },
  };
}

function backgroundView(stats: Stats) {
  const byClass: Record<string, { local: number; forwarded: number }> = {};
  let total = 0;
  let local = 0;
  for (const [key, n] of Object.entries(stats.doc.sidecar.background)) {
    const { backgroundClass, policy } = decodeKey("background", key);
    const entry = byClass[backgroundClass] ?? { local: 0, forwarded: 0 };
    if (policy === "local") entry.local += n;
    else entry.forwarded += n;
    byClass[backgroundClass] = entry;
    total += n;
    if (policy === "local") local += n;
  }
  return { total, local, byClass };
}

/** One upstream as the views see it: its name, URL, state, last scrape, queue and ledger. */
export interface UpstreamPart {
  name: string;
  /** The router model this part is, on a llama-server in router mode. */
  model?: string;
  url: string;
  status: UpstreamStatus;
  scrape: ScrapeView;
  queue: QueueNumbers;
  ledgerKey: string;
  /** The models it serves now (names and patterns), where known. */
  models: readonly string[];
}

/** The body of GET /api/stats; `upstreams[0]` is the primary one (the default, or the first configured). */
export function statsView(
  stats: Stats,
  upstreams: readonly [UpstreamPart, ...UpstreamPart[]],
  forensics: ForensicsView,
  active: readonly ActiveRequest[] = [],
  gpus: readonly GpuReading[] = [],
) {
  const own = stats.totals();
  const { cache, speed } = forensics;
  const primary = upstreams[0];
  return {
    since: stats.doc.since,
    summary: stats.summary(),
    /** Whether the data dir takes writes: while it does not, totals stay at what is on disk. */
    store: stats.health(),
    /** The primary upstream (kept for readers from before upstream lists); `upstreams` has them all. */
    upstream: upstreamView(stats, primary),
    upstreams: upstreams.map((u) => ({
      name: u.name,
      routerModel: u.model ?? null,
      models: u.models,
      queue: u.queue,
      ...upstreamView(stats, u),
    })),
    sidecar: {
      totals: own,
      cacheReuse: own.prompt + own.cached > 0 ? own.cached / (own.prompt + own.cached) : null,
      byClient: byKey(stats, "client"),
      byModel: byKey(stats, "model"),
    },
    live: liveView(stats, primary.scrape, sumQueues(upstreams.map((u) => u.queue))),
    /** The GPUs where llama-server runs, as last read (none without a GPU tool). */
    gpus,
    background: backgroundView(stats),
    /** Model requests in flight now, with their phase (GET /api/requests/active has the same). */
    active,
    /** Why turns missed llama-server's cache lately (newest first), and how many conversations are followed. */
    cache: { misses: [...cache.recentMisses].reverse(), conversations: cache.conversationCount },
    /** Requests that generated well below their model's usual speed lately (newest first), and what changed. */
    slowdowns: [...speed.recent].reverse(),
    // Model work and background calls; health checks, /v1/models polls and the like would drown them.
    recent: stats.recent
      .filter((r) => r.operation)
      .slice(-50)
      .reverse(),
  };
}

/** Every upstream's queue as one: what waits and runs across them all. */
function sumQueues(queues: readonly QueueNumbers[]): QueueNumbers {
  return queues.reduce((a, q) => ({
    depth: a.depth + q.depth,
    active: a.active + q.active,
    limit: a.limit + q.limit,
    capacity: a.capacity + q.capacity,
  }));
}

/** An upstream as the sidecar sees it: state, props, slots, restarts and its lifetime totals. */
function upstreamView(stats: Stats, part: UpstreamPart) {
  const { status, scrape } = part;
  const life = stats.lifetime(part.ledgerKey);
  const up = stats.doc.upstreams[part.ledgerKey] ?? emptyUpstreamLedger();
  return {
    url: part.url,
    state: status.state,
    stateSince: iso(status.since),
    detail: status.detail ?? null,
    model: status.props?.model ?? null,
    /** A router model's state: loaded, loading, unloaded (loads on the first request), sleeping or failed. */
    modelState: status.props?.modelState ?? null,
    totalSlots: status.props?.totalSlots ?? null,
    nCtx: status.props?.nCtx ?? null,
    slots: scrape.slots,
    restarts: { count: up.restartCount, last: iso(up.restarts.at(-1)), recent: up.restarts.slice(-10).map(iso) },
    lifetime: {
      promptTokens: life.prompt_tokens_total ?? 0,
      cachedTokens: life.prompt_tokens_cached_total ?? null,
      generatedTokens: life.tokens_predicted_total ?? 0,
      promptSeconds: life.prompt_seconds_total ?? 0,
      generationSeconds: life.tokens_predicted_seconds_total ?? 0,
      counters: life,
    },
    rates: scrape.rates,
    scrape: { ok: scrape.ok, at: iso(scrape.at), error: scrape.error ?? null, newFormat: scrape.newFormat ?? null },
  };
}

/** The body of GET /api/history. */
export function historyView(stats: Stats) {
  return { minutes: toPoints(stats.history.data.minutes), hours: toPoints(stats.history.data.hours) };
}

/** GET /api/stats, as the dashboard (app.js, checked against it) and the API's users read it. */
export type StatsView = ReturnType<typeof statsView>;

/** GET /api/history. */
export type HistoryView = ReturnType<typeof historyView>;
