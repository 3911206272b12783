// Claude Code against a single-slot local llama-server: cache-stable prompts, count_tokens, background calls,
// the admission queue, translation for upstreams without /v1/messages, and errors in Anthropic's shape.
import Anthropic from "@anthropic-ai/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load.js";
import { type FakeLlama, fixture, fromClients, startFakeLlama } from "../support/fake-llama.js";
import { llamaCounters } from "../support/llama-metrics.js";
import { type LlamaServer, startLlamaServer } from "../support/llama-server.js";
import { startTestSidecar, type TestSidecar } from "../support/sidecar.js";
import { ATTR, expectSpanAttributes } from "../support/spans.js";

let llama: LlamaServer;
const cleanups: (() => Promise<unknown>)[] = [];
beforeAll(async () => {
  llama = await startLlamaServer({ parallel: 1, ctx: 8192 });
});
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  await llama?.stop();
});

async function sidecarFor(upstream: string, args: string[] = []): Promise<TestSidecar> {
  const s = await startTestSidecar(upstream, args);
  cleanups.push(() => s.close());
  return s;
}

const billing = (cch: string) => `x-anthropic-billing-header: cc_version=2.1.101.e51; cc_entrypoint=cli; cch=${cch};`;
const LONG_RULES = Array.from({ length: 60 }, (_, i) => `Rule ${i}: keep answers short and cite files.`).join("\n");
const CLAUDE_UA = { "user-agent": "claude-cli/2.1.101 (external, cli)" };

/** The recorded /v1/messages request, sent as Claude Code would, for another model. */
function messageAs(url: string, model: string): Promise<Response> {
  return fetch(`${url}/v1/messages`, {
    method: "POST",
    headers: { "content-type": "application/json", ...CLAUDE_UA },
    body: JSON.stringify({ ...(fixture("post-v1-messages").request.body as object), model }),
  });
}

interface ChatResult {
  content: string;
  usage: { prompt_tokens: number; prompt_tokens_details: { cached_tokens: number } };
}

async function chat(url: string, messages: object[]): Promise<ChatResult> {
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "tiny", messages, max_tokens: 8, temperature: 0 }),
  });
  const body = (await res.json()) as { choices: { message: { content: string } }[]; usage: ChatResult["usage"] };
  return { content: body.choices[0]?.message.content ?? "", usage: body.usage };
}

/** Five turns, each with a fresh cch= as Claude Code sends; returns cached/prompt per turn. */
async function conversation(url: string): Promise<number[]> {
  const messages: object[] = [];
  const ratios: number[] = [];
  for (let turn = 0; turn < 5; turn++) {
    const system = { role: "system", content: `${billing(Math.random().toString(16).slice(2, 7))}\n${LONG_RULES}` };
    messages.push({ role: "user", content: `Turn ${turn}: what next?` });
    const r = await chat(url, [system, ...messages]);
    messages.push({ role: "assistant", content: r.content });
    ratios.push(r.usage.prompt_tokens_details.cached_tokens / r.usage.prompt_tokens);
  }
  return ratios;
}

describe("cache-stable prompts (OpenAI path, which llama-server does not normalize itself)", () => {
  it("keeps at least 95% of the prompt cached on turns 2-5, where without it the cache misses", async () => {
    const on = await sidecarFor(llama.url);
    const withIt = await conversation(on.url);
    for (const r of withIt.slice(1)) expect(r).toBeGreaterThanOrEqual(0.95);
    expect(await on.metrics()).toMatch(/llama_sidecar_billing_header_normalizations_total 5/);
    expect(on.records.every((r) => r.normalized)).toBe(true);

    const off = await sidecarFor(llama.url, ["--normalize-billing-header", "false"]);
    const without = await conversation(off.url);
    for (const r of without.slice(1)) expect(r).toBeLessThan(0.2);
  });
});

describe("count_tokens", () => {
  const body = {
    model: "tiny",
    system: "Be brief.",
    messages: [
      { role: "user", content: "Hi there" },
      { role: "assistant", content: "Hello." },
      { role: "user", content: "Count me." },
    ],
  };
  const count = async (url: string, b: object = body) => {
    const res = await fetch(`${url}/v1/messages/count_tokens?beta=true`, {
      method: "POST",
      headers: { "content-type": "application/json", ...CLAUDE_UA },
      body: JSON.stringify(b),
    });
    return {
      status: res.status,
      cache: res.headers.get("x-llama-sidecar-cache"),
      body: (await res.json()) as { input_tokens: number },
    };
  };

  it("forwards to llama-server's own count, answers a repeat from its cache, and counts exactly without it", async () => {
    const direct = (await (
      await fetch(`${llama.url}/v1/messages/count_tokens`, { method: "POST", body: JSON.stringify(body) })
    ).json()) as {
      input_tokens: number;
    };
    const s = await sidecarFor(llama.url);
    const first = await count(s.url);
    expect(first).toMatchObject({ status: 200, cache: null, body: { input_tokens: direct.input_tokens } });
    expect((await count(s.url)).cache).toBe("hit");
    // Each preflight is counted and spanned like a forwarded request.
    const records = await s.waitForRecords(2);
    expect(records.map((r) => [r.route, r.model, r.client, r.outcome, r.status])).toEqual([
      ["/v1/messages/count_tokens", "tiny", "claude-code", "ok", 200],
      ["/v1/messages/count_tokens", "tiny", "claude-code", "ok", 200],
    ]);
    expect(s.spans().map((span) => span.name)).toEqual([
      "POST /v1/messages/count_tokens",
      "POST /v1/messages/count_tokens",
    ]);
    expect(await s.metrics()).toMatch(
      /llama_sidecar_requests_total\{route="\/v1\/messages\/count_tokens",model="tiny",client="claude-code",outcome="ok"[^}]*\} 2/,
    );

    // Translation mode counts locally with llama-server's /apply-template and /tokenize: the same number.
    const local = await sidecarFor(llama.url, ["--translate", "always"]);
    expect((await count(local.url)).body.input_tokens).toBe(direct.input_tokens);
  });

  it("matches the prompt llama-server then actually processes", async () => {
    const s = await sidecarFor(llama.url, ["--translate", "always"]);
    const { body: counted } = await count(s.url);
    const client = new Anthropic({ baseURL: s.url, apiKey: "local" });
    const msg = await client.messages.create({ ...body, max_tokens: 4 } as Anthropic.MessageCreateParamsNonStreaming);
    expect(msg.usage.input_tokens + (msg.usage.cache_read_input_tokens ?? 0)).toBe(counted.input_tokens);
  });
});

describe("background calls", () => {
  let fake: FakeLlama;
  let s: TestSidecar;
  beforeAll(async () => {
    fake = await startFakeLlama();
    cleanups.push(() => fake.close());
    s = await sidecarFor(fake.url);
  });
  const forwarded = () => fromClients(fake).filter((x) => x.path.startsWith("/v1/"));

  it("answers titles, topic checks and quota probes locally, through the official SDK, streamed or not", async () => {
    const client = new Anthropic({ baseURL: s.url, apiKey: "local", defaultHeaders: CLAUDE_UA });
    const title = await client.messages.create({
      model: "claude-3-5-haiku-20241022",
      max_tokens: 512,
      system: "Generate a concise, sentence-case title (3-7 words) for this session. Return JSON with a 'title' field.",
      messages: [{ role: "user", content: "Refactor the payment service" }],
    });
    const text = title.content[0]?.type === "text" ? title.content[0].text : "";
    expect(JSON.parse(text)).toEqual({ title: "Refactor the payment service" });

    const topic = await client.messages
      .stream({
        model: "claude-3-5-haiku-20241022",
        max_tokens: 512,
        system: "Analyze if this message indicates a new conversation topic.",
        messages: [{ role: "user", content: "and now the tests" }],
      })
      .finalMessage();
    expect(topic.content[0]).toMatchObject({ type: "text", text: '{"isNewTopic":false,"title":null}' });

    const quota = await client.messages.create({
      model: "claude-sonnet-4-5",
      max_tokens: 1,
      messages: [{ role: "user", content: "quota" }],
    });
    expect(quota.stop_reason).toBe("end_turn");
    expect(forwarded()).toHaveLength(0);

    const metrics = await s.metrics();
    expect(metrics).toMatch(
      /llama_sidecar_background_requests_total\{class="title",policy="local",outcome="local"\} 1/,
    );
    expect(metrics).toMatch(
      /llama_sidecar_background_requests_total\{class="quota",policy="local",outcome="local"\} 1/,
    );
    expect(metrics).not.toMatch(/llama_sidecar_requests_total\{[^}]*outcome="local"/);
    expect(s.stats.totals().requests).toBe(0);
  });

  it("forwards other Haiku-class calls, labelled, and keeps them out of the model-work counters", async () => {
    const res = await messageAs(s.url, "claude-haiku-4-5");
    expect(res.status).toBe(200);
    expect(forwarded()).toHaveLength(1);
    await s.waitForRecords(4);
    const span = s.spans().at(-1);
    expectSpanAttributes(span, { [ATTR.BACKGROUND_CLASS]: "haiku", [ATTR.BACKGROUND_POLICY]: "forward" });
    expect(s.stats.totals().generated).toBe(0);
  });
});

describe("admission queue on a single-slot llama-server", () => {
  it("keeps one request in flight among 100 concurrent Claude Code requests: each succeeds or gets a clean 429", async () => {
    const s = await sidecarFor(llama.url, ["--queue-max", "40"]);
    let maxProcessing = 0;
    let maxDeferred = 0;
    let maxActive = 0;
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const c = await llamaCounters(llama.url);
        maxProcessing = Math.max(maxProcessing, c.processing);
        const text = await (await fetch(`${llama.url}/metrics`)).text();
        maxDeferred = Math.max(maxDeferred, Number(/^llamacpp:requests_deferred (\S+)/m.exec(text)?.[1] ?? 0));
        const own = await s.metrics();
        maxActive = Math.max(
          maxActive,
          Number(/^llama_sidecar_queue_active_requests\{upstream="default"\} (\S+)/m.exec(own)?.[1] ?? 0),
        );
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const results = await Promise.all(
      Array.from({ length: 100 }, async (_, i) => {
        const res = await fetch(`${s.url}/v1/messages?beta=true`, {
          method: "POST",
          headers: { "content-type": "application/json", "anthropic-version": "2023-06-01", ...CLAUDE_UA },
          body: JSON.stringify({
            model: "claude-sonnet-4-5",
            max_tokens: 24,
            stream: true,
            system: [
              { type: "text", text: billing(String(i)) },
              { type: "text", text: "You are Claude Code." },
            ],
            messages: [{ role: "user", content: `task ${i}` }],
          }),
        });
        return { status: res.status, retryAfter: res.headers.get("retry-after"), body: await res.text() };
      }),
    );
    watching = false;
    await watcher;
    expect(maxProcessing).toBeLessThanOrEqual(1);
    expect(maxDeferred).toBe(0);
    expect(maxActive).toBe(1);
    const ok = results.filter((r) => r.status === 200);
    const refused = results.filter((r) => r.status === 429);
    expect(ok.length + refused.length).toBe(100);
    expect(refused.length).toBeGreaterThan(0);
    for (const r of ok) expect(r.body).toContain("event: message_stop");
    for (const r of refused) {
      expect(Number(r.retryAfter)).toBeGreaterThan(0);
      expect(JSON.parse(r.body)).toMatchObject({ type: "error", error: { type: "overloaded_error" } });
    }
    expect(await s.metrics()).toMatch(
      /llama_sidecar_queue_rejections_total\{reason="queue_full",upstream="default"\} \d+/,
    );
    expect((await fetch(`${llama.url}/health`)).status).toBe(200);
  });
});

describe("translation for upstreams without /v1/messages", () => {
  const tools: Anthropic.Tool[] = [
    {
      name: "get_weather",
      description: "Weather for a city",
      input_schema: {
        type: "object",
        properties: { city: { type: "string", enum: ["Paris", "Rome"] } },
        required: ["city"],
      },
    },
  ];

  it("streams through the SDK helpers with the exact event sequence and llama-server's exact usage", async () => {
    const s = await sidecarFor(llama.url, ["--translate", "always"]);
    const client = new Anthropic({ baseURL: s.url, apiKey: "local" });
    const stream = client.messages.stream({
      model: "tiny",
      max_tokens: 16,
      system: "Be brief.",
      messages: [{ role: "user", content: "Hello" }],
    });
    const events: string[] = [];
    stream.on("streamEvent", (e) => events.push(e.type));
    const final = await stream.finalMessage();
    expect(events[0]).toBe("message_start");
    expect(events.slice(-2)).toEqual(["message_delta", "message_stop"]);
    expect(events).toContain("content_block_delta");
    expect(final.stop_reason).toBe("max_tokens");
    const [r] = await s.waitForRecords(1);
    expect(r?.translated).toBe(true);
    expect(final.usage.output_tokens).toBe(r?.outputTokens);
    expect(final.usage.input_tokens).toBe(r?.prefillTokens);
    expect(final.usage.cache_read_input_tokens).toBe(r?.cachedTokens);
    expect(r?.derived).toBe(false); // llama-server's timings came through the OpenAI stream
  });

  it("round-trips a tool call: tool_use out of llama-server, tool_result back in", async () => {
    const s = await sidecarFor(llama.url, ["--translate", "always"]);
    const client = new Anthropic({ baseURL: s.url, apiKey: "local" });
    // A random-weight model will not choose to call a tool, so the assistant turn is prefilled with the call
    // and tool_choice "any" makes llama-server's grammar hold it to the schema; its parser then returns tool_calls.
    const call = `<tool_call>\n${JSON.stringify({ name: "get_weather", arguments: { city: "Paris" } })}\n</tool_call>`;
    const first = await client.messages
      .stream({
        model: "tiny",
        max_tokens: 24,
        tools,
        tool_choice: { type: "any", disable_parallel_tool_use: true },
        messages: [
          { role: "user", content: "What is the weather in Paris?" },
          { role: "assistant", content: call },
        ],
      })
      .finalMessage();
    const toolUse = first.content.find((b) => b.type === "tool_use");
    expect(toolUse).toMatchObject({ type: "tool_use", name: "get_weather", input: { city: "Paris" } });
    if (toolUse?.type !== "tool_use") throw new Error("no tool_use block");

    const second = await client.messages
      .stream({
        model: "tiny",
        max_tokens: 12,
        tools,
        messages: [
          { role: "user", content: "What is the weather in Paris?" },
          { role: "assistant", content: [toolUse] },
          { role: "user", content: [{ type: "tool_result", tool_use_id: toolUse.id, content: "Sunny, 24 C" }] },
        ],
      })
      .finalMessage();
    expect(second.content[0]?.type).toBe("text");
    expect(second.usage.output_tokens).toBeGreaterThan(0);
  });

  it("switches to translation by itself when its own probe finds llama-server without /v1/messages", async () => {
    const fake = await startFakeLlama();
    cleanups.push(() => fake.close());
    fake.missing = new Set(["/v1/messages"]);
    const s = await sidecarFor(fake.url);
    const client = new Anthropic({ baseURL: s.url, apiKey: "local" });
    for (let i = 0; i < 2; i++) {
      const msg = await client.messages.create({
        model: "tiny",
        max_tokens: 12,
        messages: [{ role: "user", content: "hi" }],
      });
      expect(msg.type).toBe("message");
      expect(msg.usage.output_tokens).toBe(12);
    }
    // Asked once, as the server came online: no client request was spent finding out.
    expect(fake.seen.filter((x) => x.own && x.path === "/v1/messages")).toHaveLength(1);
    expect(fromClients(fake).filter((x) => x.path === "/v1/messages")).toHaveLength(0);
    expect(fromClients(fake).filter((x) => x.path === "/v1/chat/completions")).toHaveLength(2);
  });

  it("turns an upstream failure mid-stream into an Anthropic error event", async () => {
    const fake = await startFakeLlama();
    cleanups.push(() => fake.close());
    const s = await sidecarFor(fake.url, ["--translate", "always"]);
    const res = await fetch(`${s.url}/v1/messages`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-fake-fault": "die-mid-stream", "x-fake-gap-ms": "20" },
      body: JSON.stringify({
        model: "tiny",
        max_tokens: 12,
        stream: true,
        messages: [{ role: "user", content: "hi" }],
      }),
    });
    const text = await res.text();
    expect(text.startsWith("event: message_start")).toBe(true);
    expect(text.trimEnd().split("\n\n").at(-1)).toMatch(
      /^event: error\ndata: \{"type":"error","error":\{"type":"api_error"/,
    );
  });
});

describe("errors in Anthropic's shape", () => {
  it("answers a prompt over the context with Anthropic's own prompt-too-long error", async () => {
    const small = await startLlamaServer({ ctx: 256 });
    cleanups.push(() => small.stop());
    const s = await sidecarFor(small.url);
    const res = await fetch(`${s.url}/v1/messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        model: "tiny",
        max_tokens: 8,
        messages: [{ role: "user", content: "word ".repeat(600) }],
      }),
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { type: string; error: { type: string; message: string } };
    expect(body.type).toBe("error");
    expect(body.error.type).toBe("invalid_request_error");
    // Anthropic's words, with llama-server's numbers: Claude Code compacts on this message.
    expect(body.error.message).toMatch(/^prompt is too long: \d+ tokens > 256 maximum$/);
  });

  it("reports a loading llama-server as overloaded_error, with its message", async () => {
    const fake = await startFakeLlama();
    cleanups.push(() => fake.close());
    fake.state = "loading";
    const s = await sidecarFor(fake.url);
    const res = await fetch(`${s.url}/v1/messages`, {
      method: "POST",
      body: JSON.stringify({ model: "tiny", max_tokens: 4, messages: [] }),
    });
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ type: "error", error: { type: "overloaded_error", message: "Loading model" } });
  });
});

describe("background policy 'route'", () => {
  it("sends Haiku-class calls to --background-upstream, and refuses 'route' without one", async () => {
    const main = await startFakeLlama();
    const small = await startFakeLlama();
    cleanups.push(
      () => main.close(),
      () => small.close(),
    );
    const s = await sidecarFor(main.url, ["--background-haiku", "route", "--background-upstream", small.url]);
    const res = await messageAs(s.url, "claude-3-5-haiku-20241022");
    expect(res.status).toBe(200);
    expect(fromClients(small).filter((x) => x.path === "/v1/messages")).toHaveLength(1);
    expect(fromClients(main).filter((x) => x.path === "/v1/messages")).toHaveLength(0);
    const [r] = await s.waitForRecords(1);
    expect(r).toMatchObject({ background: "haiku", backgroundPolicy: "route", outcome: "ok" });

    // A background server without /v1/messages is translated for; the main one keeps its own API.
    small.missing = new Set(["/v1/messages"]);
    expect((await messageAs(s.url, "claude-3-5-haiku-20241022")).status).toBe(200);
    expect(fromClients(small).at(-1)?.path).toBe("/v1/chat/completions");
    expect((await messageAs(s.url, "claude-sonnet-4-5")).status).toBe(200);
    expect(
      fromClients(main)
        .filter((x) => x.path.startsWith("/v1/"))
        .map((x) => x.path),
    ).toEqual(["/v1/messages"]);

    expect(() => parseConfig(["--background-title", "route"], {})).toThrow(
      /--background-title="route".*--background-upstream/,
    );
  });
});
