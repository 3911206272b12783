// The one table of settings: each has a flag, an env var and a schema, so the three never drift apart.
import { homedir } from "node:os";
import { join } from "node:path";
import * as v from "valibot";
import { httpUrl } from "./upstreams.js";

/** Decimal notation only: from a flag or env var, "", " ", "0x50" or "1e3" are errors, not 0, 80 or 1000. */
const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)$/;

/** A bound's message, in the words the settings' errors have always used ("Too big: expected number to be <=65535"). */
const atMost = (max: number) => v.maxValue<number, number, string>(max, `Too big: expected number to be <=${max}`);
const atLeast = (min: number) => v.minValue<number, number, string>(min, `Too small: expected number to be >=${min}`);
const aboveZero = v.gtValue<number, 0, string>(0, "Too small: expected number to be >0");
const nonEmpty = v.minLength<string, 1, string>(1, "Too small: expected string to have >=1 characters");

/**
 * A number given as text on the command line or in the environment (or as a number), then checked; only a value
 * that is not a number at all gets `notANumber`, range checks keep their own messages.
 */
const decimal = (notANumber: string) =>
  v.pipe(
    v.unknown(),
    v.transform((x) => (typeof x === "string" && DECIMAL.test(x.trim()) ? Number(x) : x)),
    v.number(notANumber),
  );
const number = () => decimal("must be a decimal number");
const integer = () => v.pipe(decimal("must be a whole decimal number"), v.integer("must be a whole decimal number"));

const seconds = (min: number, max: number) => v.pipe(number(), atLeast(min), atMost(max));

/** Resolved against the env being parsed (not this process's), so tests and containers get theirs. */
export function defaultDataDir(env: NodeJS.ProcessEnv): string {
  const base = env.XDG_DATA_HOME || join(env.HOME || homedir(), ".local", "share");
  return join(base, "llama-sidecar");
}

/** One of a few words, the message naming them all. */
const oneOf = <const T extends string>(words: readonly [T, ...T[]]) =>
  v.picklist(words, `Invalid option: expected one of ${words.map((w) => JSON.stringify(w)).join("|")}`);

const policy = oneOf(["forward", "route", "local"]);

/** On and off as people write them: true/false, yes/no, on/off, 1/0, y/n, enabled/disabled (any case). */
const SWITCH = new Map<string, boolean>([
  ...["true", "1", "yes", "on", "y", "enabled"].map((w) => [w, true] as const),
  ...["false", "0", "no", "off", "n", "disabled"].map((w) => [w, false] as const),
]);
const onOff = (fallback: boolean) =>
  v.optional(
    v.pipe(
      v.unknown(),
      v.transform((x) => (typeof x === "string" ? SWITCH.get(x.trim().toLowerCase()) : x)),
      v.boolean("must be true or false (yes/no, on/off, 1/0)"),
    ),
    fallback,
  );

/** A comma-separated list, each item trimmed, empty ones dropped. */
const list = (item: v.GenericSchema<string, string>) =>
  v.pipe(
    v.unknown(),
    v.transform((x) =>
      typeof x === "string"
        ? x
            .split(",")
            .map((s) => s.trim())
            .filter(Boolean)
        : x,
    ),
    v.array(item),
  );

/** An origin as browsers send it: scheme, host and port, nothing after (extensions' and apps' schemes too). */
const origin = v.pipe(
  v.string(),
  v.regex(
    /^[a-z][a-z0-9+.-]*:\/\/[^/\s]+$/i,
    "must be an origin such as http://localhost:3000 or chrome-extension://<id> (no path)",
  ),
  v.toLowerCase(),
);

/**
 * A secret: at least 8 characters, so a stray short value is not taken for a key. Spaces around it are dropped, as
 * from a key file's line: a header's value never keeps them, so such a key could never match.
 */
const secret = v.pipe(v.string(), v.trim(), v.minLength(8, "must be at least 8 characters"));

/** Text that names something (a file, an address): not empty. */
const text = v.pipe(v.string(), nonEmpty);

/** A price per kWh with its ISO 4217 currency, either side: "0.30 EUR", "0.3EUR", "USD 0.15". */
export const energyPriceSchema = v.pipe(
  v.string(),
  v.rawTransform(({ dataset, addIssue, NEVER }) => {
    const m = /^\s*(?:([A-Za-z]{3})\s*([0-9]*\.?[0-9]+)|([0-9]*\.?[0-9]+)\s*([A-Za-z]{3}))\s*$/.exec(dataset.value);
    const amount = Number(m?.[2] ?? m?.[3]);
    const currency = (m?.[1] ?? m?.[4])?.toUpperCase();
    if (!m || !currency || !Number.isFinite(amount) || amount <= 0 || amount > 100) {
      addIssue({ message: 'must be a price per kWh and its currency code, such as "0.30 EUR"' });
      return NEVER;
    }
    return Object.freeze({ perKwh: amount, currency });
  }),
);

/** A regular expression as text: one that does not compile is refused now, not at the first body it would redact. */
const pattern = v.pipe(
  v.string(),
  v.check((p) => {
    try {
      new RegExp(p, "g");
      return true;
    } catch {
      return false;
    }
  }, "must be regular expressions, comma-separated"),
);

/**
 * Every setting, keyed by its config name. The flag is the kebab-case name (`dataDir` -> `--data-dir`)
 * and the env var is LLAMA_SIDECAR_ + SCREAMING_SNAKE (`LLAMA_SIDECAR_DATA_DIR`).
 */
export const OPTIONS = {
  config: {
    schema: v.optional(text),
    help: "a YAML or JSON file of settings by their names (port: 9090), and of several upstreams, model aliases and where background calls go (see the README); flags and env vars win over it",
  },
  upstream: {
    schema: v.optional(httpUrl, "http://127.0.0.1:8080"),
    help: "llama-server base URL (one upstream; for several, list them in the --config file)",
  },
  host: {
    schema: v.optional(text, "127.0.0.1"),
    help: "address to listen on (0.0.0.0 to accept other machines)",
  },
  port: {
    schema: v.optional(v.pipe(integer(), atLeast(0), atMost(65535)), 9090),
    help: "port to listen on (0 picks a free one)",
  },
  dataDir: {
    schema: text,
    help: "folder for persisted totals and history (default $XDG_DATA_HOME/llama-sidecar or ~/.local/share/llama-sidecar)",
  },
  logRetentionDays: {
    schema: v.optional(v.pipe(number(), aboveZero, atMost(36500)), 30),
    help: "days the request log (requests.db in the data dir) keeps each finished request",
  },
  logMaxMb: {
    schema: v.optional(v.pipe(number(), atLeast(1), atMost(1048576)), 1024),
    help: "most MiB the request log may take on disk; past that the oldest requests go first",
  },
  maxBodyMb: {
    schema: v.optional(v.pipe(number(), aboveZero, atMost(4096)), 64),
    help: "largest request body accepted, in MiB (413 above it)",
  },
  upstreamTimeout: {
    schema: v.optional(seconds(1, 86400), 1800),
    help: "seconds to wait for llama-server's response headers and between body chunks (long prefills need minutes)",
  },
  healthInterval: {
    schema: v.optional(seconds(0.1, 3600), 5),
    help: "seconds between llama-server health checks",
  },
  scrapeInterval: {
    schema: v.optional(seconds(1, 3600), 10),
    help: "seconds between scrapes of llama-server's /metrics and /slots",
  },
  normalizeBillingHeader: {
    schema: onOff(true),
    help: "make Claude Code's per-request x-anthropic-billing-header constant so the prompt cache keeps working",
  },
  promptProgress: {
    schema: onOff(true),
    help: "ask llama-server for prefill progress on forwarded streams (return_progress) for the live views, and strip it from what clients get unless they asked",
  },
  backgroundTitle: {
    schema: v.optional(policy, "local"),
    help: "Claude Code title generation: local (answer here), forward (to llama-server, low priority) or route",
  },
  backgroundTopic: {
    schema: v.optional(policy, "local"),
    help: "Claude Code new-topic checks: local, forward or route",
  },
  backgroundQuota: {
    schema: v.optional(policy, "local"),
    help: "Claude Code quota probes (max_tokens 1): local, forward or route",
  },
  backgroundHaiku: {
    schema: v.optional(policy, "forward"),
    help: "other Haiku-class background calls: forward, route or local",
  },
  backgroundUpstream: {
    schema: v.optional(httpUrl),
    help: "second llama-server (a small model) for background calls whose policy is route (in a --config file: background: <upstream name>)",
  },
  gpuSource: {
    schema: v.optional(httpUrl),
    help: "where the GPU of llama-server is read when it runs on another box: a DCGM exporter's /metrics, or macmon serve's /metrics or /json (unset: this machine's nvidia-smi, amd-smi or macmon; per upstream: gpuSource in the --config file)",
  },
  energyPrice: {
    schema: v.optional(energyPriceSchema),
    help: 'electricity price per kWh with its currency ("0.30 EUR"): the GPU\'s energy is then also shown as money',
  },
  maxInFlight: {
    schema: v.optional(v.pipe(integer(), atLeast(0), atMost(1024)), 0),
    help: "requests in flight to llama-server at once; 0 follows its slot count (/props total_slots)",
  },
  queueMax: {
    schema: v.optional(v.pipe(integer(), atLeast(0), atMost(100000)), 64),
    help: "requests that may wait for a slot; past that, 429 with Retry-After",
  },
  queueTimeout: {
    schema: v.optional(seconds(1, 86400), 900),
    help: "seconds a request may wait for a slot before a 429",
  },
  translate: {
    schema: v.optional(oneOf(["auto", "always", "never"]), "auto"),
    help: "Anthropic-to-OpenAI translation: auto (when llama-server lacks /v1/messages), always, never",
  },
  captureContent: {
    schema: onOff(false),
    help: "put prompt and completion text on spans (gen_ai.input.messages, gen_ai.output.messages, gen_ai.system_instructions, 32 KB each); off: only counts and timings",
  },
  captureMaxKb: {
    schema: v.optional(v.pipe(number(), atLeast(1), atMost(65536)), 256),
    help: "with --capture-content, the most KiB of each request and response body the request log keeps (compressed)",
  },
  captureRedact: {
    schema: v.optional(list(pattern), []),
    help: "with --capture-content, patterns (regular expressions, comma-separated) replaced by [redacted] before a body is stored, besides API keys' and tokens' usual shapes and the sidecar's own keys",
  },
  allowedOrigins: {
    schema: v.optional(list(origin), []),
    help: "web origins (comma-separated, e.g. http://localhost:3000) whose pages may call the sidecar; every other cross-origin browser request gets 403",
  },
  allowedHosts: {
    schema: v.optional(
      list(v.pipe(v.string(), v.regex(/^[a-zA-Z0-9.-]+$/, "must be host names, comma-separated"))),
      [],
    ),
    help: "host names clients may use in the Host header besides localhost, this machine's name and IP addresses (e.g. sidecar,gpu-box.lan); others get 403 (DNS rebinding)",
  },
  apiKey: {
    schema: v.optional(secret),
    help: "key clients must send (Authorization: Bearer … or x-api-key) on model routes and /api/*",
  },
  apiKeyFile: {
    schema: v.optional(text),
    help: "file holding the API key (a mounted secret); its first line is the key",
  },
  protectMetrics: {
    schema: onOff(false),
    help: "require the API key on /metrics and /healthz too (Prometheus then sends it in its scrape config)",
  },
  upstreamApiKey: {
    schema: v.optional(secret),
    help: "key to send to a llama-server started with --api-key (forwarded requests and the sidecar's own calls)",
  },
  upstreamApiKeyFile: {
    schema: v.optional(text),
    help: "file holding the upstream API key; its first line is the key",
  },
  logLevel: {
    schema: v.optional(oneOf(["fatal", "error", "warn", "info", "debug", "trace", "silent"]), "info"),
    help: "log level",
  },
  logFormat: {
    schema: v.optional(oneOf(["auto", "pretty", "json"]), "auto"),
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
