// The OTLP/HTTP receiver for an agent's own telemetry (Claude Code's): /otlp/v1/logs, /metrics and /traces, in
// http/json or http/protobuf, gzip or not, bounded in size, rate and series; kept per session beside its requests.
import type { IncomingMessage } from "node:http";
import { gunzipSync } from "node:zlib";
import type Router from "@koa/router";
import { SidecarError } from "../errors.js";
import { agentEventsFromLogs, agentEventsFromMetrics, type Read } from "../otlp/claude-events.js";
import { decodeOtlp, type OtlpSignal, otlpEncoding, otlpResponse } from "../otlp/decode.js";
import type { AgentEvent } from "../store/agent-events.js";
import type { AgentTime } from "./agent-time.js";
import type { RequestLog } from "./request-log.js";

export interface ReceiverLimits {
  /** A request body's bytes, compressed or not. */
  maxBodyBytes: number;
  /** Records (log records, metric points, spans) taken per second, with a burst of ten seconds' worth. */
  recordsPerSecond: number;
  /** Distinct metric series kept per session: past it, a session's new series are refused. */
  seriesPerSession: number;
}

export interface ReceiverDeps {
  log: RequestLog;
  time: AgentTime;
  limits: ReceiverLimits;
  /** Reads a request's body up to a limit (413 past it). */
  readBody(req: IncomingMessage, limitBytes: number): Promise<Buffer>;
  /** Spans the agent sent, in OTLP/JSON's shape: relayed to the sidecar's own span export, where there is one. */
  relaySpans?(request: Record<string, unknown>): void;
}

/** Records per second, refilled continuously: a flood is answered 429, and the exporter retries later. */
class RecordBudget {
  private tokens: number;
  private at = performance.now();
  constructor(private readonly perSecond: number) {
    this.tokens = perSecond * 10;
  }
  take(n: number): boolean {
    const now = performance.now();
    this.tokens = Math.min(this.perSecond * 10, this.tokens + ((now - this.at) / 1000) * this.perSecond);
    this.at = now;
    if (n > this.tokens) return false;
    this.tokens -= n;
    return true;
  }
}

/** Metric series per session, for the bound: a few hundred sessions remembered, the oldest forgotten first. */
class SeriesBound {
  private readonly seen = new Map<string, Set<string>>();
  constructor(private readonly perSession: number) {}
  /** The points whose series fit; the count of those refused. */
  admit(events: AgentEvent[]): { kept: AgentEvent[]; refused: number } {
    const kept: AgentEvent[] = [];
    let refused = 0;
    for (const e of events) {
      let series = this.seen.get(e.session);
      if (!series) {
        if (this.seen.size >= 512) this.seen.delete(this.seen.keys().next().value as string);
        series = new Set();
        this.seen.set(e.session, series);
      }
      const key = `${e.name}|${e.outcome ?? ""}|${e.detail?.model ?? ""}`;
      if (!series.has(key) && series.size >= this.perSession) refused++;
      else {
        series.add(key);
        kept.push(e);
      }
    }
    return { kept, refused };
  }
}

/** The records an export request holds, counted before they are read (for the rate bound). */
function recordCount(signal: OtlpSignal, request: Record<string, unknown>): number {
  const [outer, inner, leaf] = {
    logs: ["resourceLogs", "scopeLogs", "logRecords"],
    metrics: ["resourceMetrics", "scopeMetrics", "metrics"],
    traces: ["resourceSpans", "scopeSpans", "spans"],
  }[signal] as [string, string, string];
  let n = 0;
  for (const r of (request[outer] as Record<string, unknown>[] | undefined) ?? []) {
    for (const s of (r?.[inner] as Record<string, unknown>[] | undefined) ?? []) {
      for (const x of (s?.[leaf] as Record<string, unknown>[] | undefined) ?? []) {
        const points = (x?.sum as { dataPoints?: unknown[] } | undefined)?.dataPoints;
        n += signal === "metrics" ? Math.max(1, points?.length ?? 0) : 1;
      }
    }
  }
  return n;
}

/** The body as sent: gzip undone (to the same limit, so a small bomb stays small), anything else refused. */
function inflate(raw: Buffer, encoding: string | undefined, limit: number): Buffer {
  const coding = encoding?.trim().toLowerCase();
  if (!coding || coding === "identity") return raw;
  if (coding !== "gzip")
    throw new SidecarError("unsupported_media_type", `Content-Encoding ${coding} is not taken: send gzip or none`);
  try {
    return gunzipSync(raw, { maxOutputLength: limit });
  } catch (err) {
    if ((err as { code?: string }).code === "ERR_BUFFER_TOO_LARGE")
      throw new SidecarError("payload_too_large", `the uncompressed body exceeds ${limit} bytes`);
    throw new SidecarError("bad_request", `the body is not valid gzip: ${(err as Error).message}`);
  }
}

export function addAgentReceiver(router: Router, deps: ReceiverDeps): void {
  const budget = new RecordBudget(deps.limits.recordsPerSecond);
  const series = new SeriesBound(deps.limits.seriesPerSession);
  const route = (signal: OtlpSignal) =>
    router.post(`/otlp/v1/${signal}`, async (ctx) => {
      const encoding = otlpEncoding(ctx.get("Content-Type"));
      if (!encoding)
        throw new SidecarError(
          "unsupported_media_type",
          "OTLP/HTTP takes application/x-protobuf or application/json: set OTEL_EXPORTER_OTLP_PROTOCOL to http/protobuf or http/json",
        );
      const limit = deps.limits.maxBodyBytes;
      const body = inflate(await deps.readBody(ctx.req, limit), ctx.get("Content-Encoding") || undefined, limit);
      let request: Record<string, unknown>;
      try {
        request = decodeOtlp(signal, body, encoding);
      } catch (err) {
        throw new SidecarError("bad_request", `not an OTLP ${signal} export request: ${(err as Error).message}`);
      }
      if (!budget.take(recordCount(signal, request)))
        throw new SidecarError("overloaded", "too many telemetry records per second: retry later", {
          reason: "otlp_rate",
        });
      const { rejected, why } = keep(signal, request, deps, series);
      const answer = otlpResponse(signal, encoding, rejected, why);
      ctx.type = answer.type;
      ctx.body = answer.body;
    });
  route("logs");
  route("metrics");
  route("traces");
}

/** Keeps what the request holds for the sessions; returns how many records were refused, and why. */
function keep(
  signal: OtlpSignal,
  request: Record<string, unknown>,
  deps: ReceiverDeps,
  series: SeriesBound,
): { rejected: number; why: string } {
  if (signal === "traces") {
    deps.relaySpans?.(request);
    return { rejected: 0, why: "" };
  }
  const read: Read = signal === "logs" ? agentEventsFromLogs(request) : agentEventsFromMetrics(request);
  const { kept, refused } = signal === "metrics" ? series.admit(read.events) : { kept: read.events, refused: 0 };
  deps.log.addAgentEvents(kept);
  deps.time.events(kept);
  const why = [
    read.rejected > 0 ? `${read.rejected} without a session.id` : "",
    refused > 0 ? `${refused} past ${deps.limits.seriesPerSession} series in a session` : "",
  ]
    .filter(Boolean)
    .join("; ");
  return { rejected: read.rejected + refused, why };
}
