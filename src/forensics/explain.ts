// Why a turn re-processed more of its prompt than its conversation's last turn left in llama-server's cache:
// the causes, checked in order from the certain (the request asked for no cache) to "unknown", never a guess.

import type { MissCause } from "../wire/request-kinds.js";
import type { Turn } from "./conversations.js";
import { type Divergence, divergence } from "./divergence.js";
import type { Prompt, TextBlock } from "./fingerprint.js";

export interface TurnFacts {
  prompt: Prompt;
  model: string;
  /** Prompt tokens: processed plus reused. */
  promptTokens: number;
  /** Tokens llama-server reused from its cache. */
  cachedTokens: number;
  restarts: number;
  /** The thinking settings' hash. */
  settings: number;
  /** The request asked llama-server not to reuse its cache (cache_prompt: false). */
  cacheDisabled: boolean;
  /** llama-server's per-slot context size, when known. */
  nCtx?: number;
  /** The slot that served the turn, where the sidecar could tell. */
  slot?: number;
}

export interface Verdict {
  /** Tokens a warm cache would have kept: the conversation's last prompt. */
  expectedTokens: number;
  /** Tokens re-processed that a warm cache would have kept. */
  lostTokens: number;
  /** Set only for a miss. */
  cause?: MissCause;
  /** Where the prompt changed, or what came in between. */
  location?: string;
}

/** A miss re-processes at least this many tokens a warm cache would have kept, and this share of them. */
const MIN_LOST_TOKENS = 8;
const MIN_LOST_SHARE = 0.2;

const BILLING_HEADER = "x-anthropic-billing-header";

function where(d: Exclude<Divergence, { kind: "extends" }>): string {
  switch (d.kind) {
    case "changed":
      return d.at ? `${d.path} changed at characters ${d.at[0]}-${d.at[1]}` : `${d.path} changed`;
    case "removed":
      return `${d.path} removed`;
    case "inserted":
      return `${d.path} added`;
    case "truncated":
      return `history cut short before ${d.path}`;
  }
}

function promptCause(d: Exclude<Divergence, { kind: "extends" }>, blocks: readonly TextBlock[]): MissCause {
  if (d.kind === "truncated") return "history_truncated";
  if (d.path.startsWith("tools[")) return "tools_changed";
  if (d.path.startsWith("system") || d.path.startsWith("messages[0]")) {
    const text = blocks.find((b) => b.path === d.path)?.text ?? "";
    const header = text.indexOf(BILLING_HEADER);
    const lineEnd = text.indexOf("\n", header);
    const inHeader = d.kind === "changed" && d.at !== undefined && d.at[0] <= (lineEnd < 0 ? text.length : lineEnd);
    if (header >= 0 && inHeader) return "billing_header";
    if (d.path.startsWith("system")) return "system_changed";
  }
  return "history_edited";
}

function cause(prev: Turn, now: TurnFacts, others: readonly Turn[]): { cause: MissCause; location?: string } {
  if (now.cacheDisabled) return { cause: "cache_disabled", location: "cache_prompt: false" };
  if (now.model !== prev.model) return { cause: "model_changed", location: `${prev.model} -> ${now.model}` };
  if (now.restarts !== prev.restarts) return { cause: "server_restarted" };
  if (now.nCtx !== undefined && now.promptTokens >= now.nCtx) {
    return { cause: "context_overflow", location: `${now.promptTokens} tokens >= n_ctx ${now.nCtx}` };
  }
  // The template renders thinking settings into the prompt, where no block of the request shows them.
  if (now.settings !== prev.settings) return { cause: "thinking_changed", location: "thinking settings changed" };
  const d = divergence(prev.print, now.prompt);
  if (d.kind !== "extends") return { cause: promptCause(d, now.prompt.blocks), location: where(d) };
  if (prev.slot !== undefined && now.slot !== undefined && prev.slot !== now.slot) {
    return {
      cause: "different_slot",
      location: `slot ${now.slot}; the conversation's last turn ran on slot ${prev.slot}`,
    };
  }
  // On a known slot, only what ran on that slot can have evicted the prefix.
  const known = now.slot;
  const other = (known === undefined ? others : others.filter((t) => t.slot === undefined || t.slot === known)).at(-1);
  if (other) {
    const what = other.background ? `background call (${other.background})` : "conversation";
    const on = known === undefined ? "" : ` on slot ${known}`;
    return { cause: "other_conversation", location: `${what} ${other.key} ran in between${on}` };
  }
  return { cause: "unknown" };
}

/** The verdict on one turn of a conversation the sidecar saw before; `others` ran since its last turn. */
export function explain(prev: Turn, now: TurnFacts, others: readonly Turn[]): Verdict {
  const expectedTokens = Math.min(prev.promptTokens, now.promptTokens);
  const lostTokens = Math.max(0, expectedTokens - now.cachedTokens);
  if (lostTokens < MIN_LOST_TOKENS || lostTokens < MIN_LOST_SHARE * expectedTokens) {
    return { expectedTokens, lostTokens };
  }
  return { expectedTokens, lostTokens, ...cause(prev, now, others) };
}
