// Memory of cache-miss forensics: 1,000 distinct conversations with prompts shaped like Claude Code's (a 15 KB
// system prompt, 20 tools, 30 messages), heap measured before and after. Usage: node --expose-gc --import tsx
// bench/forensics-memory.ts
import { CacheForensics } from "../src/forensics/forensics.js";

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with node --expose-gc");

function prompt(i: number) {
  return {
    model: "local",
    max_tokens: 4096,
    system: [
      { type: "text", text: `x-anthropic-billing-header: cc_version=2.1.101.e51; cch=${i};` },
      { type: "text", text: `You are Claude Code, conversation ${i}. `.repeat(400) },
    ],
    tools: Array.from({ length: 20 }, (_, t) => ({
      name: `tool_${t}`,
      description: `Tool ${t} does one thing well. `.repeat(30),
      input_schema: { type: "object", properties: { path: { type: "string" } } },
    })),
    messages: Array.from({ length: 30 }, (_, m) => ({
      role: m % 2 ? "assistant" : "user",
      content: [{ type: "text", text: `Message ${m} of conversation ${i}. `.repeat(15) }],
    })),
  };
}

function heap(): number {
  gc?.();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

for (const limit of [256, 1000]) {
  const forensics = new CacheForensics({ limit });
  const before = heap();
  const started = performance.now();
  for (let i = 0; i < 1000; i++) {
    forensics.judge({
      dialect: "anthropic-messages",
      body: prompt(i),
      sessionKey: `session-${i}`,
      model: "local",
      prefillTokens: 20_000,
      cachedTokens: 0,
      restarts: 0,
    });
  }
  const ms = (performance.now() - started) / 1000;
  const after = heap();
  const chars = JSON.stringify(prompt(0)).length;
  console.log(
    `limit ${limit}: ${forensics.conversationCount} conversations kept of 1,000 seen; ` +
      `${((after - before) / 1024 / 1024).toFixed(1)} MB, ` +
      `${((after - before) / forensics.conversationCount / 1024).toFixed(1)} KB each; ` +
      `${ms.toFixed(2)} ms per ${(chars / 1024).toFixed(0)} KB prompt fingerprinted and judged`,
  );
}
