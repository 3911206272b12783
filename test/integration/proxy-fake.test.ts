// The sidecar in front of the recorded fake llama-server: pass-through, observation, errors and faults.
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, request } from "node:http";
import { type AddressInfo, connect } from "node:net";
import { join } from "node:path";
import { SpanStatusCode } from "@opentelemetry/api";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type FakeLlama, fixture, startFakeLlama } from "../support/fake-llama.js";
import { freePort } from "../support/llama-server.js";
import { startTestSidecar, type TestSidecar } from "../support/sidecar.js";
import { promtoolCheckMetrics } from "../support/tools.js";

let fake: FakeLlama;
let sidecar: TestSidecar;

beforeAll(async () => {
  fake = await startFakeLlama();
  sidecar = await startTestSidecar(fake.url, ["--max-body-mb", "0.01"]);
});
afterAll(async () => {
  await sidecar?.close();
  await fake?.close();
});
beforeEach(() => {
  sidecar.clearRecords();
  fake.seen.length = 0;
  // (the sidecar's own health checks and scrapes also reach the fake; tests look at forwarded() only)
});

const BACKGROUND = new Set(["/health", "/metrics", "/slots", "/props"]);
const forwarded = () => fake.seen.filter((s) => !BACKGROUND.has(s.path));

interface ErrorJson {
  type?: string;
  error: { type: string; message: string; code?: string | number };
}

const errorJson = async (res: Response) => (await res.json()) as ErrorJson;

function post(path: string, body: unknown, headers: Record<string, string> = {}, signal?: AbortSignal) {
  return fetch(sidecar.url + path, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
    signal,
  });
}

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
      expect(forwarded()[0]?.body).toBe(JSON.stringify(f.request.body));
    });
  }

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
    expect(span?.name).toBe("chat tiny");
    const a = span?.attributes ?? {};
    expect(a["gen_ai.operation.name"]).toBe("chat");
    expect(a["gen_ai.request.model"]).toBe("tiny");
    expect(a["gen_ai.usage.output_tokens"]).toBe(12);
    expect(a["gen_ai.usage.input_tokens"]).toBe(37);
    expect(a["gen_ai.usage.cache_read.input_tokens"]).toBe(0);
    expect(a["llamacpp.ttft_ms"]).toBeTypeOf("number");
    expect(a["llamacpp.timings.derived"]).toBe(true);
    // The sidecar's own time before forwarding: a fraction of a millisecond, never negative.
    expect(a["llamacpp.proxy.overhead_ms"]).toBeGreaterThanOrEqual(0);
    expect(a["llamacpp.proxy.overhead_ms"]).toBeLessThan(50);
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
    expect(text).toMatch(/^llama_sidecar_queue_rejections_total\{reason="queue_full"\} \d+$/m);
    expect(text).toMatch(/^llama_sidecar_queue_rejections_total\{reason="wait"\} \d+$/m);
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

describe("errors in the client's protocol", () => {
  it("answers malformed JSON with 400 before anything reaches llama-server", async () => {
    const openai = await post("/v1/chat/completions", "{not json");
    expect(openai.status).toBe(400);
    expect((await errorJson(openai)).error.type).toBe("invalid_request_error");
    const anthropic = await post("/v1/messages", "[1,2]");
    expect(anthropic.status).toBe(400);
    expect(await anthropic.json()).toMatchObject({ type: "error", error: { type: "invalid_request_error" } });
    expect(forwarded()).toHaveLength(0);
    await sidecar.waitForRecords(2);
    expect(sidecar.records.map((r) => r.outcome)).toEqual(["rejected", "rejected"]);
  });

  it("refuses an over-limit body with a clear 413", async () => {
    const big = { model: "tiny", messages: [{ role: "user", content: "x".repeat(20_000) }] };
    const res = await post("/v1/messages", big);
    expect(res.status).toBe(413);
    const body = await errorJson(res);
    expect(body).toMatchObject({ type: "error", error: { type: "request_too_large" } });
    expect(body.error.message).toMatch(/--max-body-mb/);
    expect(forwarded()).toHaveLength(0);
  });

  it("ends a stream that llama-server drops with an SSE error event", async () => {
    const cases: [string, string][] = [
      ["post-v1-chat-completions-stream", 'data: {"error"'],
      ["post-v1-messages-stream", "event: error\ndata: "],
    ];
    for (const [name, marker] of cases) {
      const f = fixture(name);
      const text = await (
        await post(f.request.path, f.request.body, { "x-fake-fault": "die-mid-stream", "x-fake-gap-ms": "20" })
      ).text();
      // What llama-server sent before it died reached the client first.
      expect(text.split("\n\n").length).toBeGreaterThan(3);
      const last = text.trimEnd().split("\n\n").pop() ?? "";
      expect(last.startsWith(marker)).toBe(true);
      const payload = JSON.parse(last.slice(last.indexOf("data: ") + 6));
      expect(JSON.stringify(payload)).toMatch(/upstream|api_error/);
    }
    await sidecar.waitForRecords(2);
    expect(sidecar.records.map((r) => r.outcome)).toEqual(["upstream_error", "upstream_error"]);
  });

  it("counts an error llama-server sends in-band, in a response that ends cleanly, as an upstream error", async () => {
    const f = fixture("post-v1-chat-completions-stream");
    const res = await post(f.request.path, f.request.body, { "x-fake-fault": "error-event" });
    expect(res.status).toBe(200);
    expect(await res.text()).toMatch(/boom mid-stream/);
    await sidecar.waitForRecords(1);
    expect(sidecar.records[0]).toMatchObject({
      status: 200,
      outcome: "upstream_error",
      errorMessage: "boom mid-stream",
    });
  });

  it("gives up a request whose client leaves while still sending its body, and counts it", async () => {
    const port = Number(new URL(sidecar.url).port);
    const socket = connect(port, "127.0.0.1");
    await once(socket, "connect");
    socket.write(
      'POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{"model":',
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    socket.destroy();
    await sidecar.waitForRecords(1);
    expect(sidecar.records[0]).toMatchObject({ outcome: "client_abort", route: "/v1/chat/completions" });
    expect(forwarded()).toHaveLength(0);
    const metrics = await (await fetch(`${sidecar.url}/metrics`)).text();
    expect(metrics).toMatch(/^llama_sidecar_in_flight_requests 0$/m);
  });

  it("sends once more on a fresh connection when a pooled one turns out dead (llama-server restarted)", async () => {
    fake.resetNext = 1;
    const f = fixture("post-v1-chat-completions");
    const res = await post(f.request.path, f.request.body);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(f.body);
    expect(forwarded()).toHaveLength(2);
  });

  it("maps a connection reset before headers to 502 (after that one retry)", async () => {
    const res = await post("/v1/messages", { model: "tiny", messages: [] }, { "x-fake-fault": "reset-before-headers" });
    expect(res.status).toBe(502);
    expect(await res.json()).toMatchObject({ type: "error", error: { type: "api_error" } });
  });
});

describe("client disconnects", () => {
  it("aborts the upstream request when the client goes away mid-stream", async () => {
    const f = fixture("post-v1-chat-completions-stream");
    const ac = new AbortController();
    const res = await post(f.request.path, f.request.body, { "x-fake-gap-ms": "50", "x-fake-repeat": "50" });
    const reader = res.body?.getReader();
    await reader?.read();
    await reader?.cancel();
    ac.abort();
    const [r] = await sidecar.waitForRecords(1);
    expect(r?.outcome).toBe("client_abort");
    for (let i = 0; i < 50 && !forwarded()[0]?.closedEarly; i++) await new Promise((r) => setTimeout(r, 20));
    expect(forwarded()[0]?.closedEarly).toBe(true);
  });

  it("counts a client that leaves before llama-server answered as a client abort, not an upstream failure", async () => {
    const f = fixture("post-v1-chat-completions");
    const ac = new AbortController();
    const pending = post(f.request.path, f.request.body, { "x-fake-prefill-ms": "2000" }, ac.signal);
    while (forwarded().length === 0) await new Promise((r) => setTimeout(r, 10));
    ac.abort();
    await expect(pending).rejects.toThrow();
    const [r] = await sidecar.waitForRecords(1);
    expect(r).toMatchObject({ outcome: "client_abort", status: 499 });
    expect(r?.errorMessage).toBeUndefined();
    const span = sidecar.spans().at(-1);
    expect(span?.attributes["error.type"]).toBe("client_abort");
    expect(span?.status.code).not.toBe(SpanStatusCode.ERROR);
    for (let i = 0; i < 50 && !forwarded()[0]?.closedEarly; i++) await new Promise((r) => setTimeout(r, 20));
    expect(forwarded()[0]?.closedEarly).toBe(true);
  });
});

describe("labels from what clients send", () => {
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

describe("backpressure", () => {
  it("reads from llama-server no faster than the client reads from the sidecar, and loses nothing", async () => {
    const total = 96 * 1024 * 1024;
    const piece = Buffer.alloc(64 * 1024, "x");
    let written = 0;
    const upstream = createServer(async (req, res) => {
      // Only the client's request streams: the sidecar's own health checks and scrapes get a 404.
      if (req.url !== "/big") return void res.writeHead(404).end();
      res.writeHead(200, { "content-type": "application/octet-stream" });
      while (written < total) {
        written += piece.length;
        if (!res.write(piece)) await once(res, "drain");
      }
      res.end();
    });
    upstream.listen(0, "127.0.0.1");
    await once(upstream, "listening");
    const s = await startTestSidecar(`http://127.0.0.1:${(upstream.address() as AddressInfo).port}`);
    try {
      const res = await new Promise<IncomingMessage>((resolve) => request(`${s.url}/big`, resolve).end());
      res.pause();
      // Wait until the upstream stops being able to write: every buffer on the way is full.
      let last = -1;
      while (written !== last) {
        last = written;
        await new Promise((r) => setTimeout(r, 300));
      }
      expect(written).toBeLessThan(total / 2);
      let received = 0;
      res.on("data", (b: Buffer) => {
        received += b.length;
      });
      res.resume();
      await once(res, "end");
      expect(received).toBe(total);
    } finally {
      await s.close();
      upstream.close();
    }
  });
});

describe("an unreachable or slow llama-server", () => {
  it("answers 502 in each protocol when nothing listens upstream", async () => {
    const down = await startTestSidecar(`http://127.0.0.1:${await freePort()}`);
    try {
      const openai = await fetch(`${down.url}/v1/chat/completions`, { method: "POST", body: "{}" });
      expect(openai.status).toBe(502);
      expect((await errorJson(openai)).error).toMatchObject({
        type: "upstream_unreachable",
        code: "upstream_unreachable",
      });
      const anthropic = await fetch(`${down.url}/v1/messages`, { method: "POST", body: "{}" });
      expect(anthropic.status).toBe(502);
      expect((await errorJson(anthropic)).error.message).toMatch(/unreachable/);
      const metrics = await down.metrics();
      expect(metrics).toMatch(/llama_sidecar_upstream_state\{state="unreachable"\} 1/);
    } finally {
      await down.close();
    }
  });

  it("answers 504 when llama-server sends no headers within --upstream-timeout", async () => {
    const slow = await startTestSidecar(fake.url, ["--upstream-timeout", "1"]);
    try {
      const res = await fetch(`${slow.url}/v1/messages`, {
        method: "POST",
        body: "{}",
        headers: { "x-fake-fault": "hang" },
      });
      expect(res.status).toBe(504);
      expect(await res.json()).toMatchObject({ type: "error", error: { type: "timeout_error" } });
    } finally {
      await slow.close();
    }
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
    await (await post(f.request.path, f.request.body)).text();
    await (await fetch(`${sidecar.url}/health`)).text();
    await (await fetch(`${sidecar.url}/v1/models`)).text();
    await (await post("/v1/embeddings", { model: "a|b", input: "x" })).text();
    await sidecar.waitForRecords(4);
    const after = await stats();
    // The chat call and the (failed) embeddings call are model work; /health and /v1/models are not.
    expect(after.sidecar.totals.requests - before.sidecar.totals.requests).toBe(2);
    expect(after.sidecar.byModel["a|b"]?.requests).toBe(1);
    // The last wait is the chat call's, though other requests came after it.
    expect(after.live.queue.lastWaitMs).toBeGreaterThanOrEqual(0);
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

describe("an upstream whose /metrics is not Prometheus text", () => {
  it("still starts and serves, reporting the scrape error", async () => {
    const odd = await startFakeLlama();
    // Serve the recorded chat stream where /metrics should be.
    odd.rawMetrics = fixture("post-v1-chat-completions-stream").body;
    const s = await startTestSidecar(odd.url);
    try {
      const stats = (await (await fetch(`${s.url}/api/stats`)).json()) as {
        upstream: { scrape: { ok: boolean; error: string } };
      };
      expect(stats.upstream.scrape).toMatchObject({ ok: false });
      expect(stats.upstream.scrape.error).toMatch(/not Prometheus text/);
      expect(await s.metrics()).toContain("llama_server_scrape_ok 0");
    } finally {
      await s.close();
      await odd.close();
    }
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
      expect(String(span?.attributes["llamacpp.prompt"])).toContain("Hi there");
      const streamed = f.body
        .split("\n")
        .filter((l) => l.includes('"text_delta"'))
        .map((l) => JSON.parse(l.slice(6)).delta.text)
        .join("");
      expect(span?.attributes["llamacpp.completion"]).toBe(streamed);
      expect(JSON.stringify(s.records)).not.toContain("Hi there");
      expect(await (await fetch(`${s.url}/api/stats`)).text()).not.toContain("Hi there");
    } finally {
      await s.close();
    }
    // Off (the default): no text on spans at all.
    const before = sidecar.spans().length;
    const f = fixture("post-v1-messages");
    await (await post(f.request.path, f.request.body)).text();
    await sidecar.waitForRecords(1);
    const span = sidecar.spans()[before];
    expect(span?.attributes["llamacpp.prompt"]).toBeUndefined();
    expect(span?.attributes["llamacpp.completion"]).toBeUndefined();
  });
});
