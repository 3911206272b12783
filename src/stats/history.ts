// Bounded history for charts: per-minute buckets for 24 hours and per-hour buckets for 30 days.
import * as v from "valibot";
import type { RequestRecord } from "../record/request-record.js";
import { BUCKETS } from "../telemetry/instruments.js";
import { bucketPercentile } from "./percentile.js";

const HISTORY_VERSION = 1;

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const KEEP_MINUTES = 24 * 60;
const KEEP_HOURS = 30 * 24;

const TTFT_BOUNDS_MS = BUCKETS.ttftSeconds.map((s) => s * 1000);
const TPS_BOUNDS = BUCKETS.generationTps;

const count = v.pipe(v.number(), v.minValue(0));
const bucketSchema = v.object({
  t: v.number(),
  requests: count,
  errors: count,
  prompt: count,
  cached: count,
  generated: count,
  /** Counts per TTFT bucket (ms), TTFT_BOUNDS_MS plus overflow. */
  ttft: v.array(count),
  /** Counts per generation-speed bucket, TPS_BOUNDS plus overflow. */
  tps: v.array(count),
});

export const historySchema = v.object({
  version: v.literal(HISTORY_VERSION),
  minutes: v.array(bucketSchema),
  hours: v.array(bucketSchema),
});

export type HistoryBucket = v.InferOutput<typeof bucketSchema>;
export type HistoryDoc = v.InferOutput<typeof historySchema>;

/** Mends a history whose buckets hold bad values: each bad bucket is dropped (and reported), the others kept. */
export function repairHistory(raw: unknown, report: (path: string) => void): unknown {
  if (typeof raw !== "object" || raw === null) return raw;
  const doc = raw as Record<string, unknown>;
  if (!Array.isArray(doc.minutes) || !Array.isArray(doc.hours)) return raw;
  const keep = (series: unknown[], name: string) =>
    series.filter((b, i) => {
      const ok = v.is(bucketSchema, b);
      if (!ok) report(`${name}[${i}]`);
      return ok;
    });
  return { ...doc, minutes: keep(doc.minutes, "minutes"), hours: keep(doc.hours, "hours") };
}

export function emptyHistory(): HistoryDoc {
  return { version: HISTORY_VERSION, minutes: [], hours: [] };
}

function newBucket(t: number): HistoryBucket {
  return {
    t,
    requests: 0,
    errors: 0,
    prompt: 0,
    cached: 0,
    generated: 0,
    ttft: new Array(TTFT_BOUNDS_MS.length + 1).fill(0),
    tps: new Array(TPS_BOUNDS.length + 1).fill(0),
  };
}

function slot(bounds: number[], v: number): number {
  const i = bounds.findIndex((b) => v <= b);
  return i < 0 ? bounds.length : i;
}

/** The bucket for time t in a time-ordered series, created (and old ones pruned) as needed. */
function bucketAt(series: HistoryBucket[], t: number, width: number, keep: number): HistoryBucket {
  const start = t - (t % width);
  let b = series[series.length - 1];
  if (!b || b.t < start) {
    b = newBucket(start);
    series.push(b);
    const oldest = start - (keep - 1) * width;
    const drop = series.findIndex((x) => x.t >= oldest);
    if (drop > 0) series.splice(0, drop);
  } else if (b.t > start) {
    // A record from before the newest bucket (clock step): file it under the newest rather than reorder.
    return b;
  }
  return b;
}

function bump(counts: number[], i: number): void {
  counts[i] = (counts[i] ?? 0) + 1;
}

function add(b: HistoryBucket, r: RequestRecord): void {
  b.requests++;
  if (r.outcome === "upstream_error") b.errors++;
  b.prompt += r.prefillTokens ?? 0;
  b.cached += r.cachedTokens ?? 0;
  b.generated += r.outputTokens ?? 0;
  if (r.outcome === "ok" && r.ttftMs !== undefined) bump(b.ttft, slot(TTFT_BOUNDS_MS, r.ttftMs));
  if (r.outcome === "ok" && r.decodeTps !== undefined) bump(b.tps, slot(TPS_BOUNDS, r.decodeTps));
}

export function recordHistory(h: HistoryDoc, r: RequestRecord, now = Date.now()): void {
  if (!r.operation || r.background) return;
  add(bucketAt(h.minutes, now, MINUTE, KEEP_MINUTES), r);
  add(bucketAt(h.hours, now, HOUR, KEEP_HOURS), r);
}

export interface HistoryPoint {
  t: number;
  requests: number;
  errors: number;
  prompt: number;
  cached: number;
  generated: number;
  cacheReuse?: number;
  ttftP50Ms?: number;
  ttftP95Ms?: number;
  tpsP50?: number;
}

export function toPoints(series: HistoryBucket[]): HistoryPoint[] {
  return series.map((b) => ({
    t: b.t,
    requests: b.requests,
    errors: b.errors,
    prompt: b.prompt,
    cached: b.cached,
    generated: b.generated,
    cacheReuse: b.prompt + b.cached > 0 ? b.cached / (b.prompt + b.cached) : undefined,
    ttftP50Ms: bucketPercentile(b.ttft, TTFT_BOUNDS_MS, 0.5),
    ttftP95Ms: bucketPercentile(b.ttft, TTFT_BOUNDS_MS, 0.95),
    tpsP50: bucketPercentile(b.tps, TPS_BOUNDS, 0.5),
  }));
}
