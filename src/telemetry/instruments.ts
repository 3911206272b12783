// Every metric the sidecar exports, each with a description, a unit and bounded labels.
//
// Request instruments are OpenTelemetry instruments (exported on /metrics through the OTel Prometheus
// exporter, and over OTLP when configured); process and state gauges are prom-client's. Each metric
// exists in exactly one of the two, so /metrics never shows a name twice.
import type { Attributes, Histogram, Meter, ObservableCounter, ObservableResult } from "@opentelemetry/api";
import { Counter, collectDefaultMetrics, Gauge, Registry } from "prom-client";
import type { RequestRecord } from "../observe/observation.js";
import { CHECKED_FIELDS, METRICS_FIELDS } from "../observe/upstream-values.js";
import { splitKey } from "../store/ledger-keys.js";
import type { RequestLedger } from "../store/schema.js";
import { UPSTREAM_STATES, type UpstreamState } from "../wire/upstream-state.js";

export const METRIC_PREFIX = "llama_sidecar";

/** Bucket bounds fit for local inference: a first agent turn on a large model can take minutes to its first token. */
export const BUCKETS = {
  ttftSeconds: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 180, 300, 450, 600],
  durationSeconds: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800],
  prefillTokens: [1, 16, 64, 256, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072, 262144],
  generationTps: [1, 2, 5, 10, 15, 20, 30, 40, 50, 75, 100, 150, 200, 300, 500, 1000, 2000, 5000],
  prefillTps: [10, 25, 50, 100, 250, 500, 1000, 2000, 4000, 8000, 16000, 32000],
  // Under load the sidecar's own work is tens of microseconds: the low buckets keep its median readable.
  overheadSeconds: [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1],
  queueSeconds: [0.001, 0.01, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 900],
  tpotSeconds: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2, 0.5, 1],
};

export interface RequestInstruments {
  record(r: RequestRecord): void;
}

/**
 * Observes ledger entries summed by their labels: two keys can read back alike (one written before key escaping,
 * one after), and the SDK keeps only the last value observed per label set, so the counter would drop.
 */
function observeByLabels(result: ObservableResult, entries: [string, number][], names: string[]): void {
  const sums = new Map<string, { labels: Attributes; n: number }>();
  for (const [key, n] of entries) {
    const parts = splitKey(key);
    const id = JSON.stringify(parts);
    const seen = sums.get(id);
    if (seen) seen.n += n;
    else sums.set(id, { labels: Object.fromEntries(names.map((name, i) => [name, parts[i] ?? ""])), n });
  }
  for (const { labels, n } of sums.values()) result.observe(n, labels);
}

/**
 * Request and token counters are observed from the persisted request ledger, so they never go down
 * across sidecar restarts; histograms are recorded per request and start empty with the process.
 */
function observeLedgerCounters(meter: Meter, ledger: () => RequestLedger): void {
  const counter = (name: string, description: string, unit: string): ObservableCounter =>
    meter.createObservableCounter(`${METRIC_PREFIX}.${name}`, { description, unit });
  const requests = counter(
    "requests",
    "Requests forwarded to llama-server, by route, model, client and outcome (lifetime)",
    "{request}",
  );
  requests.addCallback((result) =>
    observeByLabels(result, Object.entries(ledger().requests), ["route", "model", "client", "outcome"]),
  );
  const background = counter(
    "background_requests",
    "Claude Code background calls (titles, topic checks, quota probes, Haiku-class work) by class, policy and outcome; not counted as model work",
    "{request}",
  );
  background.addCallback((result) =>
    observeByLabels(result, Object.entries(ledger().background), ["class", "policy", "outcome"]),
  );
  const tokens: [string, string, "prompt" | "cached" | "generated"][] = [
    [
      "prompt_tokens",
      "Prompt tokens llama-server processed for sidecar requests (prefill, excluding cache hits)",
      "prompt",
    ],
    ["cached_tokens", "Prompt tokens served from llama-server's KV cache for sidecar requests", "cached"],
    ["generated_tokens", "Tokens llama-server generated for sidecar requests", "generated"],
  ];
  for (const [name, description, field] of tokens) {
    counter(name, `${description} (lifetime)`, "{token}").addCallback((result) => {
      const entries = Object.entries(ledger().tokens).map(([k, t]): [string, number] => [k, t[field]]);
      observeByLabels(result, entries, ["model", "client"]);
    });
  }
}

/** OpenTelemetry instruments for per-request observations. */
export function createRequestInstruments(meter: Meter, ledger: () => RequestLedger): RequestInstruments {
  const histogram = (name: string, description: string, unit: string, bounds: number[]): Histogram =>
    meter.createHistogram(`${METRIC_PREFIX}.${name}`, {
      description,
      unit,
      advice: { explicitBucketBoundaries: bounds },
    });
  observeLedgerCounters(meter, ledger);
  const ttft = histogram(
    "time_to_first_token_seconds",
    "Time from request received to the first generated token",
    "s",
    BUCKETS.ttftSeconds,
  );
  const duration = histogram(
    "request_duration_seconds",
    "Time from request received to the end of the response",
    "s",
    BUCKETS.durationSeconds,
  );
  const prefill = histogram(
    "prefill.tokens",
    "Prompt tokens processed per request (excluding cache hits)",
    "{token}",
    BUCKETS.prefillTokens,
  );
  const genSpeed = histogram(
    "generation.tokens_per_second",
    "Generation speed per request",
    "{token}/s",
    BUCKETS.generationTps,
  );
  const prefillSpeed = histogram(
    "prefill.tokens_per_second",
    "Prefill speed per request",
    "{token}/s",
    BUCKETS.prefillTps,
  );
  const tpot = histogram(
    "time_per_output_token_seconds",
    "Mean time between generated tokens per request",
    "s",
    BUCKETS.tpotSeconds,
  );

  const queueWait = histogram(
    "queue_wait_seconds",
    "Time model requests waited in the sidecar's admission queue for a free llama-server slot",
    "s",
    BUCKETS.queueSeconds,
  );
  const overhead = histogram(
    "proxy_overhead_seconds",
    "The sidecar's own time per request before forwarding it (received to sent to llama-server, queue wait excluded)",
    "s",
    BUCKETS.overheadSeconds,
  );
  return {
    record(r) {
      if (r.overheadMs !== undefined) overhead.record(r.overheadMs / 1000);
      if (r.queueWaitMs !== undefined) queueWait.record(r.queueWaitMs / 1000);
      if (!r.operation || r.outcome !== "ok" || r.background) return;
      const base: Attributes = { model: r.modelLabel, client: r.client };
      if (r.prefillTokens !== undefined) prefill.record(r.prefillTokens, base);
      duration.record(r.durationMs / 1000, base);
      if (r.ttftMs !== undefined) ttft.record(r.ttftMs / 1000, base);
      if (r.decodeTps !== undefined) genSpeed.record(r.decodeTps, base);
      if (r.prefillTps !== undefined) prefillSpeed.record(r.prefillTps, base);
      if (r.tpotMs !== undefined) tpot.record(r.tpotMs / 1000, base);
    },
  };
}

/** Whether the data dir takes writes, and how many have failed (full, read-only or missing disk). */
export interface StoreHealth {
  writable: boolean;
  failedWrites: number;
}

/** prom-client side: process metrics and the sidecar's live state. */
export interface StateGauges {
  registry: Registry;
  setUpstreamState(state: UpstreamState): void;
  /** Requests being forwarded now: a plain count on the hot path, read into its gauge when /metrics is scraped. */
  inFlight: { inc(): void; dec(): void };
  normalizations: Counter;
  rejections: Counter<"reason">;
  /** Numbers from llama-server that failed their check (negative, NaN, not a number, absurd) and were left out. */
  invalidValues: Counter<"field">;
  /** Where the store gauges read from, once the stats are open. */
  observeStore(read: () => StoreHealth): void;
  /** Where the queue gauges read from, once the app has made its queue. */
  observeQueue(read: () => { depth: number; active: number; limit: number; capacity: number }): void;
}

export function createStateGauges(): StateGauges {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // prom-client exports these gauges with a counter's "_total" suffix, which promtool rejects;
  // the same numbers stay available without the suffix (nodejs_active_handles, ...).
  for (const name of ["nodejs_active_handles_total", "nodejs_active_requests_total", "nodejs_active_resources_total"]) {
    registry.removeSingleMetric(name);
  }
  const up = new Gauge({
    name: `${METRIC_PREFIX}_upstream_up`,
    help: "1 when llama-server answers its health check with ok, else 0",
    registers: [registry],
  });
  const state = new Gauge({
    name: `${METRIC_PREFIX}_upstream_state`,
    help: "llama-server state as seen by the sidecar: 1 for the current state",
    labelNames: ["state"],
    registers: [registry],
  });
  let inFlightNow = 0;
  new Gauge({
    name: `${METRIC_PREFIX}_in_flight_requests`,
    help: "Requests currently being forwarded to llama-server",
    registers: [registry],
    collect() {
      this.set(inFlightNow);
    },
  });
  const inFlight = {
    inc: () => {
      inFlightNow++;
    },
    dec: () => {
      inFlightNow--;
    },
  };
  const normalizations = new Counter({
    name: `${METRIC_PREFIX}_billing_header_normalizations_total`,
    help: "Prompts whose x-anthropic-billing-header was made constant to keep the prompt cache warm",
    registers: [registry],
  });
  const rejections = new Counter({
    name: `${METRIC_PREFIX}_queue_rejections_total`,
    help: "Requests refused with 429 by the admission queue: queue_full or wait (waited too long)",
    labelNames: ["reason"],
    registers: [registry],
  });
  // Both series exist from the start at 0: a series that first appears at 5 shows no increase() to alert on.
  for (const reason of ["queue_full", "wait"]) rejections.inc({ reason }, 0);
  const invalidValues = new Counter({
    name: `${METRIC_PREFIX}_upstream_invalid_values_total`,
    help: "Numbers in llama-server's answers or /metrics that were not valid counts or durations (negative, NaN, not a number, absurd), by field; each was left out of every total",
    labelNames: ["field"],
    registers: [registry],
  });
  for (const field of [...CHECKED_FIELDS, ...METRICS_FIELDS]) invalidValues.inc({ field }, 0);
  let readStore = (): StoreHealth => ({ writable: true, failedWrites: 0 });
  new Gauge({
    name: `${METRIC_PREFIX}_store_writable`,
    help: "1 while the data dir takes the sidecar's writes; 0 while it is full, read-only or gone (lifetime totals then stay at what is on disk)",
    registers: [registry],
    collect() {
      this.set(readStore().writable ? 1 : 0);
    },
  });
  new Counter({
    name: `${METRIC_PREFIX}_store_write_failures_total`,
    help: "Writes of the lifetime totals or the request journal that failed (since the sidecar started)",
    registers: [registry],
    collect() {
      this.reset();
      this.inc(readStore().failedWrites);
    },
  });
  let readQueue = () => ({ depth: 0, active: 0, limit: 0, capacity: 0 });
  const queueGauge = (name: string, help: string, field: "depth" | "active" | "limit" | "capacity") =>
    new Gauge({
      name: `${METRIC_PREFIX}_${name}`,
      help,
      registers: [registry],
      collect() {
        this.set(readQueue()[field]);
      },
    });
  queueGauge("queue_depth", "Requests waiting in the admission queue for a llama-server slot", "depth");
  queueGauge("queue_active_requests", "Model requests admitted and in flight to llama-server", "active");
  queueGauge(
    "queue_limit",
    "Model requests allowed in flight at once (llama-server's slots, or --max-in-flight)",
    "limit",
  );
  queueGauge("queue_capacity", "Requests that may wait in the queue before it answers 429 (--queue-max)", "capacity");
  return {
    registry,
    normalizations,
    rejections,
    invalidValues,
    observeQueue(read) {
      readQueue = read;
    },
    observeStore(read) {
      readStore = read;
    },
    inFlight,
    setUpstreamState(s) {
      up.set(s === "online" ? 1 : 0);
      for (const name of UPSTREAM_STATES) state.set({ state: name }, name === s ? 1 : 0);
    },
  };
}
