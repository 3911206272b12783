// Cache-miss forensics for one llama-server: each finished model request is matched to its conversation, judged
// against the conversation's last turn, and remembered by its print (never its text).
import type { Logger } from "pino";
import type { Dialect } from "../wire/dialect.js";
import type { JsonObject } from "../wire/json.js";
import type { MissCause } from "../wire/request-kinds.js";
import { Conversations } from "./conversations.js";
import { explain, type Verdict } from "./explain.js";
import { PromptPrint, promptBlocks, settingsHash } from "./fingerprint.js";
import { LimitedLog } from "./log-limit.js";

export interface FinishedTurn {
  dialect: Dialect;
  body: JsonObject;
  /** Claude Code's x-claude-code-session-id, or the body's prompt_cache_key. */
  sessionKey?: string;
  model: string;
  prefillTokens?: number;
  cachedTokens?: number;
  background?: string;
  /** Where llama-server stands: its restart count and per-slot context size. */
  restarts: number;
  nCtx?: number;
  /** The slot that served it, where the sidecar could tell (one slot, or llama-server's /slots after it). */
  slot?: number;
}

export interface Miss {
  at: number;
  conversation: string;
  cause: MissCause;
  location?: string;
  expectedTokens: number;
  lostTokens: number;
  /** What the lost tokens cost at this request's prefill speed, when known. */
  lostPrefillMs?: number;
}

/** A judged turn: its conversation (the key the fingerprints found), and the verdict where there was a turn before. */
export type Judgement = { conversation: string } & Partial<Verdict>;

const RECENT_MISSES = 20;

/** One line a person reads: the cause, where, and what it cost. Never prompt text: paths and counts only. */
export function describeMiss(m: Miss): string {
  if (m.cause === "context_overflow" && m.lostTokens === 0) {
    return `cache miss (context_overflow): ${m.location}; llama-server refused the turn, conversation ${m.conversation} must be compacted (or llama-server given a larger -c)`;
  }
  const cost = m.lostPrefillMs === undefined ? "" : ` (${(m.lostPrefillMs / 1000).toFixed(1)} s of prefill)`;
  const where = m.location ? `: ${m.location}` : "";
  return `cache miss (${m.cause})${where}; ${m.lostTokens} of ${m.expectedTokens} prompt tokens a warm cache would have kept were processed again${cost}, conversation ${m.conversation}`;
}

export class CacheForensics {
  private readonly conversations: Conversations;
  readonly recentMisses: Miss[] = [];

  constructor(opts: { limit?: number; logger?: Logger } = {}) {
    this.conversations = new Conversations(opts.limit);
    this.log = new LimitedLog(opts.logger);
  }

  private readonly log: LimitedLog<MissCause>;

  get conversationCount(): number {
    return this.conversations.size;
  }

  /**
   * Judges a finished turn and remembers it: the conversation it belongs to, and its verdict (none for the turn that
   * starts a conversation). Undefined for a turn that carries no prompt.
   */
  judge(turn: FinishedTurn): Judgement | undefined {
    if (turn.prefillTokens === undefined) return undefined;
    const blocks = promptBlocks(turn.dialect, turn.body);
    if (!blocks || blocks.length === 0) return undefined;
    const print = PromptPrint.of(blocks);
    const settings = settingsHash(turn.body);
    const promptTokens = turn.prefillTokens + (turn.cachedTokens ?? 0);
    const prev = this.conversations.find(turn.sessionKey, print);
    const verdict =
      prev &&
      explain(
        prev,
        {
          prompt: { blocks, print },
          model: turn.model,
          promptTokens,
          cachedTokens: turn.cachedTokens ?? 0,
          restarts: turn.restarts,
          settings,
          cacheDisabled: turn.body.cache_prompt === false,
          nCtx: turn.nCtx,
          slot: turn.slot,
        },
        this.conversations.since(prev),
      );
    const stored = this.conversations.remember(prev, turn.sessionKey, {
      print,
      settings,
      promptTokens,
      model: turn.model,
      restarts: turn.restarts,
      background: turn.background,
      slot: turn.slot,
    });
    return verdict ? { ...verdict, conversation: stored.key } : { conversation: stored.key };
  }

  /** Keeps a miss for the views (/api/stats, the dashboard), newest last. */
  note(miss: Miss): void {
    this.log.info(
      miss.cause,
      miss.at,
      { lostTokens: miss.lostTokens, conversation: miss.conversation },
      describeMiss(miss),
    );
    this.recentMisses.push(miss);
    if (this.recentMisses.length > RECENT_MISSES) this.recentMisses.shift();
  }
}
