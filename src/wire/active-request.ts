// A model request in flight, as the views show it: made by proxy/active.ts, shown by /api/stats and the dashboard.

export type Phase = "queued" | "prefilling" | "generating";

export interface ActiveRequest {
  route: string;
  client: string;
  model?: string;
  phase: Phase;
  /** Since the sidecar received the request. */
  elapsedMs: number;
  /** Time in the admission queue, once admitted. */
  queuedMs?: number;
  /** Since the request went to llama-server, while it prefills. */
  prefillingMs?: number;
  /** Content events relayed so far (about one per token). */
  generated: number;
}
