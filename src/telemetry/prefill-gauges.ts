// The prefills running now, as gauges: one series per model (a bounded label), for the slowest of its prefills,
// so a dashboard or alert can show a long first turn's progress without a series per request.
import { Gauge, type Registry } from "prom-client";
import { METRIC_PREFIX } from "./instruments.js";

/** A prefill in flight, its model already made a bounded label. */
export interface PrefillNow {
  upstream: string;
  model: string;
  ratio: number;
  etaSeconds?: number;
}

export const PREFILL_PROGRESS = `${METRIC_PREFIX}_prefill_progress_ratio`;
export const PREFILL_ETA = `${METRIC_PREFIX}_prefill_eta_seconds`;

/** Per model, the least advanced prefill and the longest time left; a model with no prefill running has no series. */
interface Slowest {
  labels: { upstream: string; model: string };
  ratio: number;
  eta?: number;
}

/** The least advanced prefill per upstream and model. */
function slowest(prefills: readonly PrefillNow[]): Map<string, Slowest> {
  const out = new Map<string, Slowest>();
  for (const p of prefills) {
    const key = `${p.upstream}\u0000${p.model}`;
    const seen = out.get(key);
    const eta = Math.max(seen?.eta ?? -1, p.etaSeconds ?? -1);
    const labels = { upstream: p.upstream, model: p.model };
    out.set(key, { labels, ratio: Math.min(seen?.ratio ?? 1, p.ratio), eta: eta < 0 ? undefined : eta });
  }
  return out;
}

export function prefillGauges(registry: Registry, read: () => readonly PrefillNow[]): void {
  let latest = new Map<string, Slowest>();
  // Both gauges are collected in one scrape; the first reads the requests, the second uses what it read.
  new Gauge({
    name: PREFILL_PROGRESS,
    help: "Share of the prompt llama-server has prefilled, for the least advanced prefill running now, per upstream and model (0-1)",
    labelNames: ["upstream", "model"],
    registers: [registry],
    collect() {
      latest = slowest(read());
      this.reset();
      for (const p of latest.values()) this.set(p.labels, p.ratio);
    },
  });
  new Gauge({
    name: PREFILL_ETA,
    help: "Seconds left for the longest prefill running now, per upstream and model, at the prefill speed so far",
    labelNames: ["upstream", "model"],
    registers: [registry],
    collect() {
      this.reset();
      for (const p of latest.values()) if (p.eta !== undefined) this.set(p.labels, p.eta);
    },
  });
}
