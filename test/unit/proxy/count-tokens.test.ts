// TokenCounter against a fake llama-server: its own count_tokens, its template and tokenizer, errors, cache, billing header.
import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import Koa from "koa";
import { afterEach, describe, expect, it } from "vitest";
import { NORMALIZED_HEADER } from "../../../src/claude/billing-header.js";
import { errorBody, SidecarError } from "../../../src/errors.js";
import { TokenCounter } from "../../../src/proxy/count-tokens.js";
import type { TranslationState } from "../../../src/proxy/outgoing.js";
import { createUpstream, type Upstream } from "../../../src/upstream/client.js";
import { MessagesSupport } from "../../../src/upstream/messages-support.js";
import type { SidecarState } from "../../../src/wire/context.js";
import { REQUEST_PARSE_ERRORS } from "../../../src/wire/request-fault.js";
import { type Answer, type AnsweringServer, type Asked, answeringServer } from "../../support/answering-server.js";

const NOT_FOUND: Answer = {
  status: 404,
  body: { error: { code: 404, message: "File Not Found", type: "not_found_error" } },
};

/** The fake's chat template: each message as `<|role|>content`, the way a template lays turns out. */
const template = (messages: { role: string; content: string }[]) =>
  messages.map((m) => `<|${m.role}|>${m.content}`).join("");

/** The fake's tokenizer: one token per character. */
const tokenize = (content: string) => Array.from(content, (c) => c.codePointAt(0));

/**
 * A llama-server that counts: its count_tokens answers the bytes of the body it got (so a test can tell what
 * reached it), its /apply-template and /tokenize the template and tokenizer above. Each answer can be replaced.
 */
interface FakeCounts {
  server: AnsweringServer;
  route: (req: Asked) => Answer;
  applyTemplate: (req: Asked) => Answer;
  tokenizeAnswer: (req: Asked) => Answer;
  messages: (req: Asked) => Answer;
}

async function fakeCounts(): Promise<FakeCounts> {
  const fake: FakeCounts = {
    server: undefined as unknown as AnsweringServer,
    route: (req) => ({ body: { input_tokens: Buffer.byteLength(req.body) } }),
    applyTemplate: (req) => ({ body: { prompt: template(JSON.parse(req.body).messages) } }),
    tokenizeAnswer: (req) => ({ body: { tokens: tokenize(JSON.parse(req.body).content) } }),
    messages: () => NOT_FOUND,
  };
  fake.server = await answeringServer((req) => {
    const path = req.path.split("?")[0]?.replace(/^\/prefix/, "");
    if (path === "/v1/messages/count_tokens") return fake.route(req);
    if (path === "/apply-template") return fake.applyTemplate(req);
    if (path === "/tokenize") return fake.tokenizeAnswer(req);
    if (path === "/v1/messages") return fake.messages(req);
    return NOT_FOUND;
  });
  return fake;
}

interface Counting {
  fake: FakeCounts;
  upstream: Upstream;
  counter: TokenCounter;
  translation: TranslationState;
  /** The models the handler returned, one per request. */
  models: (string | undefined)[];
  /** Sends the counting app a body (JSON, or text as it is). */
  post(
    body: unknown,
    opts?: { headers?: Record<string, string>; path?: string },
  ): Promise<{ status: number; json: Record<string, unknown>; cache: string | null }>;
  /** Where counts go next (the counter's upstreamFor). */
  use(upstream: Upstream): void;
}

const closing: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closing.splice(0).reverse()) await close();
});

async function listen(server: Server): Promise<string> {
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  closing.push(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function upstreamAt(url: string, apiKey?: string): Upstream {
  const upstream = createUpstream(url, 10, apiKey);
  closing.push(() => upstream.close());
  return upstream;
}

async function counting(
  opts: {
    normalize?: boolean;
    clientKeyIsOurs?: boolean;
    mode?: TranslationState["mode"];
    apiKey?: string;
    prefix?: string;
    maxBodyBytes?: number;
  } = {},
): Promise<Counting> {
  const fake = await fakeCounts();
  closing.push(() => fake.server.close());
  let upstream = upstreamAt(`${fake.server.url}${opts.prefix ?? ""}`, opts.apiKey);
  const translation: TranslationState = { mode: opts.mode ?? "auto", support: new MessagesSupport() };
  const counter = new TokenCounter(() => upstream, translation, {
    normalize: opts.normalize ?? false,
    clientKeyIsOurs: opts.clientKeyIsOurs ?? false,
  });
  const models: (string | undefined)[] = [];
  const app = new Koa<SidecarState>();
  // As the app's error boundary: a sidecar error in the protocol the handler named.
  app.use(async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      if (!(err instanceof SidecarError)) throw err;
      ctx.status = err.status;
      ctx.body = errorBody(err, ctx.state.protocol ?? "openai");
    }
  });
  app.use(async (ctx) => {
    models.push(await counter.handle(ctx, opts.maxBodyBytes ?? 1024 * 1024));
  });
  const url = await listen(createServer(app.callback()));
  return {
    fake,
    upstream,
    counter,
    translation,
    models,
    use: (u) => {
      upstream = u;
    },
    post: async (body, { headers = {}, path = "/v1/messages/count_tokens" } = {}) => {
      const res = await fetch(`${url}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: typeof body === "string" ? body : JSON.stringify(body),
      });
      return {
        status: res.status,
        json: (await res.json()) as Record<string, unknown>,
        cache: res.headers.get("x-llama-sidecar-cache"),
      };
    },
  };
}

const request = (text: string, over: Record<string, unknown> = {}) => ({
  model: "tiny",
  max_tokens: 16,
  messages: [{ role: "user", content: text }],
  ...over,
});

/** What the fake's template and tokenizer make of a request's system prompt and user text. */
const localCount = (text: string, system?: string) =>
  template([...(system === undefined ? [] : [{ role: "system", content: system }]), { role: "user", content: text }])
    .length;

const countedBy = (fake: FakeCounts, path: string) => fake.server.askedAt(path);

describe("TokenCounter: llama-server's own count", () => {
  it("sends the client's body and headers to count_tokens, under the upstream's path, and answers its count", async () => {
    const c = await counting({ prefix: "/prefix" });
    const body = JSON.stringify(request("hello there"));
    const res = await c.post(body, {
      path: "/v1/messages/count_tokens?beta=true",
      headers: { "anthropic-version": "2023-06-01", "x-api-key": "client-key" },
    });
    expect(res).toEqual({ status: 200, json: { input_tokens: Buffer.byteLength(body) }, cache: null });
    const [asked] = countedBy(c.fake, "/prefix/v1/messages/count_tokens");
    expect(asked).toMatchObject({ method: "POST", path: "/prefix/v1/messages/count_tokens?beta=true", body });
    expect(asked?.headers).toMatchObject({
      "anthropic-version": "2023-06-01",
      "x-api-key": "client-key",
      "content-length": String(Buffer.byteLength(body)),
    });
    expect(c.fake.server.asked).toHaveLength(1);
    expect(c.models).toEqual(["tiny"]);
  });

  it("answers a repeat from its cache, kept per llama-server: another server is asked again", async () => {
    const c = await counting();
    const body = request("same again");
    const first = await c.post(body);
    const again = await c.post(body);
    expect(again).toEqual({ ...first, cache: "hit" });
    expect(c.counter.hits).toBe(1);
    expect(countedBy(c.fake, "/v1/messages/count_tokens")).toHaveLength(1);
    // Another body is another count.
    await c.post(request("something else"));
    expect(countedBy(c.fake, "/v1/messages/count_tokens")).toHaveLength(2);
    // The same body for another llama-server (another tokenizer): asked there.
    const other = await fakeCounts();
    closing.push(() => other.server.close());
    c.use(upstreamAt(other.server.url));
    expect((await c.post(body)).cache).toBeNull();
    expect(countedBy(other, "/v1/messages/count_tokens")).toHaveLength(1);
    expect(c.counter.hits).toBe(1);
  });

  it("forgets the oldest count past 256 remembered", async () => {
    const c = await counting();
    for (let i = 0; i <= 256; i++) await c.post(request(`turn ${i}`));
    expect((await c.post(request("turn 256"))).cache).toBe("hit");
    expect((await c.post(request("turn 0"))).cache).toBeNull();
    expect(countedBy(c.fake, "/v1/messages/count_tokens")).toHaveLength(258);
  });

  it("falls back to the template and tokenizer when llama-server's count fails in its own way or gives no number", async () => {
    const c = await counting();
    c.fake.route = () => ({
      status: 500,
      body: { error: { code: 500, message: "out of memory", type: "server_error" } },
    });
    expect((await c.post(request("abc"))).json).toEqual({ input_tokens: localCount("abc") });
    c.fake.route = () => ({ body: { something: "else" } });
    expect((await c.post(request("abcd"))).json).toEqual({ input_tokens: localCount("abcd") });
    c.fake.route = () => ({ status: 400, body: "not json" });
    expect((await c.post(request("abcde"))).json).toEqual({ input_tokens: localCount("abcde") });
    // Its route is still asked: a failure is not a missing route.
    expect(countedBy(c.fake, "/v1/messages/count_tokens")).toHaveLength(3);
  });
});

describe("TokenCounter: counting with llama-server's template and tokenizer", () => {
  it.each([404, 405, 501])("counts so where count_tokens answers %i, and asks it no more", async (status) => {
    const c = await counting();
    c.fake.route = () => ({ status, body: NOT_FOUND.body });
    const tools = [{ name: "read", description: "reads a file", input_schema: { type: "object" } }];
    const res = await c.post(request("count me", { system: "be brief", tools }));
    expect(res.json).toEqual({ input_tokens: localCount("count me", "be brief") });
    const [templated] = countedBy(c.fake, "/apply-template");
    expect(JSON.parse(templated?.body ?? "")).toEqual({
      messages: [
        { role: "system", content: "be brief" },
        { role: "user", content: "count me" },
      ],
      tools: [
        { type: "function", function: { name: "read", description: "reads a file", parameters: { type: "object" } } },
      ],
    });
    const [tokenized] = countedBy(c.fake, "/tokenize");
    expect(JSON.parse(tokenized?.body ?? "")).toEqual({
      content: template([
        { role: "system", content: "be brief" },
        { role: "user", content: "count me" },
      ]),
      add_special: true,
      parse_special: true,
    });
    await c.post(request("and me"));
    expect(countedBy(c.fake, "/v1/messages/count_tokens")).toHaveLength(1);
    expect(countedBy(c.fake, "/tokenize")).toHaveLength(2);
  });

  it("counts so without asking when every request is translated, or the probe found no /v1/messages", async () => {
    const always = await counting({ mode: "always" });
    expect((await always.post(request("xyz"))).json).toEqual({ input_tokens: localCount("xyz") });
    expect(countedBy(always.fake, "/v1/messages/count_tokens")).toEqual([]);

    const probed = await counting({ mode: "auto" });
    expect(await probed.translation.support.probe(probed.upstream)).toBe(false);
    expect((await probed.post(request("xyz"))).json).toEqual({ input_tokens: localCount("xyz") });
    expect(countedBy(probed.fake, "/v1/messages/count_tokens")).toEqual([]);
  });

  it("countPrompt asks every time (no cache): llama-server's count where it has the route, else its tokenizer", async () => {
    const c = await counting();
    const body = request("prompt text");
    const raw = Buffer.byteLength(JSON.stringify(body));
    expect(await c.counter.countPrompt(body, c.upstream)).toBe(raw);
    expect(await c.counter.countPrompt(body, c.upstream)).toBe(raw);
    expect(countedBy(c.fake, "/v1/messages/count_tokens")).toHaveLength(2);
    c.fake.route = () => ({ body: { input_tokens: "many" } });
    expect(await c.counter.countPrompt(body, c.upstream)).toBe(localCount("prompt text"));
    c.translation.mode = "always";
    expect(await c.counter.countPrompt(body, c.upstream)).toBe(localCount("prompt text"));
    expect(countedBy(c.fake, "/v1/messages/count_tokens")).toHaveLength(3);
  });
  // Asked before any client's count_tokens taught it that the server lacks the route, it once rejected on the 404,
  // and the prefill estimate and the max_tokens fit went without a count.
  it("countPrompt counts with the tokenizer where count_tokens answers 404, before any client asked", async () => {
    const c = await counting();
    c.fake.route = () => NOT_FOUND;
    expect(await c.counter.countPrompt(request("prompt text"), c.upstream)).toBe(localCount("prompt text"));
  });
});

describe("TokenCounter: errors, in Anthropic's shape", () => {
  it.each(REQUEST_PARSE_ERRORS)(
    "turns llama-server's 500 '%s…' into the client's 400, and remembers nothing",
    async (prefix) => {
      const c = await counting();
      const message = `${prefix} Missing 'content' in message`;
      c.fake.route = () => ({ status: 500, body: { error: { code: 500, message, type: "server_error" } } });
      const res = await c.post(request("bad"));
      expect(res.status).toBe(400);
      expect(res.json).toEqual({ type: "error", error: { type: "invalid_request_error", message } });
      // Not counted another way (that would hide the fault), and not remembered: the next try asks again.
      expect(countedBy(c.fake, "/tokenize")).toEqual([]);
      await c.post(request("bad"));
      expect(countedBy(c.fake, "/v1/messages/count_tokens")).toHaveLength(2);
    },
  );

  it("passes on llama-server's own 400, in its words", async () => {
    const c = await counting();
    const message = "tools[0].input_schema: expected object";
    c.fake.route = () => ({ status: 400, body: { type: "error", error: { type: "invalid_request_error", message } } });
    const res = await c.post(request("bad tool"));
    expect(res).toMatchObject({
      status: 400,
      json: { type: "error", error: { type: "invalid_request_error", message } },
    });
  });

  it("answers a failed local count with a 502 saying what failed", async () => {
    const c = await counting({ mode: "always" });
    c.fake.tokenizeAnswer = () => ({ status: 500, body: "tokenizer broke" });
    const broken = await c.post(request("a"));
    expect(broken.status).toBe(502);
    expect(broken.json).toMatchObject({ type: "error", error: { type: "api_error" } });
    expect(String((broken.json.error as { message: string }).message)).toMatch(
      /^llama-server \/tokenize answered HTTP 500: tokenizer broke/,
    );
    c.fake.tokenizeAnswer = () => ({ body: { nothing: true } });
    expect((await c.post(request("b"))).json).toEqual({
      type: "error",
      error: { type: "api_error", message: "llama-server /tokenize sent no tokens" },
    });
    c.fake.applyTemplate = () => ({ body: "[1,2]" });
    expect((await c.post(request("c"))).json).toEqual({
      type: "error",
      error: {
        type: "api_error",
        message: "llama-server /apply-template answered with something other than a JSON object",
      },
    });
  });

  it("answers for a llama-server it cannot reach with a 502 naming it", async () => {
    const c = await counting();
    const gone = await answeringServer(() => ({}));
    await gone.close();
    c.use(upstreamAt(gone.url));
    const res = await c.post(request("hello"));
    expect(res.status).toBe(502);
    expect(res.json).toEqual({
      type: "error",
      error: { type: "api_error", message: `llama-server at ${gone.url} is unreachable (ECONNREFUSED)` },
    });
  });

  it("refuses a body that is not JSON, or too large, before asking llama-server", async () => {
    const c = await counting({ maxBodyBytes: 200 });
    const notJson = await c.post("{nope");
    expect(notJson.status).toBe(400);
    expect(notJson.json).toMatchObject({ type: "error", error: { type: "invalid_request_error" } });
    const large = await c.post(request("x".repeat(300)));
    expect(large.status).toBe(413);
    expect(large.json).toMatchObject({ type: "error", error: { type: "request_too_large" } });
    expect(c.fake.server.asked).toEqual([]);
  });
});

describe("TokenCounter: what it sends llama-server", () => {
  const billed = (cch: string) =>
    `x-anthropic-billing-header: cc_version=2.1.101.e51; cc_entrypoint=cli; cch=${cch};You are Claude Code.`;
  const normalized = `${NORMALIZED_HEADER}You are Claude Code.`;

  it("with normalization, counts the prompt llama-server will see: turns differing only in the billing header share a count", async () => {
    const c = await counting({ normalize: true });
    const first = await c.post(request("hi", { system: billed("a5145") }));
    const [asked] = countedBy(c.fake, "/v1/messages/count_tokens");
    const sent = JSON.parse(asked?.body ?? "");
    expect(sent.system).toBe(normalized);
    expect(asked?.headers["content-length"]).toBe(String(Buffer.byteLength(asked?.body ?? "")));
    expect(first.json).toEqual({ input_tokens: Buffer.byteLength(asked?.body ?? "") });
    const second = await c.post(request("hi", { system: billed("b7777") }));
    expect(second).toEqual({ ...first, cache: "hit" });
    // Text blocks too, and the template sees the same.
    c.translation.mode = "always";
    await c.post(request("yo", { system: [{ type: "text", text: billed("c0000") }] }));
    const [templated] = countedBy(c.fake, "/apply-template");
    expect(JSON.parse(templated?.body ?? "").messages[0]).toEqual({ role: "system", content: normalized });
  });

  it("without normalization, sends the body as it came: each billing header its own count", async () => {
    const c = await counting({ normalize: false });
    const body = JSON.stringify(request("hi", { system: billed("a5145") }));
    await c.post(body);
    expect(countedBy(c.fake, "/v1/messages/count_tokens")[0]?.body).toBe(body);
    expect((await c.post(request("hi", { system: billed("b7777") }))).cache).toBeNull();
    expect(countedBy(c.fake, "/v1/messages/count_tokens")).toHaveLength(2);
  });

  it("sends llama-server its own key in place of the client's, on every call", async () => {
    const c = await counting({ apiKey: "upstream-key" });
    await c.post(request("k"), { headers: { "x-api-key": "client-key", authorization: "Bearer client" } });
    const [asked] = countedBy(c.fake, "/v1/messages/count_tokens");
    expect(asked?.headers.authorization).toBe("Bearer upstream-key");
    expect(asked?.headers["x-api-key"]).toBeUndefined();
    c.translation.mode = "always";
    await c.post(request("local"));
    for (const path of ["/apply-template", "/tokenize"])
      expect(countedBy(c.fake, path)[0]?.headers.authorization).toBe("Bearer upstream-key");
  });

  it("passes on none of the client's credentials when the client's key is the sidecar's", async () => {
    const c = await counting({ clientKeyIsOurs: true });
    await c.post(request("k"), {
      headers: {
        "x-api-key": "sidecar-key",
        authorization: "Bearer sidecar-key",
        cookie: "session=1",
        "x-kept": "yes",
      },
    });
    const [asked] = countedBy(c.fake, "/v1/messages/count_tokens");
    expect(asked?.headers).not.toHaveProperty("x-api-key");
    expect(asked?.headers).not.toHaveProperty("authorization");
    expect(asked?.headers).not.toHaveProperty("cookie");
    expect(asked?.headers["x-kept"]).toBe("yes");
  });
});
