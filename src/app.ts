// The Koa app: the one place where the middleware order, and so a request's path, reads top to bottom.
import Router from "@koa/router";
import Koa from "koa";
import type { Logger } from "pino";
import { AdmissionQueue } from "./admission/queue.js";
import type { BackgroundClass, BackgroundPolicy } from "./claude/background.js";
import { TokenCounter } from "./claude/count-tokens.js";
import type { Config } from "./config/load.js";
import { addDashboardRoutes } from "./dashboard/serve.js";
import { errorBody, type Protocol, SidecarError } from "./errors.js";
import {
  type ForwardDeps,
  forwardMiddleware,
  type RecordSink,
  recordedAnswer,
  type TranslationState,
} from "./proxy/forward.js";
import type { RecordQueue } from "./proxy/records.js";
import { classify } from "./proxy/routes.js";
import type { UpstreamScraper } from "./scrape/scraper.js";
import { historyView, type Stats, statsView } from "./stats/service.js";
import type { ReportInvalid } from "./telemetry/invalid-values.js";
import type { Telemetry } from "./telemetry/telemetry.js";
import type { Upstream } from "./upstream/client.js";
import type { UpstreamMonitor } from "./upstream/monitor.js";

export interface AppDeps {
  config: Config;
  upstream: Upstream;
  /** Where background calls with policy "route" go (--background-upstream). */
  backgroundUpstream?: Upstream;
  telemetry: Telemetry;
  monitor: UpstreamMonitor;
  stats: Stats;
  scraper: UpstreamScraper;
  logger: Logger;
  /** Where finished requests wait to be recorded, off the hot path. */
  records: RecordQueue;
  /** Extra consumers of finished request records (stores, dashboards, tests). */
  sinks?: RecordSink[];
  /** Where numbers from llama-server that fail their check are reported. */
  reportInvalid: ReportInvalid;
}

/** Renders any error thrown below in the protocol of the client that sent the request. */
function errorBoundary(logger: Logger, retryAfterSeconds: number): Koa.Middleware {
  return async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      const error =
        err instanceof SidecarError ? err : new SidecarError("internal", `internal error: ${(err as Error).message}`);
      if (error.code === "internal") logger.error({ err }, "unhandled error");
      else logger.debug({ code: error.code, path: ctx.path }, error.message);
      if (ctx.res.headersSent) {
        ctx.res.destroy();
        return;
      }
      const protocol: Protocol = ctx.state.protocol ?? "openai";
      ctx.status = error.status;
      ctx.body = errorBody(error, protocol);
      // A body we refused may still be arriving; closing is cheaper than reading it.
      if (error.code === "payload_too_large") ctx.set("Connection", "close");
      if (error.code === "overloaded") ctx.set("Retry-After", String(Math.max(1, Math.round(retryAfterSeconds))));
    }
  };
}

/** The sidecar's own endpoints; everything else goes to llama-server. */
function ownRoutes(deps: AppDeps, counter: TokenCounter, queue: QueueView, forward: ForwardDeps): Router {
  const router = new Router();
  addDashboardRoutes(router);
  router.post("/v1/messages/count_tokens", (ctx) =>
    recordedAnswer(forward, ctx, () => counter.handle(ctx, forward.maxBodyBytes)),
  );
  // Readers of what request records feed see every request that has ended.
  router.get("/metrics", async (ctx) => {
    deps.records.flush();
    // A disk that hangs must not hang the scrape (and with it every alert): export after 2 s regardless.
    await Promise.race([deps.stats.persistTotals(), new Promise((r) => setTimeout(r, 2000).unref())]);
    ctx.type = deps.telemetry.exposition.contentType;
    ctx.body = await deps.telemetry.exposition.render();
  });
  router.get("/healthz", (ctx) => {
    ctx.body = { status: "ok", upstream: deps.monitor.status.state };
  });
  router.get("/api/stats", (ctx) => {
    deps.records.flush();
    ctx.set("Cache-Control", "no-store");
    ctx.body = statsView(deps.stats, deps.monitor.status, deps.scraper.view, deps.config.upstream, queue());
  });
  router.get("/api/history", (ctx) => {
    deps.records.flush();
    ctx.set("Cache-Control", "no-store");
    ctx.body = historyView(deps.stats);
  });
  return router;
}

/**
 * The sidecar's own paths are answered here, a wrong method with 405 and Allow: they are never forwarded.
 * Every other request goes straight on, past the router's per-request work (host check, events, matched-route
 * bookkeeping), which would be wasted on it.
 */
function ownPathsOnly(router: Router): Koa.Middleware {
  // The router's middleware types ask for the router context properties that the router itself adds.
  const routes = router.routes() as unknown as Koa.Middleware;
  const allowedMethods = router.allowedMethods() as unknown as Koa.Middleware;
  const answered = async () => {};
  return (ctx, next) =>
    router.match(ctx.path, ctx.method).path.length > 0
      ? routes(ctx, () => allowedMethods(ctx, answered)).then(() => explainWrongMethod(ctx))
      : next();
}

/** The router sets 405 and Allow; the body, like every error's, speaks the client's protocol. */
function explainWrongMethod(ctx: Koa.Context): void {
  if (ctx.status !== 405) return;
  const allowed = ctx.response.get("Allow");
  const error = new SidecarError("method_not_allowed", `${ctx.method} ${ctx.path} is not allowed; use ${allowed}`);
  ctx.body = errorBody(error, classify(ctx.path).protocol);
}

type QueueView = () => { depth: number; active: number; limit: number; capacity: number };

function admissionQueue(deps: AppDeps): { queue: AdmissionQueue; view: QueueView } {
  const { config, monitor, telemetry } = deps;
  // With --max-in-flight 0 the limit follows llama-server's slot count, re-read at every admission.
  const limit = () => config.maxInFlight || monitor.status.props?.totalSlots || 1;
  const queue = new AdmissionQueue({ limit, maxQueued: config.queueMax, maxWaitMs: config.queueTimeout * 1000 });
  const view = () => ({ depth: queue.depth, active: queue.active, limit: limit(), capacity: config.queueMax });
  telemetry.state.observeQueue(view);
  return { queue, view };
}

function forwardDeps(
  deps: AppDeps,
  translation: TranslationState,
  queue: AdmissionQueue,
  maxBodyBytes: number,
): ForwardDeps {
  const { config } = deps;
  const policies: Record<BackgroundClass, BackgroundPolicy> = {
    title: config.backgroundTitle,
    topic: config.backgroundTopic,
    quota: config.backgroundQuota,
    haiku: config.backgroundHaiku,
  };
  return {
    upstream: deps.upstream,
    backgroundUpstream: deps.backgroundUpstream,
    telemetry: deps.telemetry,
    maxBodyBytes,
    sinks: [deps.stats.sink, () => deps.scraper.requestSoon(), ...(deps.sinks ?? [])],
    records: deps.records,
    normalizeBillingHeader: config.normalizeBillingHeader,
    policies,
    queue,
    translation,
    captureContent: config.captureContent,
    reportInvalid: deps.reportInvalid,
  };
}

export function createApp(deps: AppDeps): Koa {
  const app = new Koa();
  app.silent = true; // errors are logged by errorBoundary, once
  const maxBodyBytes = Math.floor(deps.config.maxBodyMb * 1024 * 1024);
  const translation: TranslationState = { mode: deps.config.translate, withoutMessages: new Set() };
  const counter = new TokenCounter(deps.upstream, translation, deps.config.normalizeBillingHeader);
  const { queue, view } = admissionQueue(deps);
  const forward = forwardDeps(deps, translation, queue, maxBodyBytes);
  const router = ownRoutes(deps, counter, view, forward);
  app.use(errorBoundary(deps.logger, Math.min(deps.config.queueTimeout, 10)));
  app.use(ownPathsOnly(router));
  app.use(forwardMiddleware(forward));
  return app;
}
