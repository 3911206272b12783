// The request checks let through what real clients send (nulls for unset options, every content block kind) and
// name the field of what llama-server would answer with a 500.
import { describe, expect, it } from "vitest";
import { SidecarError } from "../../../src/errors.js";
import { checkRequest } from "../../../src/wire/check-request.js";

const refusal = (kind: Parameters<typeof checkRequest>[0], body: unknown): string => {
  try {
    checkRequest(kind, body);
  } catch (err) {
    expect(err).toBeInstanceOf(SidecarError);
    return (err as SidecarError).message;
  }
  return "";
};

describe("request checks", () => {
  it("let OpenAI requests with nulls for unset options, object tool arguments and llama-server's extensions through", () => {
    const chat = {
      model: "tiny",
      temperature: null,
      top_p: null,
      top_k: -1,
      seed: null,
      n: null,
      stream: null,
      max_tokens: -1,
      stop: null,
      response_format: { type: "json_object" },
      stream_options: { include_usage: true },
      tool_choice: "auto",
      tools: [{ type: "function", function: { name: "f", parameters: { type: "object" } } }],
      messages: [
        { role: "system", content: "s" },
        {
          role: "user",
          content: [
            { type: "text", text: "hi" },
            { type: "image_url", image_url: { url: "data:x" } },
          ],
        },
        { role: "assistant", content: "ok", tool_calls: null },
        {
          role: "assistant",
          content: null,
          tool_calls: [{ id: "1", type: "function", function: { name: "f", arguments: { a: 1 } } }],
        },
        { role: "tool", tool_call_id: "1", content: "done" },
      ],
    };
    expect(refusal("openai-chat", chat)).toBe("");
    expect(refusal("openai-completion", { prompt: { prompt_string: "<__media__> what?", multimodal_data: [] } })).toBe(
      "",
    );
    expect(refusal("llama-completion", { prompt: [1, 2, 3], n_predict: -1, stop: null })).toBe("");
  });

  it("let Claude Code's Anthropic requests through: every block kind, cache_control, thinking, server tools", () => {
    const body = {
      model: "claude-sonnet-4-5",
      max_tokens: 32000,
      stream: true,
      system: [{ type: "text", text: "You are Claude Code", cache_control: { type: "ephemeral" } }],
      thinking: { type: "enabled", budget_tokens: 1024 },
      metadata: { user_id: "u" },
      tools: [
        { name: "Bash", input_schema: { type: "object" } },
        { type: "web_search_20250305", name: "web_search" },
      ],
      messages: [
        {
          role: "user",
          content: [
            { type: "text", text: "look", cache_control: { type: "ephemeral" } },
            { type: "image", source: { type: "base64", media_type: "image/png", data: "x" } },
            { type: "document", source: { type: "text", media_type: "text/plain", data: "doc" } },
          ],
        },
        {
          role: "assistant",
          content: [
            { type: "thinking", thinking: "hm", signature: "s" },
            { type: "tool_use", id: "t1", name: "Bash", input: { command: "ls" } },
          ],
        },
        { role: "user", content: [{ type: "tool_result", tool_use_id: "t1", content: [{ type: "text", text: "a" }] }] },
      ],
    };
    expect(refusal("anthropic-messages", body)).toBe("");
    expect(refusal("anthropic-count-tokens", { ...body, max_tokens: undefined })).toBe("");
  });

  it("name the field of what llama-server would answer with a 500", () => {
    expect(refusal("openai-chat", { messages: [{ content: "x" }] })).toMatch(/messages\[0\]\.role/);
    expect(refusal("openai-chat", { messages: [{ role: "user", content: [{ type: "text" }] }] })).toMatch(
      /messages\[0\]\.content\[0\]\.text: a text part needs its text/,
    );
    expect(refusal("openai-chat", { messages: [], tools: [{ function: { name: "f" } }] })).toMatch(/tools\[0\]\.type/);
    const args = {
      role: "assistant",
      tool_calls: [{ type: "function", function: { name: "f", arguments: "{not json" } }],
    };
    expect(refusal("openai-chat", { messages: [args] })).toMatch(/arguments/);
    expect(refusal("anthropic-messages", { messages: [{ role: "system", content: "x" }] })).toMatch(
      /messages\[0\]\.role/,
    );
    expect(refusal("anthropic-messages", { messages: [], system: 5 })).toMatch(/^invalid request: system/);
  });
});
