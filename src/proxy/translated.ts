// Answers an Anthropic client from llama-server's OpenAI endpoint: the response translated as it streams.
import { performance } from "node:perf_hooks";
import { readBody } from "../observe/dialects.js";
import { SseDecoder } from "../observe/sse.js";
import { AnthropicStreamWriter, anthropicError, openaiToAnthropic } from "../translate/to-anthropic.js";
import type { UpstreamResponse } from "../upstream/response.js";
import type { SidecarContext } from "../wire/context.js";
import { type JsonObject, parseObject } from "../wire/json.js";
import type { Exchange } from "./exchange.js";
import { carriesContent, readProgress } from "./prompt-progress.js";
import { relay } from "./relay.js";
import { anthropicErrorAnswer, type Reply, readUpstreamText, settle } from "./respond.js";

async function whole(
  ex: Exchange,
  ctx: SidecarContext,
  up: UpstreamResponse,
  model: unknown,
  origin: string,
): Promise<Reply> {
  const completion = parseObject(await readUpstreamText(up, origin));
  if (!completion) {
    const error = "llama-server sent a completion that is not JSON";
    ctx.status = 502;
    ctx.body = anthropicError(502, error);
    return { outcome: "upstream_error", status: 502, error };
  }
  readBody("openai-chat", ex.obs, completion);
  ctx.status = 200;
  ctx.body = openaiToAnthropic(completion, model);
  return { outcome: "ok", status: 200 };
}

/**
 * OpenAI chunks in, Anthropic events out. Progress the sidecar asked for is kept for the live views, never
 * translated; content that rode on a report (a prefilled tool call) waits for the first token, where it stands in a
 * stream without reports.
 */
function translator(ex: Exchange, model: unknown) {
  const writer = new AnthropicStreamWriter(model);
  let out = "";
  const translate = (chunk: JsonObject) => {
    if (readBody("openai-chat", ex.obs, chunk)) ex.obs.content(performance.now());
    out += chunk.error ? writer.error(chunk) : writer.chunk(chunk);
  };
  let held: JsonObject[] | undefined = ex.progressAsked ? [] : undefined;
  const decoder = new SseDecoder((event) => {
    if (event.data === "[DONE]") return;
    const chunk = parseObject(event.data);
    if (!chunk) return;
    const progress = held && readProgress(chunk, performance.now());
    if (held && progress) {
      ex.progress = progress;
      if (carriesContent(chunk)) held.push(chunk);
      return;
    }
    translate(chunk);
    for (const c of held ?? []) translate(c);
    held = undefined;
  });
  const flush = () => {
    decoder.end();
    for (const c of held ?? []) translate(c);
    held = undefined;
  };
  return {
    /** Upstream bytes in; the events translated so far out. */
    push(bytes: Buffer): string {
      decoder.push(bytes);
      const ready = out;
      out = "";
      return ready;
    },
    flush,
    /** The last events, once llama-server's stream has ended. */
    end(): string {
      flush();
      return out + writer.end();
    },
  };
}

export async function translatedResponse(
  ex: Exchange,
  ctx: SidecarContext,
  up: UpstreamResponse,
  origin: string,
): Promise<Reply> {
  const model = ex.model?.model;
  if (up.statusCode >= 400) return anthropicErrorAnswer(ctx, up, await readUpstreamText(up, origin));
  if (!String(up.headers["content-type"] ?? "").includes("text/event-stream")) return whole(ex, ctx, up, model, origin);

  const res = ctx.res;
  ctx.respond = false;
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
  if (ex.progressAsked) res.flushHeaders(); // the reports are not translated: the first bytes wait for the first token
  const t = translator(ex, model);
  const end = await relay(up.body, res, ex.cancel, {
    transform: (bytes) => t.push(bytes),
    tail: () => t.end(),
  });
  if (end.kind !== "end") t.flush();
  return { ...settle(ex, res, up, end, origin, true), status: 200 };
}
