import { describe, expect, it } from "vitest";
import { AdmissionQueue } from "../../src/admission/queue.js";
import { Cancellation } from "../../src/cancellation.js";
import { classifyBackground, localAnswer } from "../../src/claude/background.js";
import {
  NORMALIZED_HEADER,
  normalizeAnthropic,
  normalizeOpenai,
  normalizeText,
} from "../../src/claude/billing-header.js";
import { SidecarError } from "../../src/errors.js";
import { AnthropicStreamWriter, openaiToAnthropic } from "../../src/translate/to-anthropic.js";
import { anthropicToOpenai } from "../../src/translate/to-openai.js";

const header = (cch: string) => `x-anthropic-billing-header: cc_version=2.1.101.e51; cc_entrypoint=cli; cch=${cch};`;

describe("billing header normalization", () => {
  it("replaces the whole header value, whatever the cch length, and keeps the prompt after it", () => {
    for (const cch of ["a5145", "0", "abcdef0123456789"]) {
      expect(normalizeText(`${header(cch)}You are Claude Code.`)).toBe(`${NORMALIZED_HEADER}You are Claude Code.`);
    }
    expect(normalizeText(`${header("x")}\nYou are Claude Code.`)).toBe(`${NORMALIZED_HEADER}\nYou are Claude Code.`);
  });

  it("leaves prompts without the header alone", () => {
    expect(normalizeText("You are helpful. x-anthropic-billing-header: cch=1;")).toBeUndefined();
  });

  it("normalizes Anthropic system strings and text blocks, and OpenAI system and developer messages", () => {
    const a = {
      system: [
        { type: "text", text: header("11111") },
        { type: "text", text: "Rules." },
      ],
    };
    expect(normalizeAnthropic(a)).toBe(1);
    expect(a.system[0]?.text).toBe(NORMALIZED_HEADER);
    const s = { system: `${header("22")}Rules.` };
    expect(normalizeAnthropic(s)).toBe(1);
    const o = {
      messages: [
        { role: "system", content: `${header("333")}Rules.` },
        { role: "developer", content: [{ type: "text", text: header("4") }] },
        { role: "user", content: header("5") },
      ],
    };
    expect(normalizeOpenai(o)).toBe(2);
    expect(o.messages[2]?.content).toBe(header("5")); // user text is never touched
  });
});

describe("background calls", () => {
  it("recognises titles, topic checks, quota probes and Haiku-class work", () => {
    expect(classifyBackground({ system: "Please write a 5-10 word title for the following conversation:" })).toBe(
      "title",
    );
    expect(
      classifyBackground({
        system: [{ type: "text", text: "Analyze if this message indicates a new conversation topic." }],
      }),
    ).toBe("topic");
    expect(
      classifyBackground({ model: "claude-sonnet-4", max_tokens: 1, messages: [{ role: "user", content: "quota" }] }),
    ).toBe("quota");
    expect(classifyBackground({ model: "claude-3-5-haiku-20241022", max_tokens: 512 })).toBe("haiku");
    expect(
      classifyBackground({ model: "claude-sonnet-4", max_tokens: 32000, system: "You are Claude Code." }),
    ).toBeUndefined();
    // Claude Code 1.0's title prompt.
    expect(
      classifyBackground({
        system: "Summarize this coding conversation in under 50 characters.\nCapture the main task.",
      }),
    ).toBe("title");
  });

  it("never takes an agent's turn for a background call, whatever its prompt says", () => {
    const bash = [{ name: "Bash", description: "Run a command", input_schema: { type: "object" } }];
    const turn = {
      model: "claude-sonnet-4",
      max_tokens: 4000,
      tools: bash,
      system: "When you open a pull request, generate a short, descriptive PR title.",
      messages: [{ role: "user", content: "Run the test suite and fix what fails." }],
    };
    expect(classifyBackground(turn)).toBeUndefined();
    expect(classifyBackground({ ...turn, max_tokens: 1 })).toBeUndefined();
    expect(classifyBackground({ ...turn, model: "claude-haiku-4-5" })).toBeUndefined(); // a Haiku subagent
    // Without tools, a long system prompt that mentions titles is still an agent's, not a title request.
    const long = `You are an agent.\n${"Follow the repository's conventions. ".repeat(200)}Generate a short PR title.`;
    expect(classifyBackground({ ...turn, tools: undefined, system: long })).toBeUndefined();
    // One token of a conversation (not a one-message probe) is model work.
    const conversation = [...turn.messages, { role: "assistant", content: "ok" }, { role: "user", content: "go" }];
    expect(classifyBackground({ model: "claude-sonnet-4", max_tokens: 1, messages: conversation })).toBeUndefined();
  });

  it("answers an older title prompt with the title alone, a newer one with title JSON", () => {
    const messages = [{ role: "user", content: "Fix the flaky login test, please!" }];
    const text = (body: Record<string, unknown>) => JSON.parse(localAnswer("title", body).body).content[0].text;
    expect(text({ system: "Summarize this coding conversation in under 50 characters.", messages })).toBe(
      "Fix the flaky login test please",
    );
    const aboutJson = [{ role: "user", content: "Parse the JSON config" }];
    expect(text({ system: "Summarize this coding conversation in under 50 characters.", messages: aboutJson })).toBe(
      "Parse the json config",
    );
    const json = "Generate a concise, sentence-case title. Return JSON with a single 'title' field.";
    expect(JSON.parse(text({ system: json, messages }))).toEqual({ title: "Fix the flaky login test please" });
  });

  it("answers a title locally with title JSON, streamed as the full Anthropic event sequence", () => {
    const body = {
      model: "claude-haiku",
      stream: true,
      system: "Generate a concise, sentence-case title. Return JSON with a single 'title' field.",
      messages: [{ role: "user", content: "Fix the flaky login test, please!" }],
    };
    const answer = localAnswer("title", body);
    expect(answer.contentType).toBe("text/event-stream");
    const events = [...answer.body.matchAll(/^event: (\w+)$/gm)].map((m) => m[1]);
    expect(events).toEqual([
      "message_start",
      "content_block_start",
      "content_block_delta",
      "content_block_stop",
      "message_delta",
      "message_stop",
    ]);
    const delta = JSON.parse(
      answer.body
        .split("\n")
        .filter((l) => l.startsWith("data: "))[2]
        ?.slice(6) ?? "{}",
    );
    expect(JSON.parse(delta.delta.text)).toEqual({ title: "Fix the flaky login test please" });
  });
});

describe("admission queue", () => {
  it("admits up to the limit, then FIFO with interactive before background", async () => {
    const q = new AdmissionQueue({ limit: () => 1, maxQueued: 10, maxWaitMs: 10_000 });
    const never = new Cancellation();
    const first = await q.acquire("interactive", never);
    const order: string[] = [];
    const track = (name: string, p: ReturnType<typeof q.acquire>) =>
      p.then((t) => {
        order.push(name);
        return t;
      });
    const bg = track("bg", q.acquire("background", never));
    const i1 = track("i1", q.acquire("interactive", never));
    const i2 = track("i2", q.acquire("interactive", never));
    expect(q.depth).toBe(3);
    first.release();
    (await i1).release();
    (await i2).release();
    (await bg).release();
    expect(order).toEqual(["i1", "i2", "bg"]);
    expect(q.active).toBe(0);
  });

  it("rejects when full, after the longest wait, and drops a waiter whose client left", async () => {
    const q = new AdmissionQueue({ limit: () => 1, maxQueued: 1, maxWaitMs: 50 });
    const never = new Cancellation();
    const held = await q.acquire("interactive", never);
    const waiting = q.acquire("interactive", never);
    await expect(q.acquire("interactive", never)).rejects.toMatchObject({ code: "overloaded" });
    await expect(waiting).rejects.toBeInstanceOf(SidecarError);
    const leaving = new Cancellation();
    const gone = q.acquire("interactive", leaving);
    expect(q.depth).toBe(1);
    leaving.abort();
    await expect(gone).rejects.toMatchObject({ code: "client_closed" });
    expect(q.depth).toBe(0);
    // A client that left before its turn to queue is turned away at once, and takes no place.
    const left = new Cancellation();
    left.abort();
    await expect(q.acquire("interactive", left)).rejects.toMatchObject({ code: "client_closed" });
    expect(q.depth).toBe(0);
    held.release();
  });
});

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
