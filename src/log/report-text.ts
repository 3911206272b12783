// A session report and a list of sessions as text: for a terminal, or as Markdown to paste into a bug report.
import type { SessionSummary } from "../store/log-db.js";
import type { SessionReport, TimeSplit, Turn } from "./session-report.js";

export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
  return `${Math.floor(ms / 3_600_000)} h ${Math.round((ms % 3_600_000) / 60_000)} min`;
}

const when = (at: number) => new Date(at).toLocaleString("sv-SE").slice(0, 19);
const tokens = (n: number) => (n >= 10_000 ? `${(n / 1000).toFixed(1)}k` : String(n));
const lostOf = (t: TimeSplit) => Object.values(t.lostPrefillMs).reduce((a, b) => a + b, 0);
/** The whole gap before a turn: its tools, its person and the rest. */
const gapOf = (t: TimeSplit) => t.gapMs + t.personMs + Object.values(t.toolMs).reduce((a, b) => a + b, 0);

/** The parts of a split, named, the zero ones left out. */
function parts(t: TimeSplit, agent: boolean): [string, number][] {
  const list: [string, number][] = [
    ...Object.entries(t.toolMs)
      .sort((a, b) => b[1] - a[1])
      .map(([tool, ms]): [string, number] => [`tool ${tool}`, ms]),
    ["waiting for the person", t.personMs],
    [agent ? "the agent itself, between turns" : "between turns", t.gapMs],
    ["waiting for a slot", t.queueMs],
    ["prefill", t.prefillMs],
    ...Object.entries(t.lostPrefillMs).map(([cause, ms]): [string, number] => [`prefill lost to ${cause}`, ms]),
    ["generation", t.generationMs],
    ["not streamed, or local", t.unsplitMs],
    ["failed or cut", t.otherMs],
  ];
  return list.filter(([, ms]) => ms >= 1);
}

function bar(ms: number, wall: number, width = 24): string {
  const n = wall > 0 ? Math.round((ms / wall) * width) : 0;
  return `${"█".repeat(n)}${"░".repeat(width - n)}`;
}

function turnCells(t: Turn): string[] {
  const prompt = t.prompt === undefined ? "" : `${tokens(t.prompt)}${t.nCtx ? `/${tokens(t.nCtx)}` : ""}`;
  const note = [
    t.missCause && `miss: ${t.missCause}${t.missLocation ? ` (${t.missLocation})` : ""}`,
    t.slowdownCause && `slow: ${t.slowdownCause}`,
    t.compacted && `compacted ${tokens(t.compacted.from)}→${tokens(t.compacted.to)}`,
    t.outcome === "local" ? "answered by the sidecar" : t.outcome !== "ok" && `${t.outcome} ${t.status}`,
    t.background && `background ${t.background}`,
    t.agent && `the agent waited ${duration(t.agent.durationMs)}`,
  ].filter(Boolean);
  return [
    String(t.turn),
    when(t.startedAt).slice(11),
    duration(gapOf(t.time)),
    duration(t.time.queueMs),
    duration(t.time.prefillMs + t.time.unsplitMs),
    duration(lostOf(t.time)),
    duration(t.time.generationMs),
    prompt,
    String(t.generated ?? ""),
    note.join("; "),
  ];
}

const TURN_HEAD = [
  "#",
  "started",
  "gap before",
  "queue",
  "prefill",
  "lost",
  "generation",
  "prompt/ctx",
  "out",
  "notes",
];

function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd();
  return [line(head), ...rows.map(line)].join("\n");
}

/** The agent's own lines: its tools and its cost estimate. */
function agentLines(r: SessionReport): string[] {
  if (!r.agent) return [];
  const tools = r.agent.tools.map(
    (t) => `${t.tool} ×${t.calls}${t.failures ? ` (${t.failures} failed)` : ""} ${duration(t.ms)}`,
  );
  const cost = r.agent.costUsd === undefined ? "" : `; its own cost estimate $${r.agent.costUsd.toFixed(4)}`;
  return [
    "",
    `the agent reported ${r.agent.prompts} prompt(s), ${r.agent.calls} API call(s)${cost}; tools: ${tools.join(", ") || "none"}`,
  ];
}

export function reportText(r: SessionReport): string {
  const split = parts(r.time, r.agent !== undefined).map(
    ([name, ms]) => `  ${bar(ms, r.wallMs)} ${name.padEnd(34)} ${duration(ms).padStart(9)}`,
  );
  return [
    `session ${r.id}  ${when(r.startedAt)} → ${when(r.endedAt)}  (${duration(r.wallMs)})`,
    `${r.clients.join(", ")} · ${r.models.join(", ")} · ${r.turns.length} turns · prefill ${tokens(r.tokens.prefill)}, cached ${tokens(r.tokens.cached)}, generated ${tokens(r.tokens.generated)}`,
    "",
    r.summary,
    "",
    "where the time went:",
    ...split,
    ...agentLines(r),
    "",
    table(TURN_HEAD, r.turns.map(turnCells)),
  ].join("\n");
}

export function reportMarkdown(r: SessionReport): string {
  const md = (cells: string[]) => `| ${cells.map((c) => c.replaceAll("|", "\\|")).join(" | ")} |`;
  return [
    `### llama-sidecar session \`${r.id}\``,
    "",
    `${when(r.startedAt)} → ${when(r.endedAt)} (${duration(r.wallMs)}), ${r.clients.join(", ")}, ${r.models.join(", ")}`,
    "",
    r.summary,
    "",
    md(["where the time went", "time", "share"]),
    md(["---", "---:", "---:"]),
    ...parts(r.time, r.agent !== undefined).map(([name, ms]) =>
      md([name, duration(ms), `${Math.round((ms / r.wallMs) * 100)}%`]),
    ),
    "",
    ...agentLines(r),
    "",
    md(TURN_HEAD),
    md(TURN_HEAD.map(() => "---")),
    ...r.turns.map((t) => md(turnCells(t))),
  ].join("\n");
}

export function sessionsText(list: readonly SessionSummary[]): string {
  if (list.length === 0) return "no sessions in that time";
  const rows = list.map((s) => [
    when(s.startedAt),
    duration(s.endedAt - s.startedAt),
    String(s.requests),
    s.models.join(","),
    s.clients.join(","),
    `${tokens(s.prefill)}/${tokens(s.cached)}/${tokens(s.generated)}`,
    s.misses ? `${s.misses} (${duration(s.lostPrefillMs)})` : "0",
    String(s.errors),
    s.id,
  ]);
  return table(["started", "length", "turns", "model", "client", "prefill/cached/out", "misses", "errors", "id"], rows);
}
