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
  /** An upstream's totals in memory: which series exist. */
  lifetime(key: string): Record<string, number>;
  /** An upstream's totals as last written to disk: the only ones that may be exported. */
  savedLifetime(key: string): Record<string, number>;
  /** An upstream's ledger as last written to disk (restarts). */
  savedUpstream(key: string): UpstreamLedger;
}

/** One upstream's (or router model's) series: labelled with its configured name and its model (bounded sets). */
export interface ExportedUpstream {
  name: string;
  modelLabel(): string;
  scraper: UpstreamScraper;
}

/** The units now (a router's models come and stay): read at every render. */
type Units = () => readonly ExportedUpstream[];

const LABELS = ["upstream", "model"];
const labels = (u: ExportedUpstream) => ({ upstream: u.name, model: u.modelLabel() });

/** One collector per series any upstream exposes: counters as lifetime totals on disk, gauges as last scraped. */
function mirrorSeries(registry: Registry, stats: LifetimeSource, ups: Units): () => void {
  const known = new Set<string>();
  const ensure = (short: string, kind: "counter" | "gauge", help: string) => {
    const name = promName(short);
    if (known.has(name) || registry.getSingleMetric(name)) return;
    known.add(name);
    if (kind === "counter") lifetimeCounter(registry, stats, ups, name, short, help);
    else scrapedGauge(registry, ups, name, short, help);
  };
  /** Creates collectors for whatever series these llama-server builds expose (builds differ). */
  return () => {
    for (const u of ups()) {
      const m = u.scraper.view.metrics;
      const help = m?.help ?? {};
      for (const short of Object.keys(stats.lifetime(u.scraper.ledgerKey)))
        if (!short.includes("{")) ensure(short, "counter", help[short] ?? short);
      for (const short of Object.keys(m?.gauges ?? {}))
        if (!short.includes("{")) ensure(short, "gauge", help[short] ?? short);
    }
  };
}

function lifetimeCounter(
  registry: Registry,
  stats: LifetimeSource,
  ups: Units,
  name: string,
  short: string,
  help: string,
): void {
  new Counter({
    name,
    help: `llama-server: ${help}; summed over llama-server restarts`,
    labelNames: LABELS,
    registers: [registry],
    collect() {
      this.reset();
      for (const u of ups()) {
        // What is on disk, never more: a counter Prometheus saw must not come back lower after a crash.
        const v = stats.savedLifetime(u.scraper.ledgerKey)[short];
        if (v !== undefined && validCounter(v)) this.inc(labels(u), v);
      }
    },
  });
}

function scrapedGauge(registry: Registry, ups: Units, name: string, short: string, help: string) {
  const note = WINDOWED.has(short) ? " (llama-server averages this over the time since its previous scrape)" : "";
  new Gauge({
    name,
    help: `llama-server: ${help}${note}`,
    labelNames: LABELS,
    registers: [registry],
    collect() {
      this.reset();
      for (const u of ups()) {
        const v = u.scraper.view.metrics?.gauges[short];
        if (v !== undefined && Number.isFinite(v)) this.set(labels(u), v);
      }
    },
  });
}

function restartSeries(registry: Registry, stats: LifetimeSource, ups: Units): void {
  new Counter({
    name: `${UPSTREAM_PREFIX}_restarts_total`,
    help: "Times the sidecar has seen llama-server restart (lifetime)",
    labelNames: LABELS,
    registers: [registry],
    collect() {
      this.reset();
      for (const u of ups()) this.inc(labels(u), stats.savedUpstream(u.scraper.ledgerKey).restartCount);
    },
  });
  new Gauge({
    name: `${UPSTREAM_PREFIX}_last_restart_timestamp_seconds`,
    help: "When the sidecar last saw llama-server restart (0 if never)",
    labelNames: LABELS,
    registers: [registry],
    collect() {
      for (const u of ups())
        this.set(labels(u), (stats.savedUpstream(u.scraper.ledgerKey).restarts.at(-1) ?? 0) / 1000);
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
  [
    "draft_acceptance_ratio",
    "Share of the draft model's tokens the model accepted, 0 to 1, from counter deltas between scrapes (speculative decoding only)",
    (r) => r.specAcceptance,
  ],
];

function scrapeSeries(registry: Registry, ups: Units): void {
  new Gauge({
    name: `${UPSTREAM_PREFIX}_scrape_ok`,
    help: "1 if the sidecar's last scrape of llama-server's /metrics succeeded",
    labelNames: LABELS,
    registers: [registry],
    collect() {
      for (const u of ups()) this.set(labels(u), u.scraper.view.ok ? 1 : 0);
    },
  });
  for (const [name, help, pick] of RATE_GAUGES) {
    new Gauge({
      name: `${UPSTREAM_PREFIX}_${name}`,
      help,
      labelNames: LABELS,
      registers: [registry],
      collect() {
        this.reset();
        for (const u of ups()) {
          const v = pick(u.scraper.view.rates);
          if (v !== undefined) this.set(labels(u), v);
        }
      },
    });
  }
}

const SLOT_GAUGES: [name: string, help: string, pick: (s: SlotView) => number][] = [
  ["slot_context_tokens", "Tokens in each slot's context (last prompt plus generated so far)", (s) => s.used],
  ["slot_context_size_tokens", "Context size (n_ctx) of each slot", (s) => s.nCtx],
  ["slot_processing", "1 while a slot is processing a request", (s) => (s.processing ? 1 : 0)],
];

function slotSeries(registry: Registry, ups: Units): void {
  for (const [name, help, pick] of SLOT_GAUGES) {
    new Gauge({
      name: `${UPSTREAM_PREFIX}_${name}`,
      help,
      labelNames: [...LABELS, "slot"],
      registers: [registry],
      collect() {
        this.reset();
        for (const u of ups())
          for (const s of u.scraper.view.slots) this.set({ ...labels(u), slot: String(s.id) }, pick(s));
      },
    });
  }
}

/**
 * Registers the llama_server_* series for the units `ups` gives; returns what a unit made later (a router's new
 * model) is handed to, so the series new to it are made after its first scrape too.
 */
export function registerUpstreamExports(
  registry: Registry,
  stats: LifetimeSource,
  ups: Units,
): (unit: ExportedUpstream) => void {
  const sync = mirrorSeries(registry, stats, ups);
  // Collectors for series new to a build are made right after the scrape that first shows them.
  const follow = (u: ExportedUpstream) => u.scraper.on("scraped", sync);
  for (const u of ups()) follow(u);
  sync();
  restartSeries(registry, stats, ups);
  scrapeSeries(registry, ups);
  slotSeries(registry, ups);
  return follow;
}
