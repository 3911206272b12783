// Answers to the client: llama-server's errors in the client's protocol, a relay's end settled, local answers.
import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Dispatcher } from "undici";
import { describe, expect, it, vi } from "vitest";
import { ParseScheduler } from "../../../src/observe/tap.js";
import { begin, type Exchange } from "../../../src/proxy/exchange.js";
import { anthropicErrorAnswer, passThrough, type Reply, sendLocal, settle } from "../../../src/proxy/respond.js";
import { type ResponseHeaders, UpstreamBody, type UpstreamResponse } from "../../../src/upstream/response.js";
import type { SidecarContext } from "../../../src/wire/context.js";
import { REQUEST_PARSE_ERRORS } from "../../../src/wire/request-fault.js";

const ORIGIN = "http://127.0.0.1:8080";

function exchange(path: string): Exchange {
  return begin({ path, method: "POST", req: { headers: {} } } as unknown as SidecarContext);
}

/** The parts of Koa's context a responder writes: status, body, type, headers set, and the raw response. */
interface FakeCtx {
  status: number;
  body: unknown;
  type: string;
  respond?: boolean;
  headers: Record<string, string>;
  res: ServerResponse;
  set(field: string | Record<string, string>, value?: string): void;
}

function fakeCtx(res = {} as ServerResponse): FakeCtx {
  const ctx: FakeCtx = {
    status: 404,
    body: undefined,
    type: "",
    headers: {},
    res,
    set(field, value) {
      const fields = typeof field === "string" ? { [field]: String(value) } : field;
      for (const [name, v] of Object.entries(fields)) ctx.headers[name.toLowerCase()] = String(v);
    },
  };
  return ctx;
}

const asCtx = (ctx: FakeCtx) => ctx as unknown as SidecarContext;

/** An answer from llama-server whose body is read whole; `destroyed` counts the times it was abandoned. */
function fakeUp(statusCode: number, text: string | Error, headers: ResponseHeaders = {}) {
  const counts = { destroyed: 0 };
  const up: UpstreamResponse = {
    statusCode,
    headers,
    body: {
      text: async () => {
        if (text instanceof Error) throw text;
        return text;
      },
      destroy: () => {
        counts.destroyed++;
      },
    } as unknown as UpstreamBody,
  };
  return { up, counts };
}

const JSON_TYPE = { "content-type": "application/json; charset=utf-8" };
const overflowBody = JSON.stringify({
  error: {
    code: 400,
    message: "request (9000 tokens) exceeds the available context size (8192 tokens), try increasing it",
    type: "exceed_context_size_error",
    n_prompt_tokens: 9000,
    n_ctx: 8192,
  },
});
/** The reply to an error llama-server sent, kept as its message and type. */
const upstreamReply = (status: number, message: string, type?: string): Reply => ({
  outcome: "upstream_error",
  status,
  upstream: { message, type },
});
const parseFailure = `${REQUEST_PARSE_ERRORS[0]} missing field 'content'`;
const parseFailureBody = JSON.stringify({ error: { code: 500, message: parseFailure, type: "server_error" } });

describe("anthropicErrorAnswer", () => {
  it("turns llama-server's context overflow into Anthropic's prompt-too-long 400, the sizes carried as a value", () => {
    const ctx = fakeCtx();
    const { up } = fakeUp(400, overflowBody, JSON_TYPE);
    const reply = anthropicErrorAnswer(asCtx(ctx), up, overflowBody);
    const message = "prompt is too long: 9000 tokens > 8192 maximum";
    expect(ctx.status).toBe(400);
    expect(ctx.body).toEqual({ type: "error", error: { type: "invalid_request_error", message } });
    expect(reply).toEqual({
      outcome: "upstream_error",
      status: 400,
      error: message,
      overflow: { promptTokens: 9000, nCtx: 8192 },
    });
  });

  it("answers a parse failure's 500 as the client's 400, keeping llama-server's words", () => {
    const ctx = fakeCtx();
    const { up } = fakeUp(500, parseFailureBody, JSON_TYPE);
    const reply = anthropicErrorAnswer(asCtx(ctx), up, parseFailureBody);
    expect(ctx.status).toBe(400);
    expect(ctx.body).toEqual({ type: "error", error: { type: "invalid_request_error", message: parseFailure } });
    expect(reply).toEqual(upstreamReply(400, parseFailure, "server_error"));
  });

  it("keeps the status of any other error, in Anthropic's shape, with llama-server's message and type", () => {
    const ctx = fakeCtx();
    const text = JSON.stringify({ error: { code: 500, message: "slot crashed", type: "server_error" } });
    const reply = anthropicErrorAnswer(asCtx(ctx), fakeUp(500, text, JSON_TYPE).up, text);
    expect(ctx.status).toBe(500);
    expect(ctx.body).toEqual({ type: "error", error: { type: "api_error", message: "slot crashed" } });
    expect(reply).toEqual(upstreamReply(500, "slot crashed", "server_error"));
    expect(ctx.headers["retry-after"]).toBeUndefined();
  });

  it("copies Retry-After from a loading answer", () => {
    const ctx = fakeCtx();
    const text = JSON.stringify({ error: { code: 503, message: "Loading model", type: "unavailable_error" } });
    const reply = anthropicErrorAnswer(asCtx(ctx), fakeUp(503, text, { ...JSON_TYPE, "retry-after": "7" }).up, text);
    expect(ctx.status).toBe(503);
    expect(ctx.headers["retry-after"]).toBe("7");
    expect(ctx.body).toEqual({ type: "error", error: { type: "overloaded_error", message: "Loading model" } });
    expect(reply.upstream).toEqual({ message: "Loading model", type: "unavailable_error" });
  });

  it("takes an error's code for its type where it has no type", () => {
    const text = JSON.stringify({ error: { code: "not_supported", message: "no such thing" } });
    const reply = anthropicErrorAnswer(asCtx(fakeCtx()), fakeUp(404, text, JSON_TYPE).up, text);
    expect(reply.upstream).toEqual({ message: "no such thing", type: "not_supported" });
  });

  it("makes text that is not JSON the message, as it is", () => {
    const ctx = fakeCtx();
    const reply = anthropicErrorAnswer(asCtx(ctx), fakeUp(502, "Bad Gateway").up, "Bad Gateway");
    expect(ctx.status).toBe(502);
    expect(ctx.body).toEqual({ type: "error", error: { type: "api_error", message: "Bad Gateway" } });
    expect(reply).toEqual(upstreamReply(502, "Bad Gateway"));
  });

  it("does not take a 500 whose message merely mentions parsing for the client's fault", () => {
    const ctx = fakeCtx();
    const text = JSON.stringify({ error: { message: `oops: ${parseFailure}`, type: "server_error" } });
    anthropicErrorAnswer(asCtx(ctx), fakeUp(500, text, JSON_TYPE).up, text);
    expect(ctx.status).toBe(500);
  });
});

/** passThrough's answers that are read whole: the response's raw stream is never touched. */
async function errorThrough(path: string, up: UpstreamResponse): Promise<{ ctx: FakeCtx; reply: Reply }> {
  const ctx = fakeCtx();
  const reply = await passThrough(exchange(path), asCtx(ctx), up, ORIGIN, new ParseScheduler());
  expect(ctx.respond).toBeUndefined();
  return { ctx, reply };
}

describe("passThrough's error answers", () => {
  it("puts an error that is not JSON in OpenAI's shape, its status kept", async () => {
    const { ctx, reply } = await errorThrough(
      "/v1/chat/completions",
      fakeUp(404, "  File Not Found\n", { "content-type": "text/plain" }).up,
    );
    expect(ctx.status).toBe(404);
    expect(ctx.body).toEqual({ error: { message: "File Not Found", type: "invalid_request_error", code: 404 } });
    expect(reply).toEqual(upstreamReply(404, "File Not Found", "invalid_request_error"));
  });

  it("says a server error without text (or a content type) by its status, on any route", async () => {
    for (const path of ["/v1/chat/completions", "/completion", "/props"]) {
      const { ctx, reply } = await errorThrough(path, fakeUp(502, "").up);
      const message = "llama-server answered HTTP 502";
      expect(ctx.status).toBe(502);
      expect(ctx.body).toEqual({ error: { message, type: "upstream_error", code: 502 } });
      expect(reply.upstream).toEqual({ message, type: "upstream_error" });
    }
  });

  it("keeps a loading server's Retry-After on an error made from its plain text", async () => {
    const { ctx } = await errorThrough(
      "/v1/chat/completions",
      fakeUp(503, "Loading model", { "content-type": "text/plain", "retry-after": "5" }).up,
    );
    expect(ctx.status).toBe(503);
    expect(ctx.headers["retry-after"]).toBe("5");
  });

  it("keeps at most 500 characters of an error's text", async () => {
    const { ctx } = await errorThrough(
      "/v1/completions",
      fakeUp(500, "x".repeat(2000), { "content-type": "text/html" }).up,
    );
    expect((ctx.body as { error: { message: string } }).error.message).toBe("x".repeat(500));
  });

  it("turns a context overflow on OpenAI's routes into context_length_exceeded, the sizes carried as a value", async () => {
    for (const path of ["/v1/chat/completions", "/v1/completions", "/v1/responses"]) {
      const { ctx, reply } = await errorThrough(path, fakeUp(400, overflowBody, JSON_TYPE).up);
      const message =
        "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens. Please reduce the length of the messages.";
      expect(ctx.status).toBe(400);
      expect(ctx.body).toEqual({
        error: { message, type: "invalid_request_error", param: "messages", code: "context_length_exceeded" },
      });
      expect(reply).toEqual({
        outcome: "upstream_error",
        status: 400,
        error: message,
        overflow: { promptTokens: 9000, nCtx: 8192 },
      });
    }
  });

  it("passes another 400 on as llama-server sent it, with its headers but not hop-by-hop or CORS ones", async () => {
    const text = JSON.stringify({ error: { code: 400, message: "bad temperature", type: "invalid_request_error" } });
    const headers = {
      ...JSON_TYPE,
      "x-request-id": "r1",
      "access-control-allow-origin": "*",
      "transfer-encoding": "chunked",
      connection: "keep-alive",
    };
    const { ctx, reply } = await errorThrough("/v1/chat/completions", fakeUp(400, text, headers).up);
    expect(ctx.status).toBe(400);
    expect(ctx.body).toBe(text);
    expect(ctx.headers).toEqual({ ...JSON_TYPE, "x-request-id": "r1" });
    expect(reply).toEqual(upstreamReply(400, "bad temperature", "invalid_request_error"));
  });

  it("answers a parse failure's 500 on OpenAI's routes as the client's 400", async () => {
    for (const path of ["/v1/chat/completions", "/v1/responses", "/completion"]) {
      const { ctx, reply } = await errorThrough(path, fakeUp(500, parseFailureBody, JSON_TYPE).up);
      expect(ctx.status).toBe(400);
      expect(ctx.body).toEqual({ error: { message: parseFailure, type: "invalid_request_error", code: 400 } });
      expect(reply).toEqual(upstreamReply(400, parseFailure, "server_error"));
    }
  });

  it("answers a parse failure's 500 on Anthropic's route in Anthropic's shape", async () => {
    const { ctx, reply } = await errorThrough("/v1/messages", fakeUp(500, parseFailureBody, JSON_TYPE).up);
    expect(ctx.status).toBe(400);
    expect(ctx.body).toEqual({ type: "error", error: { type: "invalid_request_error", message: parseFailure } });
    expect(reply.status).toBe(400);
  });

  it("passes another 500 on as it was sent", async () => {
    const text = JSON.stringify({ error: { code: 500, message: "CUDA error", type: "server_error" } });
    const { ctx, reply } = await errorThrough("/v1/chat/completions", fakeUp(500, text, JSON_TYPE).up);
    expect(ctx.status).toBe(500);
    expect(ctx.body).toBe(text);
    expect(reply).toEqual(upstreamReply(500, "CUDA error", "server_error"));
  });

  it("throws llama-server's failure when the connection is cut while its error arrives", async () => {
    const cut = Object.assign(new Error("other side closed"), { code: "UND_ERR_SOCKET" });
    const up = fakeUp(500, cut, JSON_TYPE).up;
    await expect(
      passThrough(exchange("/v1/chat/completions"), asCtx(fakeCtx()), up, ORIGIN, new ParseScheduler()),
    ).rejects.toMatchObject({
      code: "upstream_error",
      message: `llama-server at ${ORIGIN} failed: other side closed (UND_ERR_SOCKET)`,
    });
  });
});

/** A ServerResponse as settle and its releases use it, its ends and destroys recorded. */
function fakeRes(destroyed = false) {
  const calls = { ended: [] as unknown[], destroyed: [] as unknown[] };
  const res = {
    writableEnded: false,
    destroyed,
    end(chunk?: unknown) {
      res.writableEnded = true;
      calls.ended.push(chunk);
    },
    destroy(err?: unknown) {
      res.destroyed = true;
      calls.destroyed.push(err);
    },
  };
  return { res: res as unknown as ServerResponse, calls };
}

const socketCut = () => Object.assign(new Error("other side closed"), { code: "UND_ERR_SOCKET" });
const cutMessage = `llama-server at ${ORIGIN} failed: other side closed (UND_ERR_SOCKET)`;

describe("settle", () => {
  it("settles a clean end as ok, its last bytes written only on release, once", () => {
    const { res, calls } = fakeRes();
    const ex = exchange("/v1/chat/completions");
    const { up, counts } = fakeUp(200, "");
    const reply = settle(ex, res, up, { kind: "end", last: "data: [DONE]\n\n" }, ORIGIN, true);
    expect(reply).toMatchObject({ outcome: "ok", status: 200 });
    expect(calls.ended).toEqual([]);
    reply.release?.();
    reply.release?.();
    expect(calls.ended).toEqual(["data: [DONE]\n\n"]);
    expect(counts.destroyed).toBe(0);
    expect(ex.cancel.aborted).toBe(false);
  });

  it("settles a clean end of an error status as upstream_error", () => {
    const { res } = fakeRes();
    const reply = settle(exchange("/props"), res, fakeUp(503, "").up, { kind: "end", last: undefined }, ORIGIN, false);
    expect(reply.outcome).toBe("upstream_error");
    expect(reply.status).toBe(503);
  });

  it("does not end a response that is gone by the time of release", () => {
    const { res, calls } = fakeRes(true);
    const reply = settle(
      exchange("/v1/chat/completions"),
      res,
      fakeUp(200, "").up,
      { kind: "end", last: "x" },
      ORIGIN,
      true,
    );
    reply.release?.();
    expect(calls.ended).toEqual([]);
  });

  it("ends an SSE stream that failed upstream with an error event, in the client's protocol, on release", () => {
    for (const [path, framing] of [
      ["/v1/chat/completions", "data: "],
      ["/v1/messages", "event: error\ndata: "],
    ] as const) {
      const { res, calls } = fakeRes();
      const end = { kind: "upstream_error", error: socketCut() } as const;
      const reply = settle(exchange(path), res, fakeUp(200, "").up, end, ORIGIN, true);
      expect(reply).toMatchObject({ outcome: "upstream_error", status: 200, error: cutMessage });
      expect(calls.ended).toEqual([]);
      reply.release?.();
      expect(calls.ended).toHaveLength(1);
      const event = String(calls.ended[0]);
      expect(event.startsWith(framing)).toBe(true);
      expect(event.endsWith("\n\n")).toBe(true);
      expect(JSON.stringify(JSON.parse(event.slice(framing.length)))).toContain(cutMessage);
      expect(calls.destroyed).toEqual([]);
    }
  });

  it("cuts a response that is not SSE (or an SSE one already gone) when it failed upstream", () => {
    for (const [isSse, gone] of [
      [false, false],
      [true, true],
    ] as const) {
      const { res, calls } = fakeRes(gone);
      const end = { kind: "upstream_error", error: socketCut() } as const;
      const reply = settle(exchange("/v1/chat/completions"), res, fakeUp(200, "").up, end, ORIGIN, isSse);
      reply.release?.();
      expect(calls.ended).toEqual([]);
      expect(calls.destroyed).toHaveLength(1);
      expect(calls.destroyed[0]).toMatchObject({ code: "upstream_error", message: cutMessage });
    }
  });

  it("settles a client abort by cancelling the request and abandoning llama-server's body", () => {
    const { res, calls } = fakeRes();
    const ex = exchange("/v1/chat/completions");
    const { up, counts } = fakeUp(200, "");
    const reply = settle(ex, res, up, { kind: "client_abort" }, ORIGIN, true);
    expect(reply).toEqual({ outcome: "client_abort", status: 200 });
    expect(ex.cancel.aborted).toBe(true);
    expect(counts.destroyed).toBe(1);
    expect(calls).toEqual({ ended: [], destroyed: [] });
  });

  it("takes an upstream error after the client left for the client's abort", () => {
    const { res, calls } = fakeRes();
    const ex = exchange("/v1/chat/completions");
    ex.cancel.abort();
    const { up, counts } = fakeUp(200, "");
    const end = { kind: "upstream_error", error: new Error("the client closed the connection") } as const;
    const reply = settle(ex, res, up, end, ORIGIN, true);
    expect(reply).toEqual({ outcome: "client_abort", status: 200 });
    expect(counts.destroyed).toBe(1);
    expect(calls).toEqual({ ended: [], destroyed: [] });
  });
});

describe("sendLocal", () => {
  it("answers 200 with the answer's type and body; a stream is not to be cached", () => {
    const ctx = fakeCtx();
    const body = 'event: message_start\ndata: {"type":"message_start"}\n\n';
    expect(sendLocal(asCtx(ctx), { contentType: "text/event-stream", body })).toEqual({
      outcome: "local",
      status: 200,
    });
    expect(ctx).toMatchObject({
      status: 200,
      type: "text/event-stream",
      body,
      headers: { "cache-control": "no-cache" },
    });
  });

  it("sets no cache header on a whole JSON answer", () => {
    const ctx = fakeCtx();
    const body = JSON.stringify({ type: "message", content: [] });
    expect(sendLocal(asCtx(ctx), { contentType: "application/json", body })).toEqual({ outcome: "local", status: 200 });
    expect(ctx).toMatchObject({ status: 200, type: "application/json", body, headers: {} });
  });
});

/** A response body fed by the test as undici's dispatch handler feeds it; its socket's pauses are of no interest. */
function upstreamBody(): UpstreamBody {
  const controller = { aborted: false, pause() {}, resume() {}, abort() {} };
  return new UpstreamBody(controller as unknown as Dispatcher.DispatchController);
}

/** llama-server's body as undici hands it over: chunks and an end (or a failure), here before the reader attaches. */
function arrivedBody(chunks: string[], failure?: Error): UpstreamBody {
  const body = upstreamBody();
  for (const chunk of chunks) body.onData(Buffer.from(chunk));
  if (failure) body.onError(failure);
  else body.onEnd();
  return body;
}

/**
 * Relays `up` through passThrough to a real client on a real socket; the reply is released once looked at, as
 * the record's writer does. `atHeaders` runs once the client has the response's headers. Returns what the client
 * got, the reply, and whether the response had ended before its release.
 */
async function relayed(ex: Exchange, up: UpstreamResponse, atHeaders = () => {}) {
  let reply: Reply | undefined;
  let endedBeforeRelease: boolean | undefined;
  let heldAtRelease: number | undefined;
  let ctx: FakeCtx | undefined;
  const server = createServer((_req, res) => {
    ctx = fakeCtx(res);
    passThrough(ex, asCtx(ctx), up, ORIGIN, new ParseScheduler()).then(
      (r) => {
        reply = r;
        endedBeforeRelease = res.writableEnded;
        // Bytes still in this process, not yet handed to the kernel: what waits for the release.
        heldAtRelease = res.writableLength;
        r.release?.();
      },
      (err: Error) => res.destroy(err),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    const { port } = server.address() as AddressInfo;
    // Bounded, so that headers that never come fail the test at once rather than at its timeout.
    const signal = AbortSignal.timeout(15_000);
    const response = await fetch(`http://127.0.0.1:${port}${ex.route.label}`, { method: "POST", signal });
    atHeaders();
    const text = await response.text();
    return { response, text, reply, endedBeforeRelease, heldAtRelease, respond: ctx?.respond };
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

const SSE_TYPE = { "content-type": "text/event-stream" };
const contentEvent = (text: string) =>
  `data: {"choices":[{"finish_reason":null,"index":0,"delta":{"content":"${text}"}}],"object":"chat.completion.chunk"}\n\n`;
const progressEvent = (processed: number) =>
  `data: {"choices":[{"finish_reason":null,"index":0,"delta":{"role":"assistant","content":null}}],"object":"chat.completion.chunk","prompt_progress":{"total":300,"cache":100,"processed":${processed},"time_ms":${processed}}}\n\n`;

describe("passThrough's relay", () => {
  it("relays a stream as it came, headers less CORS, ending it only on release, watched by the tap", async () => {
    const ex = exchange("/v1/chat/completions");
    const stream = [contentEvent("Hel"), contentEvent("lo"), "data: [DONE]\n\n"];
    const headers = { ...SSE_TYPE, "x-request-id": "r2", "access-control-allow-origin": "*" };
    const got = await relayed(ex, { statusCode: 200, headers, body: arrivedBody(stream) });
    expect(got.response.status).toBe(200);
    expect(got.response.headers.get("x-request-id")).toBe("r2");
    expect(got.response.headers.get("access-control-allow-origin")).toBeNull();
    expect(got.text).toBe(stream.join(""));
    expect(got.respond).toBe(false);
    expect(got.endedBeforeRelease).toBe(false);
    expect(got.reply).toMatchObject({ outcome: "ok", status: 200 });
    got.reply?.tap?.end();
    expect(ex.obs.contentEvents).toBe(2);
  });

  it("strips the progress reports it asked for from the stream, keeping the latest on the exchange", async () => {
    const ex = exchange("/v1/chat/completions");
    ex.progressAsked = true;
    const stream = [progressEvent(100), progressEvent(300), contentEvent("Hi"), "data: [DONE]\n\n"];
    const got = await relayed(ex, { statusCode: 200, headers: SSE_TYPE, body: arrivedBody(stream) });
    expect(got.text).not.toContain("prompt_progress");
    expect(got.text).toContain('"content":"Hi"');
    expect(got.text.endsWith("data: [DONE]\n\n")).toBe(true);
    expect(ex.progress).toMatchObject({ total: 300, cache: 100, processed: 300 });
  });

  it("sends a stream's headers before its first token where the progress reports are held back", async () => {
    const ex = exchange("/v1/chat/completions");
    ex.progressAsked = true;
    const body = upstreamBody();
    body.onData(Buffer.from(progressEvent(100)));
    // The rest arrives only once the client has the headers: they cannot have waited for it.
    const got = await relayed(ex, { statusCode: 200, headers: SSE_TYPE, body }, () => {
      body.onData(Buffer.from(contentEvent("Hi")));
      body.onEnd();
    });
    expect(got.response.status).toBe(200);
    expect(got.text).toBe(contentEvent("Hi"));
  });

  it("keeps the last event that came with llama-server's end for the release, to leave with the terminator", async () => {
    const ex = exchange("/v1/chat/completions");
    const body = upstreamBody();
    body.onData(Buffer.from(contentEvent("Hel")));
    const last = 'data: {"choices":[{"finish_reason":"stop","index":0,"delta":{}}]}\n\ndata: [DONE]\n\n';
    // The first event reached the client on its own; the last comes with the end in one turn of the event loop, as
    // undici reads them from one socket read (a callback of its own, so the turn's ticks run before the reply).
    const got = await relayed(ex, { statusCode: 200, headers: SSE_TYPE, body }, () => {
      setImmediate(() => {
        body.onData(Buffer.from(last));
        body.onEnd();
      });
    });
    expect(got.text).toBe(contentEvent("Hel") + last);
    // In chunked encoding: its size line, the event, and CRLF, still in the process when the record is written.
    expect(got.heldAtRelease).toBe(Buffer.byteLength(last).toString(16).length + 2 + Buffer.byteLength(last) + 2);
  });

  it("sends a stream's headers on their own when its first bytes are held back and no report comes", async () => {
    const ex = exchange("/v1/chat/completions");
    ex.progressAsked = true;
    const body = upstreamBody();
    const announcement =
      'data: {"choices":[{"finish_reason":null,"index":0,"delta":{"role":"assistant","content":null}}],"object":"chat.completion.chunk"}\n\n';
    body.onData(Buffer.from(announcement)); // held back: it may still turn out to be a report's
    const got = await relayed(ex, { statusCode: 200, headers: SSE_TYPE, body }, () => {
      body.onData(Buffer.from(contentEvent("Hi")));
      body.onEnd();
    });
    expect(got.response.status).toBe(200);
    expect(got.text).toBe(announcement + contentEvent("Hi"));
  });

  it("stops the headers' timer once they left with the first bytes: a long stream gets no empty write", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    try {
      const ex = exchange("/v1/chat/completions");
      ex.progressAsked = true;
      const calls = { write: 0, flushHeaders: 0 };
      // The parts of a response the relay touches; no socket, so that only the faked timers run.
      const res = {
        destroyed: false,
        writableEnded: false,
        writeHead: () => res,
        write: () => ++calls.write > 0,
        flushHeaders: () => void calls.flushHeaders++,
        cork: () => {},
        on: () => res,
        off: () => res,
      } as unknown as ServerResponse;
      const body = upstreamBody();
      const replied = passThrough(
        ex,
        asCtx(fakeCtx(res)),
        { statusCode: 200, headers: SSE_TYPE, body },
        ORIGIN,
        new ParseScheduler(),
      );
      body.onData(Buffer.from(contentEvent("Hi")));
      expect(calls.write).toBe(1);
      // The stream goes on past the headers' wait.
      vi.advanceTimersByTime(5_000);
      body.onData(Buffer.from(contentEvent("there")));
      body.onEnd();
      await replied;
      expect(calls).toEqual({ write: 2, flushHeaders: 0 });
    } finally {
      vi.useRealTimers();
    }
  });

  it("relays an error on llama-server's native routes as it was sent", async () => {
    const ex = exchange("/completion");
    const got = await relayed(ex, { statusCode: 400, headers: JSON_TYPE, body: arrivedBody([overflowBody]) });
    expect(got.response.status).toBe(400);
    expect(got.text).toBe(overflowBody);
    expect(got.reply).toMatchObject({ outcome: "upstream_error", status: 400 });
    expect(got.reply?.overflow).toBeUndefined();
  });

  it("ends a stream that failed upstream with an error event after what had arrived", async () => {
    const ex = exchange("/v1/chat/completions");
    const body = arrivedBody([contentEvent("Hel")], socketCut());
    const got = await relayed(ex, { statusCode: 200, headers: SSE_TYPE, body });
    expect(got.reply).toMatchObject({ outcome: "upstream_error", status: 200, error: cutMessage });
    expect(got.text.startsWith(contentEvent("Hel"))).toBe(true);
    const event = got.text.slice(contentEvent("Hel").length);
    expect(JSON.parse(event.replace(/^data: /, ""))).toEqual({
      error: { message: cutMessage, type: "upstream_error", code: "upstream_error" },
    });
  });
});
