// Claude Code's own telemetry pointed at the sidecar's OTLP receiver, so a session's report has both sides: its
// tools and its person beside the model's queue, prefill and generation. A user's own exporter settings win.

/** Any of these set by the user: their telemetry goes where they said, and the sidecar's is not added. */
const USER_EXPORT = [
  "OTEL_EXPORTER_OTLP_ENDPOINT",
  "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
  "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
  "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
  "OTEL_LOGS_EXPORTER",
  "OTEL_METRICS_EXPORTER",
  "OTEL_TRACES_EXPORTER",
];

/**
 * The variables (checked against Claude Code 2.1.197): telemetry on, OTLP for events, metrics and traces (traces
 * need the enhanced-telemetry beta, and the traceparent header on API calls its own switch when the base URL is
 * not Anthropic's), http/protobuf (without a protocol Claude Code exports nothing), and short intervals, so a
 * report a second after a turn has it. CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC does not stop this export.
 */
export function claudeTelemetry(
  baseUrl: string,
  key: string | undefined,
  userEnv: NodeJS.ProcessEnv,
): { env: Record<string, string>; line: string } {
  const theirs = USER_EXPORT.filter((n) => userEnv[n] !== undefined);
  if (theirs.length > 0)
    return {
      env: {},
      line: `your own telemetry settings (${theirs.join(", ")}) are kept: to see tools and waits in the sidecar's session reports too, add ${baseUrl}/otlp as a second endpoint (README: Both sides of a session)`,
    };
  const env: Record<string, string> = {
    CLAUDE_CODE_ENABLE_TELEMETRY: "1",
    OTEL_LOGS_EXPORTER: "otlp",
    OTEL_METRICS_EXPORTER: "otlp",
    OTEL_TRACES_EXPORTER: "otlp",
    CLAUDE_CODE_ENHANCED_TELEMETRY_BETA: "1",
    CLAUDE_CODE_PROPAGATE_TRACEPARENT: "1",
    OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf",
    OTEL_EXPORTER_OTLP_ENDPOINT: `${baseUrl}/otlp`,
    OTEL_LOGS_EXPORT_INTERVAL: "1000",
    OTEL_TRACES_EXPORT_INTERVAL: "1000",
    OTEL_METRIC_EXPORT_INTERVAL: "10000",
  };
  if (key !== undefined && userEnv.OTEL_EXPORTER_OTLP_HEADERS === undefined)
    env.OTEL_EXPORTER_OTLP_HEADERS = `x-api-key=${encodeURIComponent(key)}`;
  return {
    env,
    line: "Claude Code's own telemetry (tools, prompts' times, its view of each call; never prompt text) goes to the sidecar, for session reports",
  };
}
