// What the record floor reads of a finished exchange: the facts proxy/ gathered while the request ran, typed here
// so that the record is built straight from them (proxy's Exchange is these facts and its own in-flight state).
import type { IncomingHttpHeaders } from "node:http";
import type { CacheForensics } from "../forensics/forensics.js";
import type { ServerState, SpeedForensics } from "../forensics/speed.js";
import type { ClientName } from "../observe/client-name.js";
import type { Observation } from "../observe/observation.js";
import type { ResponseTap } from "../observe/tap.js";
import type { TaskNumbers } from "../scrape/scraper.js";
import type { ContextOverflow } from "../wire/context-overflow.js";
import type { JsonObject } from "../wire/json.js";
import type { ModelRequest } from "../wire/model-request.js";
import type { BackgroundClass, BackgroundPolicy } from "../wire/request-kinds.js";
import type { Route } from "../wire/routes.js";

/** What the sidecar did with a request on its way, set by the stage that did it. */
export interface RequestTags {
  /** A Claude Code background call, and what the policy did with it. */
  background?: BackgroundClass;
  backgroundPolicy?: BackgroundPolicy;
  /** The billing header was normalized in this request's prompt. */
  normalized?: boolean;
  /** Answered through Anthropic-to-OpenAI translation. */
  translated?: boolean;
  /** The client's max_tokens, where the sidecar lowered it to fit beside the prompt in the slot's context. */
  maxTokensAsked?: number;
  /** The upstream (its configured name) that answered, or the last one tried. */
  upstream?: string;
  /** The local model a client's model name was mapped to by an alias. */
  aliasedTo?: string;
  /** Upstreams tried before the one that answered, which failed before sending anything back. */
  failedOver?: readonly string[];
  /** The router model (its id) that served it, on a llama-server in router mode. */
  upstreamModel?: string;
  /** How long it waited for its model to be loaded (router mode), apart from its queue wait and prefill. */
  modelLoadMs?: number;
  /** It set that load off (the load is counted and timed once, on this request). */
  modelLoaded?: boolean;
}

/** A model call's parsed body and the conversation it names, kept until its cache verdict (hashed, never kept). */
export interface PromptRef {
  body: JsonObject;
  sessionKey?: string;
}

/** llama-server as it stands now, for the verdicts: its restarts and settings, and its recent prefill speed. */
export interface ServerNow extends ServerState {
  prefillTps?: number;
}

/** The upstream that served a request, as its record and verdicts need it (fleet/'s UpstreamUnit is one). */
export interface ServingUnit {
  /** Its configured name, the label of its misses and slowdowns. */
  readonly name: string;
  readonly upstream: { readonly url: URL };
  readonly forensics: CacheForensics;
  readonly speed: SpeedForensics;
  facts(): ServerNow;
  /** Which slot served a finished request: at once, later (asked of llama-server), or not at all. */
  slotOf(r: TaskNumbers): number | undefined | Promise<number | undefined>;
}

export interface ExchangeFacts {
  readonly route: Route;
  readonly client: ClientName;
  readonly method: string;
  readonly headers: IncomingHttpHeaders;
  /** Date.now() when the request came in. */
  readonly startedAt: number;
  /** performance.now() when the request came in; every other time of the exchange is on this clock. */
  readonly receivedAt: number;
  /** What the response taught us, filled in as it streams past. */
  readonly obs: Observation;
  readonly tags: RequestTags;
  model?: ModelRequest;
  /** What watches the response; its last parse waits for the record. */
  tap?: ResponseTap;
  /** The HTTP status the client got. */
  status: number;
  queueWaitMs?: number;
  /** Model requests in flight to llama-server when this one was admitted, itself included. */
  concurrent?: number;
  /** performance.now() when the request went to llama-server. */
  dispatchedAt?: number;
  /** The prompt as GenAI's input messages and system instructions (JSON), kept for the span only with --capture-content. */
  capturedPrompt?: { input: string; system?: string };
  /** The request's body as the client sent it, kept for the request log only with --capture-content. */
  capturedBody?: string;
  /** A model call's parsed body and the conversation it names, kept for the cache verdict. */
  prompt?: PromptRef;
  /** The upstream the request went to (the last one tried, where it failed over). */
  unit?: ServingUnit;
  /** llama-server refused the prompt as longer than the slot's context: both sizes, as it said them. */
  overflow?: ContextOverflow;
}

/**
 * What the verdicts and the span read of an exchange, taken from it once it is recorded: a slot's verdict waits for
 * llama-server's next /slots (a quarter second or more), and what waits holds only these, never the exchange itself,
 * whose client connection (request, response, tap and decoder) is let go as soon as the response has ended.
 */
export type FactsToJudge = Pick<
  ExchangeFacts,
  "route" | "method" | "headers" | "model" | "startedAt" | "receivedAt" | "capturedPrompt" | "capturedBody" | "prompt"
> & {
  /** The completion's text, collected for the span with --capture-content. */
  readonly completion?: string;
};
