// Counts what the verdicts found: a listener of judged requests (wired in app.ts).
import type { StateGauges } from "../telemetry/state-gauges.js";
import type { JudgedRecord } from "./request-record.js";

export function countVerdicts(state: Pick<StateGauges, "countMiss" | "countSlowdown">, j: JudgedRecord): void {
  const { cache, speed, upstream } = j;
  if (cache?.cause) state.countMiss(upstream, cache.cause, cache.lostTokens ?? 0, cache.lostPrefillMs);
  if (speed) state.countSlowdown(upstream, speed.cause);
}
