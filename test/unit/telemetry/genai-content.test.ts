// Captured content in GenAI's message shape: Anthropic blocks and OpenAI messages with their tool calls, the system
// prompt apart, and JSON that always parses, however long the conversation.
import { describe, expect, it } from "vitest";
import { cappedJson, inputMessages, outputMessages, systemInstructions } from "../../../src/telemetry/genai-content.js";

describe("GenAI content", () => {
  it("turns Anthropic blocks into parts: text, tool calls, tool answers, reasoning, and images by kind only", () => {
    const body = {
      system: [{ type: "text", text: "Be brief." }],
      messages: [
        { role: "user", content: "Fix it." },
        {
          role: "assistant",
          content: [
            { type: "thinking", thinking: "look first" },
            { type: "tool_use", id: "t1", name: "Read", input: { path: "a.ts" } },
          ],
        },
        {
          role: "user",
          content: [
            { type: "tool_result", tool_use_id: "t1", content: [{ type: "text", text: "42" }] },
            { type: "image", source: { data: "AAAA" } },
          ],
        },
      ],
    };
    expect(inputMessages("anthropic-messages", body)).toEqual([
      { role: "user", parts: [{ type: "text", content: "Fix it." }] },
      {
        role: "assistant",
        parts: [
          { type: "reasoning", content: "look first" },
          { type: "tool_call", id: "t1", name: "Read", arguments: { path: "a.ts" } },
        ],
      },
      {
        role: "user",
        parts: [
          { type: "tool_call_response", id: "t1", response: [{ type: "text", content: "42" }] },
          { type: "image" },
        ],
      },
    ]);
    expect(systemInstructions("anthropic-messages", body)).toEqual([{ type: "text", content: "Be brief." }]);
  });

  it("turns OpenAI messages into parts, tool calls and tool answers included", () => {
    const body = {
      messages: [
        { role: "system", content: "Be brief." },
        { role: "assistant", content: null, tool_calls: [{ id: "c1", function: { name: "ls", arguments: "{}" } }] },
        { role: "tool", tool_call_id: "c1", content: "a.ts" },
      ],
    };
    expect(inputMessages("openai-chat", body)).toEqual([
      { role: "system", parts: [{ type: "text", content: "Be brief." }] },
      { role: "assistant", parts: [{ type: "tool_call", id: "c1", name: "ls", arguments: "{}" }] },
      { role: "tool", parts: [{ type: "tool_call_response", id: "c1", response: "a.ts" }] },
    ]);
    expect(inputMessages("openai-completion", { prompt: "Once" })).toEqual([
      { role: "user", parts: [{ type: "text", content: "Once" }] },
    ]);
    expect(outputMessages("Done.", "stop")).toEqual([
      { role: "assistant", parts: [{ type: "text", content: "Done." }], finish_reason: "stop" },
    ]);
  });

  it("caps the JSON by leaving the oldest messages out first, and it always parses", () => {
    const messages = Array.from({ length: 50 }, (_, i) => ({
      role: "user",
      parts: [{ type: "text", content: `m${i} ${"x".repeat(100)}` }],
    }));
    const capped = cappedJson(messages, 1000);
    expect(capped.length).toBeLessThanOrEqual(1000);
    const kept = JSON.parse(capped) as typeof messages;
    expect(kept.at(-1)).toEqual(messages.at(-1));
    expect(kept.length).toBeLessThan(50);
    const huge = cappedJson([{ role: "user", parts: [{ type: "text", content: '"'.repeat(5000) }] }], 1000);
    expect(huge.length).toBeLessThanOrEqual(1000);
    expect(JSON.parse(huge)[0].role).toBe("truncated");
  });
});
