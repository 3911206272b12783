// The sidecar in front of a real llama-server: exact counts, cache reuse, aborts and the official SDK clients.
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { idleCounters, slots } from "../support/llama-metrics.js";
import { type LlamaServer, startLlamaServer } from "../support/llama-server.js";
import { startTestSidecar, type TestSidecar } from "../support/sidecar.js";
import { ATTR, assertRequestSpan } from "../support/spans.js";

let llama: LlamaServer;
let sidecar: TestSidecar;

beforeAll(async () => {
  llama = await startLlamaServer({ parallel: 1, ctx: 8192 });
  sidecar = await startTestSidecar(llama.url);
});
afterAll(async () => {
  await sidecar?.close();
  await llama?.stop();
});
beforeEach(() => {
  sidecar.clearRecords();
});

const messages = (text: string) => [
  { role: "system", content: "You are a terse assistant for a test suite." },
  { role: "user", content: text },
];

const REQUESTS: { name: string; path: string; body: Record<string, unknown> }[] = [
  {
    name: "chat streamed",
    path: "/v1/chat/completions",
    body: { model: "tiny", messages: messages("one"), max_tokens: 24, stream: true },
  },
  { name: "chat", path: "/v1/chat/completions", body: { model: "tiny", messages: messages("two"), max_tokens: 24 } },
  {
    name: "completions streamed",
    path: "/v1/completions",
    body: { model: "tiny", prompt: "Three", max_tokens: 16, stream: true },
  },
  { name: "completions", path: "/v1/completions", body: { model: "tiny", prompt: "Four", max_tokens: 16 } },
  { name: "/completion streamed", path: "/completion", body: { prompt: "Five", n_predict: 16, stream: true } },
  { name: "/completion", path: "/completion", body: { prompt: "Six", n_predict: 16 } },
  {
    name: "responses streamed",
    path: "/v1/responses",
    body: { model: "tiny", input: "Nine", max_output_tokens: 16, stream: true },
  },
  { name: "responses", path: "/v1/responses", body: { model: "tiny", input: "Ten", max_output_tokens: 16 } },
  {
    name: "messages streamed",
    path: "/v1/messages",
    body: {
      model: "tiny",
      max_tokens: 24,
      stream: true,
      system: "Be brief.",
      messages: [{ role: "user", content: "seven" }],
    },
  },
  {
    name: "messages",
    path: "/v1/messages",
    body: { model: "tiny", max_tokens: 24, system: "Be brief.", messages: [{ role: "user", content: "eight" }] },
  },
];

describe("exactness against llama-server's own counters", () => {
  for (const req of REQUESTS) {
    it(`${req.name}: prefill, cached and generated tokens equal what llama-server counted`, async () => {
      const before = await idleCounters(llama.url);
      const res = await fetch(`${sidecar.url}${req.path}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(req.body),
      });
      expect(res.status).toBe(200);
      await res.text();
      const after = await idleCounters(llama.url);
      const [r] = await sidecar.waitForRecords(1);
      expect(r?.outcome).toBe("ok");
      expect({ prefill: r?.prefillTokens, cached: r?.cachedTokens, output: r?.outputTokens }).toEqual({
        prefill: after.prompt - before.prompt,
        cached: after.cached - before.cached,
        output: after.predicted - before.predicted,
      });
      expect(r?.outputTokens).toBeGreaterThan(0);
      if ((req.path === "/v1/messages" || req.path === "/v1/responses") && !req.body.stream) {
        // llama-server's non-streamed Anthropic and Responses answers carry no timings and arrive whole.
        expect(r?.ttftMs).toBeUndefined();
      } else {
        expect(r?.ttftMs).toBeGreaterThan(0);
        expect(r?.decodeTps).toBeGreaterThan(0);
      }
    });
  }
});

describe("KV-cache reuse", () => {
  it("shows the second identical prompt served from the cache", async () => {
    const body = JSON.stringify({
      model: "tiny",
      messages: messages("cache me ".repeat(40)),
      max_tokens: 4,
      temperature: 0,
    });
    for (let i = 0; i < 2; i++) {
      await (
        await fetch(`${sidecar.url}/v1/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body,
        })
      ).text();
    }
    const [first, second] = await sidecar.waitForRecords(2);
    const prompt = (first?.prefillTokens ?? 0) + (first?.cachedTokens ?? 0);
    expect(prompt).toBeGreaterThan(100);
    expect(second?.cachedTokens ?? 0).toBeGreaterThanOrEqual(prompt - 2);
    expect(second?.prefillTokens ?? 99).toBeLessThanOrEqual(2);
  });
});

describe("client aborts", () => {
  it("frees llama-server's slot within a second of the client going away", async () => {
    const before = await idleCounters(llama.url);
    const ac = new AbortController();
    const res = await fetch(`${sidecar.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "tiny", messages: messages("go on forever"), max_tokens: 7000, stream: true }),
      signal: ac.signal,
    });
    const reader = res.body?.getReader();
    let seen = "";
    while (!seen.includes('"content":"')) seen += new TextDecoder().decode((await reader?.read())?.value);
    expect((await slots(llama.url)).some((s) => s.is_processing)).toBe(true);
    ac.abort();
    const abortedAt = Date.now();
    let idle = false;
    while (!idle && Date.now() - abortedAt < 1000) {
      idle = (await slots(llama.url)).every((s) => !s.is_processing);
      if (!idle) await new Promise((r) => setTimeout(r, 25));
    }
    expect(idle).toBe(true);
    const after = await idleCounters(llama.url);
    expect(after.predicted - before.predicted).toBeLessThan(7000);
    const [r] = await sidecar.waitForRecords(1);
    expect(r?.outcome).toBe("client_abort");
  });
});

describe("official SDK clients through the sidecar", () => {
  it("openai: a streamed chat completion arrives whole and is counted exactly", async () => {
    const client = new OpenAI({ baseURL: `${sidecar.url}/v1`, apiKey: "local" });
    const stream = await client.chat.completions.create({
      model: "tiny",
      messages: [{ role: "user", content: "stream please" }],
      max_tokens: 20,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = "";
    let usage: OpenAI.CompletionUsage | undefined | null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? "";
      usage = chunk.usage ?? usage;
    }
    expect(text.length).toBeGreaterThan(0);
    const [r] = await sidecar.waitForRecords(1);
    expect(r?.outputTokens).toBe(usage?.completion_tokens);
    expect((r?.prefillTokens ?? 0) + (r?.cachedTokens ?? 0)).toBe(usage?.prompt_tokens);
    expect(r?.client).toBe("other");
  });

  it("anthropic: the stream helper's final message matches the sidecar's record", async () => {
    const client = new Anthropic({ baseURL: sidecar.url, apiKey: "local" });
    const stream = client.messages.stream({
      model: "tiny",
      max_tokens: 20,
      system: "Answer.",
      messages: [{ role: "user", content: "hello from the SDK" }],
    });
    let deltas = 0;
    stream.on("text", () => {
      deltas++;
    });
    const final = await stream.finalMessage();
    expect(deltas).toBeGreaterThan(0);
    expect(final.stop_reason).toBe("max_tokens");
    const [r] = await sidecar.waitForRecords(1);
    expect(r?.outputTokens).toBe(final.usage.output_tokens);
    expect(r?.prefillTokens).toBe(final.usage.input_tokens);
    expect(r?.cachedTokens).toBe(final.usage.cache_read_input_tokens ?? 0);
    expect(r?.finishReason).toBe("max_tokens");
  });
});

describe("llama-server's native routes pass through", () => {
  it("serves /health, /props, /slots, /v1/models and /tokenize from llama-server", async () => {
    expect(await (await fetch(`${sidecar.url}/health`)).json()).toEqual({ status: "ok" });
    const props = (await (await fetch(`${sidecar.url}/props`)).json()) as { total_slots: number };
    expect(props.total_slots).toBe(1);
    expect(await slots(sidecar.url)).toHaveLength(1);
    const models = (await (await fetch(`${sidecar.url}/v1/models`)).json()) as { data: { id: string }[] };
    expect(models.data[0]?.id).toBe("tiny");
    const tok = await fetch(`${sidecar.url}/tokenize`, { method: "POST", body: JSON.stringify({ content: "hello" }) });
    expect(((await tok.json()) as { tokens: number[] }).tokens.length).toBeGreaterThan(0);
  });
});

describe("embeddings", () => {
  let embedder: LlamaServer;
  let front: TestSidecar;
  beforeAll(async () => {
    embedder = await startLlamaServer({ extraArgs: ["--embeddings", "--pooling", "mean"] });
    front = await startTestSidecar(embedder.url);
  });
  afterAll(async () => {
    await front?.close();
    await embedder?.stop();
  });

  it("openai: the vectors come through, and the input tokens equal what llama-server counted", async () => {
    const client = new OpenAI({ baseURL: `${front.url}/v1`, apiKey: "local" });
    const before = await idleCounters(embedder.url);
    const res = await client.embeddings.create({ model: "emb", input: ["hello world", "a second input"] });
    const after = await idleCounters(embedder.url);
    expect(res.data).toHaveLength(2);
    expect(res.data[0]?.embedding.length).toBeGreaterThan(0);
    const [r] = await front.waitForRecords(1);
    expect(r).toMatchObject({ operation: "embeddings", model: "emb", outcome: "ok" });
    expect(r?.prefillTokens).toBe(res.usage.prompt_tokens);
    expect(r?.prefillTokens).toBe(after.prompt - before.prompt);
    const span = front.spans().at(-1);
    assertRequestSpan(
      span,
      { status: 200, outcome: "ok", name: "embeddings emb" },
      { [ATTR.GEN_AI_USAGE_INPUT_TOKENS]: res.usage.prompt_tokens },
    );
  });
});
