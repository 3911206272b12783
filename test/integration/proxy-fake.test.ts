import { readFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { fixture } from "../support/fake-llama.js";
import { type ErrorJson, fake, forwarded, post, sidecar, useFakeProxy } from "../support/fake-proxy.js";
import { startTestSidecar } from "../support/sidecar.js";
import { ATTR, assertRequestSpan, expectSpanAttributes } from "../support/spans.js";
import { promtoolCheckMetrics } from "../support/tools.js";

useFakeProxy();

describe("pass-through", () => {
  for (const name of [
    "post-v1-chat-completions-stream",
    "post-v1-messages-stream",
    "post-completion-stream",
    "post-v1-completions",
    "post-v1-messages",
  ]) {
    it(`${name}: the client gets llama-server's bytes and headers unchanged`, async () => {
      const f = fixture(name);
      const res = await post(`${f.request.path}?beta=true`, f.request.body);
      expect(res.status).toBe(f.status);
      expect(res.headers.get("content-type")).toBe(f.headers["content-type"]);
      expect(await res.text()).toBe(f.body);
      expect(forwarded()[0]?.path).toBe(`${f.request.path}?beta=true`);
      // A stream on a route whose progress reports can be stripped is asked for them: one field spliced in front.
      const body = JSON.stringify(f.request.body);
      const asked = (f.request.body as { stream?: boolean }).stream === true && !name.startsWith("post-v1-messages");
      expect(forwarded()[0]?.body).toBe(asked ? `{"return_progress":true,${body.slice(1)}` : body);
    });
  }

  it("forwards a stream's body untouched with --prompt-progress false", async () => {
    const s = await startTestSidecar(fake.url, ["--prompt-progress", "false"]);
    try {
      const f = fixture("post-v1-chat-completions-stream");
      const res = await fetch(`${s.url}${f.request.path}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(f.request.body),
      });
      expect(await res.text()).toBe(f.body);
      expect(forwarded().at(-1)?.body).toBe(JSON.stringify(f.request.body));
    } finally {
      await s.close();
    }
  });

  it("passes unknown paths and upstream errors through unchanged", async () => {
    const res = await fetch(`${sidecar.url}/no/such/thing?x=1`);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: { code: 404, message: "File Not Found", type: "not_found_error" } });
    expect(forwarded()[0]?.path).toBe("/no/such/thing?x=1");
  });

  it("answers its own paths itself: a wrong method gets 405 and Allow, never llama-server", async () => {
    for (const path of ["/metrics", "/api/stats", "/v1/messages/count_tokens"]) {
      const put = await fetch(sidecar.url + path, { method: "PUT", body: "x" });
      expect(put.status).toBe(405);
      expect(put.headers.get("allow")).toMatch(/GET|POST/);
      // In the client's protocol: Anthropic's error shape for its own path, OpenAI's for the rest.
      const body = (await put.json()) as ErrorJson;
      expect(body.error.type).toBe("invalid_request_error");
      expect(body.error.message).toMatch(/^PUT \/\S+ is not allowed; use .*(GET|POST)/);
      expect(body.type).toBe(path.startsWith("/v1/messages") ? "error" : undefined);
    }
    const options = await fetch(`${sidecar.url}/api/stats`, { method: "OPTIONS" });
    expect(options.status).toBe(200);
    expect(options.headers.get("allow")).toMatch(/GET/);
    expect(forwarded()).toHaveLength(0);
    // llama-server's own /health is not the sidecar's /healthz: it goes through.
    expect((await fetch(`${sidecar.url}/health`)).status).toBe(200);
    expect(fake.seen.at(-1)?.path).toBe("/health");
  });

  it("strips hop-by-hop headers on the way up", async () => {
    // node:http, not fetch: fetch refuses to send a Connection header at all.
    const f = fixture("post-v1-chat-completions");
    const body = JSON.stringify(f.request.body);
    await new Promise<void>((resolve, reject) => {
      const req = request(`${sidecar.url}${f.request.path}`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          connection: "keep-alive, x-secret",
          "x-secret": "1",
          "x-kept": "2",
          "keep-alive": "timeout=5",
        },
      });
      req.on("response", (res) => res.resume().on("end", resolve));
      req.on("error", reject);
      req.end(body);
    });
    expect(forwarded()[0]?.headers["keep-alive"]).toBeUndefined();
    expect(forwarded()[0]?.headers["x-secret"]).toBeUndefined();
    expect(forwarded()[0]?.headers["x-kept"]).toBe("2");
  });

  it("delivers each event while llama-server is still generating (no buffering)", async () => {
    const f = fixture("post-v1-chat-completions-stream");
    const res = await post(f.request.path, f.request.body, { "x-fake-hold": "1" });
    const reader = res.body?.getReader();
    if (!reader) throw new Error("no body");
    await fake.held;
    let received = "";
    // The upstream is parked after its first content event: the client must already have it.
    while (!received.includes('"content":"')) {
      const { value } = await reader.read();
      received += new TextDecoder().decode(value);
    }
    expect(sidecar.records).toHaveLength(0); // the response has not ended
    const during = await (await fetch(`${sidecar.url}/metrics`)).text();
    expect(during).toMatch(/^llama_sidecar_in_flight_requests 1$/m);
    fake.release();
    while (!(await reader.read()).done) {}
    await sidecar.waitForRecords(1);
  });
});

describe("requests in flight", () => {
  it("shows each model request's phase while it runs (prefilling, then generating) and forgets it once done", async () => {
    type Active = {
      route: string;
      client: string;
      model?: string;
      phase: string;
      elapsedMs: number;
      generated: number;
    };
    const active = async () => (await (await fetch(`${sidecar.url}/api/requests/active`)).json()) as Active[];
    expect(await active()).toEqual([]);
    const f = fixture("post-v1-chat-completions-stream");
    const res = await post(f.request.path, f.request.body, {
      "x-fake-prefill-ms": "1500",
      "x-fake-gap-ms": "150",
      "user-agent": "claude-cli/2.0.1 (external, cli)",
    });
    // The entry is kept from the same read that saw the phase: a second read may already be past the prefill.
    let prefilling: Active | undefined;
    await expect
      .poll(
        async () => {
          const [now] = await active();
          if (now?.phase === "prefilling") prefilling = now;
          return prefilling?.phase;
        },
        { timeout: 1400, interval: 50 },
      )
      .toBe("prefilling");
    expect(prefilling).toMatchObject({
      route: "/v1/chat/completions",
      client: "claude-code",
      model: "tiny",
      generated: 0,
    });
    expect(prefilling?.elapsedMs).toBeGreaterThan(0);
    await expect.poll(async () => (await active())[0]?.phase, { timeout: 3000, interval: 50 }).toBe("generating");
    await expect
      .poll(async () => (await active())[0]?.generated ?? 0, { timeout: 3000, interval: 50 })
      .toBeGreaterThan(0);
    const stats = (await (await fetch(`${sidecar.url}/api/stats`)).json()) as { active: Active[] };
    expect(stats.active.map((a) => a.route)).toEqual(["/v1/chat/completions"]);
    await res.text();
    await sidecar.waitForRecords(1);
    expect(await active()).toEqual([]);
  });
});

describe("observation", () => {
  it("times TTFT to the first content, after the prefill delay, not to the early role delta", async () => {
    const f = fixture("post-v1-chat-completions-stream");
    const res = await post(f.request.path, f.request.body, {
      "x-fake-prefill-ms": "300",
      "user-agent": "claude-cli/2.0.1 (external, cli)",
    });
    await res.text();
    const [r] = await sidecar.waitForRecords(1);
    expect(r?.ttftMs).toBeGreaterThanOrEqual(300);
    expect(r).toMatchObject({
      client: "claude-code",
      outcome: "ok",
      stream: true,
      model: "tiny",
      finishReason: "length",
    });
  });

  it("records one span per request with GenAI attributes and no prompt text", async () => {
    const before = sidecar.spans().length;
    const f = fixture("post-v1-messages-stream");
    await (await post(f.request.path, f.request.body)).text();
    await sidecar.waitForRecords(1);
    const span = sidecar.spans()[before];
    assertRequestSpan(
      span,
      { status: 200, outcome: "ok", name: "chat tiny" },
      {
        [ATTR.GEN_AI_OPERATION_NAME]: "chat",
        [ATTR.GEN_AI_REQUEST_MODEL]: "tiny",
        [ATTR.GEN_AI_USAGE_OUTPUT_TOKENS]: 12,
        [ATTR.GEN_AI_USAGE_INPUT_TOKENS]: 37,
        [ATTR.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS]: 0,
        [ATTR.TTFT_MS]: expect.any(Number),
        [ATTR.TIMINGS_DERIVED]: true,
      },
    );
    const a = span?.attributes ?? {};
    // The sidecar's own time before forwarding: a fraction of a millisecond, never negative.
    expect(a[ATTR.PROXY_OVERHEAD_MS]).toBeGreaterThanOrEqual(0);
    expect(a[ATTR.PROXY_OVERHEAD_MS]).toBeLessThan(50);
    const everything = JSON.stringify(a);
    expect(everything).not.toContain("Hi there");
    expect(everything).not.toContain("Be brief");
  });

  it("continues the client's trace when it sends traceparent", async () => {
    const before = sidecar.spans().length;
    const f = fixture("post-v1-chat-completions");
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    await (await post(f.request.path, f.request.body, { traceparent: `00-${traceId}-00f067aa0ba902b7-01` })).text();
    await sidecar.waitForRecords(1);
    expect(sidecar.spans()[before]?.spanContext().traceId).toBe(traceId);
  });

  it("counts a request in /metrics and /api/stats as soon as its response has ended", async () => {
    const f = fixture("post-v1-chat-completions-stream");
    const before = await sidecar.metrics();
    const count = (text: string) =>
      [...text.matchAll(/^llama_sidecar_generated_tokens_total\{[^}]*\} (\d+)$/gm)].reduce(
        (n, m) => n + Number(m[1]),
        0,
      );
    await (await post(f.request.path, f.request.body)).text();
    // No waiting for the record: readers flush what ended but was not yet recorded.
    expect(count(await sidecar.metrics()) - count(before)).toBeGreaterThan(0);
    const stats = (await (await fetch(`${sidecar.url}/api/stats`)).json()) as { recent: { route: string }[] };
    expect(stats.recent[0]?.route).toBe("/v1/chat/completions"); // newest first
  });

  it("has every lifetime total it exports on disk already, so a crash never makes a counter go down", async () => {
    const f = fixture("post-v1-chat-completions");
    await (await post(f.request.path, f.request.body)).text();
    const text = await sidecar.metrics();
    const exported = [...text.matchAll(/^llama_sidecar_requests_total\{[^}]*\} (\d+)$/gm)].reduce(
      (n, m) => n + Number(m[1]),
      0,
    );
    const disk = JSON.parse(readFileSync(join(sidecar.config.dataDir, "stats.json"), "utf8")) as {
      sidecar: { requests: Record<string, number> };
    };
    expect(exported).toBeGreaterThan(0);
    expect(Object.values(disk.sidecar.requests).reduce((a, b) => a + b, 0)).toBe(exported);
  });

  it("exports metrics that promtool accepts, each name once", async () => {
    const f = fixture("post-v1-chat-completions-stream");
    await (await post(f.request.path, f.request.body)).text();
    await sidecar.waitForRecords(1);
    const text = await sidecar.metrics();
    expect(text).toMatch(
      /llama_sidecar_requests_total\{[^}]*route="\/v1\/chat\/completions"[^}]*outcome="ok"[^}]*\} \d+/,
    );
    expect(text).toMatch(/llama_sidecar_time_to_first_token_seconds_bucket\{[^}]*le="600"\}/);
    // Counters with a label exist from the start, so the first increase is seen (and alerted on).
    expect(text).toMatch(/^llama_sidecar_queue_rejections_total\{reason="queue_full",upstream="default"\} \d+$/m);
    expect(text).toMatch(/^llama_sidecar_queue_rejections_total\{reason="wait",upstream="default"\} \d+$/m);
    for (const name of [
      "llama_sidecar_prompt_tokens_total",
      "llama_sidecar_cached_tokens_total",
      "llama_sidecar_generated_tokens_total",
      "llama_sidecar_upstream_up",
      "process_cpu_seconds_total",
    ]) {
      expect(text).toContain(`# TYPE ${name.replace(/_total$/, "")}`);
    }
    const typeLines = text.split("\n").filter((l) => l.startsWith("# TYPE "));
    expect(new Set(typeLines.map((l) => l.split(" ")[2])).size).toBe(typeLines.length);
    expect(promtoolCheckMetrics(text)).toBe("");
  });
});

describe("the Responses API", () => {
  it("is model work: it waits its turn for a slot, and is recorded with its model", async () => {
    await (await post("/v1/responses", { model: "tiny", input: "hi" })).text();
    const [r] = await sidecar.waitForRecords(1);
    expect(r).toMatchObject({ route: "/v1/responses", operation: "chat", model: "tiny" });
    expect(r?.queueWaitMs).toBeGreaterThanOrEqual(0); // it went through the admission queue
  });
});

describe("labels from what clients send", () => {
  it("sums ledger keys that read back alike (written before and after escaping) into one series", async () => {
    const tokens = sidecar.stats.doc.sidecar.tokens;
    tokens["m%x|other|default"] = { prompt: 1, cached: 2, generated: 3 }; // a key from before escaping
    tokens["m%25x|other|default"] = { prompt: 10, cached: 20, generated: 30 }; // the same model, escaped
    const text = await sidecar.metrics();
    expect(text).toMatch(/^llama_sidecar_generated_tokens_total\{model="m%x",client="other",upstream="default"\} 33$/m);
  });

  it("keeps a model name holding the ledger's separator whole, and each client's count apart", async () => {
    const model = "x|evil|hacked";
    const before = await sidecar.metrics();
    for (const ua of ["curl/8", "claude-cli/2.0.1 (external, cli)"]) {
      // The fake has no embeddings: its 404 is an upstream error naming no model, so the request's name counts.
      await (await post("/v1/embeddings", { model, input: "hi" }, { "user-agent": ua })).text();
    }
    await sidecar.waitForRecords(2);
    const text = await sidecar.metrics();
    const count = (t: string, client: string) =>
      Number(
        new RegExp(
          `^llama_sidecar_requests_total\\{route="/v1/embeddings",model="x\\|evil\\|hacked",client="${client}",outcome="upstream_error"[^}]*\\} (\\d+)$`,
          "m",
        ).exec(t)?.[1] ?? 0,
      );
    expect(count(text, "other") - count(before, "other")).toBe(1);
    expect(count(text, "claude-code") - count(before, "claude-code")).toBe(1);
    expect(text).not.toMatch(/client="evil"/);
  });
});

describe("GET /api/stats", () => {
  it("reports the sidecar's ledger, llama-server's lifetime counters and the recent requests", async () => {
    const f = fixture("post-v1-messages-stream");
    for (let i = 0; i < 3; i++)
      await (await post(f.request.path, f.request.body, { "user-agent": "claude-cli/2.1" })).text();
    await sidecar.waitForRecords(3);
    await sidecar.running.scraper.scrape();
    const res = await fetch(`${sidecar.url}/api/stats`);
    expect(res.headers.get("cache-control")).toBe("no-store");
    const s = (await res.json()) as {
      summary: string;
      since: string;
      sidecar: { totals: { requests: number }; byClient: Record<string, { requests: number; generated: number }> };
      upstream: { state: string; lifetime: { generatedTokens: number }; slots: unknown[] };
      recent: { client: string; outputTokens: number }[];
    };
    const own = sidecar.stats.totals();
    expect(s.sidecar.totals).toEqual(own);
    expect(s.sidecar.byClient["claude-code"]?.generated).toBeGreaterThanOrEqual(36);
    expect(s.recent[0]).toMatchObject({ client: "claude-code", outputTokens: 12 });
    expect(s.upstream.state).toBe("online");
    expect(s.upstream.slots).toHaveLength(1);
    expect(s.upstream.lifetime.generatedTokens).toBeGreaterThan(0);
    expect(s.summary).toMatch(
      /^\d+(\.\d)?K? prompt tokens · \d+(\.\d)?K? generated · \d+ requests since [A-Z][a-z]{2} \d+$/,
    );
    expect(JSON.stringify(s)).not.toContain("Hi there");
  });

  it("counts model calls as requests, not health checks, model lists or preflights", async () => {
    const stats = async () =>
      (await (await fetch(`${sidecar.url}/api/stats`)).json()) as {
        sidecar: { totals: { requests: number }; byModel: Record<string, { requests: number }> };
        live: { queue: { lastWaitMs: number | null } };
      };
    const before = await stats();
    const f = fixture("post-v1-chat-completions");
    await (await post("/v1/embeddings", { model: "a|b", input: "x" })).text();
    await (await post(f.request.path, f.request.body)).text();
    await (await fetch(`${sidecar.url}/health`)).text();
    await (await fetch(`${sidecar.url}/v1/models`)).text();
    const records = await sidecar.waitForRecords(4);
    const after = await stats();
    // The chat call and the (failed) embeddings call are model work; /health and /v1/models are not.
    expect(after.sidecar.totals.requests - before.sidecar.totals.requests).toBe(2);
    expect(after.sidecar.byModel["a|b"]?.requests).toBe(1);
    // The last wait is the chat call's, though requests that never queue came after it.
    const chat = records.find((r) => r.route === f.request.path);
    expect(chat?.queueWaitMs).toBeDefined();
    expect(after.live.queue.lastWaitMs).toBe(chat?.queueWaitMs);
  });

  it("serves per-minute and per-hour history", async () => {
    const h = (await (await fetch(`${sidecar.url}/api/history`)).json()) as {
      minutes: { requests: number }[];
      hours: unknown[];
    };
    expect(h.minutes.reduce((a, m) => a + m.requests, 0)).toBeGreaterThan(0);
    expect(h.hours.length).toBeGreaterThan(0);
  });
});

describe("--capture-content", () => {
  it("puts prompt and completion text on spans only when turned on, and never in records or /api/stats", async () => {
    const s = await startTestSidecar(fake.url, ["--capture-content", "true"]);
    try {
      const f = fixture("post-v1-messages-stream");
      await (await fetch(`${s.url}${f.request.path}`, { method: "POST", body: JSON.stringify(f.request.body) })).text();
      await s.waitForRecords(1);
      const span = s.spans()[0];
      // GenAI's message shape, as JSON that parses: what Langfuse, Datadog and Phoenix read.
      const input = JSON.parse(String(span?.attributes[ATTR.GEN_AI_INPUT_MESSAGES]));
      expect(input.at(-1)).toMatchObject({ role: "user", parts: [{ type: "text" }] });
      expect(JSON.stringify(input)).toContain("Hi there");
      const streamed = f.body
        .split("\n")
        .filter((l) => l.includes('"text_delta"'))
        .map((l) => JSON.parse(l.slice(6)).delta.text)
        .join("");
      expect(JSON.parse(String(span?.attributes[ATTR.GEN_AI_OUTPUT_MESSAGES]))).toEqual([
        { role: "assistant", parts: [{ type: "text", content: streamed }], finish_reason: expect.any(String) },
      ]);
      expect(span?.attributes[ATTR.GEN_AI_RESPONSE_ID]).toMatch(/^\w+/);
      expect(span?.attributes[ATTR.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK]).toBeGreaterThan(0);
      expect(JSON.stringify(s.records)).not.toContain("Hi there");
      expect(await (await fetch(`${s.url}/api/stats`)).text()).not.toContain("Hi there");
    } finally {
      await s.close();
    }
    // Off (the default): no text on spans at all; the session still names the conversation.
    const before = sidecar.spans().length;
    const f = fixture("post-v1-messages");
    await (await post(f.request.path, f.request.body, { "x-claude-code-session-id": "sess-42" })).text();
    await sidecar.waitForRecords(1);
    const span = sidecar.spans()[before];
    expectSpanAttributes(span, {
      [ATTR.GEN_AI_CONVERSATION_ID]: "sess-42",
      [ATTR.GEN_AI_INPUT_MESSAGES]: undefined,
      [ATTR.GEN_AI_OUTPUT_MESSAGES]: undefined,
      [ATTR.GEN_AI_SYSTEM_INSTRUCTIONS]: undefined,
    });
  });
});
