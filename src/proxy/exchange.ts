// One request in flight: the facts its record will be built from (record/exchange-facts.ts), and the state only the
// request path needs while it runs.
import type { IncomingHttpHeaders } from "node:http";
import { performance } from "node:perf_hooks";
import { Cancellation } from "../cancellation.js";
import type { UpstreamUnit } from "../fleet/upstream-unit.js";
import { identifyClient } from "../observe/client-name.js";
import { Observation } from "../observe/observation.js";
import type { ExchangeFacts, PromptRef, RequestTags } from "../record/exchange-facts.js";
import type { SidecarContext } from "../wire/context.js";
import type { JsonObject } from "../wire/json.js";
import { classify } from "../wire/routes.js";
import type { PrefillEstimate, PromptProgress } from "./prompt-progress.js";

export interface Exchange extends ExchangeFacts {
  readonly tags: RequestTags & { failedOver?: string[] };
  cancel: Cancellation;
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

/** Sessions named by the client: Claude Code's header, or OpenAI's prompt_cache_key in the body. */
export function sessionKeyOf(headers: IncomingHttpHeaders, body: JsonObject): string | undefined {
  const header = headers["x-claude-code-session-id"];
  if (typeof header === "string" && header.length > 0 && header.length <= 256) return header;
  return typeof body.prompt_cache_key === "string" ? body.prompt_cache_key.slice(0, 256) : undefined;
}

/** A model call's parsed body and the session it names, for the cache verdict. */
export function promptOf(ex: Exchange, body: JsonObject): PromptRef {
  return { body, sessionKey: sessionKeyOf(ex.headers, body) };
}
