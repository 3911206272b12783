// The conversations the sidecar has seen lately, each with the print of its last prompt: found again by the
// client's session id (Claude Code's x-claude-code-session-id, OpenAI's prompt_cache_key) or, without one, by the
// longest run of blocks shared with a new prompt. Bounded: the least recently used conversation goes first.

import { sharedBlocks } from "./divergence.js";
import type { PromptPrint } from "./fingerprint.js";

export interface Turn {
  /** The conversation's name: the client's session id, or one the sidecar gave it. */
  key: string;
  print: PromptPrint;
  /** The thinking settings' hash (fingerprint.ts: settingsHash). */
  settings: number;
  /** Prompt tokens llama-server had for this turn (processed plus reused). */
  promptTokens: number;
  model: string;
  /** llama-server's restart count when the turn ran. */
  restarts: number;
  /** Position in the order of all turns, to tell what ran in between. */
  seq: number;
  /** The llama-server slot that served the turn, where the sidecar could tell. */
  slot?: number;
  /** Claude Code background work (titles, topic checks) has its own conversations. */
  background?: string;
}

/** What ran lately, newest last, to tell which other conversations came between two turns of one. */
const RECENT_TURNS = 64;

export class Conversations {
  private readonly byKey = new Map<string, Turn>();
  private readonly recent: Turn[] = [];
  private seq = 0;
  private unnamed = 0;

  constructor(private readonly limit = 256) {}

  get size(): number {
    return this.byKey.size;
  }

  /** The conversation a prompt (its print) continues, if the sidecar has seen it. */
  find(sessionKey: string | undefined, print: PromptPrint): Turn | undefined {
    if (sessionKey !== undefined) return this.byKey.get(`s:${sessionKey}`);
    let best: Turn | undefined;
    let bestShared = 0;
    for (const turn of this.byKey.values()) {
      if (turn.key.startsWith("s:")) continue;
      const shared = sharedBlocks(turn.print, print);
      // Sharing only the preamble (one agent's system prompt and tools) is a new conversation, not the same one.
      if (shared > turn.print.preamble && shared > bestShared) [best, bestShared] = [turn, shared];
    }
    return best;
  }

  /** Records a turn; returns its conversation's key. */
  remember(prev: Turn | undefined, sessionKey: string | undefined, turn: Omit<Turn, "key" | "seq">): Turn {
    const key = prev?.key ?? (sessionKey !== undefined ? `s:${sessionKey}` : `c:${++this.unnamed}`);
    const stored: Turn = { ...turn, key, seq: ++this.seq };
    this.byKey.delete(key); // re-inserted last: the Map's order is the LRU order
    this.byKey.set(key, stored);
    if (this.byKey.size > this.limit) this.byKey.delete(this.byKey.keys().next().value as string);
    this.recent.push(stored);
    if (this.recent.length > RECENT_TURNS) this.recent.shift();
    return stored;
  }

  /** Turns of other conversations since `turn`, newest last. */
  since(turn: Turn): Turn[] {
    return this.recent.filter((t) => t.seq > turn.seq && t.key !== turn.key);
  }
}
