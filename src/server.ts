// Wires the real parts together and runs the sidecar until asked to stop.
import { once } from "node:events";
import { createServer, type RequestListener, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import { createApp } from "./app.js";
import { banner } from "./banner.js";
import type { Config } from "./config/load.js";
import type { RecordSink } from "./observe/observation.js";
import { RecordQueue } from "./proxy/records.js";
import { registerUpstreamExports } from "./scrape/exports.js";
import type { UpstreamScraper } from "./scrape/scraper.js";
import type { Stats } from "./stats/service.js";
import { invalidValueReporter } from "./telemetry/invalid-values.js";
import type { Telemetry } from "./telemetry/telemetry.js";
import { createUpstreamUnit, type UpstreamUnit } from "./unit/upstream-unit.js";
import { createUpstream } from "./upstream/client.js";
import type { UpstreamMonitor } from "./upstream/monitor.js";

export interface Running {
  url: string;
  server: Server;
  unit: UpstreamUnit;
  monitor: UpstreamMonitor;
  scraper: UpstreamScraper;
  records: RecordQueue;
  close(): Promise<void>;
}

export interface RunOptions {
  /** Extra consumers of request records (tests). */
  sinks?: RecordSink[];
  /** Where the banner goes. */
  print?: (text: string) => void;
}

function listenUrl(config: Config, port: number): string {
  const host = config.host === "0.0.0.0" || config.host === "::" ? "127.0.0.1" : config.host;
  return `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
}

function watchUpstream(monitor: UpstreamMonitor, telemetry: Telemetry, logger: Logger, upstream: string): void {
  monitor.on("change", (status, prev) => {
    telemetry.state.setUpstreamState(status.state);
    if (!prev) return; // the first state is in the banner
    const log = status.state === "online" ? logger.info.bind(logger) : logger.warn.bind(logger);
    log({ upstream, state: status.state, was: prev.state, detail: status.detail }, `llama-server is ${status.state}`);
  });
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

export async function runSidecar(
  config: Config,
  telemetry: Telemetry,
  stats: Stats,
  logger: Logger,
  options: RunOptions = {},
): Promise<Running> {
  const backgroundUpstream = config.backgroundUpstream
    ? createUpstream(config.backgroundUpstream, config.upstreamTimeout, config.upstreamApiKey)
    : undefined;
  const reportInvalid = invalidValueReporter(telemetry.state.invalidValues, logger);
  const unit = createUpstreamUnit({ config, store: stats.store, logger, reportInvalid });
  watchUpstream(unit.monitor, telemetry, logger, config.upstream);
  registerUpstreamExports(telemetry.state.registry, stats, unit.scraper);
  telemetry.state.observeStore(() => stats.health());
  const records = new RecordQueue(logger);
  const app = createApp({
    config,
    unit,
    backgroundUpstream,
    telemetry,
    stats,
    logger,
    records,
    sinks: options.sinks,
    reportInvalid,
  });
  const { server, url } = await listen(app.callback(), config);
  const status = await unit.start();
  const print = options.print ?? ((text: string) => process.stdout.write(text));
  print(`${banner(config, url, status, stats.summary(), stats.health())}\n`);
  return {
    url,
    server,
    unit,
    monitor: unit.monitor,
    scraper: unit.scraper,
    records,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await unit.close();
      await backgroundUpstream?.close();
      records.flush();
      await stats.close(logger);
    },
  };
}
