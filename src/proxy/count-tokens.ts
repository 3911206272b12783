// POST /v1/messages/count_tokens that never fails: llama-server's own answer where it has the route,
// otherwise an exact count from its /apply-template and /tokenize (never an estimate), with a small cache
// because Claude Code repeats the same preflight.
import { createHash } from "node:crypto";
import { Cancellation } from "../cancellation.js";
import { mayCarryHeader, normalizeAnthropic } from "../claude/billing-header.js";
import { fromUpstreamFailure, SidecarError } from "../errors.js";
import { anthropicToOpenai } from "../translate/to-openai.js";
import { callUpstream, type Upstream, type UpstreamReply, upstreamPath } from "../upstream/client.js";
import { dispatchUpstream } from "../upstream/response.js";
import type { SidecarContext } from "../wire/context.js";
import { type JsonObject, parseObject } from "../wire/json.js";
import { requestFault, upstreamErrorMessage } from "../wire/request-fault.js";
import { parseJsonBody, readRequestBody } from "./body.js";
import { authorizeUpstream, upstreamRequestHeaders } from "./headers.js";
import type { TranslationState } from "./outgoing.js";

const CACHE_SIZE = 256;

async function postJson(upstream: Upstream, path: string, body: unknown): Promise<JsonObject> {
  let reply: UpstreamReply;
  try {
    reply = await callUpstream(upstream, path, { json: body });
  } catch (err) {
    throw fromUpstreamFailure(err, upstream.url.origin);
  }
  if (reply.status !== 200) {
    throw new SidecarError(
      "upstream_error",
      `llama-server ${path} answered HTTP ${reply.status}: ${reply.text.slice(0, 300)}`,
    );
  }
  const json = parseObject(reply.text);
  if (!json)
    throw new SidecarError("upstream_error", `llama-server ${path} answered with something other than a JSON object`);
  return json;
}

/** The answers of a llama-server without count_tokens (older builds, or another server in front). */
const LACKS_ROUTE = new Set([404, 405, 501]);

export class TokenCounter {
  private readonly cache = new Map<string, number>();
  /** The llama-servers that answered count_tokens with 404: counted locally from then on. */
  private readonly lackRoute = new WeakSet<Upstream>();
  hits = 0;

  private readonly normalize: boolean;
  private readonly clientKeyIsOurs: boolean;

  constructor(
    /** The llama-server a count_tokens request for this model goes to (the one its turn will go to). */
    private readonly upstreamFor: (model: string | undefined) => Upstream,
    private readonly translation: TranslationState,
    opts: { normalize: boolean; clientKeyIsOurs: boolean },
  ) {
    this.normalize = opts.normalize;
    this.clientKeyIsOurs = opts.clientKeyIsOurs;
  }

  /** Exact count from llama-server's own chat template and tokenizer. */
  async countLocally(body: JsonObject, upstream: Upstream): Promise<number> {
    const chat = anthropicToOpenai({ ...body, stream: false });
    const templated = await postJson(upstream, "/apply-template", { messages: chat.messages, tools: chat.tools });
    const tokenized = await postJson(upstream, "/tokenize", {
      content: templated.prompt,
      add_special: true,
      parse_special: true,
    });
    if (!Array.isArray(tokenized.tokens))
      throw new SidecarError("upstream_error", "llama-server /tokenize sent no tokens");
    return tokenized.tokens.length;
  }

  /**
   * A model call's prompt tokens, exactly, for the live views' prefill estimate: llama-server's own count where it
   * has the route, else its template and tokenizer. Not cached: each prompt is asked about once at most.
   */
  async countPrompt(body: JsonObject, upstream: Upstream): Promise<number> {
    if (!this.countsLocally(upstream)) {
      const n = await this.askCount(body, upstream);
      if (n !== undefined) return n;
    }
    return this.countLocally(body, upstream);
  }

  /** llama-server's own count; a server without the route is counted locally from then on, as for clients. */
  private async askCount(body: JsonObject, upstream: Upstream): Promise<number | undefined> {
    let reply: UpstreamReply;
    try {
      reply = await callUpstream(upstream, "/v1/messages/count_tokens", { json: body });
    } catch (err) {
      throw fromUpstreamFailure(err, upstream.url.origin);
    }
    if (LACKS_ROUTE.has(reply.status)) {
      this.lackRoute.add(upstream);
      return undefined;
    }
    const n = reply.status === 200 ? parseObject(reply.text)?.input_tokens : undefined;
    return typeof n === "number" ? n : undefined;
  }

  private countsLocally(upstream: Upstream): boolean {
    return (
      this.lackRoute.has(upstream) || this.translation.mode === "always" || this.translation.support.lacks(upstream)
    );
  }

  private async countUpstream(ctx: SidecarContext, raw: Buffer, upstream: Upstream): Promise<number | undefined> {
    const headers = upstreamRequestHeaders(ctx.req.headers, raw.length);
    authorizeUpstream(headers, upstream.apiKey, this.clientKeyIsOurs);
    let text: string;
    let status: number;
    try {
      const res = await dispatchUpstream(upstream.dispatcher, {
        origin: upstream.url.origin,
        path: upstreamPath(upstream.url, ctx.url),
        method: "POST",
        headers,
        body: raw,
        cancel: new Cancellation(),
      });
      status = res.statusCode;
      text = await res.body.text();
    } catch (err) {
      throw fromUpstreamFailure(err, upstream.url.origin);
    }
    if (LACKS_ROUTE.has(status)) {
      this.lackRoute.add(upstream);
      return undefined;
    }
    const json = parseObject(text);
    // A request llama-server's parsers refuse is the client's to mend: counting it another way would hide that.
    const fault = status === 400 ? upstreamErrorMessage(json) : requestFault(status, json);
    if (fault) throw new SidecarError("bad_request", fault, { fromUpstream: { type: "invalid_request_error" } });
    const n = status === 200 ? json?.input_tokens : undefined;
    return typeof n === "number" ? n : undefined;
  }

  private remember(key: string, n: number): void {
    this.cache.set(key, n);
    if (this.cache.size > CACHE_SIZE) this.cache.delete(this.cache.keys().next().value as string);
  }

  /** Koa handler; returns the model the request named, for its record. */
  readonly handle = async (ctx: SidecarContext, maxBodyBytes: number): Promise<string | undefined> => {
    ctx.state.protocol = "anthropic";
    let raw = await readRequestBody(ctx.req, maxBodyBytes);
    const body = parseJsonBody(raw);
    const model = typeof body.model === "string" ? body.model : undefined;
    // Count the prompt llama-server will actually see: with the billing header normalized.
    if (this.normalize && mayCarryHeader(raw) && normalizeAnthropic(body) > 0) raw = Buffer.from(JSON.stringify(body));
    // Each llama-server has its own tokenizer: a count is kept per server.
    const upstream = this.upstreamFor(model);
    const key = `${upstream.url.href} ${createHash("sha256").update(raw).digest("hex")}`;
    const cached = this.cache.get(key);
    if (cached !== undefined) {
      this.hits++;
      ctx.set("x-llama-sidecar-cache", "hit");
      ctx.body = { input_tokens: cached };
      return model;
    }
    const local = this.countsLocally(upstream);
    const n =
      (local ? undefined : await this.countUpstream(ctx, raw, upstream)) ?? (await this.countLocally(body, upstream));
    this.remember(key, n);
    ctx.body = { input_tokens: n };
    return model;
  };
}
