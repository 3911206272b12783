import type { Logger } from "pino";
import { describe, expect, it } from "vitest";
import { divergence } from "../../../src/forensics/divergence.js";
import { CHUNK_BUDGET, PromptPrint, promptBlocks } from "../../../src/forensics/fingerprint.js";
import { CacheForensics } from "../../../src/forensics/forensics.js";

const header = (cch: string) => `x-anthropic-billing-header: cc_version=2.1.101.e51; cc_entrypoint=cli; cch=${cch};`;
const LONG_SYSTEM = "You are an agent. ".repeat(200); // 3,600 characters

function anthropic(messages: string[], extra: Record<string, unknown> = {}) {
  return {
    model: "tiny",
    max_tokens: 32,
    system: [
      { type: "text", text: header("abc12") },
      { type: "text", text: LONG_SYSTEM, cache_control: { type: "ephemeral" } },
    ],
    tools: [
      { name: "read_file", description: "reads", input_schema: { type: "object" } },
      { name: "mcp__github__search", description: "searches", input_schema: { type: "object" } },
    ],
    messages: messages.map((text, i) => ({ role: i % 2 ? "assistant" : "user", content: [{ type: "text", text }] })),
    ...extra,
  };
}

const blocksOf = (body: Record<string, unknown>) => promptBlocks("anthropic-messages", body) ?? [];
const promptOf = (body: Record<string, unknown>) => {
  const blocks = blocksOf(body);
  return { blocks, print: PromptPrint.of(blocks) };
};

describe("prompt fingerprints", () => {
  it("lays the prompt out as the template does: system, tools, then messages", () => {
    expect(blocksOf(anthropic(["hi", "hello", "go on"])).map((b) => b.path)).toEqual([
      "system[0]",
      "system[1]",
      "tools[read_file]",
      "tools[mcp__github__search]",
      "messages[0].content[0]",
      "messages[1].content[0]",
      "messages[2].content[0]",
    ]);
    const openai = promptBlocks("openai-chat", {
      messages: [
        { role: "user", content: "hi" },
        { role: "system", content: "be brief" },
      ],
      tools: [{ type: "function", function: { name: "f" } }],
    });
    expect(openai?.map((b) => b.path)).toEqual(["messages[1]", "tools[f]", "messages[0]"]);
  });

  it("keeps no text, and a bounded number of chunk hashes however long the prompt", () => {
    const body = anthropic(["secret marker 7431 ".repeat(50_000)]);
    const print = PromptPrint.of(blocksOf(body));
    expect(JSON.stringify(print)).not.toContain("marker");
    expect(print.chunkCount).toBeLessThanOrEqual(CHUNK_BUDGET + print.size);
    expect(print.bytes).toBeLessThan(6 * 1024);
    expect(print.chars).toBeGreaterThan(900_000);
  });

  it("ignores cache_control markers, which move from turn to turn and never reach the prompt", () => {
    const a = anthropic(["one"]);
    const b = anthropic(["one"]);
    (b.messages[0]?.content[0] as Record<string, unknown>).cache_control = { type: "ephemeral" };
    (b.tools[1] as Record<string, unknown>).cache_control = { type: "ephemeral" };
    expect(divergence(PromptPrint.of(blocksOf(a)), promptOf(b)).kind).toBe("extends");
  });
});

describe("where two prompts part", () => {
  const first = anthropic(["hi", "hello", "go on"]);
  const prev = PromptPrint.of(blocksOf(first));

  it("sees a conversation going on as extending the last prompt", () => {
    const d = divergence(prev, promptOf(anthropic(["hi", "hello", "go on", "done", "more"])));
    expect(d).toEqual({ kind: "extends", commonChars: prev.chars });
  });

  it("locates a change inside a system block to its chunk", () => {
    const edited = anthropic(["hi", "hello", "go on"]);
    const text = `${LONG_SYSTEM.slice(0, 412)}X${LONG_SYSTEM.slice(413)}`;
    (edited.system[1] as { text: string }).text = text;
    const d = divergence(prev, promptOf(edited));
    expect(d.kind).toBe("changed");
    if (d.kind !== "changed") return;
    expect(d.path).toBe("system[1]");
    expect(d.at?.[0]).toBeLessThanOrEqual(412);
    expect(d.at?.[1]).toBeGreaterThanOrEqual(412);
    expect((d.at?.[1] ?? 0) - (d.at?.[0] ?? 0)).toBeLessThan(64);
  });

  it("names a tool added or removed, an edited message and a history cut short", () => {
    const added = anthropic(["hi", "hello", "go on"]);
    added.tools.splice(1, 0, { name: "write_file", description: "writes", input_schema: { type: "object" } });
    expect(divergence(prev, promptOf(added))).toMatchObject({ kind: "inserted", path: "tools[write_file]" });
    const removed = anthropic(["hi", "hello", "go on"]);
    removed.tools.splice(0, 1);
    expect(divergence(prev, promptOf(removed))).toMatchObject({ kind: "removed", path: "tools[read_file]" });
    expect(divergence(prev, promptOf(anthropic(["hi", "HELLO", "go on"])))).toMatchObject({
      kind: "changed",
      path: "messages[1].content[0]",
    });
    expect(divergence(prev, promptOf(anthropic(["hi"])))).toMatchObject({
      kind: "truncated",
      path: "messages[1].content[0]",
    });
  });
});

describe("cache-miss verdicts", () => {
  const turn = (body: Record<string, unknown>, prefill: number, cached: number, more: object = {}) => ({
    dialect: "anthropic-messages" as const,
    body,
    model: "tiny",
    prefillTokens: prefill,
    cachedTokens: cached,
    restarts: 0,
    sessionKey: "s1",
    ...more,
  });

  it("finds no miss in a warm conversation", () => {
    const f = new CacheForensics();
    // The first turn has nothing to compare with: only its conversation.
    expect(f.judge(turn(anthropic(["a"]), 1000, 0))).toEqual({ conversation: expect.any(String) });
    for (let n = 2; n <= 5; n++) {
      const v = f.judge(turn(anthropic(Array.from({ length: n * 2 - 1 }, (_, i) => `m${i}`)), 20, 1000 + n * 30));
      expect(v?.cause).toBeUndefined();
      expect(v?.lostTokens).toBe(0);
    }
  });

  it("names the rotating billing header, with where and what it cost", () => {
    const f = new CacheForensics();
    f.judge(turn(anthropic(["a"]), 1000, 0));
    const next = anthropic(["a", "b", "c"]);
    (next.system[0] as { text: string }).text = header("zz999");
    const v = f.judge(turn(next, 1040, 0));
    expect(v).toMatchObject({ cause: "billing_header", expectedTokens: 1000, lostTokens: 1000 });
    expect(v?.location).toMatch(/^system\[0\] changed at characters \d+-\d+$/);
  });

  it("puts each cause in its place, from the certain to unknown", () => {
    const cases: [string, Record<string, unknown>, object, string][] = [
      ["cache off", anthropic(["a", "b", "c"], { cache_prompt: false }), {}, "cache_disabled"],
      ["model", anthropic(["a", "b", "c"]), { model: "other" }, "model_changed"],
      ["restart", anthropic(["a", "b", "c"]), { restarts: 1 }, "server_restarted"],
      ["overflow", anthropic(["a", "b", "c"]), { nCtx: 512 }, "context_overflow"],
      ["tool", anthropic(["a", "b", "c"], { tools: [] }), {}, "tools_changed"],
      [
        "thinking",
        anthropic(["a", "b", "c"], { thinking: { type: "enabled", budget_tokens: 1024 } }),
        {},
        "thinking_changed",
      ],
      ["warm prompt, cold cache", anthropic(["a", "b", "c"]), {}, "unknown"],
    ];
    for (const [name, body, more, want] of cases) {
      const f = new CacheForensics();
      f.judge(turn(anthropic(["a"]), 1000, 0));
      expect(f.judge(turn(body, 1040, 0, more))?.cause, name).toBe(want);
    }
  });

  it("blames the conversation that ran in between, and says whether it was background work", () => {
    const f = new CacheForensics();
    f.judge(turn(anthropic(["a"]), 1000, 0));
    f.judge(turn(anthropic(["title please"]), 50, 0, { sessionKey: "s2", background: "title" }));
    const v = f.judge(turn(anthropic(["a", "b", "c"]), 1040, 0));
    expect(v).toMatchObject({ cause: "other_conversation" });
    expect(v?.location).toContain("background call (title)");
  });

  it("names another slot, and on a known slot blames only what ran on that slot", () => {
    const moved = new CacheForensics();
    moved.judge(turn(anthropic(["a"]), 1000, 0, { slot: 0 }));
    const v = moved.judge(turn(anthropic(["a", "b", "c"]), 1040, 0, { slot: 1 }));
    expect(v).toMatchObject({
      cause: "different_slot",
      location: "slot 1; the conversation's last turn ran on slot 0",
    });

    const evicted = new CacheForensics();
    evicted.judge(turn(anthropic(["a"]), 1000, 0, { slot: 0 }));
    evicted.judge(turn(anthropic(["elsewhere"]), 500, 0, { sessionKey: "s2", slot: 1 }));
    evicted.judge(turn(anthropic(["here"]), 500, 0, { sessionKey: "s3", slot: 0 }));
    const w = evicted.judge(turn(anthropic(["a", "b", "c"]), 1040, 0, { slot: 0 }));
    expect(w).toMatchObject({ cause: "other_conversation", location: "conversation s:s3 ran in between on slot 0" });

    const unknown = new CacheForensics();
    unknown.judge(turn(anthropic(["a"]), 1000, 0, { slot: 0 }));
    unknown.judge(turn(anthropic(["elsewhere"]), 500, 0, { sessionKey: "s2", slot: 1 }));
    expect(unknown.judge(turn(anthropic(["a", "b", "c"]), 1040, 0, { slot: 0 }))?.cause).toBe("unknown");
  });

  it("finds a conversation without a session id by the prompt it shares", () => {
    const f = new CacheForensics();
    f.judge(turn(anthropic(["a"]), 1000, 0, { sessionKey: undefined }));
    f.judge(turn({ ...anthropic(["z"]), system: "another agent" }, 500, 0, { sessionKey: undefined }));
    const v = f.judge(turn(anthropic(["a", "b", "c"]), 40, 1000, { sessionKey: undefined }));
    expect(v).toMatchObject({ expectedTokens: 1000, lostTokens: 0 });
    expect(f.conversationCount).toBe(2);
  });

  it("takes a new task of the same agent (same system prompt and tools, a new first message) for a new conversation", () => {
    const f = new CacheForensics();
    const first = f.judge(turn(anthropic(["fix the parser"]), 1000, 0, { sessionKey: undefined }));
    const v = f.judge(turn(anthropic(["write the docs"]), 30, 980, { sessionKey: undefined }));
    expect(v).toEqual({ conversation: expect.any(String) }); // nothing to compare with: its first turn
    expect(v?.conversation).not.toBe(first?.conversation);
    expect(f.conversationCount).toBe(2);
  });

  it("logs one line per cause in ten seconds, counting the rest into the next, and never text", () => {
    const lines: string[] = [];
    const logger = { info: (_fields: object, msg: string) => lines.push(msg) } as unknown as Logger;
    const f = new CacheForensics({ logger });
    const miss = (at: number) =>
      f.note({
        at,
        conversation: "s:x",
        cause: "cache_disabled",
        location: "cache_prompt: false",
        expectedTokens: 90,
        lostTokens: 90,
      });
    miss(0);
    miss(1000);
    miss(2000);
    miss(11_000);
    expect(lines).toEqual([
      "cache miss (cache_disabled): cache_prompt: false; 90 of 90 prompt tokens a warm cache would have kept were processed again, conversation s:x",
      "cache miss (cache_disabled): cache_prompt: false; 90 of 90 prompt tokens a warm cache would have kept were processed again, conversation s:x (and 2 more of this cause since the last line)",
    ]);
    expect(f.recentMisses).toHaveLength(4);
  });

  it("holds a bounded number of conversations", () => {
    const f = new CacheForensics({ limit: 100 });
    for (let i = 0; i < 1000; i++) f.judge(turn(anthropic([`conversation ${i}`]), 100, 0, { sessionKey: `s${i}` }));
    expect(f.conversationCount).toBe(100);
  });
});
