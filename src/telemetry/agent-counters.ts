// The agent's side of its sessions on /metrics: tool calls and their time, and where sessions' time goes by phase.
import { Counter, type Registry } from "prom-client";
import { SESSION_PHASES, type SessionPhase } from "../wire/agent-tools.js";
import { METRIC_PREFIX } from "./instruments.js";

export const AGENT_METRICS = {
  toolSeconds: `${METRIC_PREFIX}_agent_tool_seconds_total`,
  toolCalls: `${METRIC_PREFIX}_agent_tool_calls_total`,
  sessionTime: `${METRIC_PREFIX}_session_time_seconds_total`,
} as const;

export interface AgentCounters {
  /** A tool call the agent reported (its label bounded: wire/agent-tools.ts), with its duration. */
  tool(tool: string, outcome: "success" | "failure", seconds: number): void;
  /** A stretch of a session's wall time, by what it was spent on. */
  phase(phase: SessionPhase, seconds: number): void;
}

export function createAgentCounters(registry: Registry): AgentCounters {
  const toolSeconds = new Counter({
    name: AGENT_METRICS.toolSeconds,
    help: "Seconds the agent's tools ran, as the agent (Claude Code's telemetry) reported them, by tool",
    labelNames: ["tool"],
    registers: [registry],
  });
  const toolCalls = new Counter({
    name: AGENT_METRICS.toolCalls,
    help: "Tool calls the agent reported, by tool and outcome (success or failure)",
    labelNames: ["tool", "outcome"],
    registers: [registry],
  });
  const sessionTime = new Counter({
    name: AGENT_METRICS.sessionTime,
    help: "Where sessions' wall time went: queue, prefill, prefill re-processed after a cache miss (prefill_lost), generation, the agent's tools, and waiting for the person",
    labelNames: ["phase"],
    registers: [registry],
  });
  for (const phase of SESSION_PHASES) sessionTime.inc({ phase }, 0);
  return {
    tool: (tool, outcome, seconds) => {
      toolCalls.inc({ tool, outcome });
      if (seconds > 0) toolSeconds.inc({ tool }, seconds);
    },
    phase: (phase, seconds) => {
      if (seconds > 0) sessionTime.inc({ phase }, seconds);
    },
  };
}
