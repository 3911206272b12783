// The client commands: `claude` (launch Claude Code set up for the sidecar), `env <client>` (settings to paste) and
// `statusline` (Claude Code's status line). Settings come from the same flags and LLAMA_SIDECAR_* variables as the
// sidecar's, so each finds the sidecar where it listens. Each command loads what it needs when it runs: a status
// line's start is most of its answer time.
import type { Config } from "../config/load.js";
import type { SetupView } from "../wire/setup-view.js";
import { ENV_CLIENTS, type EnvClient } from "./env-names.js";
import { quickAddress } from "./quick-address.js";
import { getJson, sidecarAddress } from "./sidecar-api.js";

const USAGE = `usage:
  llama-sidecar claude [claude's own arguments]    run Claude Code set up for the local model
  llama-sidecar env <client> [settings]            print settings for ${ENV_CLIENTS.join(", ")}
  llama-sidecar statusline [settings]              Claude Code's statusLine command`;

/**
 * The settings, or the exit status when there are none to go on (help, version, a bad setting). The schema is
 * loaded only here: a status line that reads its address quickly never pays for it.
 */
async function settings(args: string[]): Promise<Config | number> {
  const { ConfigError, parseConfig } = await import("../config/load.js");
  try {
    const parsed = parseConfig(args, process.env);
    if (parsed.kind === "config") return parsed.config;
    process.stdout.write(`${USAGE}\n`);
    return 0;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`llama-sidecar: ${err.message}\n\n${USAGE}\n`);
    return 2;
  }
}

async function env(args: string[]): Promise<number> {
  const [client, ...rest] = args;
  if (!ENV_CLIENTS.includes(client as EnvClient)) {
    process.stderr.write(`llama-sidecar: env needs one of ${ENV_CLIENTS.join(", ")}\n\n${USAGE}\n`);
    return 2;
  }
  const config = await settings(rest);
  if (typeof config === "number") return config;
  const addr = sidecarAddress(config);
  const r = await getJson<SetupView>(addr, "/api/setup", 2000);
  const setup: SetupView =
    r.ok && r.status === 200 ? r.body : { version: "", upstream: { state: "unknown" }, keyRequired: false };
  if (!(r.ok && r.status === 200)) {
    process.stderr.write(
      `llama-sidecar: no sidecar answered at ${addr.base} (${r.ok ? `HTTP ${r.status}` : r.reason}): start it for the real model name and context size\n`,
    );
  }
  const { envFor } = await import("./env-command.js");
  process.stdout.write(`${envFor(client as EnvClient, { setup, base: addr.base, key: config.apiKey })}\n`);
  return 0;
}

export async function runClientCommand(name: string, args: string[]): Promise<number> {
  switch (name) {
    case "claude": {
      // Every argument is Claude Code's: the sidecar's settings come from LLAMA_SIDECAR_* variables here.
      const config = await settings([]);
      if (typeof config === "number") return config;
      const { launchClaude } = await import("./launch-claude.js");
      return launchClaude(args, config, process.env);
    }
    case "env":
      return env(args);
    default: {
      const quick = quickAddress(args, process.env);
      const config = quick ? undefined : await settings(args);
      if (typeof config === "number") {
        // A status line never fails: Claude Code would show the failure where the line goes.
        process.stdout.write("llama-sidecar: statusline settings not understood\n");
        return 0;
      }
      const addr = quick ?? sidecarAddress(config as Config);
      const { statusline } = await import("./statusline.js");
      process.stdout.write(`${await statusline(addr, process.stdin)}\n`);
      return 0;
    }
  }
}
