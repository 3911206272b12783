// The model requests in flight now, each with its phase: what "Running now" on the dashboard and
// GET /api/requests/active show. Read when asked; nothing is computed per chunk.
import { performance } from "node:perf_hooks";
import type { ActiveRequest, Phase } from "../wire/active-request.js";
import type { Exchange } from "./exchange.js";

const round = (ms: number) => Math.round(ms * 10) / 10;

function phaseOf(ex: Exchange): Phase {
  if (ex.dispatchedAt === undefined) return "queued";
  return ex.obs.firstContentAt === undefined ? "prefilling" : "generating";
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
        phase,
        elapsedMs: round(now - ex.receivedAt),
        queuedMs: ex.queueWaitMs === undefined ? undefined : round(ex.queueWaitMs),
        prefillingMs:
          phase === "prefilling" && ex.dispatchedAt !== undefined ? round(now - ex.dispatchedAt) : undefined,
        generated: ex.obs.contentEvents,
      };
    });
  }
}
