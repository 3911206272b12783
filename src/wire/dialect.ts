// The model APIs the sidecar speaks, by name: shared by routing, request checks and response observation.

/** How a model request is checked and its response read on the side for token counts and timings. */
export type Dialect =
  | "openai-chat"
  | "openai-completion"
  | "openai-embeddings"
  | "openai-responses"
  | "anthropic-messages"
  | "llama-completion";
