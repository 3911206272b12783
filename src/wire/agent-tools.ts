// The agent's side of a session as bounded label values: its tools by name, and the phases its time is split into.

/** Claude Code's own tools, by the names it reports in `tool_result` events. */
const BUILT_IN_TOOLS = new Set([
  "Agent",
  "AskUserQuestion",
  "Bash",
  "BashOutput",
  "Edit",
  "EnterPlanMode",
  "ExitPlanMode",
  "Glob",
  "Grep",
  "KillShell",
  "LS",
  "MultiEdit",
  "NotebookEdit",
  "NotebookRead",
  "Read",
  "Skill",
  "SlashCommand",
  "Task",
  "TodoWrite",
  "WebFetch",
  "WebSearch",
  "Write",
]);

/** A tool's label: a built-in tool by its name, any MCP tool as `mcp` (Claude Code names them all `mcp_tool`). */
export function toolLabel(name: string | undefined): string {
  if (!name) return "other";
  if (name === "mcp_tool" || name.startsWith("mcp__")) return "mcp";
  return BUILT_IN_TOOLS.has(name) ? name : "other";
}

/** Where a session's wall time goes, as `llama_sidecar_session_time_seconds_total` counts it. */
export const SESSION_PHASES = ["queue", "prefill", "prefill_lost", "generation", "tool", "person"] as const;
export type SessionPhase = (typeof SESSION_PHASES)[number];
