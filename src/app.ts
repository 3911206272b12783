// The Koa app: the one place where the middleware order, and so a request's path, reads top to bottom.
import Router, { type RouterMiddleware } from "@koa/router";
import Koa from "koa";
import type { Logger } from "pino";
import type { Config } from "./config/load.js";
import { addDashboardRoutes } from "./dashboard/serve.js";
import { errorBody, type Protocol, SidecarError } from "./errors.js";
import type { UpstreamFleet } from "./fleet/fleet.js";
import type { GpuDuring } from "./gpu/during.js";
import type { UpstreamGpu } from "./gpu/reading.js";
import { guard } from "./guard/guard.js";
import { addAgentReceiver } from "./log/agent-receiver.js";
import { AgentTime } from "./log/agent-time.js";
import type { RequestLog } from "./log/request-log.js";
import { addLogRoutes } from "./log/routes.js";
import { judgedRow } from "./log/rows.js";
import { sessionReport } from "./log/session-report.js";
import { errorKind, upstreamErrorKind } from "./observe/redact.js";
import { ParseScheduler } from "./observe/tap.js";
import { spansFromOtlp } from "./otlp/spans.js";
import { ownPathsOnly } from "./own-paths-only.js";
import { ActiveRequests } from "./proxy/active.js";
import { readRequestBody } from "./proxy/body.js";
import { TokenCounter } from "./proxy/count-tokens.js";
import { type ForwardDeps, forwardMiddleware, recordedAnswer } from "./proxy/forward.js";
import type { TranslationState } from "./proxy/outgoing.js";
import { requestTarget } from "./proxy/target.js";
import type { RecordEvents } from "./record/events.js";
import type { RecordDeps } from "./record/finish.js";
import { countVerdicts } from "./record/judged-metrics.js";
import type { RecordQueue } from "./record/queue.js";
import type { Stats } from "./stats/service.js";
import { Sessions } from "./stats/sessions.js";
import { historyView, statsView } from "./stats/views.js";
import type { ReportInvalid } from "./telemetry/invalid-values.js";
import type { PrefillNow } from "./telemetry/prefill-gauges.js";
import type { Telemetry } from "./telemetry/telemetry.js";
import { MessagesSupport } from "./upstream/messages-support.js";
import { VERSION } from "./version.js";
import { forensicsView, scrapeAfter, upstreamParts } from "./views.js";
import type { SidecarContext, SidecarMiddleware, SidecarState } from "./wire/context.js";
import { labelText } from "./wire/labels.js";
import type { BackgroundClass, BackgroundPolicy } from "./wire/request-kinds.js";
import type { SetupView } from "./wire/setup-view.js";

export interface AppDeps {
  config: Config;
  /** The upstreams requests go to, each its pool, health, scraper and admission queue as one unit. */
  fleet: UpstreamFleet;
  telemetry: Telemetry;
  stats: Stats;
  /** The request log on disk: every finished request, for the sessions and requests views. */
  log: RequestLog;
  logger: Logger;
  /** Where finished requests wait to be recorded, off the hot path... */
  records: RecordQueue;
  /** ...and who hears of them once they are (listeners are wired here, in createApp). */
  events: RecordEvents;
  /** Where numbers from llama-server that fail their check are reported. */
  reportInvalid: ReportInvalid;
  /** The GPU's readings over time (none without a GPU source): what a slow request's verdict rests on. */
  gpus?: {
    readings(): readonly UpstreamGpu[];
    during(upstream: string, from: number, to: number): GpuDuring | undefined;
    energy(upstream: string, from: number, to: number): number | undefined;
  };
}

/** Renders any error thrown below in the protocol of the client that sent the request. */
function errorBoundary(logger: Logger, retryAfterSeconds: number): SidecarMiddleware {
  return async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      const error =
        err instanceof SidecarError ? err : new SidecarError("internal", `internal error: ${(err as Error).message}`);
      if (error.code === "internal") logger.error({ err }, "unhandled error");
      // Only the error's kind: its message may quote the request back.
      else
        logger.debug(
          { code: error.code, path: ctx.path },
          error.fromUpstream ? upstreamErrorKind(error.message, error.fromUpstream.type) : errorKind(error.message),
        );
      if (ctx.res.headersSent) {
        ctx.res.destroy();
        return;
      }
      const protocol: Protocol = ctx.state.protocol ?? "openai";
      ctx.status = error.status;
      ctx.body = errorBody(error, protocol);
      // A body we refused may still be arriving: Node reads and drops the rest after the answer, so the client can
      // finish sending and read its 413; one that never finishes is cut off.
      if (error.code === "payload_too_large") drainThenClose(ctx);
      if (error.code === "overloaded") ctx.set("Retry-After", String(Math.max(1, Math.round(retryAfterSeconds))));
    }
  };
}

/** How long a refused body may go on arriving after its 413 before the connection is cut. */
const DRAIN_MS = 10_000;

function drainThenClose(ctx: SidecarContext): void {
  const req = ctx.req;
  if (req.complete) return;
  const cut = setTimeout(() => req.socket.destroy(), DRAIN_MS).unref();
  req.once("end", () => clearTimeout(cut)).once("close", () => clearTimeout(cut));
  req.resume();
}

/** Records every finished request before the route reads what the records feed: no reader sees a stale view. */
function freshReads(records: RecordQueue): RouterMiddleware {
  return (_ctx, next) => {
    records.flush();
    return next();
  };
}

/** What the client commands read: the setup for a client (llama-sidecar claude, env) and a session's numbers. */
function addClientRoutes(
  router: Router,
  deps: AppDeps,
  active: ActiveRequests,
  sessions: Sessions,
  fresh: RouterMiddleware,
): void {
  const unit = deps.fleet.primary;
  router.get("/api/setup", (ctx) => {
    ctx.set("Cache-Control", "no-store");
    const { state, props } = unit.monitor.status;
    const view: SetupView = {
      version: VERSION,
      upstream: { state, model: props?.model, nCtx: props?.nCtx, slots: props?.totalSlots },
      keyRequired: deps.config.apiKey !== undefined,
    };
    ctx.body = view;
  });
  // The live numbers (the status line's), and the session's turns from the request log, through restarts.
  router.get("/api/sessions/:id", fresh, async (ctx) => {
    ctx.set("Cache-Control", "no-store");
    const { state, props } = unit.monitor.status;
    const id = ctx.params.id ?? "";
    const view = sessions.view(id, active.view(), { state, nCtx: props?.nCtx });
    await deps.log.settled();
    const report = sessionReport(id, await deps.log.session(id), await deps.log.agentEvents(id), {
      energyPrice: deps.config.energyPrice,
    });
    if (view || report)
      ctx.body = { ...(view ?? { session: id, requests: report?.turns.length, upstream: state }), report };
    else {
      ctx.status = 404;
      ctx.body = {
        error: { message: "no such session: the sidecar has seen no request of it", type: "not_found_error" },
      };
    }
  });
}

/**
 * The OTLP receiver's bounds: Claude Code sends a few kilobytes every second or so; a runaway exporter is refused
 * long before it costs the proxy anything.
 */
const OTLP_LIMITS = { maxBodyBytes: 8 << 20, recordsPerSecond: 1000, seriesPerSession: 100 };

/** The sidecar's own endpoints; everything else goes to llama-server. */
function ownRoutes(
  deps: AppDeps,
  counter: TokenCounter,
  forward: ForwardDeps,
  sessions: Sessions,
  agentTime: AgentTime,
): Router {
  const { fleet } = deps;
  const router = new Router();
  addDashboardRoutes(router);
  router.post("/v1/messages/count_tokens", (ctx) =>
    recordedAnswer(forward, ctx, () => counter.handle(ctx, forward.maxBodyBytes)),
  );
  // One plain llama-server's own list goes through as it is; several, a router's models or aliases are listed here.
  if (fleet.hosts.length > 1 || fleet.catalog().aliases.length > 0) {
    router.get("/v1/models", (ctx) =>
      recordedAnswer(forward, ctx, async () => {
        ctx.body = fleet.modelList();
        return undefined;
      }),
    );
  }
  // Readers of what request records feed: each sees every request that has ended (fresh() records them first).
  const fresh = freshReads(deps.records);
  router.get("/metrics", fresh, async (ctx) => {
    // A disk that hangs must not hang the scrape (and with it every alert): export after 2 s regardless.
    await Promise.race([deps.stats.persistTotals(), new Promise((r) => setTimeout(r, 2000).unref())]);
    ctx.type = deps.telemetry.exposition.contentType;
    ctx.body = await deps.telemetry.exposition.render();
  });
  router.get("/healthz", (ctx) => {
    const upstreams = Object.fromEntries(fleet.hosts.map((h) => [h.name, h.monitor.status.state]));
    ctx.body = { status: "ok", upstream: fleet.primary.monitor.status.state, upstreams };
  });
  router.get("/api/stats", fresh, (ctx) => {
    ctx.set("Cache-Control", "no-store");
    const gpus = deps.gpus?.readings() ?? [];
    ctx.body = statsView(deps.stats, upstreamParts(fleet), forensicsView(fleet), forward.active.view(), gpus);
  });
  router.get("/api/requests/active", (ctx) => {
    ctx.set("Cache-Control", "no-store");
    ctx.body = forward.active.view();
  });
  addClientRoutes(router, deps, forward.active, sessions, fresh);
  addLogRoutes(router, deps.log, fresh);
  addAgentReceiver(router, {
    log: deps.log,
    time: agentTime,
    limits: OTLP_LIMITS,
    readBody: readRequestBody,
    relaySpans: (request) => deps.telemetry.relaySpans(spansFromOtlp(request)),
  });
  router.get("/api/history", fresh, (ctx) => {
    ctx.set("Cache-Control", "no-store");
    ctx.body = historyView(deps.stats);
  });
  return router;
}

function forwardDeps(
  deps: AppDeps,
  translation: TranslationState,
  counter: TokenCounter,
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
    fleet: deps.fleet,
    telemetry: deps.telemetry,
    maxBodyBytes,
    records: deps.records,
    recording: recordDeps(deps),
    parsing: new ParseScheduler(),
    active: new ActiveRequests(),
    logFailover: (from, to, why) =>
      deps.logger.warn({ from, to }, `upstream ${from} failed a request (${why}): sent to ${to}`),
    normalizeBillingHeader: config.normalizeBillingHeader,
    promptProgress: config.promptProgress,
    countPrompt: (body, upstream) => counter.countPrompt(body, upstream),
    policies,
    translation,
    captureContent: config.captureContent,
    clientKeyIsOurs: config.apiKey !== undefined,
  };
}

function recordDeps(deps: AppDeps): RecordDeps {
  const { telemetry, fleet } = deps;
  return {
    telemetry,
    events: deps.events,
    build: {
      keepText: deps.config.captureContent,
      labelModel: (model) => telemetry.modelLabels.value(model),
      labelText,
    },
    primary: () => fleet.primary,
    gpuDuring: deps.gpus && ((upstream, from, to) => deps.gpus?.during(upstream, from, to)),
    gpuEnergy: deps.gpus && ((upstream, from, to) => deps.gpus?.energy(upstream, from, to)),
    logFailure: (err) => deps.logger.error({ err }, "finishing a request's record failed"),
  };
}

/**
 * Who hears of a finished request, in order: the one place it is wired. `recorded` listeners hold a request before
 * its client sees the response end: the crash-proof ledger, and what a reader right after it expects to see (the
 * session's turn, the scrape it sets off). `judged` ones hear of it once the burst's responses are out: the
 * per-request histograms, the verdicts.
 */
function listenToRecords(deps: AppDeps, sessions: Sessions, agentTime: AgentTime): void {
  const { events, telemetry, stats } = deps;
  events
    .recorded((r) => {
      for (const field of r.invalidFields ?? []) deps.reportInvalid(field, r.route);
    })
    .recorded(stats.recorded)
    .recorded(deps.log.recorded)
    .recorded(sessions.recorded)
    .recorded(scrapeAfter(deps.fleet))
    .judged(({ record }) => telemetry.requests.record(record))
    .judged(stats.judged)
    .judged((j) => {
      // One row per request, for the log and for its session's time.
      const row = judgedRow(j);
      deps.log.judged(row, j.content);
      agentTime.judged(row);
    })
    .judged((j) => countVerdicts(telemetry.state, j))
    .judged((j) => {
      if (j.energyJ !== undefined) telemetry.energy(j.upstream, j.energyJ);
    });
}

/**
 * In auto mode the main llama-server is asked whether it has /v1/messages each time it comes online (at start and
 * after every restart, which may bring another build); a background server is asked at its first 404.
 */
function watchMessagesSupport(deps: AppDeps, translation: TranslationState): void {
  if (translation.mode !== "auto") return;
  for (const { upstream, monitor } of deps.fleet.hosts) {
    const ask = () => void translation.support.probe(upstream);
    monitor.on("change", (status) => {
      if (status.state === "online") ask();
    });
    if (monitor.status.state === "online") ask();
  }
}

/** The prefills running now with a known progress, their models made bounded labels. */
function prefillsNow(deps: AppDeps, active: ActiveRequests): PrefillNow[] {
  return active.view().flatMap((r) =>
    r.progress
      ? [
          {
            upstream: r.upstream ?? "",
            model: deps.telemetry.modelLabels.value(r.model),
            ratio: r.progress.ratio,
            etaSeconds: r.progress.etaMs === undefined ? undefined : Math.round(r.progress.etaMs) / 1000,
          },
        ]
      : [],
  );
}

export function createApp(deps: AppDeps): Koa<SidecarState> {
  const app = new Koa<SidecarState>();
  app.silent = true; // errors are logged by errorBoundary, once
  const maxBodyBytes = Math.floor(deps.config.maxBodyMb * 1024 * 1024);
  const translation: TranslationState = { mode: deps.config.translate, support: new MessagesSupport() };
  watchMessagesSupport(deps, translation);
  const counter = new TokenCounter(
    (model) => deps.fleet.choose(model).units[0]?.upstream ?? deps.fleet.primary.upstream,
    translation,
    {
      normalize: deps.config.normalizeBillingHeader,
      clientKeyIsOurs: deps.config.apiKey !== undefined,
    },
  );
  deps.telemetry.state.observeQueue(() => upstreamParts(deps.fleet).map((u) => ({ upstream: u.name, ...u.queue })));
  const sessions = new Sessions();
  const agentTime = new AgentTime(deps.telemetry.agent);
  listenToRecords(deps, sessions, agentTime);
  const forward = forwardDeps(deps, translation, counter, maxBodyBytes);
  deps.telemetry.state.observePrefills(() => prefillsNow(deps, forward.active));
  const router = ownRoutes(deps, counter, forward, sessions, agentTime);
  app.use(errorBoundary(deps.logger, Math.min(deps.config.queueTimeout, 10)));
  app.use(requestTarget());
  app.use(guard(deps.config));
  app.use(ownPathsOnly(router));
  app.use(forwardMiddleware(forward));
  return app;
}
