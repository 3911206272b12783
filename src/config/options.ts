// The one table of settings: each has a flag, an env var and a schema, so the three never drift apart.
import { homedir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { httpUrl } from "./upstreams.js";

/** Decimal notation only: from a flag or env var, "", " ", "0x50" or "1e3" are errors, not 0, 80 or 1000. */
const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)$/;

/** A number given as text on the command line or in the environment, checked by `schema`. */
const decimal = (schema: z.ZodNumber) =>
  z.preprocess((v) => (typeof v === "string" && DECIMAL.test(v.trim()) ? Number(v) : v), schema);

// Only a value that is not a number at all gets this message; range checks keep their own.
const typeError = (message: string) => (issue: { code: string }) =>
  issue.code === "invalid_type" ? message : undefined;
const number = () => z.number({ error: typeError("must be a decimal number") });
const integer = () => z.int({ error: typeError("must be a whole decimal number") });

const seconds = (min: number, max: number) => decimal(number().min(min).max(max));

/** Resolved against the env being parsed (not this process's), so tests and containers get theirs. */
export function defaultDataDir(env: NodeJS.ProcessEnv): string {
  const base = env.XDG_DATA_HOME || join(env.HOME || homedir(), ".local", "share");
  return join(base, "llama-sidecar");
}

const policy = z.enum(["forward", "route", "local"]);

/** A comma-separated list, each item trimmed, empty ones dropped. */
const list = (item: z.ZodType<string>) =>
  z.preprocess(
    (v) =>
      typeof v === "string"
        ? v
            .split(",")
            .map((x) => x.trim())
            .filter(Boolean)
        : v,
    z.array(item),
  );

/** An origin as browsers send it: scheme, host and port, nothing after (extensions' and apps' schemes too). */
const origin = z
  .string()
  .regex(/^[a-z][a-z0-9+.-]*:\/\/[^/\s]+$/i, {
    error: "must be an origin such as http://localhost:3000 or chrome-extension://<id> (no path)",
  })
  .transform((o) => o.toLowerCase());

/**
 * A secret: at least 8 characters, so a stray short value is not taken for a key. Spaces around it are dropped, as
 * from a key file's line: a header's value never keeps them, so such a key could never match.
 */
const secret = z.string().trim().min(8, { error: "must be at least 8 characters" });

/** A price per kWh with its ISO 4217 currency, either side: "0.30 EUR", "0.3EUR", "USD 0.15". */
export const energyPriceSchema = z.string().transform((text, ctx) => {
  const m = /^\s*(?:([A-Za-z]{3})\s*([0-9]*\.?[0-9]+)|([0-9]*\.?[0-9]+)\s*([A-Za-z]{3}))\s*$/.exec(text);
  const amount = Number(m?.[2] ?? m?.[3]);
  const currency = (m?.[1] ?? m?.[4])?.toUpperCase();
  if (!m || !currency || !Number.isFinite(amount) || amount <= 0 || amount > 100) {
    ctx.addIssue({ code: "custom", message: 'must be a price per kWh and its currency code, such as "0.30 EUR"' });
    return z.NEVER;
  }
  return Object.freeze({ perKwh: amount, currency });
});

/**
 * Every setting, keyed by its config name. The flag is the kebab-case name (`dataDir` -> `--data-dir`)
 * and the env var is LLAMA_SIDECAR_ + SCREAMING_SNAKE (`LLAMA_SIDECAR_DATA_DIR`).
 */
export const OPTIONS = {
  config: {
    schema: z.string().min(1).optional(),
    help: "a YAML or JSON file of settings by their names (port: 9090), and of several upstreams, model aliases and where background calls go (see the README); flags and env vars win over it",
  },
  upstream: {
    schema: httpUrl.default("http://127.0.0.1:8080"),
    help: "llama-server base URL (one upstream; for several, list them in the --config file)",
  },
  host: {
    schema: z.string().min(1).default("127.0.0.1"),
    help: "address to listen on (0.0.0.0 to accept other machines)",
  },
  port: {
    schema: decimal(integer().min(0).max(65535)).default(9090),
    help: "port to listen on (0 picks a free one)",
  },
  dataDir: {
    schema: z.string().min(1),
    help: "folder for persisted totals and history (default $XDG_DATA_HOME/llama-sidecar or ~/.local/share/llama-sidecar)",
  },
  logRetentionDays: {
    schema: decimal(number().positive().max(36500)).default(30),
    help: "days the request log (requests.db in the data dir) keeps each finished request",
  },
  logMaxMb: {
    schema: decimal(number().min(1).max(1048576)).default(1024),
    help: "most MiB the request log may take on disk; past that the oldest requests go first",
  },
  maxBodyMb: {
    schema: decimal(number().positive().max(4096)).default(64),
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
  normalizeBillingHeader: {
    schema: z.stringbool().default(true),
    help: "make Claude Code's per-request x-anthropic-billing-header constant so the prompt cache keeps working",
  },
  promptProgress: {
    schema: z.stringbool().default(true),
    help: "ask llama-server for prefill progress on forwarded streams (return_progress) for the live views, and strip it from what clients get unless they asked",
  },
  backgroundTitle: {
    schema: policy.default("local"),
    help: "Claude Code title generation: local (answer here), forward (to llama-server, low priority) or route",
  },
  backgroundTopic: {
    schema: policy.default("local"),
    help: "Claude Code new-topic checks: local, forward or route",
  },
  backgroundQuota: {
    schema: policy.default("local"),
    help: "Claude Code quota probes (max_tokens 1): local, forward or route",
  },
  backgroundHaiku: {
    schema: policy.default("forward"),
    help: "other Haiku-class background calls: forward, route or local",
  },
  backgroundUpstream: {
    schema: httpUrl.optional(),
    help: "second llama-server (a small model) for background calls whose policy is route (in a --config file: background: <upstream name>)",
  },
  gpuSource: {
    schema: httpUrl.optional(),
    help: "where the GPU of llama-server is read when it runs on another box: a DCGM exporter's /metrics, or macmon serve's /metrics or /json (unset: this machine's nvidia-smi, amd-smi or macmon; per upstream: gpuSource in the --config file)",
  },
  energyPrice: {
    schema: energyPriceSchema.optional(),
    help: 'electricity price per kWh with its currency ("0.30 EUR"): the GPU\'s energy is then also shown as money',
  },
  maxInFlight: {
    schema: decimal(integer().min(0).max(1024)).default(0),
    help: "requests in flight to llama-server at once; 0 follows its slot count (/props total_slots)",
  },
  queueMax: {
    schema: decimal(integer().min(0).max(100000)).default(64),
    help: "requests that may wait for a slot; past that, 429 with Retry-After",
  },
  queueTimeout: {
    schema: seconds(1, 86400).default(900),
    help: "seconds a request may wait for a slot before a 429",
  },
  translate: {
    schema: z.enum(["auto", "always", "never"]).default("auto"),
    help: "Anthropic-to-OpenAI translation: auto (when llama-server lacks /v1/messages), always, never",
  },
  captureContent: {
    schema: z.stringbool().default(false),
    help: "put prompt and completion text on spans (gen_ai.input.messages, gen_ai.output.messages, gen_ai.system_instructions, 32 KB each); off: only counts and timings",
  },
  captureMaxKb: {
    schema: decimal(number().min(1).max(65536)).default(256),
    help: "with --capture-content, the most KiB of each request and response body the request log keeps (compressed)",
  },
  captureRedact: {
    schema: list(
      z.string().refine(
        (p) => {
          try {
            new RegExp(p, "g");
            return true;
          } catch {
            return false;
          }
        },
        { error: "must be regular expressions, comma-separated" },
      ),
    ).default([]),
    help: "with --capture-content, patterns (regular expressions, comma-separated) replaced by [redacted] before a body is stored, besides API keys' and tokens' usual shapes and the sidecar's own keys",
  },
  allowedOrigins: {
    schema: list(origin).default([]),
    help: "web origins (comma-separated, e.g. http://localhost:3000) whose pages may call the sidecar; every other cross-origin browser request gets 403",
  },
  allowedHosts: {
    schema: list(z.string().regex(/^[a-zA-Z0-9.-]+$/, { error: "must be host names, comma-separated" })).default([]),
    help: "host names clients may use in the Host header besides localhost, this machine's name and IP addresses (e.g. sidecar,gpu-box.lan); others get 403 (DNS rebinding)",
  },
  apiKey: {
    schema: secret.optional(),
    help: "key clients must send (Authorization: Bearer … or x-api-key) on model routes and /api/*",
  },
  apiKeyFile: {
    schema: z.string().min(1).optional(),
    help: "file holding the API key (a mounted secret); its first line is the key",
  },
  protectMetrics: {
    schema: z.stringbool().default(false),
    help: "require the API key on /metrics and /healthz too (Prometheus then sends it in its scrape config)",
  },
  upstreamApiKey: {
    schema: secret.optional(),
    help: "key to send to a llama-server started with --api-key (forwarded requests and the sidecar's own calls)",
  },
  upstreamApiKeyFile: {
    schema: z.string().min(1).optional(),
    help: "file holding the upstream API key; its first line is the key",
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

/** Settings as given, each with where it came from (a flag, an env var, the config file), for its error message. */
export type Source = Partial<Record<OptionName, { value: string; origin: string }>>;
