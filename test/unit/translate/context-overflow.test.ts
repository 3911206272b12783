// A prompt over the context read from llama-server's refusal, and told in each client's words.
import { describe, expect, it } from "vitest";
import { anthropicPromptTooLong, openaiContextLengthExceeded } from "../../../src/translate/context-overflow.js";
import { contextOverflow } from "../../../src/wire/context-overflow.js";

// As llama-server sends it (server-common.cpp: format_error_response with n_prompt_tokens and n_ctx).
const LLAMA = {
  error: {
    code: 400,
    message: "request (13904 tokens) exceeds the available context size (8192 tokens), try increasing it",
    type: "exceed_context_size_error",
    n_prompt_tokens: 13904,
    n_ctx: 8192,
  },
};

describe("context overflow", () => {
  it("reads llama-server's refusal, and nothing else", () => {
    expect(contextOverflow(LLAMA)).toEqual({ promptTokens: 13904, nCtx: 8192 });
    expect(contextOverflow({ error: { type: "invalid_request_error", message: "x" } })).toBeUndefined();
    expect(contextOverflow({ error: { type: "exceed_context_size_error" } })).toBeUndefined();
    expect(contextOverflow(undefined)).toBeUndefined();
  });

  it("words it as Anthropic's API and OpenAI's do", () => {
    const o = { promptTokens: 13904, nCtx: 8192 };
    expect(anthropicPromptTooLong(o)).toEqual({
      type: "error",
      error: { type: "invalid_request_error", message: "prompt is too long: 13904 tokens > 8192 maximum" },
    });
    expect(openaiContextLengthExceeded(o)).toEqual({
      error: {
        message:
          "This model's maximum context length is 8192 tokens. However, your messages resulted in 13904 tokens. Please reduce the length of the messages.",
        type: "invalid_request_error",
        param: "messages",
        code: "context_length_exceeded",
      },
    });
  });
});
