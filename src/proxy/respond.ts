// Writing answers to the client: llama-server's response relayed untouched, an upstream error in the
// client's protocol, or a complete answer made here.
import type { ServerResponse } from "node:http";
import { performance } from "node:perf_hooks";
import { fromUpstreamFailure, type SidecarError } from "../errors.js";
import { createTap, type ParseScheduler, type ResponseTap } from "../observe/tap.js";
import { anthropicPromptTooLong, openaiContextLengthExceeded } from "../translate/context-overflow.js";
import { anthropicError } from "../translate/to-anthropic.js";
import type { UpstreamResponse } from "../upstream/response.js";
import type { SidecarContext } from "../wire/context.js";
import { type ContextOverflow, contextOverflow } from "../wire/context-overflow.js";
import { asObject, type JsonObject, parseObject } from "../wire/json.js";
import { requestFault, upstreamErrorMessage } from "../wire/request-fault.js";
import type { Outcome } from "../wire/request-kinds.js";
import { errorEvent } from "../wire/sse-frame.js";
import type { Exchange } from "./exchange.js";
import { clientResponseHeaders } from "./headers.js";
import { ProgressStripper } from "./prompt-progress.js";
import { type RelayEnd, type RelayOptions, relay } from "./relay.js";
import { SseFramer } from "./sse-framing.js";

/**
 * What a responder did, returned to the exchange's owner (forward.ts), the one place that writes it onto the
 * exchange: responders write the client's response, never the record.
 */
export interface Reply {
  outcome: Outcome;
  /** The HTTP status the client got. */
  status: number;
  /** The error the client was told, in the sidecar's own words, for the record. */
  error?: string;
  /** An error llama-server sent, which may quote the prompt: the record keeps its kind (observe/redact.ts). */
  upstream?: UpstreamError;
  /** llama-server refused the prompt as longer than the slot's context: both sizes, for the record and its verdict. */
  overflow?: ContextOverflow;
  /** Ends the client's response: called once the request's record is written, never before. */
  release?: () => void;
  /** What watches the response; its last parse waits for the record. */
  tap?: ResponseTap;
}

/** llama-server's error as it sent it: its message and its error type. */
export interface UpstreamError {
  message?: string;
  type?: string;
}

/** The message and type of an error body in OpenAI's or Anthropic's shape (or its text, when not JSON). */
function upstreamError(json: JsonObject | undefined, text?: string): UpstreamError {
  const e = asObject(json?.error);
  const type = e?.type ?? e?.code;
  return { message: upstreamErrorMessage(json) ?? text, type: typeof type === "string" ? type : undefined };
}

const OPENAI_DIALECTS = new Set(["openai-chat", "openai-completion", "openai-responses"]);

/** After the headers are out, an upstream failure can only be told in-band: an SSE error event, or a cut connection. */
function failMidStream(res: ServerResponse, ex: Exchange, err: SidecarError, isSse: boolean): void {
  if (isSse && !res.destroyed) res.end(errorEvent(err, ex.route.protocol));
  else res.destroy(err);
}

/**
 * Whole events for the client, without the progress reports the sidecar asked for (kept on the exchange). The tap
 * watches what the client gets: content that rode on a report counts when it reaches the client, not before.
 * A report held back means a prefill is running on: the headers go out then (sendHeadersSoon).
 */
function stripProgress(ex: Exchange, res: ServerResponse, framer: SseFramer, tap?: ResponseTap): RelayOptions {
  // Once the headers are out (with the first bytes, or at the first report), their timer has nothing left to do:
  // left to fire, it would write an empty chunk to every stream longer than its wait.
  let headersTimer: NodeJS.Timeout | undefined = sendHeadersSoon(res);
  const headersOut = () => {
    clearTimeout(headersTimer);
    headersTimer = undefined;
  };
  const stripper = new ProgressStripper((p) => {
    if (!ex.progress) {
      res.flushHeaders();
      headersOut();
    }
    ex.progress = p;
  });
  // The framer is this relay's own, not the relay's: an unfinished last event goes through the stripper too, so
  // what it kept back comes out before it, in order.
  return {
    transform: (chunk) => {
      const out = stripper.pass(framer.push(chunk));
      if (out) {
        if (headersTimer) headersOut();
        tap?.push(out);
      }
      return out;
    },
    finished: headersOut,
    tail: () => {
      const last = stripper.pass(framer.rest());
      const rest = `${last?.toString("utf8") ?? ""}${stripper.rest()}`;
      if (rest) tap?.push(Buffer.from(rest));
      return rest;
    },
  };
}

/** How long a stream's headers may wait for its first bytes (held back with the progress reports) to take them along. */
const HEADERS_WAIT_MS = 1000;

/**
 * llama-server sends a stream's headers as its slot takes the request; with the reports held back, the first bytes
 * wait for the first token, and the headers must not wait with them through a long prefill. A short prefill's first
 * token takes them along in its own write (a write of their own, for every stream, cost more than the rest of the
 * relay's work at a burst's start); a long one gets them at its first report, or after a second.
 */
function sendHeadersSoon(res: ServerResponse): NodeJS.Timeout {
  // Node's headersSent is true from writeHead on, written or not; flushing headers already written writes nothing.
  return setTimeout(() => {
    if (!res.writableEnded && !res.destroyed) res.flushHeaders();
  }, HEADERS_WAIT_MS).unref();
}

/** Relays llama-server's response as it arrives, observing it on the side. */
export async function passThrough(
  ex: Exchange,
  ctx: SidecarContext,
  up: UpstreamResponse,
  origin: string,
  scheduler: ParseScheduler,
): Promise<Reply> {
  const contentType = String(up.headers["content-type"] ?? "");
  // llama-server's own errors are OpenAI-shaped JSON; anything else (its HTTP layer's plain text) is put in shape.
  if (up.statusCode >= 400 && !contentType.includes("json")) {
    return openaiErrorAnswer(ctx, up, await readUpstreamText(up, origin));
  }
  // OpenAI's own routes only: llama-server's native ones (/completion, /infill) keep its error as it is.
  if (up.statusCode === 400 && OPENAI_DIALECTS.has(ex.route.dialect ?? "")) {
    return openaiBadRequest(ctx, up, await readUpstreamText(up, origin));
  }
  // A message or tool of the wrong shape is a 500 from llama-server's parsers: the client's error, said as such.
  if (up.statusCode === 500 && ex.route.dialect) {
    const text = await readUpstreamText(up, origin);
    return ex.route.protocol === "anthropic" ? anthropicErrorAnswer(ctx, up, text) : openaiServerError(ctx, up, text);
  }
  const res = ctx.res;
  ctx.respond = false; // the raw response is ours from here: Koa must not buffer or rewrite it
  res.writeHead(up.statusCode, clientResponseHeaders(up.headers));
  const isSse = contentType.includes("text/event-stream");
  // The tap's last parse waits for the request's record (exchange.ts: finish), after the burst of ends.
  const tap =
    ex.route.dialect && createTap(ex.route.dialect, contentType, ex.obs, { now: () => performance.now(), scheduler });
  const framer = isSse ? new SseFramer() : undefined;
  const watched: RelayOptions = { observe: tap ? (chunk) => tap.push(chunk) : undefined, framer };
  const stripping = framer && ex.progressAsked;
  const end = await relay(
    up.body,
    res,
    ex.cancel,
    stripping ? stripProgress(ex, res, framer, tap || undefined) : watched,
  );
  return { ...settle(ex, res, up, end, origin, isSse), tap: tap || undefined };
}

export function settle(
  ex: Exchange,
  res: ServerResponse,
  up: UpstreamResponse,
  end: RelayEnd,
  origin: string,
  isSse: boolean,
): Reply {
  // The client's going away aborts the upstream call at once, so its abort error can arrive before the close.
  const how: RelayEnd = end.kind === "upstream_error" && ex.cancel.aborted ? { kind: "client_abort" } : end;
  switch (how.kind) {
    case "end": {
      const release = () => {
        if (!res.writableEnded && !res.destroyed) res.end(how.last);
      };
      return { outcome: up.statusCode >= 400 ? "upstream_error" : "ok", status: up.statusCode, release };
    }
    case "client_abort":
      ex.cancel.abort();
      up.body.destroy();
      return { outcome: "client_abort", status: up.statusCode };
    case "upstream_error": {
      const err = fromUpstreamFailure(how.error, origin);
      // Like a clean end, the error event that ends the response waits for the request's record.
      const release = () => failMidStream(res, ex, err, isSse);
      return { outcome: "upstream_error", status: up.statusCode, error: err.message, release };
    }
  }
}

/** A whole (small) answer from llama-server as text; a connection cut while it arrives is llama-server's fault. */
export async function readUpstreamText(up: UpstreamResponse, origin: string): Promise<string> {
  try {
    return await up.body.text();
  } catch (err) {
    throw fromUpstreamFailure(err, origin);
  }
}

/** A 503's Retry-After (llama-server loading its model) goes to the client with the error made here. */
function keepRetryAfter(ctx: SidecarContext, up: UpstreamResponse): void {
  const retryAfter = up.headers["retry-after"];
  if (typeof retryAfter === "string") ctx.set("Retry-After", retryAfter);
}

/** llama-server answered an Anthropic request with an error: pass its message on in Anthropic's shape. */
export function anthropicErrorAnswer(ctx: SidecarContext, up: UpstreamResponse, text: string): Reply {
  // Text that is not a JSON object becomes the message as it is; a prompt over the context gets Anthropic's words.
  const json = parseObject(text);
  const overflow = contextOverflow(json);
  const status = requestFault(up.statusCode, json) ? 400 : up.statusCode;
  const body = overflow ? anthropicPromptTooLong(overflow) : anthropicError(status, json ?? text);
  ctx.status = status;
  keepRetryAfter(ctx, up);
  ctx.body = body;
  if (overflow)
    return { outcome: "upstream_error", status, error: (body.error as { message: string }).message, overflow };
  return { outcome: "upstream_error", status, upstream: upstreamError(json, text) };
}

/**
 * llama-server refused a model call: a prompt over the context gets OpenAI's context_length_exceeded, which clients
 * act on; any other refusal goes to the client as llama-server sent it.
 */
function openaiBadRequest(ctx: SidecarContext, up: UpstreamResponse, text: string): Reply {
  const json = parseObject(text);
  const overflow = contextOverflow(json);
  if (!overflow) return asSent(ctx, up, text, json);
  const body = openaiContextLengthExceeded(overflow);
  ctx.status = up.statusCode;
  ctx.body = body;
  return { outcome: "upstream_error", status: up.statusCode, error: String(asObject(body.error)?.message), overflow };
}

/** A 500 from llama-server on an OpenAI-shaped route: the client's 400 where its parsers refused the request. */
function openaiServerError(ctx: SidecarContext, up: UpstreamResponse, text: string): Reply {
  const json = parseObject(text);
  const fault = requestFault(up.statusCode, json);
  if (!fault) return asSent(ctx, up, text, json);
  ctx.status = 400;
  ctx.body = { error: { message: fault, type: "invalid_request_error", code: 400 } };
  return { outcome: "upstream_error", status: 400, upstream: upstreamError(json) };
}

/** llama-server's error answer, to the client as it was sent (error bodies are small, read whole). */
function asSent(ctx: SidecarContext, up: UpstreamResponse, text: string, json: JsonObject | undefined): Reply {
  ctx.status = up.statusCode;
  ctx.set(clientResponseHeaders(up.headers) as Record<string, string>);
  ctx.body = text;
  return { outcome: "upstream_error", status: up.statusCode, upstream: upstreamError(json) };
}

/** llama-server answered with an error that is not JSON: its status kept, its text as an OpenAI error's message. */
function openaiErrorAnswer(ctx: SidecarContext, up: UpstreamResponse, text: string): Reply {
  const message = text.trim().slice(0, 500) || `llama-server answered HTTP ${up.statusCode}`;
  const type = up.statusCode < 500 ? "invalid_request_error" : "upstream_error";
  ctx.status = up.statusCode;
  keepRetryAfter(ctx, up);
  ctx.body = { error: { message, type, code: up.statusCode } };
  return { outcome: "upstream_error", status: up.statusCode, upstream: { message, type } };
}

/** A complete answer made by the sidecar (background calls answered locally). */
export function sendLocal(ctx: SidecarContext, answer: { contentType: string; body: string }): Reply {
  ctx.status = 200;
  ctx.type = answer.contentType;
  if (answer.contentType.includes("event-stream")) ctx.set("Cache-Control", "no-cache");
  ctx.body = answer.body;
  return { outcome: "local", status: 200 };
}
