// One request in flight: what we know about it, its span, and how it becomes a RequestRecord at the end.
import { randomUUID } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import { performance } from "node:perf_hooks";
import { context as otelContext, type Span } from "@opentelemetry/api";
import type { Context as KoaContext } from "koa";
import { type ClientName, identifyClient } from "../observe/client.js";
import { Observation, type Outcome, type RecordContext, type RequestRecord, toRecord } from "../observe/observation.js";
import { endRequestSpan, LLAMA_ATTR, startRequestSpan } from "../telemetry/spans.js";
import type { Telemetry } from "../telemetry/telemetry.js";
import type { Upstream } from "../upstream/client.js";
import type { ModelRequest } from "./body.js";
import { classify, type Route } from "./routes.js";

export type RecordSink = (record: RequestRecord) => void;

export interface Exchange {
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
  queueWaitMs?: number;
  /** performance.now() when the request went to llama-server. */
  dispatchedAt?: number;
  tags: NonNullable<RecordContext["tags"]>;
}

export function begin(ctx: KoaContext): Exchange {
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
    tags: {},
  };
}

export function openSpan(
  telemetry: Telemetry,
  upstream: Upstream,
  ex: Exchange,
  method: string,
  headers: IncomingHttpHeaders,
): void {
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

/** Turns a finished exchange into its record, span end, metrics and sink calls; `endedAt` is when the response ended. */
export function finish(
  telemetry: Telemetry,
  sinks: RecordSink[],
  ex: Exchange,
  outcome: Outcome,
  endedAt: number,
): RequestRecord {
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
    queueWaitMs: ex.queueWaitMs,
    dispatchedAt: ex.dispatchedAt,
    tags: ex.tags,
  });
  if (ex.span && ex.obs.captured !== undefined) ex.span.setAttribute(`${LLAMA_ATTR}.completion`, ex.obs.captured);
  if (ex.span) endRequestSpan(ex.span, record, new Date(ex.startedAt + (endedAt - ex.receivedAt)));
  telemetry.requests.record(record);
  for (const sink of sinks) sink(record);
  return record;
}
