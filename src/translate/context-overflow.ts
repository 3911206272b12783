// A prompt longer than the slot's context, told in each client's own words: Anthropic's "prompt is too long", which
// Claude Code answers by compacting, and OpenAI's context_length_exceeded, instead of llama-server's own error type.
import { asFiniteNumber, asObject, type JsonObject } from "../wire/json.js";

export interface ContextOverflow {
  promptTokens: number;
  nCtx: number;
}

/** llama-server's refusal: {"error":{"type":"exceed_context_size_error","n_prompt_tokens":N,"n_ctx":M,...}}. */
export function contextOverflow(body: JsonObject | undefined): ContextOverflow | undefined {
  const e = asObject(body?.error);
  if (e?.type !== "exceed_context_size_error") return undefined;
  const promptTokens = asFiniteNumber(e.n_prompt_tokens);
  const nCtx = asFiniteNumber(e.n_ctx);
  return promptTokens === undefined || nCtx === undefined ? undefined : { promptTokens, nCtx };
}

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

const FORMS = [
  /request \((\d+) tokens\) exceeds the available context size \((\d+) tokens\)/,
  /prompt is too long: (\d+) tokens > (\d+) maximum/,
];
const OPENAI_FORM = /maximum context length is (\d+) tokens\. However, your messages resulted in (\d+) tokens/;

/** The sizes in a recorded error message, whichever client's words it is in. */
export function overflowInMessage(message: string | undefined): ContextOverflow | undefined {
  if (!message) return undefined;
  for (const form of FORMS) {
    const m = form.exec(message);
    if (m) return { promptTokens: Number(m[1]), nCtx: Number(m[2]) };
  }
  const m = OPENAI_FORM.exec(message);
  return m ? { promptTokens: Number(m[2]), nCtx: Number(m[1]) } : undefined;
}
