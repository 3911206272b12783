// Claude Code's telemetry (OTLP logs and metrics, in OTLP/JSON's shape) read into the agent's events: tool calls,
// the person's prompts (their time and length, never their text), its view of each API call, and metric points.
import type { Attributes, AttributeValue } from "@opentelemetry/api";
import type { AgentEvent } from "../store/agent-events.js";
import { anyValue, attributesOf } from "./any-value.js";

type Scalar = AttributeValue;
const num = (v: Scalar | undefined): number | undefined => {
  const n = typeof v === "string" ? Number(v) : typeof v === "number" ? v : Number.NaN;
  return Number.isFinite(n) ? n : undefined;
};
const str = (v: Scalar | undefined): string | undefined => (v === undefined ? undefined : String(v));

/** Epoch milliseconds from OTLP's nanoseconds (a string of up to 19 digits). */
const nanosToMs = (v: unknown): number | undefined => {
  const n = typeof v === "string" || typeof v === "number" ? Number(v) / 1e6 : Number.NaN;
  return Number.isFinite(n) && n > 0 ? n : undefined;
};

/** Each export request's records, with their resource's and scope's attributes left aside. */
function* records(request: Record<string, unknown>, outer: string, inner: string, leaf: string) {
  for (const resource of (request[outer] as Record<string, unknown>[] | undefined) ?? []) {
    for (const scope of (resource?.[inner] as Record<string, unknown>[] | undefined) ?? []) {
      for (const record of (scope?.[leaf] as Record<string, unknown>[] | undefined) ?? []) yield record;
    }
  }
}

/** The figures of an API call worth keeping: Claude Code's own token counts and cost estimate. */
const API_FIGURES = ["input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens", "cost_usd"];

/** One log record as an event, or why it is not one (no session, not an event the sidecar keeps). */
function eventOf(record: Record<string, unknown>): AgentEvent | "no_session" | "ignored" {
  const a = attributesOf(record.attributes);
  const body = anyValue(record.body);
  const name = str(a["event.name"]) ?? (typeof body === "string" ? body.replace(/^claude_code\./, "") : "");
  const session = str(a["session.id"]);
  if (!session) return "no_session";
  const end = Date.parse(str(a["event.timestamp"]) ?? "") || nanosToMs(record.timeUnixNano) || Date.now();
  const id = `${session}:${a["event.sequence"] ?? ""}:${end}:${name}`;
  const durationMs = num(a["duration_ms"]);
  const base = { id, session, at: end - (durationMs ?? 0), ...(durationMs === undefined ? {} : { durationMs }) };
  switch (name) {
    case "user_prompt": {
      const length = num(a["prompt_length"]);
      return { ...base, kind: "prompt", ...(length === undefined ? {} : { value: length }) };
    }
    case "tool_result": {
      const detail = pick(a, ["decision_type", "decision_source", "error_type"]);
      const outcome = str(a["success"]) === "true" ? "success" : "failure";
      return { ...base, kind: "tool", name: str(a["tool_name"]) ?? "unknown", outcome, ...detail };
    }
    case "tool_decision":
      return {
        ...base,
        kind: "decision",
        name: str(a["tool_name"]) ?? "unknown",
        outcome: str(a["decision"]) ?? "unknown",
        ...pick(a, ["source"]),
      };
    case "api_request":
      return { ...base, kind: "api", name: str(a["model"]), outcome: "success", ...pick(a, API_FIGURES) };
    case "api_error":
      return { ...base, kind: "api_error", name: str(a["model"]), outcome: "failure", ...pick(a, ["status_code"]) };
    default:
      return "ignored";
  }
}

/** The named attributes that are there, as an event's detail (none: no detail at all). */
function pick(a: Attributes, keys: readonly string[]): { detail?: Record<string, number | string> } {
  const detail: Record<string, number | string> = {};
  for (const k of keys) {
    const v = a[k];
    if (v !== undefined) detail[k] = typeof v === "number" ? v : String(v);
  }
  return Object.keys(detail).length > 0 ? { detail } : {};
}

export interface Read {
  events: AgentEvent[];
  /** Records refused: no session to join them to. */
  rejected: number;
  /** Records understood but not kept (events and metrics the sessions do not use). */
  ignored: number;
}

/** Claude Code's events from an OTLP logs export request. */
export function agentEventsFromLogs(request: Record<string, unknown>): Read {
  const out: Read = { events: [], rejected: 0, ignored: 0 };
  for (const record of records(request, "resourceLogs", "scopeLogs", "logRecords")) {
    const e = eventOf(record);
    if (e === "no_session") out.rejected++;
    else if (e === "ignored") out.ignored++;
    else out.events.push(e);
  }
  return out;
}

/** OTLP's aggregation temporality: 1 delta (Claude Code's default), 2 cumulative. */
const CUMULATIVE = 2;

/** Claude Code's metric points (claude_code.*, sums), each an event: a delta, or a running total marked as one. */
export function agentEventsFromMetrics(request: Record<string, unknown>): Read {
  const out: Read = { events: [], rejected: 0, ignored: 0 };
  for (const metric of records(request, "resourceMetrics", "scopeMetrics", "metrics")) {
    const name = typeof metric.name === "string" ? metric.name : "";
    const sum = metric.sum as { dataPoints?: Record<string, unknown>[]; aggregationTemporality?: unknown } | undefined;
    const points = sum?.dataPoints ?? [];
    if (!name.startsWith("claude_code.") || !sum) {
      out.ignored += points.length;
      continue;
    }
    const cumulative = Number(sum.aggregationTemporality) === CUMULATIVE;
    for (const p of points) {
      const a = attributesOf(p.attributes);
      const session = str(a["session.id"]);
      const value = num(anyValue({ intValue: p.asInt, doubleValue: p.asDouble }));
      const at = nanosToMs(p.timeUnixNano) ?? Date.now();
      if (!session || value === undefined) {
        out.rejected++;
        continue;
      }
      const type = str(a["type"]);
      const model = str(a["model"]);
      out.events.push({
        id: `${session}:${name}:${type ?? ""}:${model ?? ""}:${at}`,
        session,
        kind: "metric",
        at,
        name,
        value,
        ...(type === undefined ? {} : { outcome: type }),
        ...(model || cumulative
          ? { detail: { ...(model ? { model } : {}), ...(cumulative ? { cumulative: 1 } : {}) } }
          : {}),
      });
    }
  }
  return out;
}
