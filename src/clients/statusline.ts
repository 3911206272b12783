// `llama-sidecar statusline`: Claude Code's statusLine command. It reads the JSON Claude Code writes on stdin (its
// session_id is the X-Claude-Code-Session-Id its requests carry), asks the sidecar for that session's numbers, and
// prints one line. A sidecar that is down or slow gives a short line too: never an error trace, never a wait.
import type { SessionView } from "../wire/session-view.js";
import type { SetupView } from "../wire/setup-view.js";
import { claudeModelName } from "./claude-env.js";
import { getJson, type SidecarAddress } from "./sidecar-api.js";

/** Claude Code redraws the line while it waits: past this a short line now is worth more than the numbers. */
const ASK_WITHIN_MS = 150;
const STDIN_WITHIN_MS = 30;

const k = (n: number) => (n >= 1000 ? `${(n / 1000).toFixed(n >= 10_000 ? 0 : 1)}k` : String(Math.round(n)));
const pct = (x: number) => `${Math.round(x * 100)}%`;
const secs = (ms: number) =>
  ms < 1000 ? `${Math.round(ms)} ms` : ms < 60_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 60_000)} min`;

/** Eight cells of a bar. */
function bar(x: number): string {
  const full = Math.max(0, Math.min(8, Math.round(x * 8)));
  return `${"▓".repeat(full)}${"░".repeat(8 - full)}`;
}

/** What the line needs of Claude Code's JSON: the session, and the model's name as Claude Code shows it. */
interface ClaudeInput {
  sessionId?: string;
  model?: string;
}

const nonEmpty = (v: unknown) => (typeof v === "string" && v.length > 0 ? v : undefined);

/** Claude Code's JSON on stdin, as far as it arrives in time. */
async function readClaudeInput(stdin: NodeJS.ReadableStream): Promise<ClaudeInput> {
  let text = "";
  const done = new Promise<void>((resolve) => {
    stdin.on("data", (c: Buffer) => {
      text += c.toString("utf8");
    });
    stdin.on("end", resolve).on("error", resolve);
    setTimeout(resolve, STDIN_WITHIN_MS).unref();
  });
  await done;
  // A stdin that stays open (a terminal, a caller that never closes it) must not keep the process waiting.
  stdin.removeAllListeners("data");
  (stdin as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
  try {
    const input = JSON.parse(text) as { session_id?: unknown; model?: { display_name?: unknown; id?: unknown } };
    return {
      sessionId: nonEmpty(input?.session_id),
      model: nonEmpty(input?.model?.display_name) ?? nonEmpty(input?.model?.id),
    };
  } catch {
    return {};
  }
}

/** The name Claude Code shows for the model, else the one the launcher would give it: never a file's path. */
const modelName = (claude: string | undefined, served: string | undefined) =>
  claude ?? (served ? claudeModelName(served) : "local model");

/** The line for a session the sidecar knows; `model` is the name Claude Code shows, where it gave one. */
export function sessionLine(s: SessionView, model?: string): string {
  const parts = [modelName(model, s.model)];
  if (s.contextUsed !== undefined && s.nCtx) {
    parts.push(`ctx ${bar(s.contextUsed / s.nCtx)} ${k(s.contextUsed)}/${k(s.nCtx)} (${pct(s.contextUsed / s.nCtx)})`);
  }
  if (s.now?.phase === "queued") parts.push(`queued${s.now.queuePosition ? ` #${s.now.queuePosition}` : ""}`);
  const p = s.now?.progress;
  if (s.now?.phase === "prefilling") {
    const about = p?.source === "estimate" ? "~" : "";
    parts.push(
      p
        ? `prefill ${about}${pct(p.ratio)}${p.etaMs !== undefined ? `, ${about}${secs(p.etaMs)} left` : ""}`
        : "prefilling",
    );
  }
  if (s.cacheReuse !== undefined) parts.push(`cache ${pct(s.cacheReuse)}`);
  if (s.ttftMs !== undefined) parts.push(`TTFT ${secs(s.ttftMs)}`);
  if (s.decodeTps !== undefined) parts.push(`${Math.round(s.decodeTps)} tok/s`);
  if (s.upstream !== "online") parts.push(`llama-server ${s.upstream}`);
  return parts.join(" · ");
}

/** The line when the sidecar has no turn of this session yet. */
function setupLine(setup: SetupView, model?: string): string {
  const u = setup.upstream;
  const parts = [modelName(model, u.model)];
  if (u.nCtx) parts.push(`ctx ${k(u.nCtx)}`);
  parts.push(u.state === "online" ? "no turn yet" : `llama-server ${u.state}`);
  return parts.join(" · ");
}

export async function statusline(addr: SidecarAddress, stdin: NodeJS.ReadableStream): Promise<string> {
  const claude = await readClaudeInput(stdin);
  if (claude.sessionId) {
    const path = `/api/sessions/${encodeURIComponent(claude.sessionId)}`;
    const r = await getJson<SessionView>(addr, path, ASK_WITHIN_MS);
    if (r.ok && r.status === 200) return sessionLine(r.body, claude.model);
    if (!r.ok) return `llama-sidecar: not answering at ${addr.base} (${r.reason})`;
  }
  const setup = await getJson<SetupView>(addr, "/api/setup", ASK_WITHIN_MS);
  if (setup.ok && setup.status === 200) return setupLine(setup.body, claude.model);
  return `llama-sidecar: not answering at ${addr.base}${setup.ok ? ` (HTTP ${setup.status})` : ` (${setup.reason})`}`;
}
