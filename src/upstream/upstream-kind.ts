// What sets the three kinds of upstream apart (a plain llama-server, one in router mode, llama-swap): where a model's
// metrics, slots and props are, how its models are listed, loaded and found ready, and when each unit is scraped.
import { parseObject } from "../wire/json.js";
import { isReady, type ModelState, type RouterModel, readRouterModels } from "./router-models.js";
import { isLlamaSwapList, readSwapModels } from "./swap-models.js";

export type UpstreamKind = "plain" | "router" | "swap";

/** What a server's own /props tells of it. */
export interface ServerFacts {
  model?: string;
  totalSlots?: number;
  nCtx?: number;
  buildInfo?: string;
}

/** Reads one of the server's answers: its body, or undefined where it did not answer 200. */
export type ReadText = (path: string) => Promise<string | undefined>;

/** A call of the sidecar's own to the server: a GET, or a POST where it has a JSON body. */
export interface UpstreamCall {
  path: string;
  json?: object;
  timeoutMs: number;
}

/** One kind's answers; `model` is a model's id as the server lists it. */
export interface UpstreamKindRules {
  readonly kind: UpstreamKind;
  /** It serves many models by name, each a unit of its own with a state (loaded or not), and lists them. */
  readonly servesByName: boolean;
  metricsPath(model: string): string;
  slotsPath(model: string): string;
  /** Where a model's own /props is, read without loading it. */
  propsPath(model: string): string;
  /** What of the server's own /props is the server's, not one of its models'. */
  ownFacts(facts: ServerFacts): ServerFacts;
  /** Its models with their states, from its /v1/models answer (and what more `read` fetches). */
  readModels(modelsText: string, read: ReadText): Promise<RouterModel[]>;
  /** Whether a model in this state answers at once. */
  isReady(state: ModelState | undefined): boolean;
  /** The call that gets a model loaded; undefined where there is nothing to load. */
  loadCall(model: string, upstreamTimeoutMs: number): UpstreamCall | undefined;
  /** Whether the server's own /metrics and /slots are scraped (not where only its models have them). */
  readonly scrapesServer: boolean;
  /** Whether a model's unit is scraped now: its state, and how many loads the sidecar has going on this server. */
  scrapesModel(state: ModelState | undefined, loadsGoing: number): boolean;
}

const q = encodeURIComponent;

/** One llama-server, one model loaded: its own paths whatever model is named, always ready while online. */
const PLAIN: UpstreamKindRules = {
  kind: "plain",
  servesByName: false,
  metricsPath: () => "/metrics",
  slotsPath: () => "/slots",
  propsPath: () => "/props",
  ownFacts: (facts) => facts,
  // Its /v1/models names what it has loaded; there are no states to read.
  readModels: async () => [],
  isReady: () => true,
  loadCall: () => undefined,
  scrapesServer: true,
  scrapesModel: () => false,
};

/** A llama-server in router mode: each model asked for by `?model=`, with autoload=false so looking never loads it. */
const ROUTER: UpstreamKindRules = {
  kind: "router",
  servesByName: true,
  metricsPath: (model) => `/metrics?model=${q(model)}&autoload=false`,
  slotsPath: (model) => `/slots?model=${q(model)}&autoload=false`,
  propsPath: (model) => `/props?model=${q(model)}&autoload=false`,
  // Its own model and context are none of its models'.
  ownFacts: (facts) => ({ ...facts, model: undefined, nCtx: undefined }),
  readModels: async (modelsText) => readRouterModels(modelsText),
  isReady,
  // It answers at once and loads meanwhile.
  loadCall: (model) => ({ path: "/models/load", json: { model }, timeoutMs: 30_000 }),
  // It answers /metrics only per model: its models are units of their own.
  scrapesServer: false,
  scrapesModel: (state) => isReady(state),
};

/** llama-swap: each model's own server reached through /upstream/<model>/, its models swapped in on demand. */
const SWAP: UpstreamKindRules = {
  kind: "swap",
  servesByName: true,
  metricsPath: (model) => `/upstream/${q(model)}/metrics`,
  slotsPath: (model) => `/upstream/${q(model)}/slots`,
  propsPath: (model) => `/upstream/${q(model)}/props`,
  // Its /props is not a llama-server's.
  ownFacts: () => ({}),
  readModels: async (modelsText, read) => readSwapModels(modelsText, await read("/running")),
  isReady,
  // It has no load call: the model's own /health, asked through it, swaps the model in and answers once it is ready.
  loadCall: (model, upstreamTimeoutMs) => ({ path: `/upstream/${q(model)}/health`, timeoutMs: upstreamTimeoutMs }),
  scrapesServer: false,
  // It serves a scrape through its scheduler: one that came during a swap would swap its model back in afterwards,
  // so while the sidecar has a swap going, only the scrape before it runs.
  scrapesModel: (state, loadsGoing) => isReady(state) && loadsGoing === 0,
};

const RULES: Record<UpstreamKind, UpstreamKindRules> = { plain: PLAIN, router: ROUTER, swap: SWAP };

/** The rules of a kind; a server not read yet is taken for a plain one. */
export function kindRules(kind: UpstreamKind | undefined): UpstreamKindRules {
  return RULES[kind ?? "plain"];
}

/**
 * The kind a server is, from its /props and /v1/models answers: llama-swap marks its models, a router says its role;
 * undefined where neither tells (its /props unanswered).
 */
export function recognizeKind(propsText: string | undefined, modelsText: string | undefined): UpstreamKind | undefined {
  if (modelsText !== undefined && isLlamaSwapList(modelsText)) return "swap";
  if (propsText === undefined) return undefined;
  return parseObject(propsText)?.role === "router" ? "router" : "plain";
}
