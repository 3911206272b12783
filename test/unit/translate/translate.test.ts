import { describe, expect, it } from "vitest";
import { AnthropicStreamWriter, openaiToAnthropic } from "../../../src/translate/to-anthropic.js";
import { anthropicToOpenai } from "../../../src/translate/to-openai.js";

describe("Anthropic <-> OpenAI translation", () => {
  it("maps system blocks, tools, tool_use and tool_result, thinking and tool_choice", () => {
    const out = anthropicToOpenai({
      model: "m",
      max_tokens: 100,
      stream: true,
      system: [
        { type: "text", text: "A" },
        { type: "text", text: "B" },
      ],
      tools: [{ name: "get_weather", description: "d", input_schema: { type: "object" } }],
      tool_choice: { type: "any", disable_parallel_tool_use: true },
      stop_sequences: ["END"],
      messages: [
        { role: "user", content: "weather?" },
        {
          role: "assistant",
          content: [
            { type: "thinking", thinking: "hmm", signature: "" },
            { type: "text", text: "Let me look." },
            { type: "tool_use", id: "t1", name: "get_weather", input: { city: "Paris" } },
          ],
        },
        {
          role: "user",
          content: [
            { type: "tool_result", tool_use_id: "t1", content: [{ type: "text", text: "sunny" }] },
            { type: "text", text: "thanks" },
          ],
        },
      ],
    });
    expect(out).toEqual({
      model: "m",
      max_tokens: 100,
      stream: true,
      stream_options: { include_usage: true },
      stop: ["END"],
      tool_choice: "required",
      parallel_tool_calls: false,
      tools: [
        { type: "function", function: { name: "get_weather", description: "d", parameters: { type: "object" } } },
      ],
      messages: [
        { role: "system", content: "A\n\nB" },
        { role: "user", content: "weather?" },
        {
          role: "assistant",
          content: "Let me look.",
          reasoning_content: "hmm",
          tool_calls: [
            { id: "t1", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } },
          ],
        },
        { role: "tool", tool_call_id: "t1", content: "sunny" },
        { role: "user", content: "thanks" },
      ],
    });
  });

  it('keeps Claude Code\'s role "system" reminders among the turns as system messages, where llama-server keeps them', () => {
    const out = anthropicToOpenai({
      model: "m",
      messages: [
        { role: "user", content: [{ type: "text", text: "hi" }] },
        { role: "system", content: "Available agent types: ..." },
        { role: "system", content: [{ type: "text", text: "a reminder" }] },
      ],
    });
    expect(out.messages).toEqual([
      { role: "user", content: "hi" },
      { role: "system", content: "Available agent types: ..." },
      { role: "system", content: "a reminder" },
    ]);
  });

  it("carries a tool's image and text documents over, and refuses what it cannot say rather than drop it", () => {
    const png = { type: "image", source: { type: "base64", media_type: "image/png", data: "iVBOR" } };
    const out = anthropicToOpenai({
      model: "m",
      messages: [
        {
          role: "user",
          content: [
            { type: "tool_result", tool_use_id: "r1", content: [{ type: "text", text: "screenshot.png" }, png] },
            { type: "document", title: "notes.txt", source: { type: "text", media_type: "text/plain", data: "n" } },
          ],
        },
      ],
    });
    expect(out.messages).toEqual([
      { role: "tool", tool_call_id: "r1", content: "screenshot.png" },
      {
        role: "user",
        content: [
          { type: "image_url", image_url: { url: "data:image/png;base64,iVBOR" } },
          { type: "text", text: "notes.txt\n\nn" },
        ],
      },
    ]);
    // A PDF the user sends now is refused; one in a tool's result or an earlier turn becomes a note, so the
    // session goes on.
    const pdf = { type: "document", source: { type: "base64", media_type: "application/pdf", data: "JVBER" } };
    for (const block of [pdf, { type: "container_upload", file_id: "f" }]) {
      expect(() => anthropicToOpenai({ model: "m", messages: [{ role: "user", content: [block] }] })).toThrow(
        expect.objectContaining({ code: "bad_request", message: expect.stringMatching(/cannot be translated/) }),
      );
    }
    const later = anthropicToOpenai({
      model: "m",
      messages: [
        { role: "user", content: [{ type: "tool_result", tool_use_id: "r", content: [pdf] }] },
        { role: "assistant", content: "I could not read it." },
        { role: "user", content: [pdf, { type: "text", text: "never mind" }] },
        { role: "assistant", content: "ok" },
        { role: "user", content: "go on" },
      ],
    });
    expect(JSON.stringify(later.messages)).toContain("[a document (application/pdf) left out: a llama-server");
    expect((later.messages as unknown[]).length).toBe(5);
    // Tool search results and search results carry their text.
    const found = anthropicToOpenai({
      model: "m",
      messages: [
        {
          role: "user",
          content: [
            {
              type: "tool_result",
              tool_use_id: "s",
              content: [
                { type: "tool_reference", tool_name: "Grep" },
                { type: "search_result", title: "Docs", source: "https://x", content: [{ type: "text", text: "t" }] },
              ],
            },
          ],
        },
      ],
    });
    expect(found.messages).toEqual([
      { role: "tool", tool_call_id: "s", content: "[tool Grep is available]\n\nDocs\nhttps://x\n\nt" },
    ]);
  });

  it("maps a completion back: thinking, text, tool_use, stop reason and usage with cache reads", () => {
    const msg = openaiToAnthropic(
      {
        id: "chatcmpl-abc",
        model: "tiny",
        choices: [
          {
            finish_reason: "tool_calls",
            message: {
              role: "assistant",
              content: "ok",
              reasoning_content: "think",
              tool_calls: [{ id: "c1", type: "function", function: { name: "f", arguments: '{"a":1}' } }],
            },
          },
        ],
        usage: { prompt_tokens: 100, completion_tokens: 7, prompt_tokens_details: { cached_tokens: 90 } },
      },
      "req",
    );
    expect(msg).toEqual({
      id: "msg_abc",
      type: "message",
      role: "assistant",
      model: "tiny",
      content: [
        { type: "thinking", thinking: "think", signature: "" },
        { type: "text", text: "ok" },
        { type: "tool_use", id: "c1", name: "f", input: { a: 1 } },
      ],
      stop_reason: "tool_use",
      stop_sequence: null,
      usage: { input_tokens: 10, output_tokens: 7, cache_read_input_tokens: 90, cache_creation_input_tokens: 0 },
    });
  });

  it("streams the exact Anthropic event sequence", () => {
    const w = new AnthropicStreamWriter("m");
    const chunk = (delta: object, finish: string | null = null) => ({
      id: "chatcmpl-x",
      model: "tiny",
      choices: [{ index: 0, delta, finish_reason: finish }],
    });
    let out = w.chunk(chunk({ role: "assistant", content: null }));
    out += w.chunk(chunk({ reasoning_content: "r" }));
    out += w.chunk(chunk({ content: "Hel" }));
    out += w.chunk(chunk({ content: "lo" }));
    out += w.chunk(
      chunk({ tool_calls: [{ index: 0, id: "c1", type: "function", function: { name: "f", arguments: '{"a"' } }] }),
    );
    out += w.chunk(chunk({ tool_calls: [{ index: 0, function: { arguments: ":1}" } }] }));
    out += w.chunk(chunk({}, "tool_calls"));
    out += w.chunk({
      id: "chatcmpl-x",
      choices: [],
      usage: { prompt_tokens: 5, completion_tokens: 4, prompt_tokens_details: { cached_tokens: 2 } },
    });
    out += w.end();
    const events = out
      .split("\n\n")
      .filter(Boolean)
      .map((e) => {
        const [name, data] = e.split("\n");
        return { name: name?.slice(7), data: JSON.parse(data?.slice(6) ?? "{}") };
      });
    expect(events.map((e) => e.name)).toEqual([
      "message_start",
      "ping",
      "content_block_start",
      "content_block_delta",
      "content_block_stop",
      "content_block_start",
      "content_block_delta",
      "content_block_delta",
      "content_block_stop",
      "content_block_start",
      "content_block_delta",
      "content_block_delta",
      "content_block_stop",
      "message_delta",
      "message_stop",
    ]);
    expect(events[2]?.data.content_block).toEqual({ type: "thinking", thinking: "", signature: "" });
    expect(events[9]?.data.content_block).toEqual({ type: "tool_use", id: "c1", name: "f", input: {} });
    expect(
      events
        .filter((e) => e.data.delta?.type === "input_json_delta")
        .map((e) => e.data.delta.partial_json)
        .join(""),
    ).toBe('{"a":1}');
    expect(events[13]?.data).toEqual({
      type: "message_delta",
      delta: { stop_reason: "tool_use", stop_sequence: null },
      usage: { input_tokens: 3, output_tokens: 4, cache_read_input_tokens: 2, cache_creation_input_tokens: 0 },
    });
  });
});
