// One llama-server as one unit: its connection pool, health monitor, scraper (with its lifetime ledger) and
// admission queue, built together. The app is given units, so serving several llama-servers (or a router-mode one
// with many models) means giving it more units, without touching the request path.
import type { Logger } from "pino";
import { AdmissionQueue, type QueueNumbers } from "../admission/queue.js";
import type { Config } from "../config/load.js";
import { matchesModel, type UpstreamSpec } from "../config/upstreams.js";
import { CacheForensics } from "../forensics/forensics.js";
import { SpeedForensics } from "../forensics/speed.js";
import { slotThatServed, type TaskNumbers, UpstreamScraper } from "../scrape/scraper.js";
import type { JsonStore } from "../store/json-store.js";
import type { StatsDoc } from "../store/schema.js";
import type { ReportInvalid } from "../telemetry/invalid-values.js";
import { createUpstream, type Upstream } from "../upstream/client.js";
import { modelNames, UpstreamMonitor, type UpstreamStatus } from "../upstream/monitor.js";

/** This llama-server now: restarts, settings from /props, recent prefill speed and draft acceptance (/metrics). */
export interface UpstreamFacts {
  restarts: number;
  nCtx?: number;
  slots?: number;
  model?: string;
  prefillTps?: number;
  specAcceptance?: number;
}

export interface UpstreamUnit {
  /** Its configured name: the `upstream` label, and its ledger's key. */
  name: string;
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
  /** Checks health once, scrapes once if online (so the banner shows current totals), then polls both. */
  start(): Promise<UpstreamStatus>;
  close(): Promise<void>;
}

export interface UnitOptions {
  spec: UpstreamSpec;
  config: Config;
  /** Where the lifetime ledger of llama-server's counters lives. */
  store: JsonStore<StatsDoc>;
  logger: Logger;
  reportInvalid: ReportInvalid;
}

/** What an upstream serves: its configured names and patterns, or the models its /v1/models listed. */
function modelsOf(spec: UpstreamSpec, monitor: UpstreamMonitor): Pick<UpstreamUnit, "models" | "serves"> {
  const models = () => spec.models ?? monitor.status.props?.models ?? [];
  return {
    models,
    serves: (model) =>
      spec.models
        ? spec.models.some((pattern) => matchesModel(pattern, model))
        : models().some((id) => modelNames(id).includes(model)),
  };
}

/** Checks health once, scrapes once if online (so the banner shows current totals), then polls both. */
function lifecycle(
  upstream: Upstream,
  monitor: UpstreamMonitor,
  scraper: UpstreamScraper,
): Pick<UpstreamUnit, "start" | "close"> {
  return {
    async start() {
      const status = await monitor.check();
      if (status.state === "online") await Promise.race([scraper.scrape(), new Promise((r) => setTimeout(r, 3000))]);
      monitor.start();
      scraper.start();
      return status;
    },
    async close() {
      monitor.stop();
      await scraper.stop();
      await upstream.close();
    },
  };
}

export function createUpstreamUnit({ spec, config, store, logger: parent, reportInvalid }: UnitOptions): UpstreamUnit {
  const logger = parent.child({ upstream: spec.name });
  const upstream = createUpstream(spec.url, config.upstreamTimeout, spec.apiKey);
  const monitor = new UpstreamMonitor(upstream, config.healthInterval * 1000);
  const scraper = new UpstreamScraper(upstream, store, monitor, {
    intervalMs: config.scrapeInterval * 1000,
    logger,
    reportInvalid,
    ledgerKey: spec.name,
  });
  // With --max-in-flight 0 the limit follows llama-server's slot count, re-read at every admission.
  const limit = () => config.maxInFlight || monitor.status.props?.totalSlots || 1;
  const queue = new AdmissionQueue({ limit, maxQueued: config.queueMax, maxWaitMs: config.queueTimeout * 1000 });
  return {
    name: spec.name,
    upstream,
    monitor,
    scraper,
    queue,
    queueNumbers: () => ({ depth: queue.depth, active: queue.active, limit: limit(), capacity: config.queueMax }),
    forensics: new CacheForensics({ logger }),
    speed: new SpeedForensics({ logger }),
    facts: (): UpstreamFacts => ({
      restarts: scraper.ledger.restartCount,
      nCtx: monitor.status.props?.nCtx,
      slots: monitor.status.props?.totalSlots,
      model: monitor.status.props?.model,
      prefillTps: scraper.view.rates.prefillTps,
      specAcceptance: scraper.view.rates.specAcceptance,
    }),
    ...modelsOf(spec, monitor),
    load: () => (queue.active + queue.depth) / Math.max(1, limit()),
    slotOf(r) {
      const slots = monitor.status.props?.totalSlots;
      if (slots === 1) return 0;
      if (!slots) return undefined;
      return scraper.nextView().then((view) => view && slotThatServed(view.slots, r));
    },
    ...lifecycle(upstream, monitor, scraper),
  };
}
