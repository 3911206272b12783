// Wires the real parts together and runs the sidecar until asked to stop.
import { execFile } from "node:child_process";
import { once } from "node:events";
import { createServer, type RequestListener, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import { createApp } from "./app.js";
import { banner } from "./banner.js";
import { type Config, primaryUpstream } from "./config/load.js";
import type { UpstreamSpec } from "./config/upstreams.js";
import { type FleetHost, UpstreamFleet } from "./fleet/fleet.js";
import { UpstreamHost } from "./fleet/upstream-host.js";
import type { UpstreamUnit } from "./fleet/upstream-unit.js";
import type { RunTool } from "./gpu/sources.js";
import { type GpuPlace, GpuWatch } from "./gpu/watch.js";
import { type LogSettings, RequestLog } from "./log/request-log.js";
import { RecordEvents } from "./record/events.js";
import { RecordQueue } from "./record/queue.js";
import { registerUpstreamExports } from "./scrape/exports.js";
import type { UpstreamScraper } from "./scrape/scraper.js";
import type { Stats } from "./stats/service.js";
import { energyPriceGauge, gpuGauges } from "./telemetry/gpu-gauges.js";
import { invalidValueReporter, type ReportInvalid } from "./telemetry/invalid-values.js";
import type { Telemetry } from "./telemetry/telemetry.js";
import type { UpstreamMonitor } from "./upstream/monitor.js";
import { upstreamParts } from "./views.js";

export interface Running {
  url: string;
  server: Server;
  fleet: UpstreamFleet;
  /** The primary upstream's unit, monitor and scraper (the only ones with one upstream). */
  unit: UpstreamUnit;
  monitor: UpstreamMonitor;
  scraper: UpstreamScraper;
  records: RecordQueue;
  /** Finished requests, as they are recorded and judged (tests listen here). */
  events: RecordEvents;
  close(): Promise<void>;
}

export interface RunOptions {
  /** Where the banner goes. */
  print?: (text: string) => void;
  /** How the GPU tools are run (tests: stand-ins). */
  runTool?: RunTool;
}

function listenUrl(config: Config, port: number): string {
  const host = config.host === "0.0.0.0" || config.host === "::" ? "127.0.0.1" : config.host;
  return `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
}

function watchUpstream(host: FleetHost, telemetry: Telemetry, logger: Logger, several: boolean): void {
  const { name } = host;
  const url = host.upstream.url.origin;
  telemetry.state.setUpstreamState(name, host.monitor.status.state);
  host.monitor.on("change", (status, prev) => {
    telemetry.state.setUpstreamState(name, status.state);
    if (!prev) return; // the first state is in the banner
    const log = status.state === "online" ? logger.info.bind(logger) : logger.warn.bind(logger);
    const who = several ? `upstream ${name} (${url})` : "llama-server";
    log(
      { upstream: name, url, state: status.state, was: prev.state, detail: status.detail },
      `${who} is ${status.state}`,
    );
  });
}

/**
 * One host per configured upstream, its units' llama_server_* series exported (a router's models as they come);
 * the primary's ledger is the one an older stats file migrated to.
 */
function createFleet(
  config: Config,
  stats: Stats,
  logger: Logger,
  telemetry: Telemetry,
  reportInvalid: ReportInvalid,
): UpstreamFleet {
  const opts = { config, store: stats.store, logger, reportInvalid };
  // A unit made after start (a router's model) has its series followed once the exports exist.
  let follow = (_unit: UpstreamUnit) => {};
  const make = (spec: UpstreamSpec) => new UpstreamHost(spec, opts, (unit) => follow(unit));
  const [first, ...rest] = config.upstreams;
  if (!first) throw new Error("no upstream configured");
  const fleet = new UpstreamFleet([make(first), ...rest.map(make)], config);
  telemetry.state.knowUpstreams(config.upstreams.map((u) => u.name));
  follow = registerUpstreamExports(telemetry.state.registry, stats, () => fleet.units);
  return fleet;
}

function logSettings(config: Config): LogSettings {
  const secrets = [config.apiKey, ...config.upstreams.map((u) => u.apiKey)].filter((k) => k !== undefined);
  return {
    dir: config.dataDir,
    capture: { patterns: config.captureRedact, secrets, maxBytes: config.captureMaxKb * 1024 },
    retentionMs: config.logRetentionDays * 86_400_000,
    maxBytes: config.logMaxMb * 1024 * 1024,
  };
}

/** The data dir's health: the totals' store and journal, and the request log. */
function storeHealth(stats: Stats, log: RequestLog): ReturnType<Stats["health"]> {
  const h = stats.health();
  const l = log.health();
  return {
    writable: h.writable && l.writable,
    failedWrites: h.failedWrites + l.failedWrites,
    unsavedRequests: h.unsavedRequests,
    error: h.error ?? l.error,
  };
}

/** Binds the port (0: any free one) and resolves once the server listens, with the URL clients use. */
async function listen(handler: RequestListener, config: Config): Promise<{ server: Server; url: string }> {
  const server = createServer({ keepAliveTimeout: 65_000, requestTimeout: 0 }, handler);
  // Long prefills keep a connection quiet for minutes: Node's default request timeout would cut it.
  server.headersTimeout = 60_000;
  server.listen(config.port, config.host);
  await once(server, "listening");
  return { server, url: listenUrl(config, (server.address() as AddressInfo).port) };
}

/** A GPU tool run as the sampler asks: its output, or an error (ENOENT when it is not on this machine). */
const runTool: RunTool = (file, args) =>
  new Promise((resolve, reject) =>
    execFile(file, args, { timeout: 3000, maxBuffer: 1 << 20 }, (err, stdout) => (err ? reject(err) : resolve(stdout))),
  );

/** Every upstream's GPU, the primary's first: a GPU two upstreams share is shown under the primary. */
function gpuPlaces(config: Config): GpuPlace[] {
  const primary = primaryUpstream(config);
  const places = config.upstreams.map((u) => ({ upstream: u.name, source: u.gpuSource, gpus: u.gpus }));
  return [...places.filter((p) => p.upstream === primary), ...places.filter((p) => p.upstream !== primary)];
}

export async function runSidecar(
  config: Config,
  telemetry: Telemetry,
  stats: Stats,
  logger: Logger,
  options: RunOptions = {},
): Promise<Running> {
  const reportInvalid = invalidValueReporter(telemetry.state.invalidValues, logger);
  const fleet = createFleet(config, stats, logger, telemetry, reportInvalid);
  for (const host of fleet.hosts) watchUpstream(host, telemetry, logger, fleet.hosts.length > 1);
  const log = await RequestLog.open(logSettings(config), logger);
  // The GPUs llama-server runs on: this machine's, read by whichever tool is here (none: no GPU series), or each
  // upstream's own source.
  const gpus = new GpuWatch(gpuPlaces(config), {
    run: options.runTool ?? runTool,
    onProblem: (problem) => logger.warn(problem),
  }).start();
  gpuGauges(telemetry.state.registry, () => gpus.readings());
  energyPriceGauge(telemetry.state.registry, config.energyPrice);
  telemetry.state.observeStore(() => storeHealth(stats, log));
  const records = new RecordQueue(logger, undefined, [stats.requests, log]);
  const events = new RecordEvents(logger);
  const app = createApp({
    config,
    fleet,
    telemetry,
    stats,
    log,
    logger,
    records,
    events,
    reportInvalid,
    gpus,
  });
  const { server, url } = await listen(app.callback(), config);
  await fleet.start();
  const unit = fleet.primary;
  const print = options.print ?? ((text: string) => process.stdout.write(text));
  print(`${banner(config, url, upstreamParts(fleet), stats.summary(), storeHealth(stats, log))}\n`);
  return {
    url,
    server,
    fleet,
    unit,
    monitor: unit.monitor,
    scraper: unit.scraper,
    records,
    events,
    async close() {
      gpus.stop();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await fleet.close();
      records.flush();
      await log.close();
      await stats.close(logger);
    },
  };
}
