// Serving: parse the config (exit 2 on bad input, before binding), start, and stop cleanly on signals.
import { setFlagsFromString } from "node:v8";
import type { Logger } from "pino";
import { type Config, ConfigError, parseConfig, primaryUpstream } from "./config/load.js";
import { createLogger } from "./logger.js";
import { runSidecar } from "./server.js";
import { openStats } from "./stats/service.js";
import { FileAccessError } from "./store/durable-file.js";
import { pushExportersRequested } from "./telemetry/push-metrics.js";
import { startTelemetry } from "./telemetry/telemetry.js";
import { traceExportersRequested } from "./telemetry/trace-export.js";
import { VERSION } from "./version.js";

/**
 * Per-stream objects live about as long as a response, so they outlive the young generation and die in the old
 * one, which V8 lets grow to several times the live size before it collects: at 256 streams, 25 MB live became
 * 100 MB of heap and a peak RSS anywhere from 130 to 190 MB. Collecting at 1.5 times the live size keeps the peak
 * near 130 MB for a few more, incremental, collections. A value given on the node command line wins
 * (NODE_OPTIONS cannot carry this V8 flag).
 */
function boundHeapGrowth(): void {
  if (!process.execArgv.some((arg) => /heap[-_]growing[-_]percent/.test(arg))) {
    setFlagsFromString("--heap-growing-percent=50");
  }
}

/** The settings, or the exit status when there is nothing to run (help, version, a bad setting). */
function settings(): Config | number {
  let parsed: ReturnType<typeof parseConfig>;
  try {
    parsed = parseConfig(process.argv.slice(2), process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`llama-sidecar: ${err.message}\n\nRun llama-sidecar --help for the settings.\n`);
    return 2;
  }
  if (parsed.kind === "help") process.stdout.write(`${parsed.text}\n`);
  if (parsed.kind === "version") process.stdout.write(`${VERSION}\n`);
  return parsed.kind === "config" ? parsed.config : 0;
}

/** Names the exporters asked for through OTEL_* that the sidecar does not have, once, at start. */
function warnUnsupportedExporters(logger: Logger): void {
  const metrics = pushExportersRequested(process.env).unsupported;
  if (metrics.length > 0) {
    logger.warn(`OTEL_METRICS_EXPORTER: ignoring ${metrics.join(", ")} (supported: otlp, console, prometheus, none)`);
  }
  const traces = traceExportersRequested(process.env).unsupported;
  if (traces.length > 0) {
    logger.warn(`OTEL_TRACES_EXPORTER: ignoring ${traces.join(", ")} (supported: otlp, console, zipkin, none)`);
  }
}

function untilSignal(logger: Logger): Promise<void> {
  return new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      logger.info({ signal }, "shutting down");
      resolve();
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
}

/** Serves until a signal; resolves with the exit status. */
export async function main(): Promise<number> {
  boundHeapGrowth();
  const config = settings();
  if (typeof config === "number") return config;
  const logger = createLogger(config);
  let stats: Awaited<ReturnType<typeof openStats>>;
  try {
    stats = await openStats(config.dataDir, logger, primaryUpstream(config));
  } catch (err) {
    if (!(err instanceof FileAccessError)) throw err;
    process.stderr.write(`llama-sidecar: ${err.message}\n${err.hint}\n`);
    return 1;
  }
  const telemetry = await startTelemetry(() => stats.doc.sidecar, process.env);
  warnUnsupportedExporters(logger);
  let running: Awaited<ReturnType<typeof runSidecar>>;
  try {
    running = await runSidecar(config, telemetry, stats, logger);
  } catch (err) {
    logger.fatal({ err }, `cannot start: ${(err as Error).message}`);
    await telemetry.shutdown();
    return 1;
  }
  await untilSignal(logger);
  await running.close();
  await telemetry.shutdown();
  return 0;
}
