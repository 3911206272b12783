import { describe, expect, it } from "vitest";
import { classifyBackground, localAnswer } from "../../../src/claude/background.js";

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
