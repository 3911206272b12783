// One session's numbers as GET /api/sessions/:id gives them to `llama-sidecar statusline` (stats/sessions.ts makes it).
import type { Phase, PrefillProgress } from "./active-request.js";

export interface SessionView {
  session: string;
  model?: string;
  /** Finished model turns of the session the sidecar saw. */
  requests: number;
  /** When the last one started (epoch ms). */
  lastAt?: number;
  /** Tokens in the slot after the last turn: its prompt and its output. */
  contextUsed?: number;
  /** llama-server's per-slot context size. */
  nCtx?: number;
  /** Share of the last turn's prompt reused from llama-server's cache. */
  cacheReuse?: number;
  ttftMs?: number;
  /** Generation tokens per second of the last turn. */
  decodeTps?: number;
  /** A turn of the session running now: its phase, its place in the queue, a prefill's progress. */
  now?: { phase: Phase; queuePosition?: number; progress?: PrefillProgress };
  /** llama-server's state: online, loading, unreachable... */
  upstream: string;
}
