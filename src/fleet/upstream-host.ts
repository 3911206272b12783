// One configured upstream: a plain llama-server is one unit; a server of many models (a llama-server in router mode,
// llama-swap) is one unit per model it lists, each scraped, queued and counted on its own, and loaded on demand.
import type { UpstreamSpec } from "../config/upstreams.js";
import { SidecarError } from "../errors.js";
import { UpstreamScraper } from "../scrape/scraper.js";
import { joinKey } from "../store/ledger-keys.js";
import { callUpstream, type Upstream } from "../upstream/client.js";
import { ModelMonitor } from "../upstream/model-monitor.js";
import { kindOf, type UpstreamMonitor } from "../upstream/monitor.js";
import type { RouterModel } from "../upstream/router-models.js";
import type { UpstreamKindRules } from "../upstream/upstream-kind.js";
import {
  assembleUnit,
  connect,
  createUpstreamUnit,
  lifecycle,
  type ModelLoad,
  type UnitOptions,
  type UpstreamUnit,
} from "./upstream-unit.js";

/** How often a model being loaded is looked at. */
const LOAD_POLL_MS = 150;

export class UpstreamHost {
  readonly name: string;
  readonly upstream: Upstream;
  readonly monitor: UpstreamMonitor;
  /** The unit of the server itself: the one there is, unless the server is a router. */
  readonly serverUnit: UpstreamUnit;
  /** A plain server's one unit, as the list every request asks for: made once. */
  private readonly ownUnit: readonly UpstreamUnit[];
  private readonly byModel = new Map<string, UpstreamUnit>();
  private readonly loading = new Map<string, Promise<ModelLoad>>();
  /** Units made before start are started by it; after, as they come. */
  private started = false;

  constructor(
    readonly spec: UpstreamSpec,
    private readonly opts: UnitOptions,
    /** Called with each unit made after start (a router's models): their series and views follow. */
    private readonly added: (unit: UpstreamUnit) => void = () => {},
  ) {
    this.name = spec.name;
    ({ upstream: this.upstream, monitor: this.monitor } = connect(spec, opts.config));
    this.serverUnit = createUpstreamUnit(spec, this.upstream, this.monitor, opts);
    this.ownUnit = Object.freeze([this.serverUnit]);
    this.monitor.on("models", (models) => this.follow(models));
  }

  /** The units requests may go to now: the server's own, or a router's models. */
  units(): readonly UpstreamUnit[] {
    return kindOf(this.monitor.status).servesByName ? [...this.byModel.values()] : this.ownUnit;
  }

  /** A unit for each model the router lists that has none yet (a model once listed keeps its unit and ledger). */
  private follow(models: readonly RouterModel[]): void {
    for (const m of models) {
      if (this.byModel.has(m.id)) continue;
      const unit = this.modelUnit(m.id);
      this.byModel.set(m.id, unit);
      if (this.started) void unit.start();
      this.added(unit);
    }
  }

  /** A unit for one model, made once the server has listed it: the server's kind is known by then. */
  private modelUnit(id: string): UpstreamUnit {
    const { config, store, reportInvalid } = this.opts;
    const kind = kindOf(this.monitor.status);
    const logger = this.opts.logger.child({ upstream: this.name, model: id });
    const monitor = new ModelMonitor(this.upstream, this.monitor, id);
    const scraper = new UpstreamScraper(this.upstream, store, monitor, {
      intervalMs: config.scrapeInterval * 1000,
      logger,
      reportInvalid,
      ledgerKey: joinKey([this.name, id]),
      paths: { metrics: kind.metricsPath(id), slots: kind.slotsPath(id) },
      ready: () => kind.scrapesModel(monitor.entry?.state, this.loading.size),
    });
    const names = () => (monitor.entry ? [monitor.entry.id, ...monitor.entry.aliases] : [id]);
    const matcher = { models: names, serves: (model: string) => names().includes(model) };
    return assembleUnit(
      {
        name: this.name,
        model: id,
        upstream: this.upstream,
        monitor,
        scraper,
        matcher,
        logger,
        lifecycle: lifecycle(monitor, scraper, async () => {}),
        prepare: (cancel) => this.ensureLoaded(kind, monitor, cancel),
      },
      config,
    );
  }

  /**
   * Loads a router's model before a request goes to it, so its load is timed apart from the request's prefill:
   * the router's loaded models are scraped first (it may unload an idle one to make room, and its last counters
   * would be lost), then it is asked to load the model, and the sidecar waits until it is loaded. Requests that
   * come meanwhile wait for the same load.
   */
  private async ensureLoaded(
    kind: UpstreamKindRules,
    monitor: ModelMonitor,
    cancel: { aborted: boolean },
  ): Promise<ModelLoad | undefined> {
    if (readyNow(kind, monitor)) return undefined;
    const id = monitor.modelId;
    // A load already going is joined: the request waits as long, but did not set it off.
    const joined = () => this.loading.get(id)?.then((l) => ({ waitedMs: l.waitedMs, triggered: false }));
    const running = joined();
    if (running) return running;
    // The list last read may be older than a load that has just ended: read it again before loading anything.
    await this.monitor.refreshModels();
    if (readyNow(kind, monitor)) return undefined;
    const again = joined();
    if (again) return again;
    const ask = monitor.entry?.state !== "loading";
    const load = this.load(kind, monitor, ask, cancel).finally(() => this.loading.delete(id));
    this.loading.set(id, load);
    return load;
  }

  private async load(
    kind: UpstreamKindRules,
    monitor: ModelMonitor,
    ask: boolean,
    cancel: { aborted: boolean },
  ): Promise<ModelLoad> {
    const started = performance.now();
    const id = monitor.modelId;
    await Promise.all(
      [...this.byModel.values()]
        .filter((u) => u.model !== id && u.monitor.status.props?.modelState === "loaded")
        .map((u) => u.scraper.scrape()),
    );
    if (ask) await this.askToLoad(kind, id);
    const deadline = Date.now() + this.opts.config.upstreamTimeout * 1000;
    for (;;) {
      const entry = (await this.monitor.refreshModels())?.find((m) => m.id === id);
      await monitor.check();
      if (kind.isReady(entry?.state)) return { waitedMs: performance.now() - started, triggered: ask };
      if (entry?.state === "failed") throw new SidecarError("upstream_error", `the router could not load model ${id}`);
      if (cancel.aborted) throw new SidecarError("client_closed", "the client closed the connection");
      if (Date.now() > deadline) throw new SidecarError("upstream_timeout", `model ${id} did not load in time`);
      await new Promise((r) => setTimeout(r, LOAD_POLL_MS));
    }
  }

  /** Asks the server to load a model, the way its kind is asked (the load is followed by its model list). */
  private async askToLoad(kind: UpstreamKindRules, id: string): Promise<void> {
    const call = kind.loadCall(id, this.opts.config.upstreamTimeout * 1000);
    if (!call) return;
    await callUpstream(this.upstream, call.path, { json: call.json, timeoutMs: call.timeoutMs }).catch(() => undefined);
  }

  async start(): Promise<void> {
    await this.serverUnit.start();
    this.started = true;
    await Promise.all([...this.byModel.values()].map((u) => u.start()));
  }

  async close(): Promise<void> {
    await Promise.all([...this.byModel.values()].map((u) => u.close()));
    await this.serverUnit.close();
  }
}

/** Loaded (or unknown: then the request goes on, and the server says what it has). */
function readyNow(kind: UpstreamKindRules, monitor: ModelMonitor): boolean {
  const state = monitor.entry?.state;
  return state === undefined || kind.isReady(state);
}
