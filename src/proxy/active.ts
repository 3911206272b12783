// The model requests in flight now, each with its phase and prefill progress: what "Running now" on the dashboard,
// GET /api/requests/active and the progress gauges show. Read when asked; nothing is computed per chunk.
import { performance } from "node:perf_hooks";
import type { ActiveRequest, Phase, PrefillProgress } from "../wire/active-request.js";
import type { Exchange } from "./exchange.js";
import type { PromptProgress } from "./prompt-progress.js";

const round = (ms: number) => Math.round(ms * 10) / 10;

function phaseOf(ex: Exchange): Phase {
  if (ex.dispatchedAt === undefined) return "queued";
  return ex.obs.firstContentAt === undefined ? "prefilling" : "generating";
}

/** A report made into what the views show, its ETA counted down since the report arrived. */
export function prefillProgress(p: PromptProgress, source: PrefillProgress["source"], now: number): PrefillProgress {
  const ratio = p.total > 0 ? Math.min(1, p.processed / p.total) : 0;
  const done = p.processed - p.cache;
  const rate = p.timeMs > 0 && done > 0 ? done / p.timeMs : undefined; // tokens per ms
  const eta = rate === undefined ? undefined : Math.max(0, (p.total - p.processed) / rate - (now - p.at));
  return {
    ratio: Math.round(ratio * 1000) / 1000,
    processed: p.processed,
    total: p.total,
    cached: p.cache,
    etaMs: eta === undefined ? undefined : round(eta),
    source,
  };
}

/** A prefill's progress as reported, or estimated where its stream reports none. */
function progressOf(ex: Exchange, now: number): PrefillProgress | undefined {
  if (ex.progress) return prefillProgress(ex.progress, "stream", now);
  const e = ex.estimate;
  if (!e?.prefillTps || ex.dispatchedAt === undefined) return undefined;
  const elapsedMs = now - ex.dispatchedAt;
  const processed = Math.round((elapsedMs / 1000) * e.prefillTps);
  const p = prefillProgress({ total: e.total, cache: 0, processed, timeMs: elapsedMs, at: now }, "estimate", now);
  // Never done by estimate, only by the first token: past its estimate a prefill is overdue, its time left unknown.
  // Just short of its total, the rounded ratio would read 1 too.
  if (processed < e.total) return { ...p, ratio: Math.min(p.ratio, 0.999) };
  return { ...p, ratio: 0.99, processed: e.total - 1, etaMs: undefined };
}

export class ActiveRequests {
  private readonly live = new Set<Exchange>();

  /** Follows a model request from its start; returns what stops following it. */
  follow(ex: Exchange): () => void {
    if (!ex.route.operation) return () => {};
    this.live.add(ex);
    return () => this.live.delete(ex);
  }

  /** The requests in flight, oldest first. */
  view(now = performance.now()): ActiveRequest[] {
    return [...this.live].map((ex) => {
      const phase = phaseOf(ex);
      return {
        route: ex.route.label,
        client: ex.client,
        model: ex.model?.model,
        upstream: ex.tags.upstream,
        session: ex.prompt?.sessionKey,
        background: ex.tags.background,
        phase,
        elapsedMs: round(now - ex.receivedAt),
        queuedMs: ex.queueWaitMs === undefined ? undefined : round(ex.queueWaitMs),
        prefillingMs:
          phase === "prefilling" && ex.dispatchedAt !== undefined ? round(now - ex.dispatchedAt) : undefined,
        generated: ex.obs.contentEvents,
        progress: phase === "prefilling" ? progressOf(ex, now) : undefined,
      };
    });
  }
}
