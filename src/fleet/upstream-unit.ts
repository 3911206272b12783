// One llama-server (or one model of a router-mode llama-server) as one unit: its health, scraper (with its
// lifetime ledger), admission queue and forensics, built together. The request path works with whichever unit the
// fleet chose, the same way for every kind.
import type { Logger } from "pino";
import { AdmissionQueue, type QueueNumbers } from "../admission/queue.js";
import type { Cancellation } from "../cancellation.js";
import type { Config } from "../config/load.js";
import { matchesModel, type UpstreamSpec } from "../config/upstreams.js";
import { CacheForensics } from "../forensics/forensics.js";
import { SpeedForensics } from "../forensics/speed.js";
import { slotThatServed, type TaskNumbers, UpstreamScraper } from "../scrape/scraper.js";
import type { JsonStore } from "../store/json-store.js";
import type { StatsDoc } from "../store/schema.js";
import type { ReportInvalid } from "../telemetry/invalid-values.js";
import { createUpstream, type Upstream } from "../upstream/client.js";
import { kindOf, modelNames, UpstreamMonitor, type UpstreamStatus } from "../upstream/monitor.js";

/** This llama-server now: restarts, settings from /props, recent prefill speed and draft acceptance (/metrics). */
export interface UpstreamFacts {
  restarts: number;
  nCtx?: number;
  slots?: number;
  model?: string;
  prefillTps?: number;
  specAcceptance?: number;
}

/** A model made ready for a request: how long the request waited for its load, and whether it set the load off. */
export interface ModelLoad {
  waitedMs: number;
  triggered: boolean;
}

export interface UpstreamUnit {
  /** Its upstream's configured name: the `upstream` label. */
  name: string;
  /** The router model it is (its id), for a unit of a router-mode llama-server. */
  model?: string;
  /** The `model` label of its llama_server_* series: the router model, or the model the server has loaded. */
  modelLabel(): string;
  upstream: Upstream;
  monitor: UpstreamMonitor;
  scraper: UpstreamScraper;
  /** At most as many requests in flight as llama-server has slots (or --max-in-flight). */
  queue: AdmissionQueue;
  queueNumbers(): QueueNumbers;
  /** Its conversations' prompt prints, and why their turns missed its cache. */
  forensics: CacheForensics;
  /** Its models' usual generation speeds, and why a request fell well below. */
  speed: SpeedForensics;
  /** What a cache verdict needs to know of this llama-server now. */
  facts(): UpstreamFacts;
  /**
   * The slot that served a finished request with these numbers: 0 on a one-slot server, otherwise from the /slots
   * of the scrape the request sets off (undefined when it cannot be told).
   */
  slotOf(r: TaskNumbers): number | undefined | Promise<number | undefined>;
  /** The models it serves now: its configured names and patterns, or what its /v1/models listed. */
  models(): readonly string[];
  /** Does it serve this model (a name or pattern in its list matches)? */
  serves(model: string): boolean;
  /** How busy it is: requests running and waiting per place it has (0 when idle). */
  load(): number;
  /** Gets its model loaded first, where it is a router's model that is not (undefined: nothing to wait for). */
  prepare?(cancel: Cancellation): Promise<ModelLoad | undefined>;
  /** Checks health once, scrapes once if online (so the banner shows current totals), then polls both. */
  start(): Promise<UpstreamStatus>;
  close(): Promise<void>;
}

export interface UnitOptions {
  config: Config;
  /** Where the lifetime ledger of llama-server's counters lives. */
  store: JsonStore<StatsDoc>;
  logger: Logger;
  reportInvalid: ReportInvalid;
}

/** What makes a unit: the server it talks to, how it is watched and scraped, and what it serves. */
interface UnitParts {
  name: string;
  model?: string;
  upstream: Upstream;
  monitor: UpstreamMonitor;
  scraper: UpstreamScraper;
  matcher: Pick<UpstreamUnit, "models" | "serves">;
  logger: Logger;
  lifecycle: Pick<UpstreamUnit, "start" | "close">;
  prepare?: UpstreamUnit["prepare"];
}

/** What an upstream serves: its configured names and patterns, or the models its /v1/models listed. */
export function modelsOf(spec: UpstreamSpec, monitor: UpstreamMonitor): Pick<UpstreamUnit, "models" | "serves"> {
  const models = () => spec.models ?? monitor.status.props?.models ?? [];
  // Every name the listed models answer to, made again only when llama-server lists anew: every model request asks.
  let listed: readonly string[] | undefined;
  let names = new Set<string>();
  const namesOf = (list: readonly string[]) => {
    if (list !== listed) {
      listed = list;
      names = new Set(list.flatMap(modelNames));
    }
    return names;
  };
  return {
    models,
    serves: (model) =>
      spec.models ? spec.models.some((pattern) => matchesModel(pattern, model)) : namesOf(models()).has(model),
  };
}

/** Checks health once, scrapes once if online (so the banner shows current totals), then polls both. */
export function lifecycle(
  monitor: UpstreamMonitor,
  scraper: UpstreamScraper,
  after: () => Promise<void>,
): Pick<UpstreamUnit, "start" | "close"> {
  return {
    async start() {
      let status = await monitor.check();
      // Online but its settings unread (a busy server slow to answer /props), or a router that lists no model yet
      // (it fills its list just after it starts listening): asked again, briefly, so the banner and the first
      // requests know what it is.
      const unread = (s: UpstreamStatus) =>
        s.state === "online" && (!s.props || (kindOf(s).servesByName && s.props.routerModels?.length === 0));
      for (let i = 0; i < 10 && unread(status); i++) {
        await new Promise((r) => setTimeout(r, 200));
        status = await monitor.check();
      }
      if (status.state === "online") await Promise.race([scraper.scrape(), new Promise((r) => setTimeout(r, 3000))]);
      monitor.start();
      scraper.start();
      return status;
    },
    async close() {
      monitor.stop();
      await scraper.stop();
      await after();
    },
  };
}

/** The model a plain llama-server has loaded, as a label: its alias, or its file's name without ".gguf". */
function loadedModel(monitor: UpstreamMonitor): string {
  const model = monitor.status.props?.model;
  return model === undefined ? "" : (modelNames(model).at(-1) ?? model);
}

/** Builds a unit from its parts: the queue follows the server's slots (or --max-in-flight), re-read at admission. */
export function assembleUnit(parts: UnitParts, config: Config): UpstreamUnit {
  const { monitor, scraper, upstream } = parts;
  const limit = () => config.maxInFlight || monitor.status.props?.totalSlots || 1;
  const queue = new AdmissionQueue({ limit, maxQueued: config.queueMax, maxWaitMs: config.queueTimeout * 1000 });
  return {
    name: parts.name,
    model: parts.model,
    modelLabel: () => parts.model ?? loadedModel(monitor),
    upstream,
    monitor,
    scraper,
    queue,
    queueNumbers: () => ({ depth: queue.depth, active: queue.active, limit: limit(), capacity: config.queueMax }),
    forensics: new CacheForensics({ logger: parts.logger }),
    speed: new SpeedForensics({ logger: parts.logger }),
    facts: (): UpstreamFacts => ({
      restarts: scraper.ledger.restartCount,
      nCtx: monitor.status.props?.nCtx,
      slots: monitor.status.props?.totalSlots,
      model: monitor.status.props?.model,
      prefillTps: scraper.view.rates.prefillTps,
      specAcceptance: scraper.view.rates.specAcceptance,
    }),
    ...parts.matcher,
    load: () => (queue.active + queue.depth) / Math.max(1, limit()),
    slotOf(r) {
      const slots = monitor.status.props?.totalSlots;
      if (slots === 1) return 0;
      if (!slots) return undefined;
      return scraper.nextView().then((view) => view && slotThatServed(view.slots, r));
    },
    prepare: parts.prepare,
    ...parts.lifecycle,
  };
}

/** A plain llama-server (or llama-swap, or anything speaking its API) as one unit; `ready` says when to scrape. */
export function createUpstreamUnit(
  spec: UpstreamSpec,
  upstream: Upstream,
  monitor: UpstreamMonitor,
  { config, store, logger: parent, reportInvalid }: UnitOptions,
): UpstreamUnit {
  const logger = parent.child({ upstream: spec.name });
  const scraper = new UpstreamScraper(upstream, store, monitor, {
    intervalMs: config.scrapeInterval * 1000,
    logger,
    reportInvalid,
    ledgerKey: spec.name,
    ready: () => kindOf(monitor.status).scrapesServer,
  });
  const matcher = modelsOf(spec, monitor);
  return assembleUnit(
    {
      name: spec.name,
      upstream,
      monitor,
      scraper,
      matcher,
      logger,
      lifecycle: lifecycle(monitor, scraper, () => upstream.close()),
    },
    config,
  );
}

/** A new connection pool to an upstream, with the sidecar's timeouts. */
export function connect(spec: UpstreamSpec, config: Config): { upstream: Upstream; monitor: UpstreamMonitor } {
  const upstream = createUpstream(spec.url, config.upstreamTimeout, spec.apiKey);
  return { upstream, monitor: new UpstreamMonitor(upstream, config.healthInterval * 1000) };
}
