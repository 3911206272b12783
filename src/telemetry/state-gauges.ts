// prom-client's side of /metrics: process metrics and the sidecar's live state (llama-server's state, requests
// in flight, the admission queue, the store), each read when /metrics is scraped rather than kept up to date.
import { Counter, collectDefaultMetrics, Gauge, Registry } from "prom-client";
import type { QueueNumbers } from "../admission/queue.js";
import { CHECKED_FIELDS, METRICS_FIELDS } from "../observe/upstream-values.js";
import { MISS_CAUSES, type MissCause, SLOWDOWN_CAUSES, type SlowdownCause } from "../wire/request-kinds.js";
import { UPSTREAM_STATES, type UpstreamState } from "../wire/upstream-state.js";
import { METRIC_PREFIX } from "./instruments.js";
import { type PrefillNow, prefillGauges } from "./prefill-gauges.js";

/** Whether the data dir takes writes, and how many have failed (full, read-only or missing disk). */
export interface StoreHealth {
  writable: boolean;
  failedWrites: number;
}

/** One upstream's admission queue, by the upstream's configured name. */
export type UpstreamQueue = QueueNumbers & { upstream: string };

export interface StateGauges {
  registry: Registry;
  /** An upstream's state (by its configured name), as its monitor last found it. */
  setUpstreamState(upstream: string, state: UpstreamState): void;
  /** Requests being forwarded now: a plain count on the hot path, read into its gauge when /metrics is scraped. */
  inFlight: { inc(): void; dec(): void };
  normalizations: Counter;
  rejections: Counter<"reason" | "upstream">;
  /** Numbers from llama-server that failed their check (negative, NaN, not a number, absurd) and were left out. */
  invalidValues: Counter<"field">;
  /** A turn that re-processed what a warm cache would have kept: counted by upstream and cause, with its cost. */
  countMiss(upstream: string, cause: MissCause, lostTokens: number, lostPrefillMs: number | undefined): void;
  /** A request that generated well below its model's usual speed, by upstream and what changed. */
  countSlowdown(upstream: string, cause: SlowdownCause): void;
  /** The configured upstreams: every cause starts at 0 for each, so a first miss or slowdown shows as an increase. */
  knowUpstreams(names: readonly string[]): void;
  /** Where the store gauges read from, once the stats are open. */
  observeStore(read: () => StoreHealth): void;
  /** Where the queue gauges read from, once the app has made its queues (one per upstream). */
  observeQueue(read: () => readonly UpstreamQueue[]): void;
  /** Where the prefill gauges read from, once the app follows its requests. */
  observePrefills(read: () => readonly PrefillNow[]): void;
}

/**
 * How often the event loop's delay is sampled (nodejs_eventloop_lag_*): a stall this long or longer always shows.
 * prom-client's 10 ms wakes the process 100 times a second, which cost 5.5 ms of CPU a second on its own on the
 * bench's VM (a bare Node process; 1 ms at 50), more than half of an idle sidecar's CPU.
 */
export const EVENT_LOOP_SAMPLE_MS = 50;

function processMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
  // prom-client exports these gauges with a counter's "_total" suffix, which promtool rejects;
  // the same numbers stay available without the suffix (nodejs_active_handles, ...).
  for (const name of ["nodejs_active_handles_total", "nodejs_active_requests_total", "nodejs_active_resources_total"]) {
    registry.removeSingleMetric(name);
  }
}

function upstreamStateGauges(registry: Registry): StateGauges["setUpstreamState"] {
  const up = new Gauge({
    name: `${METRIC_PREFIX}_upstream_up`,
    help: "1 when the upstream answers its health check with ok, else 0",
    labelNames: ["upstream"],
    registers: [registry],
  });
  const state = new Gauge({
    name: `${METRIC_PREFIX}_upstream_state`,
    help: "Each upstream's state as seen by the sidecar: 1 for the current state",
    labelNames: ["upstream", "state"],
    registers: [registry],
  });
  return (upstream, s) => {
    up.set({ upstream }, s === "online" ? 1 : 0);
    for (const name of UPSTREAM_STATES) state.set({ upstream, state: name }, name === s ? 1 : 0);
  };
}

function inFlightGauge(registry: Registry): StateGauges["inFlight"] {
  let now = 0;
  new Gauge({
    name: `${METRIC_PREFIX}_in_flight_requests`,
    help: "Requests currently being forwarded to llama-server",
    registers: [registry],
    collect() {
      this.set(now);
    },
  });
  return {
    inc: () => {
      now++;
    },
    dec: () => {
      now--;
    },
  };
}

function requestCounters(registry: Registry) {
  const normalizations = new Counter({
    name: `${METRIC_PREFIX}_billing_header_normalizations_total`,
    help: "Prompts whose x-anthropic-billing-header was made constant to keep the prompt cache warm",
    registers: [registry],
  });
  const rejections = new Counter({
    name: `${METRIC_PREFIX}_queue_rejections_total`,
    help: "Requests refused with 429 by an upstream's admission queue: queue_full or wait (waited too long)",
    labelNames: ["reason", "upstream"],
    registers: [registry],
  });
  const invalidValues = new Counter({
    name: `${METRIC_PREFIX}_upstream_invalid_values_total`,
    help: "Numbers in llama-server's answers or /metrics that were not valid counts or durations (negative, NaN, not a number, absurd), by field; each was left out of every total",
    labelNames: ["field"],
    registers: [registry],
  });
  for (const field of [...CHECKED_FIELDS, ...METRICS_FIELDS]) invalidValues.inc({ field }, 0);
  return { normalizations, rejections, invalidValues };
}

type CauseCounters = { count: StateGauges["countMiss"]; know(upstream: string): void };

function missCounters(registry: Registry): CauseCounters {
  const counter = (name: string, help: string) =>
    new Counter({ name: `${METRIC_PREFIX}_${name}`, help, labelNames: ["upstream", "cause"], registers: [registry] });
  const misses = counter(
    "cache_misses_total",
    "Turns of a conversation that re-processed materially more of the prompt than the conversation's last turn left in llama-server's cache, by upstream and cause",
  );
  const tokens = counter(
    "cache_lost_prefill_tokens_total",
    "Prompt tokens re-processed that a warm cache would have kept, by upstream and cause of the miss",
  );
  const seconds = counter(
    "cache_lost_prefill_seconds_total",
    "Prefill time those tokens cost, at each request's own prefill speed, by upstream and cause of the miss",
  );
  return {
    know: (upstream) => {
      for (const cause of MISS_CAUSES) for (const c of [misses, tokens, seconds]) c.inc({ upstream, cause }, 0);
    },
    count: (upstream, cause, lostTokens, lostPrefillMs) => {
      misses.inc({ upstream, cause });
      tokens.inc({ upstream, cause }, lostTokens);
      if (lostPrefillMs !== undefined) seconds.inc({ upstream, cause }, lostPrefillMs / 1000);
    },
  };
}

function slowdownCounter(registry: Registry): { count: StateGauges["countSlowdown"]; know(upstream: string): void } {
  const slowdowns = new Counter({
    name: `${METRIC_PREFIX}_generation_slowdowns_total`,
    help: "Requests that generated well below their model's usual speed, by upstream and what changed (deeper context, more decoding at once, a restart, draft acceptance, or the GPU side)",
    labelNames: ["upstream", "cause"],
    registers: [registry],
  });
  return {
    know: (upstream) => {
      for (const cause of SLOWDOWN_CAUSES) slowdowns.inc({ upstream, cause }, 0);
    },
    count: (upstream, cause) => slowdowns.inc({ upstream, cause }),
  };
}

function storeGauges(registry: Registry, read: () => StoreHealth): void {
  new Gauge({
    name: `${METRIC_PREFIX}_store_writable`,
    help: "1 while the data dir takes the sidecar's writes; 0 while it is full, read-only or gone (lifetime totals then stay at what is on disk)",
    registers: [registry],
    collect() {
      this.set(read().writable ? 1 : 0);
    },
  });
  new Counter({
    name: `${METRIC_PREFIX}_store_write_failures_total`,
    help: "Writes of the lifetime totals or the request journal that failed (since the sidecar started)",
    registers: [registry],
    collect() {
      this.reset();
      this.inc(read().failedWrites);
    },
  });
}

const QUEUE_GAUGES: [name: string, help: string, field: keyof QueueNumbers][] = [
  ["queue_depth", "Requests waiting in the admission queue for a llama-server slot", "depth"],
  ["queue_active_requests", "Model requests admitted and in flight to llama-server", "active"],
  ["queue_limit", "Model requests allowed in flight at once (llama-server's slots, or --max-in-flight)", "limit"],
  ["queue_capacity", "Requests that may wait in the queue before it answers 429 (--queue-max)", "capacity"],
];

function queueGauges(registry: Registry, read: () => readonly UpstreamQueue[]): void {
  for (const [name, help, field] of QUEUE_GAUGES) {
    new Gauge({
      name: `${METRIC_PREFIX}_${name}`,
      help,
      labelNames: ["upstream"],
      registers: [registry],
      collect() {
        this.reset();
        for (const q of read()) this.set({ upstream: q.upstream }, q[field]);
      },
    });
  }
}

export function createStateGauges(): StateGauges {
  const registry = new Registry();
  processMetrics(registry);
  // The store and the queue are made after telemetry: until they are handed over, the gauges read these.
  let readStore = (): StoreHealth => ({ writable: true, failedWrites: 0 });
  let readQueue = (): readonly UpstreamQueue[] => [];
  let readPrefills = (): readonly PrefillNow[] => [];
  storeGauges(registry, () => readStore());
  queueGauges(registry, () => readQueue());
  prefillGauges(registry, () => readPrefills());
  const misses = missCounters(registry);
  const slowdowns = slowdownCounter(registry);
  const counters = requestCounters(registry);
  return {
    registry,
    ...counters,
    inFlight: inFlightGauge(registry),
    setUpstreamState: upstreamStateGauges(registry),
    countMiss: misses.count,
    countSlowdown: slowdowns.count,
    knowUpstreams(names) {
      for (const name of names) {
        misses.know(name);
        slowdowns.know(name);
        // Both series exist from the start at 0: a series that first appears at 5 shows no increase() to alert on.
        for (const reason of ["queue_full", "wait"]) counters.rejections.inc({ reason, upstream: name }, 0);
      }
    },
    observeQueue(read) {
      readQueue = read;
    },
    observeStore(read) {
      readStore = read;
    },
    observePrefills(read) {
      readPrefills = read;
    },
  };
}
