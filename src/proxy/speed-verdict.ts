// A finished request's speed verdict, written onto its record and counted: made off the hot path, after the
// response's end is out, like the cache verdict.

import type { UpstreamFacts } from "../fleet/upstream-unit.js";
import type { SpeedForensics } from "../forensics/speed.js";
import type { RequestRecord } from "../observe/observation.js";
import type { Telemetry } from "../telemetry/telemetry.js";
import { decodingBand, depthBand } from "../wire/context-bands.js";

export interface SpeedDeps {
  /** The upstream's configured name, the slowdowns' label. */
  upstream: string;
  speed: SpeedForensics;
  upstreamFacts(): UpstreamFacts;
  telemetry: Telemetry;
}

export function judgeSpeed(deps: SpeedDeps, record: RequestRecord, routedAway: boolean): void {
  // A background call routed to the other llama-server, a failed request or one without a speed says nothing here.
  if (routedAway || record.outcome !== "ok" || record.decodeTps === undefined || record.background) return;
  const facts = deps.upstreamFacts();
  const output = record.outputTokens ?? 0;
  const slowdown = deps.speed.judge({
    model: record.modelLabel,
    tps: record.decodeTps,
    outputTokens: output,
    depth: depthBand((record.prefillTokens ?? 0) + (record.cachedTokens ?? 0), output),
    decoding: decodingBand(record.concurrent),
    server: facts,
  });
  if (!slowdown) return;
  record.slowdownCause = slowdown.cause;
  record.slowdownDetail = slowdown.detail;
  record.usualTps = Math.round(slowdown.usualTps * 10) / 10;
  deps.telemetry.state.countSlowdown(deps.upstream, slowdown.cause);
  deps.speed.note({ ...slowdown, at: record.startedAt, model: record.modelLabel });
}
