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
import { checkRequest } from "../wire/check-request.js";
import type { SidecarContext } from "../wire/context.js";
import { type JsonObject, parseObject } from "../wire/json.js";
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

export class TokenCounter {
  private readonly cache = new Map<string, number>();
  /** Set once llama-server answered count_tokens with 404: count locally from then on. */
  private upstreamLacksRoute = false;
  hits = 0;

  private readonly normalize: boolean;
  private readonly clientKeyIsOurs: boolean;

  constructor(
    private readonly upstream: Upstream,
    private readonly translation: TranslationState,
    opts: { normalize: boolean; clientKeyIsOurs: boolean },
  ) {
    this.normalize = opts.normalize;
    this.clientKeyIsOurs = opts.clientKeyIsOurs;
  }

  /** Exact count from llama-server's own chat template and tokenizer. */
  async countLocally(body: JsonObject): Promise<number> {
    const chat = anthropicToOpenai({ ...body, stream: false });
    const templated = await postJson(this.upstream, "/apply-template", { messages: chat.messages, tools: chat.tools });
    const tokenized = await postJson(this.upstream, "/tokenize", {
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
  async countPrompt(body: JsonObject): Promise<number> {
    const local =
      this.upstreamLacksRoute || this.translation.mode === "always" || this.translation.support.lacks(this.upstream);
    if (!local) {
      const n = (await postJson(this.upstream, "/v1/messages/count_tokens", body)).input_tokens;
      if (typeof n === "number") return n;
    }
    return this.countLocally(body);
  }

  private async countUpstream(ctx: SidecarContext, raw: Buffer): Promise<number | undefined> {
    const headers = upstreamRequestHeaders(ctx.req.headers, raw.length);
    authorizeUpstream(headers, this.upstream.apiKey, this.clientKeyIsOurs);
    let text: string;
    let status: number;
    try {
      const res = await dispatchUpstream(this.upstream.dispatcher, {
        origin: this.upstream.url.origin,
        path: upstreamPath(this.upstream.url, ctx.url),
        method: "POST",
        headers,
        body: raw,
        cancel: new Cancellation(),
      });
      status = res.statusCode;
      text = await res.body.text();
    } catch (err) {
      throw fromUpstreamFailure(err, this.upstream.url.origin);
    }
    if (status === 404 || status === 405 || status === 501) {
      this.upstreamLacksRoute = true;
      return undefined;
    }
    const n = status === 200 ? parseObject(text)?.input_tokens : undefined;
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
    checkRequest("anthropic-count-tokens", body);
    const model = typeof body.model === "string" ? body.model : undefined;
    // Count the prompt llama-server will actually see: with the billing header normalized.
    if (this.normalize && mayCarryHeader(raw) && normalizeAnthropic(body) > 0) raw = Buffer.from(JSON.stringify(body));
    const key = createHash("sha256").update(raw).digest("hex");
    const cached = this.cache.get(key);
    if (cached !== undefined) {
      this.hits++;
      ctx.set("x-llama-sidecar-cache", "hit");
      ctx.body = { input_tokens: cached };
      return model;
    }
    const local =
      this.upstreamLacksRoute || this.translation.mode === "always" || this.translation.support.lacks(this.upstream);
    const n = (local ? undefined : await this.countUpstream(ctx, raw)) ?? (await this.countLocally(body));
    this.remember(key, n);
    ctx.body = { input_tokens: n };
    return model;
  };
}
