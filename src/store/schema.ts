// The persisted stats document, versioned: what must survive restarts of the sidecar and of llama-server.
import { z } from "zod";

export const STATS_VERSION = 1;

const counts = z.record(z.string(), z.number().nonnegative());

/** Ledger (a): llama-server's own counters, summed over its incarnations. */
export const upstreamLedgerSchema = z.object({
  /** Process-Start-Time-Unix of the incarnation `last` belongs to; null for builds without the header. */
  incarnation: z.string().nullable(),
  /** Raw counters last scraped from the current incarnation. */
  last: counts,
  /** Sum of the final counters of every earlier incarnation. */
  base: counts,
  restartCount: z.number().int().nonnegative(),
  /** Epoch ms of recent restarts, newest last (bounded). */
  restarts: z.array(z.number()),
  lastScrapeAt: z.number().nullable(),
});

export const tokenCountsSchema = z.object({
  prompt: z.number().nonnegative(),
  cached: z.number().nonnegative(),
  generated: z.number().nonnegative(),
});

/** Ledger (b): what the sidecar itself observed, per client and model. */
export const requestLedgerSchema = z.object({
  /** Requests by "route|model|client|outcome". */
  requests: counts,
  /** Tokens by "model|client". */
  tokens: z.record(z.string(), tokenCountsSchema),
  /** Background and locally answered calls, which are not model work. */
  background: counts,
});

export const statsSchema = z.object({
  version: z.literal(STATS_VERSION),
  /** When counting started (ISO 8601): "since May 12". */
  since: z.string(),
  upstream: upstreamLedgerSchema,
  sidecar: requestLedgerSchema,
});

export type StatsDoc = z.infer<typeof statsSchema>;
export type UpstreamLedger = z.infer<typeof upstreamLedgerSchema>;
export type RequestLedger = z.infer<typeof requestLedgerSchema>;
export type TokenCounts = z.infer<typeof tokenCountsSchema>;

export function emptyStats(now: Date): StatsDoc {
  return {
    version: STATS_VERSION,
    since: now.toISOString(),
    upstream: { incarnation: null, last: {}, base: {}, restartCount: 0, restarts: [], lastScrapeAt: null },
    sidecar: { requests: {}, tokens: {}, background: {} },
  };
}
