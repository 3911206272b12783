// Wires the real parts together and runs the sidecar until asked to stop.
import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import { createApp } from "./app.js";
import { banner } from "./banner.js";
import type { Config } from "./config/load.js";
import type { Telemetry } from "./telemetry/telemetry.js";
import { createUpstream } from "./upstream/client.js";
import { UpstreamMonitor } from "./upstream/monitor.js";

export interface Running {
  url: string;
  server: Server;
  close(): Promise<void>;
}

export function listenUrl(config: Config, port: number): string {
  const host = config.host === "0.0.0.0" || config.host === "::" ? "127.0.0.1" : config.host;
  return `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
}

export async function runSidecar(config: Config, telemetry: Telemetry, logger: Logger): Promise<Running> {
  const upstream = createUpstream(config.upstream, config.upstreamTimeout);
  const monitor = new UpstreamMonitor(upstream, config.healthInterval * 1000);
  monitor.on("change", (status, prev) => {
    telemetry.state.setUpstreamState(status.state);
    if (!prev) return; // the first state is in the banner
    const log = status.state === "online" ? logger.info.bind(logger) : logger.warn.bind(logger);
    log(
      { upstream: config.upstream, state: status.state, was: prev.state, detail: status.detail },
      `llama-server is ${status.state}`,
    );
  });
  const app = createApp({ config, upstream, telemetry, monitor, logger });
  const server = createServer({ keepAliveTimeout: 65_000, requestTimeout: 0 }, app.callback());
  // Long prefills keep a connection quiet for minutes: Node's default timeouts would cut it.
  server.headersTimeout = 60_000;
  server.listen(config.port, config.host);
  await once(server, "listening");
  const port = (server.address() as AddressInfo).port;
  const url = listenUrl(config, port);
  const status = await monitor.check();
  monitor.start();
  process.stdout.write(`${banner(config, url, status)}\n`);
  return {
    url,
    server,
    async close() {
      monitor.stop();
      server.closeIdleConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await upstream.close();
    },
  };
}
