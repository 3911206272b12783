// Which API a request path belongs to, and how (if at all) its response is observed.
import type { Protocol } from "../errors.js";
import type { Dialect } from "./dialect.js";

export type { Dialect } from "./dialect.js";

export interface Route {
  /** Bounded label value: a known path, or "other". */
  label: string;
  protocol: Protocol;
  /** GenAI operation name (gen_ai.operation.name), when this is model work. */
  operation?: "chat" | "text_completion" | "embeddings";
  dialect?: Dialect;
}

const KNOWN: Record<string, Omit<Route, "label">> = {
  "/v1/chat/completions": { protocol: "openai", operation: "chat", dialect: "openai-chat" },
  "/chat/completions": { protocol: "openai", operation: "chat", dialect: "openai-chat" },
  "/v1/completions": { protocol: "openai", operation: "text_completion", dialect: "openai-completion" },
  "/completions": { protocol: "openai", operation: "text_completion", dialect: "openai-completion" },
  "/v1/embeddings": { protocol: "openai", operation: "embeddings", dialect: "openai-embeddings" },
  "/embeddings": { protocol: "openai", operation: "embeddings", dialect: "openai-embeddings" },
  "/v1/models": { protocol: "openai" },
  "/models": { protocol: "openai" },
  "/v1/responses": { protocol: "openai", operation: "chat", dialect: "openai-responses" },
  "/responses": { protocol: "openai", operation: "chat", dialect: "openai-responses" },
  "/v1/messages": { protocol: "anthropic", operation: "chat", dialect: "anthropic-messages" },
  "/v1/messages/count_tokens": { protocol: "anthropic" },
  "/completion": { protocol: "openai", operation: "text_completion", dialect: "llama-completion" },
  "/tokenize": { protocol: "openai" },
  "/detokenize": { protocol: "openai" },
  "/apply-template": { protocol: "openai" },
  "/infill": { protocol: "openai", operation: "text_completion", dialect: "llama-completion" },
  "/props": { protocol: "openai" },
  "/slots": { protocol: "openai" },
  "/health": { protocol: "openai" },
};

/** Each known path's route, made once and frozen: every request is classified, and its route is shared. */
const KNOWN_ROUTES = new Map<string, Readonly<Route>>(
  Object.entries(KNOWN).map(([label, r]) => [label, Object.freeze({ label, ...r })]),
);

export function classify(path: string): Readonly<Route> {
  const clean = path.length > 1 && path.endsWith("/") ? path.replace(/\/+$/, "") : path;
  const known = KNOWN_ROUTES.get(clean);
  if (known) return known;
  // Anthropic clients may hit other /v1/messages/... paths (batches); answer them in their protocol.
  const protocol: Protocol = clean.startsWith("/v1/messages")
    ? "anthropic"
    : clean === "/otlp" || clean.startsWith("/otlp/")
      ? "otlp"
      : "openai";
  return { label: "other", protocol };
}
