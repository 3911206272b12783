// Polls llama-server's /metrics, /slots and /props: the sidecar is its one scraper, so no two scrapers
// reset each other's windowed gauges, and its counters are banked into restart-proof lifetime totals.
import { EventEmitter } from "node:events";
import type { Logger } from "pino";
import { metricsField } from "../observe/upstream-values.js";
import type { JsonStore } from "../store/json-store.js";
import { type StatsDoc, type UpstreamLedger, upstreamLedger } from "../store/schema.js";
import type { ReportInvalid } from "../telemetry/invalid-values.js";
import { callUpstream, type Upstream, type UpstreamReply } from "../upstream/client.js";
import type { UpstreamMonitor } from "../upstream/monitor.js";
import { type Poller, pollEvery } from "../upstream/poll.js";
import { applyScrape } from "./lifetime.js";
import { type LlamaMetrics, parseLlamaMetrics } from "./llama-metrics.js";

export interface SlotView {
  id: number;
  nCtx: number;
  /** Tokens in this slot's context: its last prompt plus what it has generated so far. */
  used: number;
  processing: boolean;
  /** Tokens in the slot's cache once its last task ended (n_prompt_tokens: its prompt and all but the last token). */
  cachedAfter?: number;
}

/** A finished request's token counts, as its timings give them. */
export interface TaskNumbers {
  prefill: number;
  cached: number;
  generated: number;
}

/**
 * The slot whose cache holds what a finished request left, if exactly one: llama-server names the slot only on
 * /completion answers, and clears a slot's task numbers when it releases it, so the sidecar asks /slots right after
 * and matches the tokens left in each idle slot (the prompt and every generated token but the last, which is
 * sampled and never decoded). A slot that took new work since can no longer be told: then none.
 */
export function slotThatServed(slots: readonly SlotView[], r: TaskNumbers): number | undefined {
  const left = r.prefill + r.cached + r.generated;
  const same = slots.filter((s) => !s.processing && (s.cachedAfter === left - 1 || s.cachedAfter === left));
  return same.length === 1 ? same[0]?.id : undefined;
}

export interface Rates {
  /** Generation speed while generating: Δ tokens_predicted_total / Δ tokens_predicted_seconds_total. */
  generationTps?: number;
  /** Prefill speed while prefilling: Δ prompt_tokens_total / Δ prompt_seconds_total. */
  prefillTps?: number;
  /** Share of draft tokens accepted (speculative decoding): Δ accepted / Δ drafted, where llama-server drafts. */
  specAcceptance?: number;
}

export interface ScrapeView {
  ok: boolean;
  at?: number;
  error?: string;
  metrics?: LlamaMetrics;
  slots: SlotView[];
  rates: Rates;
  /** The build sends Process-Start-Time-Unix and prompt_tokens_cached_total. */
  newFormat?: boolean;
}

export function readSlots(text: string): SlotView[] {
  try {
    const raw = JSON.parse(text) as Record<string, unknown>[];
    if (!Array.isArray(raw)) return [];
    return raw.map((s) => {
      const next = (Array.isArray(s.next_token) ? s.next_token[0] : undefined) as { n_decoded?: number } | undefined;
      const prompt = typeof s.n_prompt_tokens === "number" ? s.n_prompt_tokens : 0;
      return {
        id: Number(s.id),
        nCtx: Number(s.n_ctx ?? 0),
        used: prompt + (next?.n_decoded ?? 0),
        processing: s.is_processing === true,
        cachedAfter: typeof s.n_prompt_tokens === "number" ? s.n_prompt_tokens : undefined,
      };
    });
  } catch {
    return [];
  }
}

function rate(now: Record<string, number>, prev: Record<string, number>, num: string, den: string): number | undefined {
  const dn = (now[num] ?? 0) - (prev[num] ?? 0);
  const dd = (now[den] ?? 0) - (prev[den] ?? 0);
  return dd > 0 && dn >= 0 ? dn / dd : undefined;
}

/** A router's model: `/metrics?model=m&autoload=false` (a scrape never loads it); llama-swap's: `/upstream/m/metrics`. */
export interface ScrapePaths {
  metrics: string;
  slots: string;
}

export interface ScraperEvents {
  scraped: [view: ScrapeView];
}

export class UpstreamScraper extends EventEmitter<ScraperEvents> {
  view: ScrapeView = { ok: false, slots: [], rates: {} };
  private poller: Poller | undefined;
  private soon: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private sawLoading = false;
  private stopped = false;
  /** Who waits for a scrape that starts after they asked (the slot verdicts). */
  private waiting: ((view: ScrapeView | undefined) => void)[] = [];

  private readonly intervalMs: number;
  private readonly logger: Logger;
  private readonly reportInvalid: ReportInvalid;

  /** The key of this upstream's ledger in the stats file (schema.ts: upstreamLedger). */
  readonly ledgerKey: string;
  /** Where its /metrics and /slots are: llama-server's own, or one model's through a router or llama-swap. */
  private readonly paths: ScrapePaths;
  /** Whether there is anything to scrape now (a router's model is loaded); a skipped scrape changes nothing. */
  private readonly ready: () => boolean;

  constructor(
    private readonly upstream: Upstream,
    private readonly store: JsonStore<StatsDoc>,
    monitor: UpstreamMonitor,
    opts: {
      intervalMs: number;
      logger: Logger;
      reportInvalid: ReportInvalid;
      ledgerKey: string;
      paths?: ScrapePaths;
      ready?: () => boolean;
    },
  ) {
    super();
    this.ledgerKey = opts.ledgerKey;
    this.paths = opts.paths ?? { metrics: "/metrics", slots: "/slots" };
    this.ready = opts.ready ?? (() => true);
    this.intervalMs = opts.intervalMs;
    this.logger = opts.logger;
    this.reportInvalid = opts.reportInvalid;
    monitor.on("change", (status) => {
      if (status.state === "loading") this.sawLoading = true;
      if (status.state === "online") this.requestSoon(0);
    });
  }

  /** One scrape; concurrent callers share it. */
  scrape(): Promise<void> {
    if (this.running) return this.running;
    const waiters = this.waiting;
    this.waiting = [];
    this.running = this.doScrape().finally(() => {
      this.running = undefined;
      for (const w of waiters) w(this.view.ok ? this.view : undefined);
      // Who asked while this scrape ran needs one that starts after: the state they ask about came later.
      if (this.waiting.length > 0) this.requestSoon(0);
    });
    return this.running;
  }

  /**
   * The view of a scrape that starts after now (the one a finished request sets off, 250 ms later, shared by every
   * request that finished meanwhile): no call of its own. Undefined when it fails or the scraper stops.
   */
  nextView(): Promise<ScrapeView | undefined> {
    if (this.stopped) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.requestSoon();
    });
  }

  private async doScrape(): Promise<void> {
    if (!this.ready()) return;
    const at = Date.now();
    let res: UpstreamReply;
    try {
      res = await callUpstream(this.upstream, this.paths.metrics, { timeoutMs: 10_000 });
    } catch (err) {
      this.view = { ...this.view, ok: false, error: (err as { code?: string }).code ?? (err as Error).message };
      return;
    }
    if (res.status !== 200) {
      const hint = res.status === 501 || res.status === 404 ? " (start llama-server with --metrics)" : "";
      this.view = { ...this.view, ok: false, error: `/metrics answered HTTP ${res.status}${hint}` };
      return;
    }
    let metrics: LlamaMetrics;
    try {
      metrics = parseLlamaMetrics(res.text);
    } catch (err) {
      this.view = {
        ...this.view,
        ok: false,
        error: `/metrics is not Prometheus text: ${(err as Error).message.slice(0, 120)}`,
      };
      return;
    }
    // A page from something in front of llama-server (a login, an error) parses to nothing: no scrape, not a restart.
    if (Object.keys(metrics.counters).length === 0 && Object.keys(metrics.gauges).length === 0) {
      this.view = { ...this.view, ok: false, error: "/metrics held no samples (is it llama-server answering?)" };
      return;
    }
    const header = res.headers["process-start-time-unix"];
    const incarnation = typeof header === "string" ? header : null;
    this.bank(metrics, incarnation, at);
    const slots = await callUpstream(this.upstream, this.paths.slots, { timeoutMs: 10_000 }).then(
      (r) => (r.status === 200 ? readSlots(r.text) : []),
      () => [],
    );
    this.view = { ok: true, at, metrics, slots, rates: this.rates(metrics), newFormat: incarnation !== null };
    this.emit("scraped", this.view);
  }

  /** This upstream's ledger in the live stats document. */
  get ledger(): UpstreamLedger {
    return upstreamLedger(this.store.data, this.ledgerKey);
  }

  private prevCounters: { counters: Record<string, number>; incarnation: string | null } | undefined;

  private rates(m: LlamaMetrics): Rates {
    const prev = this.prevCounters;
    const current = { counters: m.counters, incarnation: this.ledger.incarnation };
    // A scrape with a sample left out for a bad value is passed over: measured against it, the next good one would
    // count that counter's whole value as made in one interval. Its speeds stand until a whole scrape comes.
    if (m.invalid.length > 0 && prev?.incarnation === current.incarnation) return this.view.rates;
    this.prevCounters = current;
    if (!prev || prev.incarnation !== current.incarnation) return {};
    // Between bursts nothing was generated: the last measured speed still stands (a 0 would read as "stalled").
    return {
      generationTps:
        rate(m.counters, prev.counters, "tokens_predicted_total", "tokens_predicted_seconds_total") ??
        this.view.rates.generationTps,
      prefillTps:
        rate(m.counters, prev.counters, "prompt_tokens_total", "prompt_seconds_total") ?? this.view.rates.prefillTps,
      specAcceptance:
        rate(
          m.counters,
          prev.counters,
          "spec_decode_num_accepted_tokens_total",
          "spec_decode_num_draft_tokens_total",
        ) ?? this.view.rates.specAcceptance,
    };
  }

  private bank(m: LlamaMetrics, incarnation: string | null, at: number): void {
    const ledger = this.ledger;
    for (const field of m.invalid) this.reportInvalid(field, "/metrics");
    const scrape = { incarnation, counters: m.counters, at, sawRestart: this.sawLoading };
    const restarted = applyScrape(ledger, scrape, (k) =>
      this.reportInvalid(metricsField(k), "/metrics (a counter went down without a restart)"),
    );
    this.sawLoading = false;
    if (restarted) {
      this.prevCounters = undefined;
      this.logger.warn(
        { upstream: this.ledgerKey, restarts: ledger.restartCount },
        "llama-server restarted: its counters start again, lifetime totals carry on",
      );
    }
    // Ledger (a) may lose at most one scrape interval: the next scrape re-reads the same counters anyway.
    this.store.markDirty(Math.min(this.intervalMs, 1000));
  }

  /** Scrape shortly, e.g. after a request ended, so the final counters of an incarnation are rarely missed. */
  requestSoon(delayMs = 250): void {
    if (this.soon || this.stopped) return;
    this.soon = setTimeout(() => {
      this.soon = undefined;
      void this.scrape();
    }, delayMs);
    this.soon.unref();
  }

  start(): void {
    this.poller = pollEvery(this.intervalMs, () => this.scrape());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const w of this.waiting.splice(0)) w(undefined);
    this.poller?.stop();
    if (this.soon) clearTimeout(this.soon);
    await this.running;
  }
}
