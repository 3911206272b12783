// Forwards one request to llama-server and records what it observed. The stages, in order:
// read and check the body, adapt the prompt (billing header), decide on background calls, translate
// if llama-server lacks the Anthropic API, wait for admission, send, and relay the answer.
import { performance } from "node:perf_hooks";
import type { Dispatcher } from "undici";
import type { AdmissionQueue, Ticket } from "../admission/queue.js";
import { classifyBackground, localAnswer } from "../claude/background.js";
import { fromUpstreamFailure, SidecarError } from "../errors.js";
import type { UpstreamFleet } from "../fleet/fleet.js";
import type { UpstreamUnit } from "../fleet/upstream-unit.js";
import { CAPTURE_LIMIT } from "../observe/observation.js";
import type { ParseScheduler } from "../observe/tap.js";
import { finishExchange, type RecordDeps } from "../record/finish.js";
import type { RecordQueue } from "../record/queue.js";
import { cappedJson, inputMessages, systemInstructions } from "../telemetry/genai-content.js";
import type { Upstream } from "../upstream/client.js";
import { isRouteNotFound } from "../upstream/messages-support.js";
import { dispatchUpstream, type UpstreamResponse } from "../upstream/response.js";
import type { SidecarContext } from "../wire/context.js";
import type { JsonObject } from "../wire/json.js";
import type { BackgroundClass, BackgroundPolicy, Outcome } from "../wire/request-kinds.js";
import type { ActiveRequests } from "./active.js";
import { modelRequest, parseJsonBody, readRequestBody } from "./body.js";
import { begin, type Exchange, promptOf } from "./exchange.js";
import { CLAMP_HEADER, type FitDeps, fitMaxTokens } from "./fit-max-tokens.js";
import { authorizeUpstream, upstreamRequestHeaders } from "./headers.js";
import { adaptProgress, adaptPrompt, type Outgoing, type OutgoingDeps, outgoing } from "./outgoing.js";
import { type EstimateDeps, estimatePrefill } from "./prefill-estimate.js";
import { anthropicErrorAnswer, passThrough, type Reply, readUpstreamText, sendLocal } from "./respond.js";
import { answerOptions, checkForwardedMethod } from "./target.js";
import { translatedResponse } from "./translated.js";
import { type Attempt, type ChoiceDeps, chooseUpstreams, sendToFirstThatAnswers } from "./upstream-choice.js";

export interface ForwardDeps extends OutgoingDeps, ChoiceDeps {
  maxBodyBytes: number;
  /** Where finished requests wait to be recorded, off the hot path... */
  records: RecordQueue;
  /** ...and what recording one needs. */
  recording: RecordDeps;
  /** A prompt's exact token count from a llama-server, for max_tokens and the prefill estimate. */
  countPrompt(body: JsonObject, upstream: Upstream): Promise<number>;
  policies: Record<BackgroundClass, BackgroundPolicy>;
  /** Put prompt and completion text on spans (--capture-content); off by default. */
  captureContent: boolean;
  /** Batches the parsing of every stream's observed chunks behind one timer. */
  parsing: ParseScheduler;
  /** The upstreams: which serve a request's model, in the order to try them. */
  fleet: UpstreamFleet;
  /** The model requests in flight now, for the views. */
  active: ActiveRequests;
  /** The sidecar has its own API key: what clients send as a key is for it, never for llama-server. */
  clientKeyIsOurs: boolean;
}

/** Sized for the first upstream to try: the one nearly every request ends up on. */
function fitDeps(deps: ForwardDeps, unit: UpstreamUnit): FitDeps {
  return { countPrompt: (body) => deps.countPrompt(body, unit.upstream), nCtx: () => unit.facts().nCtx };
}

/** Read when the estimate is made, from the upstream the request went to by then. */
function estimateDeps(deps: ForwardDeps, ex: Exchange): EstimateDeps {
  const unit = () => ex.unit ?? deps.fleet.primary;
  return {
    countPrompt: (body) => deps.countPrompt(body, unit().upstream),
    prefillTps: () => unit().facts().prefillTps,
  };
}

async function send(
  ex: Exchange,
  ctx: SidecarContext,
  out: Outgoing,
  clientKeyIsOurs: boolean,
): Promise<UpstreamResponse> {
  const hasBody = out.body.length > 0 || !["GET", "HEAD"].includes(ctx.method);
  const headers = upstreamRequestHeaders(ctx.req.headers, hasBody ? out.body.length : undefined);
  authorizeUpstream(headers, out.upstream.apiKey, clientKeyIsOurs);
  if (out.translate) headers["content-type"] = "application/json";
  ex.dispatchedAt = performance.now();
  try {
    return await dispatchUpstream(out.upstream.dispatcher, {
      origin: out.upstream.url.origin,
      path: out.path,
      method: ctx.method as Dispatcher.HttpMethod,
      headers,
      body: hasBody ? out.body : undefined,
      cancel: ex.cancel,
    });
  } catch (err) {
    // The client left while llama-server worked on the request: not llama-server's failure.
    if (ex.cancel.aborted) throw new SidecarError("client_closed", "the client closed the connection", { cause: err });
    throw fromUpstreamFailure(err, out.upstream.url.origin);
  }
}

/**
 * With --capture-content, the prompt is kept for the span in GenAI's message shape (JSON that parses, however
 * long the conversation: its oldest messages go first), and the completion is collected for it.
 */
function capturePrompt(ex: Exchange, json: JsonObject): void {
  const dialect = ex.route.dialect;
  if (!dialect) return;
  const system = systemInstructions(dialect, json);
  ex.capturedPrompt = {
    input: cappedJson(inputMessages(dialect, json), CAPTURE_LIMIT),
    system: system && cappedJson(system, CAPTURE_LIMIT),
  };
  ex.obs.captured = "";
}

function mayTranslate(deps: ForwardDeps, ex: Exchange): boolean {
  return ex.route.dialect === "anthropic-messages" && deps.translation.mode === "auto";
}

/** Model work waits for a free llama-server slot; everything else (health, props, tokenize) goes straight on. */
async function admit(queue: AdmissionQueue, ex: Exchange, ctx: SidecarContext): Promise<Ticket | undefined> {
  if (!ex.route.operation || ctx.method !== "POST") return undefined;
  const priority = ex.tags.background ? "background" : "interactive";
  const ticket = await queue.acquire(priority, ex.cancel);
  ex.queueWaitMs = (ex.queueWaitMs ?? 0) + ticket.waitedMs;
  ex.concurrent = queue.active;
  return ticket;
}

function attempt(deps: ForwardDeps, ex: Exchange, ctx: SidecarContext, body: Buffer, json?: JsonObject): Attempt {
  return {
    admit: (queue) => admit(queue, ex, ctx),
    async send(unit) {
      const out = outgoing(deps, ex, ctx, unit.upstream, body, json);
      return { out, up: await send(ex, ctx, out, deps.clientKeyIsOurs) };
    },
  };
}

async function exchange(deps: ForwardDeps, ex: Exchange, ctx: SidecarContext): Promise<Reply> {
  const raw = await readRequestBody(ctx.req, deps.maxBodyBytes);
  const json = ex.route.operation && ctx.method === "POST" ? parseJsonBody(raw) : undefined;
  if (json) ex.model = modelRequest(json);
  if (json && ex.route.dialect) ex.prompt = promptOf(ex, json);
  const body = adaptProgress(deps, ex, adaptPrompt(deps, ex, raw, json), json);
  if (json && ex.route.dialect === "anthropic-messages") {
    const cls = classifyBackground(json);
    if (cls) {
      ex.tags.background = cls;
      ex.tags.backgroundPolicy = deps.policies[cls];
      if (deps.policies[cls] === "local") return sendLocal(ctx, localAnswer(cls, json));
    }
  }
  if (deps.captureContent && json) {
    capturePrompt(ex, json);
    ex.capturedBody = raw.toString("utf8");
  }
  const units = await chooseUpstreams(deps, ex, json);
  const aliased = ex.tags.aliasedTo !== undefined && json ? Buffer.from(JSON.stringify(json)) : body;
  const sent = json && units[0] ? await fitMaxTokens(fitDeps(deps, units[0]), ex, json, aliased) : aliased;
  if (ex.tags.maxTokensAsked !== undefined)
    ctx.set(CLAMP_HEADER, `${json?.max_tokens} (asked ${ex.tags.maxTokensAsked})`);
  const stopEstimate = json && deps.promptProgress ? estimatePrefill(estimateDeps(deps, ex), ex, json) : undefined;
  let ticket: Ticket | undefined;
  try {
    const first = await sendToFirstThatAnswers(deps, ex, ctx, units, attempt(deps, ex, ctx, sent, json));
    ticket = first.ticket;
    let { out, up } = first;
    if (up.statusCode === 404 && json && !out.translate && mayTranslate(deps, ex)) {
      const text = await readUpstreamText(up, out.upstream.url.origin);
      // Only the sidecar's own probe can tell a server without the route from this request's own 404.
      if (!isRouteNotFound(404, text) || (await deps.translation.support.probe(out.upstream)) !== false) {
        return anthropicErrorAnswer(ctx, up, text);
      }
      out = outgoing(deps, ex, ctx, first.unit.upstream, sent, json);
      up = await send(ex, ctx, out, deps.clientKeyIsOurs);
    }
    if (out.translate) return await translatedResponse(ex, ctx, up, out.upstream.url.origin);
    if (up.statusCode >= 400 && ex.route.protocol === "anthropic") {
      return anthropicErrorAnswer(ctx, up, await readUpstreamText(up, out.upstream.url.origin));
    }
    return await passThrough(ex, ctx, up, out.upstream.url.origin, deps.parsing);
  } finally {
    stopEstimate?.();
    ticket?.release();
  }
}

/** What a request that threw comes to (Koa's error handler answers the client). */
function failed(deps: ForwardDeps, ex: Exchange, err: unknown): Reply {
  const e = err as SidecarError;
  if (e.code === "overloaded")
    deps.telemetry.state.rejections.inc({ reason: e.reason ?? "wait", upstream: ex.unit?.name ?? "" });
  // Whatever failed after the client left, it was leaving that ended the request.
  if (e.code === "client_closed" || ex.cancel.aborted) return { outcome: "client_abort", status: 499 };
  const outcome = e.code?.startsWith("upstream_") ? "upstream_error" : "rejected";
  if (e.fromUpstream) return { outcome, status: e.status, upstream: { message: e.message, type: e.fromUpstream.type } };
  return { outcome, status: e.status ?? 500, error: e.message };
}

/** The one place a reply is written onto its exchange, for the record. */
function adopt(ex: Exchange, reply: Reply): Outcome {
  ex.status = reply.status;
  if (reply.error !== undefined) ex.obs.errorMessage = reply.error;
  if (reply.upstream) ex.obs.upstreamError(reply.upstream.message, reply.upstream.type);
  ex.overflow = reply.overflow;
  ex.release = reply.release;
  ex.tap = reply.tap;
  return reply.outcome;
}

/**
 * A request the sidecar answers itself with llama-server's help (count_tokens): counted, timed and spanned like
 * a forwarded one. `answer` returns the model the request named.
 */
export async function recordedAnswer(
  deps: ForwardDeps,
  ctx: SidecarContext,
  answer: () => Promise<string | undefined>,
): Promise<void> {
  const ex = begin(ctx);
  let outcome: Outcome = "ok";
  try {
    const model = await answer();
    ex.model = { model, stream: false };
    outcome = adopt(ex, { outcome, status: ctx.status });
  } catch (err) {
    outcome = adopt(ex, failed(deps, ex, err));
    throw err;
  } finally {
    record(deps, ctx, ex, outcome);
  }
}

/**
 * Records a finished exchange before its client sees the answer end, so a crash never loses a request its client
 * saw complete: a relayed response's last bytes wait for the record (release); an answer Koa is about to send
 * (errors, local answers) is recorded now, before Koa sends it.
 */
function record(deps: ForwardDeps, ctx: SidecarContext, ex: Exchange, outcome: Outcome): void {
  const endedAt = performance.now();
  deps.records.defer(() => finishExchange(deps.recording, ex, outcome, endedAt), ex.release);
  if (!ex.release && ctx.respond !== false) deps.records.flush();
}

/** Koa middleware for every path the sidecar does not serve itself. */
export function forwardMiddleware(deps: ForwardDeps) {
  return async (ctx: SidecarContext): Promise<void> => {
    if (answerOptions(ctx)) return;
    checkForwardedMethod(ctx);
    const ex = begin(ctx);
    ctx.state.protocol = ex.route.protocol;
    // A client that goes away, at any stage, frees its place in the queue and llama-server's slot.
    ctx.res.on("close", () => {
      if (!ctx.res.writableFinished) ex.cancel.abort();
    });
    let outcome: Outcome = "rejected";
    deps.telemetry.state.inFlight.inc();
    const unfollow = deps.active.follow(ex);
    try {
      outcome = adopt(ex, await exchange(deps, ex, ctx));
    } catch (err) {
      outcome = adopt(ex, failed(deps, ex, err));
      throw err;
    } finally {
      deps.telemetry.state.inFlight.dec();
      unfollow();
      record(deps, ctx, ex, outcome);
    }
  };
}
