// `llama-sidecar claude [claude args…]`: Claude Code set up for the local model behind the sidecar (started for the
// session when none answers), with the status line; the user's arguments and variables pass untouched, and the
// exit status and signals are Claude Code's own.
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { closeSync, mkdirSync, openSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "../config/load.js";
import type { SetupView } from "../wire/setup-view.js";
import { markOnboardingDone } from "./claude-config.js";
import { claudeSetup } from "./claude-env.js";
import { findProgram } from "./find-program.js";
import { shellQuote } from "./shell-quote.js";
import { getJson, type SidecarAddress, sidecarAddress } from "./sidecar-api.js";

const say = (line: string) => process.stderr.write(`llama-sidecar: ${line}\n`);

/** How this program is run again (for the status line and a sidecar started for the session). */
export function selfCommand(): string[] {
  return [process.execPath, ...process.execArgv, process.argv[1] ?? "llama-sidecar"];
}

interface Started {
  setup: SetupView;
  /** Stops the sidecar started for this session (none when one was already running). */
  stop?: () => Promise<void>;
}

async function startForSession(
  addr: SidecarAddress,
  config: Config,
  env: NodeJS.ProcessEnv,
): Promise<Started | string> {
  mkdirSync(config.dataDir, { recursive: true });
  const log = join(config.dataDir, "sidecar-for-claude.log");
  const out = openSync(log, "a");
  const [node, ...args] = selfCommand();
  const child = spawn(node as string, args, { env, stdio: ["ignore", out, out] });
  closeSync(out); // the child has its own copy
  const setup = await firstSetup(addr, child);
  if (setup) {
    say(`started a sidecar for this session on ${addr.base} (its log: ${log})`);
    return { setup, stop: () => stopUnlessBusy(addr, child) };
  }
  await stopChild(child);
  return `could not start a sidecar on ${addr.base}: see ${log}`;
}

/**
 * The new sidecar's setup, once it answers (within 15 s) and has had a look at llama-server: it answers before its
 * first health check, and only that check brings the model and context. Still unreachable 5 s on, llama-server is down.
 */
async function firstSetup(addr: SidecarAddress, child: ChildProcess): Promise<SetupView | undefined> {
  const answerBy = Date.now() + 15_000;
  let settleBy: number | undefined;
  let setup: SetupView | undefined;
  while (child.exitCode === null) {
    const r = await getJson<SetupView>(addr, "/api/setup", 1000);
    if (r.ok && r.status === 200) {
      setup = r.body;
      settleBy ??= Date.now() + 5_000;
      if (setup.upstream.state !== "unreachable" || Date.now() > settleBy) return setup;
    } else if (Date.now() > answerBy) return undefined;
    await new Promise((r) => setTimeout(r, 200));
  }
  return setup;
}

/** Another launcher may have found this sidecar answering and used it: one still busy is left running. */
async function stopUnlessBusy(addr: SidecarAddress, child: ChildProcess): Promise<void> {
  const active = await getJson<unknown[]>(addr, "/api/requests/active", 1000);
  if (active.ok && Array.isArray(active.body) && active.body.length > 0) {
    say(`left the sidecar on ${addr.base} running: other clients are using it`);
    child.unref();
    return;
  }
  await stopChild(child);
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGTERM");
  await once(child, "exit");
}

/** How often Claude Code re-runs the status line besides its own redraws (its statusLine.refreshInterval). */
const STATUS_REFRESH_SECONDS = 2;

/** The status line, unless the user passes settings of their own (theirs win, whole). */
function withStatusLine(args: string[], addr: SidecarAddress): string[] {
  if (args.some((a) => a === "--settings" || a.startsWith("--settings="))) return args;
  const url = new URL(addr.base);
  const port = url.port || "80";
  // Claude Code runs the command through a shell.
  const command = [...selfCommand(), "statusline", "--port", port].map(shellQuote).join(" ");
  // Claude Code redraws the line on its own events, and none comes while a long prompt prefills: asked every
  // 2 s too, the line shows the prefill's progress as it goes.
  const statusLine = { type: "command", command, padding: 0, refreshInterval: STATUS_REFRESH_SECONDS };
  return ["--settings", JSON.stringify({ statusLine }), ...args];
}

/**
 * Runs Claude Code in the foreground; resolves with its exit code, or the signal that ended it, or (when it could
 * not be started at all) 127 after saying why.
 */
async function runClaude(bin: string, args: string[], env: NodeJS.ProcessEnv): Promise<number | NodeJS.Signals> {
  const child = spawn(bin, args, { env, stdio: "inherit" });
  // Ctrl-C reaches Claude Code from the terminal itself; the launcher must not die of it first.
  const ignore = () => {};
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  process.on("SIGINT", ignore).on("SIGTERM", forward).on("SIGHUP", forward);
  try {
    const [code, signal] = (await once(child, "exit")) as [number | null, NodeJS.Signals | null];
    return signal ?? code ?? 1;
  } catch (err) {
    say(`could not run ${bin}: ${(err as Error).message}`);
    return 127;
  } finally {
    process.off("SIGINT", ignore).off("SIGTERM", forward).off("SIGHUP", forward);
  }
}

function withoutDropped(env: NodeJS.ProcessEnv, drop: readonly string[]): NodeJS.ProcessEnv {
  const out = { ...env };
  for (const name of drop) delete out[name];
  return out;
}

export async function launchClaude(args: string[], config: Config, env: NodeJS.ProcessEnv): Promise<number> {
  const bin = env.LLAMA_SIDECAR_CLAUDE || findProgram("claude", env);
  if (!bin) {
    say("Claude Code is not installed: npm install -g @anthropic-ai/claude-code (or set LLAMA_SIDECAR_CLAUDE)");
    return 127;
  }
  const addr = sidecarAddress(config);
  const running = await getJson<SetupView>(addr, "/api/setup", 1500);
  if (running.ok && running.status !== 200) {
    // Something answers there: starting another on the same port would only fail.
    say(
      `the sidecar at ${addr.base} answered HTTP ${running.status}${running.status === 401 ? ": set LLAMA_SIDECAR_API_KEY to its key" : ""}`,
    );
    return 1;
  }
  const started: Started | string = running.ok ? { setup: running.body } : await startForSession(addr, config, env);
  if (typeof started === "string") {
    say(started);
    return 1;
  }
  const { setup, stop } = started;
  if (setup.upstream.state !== "online")
    say(`llama-server is ${setup.upstream.state}: Claude Code's requests wait or fail until it is online`);
  const claude = claudeSetup(setup, addr.base, addr.key, env);
  for (const line of claude.lines) say(line);
  // Only a session that goes to the sidecar: one the user points elsewhere keeps Claude Code's own setup.
  const onboarding = claude.env.ANTHROPIC_BASE_URL ? markOnboardingDone(env) : undefined;
  if (onboarding) say(onboarding);
  const result = await runClaude(
    bin,
    withStatusLine(args, addr),
    withoutDropped({ ...env, ...claude.env }, claude.drop),
  );
  await stop?.();
  if (typeof result === "number") return result;
  process.kill(process.pid, result); // ended by a signal: end the same way
  return 128;
}
