// Forwards one request to llama-server, streams the answer back untouched, and records what it observed.
import { randomUUID } from "node:crypto";
import type { IncomingHttpHeaders, ServerResponse } from "node:http";
import { performance } from "node:perf_hooks";
import { context as otelContext, type Span } from "@opentelemetry/api";
import type { Context as KoaContext } from "koa";
import type { Dispatcher } from "undici";
import { errorEvent, fromUpstreamFailure, type SidecarError } from "../errors.js";
import { type ClientName, identifyClient } from "../observe/client.js";
import { Observation, type Outcome, type RequestRecord, toRecord } from "../observe/observation.js";
import { createTap, type ResponseTap } from "../observe/tap.js";
import { endRequestSpan, startRequestSpan } from "../telemetry/spans.js";
import type { Telemetry } from "../telemetry/telemetry.js";
import { type Upstream, upstreamPath } from "../upstream/client.js";
import { type ModelRequest, parseModelRequest, readRequestBody } from "./body.js";
import { clientResponseHeaders, upstreamRequestHeaders } from "./headers.js";
import { relay } from "./relay.js";
import { classify, type Route } from "./routes.js";

export type RecordSink = (record: RequestRecord) => void;

export interface ForwardDeps {
  upstream: Upstream;
  telemetry: Telemetry;
  maxBodyBytes: number;
  sinks: RecordSink[];
}

/** Everything about one request in flight, handed between the stages below. */
interface Exchange {
  id: string;
  route: Route;
  client: ClientName;
  startedAt: number;
  receivedAt: number;
  model?: ModelRequest;
  obs: Observation;
  span?: Span;
  status: number;
  abort: AbortController;
}

function begin(ctx: KoaContext): Exchange {
  const receivedAt = performance.now();
  return {
    id: randomUUID(),
    route: classify(ctx.path),
    client: identifyClient(ctx.req.headers),
    startedAt: Date.now(),
    receivedAt,
    obs: new Observation(receivedAt),
    status: 0,
    abort: new AbortController(),
  };
}

function openSpan(deps: ForwardDeps, ex: Exchange, method: string, headers: IncomingHttpHeaders): void {
  const { telemetry, upstream } = deps;
  const parent = telemetry.propagator.extract(otelContext.active(), headers, {
    get: (carrier, key) => carrier[key],
    keys: (carrier) => Object.keys(carrier),
  });
  ex.span = startRequestSpan(telemetry.tracer, {
    method,
    route: ex.route.label,
    operation: ex.route.operation,
    requestModel: ex.model?.model,
    maxTokens: ex.model?.maxTokens,
    temperature: ex.model?.temperature,
    serverAddress: upstream.url.hostname,
    serverPort: Number(upstream.url.port) || (upstream.url.protocol === "https:" ? 443 : 80),
    startTime: new Date(ex.startedAt),
    parent,
  });
}

function finish(deps: ForwardDeps, ex: Exchange, outcome: Outcome): RequestRecord {
  const endedAt = performance.now();
  const record = toRecord(ex.obs, {
    id: ex.id,
    startedAt: ex.startedAt,
    route: ex.route.label,
    operation: ex.route.operation,
    client: ex.client,
    requestModel: ex.model?.model,
    stream: ex.model?.stream ?? false,
    status: ex.status,
    outcome,
    endedAt,
  });
  if (ex.span) endRequestSpan(ex.span, record, new Date(ex.startedAt + (endedAt - ex.receivedAt)));
  deps.telemetry.requests.record(record);
  for (const sink of deps.sinks) sink(record);
  return record;
}

async function send(deps: ForwardDeps, ex: Exchange, ctx: KoaContext, body: Buffer): Promise<Dispatcher.ResponseData> {
  const hasBody = body.length > 0 || !["GET", "HEAD"].includes(ctx.method);
  return deps.upstream.dispatcher.request({
    origin: deps.upstream.url.origin,
    path: upstreamPath(deps.upstream.url, ctx.url),
    method: ctx.method as Dispatcher.HttpMethod,
    headers: upstreamRequestHeaders(ctx.req.headers, hasBody ? body.length : undefined),
    body: hasBody ? body : undefined,
    signal: ex.abort.signal,
  });
}

/** After the headers are out, an upstream failure can only be told in-band: an SSE error event, or a cut connection. */
function failMidStream(res: ServerResponse, ex: Exchange, err: SidecarError, isSse: boolean): void {
  if (isSse && !res.destroyed) res.end(errorEvent(err, ex.route.protocol));
  else res.destroy(err);
}

async function stream(
  deps: ForwardDeps,
  ex: Exchange,
  ctx: KoaContext,
  upstreamRes: Dispatcher.ResponseData,
): Promise<Outcome> {
  const res = ctx.res;
  ex.status = upstreamRes.statusCode;
  ctx.respond = false; // the raw response is ours from here: Koa must not buffer or rewrite it
  res.writeHead(upstreamRes.statusCode, clientResponseHeaders(upstreamRes.headers));
  const contentType = String(upstreamRes.headers["content-type"] ?? "");
  const isSse = contentType.includes("text/event-stream");
  let tap: ResponseTap | undefined;
  if (ex.route.dialect) tap = createTap(ex.route.dialect, contentType, ex.obs, () => performance.now());
  const end = await relay(upstreamRes.body, res, tap && ((chunk) => tap.push(chunk)));
  tap?.end();
  switch (end.kind) {
    case "end":
      res.end();
      return upstreamRes.statusCode >= 400 || ex.obs.errorMessage ? "upstream_error" : "ok";
    case "client_abort":
      ex.abort.abort();
      upstreamRes.body.destroy();
      return "client_abort";
    case "upstream_error": {
      const err = fromUpstreamFailure(end.error, deps.upstream.url.origin);
      ex.obs.errorMessage = err.message;
      failMidStream(res, ex, err, isSse);
      return "upstream_error";
    }
  }
}

/** Koa middleware for every path the sidecar does not serve itself. */
export function forwardMiddleware(deps: ForwardDeps) {
  return async (ctx: KoaContext): Promise<void> => {
    const ex = begin(ctx);
    ctx.state.protocol = ex.route.protocol;
    // A client that goes away, at any stage, frees llama-server's slot.
    ctx.res.on("close", () => {
      if (!ctx.res.writableFinished) ex.abort.abort();
    });
    let outcome: Outcome = "rejected";
    deps.telemetry.state.inFlight.inc();
    try {
      const body = await readRequestBody(ctx.req, deps.maxBodyBytes);
      if (ex.route.dialect && ctx.method === "POST") ex.model = parseModelRequest(body);
      openSpan(deps, ex, ctx.method, ctx.req.headers);
      let upstreamRes: Dispatcher.ResponseData;
      try {
        upstreamRes = await send(deps, ex, ctx, body);
      } catch (err) {
        outcome = ex.abort.signal.aborted ? "client_abort" : "upstream_error";
        throw fromUpstreamFailure(err, deps.upstream.url.origin);
      }
      outcome = await stream(deps, ex, ctx, upstreamRes);
    } catch (err) {
      ex.status = (err as SidecarError).status ?? 500;
      ex.obs.errorMessage = (err as Error).message;
      throw err;
    } finally {
      deps.telemetry.state.inFlight.dec();
      if (!ex.span) openSpan(deps, ex, ctx.method, ctx.req.headers);
      finish(deps, ex, outcome);
    }
  };
}
