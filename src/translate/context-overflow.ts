// A prompt longer than the slot's context, told in each client's own words: Anthropic's "prompt is too long", which
// Claude Code answers by compacting, and OpenAI's context_length_exceeded, instead of llama-server's own error type.
import type { ContextOverflow } from "../wire/context-overflow.js";
import type { JsonObject } from "../wire/json.js";

/** Anthropic's error for a prompt over the model's window, as its API words it. */
export function anthropicPromptTooLong(o: ContextOverflow): JsonObject {
  return {
    type: "error",
    error: {
      type: "invalid_request_error",
      message: `prompt is too long: ${o.promptTokens} tokens > ${o.nCtx} maximum`,
    },
  };
}

/** OpenAI's error for the same, with its code. */
export function openaiContextLengthExceeded(o: ContextOverflow): JsonObject {
  return {
    error: {
      message: `This model's maximum context length is ${o.nCtx} tokens. However, your messages resulted in ${o.promptTokens} tokens. Please reduce the length of the messages.`,
      type: "invalid_request_error",
      param: "messages",
      code: "context_length_exceeded",
    },
  };
}
