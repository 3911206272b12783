// A finished request's speed verdict, made off the hot path after the response's end is out, like the cache
// verdict: a new value beside the record.
import type { GpuDuring } from "../gpu/during.js";
import { decodingBand, depthBand } from "../wire/context-bands.js";
import type { ServingUnit } from "./exchange-facts.js";
import type { RequestRecord, SpeedVerdict } from "./request-record.js";

export function judgeSpeed(
  unit: ServingUnit,
  record: RequestRecord,
  gpuDuring?: (from: number, to: number) => GpuDuring | undefined,
): SpeedVerdict | undefined {
  // A background call routed to the other llama-server, a failed request or one without a speed says nothing here.
  if (record.backgroundPolicy === "route" || record.outcome !== "ok") return undefined;
  if (record.decodeTps === undefined || record.background) return undefined;
  const output = record.outputTokens ?? 0;
  const slowdown = unit.speed.judge({
    model: record.modelLabel,
    tps: record.decodeTps,
    outputTokens: output,
    depth: depthBand((record.prefillTokens ?? 0) + (record.cachedTokens ?? 0), output),
    decoding: decodingBand(record.concurrent),
    // The GPU is read only for a request already found slow's verdict: never on the request's path.
    server: unit.facts(),
    gpu: () => gpuDuring?.(record.startedAt, record.startedAt + record.durationMs),
  });
  if (!slowdown) return undefined;
  unit.speed.note({ ...slowdown, at: record.startedAt, model: record.modelLabel });
  return { cause: slowdown.cause, detail: slowdown.detail, usualTps: Math.round(slowdown.usualTps * 10) / 10 };
}
