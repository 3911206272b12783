// A model request in flight, as the views show it: made by proxy/active.ts, shown by /api/stats and the dashboard.

export type Phase = "queued" | "prefilling" | "generating";

export interface ActiveRequest {
  route: string;
  client: string;
  model?: string;
  /** The upstream it went to (its configured name), once chosen. */
  upstream?: string;
  /** The session the client named (an identifier, never text). */
  session?: string;
  /** A Claude Code background call (its class), not a turn of the session. */
  background?: string;
  phase: Phase;
  /** Since the sidecar received the request. */
  elapsedMs: number;
  /** Time in the admission queue, once admitted. */
  queuedMs?: number;
  /** Since the request went to llama-server, while it prefills. */
  prefillingMs?: number;
  /** Content events relayed so far (about one per token). */
  generated: number;
  /** While it prefills: how far, from llama-server's own reports. */
  progress?: PrefillProgress;
}

export interface PrefillProgress {
  /** Share of the prompt in the slot (reused tokens count as done), 0 to 1. */
  ratio: number;
  /** Prompt tokens in the slot so far, reused ones included. */
  processed: number;
  total: number;
  /** Reused from llama-server's cache. */
  cached: number;
  /** Time left at the prefill speed so far; absent until a token was processed. */
  etaMs?: number;
  /**
   * Where the numbers came from: llama-server's own reports on the stream, or (where its endpoint sends none) the
   * prompt's exact size and the time since at llama-server's measured prefill speed.
   */
  source: "stream" | "estimate";
}
