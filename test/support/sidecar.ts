// Builds the sidecar in-process, on a real socket (port 0), with in-memory span export for assertions.
import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { MeterProvider } from "@opentelemetry/sdk-metrics";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { pino } from "pino";
import { createApp } from "../../src/app.js";
import { type Config, parseConfig } from "../../src/config/load.js";
import type { RequestRecord } from "../../src/observe/observation.js";
import { createOtelPrometheusReader } from "../../src/telemetry/exposition.js";
import { buildTelemetry, type Telemetry } from "../../src/telemetry/telemetry.js";
import { createUpstream } from "../../src/upstream/client.js";
import { UpstreamMonitor } from "../../src/upstream/monitor.js";

export interface TestSidecar {
  url: string;
  server: Server;
  config: Config;
  telemetry: Telemetry;
  records: RequestRecord[];
  spans(): ReadableSpan[];
  metrics(): Promise<string>;
  /** Resolves when n records have been produced (records are written when a response ends). */
  waitForRecords(n: number, timeoutMs?: number): Promise<RequestRecord[]>;
  close(): Promise<void>;
}

export function testConfig(upstream: string, args: string[] = []): Config {
  const parsed = parseConfig(["--upstream", upstream, "--port", "0", "--health-interval", "0.5", ...args], {});
  if (parsed.kind !== "config") throw new Error("unexpected parse result");
  return parsed.config;
}

export function testTelemetry(): { telemetry: Telemetry; exporter: InMemorySpanExporter } {
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const otelReader = createOtelPrometheusReader();
  const meterProvider = new MeterProvider({ readers: [otelReader] });
  const telemetry = buildTelemetry({
    tracer: tracerProvider.getTracer("test"),
    meter: meterProvider.getMeter("test"),
    otelReader,
    shutdown: async () => {
      await tracerProvider.shutdown();
      await meterProvider.shutdown();
    },
  });
  return { telemetry, exporter };
}

export async function startTestSidecar(upstreamUrl: string, args: string[] = []): Promise<TestSidecar> {
  const config = testConfig(upstreamUrl, args);
  const { telemetry, exporter } = testTelemetry();
  const upstream = createUpstream(config.upstream, config.upstreamTimeout);
  const monitor = new UpstreamMonitor(upstream, config.healthInterval * 1000);
  monitor.on("change", (s) => telemetry.state.setUpstreamState(s.state));
  const records: RequestRecord[] = [];
  const waiters: (() => void)[] = [];
  const sink = (r: RequestRecord) => {
    records.push(r);
    for (const w of waiters.splice(0)) w();
  };
  const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" });
  const app = createApp({ config, upstream, telemetry, monitor, logger, sinks: [sink] });
  const server = createServer(app.callback());
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  await monitor.check();
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    server,
    config,
    telemetry,
    records,
    spans: () => exporter.getFinishedSpans(),
    metrics: async () => (await fetch(`${url}/metrics`)).text(),
    async waitForRecords(n, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (records.length < n) {
        if (Date.now() > deadline) throw new Error(`expected ${n} records, got ${records.length}`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 50);
        });
      }
      return records;
    },
    async close() {
      monitor.stop();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await upstream.close();
      await telemetry.shutdown();
    },
  };
}
