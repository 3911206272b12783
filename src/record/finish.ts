// A finished exchange becomes its record, published at once (recorded), then its verdicts and span, published
// after the response's end is out (judged): the record floor's one entry point.

import type { GpuDuring } from "../gpu/during.js";
import type { Telemetry } from "../telemetry/telemetry.js";
import type { Outcome } from "../wire/request-kinds.js";
import { type BuildOptions, buildRecord } from "./build.js";
import { judgeCache } from "./cache-verdict.js";
import type { RecordEvents } from "./events.js";
import type { ExchangeFacts, FactsToJudge, ServingUnit } from "./exchange-facts.js";
import type { CacheVerdict, JudgedRecord, RequestRecord } from "./request-record.js";
import { recordSpan } from "./span.js";
import { judgeSpeed } from "./speed-verdict.js";

/** What recording a finished exchange needs. */
export interface RecordDeps {
  telemetry: Telemetry;
  events: RecordEvents;
  build: BuildOptions;
  /** Where a request that reached no upstream is put down to: the primary upstream as it is now. */
  primary(): ServingUnit;
  /** What an upstream's GPU did from one time to another (epoch ms), where a GPU source is read. */
  gpuDuring?(upstream: string, from: number, to: number): GpuDuring | undefined;
  /** Joules an upstream's GPU drew from one time to another, where its power is read. */
  gpuEnergy?(upstream: string, from: number, to: number): number | undefined;
  /** Logs a failure of the work done after a record, off the record queue's own guard. */
  logFailure(err: unknown): void;
}

/**
 * Records a finished exchange; `endedAt` is when the response ended. The tap reads its last chunks first. The
 * record goes to the `recorded` listeners now (what must hold it before the response may end); what is returned
 * can wait until the response's end is out: the verdicts, the `judged` listeners and the span.
 */
export function finishExchange(deps: RecordDeps, ex: ExchangeFacts, outcome: Outcome, endedAt: number): () => void {
  ex.tap?.end();
  const record = buildRecord(ex, outcome, endedAt, deps.build);
  deps.events.publishRecorded(record);
  const unit = ex.unit ?? deps.primary();
  const facts = factsToJudge(ex);
  return () => {
    const cache = judgeCache(unit, facts, record);
    // Where the verdict waits for llama-server to say which slot served the request, the rest waits for it. A
    // failure there is logged like any record's, never left to end the process.
    if (cache instanceof Promise)
      cache.then(
        (c) => judged(deps, facts, unit, record, c, endedAt),
        (err: unknown) => {
          deps.logFailure(err);
          judged(deps, facts, unit, record, undefined, endedAt);
        },
      );
    else judged(deps, facts, unit, record, cache, endedAt);
  };
}

/** What the verdicts and the span read, taken from the exchange once it is recorded. */
function factsToJudge(ex: ExchangeFacts): FactsToJudge {
  return {
    route: ex.route,
    method: ex.method,
    headers: ex.headers,
    model: ex.model,
    startedAt: ex.startedAt,
    receivedAt: ex.receivedAt,
    capturedPrompt: ex.capturedPrompt,
    capturedBody: ex.capturedBody,
    prompt: ex.prompt,
    completion: ex.obs.captured,
  };
}

/** A request's share of what the GPU drew while it ran: none for one llama-server never worked on. */
function energyOf(deps: RecordDeps, upstream: string, r: RequestRecord): number | undefined {
  if (!deps.gpuEnergy || r.outcome === "local" || r.outcome === "rejected") return undefined;
  const joules = deps.gpuEnergy(upstream, r.startedAt, r.startedAt + r.durationMs);
  return joules === undefined ? undefined : joules / Math.max(1, r.concurrent ?? 1);
}

function judged(
  deps: RecordDeps,
  ex: FactsToJudge,
  unit: ServingUnit,
  record: RequestRecord,
  cache: CacheVerdict | undefined,
  endedAt: number,
): void {
  try {
    const gpuDuring = deps.gpuDuring;
    const speed = judgeSpeed(unit, record, gpuDuring && ((from, to) => gpuDuring(unit.name, from, to)));
    const content = ex.capturedBody === undefined ? undefined : { request: ex.capturedBody, response: ex.completion };
    const nCtx = unit.facts().nCtx;
    const energyJ = energyOf(deps, unit.name, record);
    const value: JudgedRecord = Object.freeze({ record, upstream: unit.name, nCtx, cache, speed, energyJ, content });
    deps.events.publishJudged(value);
    recordSpan(deps.telemetry, ex, unit, value, endedAt);
  } catch (err) {
    deps.logFailure(err);
  }
}
