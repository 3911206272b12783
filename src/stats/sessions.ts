// The last turn of each session a client named (Claude Code's session id): what its status line shows. Kept in
// memory for the most recent sessions only; the numbers are counts and times, never text.
import type { RequestRecord } from "../record/request-record.js";
import type { ActiveRequest } from "../wire/active-request.js";
import type { SessionView } from "../wire/session-view.js";

const MAX_SESSIONS = 256;

interface LastTurn {
  model: string;
  at: number;
  requests: number;
  promptTokens?: number;
  cachedTokens?: number;
  outputTokens?: number;
  ttftMs?: number;
  decodeTps?: number;
}

/** What the view needs of the llama-server now. */
export interface ServerNow {
  state: string;
  /** Per-slot context size. */
  nCtx?: number;
}

export class Sessions {
  private readonly last = new Map<string, LastTurn>();

  /** Listens to recorded requests: the session's latest finished model turn (background calls are not its turns). */
  readonly recorded = (r: RequestRecord): void => {
    if (!r.session || !r.operation || r.background || r.outcome !== "ok") return;
    const seen = this.last.get(r.session);
    this.last.delete(r.session);
    this.last.set(r.session, {
      model: r.model,
      at: r.startedAt,
      requests: (seen?.requests ?? 0) + 1,
      promptTokens: r.prefillTokens === undefined ? undefined : r.prefillTokens + (r.cachedTokens ?? 0),
      cachedTokens: r.cachedTokens,
      outputTokens: r.outputTokens,
      ttftMs: r.ttftMs,
      decodeTps: r.decodeTps,
    });
    if (this.last.size > MAX_SESSIONS) this.last.delete(this.last.keys().next().value as string);
  };

  /** The session's view, or undefined for a session the sidecar has not seen (finished or running). */
  view(session: string, active: readonly ActiveRequest[], server: ServerNow): SessionView | undefined {
    const turn = this.last.get(session);
    // A background call of the session (a title, a Haiku call on the side) is not its turn.
    const mine = active.find((a) => a.session === session && !a.background);
    if (!turn && !mine) return undefined;
    const queued = active.filter((a) => a.phase === "queued");
    const position = mine?.phase === "queued" ? queued.indexOf(mine) + 1 : undefined;
    const prompt = turn?.promptTokens;
    return {
      session,
      model: turn?.model ?? mine?.model,
      requests: turn?.requests ?? 0,
      lastAt: turn?.at,
      contextUsed: prompt === undefined ? undefined : prompt + (turn?.outputTokens ?? 0),
      nCtx: server.nCtx,
      cacheReuse: prompt ? (turn?.cachedTokens ?? 0) / prompt : undefined,
      ttftMs: turn?.ttftMs,
      decodeTps: turn?.decodeTps,
      now: mine && { phase: mine.phase, queuePosition: position, progress: mine.progress },
      upstream: server.state,
    };
  }
}
