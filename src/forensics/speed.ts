// Why generation slowed: each finished request's decode speed against what this model did before, and when it is
// well below, what changed: a deeper context, more requests decoding at once, a restart (with other settings), the
// draft model's acceptance, or none of these (then the GPU side). Never a guess dressed as a finding.
import type { Logger } from "pino";
import type { GpuDuring } from "../gpu/during.js";
import { DECODING_BAND_NAMES, DEPTH_BAND_NAMES } from "../wire/context-bands.js";
import type { SlowdownCause } from "../wire/request-kinds.js";
import { LimitedLog } from "./log-limit.js";

/** llama-server as it stood for a request: restarts, settings from /props, draft acceptance from /metrics. */
export interface ServerState {
  restarts: number;
  nCtx?: number;
  slots?: number;
  model?: string;
  /** Share of draft tokens accepted lately (speculative decoding), when llama-server drafts. */
  specAcceptance?: number;
}

export interface SpeedSample {
  model: string;
  /** Generation tokens per second. */
  tps: number;
  outputTokens: number;
  /** Context-depth and decoding bands (telemetry/context-bands.ts). */
  depth: string;
  decoding: string;
  server: ServerState;
  /** What the GPU did during the request, where a GPU source is read: asked only of a slow request. */
  gpu?: () => GpuDuring | undefined;
}

export interface Slowdown {
  cause: SlowdownCause;
  /** What changed, for a person: bands, settings and speeds, never text. */
  detail: string;
  tps: number;
  /** The model's usual speed lately, which this request fell well below. */
  usualTps: number;
}

/** Fewer tokens than this say little about decode speed (the first few carry the sampling warm-up). */
const MIN_OUTPUT_TOKENS = 16;
/** Slow: under this share of the model's usual speed. */
const SLOW_SHARE = 0.7;
/** A like-for-like baseline this close means the conditions, not the server, explain the speed. */
const LIKE_SHARE = 0.8;
/** Draft acceptance this much lower (absolute) counts as fallen. */
const ACCEPTANCE_DROP = 0.15;
const EWMA = 0.3;
/** After this many slow requests in a row the slow speed is the new usual one (a new model file, a new GPU). */
const SETTLE_AFTER = 10;
const MAX_MODELS = 64;

interface Conditions {
  depth: string;
  decoding: string;
  server: ServerState;
}

interface ModelSpeed {
  /** Moving average of the speeds that were not slow. */
  usual: number;
  /** The conditions of the last request that was not slow. */
  last: Conditions;
  /** Moving average per depth and decoding band. */
  like: Map<string, { tps: number; n: number }>;
  /** Slow requests in a row. */
  streak: number;
}

const ewma = (old: number, now: number) => old + EWMA * (now - old);
const deeper = (a: string, b: string) => DEPTH_BAND_NAMES.indexOf(a as never) > DEPTH_BAND_NAMES.indexOf(b as never);
const busier = (a: string, b: string) =>
  DECODING_BAND_NAMES.indexOf(a as never) > DECODING_BAND_NAMES.indexOf(b as never);
const tps = (n: number) => `${Math.round(n)} tok/s`;

/** The settings a restart changed, as "n_ctx 8192 -> 4096, slots 4 -> 1", or "" when none that /props shows. */
function settingsChanged(was: ServerState, now: ServerState): string {
  const parts: string[] = [];
  for (const key of ["model", "nCtx", "slots"] as const) {
    if (was[key] !== undefined && now[key] !== undefined && was[key] !== now[key]) {
      parts.push(`${key === "nCtx" ? "n_ctx" : key} ${was[key]} -> ${now[key]}`);
    }
  }
  return parts.join(", ");
}

/** The conditions that explain a slow request, given the model's last healthy one and its like-for-like speed. */
function explainSlow(
  s: SpeedSample,
  was: Conditions,
  like: number | undefined,
): { cause: SlowdownCause; detail: string } {
  if (s.server.restarts !== was.server.restarts) {
    const changed = settingsChanged(was.server, s.server);
    return {
      cause: "server_restarted",
      detail: `llama-server restarted${changed ? ` (${changed})` : ", same settings"}`,
    };
  }
  const asUsualHere = like !== undefined && s.tps >= LIKE_SHARE * like;
  const known = like === undefined ? "; no speed known there yet" : `; usual there ${tps(like)}`;
  if ((asUsualHere || like === undefined) && deeper(s.depth, was.depth)) {
    return { cause: "deeper_context", detail: `context ${s.depth} tokens, was ${was.depth}${known}` };
  }
  if ((asUsualHere || like === undefined) && busier(s.decoding, was.decoding)) {
    return { cause: "more_decoding", detail: `${s.decoding} requests decoding at once, was ${was.decoding}${known}` };
  }
  const a = s.server.specAcceptance;
  const b = was.server.specAcceptance;
  if (a !== undefined && b !== undefined && b - a >= ACCEPTANCE_DROP) {
    const pct = (x: number) => `${Math.round(x * 100)}%`;
    return { cause: "spec_acceptance_fell", detail: `draft acceptance ${pct(a)}, was ${pct(b)}` };
  }
  const gpu = s.gpu?.();
  return gpu
    ? gpuCause(gpu)
    : {
        cause: "gpu_side",
        detail:
          "same context depth and concurrency, no restart: look at the GPU (another process on it, thermals, power limit)",
      };
}

/** Another process holding this much of the GPU's memory shares it. */
const SHARED_BYTES = 512 * 1024 * 1024;
/** Memory this full leaves llama-server's buffers no room. */
const NEAR_FULL = 0.97;
const GIB = 1024 * 1024 * 1024;
const gib = (b: number) => `${(b / GIB).toFixed(1)} GiB`;
const mhz = (n: number | undefined) => (n === undefined ? "?" : n.toLocaleString("en-US"));

/** What the GPU's readings during the request say; each cause names the readings it rests on. */
function gpuCause(g: GpuDuring): { cause: SlowdownCause; detail: string } {
  const clock = `SM clock ${mhz(g.smClockMhz)} of ${mhz(g.smClockMaxMhz)} MHz`;
  const thermal = g.throttled.some((r) => r === "sw_thermal" || r === "hw_thermal");
  const power = g.throttled.some((r) => r === "sw_power_cap" || r === "hw_power_brake");
  if (thermal)
    return {
      cause: "gpu_throttled",
      detail: `${clock}, thermal slowdown at ${g.temperatureC ?? "?"} °C (GPU ${g.gpu})`,
    };
  if (power)
    return {
      cause: "gpu_throttled",
      detail: `${clock}, held to its power limit: ${g.powerWatts ?? "?"} of ${g.powerLimitWatts ?? "?"} W (GPU ${g.gpu})`,
    };
  if (g.foreignMemoryBytes !== undefined && g.foreignMemoryBytes >= SHARED_BYTES)
    return {
      cause: "gpu_shared",
      detail: `another process held ${gib(g.foreignMemoryBytes)} of GPU ${g.gpu}'s memory during the request`,
    };
  if (g.memoryUsedBytes !== undefined && g.memoryTotalBytes && g.memoryUsedBytes / g.memoryTotalBytes >= NEAR_FULL)
    return {
      cause: "memory_pressure",
      detail: `GPU ${g.gpu}'s memory ${gib(g.memoryUsedBytes)} of ${gib(g.memoryTotalBytes)} in use`,
    };
  return {
    cause: "gpu_side",
    detail: `same context depth and concurrency, no restart, and no GPU reading explains it (${clock}, ${g.temperatureC ?? "?"} °C, no throttling, ${g.foreignMemoryBytes === undefined ? "other processes not read" : "no other process"})`,
  };
}

/** A slowdown as the views list it. */
export interface NotedSlowdown extends Slowdown {
  at: number;
  model: string;
}

const RECENT_SLOWDOWNS = 20;

export class SpeedForensics {
  private readonly models = new Map<string, ModelSpeed>();
  readonly recent: NotedSlowdown[] = [];
  private readonly log: LimitedLog<SlowdownCause>;

  constructor(opts: { logger?: Logger } = {}) {
    this.log = new LimitedLog(opts.logger);
  }

  /** Keeps a slowdown for the views (/api/stats, the dashboard), newest last, and logs it (rate-limited). */
  note(d: NotedSlowdown): void {
    this.log.info(d.cause, d.at, { model: d.model, tps: Math.round(d.tps) }, describeSlowdown(d, d.model));
    this.recent.push(d);
    if (this.recent.length > RECENT_SLOWDOWNS) this.recent.shift();
  }

  /** Judges a finished request's decode speed (undefined when not slow, or too short to say) and learns from it. */
  judge(s: SpeedSample): Slowdown | undefined {
    if (s.outputTokens < MIN_OUTPUT_TOKENS || !(s.tps > 0)) return undefined;
    const m = this.models.get(s.model);
    const key = `${s.depth}|${s.decoding}`;
    if (!m) {
      this.remember(s.model, { usual: s.tps, last: s, like: new Map([[key, { tps: s.tps, n: 1 }]]), streak: 0 });
      return undefined;
    }
    const like = m.like.get(key);
    const slowdown =
      s.tps < SLOW_SHARE * m.usual
        ? { ...explainSlow(s, m.last, like && like.n >= 2 ? like.tps : undefined), tps: s.tps, usualTps: m.usual }
        : undefined;
    m.like.set(key, like ? { tps: ewma(like.tps, s.tps), n: like.n + 1 } : { tps: s.tps, n: 1 });
    m.streak = slowdown ? m.streak + 1 : 0;
    if (!slowdown || m.streak >= SETTLE_AFTER) {
      m.usual = slowdown ? s.tps : ewma(m.usual, s.tps);
      m.last = s;
      m.streak = 0;
    }
    this.remember(s.model, m);
    return slowdown;
  }

  /** Models most recently seen last; the oldest forgotten past the limit. */
  private remember(model: string, m: ModelSpeed): void {
    this.models.delete(model);
    this.models.set(model, m);
    if (this.models.size > MAX_MODELS) this.models.delete(this.models.keys().next().value as string);
  }
}

/** One line a person reads. */
export function describeSlowdown(d: Slowdown, model: string): string {
  return `generation slowed (${d.cause}): ${tps(d.tps)} against ${model}'s usual ${tps(d.usualTps)}; ${d.detail}`;
}
