// The environment that makes Claude Code fit a local llama-server, worked out from what the sidecar knows of it,
// with the reason for each value. Variables the user already set are theirs and are never overridden.
import type { SetupView } from "../wire/setup-view.js";
import { claudeTelemetry } from "./claude-telemetry.js";

export interface ClaudeSetup {
  /** The variables to add (the user's own are left out). */
  env: Record<string, string>;
  /** Two or three lines for a person: what was set and why. */
  lines: string[];
  /** The user's own values that were kept, by name. */
  kept: string[];
  /** Variables to take out of Claude Code's environment (a credential for Anthropic's own API). */
  drop: string[];
  /** The names among `env` that send Claude Code's own telemetry to the sidecar: optional by hand. */
  telemetry: string[];
}

/** The connection is one piece: a base URL with its own key. */
const CONNECTION = ["ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"];

/**
 * The sidecar's key goes as ANTHROPIC_AUTH_TOKEN (sent as `Authorization: Bearer`), not ANTHROPIC_API_KEY: in a
 * terminal Claude Code asks whether to use a "custom API key", with No preselected, and a No is stored for good
 * ("Not logged in" on every later start). It never asks about a token, and a stored No does not touch it.
 */
const KEY_VARIABLE = "ANTHROPIC_AUTH_TOKEN";

/** Claude Code compacts at its window less the output reserve less 13,000 (what its 2.1 code does). */
const COMPACT_MARGIN = 13_000;
const OUTPUT_RESERVE_CAP = 20_000;
/** Claude Code's own default for a model it does not know. */
const DEFAULT_MAX_OUTPUT = 32_000;

/** Output room that leaves most of a slot's context to the prompt: a quarter of it, within 1,024 and 32,000. */
export function maxOutputFor(nCtx: number): number {
  return Math.max(1024, Math.min(DEFAULT_MAX_OUTPUT, Math.floor(nCtx / 4 / 1024) * 1024));
}

/** Where Claude Code will compact in a window of nCtx with this much output room (its own arithmetic). */
export function compactAt(nCtx: number, maxOutput: number): number {
  return nCtx - Math.min(maxOutput, OUTPUT_RESERVE_CAP) - COMPACT_MARGIN;
}

/**
 * The name Claude Code is given for a model (and shows): a model file's path (llama-server without --alias) by its
 * file's name; a name Claude Code would take for its own (claude-*, for which it assumes 200k) with `local-` before it.
 */
export function claudeModelName(model: string): string {
  const file = model.includes("/") ? (model.split("/").at(-1) ?? model).replace(/\.gguf$/i, "") : model;
  return /^claude-/i.test(file) ? `local-${file}` : file;
}

const k = (n: number) => (n >= 1024 && n % 1024 === 0 ? `${n / 1024}k` : String(n));

/** Sets the window, reply size and (where there is room) compaction for a slot of nCtx; returns the line saying so. */
function fitContext(want: Record<string, string>, nCtx: number | undefined): string {
  if (!nCtx) return "llama-server's context size is not known yet: Claude Code keeps its own defaults for it";
  const maxOutput = maxOutputFor(nCtx);
  want.CLAUDE_CODE_MAX_CONTEXT_TOKENS = String(nCtx);
  want.CLAUDE_CODE_MAX_OUTPUT_TOKENS = String(maxOutput);
  const at = compactAt(nCtx, maxOutput);
  // Compacting ahead needs room: under half the window left, Claude Code would compact every turn. Then it
  // compacts when the sidecar answers "prompt is too long", which it acts on too.
  const ahead = at >= nCtx / 2;
  if (ahead) want.CLAUDE_CODE_AUTO_COMPACT_WINDOW = String(nCtx);
  const when = ahead
    ? `compacts at about ${k(Math.round(at / 1024) * 1024)} tokens`
    : `compacts when a prompt no longer fits (the sidecar says "prompt is too long"; ${k(nCtx)} leaves no room to compact ahead)`;
  return `context ${k(nCtx)} per slot (llama-server's n_ctx), not 200k: Claude Code ${when}; replies up to ${k(maxOutput)} tokens`;
}

/**
 * The variables for Claude Code against the sidecar at `baseUrl`. A model name that does not start with "claude-"
 * makes Claude Code take its window from CLAUDE_CODE_MAX_CONTEXT_TOKENS (it assumes 200,000 for its own names), and
 * CLAUDE_CODE_AUTO_COMPACT_WINDOW makes it compact inside that window instead of waiting for an overflow error.
 */
export function claudeSetup(
  setup: SetupView,
  baseUrl: string,
  key: string | undefined,
  userEnv: NodeJS.ProcessEnv,
): ClaudeSetup {
  const { model, nCtx } = setup.upstream;
  const want: Record<string, string> = {
    ANTHROPIC_BASE_URL: baseUrl,
    [KEY_VARIABLE]: key ?? "local",
    // The billing line changes on every request and defeats llama-server's prefix cache (the sidecar also
    // normalizes it; leaving it out is surer).
    CLAUDE_CODE_ATTRIBUTION_HEADER: "0",
    // No calls to Anthropic's services from a local setup: telemetry, error reports, update checks.
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
  };
  const lines: string[] = [];
  const name = model ? claudeModelName(model) : undefined;
  if (name) {
    // llama-server takes any name for the one model it serves.
    want.ANTHROPIC_MODEL = name;
    want.ANTHROPIC_DEFAULT_OPUS_MODEL = name;
    want.ANTHROPIC_DEFAULT_SONNET_MODEL = name;
    want.ANTHROPIC_DEFAULT_HAIKU_MODEL = name;
  }
  lines.push(fitContext(want, nCtx));
  lines.push(
    `model ${name ?? "(not known yet)"} for every tier; billing line off, so the prompt's prefix stays cacheable; no traffic to Anthropic`,
  );
  const telemetry = claudeTelemetry(baseUrl, key, userEnv);
  Object.assign(want, telemetry.env);
  lines.push(telemetry.line);
  const env: Record<string, string> = {};
  const kept: string[] = [];
  // A base URL of the user's own means they point Claude Code elsewhere: their connection is kept whole. Without
  // one, the connection is the sidecar's: a key of theirs is for Anthropic's API and must not go to the sidecar.
  const ownConnection = userEnv.ANTHROPIC_BASE_URL !== undefined;
  const drop: string[] = [];
  for (const [name, value] of Object.entries(want)) {
    const connection = CONNECTION.includes(name);
    if (userEnv[name] !== undefined && (!connection || ownConnection)) kept.push(name);
    else env[name] = value;
  }
  // Claude Code would take an API key over the token (and ask about it): one of the user's stays out.
  if (!ownConnection && userEnv.ANTHROPIC_API_KEY !== undefined) drop.push("ANTHROPIC_API_KEY");
  const replaced = [...drop, KEY_VARIABLE].filter((n) => !ownConnection && userEnv[n] !== undefined);
  if (replaced.length > 0)
    lines.push(
      `your ${replaced.join(" and ")} ${replaced.length > 1 ? "stay" : "stays"} out of it: the sidecar gets its own key`,
    );
  if (ownConnection) lines.push("your ANTHROPIC_BASE_URL is kept: Claude Code will not go through this sidecar");
  if (kept.length > 0) lines.push(`kept your own ${kept.join(", ")}`);
  return { env, lines, kept, drop, telemetry: Object.keys(telemetry.env) };
}
