// Runs the sidecar in-process, wired exactly as the CLI wires it, on a real socket (port 0), with in-memory
// span export and a fresh data dir, for assertions.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MeterProvider } from "@opentelemetry/sdk-metrics";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { type Logger, pino } from "pino";
import { type Config, parseConfig, primaryUpstream } from "../../src/config/load.js";
import type { RunTool } from "../../src/gpu/sources.js";
import { type RecordRow, recordRow } from "../../src/record/request-record.js";
import { type Running, runSidecar } from "../../src/server.js";
import { openStats, type Stats } from "../../src/stats/service.js";
import type { RequestLedger } from "../../src/store/schema.js";
import { createOtelPrometheusReader } from "../../src/telemetry/exposition.js";
import { buildTelemetry, type Telemetry } from "../../src/telemetry/telemetry.js";

export interface TestSidecar {
  url: string;
  config: Config;
  telemetry: Telemetry;
  stats: Stats;
  running: Running;
  /** Every finished request once judged: its record with its verdicts, as /api/stats lists it. */
  records: RecordRow[];
  banner: string;
  spans(): ReadableSpan[];
  metrics(): Promise<string>;
  /** Forgets the records so far, including those of responses that ended but wait to be recorded. */
  clearRecords(): void;
  /** Resolves when n records have been judged (records are written shortly after a response ends). */
  waitForRecords(n: number, timeoutMs?: number): Promise<RecordRow[]>;
  close(): Promise<void>;
}

/** Without `upstream`, the upstreams come from `args` (a --config file). */
function testConfig(upstream: string | undefined, args: string[] = []): Config {
  const dataDir = mkdtempSync(join(tmpdir(), "llama-sidecar-test-"));
  const one = upstream === undefined ? [] : ["--upstream", upstream];
  const parsed = parseConfig([...one, "--port", "0", "--health-interval", "0.5", "--data-dir", dataDir, ...args], {});
  if (parsed.kind !== "config") throw new Error("unexpected parse result");
  return parsed.config;
}

/** Telemetry that keeps its spans in memory, for assertions. */
export function testTelemetry(ledger: () => RequestLedger): { telemetry: Telemetry; exporter: InMemorySpanExporter } {
  const exporter = new InMemorySpanExporter();
  const processor = new SimpleSpanProcessor(exporter);
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [processor] });
  const otelReader = createOtelPrometheusReader();
  const meterProvider = new MeterProvider({ readers: [otelReader] });
  const telemetry = buildTelemetry(
    {
      tracer: tracerProvider.getTracer("test"),
      meter: meterProvider.getMeter("test"),
      otelReader,
      spanProcessors: [processor],
      shutdown: async () => {
        await tracerProvider.shutdown();
        await meterProvider.shutdown();
      },
    },
    ledger,
  );
  return { telemetry, exporter };
}

export async function startTestSidecar(
  upstreamUrl: string | undefined,
  args: string[] = [],
  opts: { logger?: Logger; runTool?: RunTool } = {},
): Promise<TestSidecar> {
  const config = testConfig(upstreamUrl, args);
  const logger = opts.logger ?? pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" });
  const stats = await openStats(config.dataDir, logger, primaryUpstream(config));
  const { telemetry, exporter } = testTelemetry(() => stats.doc.sidecar);
  const records: RecordRow[] = [];
  const waiters: (() => void)[] = [];
  let banner = "";
  const running = await runSidecar(config, telemetry, stats, logger, {
    print: (t) => {
      banner += t;
    },
    runTool: opts.runTool,
  });
  running.events.judged((j) => {
    records.push(recordRow(j.record, j));
    for (const w of waiters.splice(0)) w();
  });
  const url = running.url;
  return {
    url,
    config,
    telemetry,
    stats,
    running,
    records,
    banner,
    // Spans are put off until after a burst's responses; a reader flushes first, as /metrics and /api/stats do.
    spans: () => {
      running.records.flush();
      return exporter.getFinishedSpans();
    },
    metrics: async () => (await fetch(`${url}/metrics`)).text(),
    clearRecords() {
      running.records.flush();
      records.length = 0;
    },
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
      await running.close();
      await telemetry.shutdown();
    },
  };
}
