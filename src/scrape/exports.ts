// Re-exports llama-server's series on the sidecar's /metrics under llama_server_*, so Prometheus scrapes only
// the sidecar: counters as restart-proof lifetime totals, gauges as last scraped, plus rates from counter deltas.
import { Counter, Gauge, type Registry } from "prom-client";
import { validCounter } from "../observe/upstream-values.js";
import type { UpstreamLedger } from "../store/schema.js";
import type { Rates, SlotView, UpstreamScraper } from "./scraper.js";

const UPSTREAM_PREFIX = "llama_server";

function promName(short: string): string {
  return `${UPSTREAM_PREFIX}_${short.replace(/[^a-zA-Z0-9_]/g, "_")}`;
}

/** Series llama-server averages over the window since the previous scrape: re-exported, but see the rate gauges. */
const WINDOWED = new Set(["prompt_tokens_seconds", "predicted_tokens_seconds", "n_busy_slots_per_decode"]);

/** Where llama-server's lifetime totals are read from (the stats service). */
export interface LifetimeSource {
  /** The totals in memory: which series exist. */
  lifetime(): Record<string, number>;
  /** The totals as last written to disk: the only ones that may be exported. */
  savedLifetime(): Record<string, number>;
  /** The ledger as last written to disk (restarts). */
  savedUpstream(): UpstreamLedger;
}

/** One collector per series llama-server exposes: counters as lifetime totals on disk, gauges as last scraped. */
function mirrorSeries(registry: Registry, stats: LifetimeSource, scraper: UpstreamScraper): () => void {
  const known = new Set<string>();
  const ensure = (short: string, kind: "counter" | "gauge", help: string) => {
    const name = promName(short);
    if (known.has(name) || registry.getSingleMetric(name)) return;
    known.add(name);
    if (kind === "counter") lifetimeCounter(registry, stats, name, short, help);
    else scrapedGauge(registry, scraper, name, short, help);
  };
  /** Creates collectors for whatever series this llama-server build exposes (builds differ). */
  return () => {
    const m = scraper.view.metrics;
    const help = m?.help ?? {};
    for (const short of Object.keys(stats.lifetime()))
      if (!short.includes("{")) ensure(short, "counter", help[short] ?? short);
    for (const short of Object.keys(m?.gauges ?? {}))
      if (!short.includes("{")) ensure(short, "gauge", help[short] ?? short);
  };
}

function lifetimeCounter(registry: Registry, stats: LifetimeSource, name: string, short: string, help: string): void {
  new Counter({
    name,
    help: `llama-server: ${help}; summed over llama-server restarts`,
    registers: [registry],
    collect() {
      this.reset();
      // What is on disk, never more: a counter Prometheus saw must not come back lower after a crash.
      const v = stats.savedLifetime()[short] ?? 0;
      if (validCounter(v)) this.inc(v);
    },
  });
}

function scrapedGauge(registry: Registry, scraper: UpstreamScraper, name: string, short: string, help: string): void {
  const note = WINDOWED.has(short) ? " (llama-server averages this over the time since its previous scrape)" : "";
  new Gauge({
    name,
    help: `llama-server: ${help}${note}`,
    registers: [registry],
    collect() {
      const v = scraper.view.metrics?.gauges[short];
      if (v !== undefined && Number.isFinite(v)) this.set(v);
    },
  });
}

function restartSeries(registry: Registry, stats: LifetimeSource): void {
  new Counter({
    name: `${UPSTREAM_PREFIX}_restarts_total`,
    help: "Times the sidecar has seen llama-server restart (lifetime)",
    registers: [registry],
    collect() {
      this.reset();
      this.inc(stats.savedUpstream().restartCount);
    },
  });
  new Gauge({
    name: `${UPSTREAM_PREFIX}_last_restart_timestamp_seconds`,
    help: "When the sidecar last saw llama-server restart (0 if never)",
    registers: [registry],
    collect() {
      this.set((stats.savedUpstream().restarts.at(-1) ?? 0) / 1000);
    },
  });
}

const RATE_GAUGES: [name: string, help: string, pick: (r: Rates) => number | undefined][] = [
  [
    "generation_tokens_per_second",
    "Generation speed while generating, from counter deltas between scrapes",
    (r) => r.generationTps,
  ],
  [
    "prefill_tokens_per_second",
    "Prefill speed while prefilling, from counter deltas between scrapes",
    (r) => r.prefillTps,
  ],
];

function scrapeSeries(registry: Registry, scraper: UpstreamScraper): void {
  new Gauge({
    name: `${UPSTREAM_PREFIX}_scrape_ok`,
    help: "1 if the sidecar's last scrape of llama-server's /metrics succeeded",
    registers: [registry],
    collect() {
      this.set(scraper.view.ok ? 1 : 0);
    },
  });
  for (const [name, help, pick] of RATE_GAUGES) {
    new Gauge({
      name: `${UPSTREAM_PREFIX}_${name}`,
      help,
      registers: [registry],
      collect() {
        this.reset();
        const v = pick(scraper.view.rates);
        if (v !== undefined) this.set(v);
      },
    });
  }
}

const SLOT_GAUGES: [name: string, help: string, pick: (s: SlotView) => number][] = [
  ["slot_context_tokens", "Tokens in each slot's context (last prompt plus generated so far)", (s) => s.used],
  ["slot_context_size_tokens", "Context size (n_ctx) of each slot", (s) => s.nCtx],
  ["slot_processing", "1 while a slot is processing a request", (s) => (s.processing ? 1 : 0)],
];

function slotSeries(registry: Registry, scraper: UpstreamScraper): void {
  for (const [name, help, pick] of SLOT_GAUGES) {
    new Gauge({
      name: `${UPSTREAM_PREFIX}_${name}`,
      help,
      labelNames: ["slot"],
      registers: [registry],
      collect() {
        this.reset();
        for (const s of scraper.view.slots) this.set({ slot: String(s.id) }, pick(s));
      },
    });
  }
}

export function registerUpstreamExports(registry: Registry, stats: LifetimeSource, scraper: UpstreamScraper): void {
  const sync = mirrorSeries(registry, stats, scraper);
  // Collectors for series new to this build are made right after the scrape that first shows them.
  scraper.on("scraped", sync);
  sync();
  restartSeries(registry, stats);
  scrapeSeries(registry, scraper);
  slotSeries(registry, scraper);
}
