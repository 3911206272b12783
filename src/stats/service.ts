// The sidecar's persisted statistics: both ledgers, the history, the recent requests, and their JSON views.
import { join } from "node:path";
import type { Logger } from "pino";
import type { RequestRecord } from "../observe/observation.js";
import type { RecordSink } from "../proxy/forward.js";
import { lifetimeCounters } from "../scrape/lifetime.js";
import type { ScrapeView } from "../scrape/scraper.js";
import { JsonStore } from "../store/json-store.js";
import { emptyStats, type StatsDoc, statsSchema } from "../store/schema.js";
import type { UpstreamStatus } from "../upstream/monitor.js";
import { humanCount, shortDate } from "./format.js";
import { emptyHistory, type HistoryDoc, historySchema, recordHistory, toPoints } from "./history.js";
import { addRecord, type RequestTotals, totals } from "./request-ledger.js";

const RECENT = 100;
/** Ledger (b) may lose at most this much on a crash. */
const REQUEST_LEDGER_AT_RISK_MS = 1000;
const HISTORY_AT_RISK_MS = 60_000;

export class Stats {
  readonly recent: RequestRecord[] = [];

  constructor(
    readonly store: JsonStore<StatsDoc>,
    readonly history: JsonStore<HistoryDoc>,
  ) {}

  get doc(): StatsDoc {
    return this.store.data;
  }

  readonly sink: RecordSink = (r) => {
    addRecord(this.doc.sidecar, r);
    recordHistory(this.history.data, r);
    this.recent.push(r);
    if (this.recent.length > RECENT) this.recent.splice(0, this.recent.length - RECENT);
    this.store.markDirty(REQUEST_LEDGER_AT_RISK_MS);
    this.history.markDirty(HISTORY_AT_RISK_MS);
  };

  async flush(): Promise<void> {
    await Promise.all([this.store.flush(), this.history.flush()]);
  }

  lifetime(): Record<string, number> {
    return lifetimeCounters(this.doc.upstream);
  }

  totals(filter?: { client?: string; model?: string }): RequestTotals {
    return totals(this.doc.sidecar, filter);
  }

  /** "244.2K prompt tokens · 19.6K generated · 69 requests since May 12" */
  summary(): string {
    const life = this.lifetime();
    const own = this.totals();
    const prompt = (life.prompt_tokens_total ?? 0) + (life.prompt_tokens_cached_total ?? 0) || own.prompt + own.cached;
    const generated = life.tokens_predicted_total ?? own.generated;
    return `${humanCount(prompt)} prompt tokens · ${humanCount(generated)} generated · ${humanCount(own.requests)} requests since ${shortDate(this.doc.since)}`;
  }
}

export async function openStats(dataDir: string, logger: Logger): Promise<Stats> {
  const store = await JsonStore.open(join(dataDir, "stats.json"), statsSchema, () => emptyStats(new Date()), logger);
  const history = await JsonStore.open(join(dataDir, "history.json"), historySchema, emptyHistory, logger);
  return new Stats(store, history);
}

function byKey(stats: Stats, part: "client" | "model"): Record<string, RequestTotals> {
  const names = new Set(Object.keys(stats.doc.sidecar.tokens).map((k) => k.split("|")[part === "model" ? 0 : 1] ?? ""));
  for (const k of Object.keys(stats.doc.sidecar.requests)) names.add(k.split("|")[part === "model" ? 1 : 2] ?? "");
  return Object.fromEntries([...names].map((n) => [n, stats.totals({ [part]: n })]));
}

const iso = (ms: number | null | undefined) => (ms ? new Date(ms).toISOString() : null);

/** The body of GET /api/stats. */
export function statsView(stats: Stats, status: UpstreamStatus, scrape: ScrapeView, upstreamUrl: string) {
  const life = stats.lifetime();
  const own = stats.totals();
  const up = stats.doc.upstream;
  return {
    since: stats.doc.since,
    summary: stats.summary(),
    upstream: {
      url: upstreamUrl,
      state: status.state,
      stateSince: iso(status.since),
      detail: status.detail ?? null,
      model: status.props?.model ?? null,
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
    },
    sidecar: {
      totals: own,
      cacheReuse: own.prompt + own.cached > 0 ? own.cached / (own.prompt + own.cached) : null,
      byClient: byKey(stats, "client"),
      byModel: byKey(stats, "model"),
    },
    recent: stats.recent.slice(-50).reverse(),
  };
}

/** The body of GET /api/history. */
export function historyView(stats: Stats) {
  return { minutes: toPoints(stats.history.data.minutes), hours: toPoints(stats.history.data.hours) };
}
