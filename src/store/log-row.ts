// One finished request as the request log keeps it: flat, plain values (it crosses to the log's worker thread and
// back), named by the README's glossary. Never prompt or completion text.

export interface LogRow {
  id: string;
  /** Epoch milliseconds. */
  startedAt: number;
  endedAt: number;
  /** Claude Code's session id, else the body's prompt_cache_key, else the conversation the fingerprints found. */
  session?: string;
  /** The conversation the cache forensics placed the turn in (a key, never text). */
  conversation?: string;
  client: string;
  model: string;
  upstream?: string;
  route: string;
  outcome: string;
  status: number;
  stream: boolean;
  /** A Claude Code background call's class. */
  background?: string;
  /** Prompt tokens llama-server processed. */
  prefill?: number;
  /** Prompt tokens served from the KV cache. */
  cached?: number;
  generated?: number;
  /** Tokens a draft model proposed, and those the model kept (speculative decoding). */
  draft?: number;
  draftAccepted?: number;
  /** The slot's context size when the request was judged. */
  nCtx?: number;
  ttftMs?: number;
  durationMs: number;
  queueMs?: number;
  prefillMs?: number;
  prefillTps?: number;
  decodeTps?: number;
  finishReason?: string;
  missCause?: string;
  missLocation?: string;
  /** Prompt tokens a warm cache would have kept, and those of them processed again. */
  cacheExpected?: number;
  cacheLost?: number;
  lostPrefillMs?: number;
  slowdownCause?: string;
  slowdownDetail?: string;
  usualTps?: number;
  /** llama-server refused the prompt as longer than the slot: the prompt's size. */
  overflowPrompt?: number;
  /** The error's kind, never its text (llama-server's errors quote the prompt). */
  error?: string;
  /** False for a row replayed from the journal after a crash: it has no verdicts. */
  judged: boolean;
  /** Joules the GPU drew for it (its share, where the GPU's power is read). */
  energyJ?: number;
  /** Not a column: its bodies were captured (--capture-content), as a session's rows say. */
  captured?: true;
}

export type LogColumn = string;

const snake = (k: string) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

const KEYS: readonly (keyof LogRow)[] = [
  "id",
  "startedAt",
  "endedAt",
  "session",
  "conversation",
  "client",
  "model",
  "upstream",
  "route",
  "outcome",
  "status",
  "stream",
  "background",
  "prefill",
  "cached",
  "generated",
  "nCtx",
  "ttftMs",
  "durationMs",
  "queueMs",
  "prefillMs",
  "prefillTps",
  "decodeTps",
  "finishReason",
  "missCause",
  "missLocation",
  "cacheExpected",
  "cacheLost",
  "lostPrefillMs",
  "slowdownCause",
  "slowdownDetail",
  "usualTps",
  "overflowPrompt",
  "error",
  "judged",
  "energyJ",
  "draft",
  "draftAccepted",
];

/** Each field and its column, in the table's order (store/log-db.ts). */
export const ROW_COLUMNS: readonly (readonly [keyof LogRow, LogColumn])[] = KEYS.map((k) => [k, snake(k)]);
