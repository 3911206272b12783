// One request in flight: what we know about it, its span, and how it becomes a RequestRecord at the end.
import { randomUUID } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import { performance } from "node:perf_hooks";
import { context as otelContext } from "@opentelemetry/api";
import { Cancellation } from "../cancellation.js";
import type { UpstreamUnit } from "../fleet/upstream-unit.js";
import { type ClientName, identifyClient } from "../observe/client-name.js";
import {
  Observation,
  type Outcome,
  type RecordContext,
  type RecordSink,
  type RequestRecord,
  toRecord,
} from "../observe/observation.js";
import type { ResponseTap } from "../observe/tap.js";
import type { ReportInvalid } from "../telemetry/invalid-values.js";
import { ATTR } from "../telemetry/span-attributes.js";
import { endRequestSpan, startRequestSpan } from "../telemetry/spans.js";
import type { Telemetry } from "../telemetry/telemetry.js";
import type { SidecarContext } from "../wire/context.js";
import { classify, type Route } from "../wire/routes.js";
import type { ModelRequest } from "./body.js";
import { judgeCache, type PromptRef, type VerdictDeps } from "./cache-verdict.js";
import type { PrefillEstimate, PromptProgress } from "./prompt-progress.js";
import { judgeSpeed, type SpeedDeps } from "./speed-verdict.js";

export interface Exchange {
  route: Route;
  client: ClientName;
  method: string;
  headers: IncomingHttpHeaders;
  startedAt: number;
  receivedAt: number;
  model?: ModelRequest;
  obs: Observation;
  /** What watches the response; its last parse waits for the record. */
  tap?: ResponseTap;
  status: number;
  cancel: Cancellation;
  queueWaitMs?: number;
  /** Model requests in flight to llama-server when this one was admitted, itself included. */
  concurrent?: number;
  /** performance.now() when the request went to llama-server. */
  dispatchedAt?: number;
  tags: NonNullable<RecordContext["tags"]>;
  /** The prompt, kept for the span only with --capture-content. */
  capturedPrompt?: string;
  /** A model call's parsed body and the conversation it names, kept for cache forensics at the record. */
  prompt?: PromptRef;
  /** The sidecar asked llama-server for prefill progress: its reports are stripped from the client's stream. */
  progressAsked?: boolean;
  /** llama-server's latest prefill progress report, while it prefills. */
  progress?: PromptProgress;
  /** For a stream without progress reports: its prompt's size and the speed it is estimated at. */
  estimate?: PrefillEstimate;
  /** Ends the client's response: called once the request's record is written, never before. */
  release?: () => void;
  /** The upstream the request went to (the last one tried, where it failed over). */
  unit?: UpstreamUnit;
  /** The conversation it belongs to, for the upstream holding its prefix (only with several upstreams). */
  conversation?: string;
}

export function begin(ctx: SidecarContext): Exchange {
  const receivedAt = performance.now();
  return {
    route: classify(ctx.path),
    client: identifyClient(ctx.req.headers),
    method: ctx.method,
    headers: ctx.req.headers,
    startedAt: Date.now(),
    receivedAt,
    obs: new Observation(receivedAt),
    status: 0,
    cancel: new Cancellation(),
    tags: {},
  };
}

/** What recording a finished exchange needs. */
export interface RecordDeps {
  telemetry: Telemetry;
  sinks: RecordSink[];
  reportInvalid: ReportInvalid;
  /** --capture-content: records keep error messages whole. */
  captureContent: boolean;
  /** Where a request that reached no upstream is put down to: the primary upstream as it is now. */
  fleet: { readonly primary: UpstreamUnit };
  /** Logs a failure of the work done after a record, off the record queue's own guard. */
  logFailure(err: unknown): void;
}

/**
 * The span is made whole when the request is recorded, off the hot path, with the start time the request
 * arrived: llama-server is not traced, so nothing needs the span while the request runs.
 */
function recordSpan(deps: RecordDeps, ex: Exchange, record: RequestRecord, endedAt: number): void {
  const parent = deps.telemetry.propagator.extract(otelContext.active(), ex.headers, {
    get: (carrier, key) => carrier[key],
    keys: (carrier) => Object.keys(carrier),
  });
  const url = (ex.unit ?? deps.fleet.primary).upstream.url;
  const span = startRequestSpan(deps.telemetry.tracer, {
    method: ex.method,
    route: ex.route.label,
    operation: ex.route.operation,
    requestModel: ex.model?.model,
    maxTokens: ex.model?.maxTokens,
    temperature: ex.model?.temperature,
    serverAddress: url.hostname,
    serverPort: Number(url.port) || (url.protocol === "https:" ? 443 : 80),
    startTime: new Date(ex.startedAt),
    parent,
  });
  if (ex.capturedPrompt !== undefined) span.setAttribute(ATTR.PROMPT, ex.capturedPrompt);
  if (ex.obs.captured !== undefined) span.setAttribute(ATTR.COMPLETION, ex.obs.captured);
  endRequestSpan(span, record, new Date(ex.startedAt + (endedAt - ex.receivedAt)));
}

/** What the cache and speed verdicts need: the forensics of the upstream that served the request. */
function verdictsOn(unit: UpstreamUnit, telemetry: Telemetry): VerdictDeps & SpeedDeps {
  return {
    telemetry,
    upstream: unit.name,
    forensics: unit.forensics,
    speed: unit.speed,
    upstreamFacts: unit.facts,
    slotOf: unit.slotOf,
  };
}

/**
 * Turns a finished exchange into its record, metrics and sink calls (the ledgers: what must be written before
 * the response may end); `endedAt` is when the response ended. The tap reads its last chunks first: an error event
 * in the stream makes an "ok" an upstream error. Returns what can wait until the response's end is out: the cache
 * verdict and the span, which no crash-proof total depends on.
 */
export function finish(deps: RecordDeps, ex: Exchange, outcome: Outcome, endedAt: number): () => void {
  ex.tap?.end();
  const record = toRecord(ex.obs, {
    id: randomUUID(), // made here, not when the request came in: nothing needs it before the record
    startedAt: ex.startedAt,
    route: ex.route.label,
    operation: ex.route.operation,
    client: ex.client,
    requestModel: ex.model?.model,
    stream: ex.model?.stream ?? false,
    status: ex.status,
    outcome: outcome === "ok" && ex.obs.errorMessage ? "upstream_error" : outcome,
    endedAt,
    queueWaitMs: ex.queueWaitMs,
    concurrent: ex.concurrent,
    dispatchedAt: ex.dispatchedAt,
    tags: ex.tags,
    session: ex.prompt?.sessionKey,
    keepText: deps.captureContent,
    // Background calls are counted by class, not model: they take no place among the model names kept.
    labelModel: ex.tags.background ? undefined : (model) => deps.telemetry.modelLabels.value(model),
  });
  for (const field of record.invalidFields ?? []) deps.reportInvalid(field, record.route);
  deps.telemetry.requests.record(record);
  for (const sink of deps.sinks) sink(record);
  const verdictDeps = verdictsOn(ex.unit ?? deps.fleet.primary, deps.telemetry);
  return () => {
    const judged = judgeCache(
      verdictDeps,
      { dialect: ex.route.dialect, prompt: ex.prompt, backgroundPolicy: ex.tags.backgroundPolicy },
      record,
    );
    const rest = () => {
      judgeSpeed(verdictDeps, record, ex.tags.backgroundPolicy === "route");
      recordSpan(deps, ex, record, endedAt);
    };
    // Where the verdict waits for llama-server to say which slot served the request, the span waits for it. A
    // failure there is logged like any record's, never left to end the process.
    if (judged) judged.then(rest, rest).catch((err: unknown) => deps.logFailure(err));
    else rest();
  };
}
