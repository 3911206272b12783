// The one table of settings: each has a flag, an env var and a schema, so the three never drift apart.
import { homedir } from "node:os";
import { join } from "node:path";
import { z } from "zod";

const seconds = (min: number, max: number) => z.coerce.number().min(min).max(max);

/** Resolved against the env being parsed (not this process's), so tests and containers get theirs. */
export function defaultDataDir(env: NodeJS.ProcessEnv): string {
  const base = env.XDG_DATA_HOME || join(env.HOME || homedir(), ".local", "share");
  return join(base, "llama-sidecar");
}

const httpUrl = z
  .url({ protocol: /^https?$/, error: "must be an http:// or https:// URL" })
  .transform((u) => u.replace(/\/+$/, ""));

/**
 * Every setting, keyed by its config name. The flag is the kebab-case name (`dataDir` -> `--data-dir`)
 * and the env var is LLAMA_SIDECAR_ + SCREAMING_SNAKE (`LLAMA_SIDECAR_DATA_DIR`).
 */
export const OPTIONS = {
  upstream: {
    schema: httpUrl.default("http://127.0.0.1:8080"),
    help: "llama-server base URL",
  },
  host: {
    schema: z.string().min(1).default("127.0.0.1"),
    help: "address to listen on (0.0.0.0 to accept other machines)",
  },
  port: {
    schema: z.coerce.number().int().min(0).max(65535).default(9090),
    help: "port to listen on (0 picks a free one)",
  },
  dataDir: {
    schema: z.string().min(1),
    help: "folder for persisted totals and history (default $XDG_DATA_HOME/llama-sidecar or ~/.local/share/llama-sidecar)",
  },
  maxBodyMb: {
    schema: z.coerce.number().positive().max(4096).default(64),
    help: "largest request body accepted, in MiB (413 above it)",
  },
  upstreamTimeout: {
    schema: seconds(1, 86400).default(1800),
    help: "seconds to wait for llama-server's response headers and between body chunks (long prefills need minutes)",
  },
  healthInterval: {
    schema: seconds(0.1, 3600).default(5),
    help: "seconds between llama-server health checks",
  },
  scrapeInterval: {
    schema: seconds(1, 3600).default(10),
    help: "seconds between scrapes of llama-server's /metrics and /slots",
  },
  captureContent: {
    schema: z.stringbool().default(false),
    help: "record prompt and completion text in spans (off: only counts and timings leave the process)",
  },
  logLevel: {
    schema: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
    help: "log level",
  },
  logFormat: {
    schema: z.enum(["auto", "pretty", "json"]).default("auto"),
    help: "log format: pretty for terminals, json for machines, auto picks by TTY",
  },
} as const;

export type OptionName = keyof typeof OPTIONS;

export const optionNames = Object.keys(OPTIONS) as OptionName[];

export function flagName(name: OptionName): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

export function envName(name: OptionName): string {
  return `LLAMA_SIDECAR_${flagName(name).replace(/-/g, "_").toUpperCase()}`;
}
