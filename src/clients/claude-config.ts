// Claude Code's own state file (~/.claude.json): the launcher marks its first-run setup done, because that setup
// checks Anthropic's servers first and never finishes on a machine that only talks to a local model.
import { existsSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

const MEND = 'add "hasCompletedOnboarding": true to ~/.claude.json';

/** For a person setting Claude Code up by hand (`llama-sidecar env claude`). */
export const ONBOARDING_HINT = `on a new machine Claude Code's first-run setup waits on Anthropic's servers: ${MEND}`;

/**
 * Where Claude Code 2.1 keeps that state: `.config.json` in its config folder ($CLAUDE_CONFIG_DIR, else ~/.claude)
 * where that file exists, else `.claude.json` in $CLAUDE_CONFIG_DIR or the home folder.
 */
export function claudeStatePath(env: NodeJS.ProcessEnv): string {
  const home = env.HOME || homedir();
  const configDir = env.CLAUDE_CONFIG_DIR || join(home, ".claude");
  const legacy = join(configDir, ".config.json");
  if (existsSync(legacy)) return legacy;
  return join(env.CLAUDE_CONFIG_DIR || home, ".claude.json");
}

function readState(path: string): Record<string, unknown> | "missing" | "unreadable" {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "ENOENT" ? "missing" : "unreadable";
  }
  try {
    const value: unknown = JSON.parse(text);
    return value && typeof value === "object" && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : "unreadable";
  } catch {
    return "unreadable";
  }
}

/**
 * Sets `hasCompletedOnboarding` in Claude Code's state file when it is not set, keeping everything else in it;
 * returns the line that says so, or why it could not, or nothing when there was nothing to do. The file is written
 * whole under another name and renamed, so a crash never leaves half of it.
 */
export function markOnboardingDone(env: NodeJS.ProcessEnv): string | undefined {
  const path = claudeStatePath(env);
  const state = readState(path);
  if (state === "unreadable")
    return `could not read ${path} (not a JSON object): if Claude Code starts with its first-run setup, ${MEND}`;
  if (state !== "missing" && state.hasCompletedOnboarding === true) return undefined;
  const next = { ...(state === "missing" ? {} : state), hasCompletedOnboarding: true };
  // A link (a dotfile manager's) stays a link: the file it points to is the one rewritten.
  const target = state === "missing" ? path : realpathSync(path);
  const temp = `${target}.llama-sidecar-${process.pid}`;
  try {
    const mode = state === "missing" ? 0o600 : statSync(target).mode & 0o777;
    writeFileSync(temp, `${JSON.stringify(next, null, 2)}\n`, { mode });
    renameSync(temp, target);
  } catch (err) {
    rmSync(temp, { force: true });
    return `could not write ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): Claude Code may start with its first-run setup, which needs Anthropic's servers`;
  }
  return `marked Claude Code's first-run setup done in ${path} (it checks Anthropic's servers, which a local setup never reaches)`;
}
