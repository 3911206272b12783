// Every metric the sidecar exports, each with a description, a unit and bounded labels.
//
// Request instruments are OpenTelemetry instruments (exported on /metrics through the OTel Prometheus
// exporter, and over OTLP when configured); process and state gauges are prom-client's. Each metric
// exists in exactly one of the two, so /metrics never shows a name twice.
import type { Attributes, Histogram, Meter, ObservableCounter, ObservableResult } from "@opentelemetry/api";
import { decodeKey, type LedgerKeys, type LedgerMap } from "../store/ledger-keys.js";
import type { RequestLedger } from "../store/schema.js";
import { decodingBand, depthBand } from "../wire/context-bands.js";

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

/** What the request instruments read of a finished request's record (record/request-record.ts). */
export interface MeasuredRequest {
  readonly operation?: string;
  readonly outcome: string;
  readonly background?: string;
  readonly modelLabel: string;
  readonly client: string;
  readonly upstream?: string;
  readonly upstreamModel?: string;
  readonly overheadMs?: number;
  readonly queueWaitMs?: number;
  readonly modelLoadMs?: number;
  readonly modelLoaded?: boolean;
  readonly prefillTokens?: number;
  readonly cachedTokens?: number;
  readonly outputTokens?: number;
  readonly durationMs: number;
  readonly ttftMs?: number;
  readonly decodeTps?: number;
  readonly prefillTps?: number;
  readonly tpotMs?: number;
  readonly concurrent?: number;
}

export interface RequestInstruments {
  record(r: MeasuredRequest): void;
}

/**
 * Observes ledger entries summed by their labels: two keys can read back alike (one written before key escaping,
 * one after), and the SDK keeps only the last value observed per label set, so the counter would drop.
 */
function observeByLabels<M extends LedgerMap>(
  result: ObservableResult,
  map: M,
  entries: [string, number][],
  labelsOf: (key: LedgerKeys[M]) => Attributes = (key) => ({ ...key }),
): void {
  const sums = new Map<string, { labels: Attributes; n: number }>();
  for (const [key, n] of entries) {
    const labels = labelsOf(decodeKey(map, key));
    const id = JSON.stringify(labels);
    const seen = sums.get(id);
    if (seen) seen.n += n;
    else sums.set(id, { labels, n });
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
    "Requests forwarded to llama-server, by route, model, client, outcome and upstream (lifetime)",
    "{request}",
  );
  requests.addCallback((result) => observeByLabels(result, "requests", Object.entries(ledger().requests)));
  const background = counter(
    "background_requests",
    "Claude Code background calls (titles, topic checks, quota probes, Haiku-class work) by class, policy and outcome; not counted as model work",
    "{request}",
  );
  background.addCallback((result) =>
    observeByLabels(result, "background", Object.entries(ledger().background), (k) => ({
      class: k.backgroundClass,
      policy: k.policy,
      outcome: k.outcome,
    })),
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
      observeByLabels(result, "tokens", entries);
    });
  }
}

type HistogramSpec = [name: string, description: string, unit: string, bounds: number[]];

/** The per-request histograms: OpenTelemetry names under the sidecar's prefix, each with its unit and buckets. */
const HISTOGRAMS = {
  ttft: [
    "time_to_first_token_seconds",
    "Time from request received to the first generated token",
    "s",
    BUCKETS.ttftSeconds,
  ],
  duration: [
    "request_duration_seconds",
    "Time from request received to the end of the response",
    "s",
    BUCKETS.durationSeconds,
  ],
  prefill: [
    "prefill.tokens",
    "Prompt tokens processed per request (excluding cache hits)",
    "{token}",
    BUCKETS.prefillTokens,
  ],
  genSpeed: ["generation.tokens_per_second", "Generation speed per request", "{token}/s", BUCKETS.generationTps],
  genSpeedByContext: [
    "generation.tokens_per_second_by_context",
    "Generation speed per request, by context-depth band (prompt plus half the output) and by how many requests were decoding at once: speeds compared like with like",
    "{token}/s",
    BUCKETS.generationTps,
  ],
  prefillSpeed: ["prefill.tokens_per_second", "Prefill speed per request", "{token}/s", BUCKETS.prefillTps],
  tpot: ["time_per_output_token_seconds", "Mean time between generated tokens per request", "s", BUCKETS.tpotSeconds],
  queueWait: [
    "queue_wait_seconds",
    "Time model requests waited in the sidecar's admission queue for a free llama-server slot",
    "s",
    BUCKETS.queueSeconds,
  ],
  modelLoad: [
    "model_load_seconds",
    "Time a router-mode llama-server took to load a model a request asked for (one per load the sidecar set off)",
    "s",
    BUCKETS.queueSeconds,
  ],
  overhead: [
    "proxy_overhead_seconds",
    "The sidecar's own time per request before forwarding it (received to sent to llama-server, queue wait excluded)",
    "s",
    BUCKETS.overheadSeconds,
  ],
} satisfies Record<string, HistogramSpec>;

/** OpenTelemetry instruments for per-request observations. */
export function createRequestInstruments(meter: Meter, ledger: () => RequestLedger): RequestInstruments {
  observeLedgerCounters(meter, ledger);
  const make = ([name, description, unit, bounds]: HistogramSpec): Histogram =>
    meter.createHistogram(`${METRIC_PREFIX}.${name}`, {
      description,
      unit,
      advice: { explicitBucketBoundaries: bounds },
    });
  const h = Object.fromEntries(Object.entries(HISTOGRAMS).map(([key, spec]) => [key, make(spec)])) as Record<
    keyof typeof HISTOGRAMS,
    Histogram
  >;
  return {
    record(r) {
      const where: Attributes = { upstream: r.upstream ?? "" };
      if (r.overheadMs !== undefined) h.overhead.record(r.overheadMs / 1000, where);
      if (r.queueWaitMs !== undefined) h.queueWait.record(r.queueWaitMs / 1000, where);
      if (r.modelLoaded && r.modelLoadMs !== undefined)
        h.modelLoad.record(r.modelLoadMs / 1000, { upstream: r.upstream ?? "", model: r.upstreamModel ?? "" });
      if (!r.operation || r.outcome !== "ok" || r.background) return;
      const base: Attributes = { model: r.modelLabel, client: r.client, upstream: r.upstream ?? "" };
      if (r.prefillTokens !== undefined) h.prefill.record(r.prefillTokens, base);
      h.duration.record(r.durationMs / 1000, base);
      if (r.ttftMs !== undefined) h.ttft.record(r.ttftMs / 1000, base);
      if (r.decodeTps !== undefined) {
        h.genSpeed.record(r.decodeTps, base);
        const depth = depthBand((r.prefillTokens ?? 0) + (r.cachedTokens ?? 0), r.outputTokens ?? 0);
        const band = { depth, decoding: decodingBand(r.concurrent) };
        h.genSpeedByContext.record(r.decodeTps, { model: r.modelLabel, upstream: r.upstream ?? "", ...band });
      }
      if (r.prefillTps !== undefined) h.prefillSpeed.record(r.prefillTps, base);
      if (r.tpotMs !== undefined) h.tpot.record(r.tpotMs / 1000, base);
    },
  };
}
