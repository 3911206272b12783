// The Koa app: the one place where the middleware order, and so a request's path, reads top to bottom.
import Router from "@koa/router";
import Koa from "koa";
import type { Logger } from "pino";
import type { Config } from "./config/load.js";
import { errorBody, type Protocol, SidecarError } from "./errors.js";
import { forwardMiddleware, type RecordSink } from "./proxy/forward.js";
import type { UpstreamScraper } from "./scrape/scraper.js";
import { historyView, type Stats, statsView } from "./stats/service.js";
import type { Telemetry } from "./telemetry/telemetry.js";
import type { Upstream } from "./upstream/client.js";
import type { UpstreamMonitor } from "./upstream/monitor.js";

export interface AppDeps {
  config: Config;
  upstream: Upstream;
  telemetry: Telemetry;
  monitor: UpstreamMonitor;
  stats: Stats;
  scraper: UpstreamScraper;
  logger: Logger;
  /** Extra consumers of finished request records (stores, dashboards, tests). */
  sinks?: RecordSink[];
}

/** Renders any error thrown below in the protocol of the client that sent the request. */
function errorBoundary(logger: Logger): Koa.Middleware {
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
    }
  };
}

/** The sidecar's own endpoints; everything else goes to llama-server. */
function ownRoutes(deps: AppDeps): Router {
  const router = new Router();
  router.get("/metrics", async (ctx) => {
    ctx.type = deps.telemetry.exposition.contentType;
    ctx.body = await deps.telemetry.exposition.render();
  });
  router.get("/healthz", (ctx) => {
    ctx.body = { status: "ok", upstream: deps.monitor.status.state };
  });
  router.get("/api/stats", (ctx) => {
    ctx.set("Cache-Control", "no-store");
    ctx.body = statsView(deps.stats, deps.monitor.status, deps.scraper.view, deps.config.upstream);
  });
  router.get("/api/history", (ctx) => {
    ctx.set("Cache-Control", "no-store");
    ctx.body = historyView(deps.stats);
  });
  return router;
}

export function createApp(deps: AppDeps): Koa {
  const app = new Koa();
  app.silent = true; // errors are logged by errorBoundary, once
  const router = ownRoutes(deps);
  app.use(errorBoundary(deps.logger));
  app.use(router.routes());
  app.use(router.allowedMethods());
  app.use(
    forwardMiddleware({
      upstream: deps.upstream,
      telemetry: deps.telemetry,
      maxBodyBytes: Math.floor(deps.config.maxBodyMb * 1024 * 1024),
      sinks: [deps.stats.sink, () => deps.scraper.requestSoon(), ...(deps.sinks ?? [])],
    }),
  );
  return app;
}
