// Parses flags and env vars once, validates them with the schema and returns a frozen, typed Config.
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { parseArgs } from "node:util";
import * as v from "valibot";
import { type ConfigFile, readConfigFile } from "./file.js";
import { resolveFleet } from "./fleet.js";
import { defaultDataDir, envName, flagName, OPTIONS, type OptionName, optionNames, type Source } from "./options.js";
import { type Fleet, shownUrl } from "./upstreams.js";

const shape = Object.fromEntries(optionNames.map((n) => [n, OPTIONS[n].schema])) as {
  [K in OptionName]: (typeof OPTIONS)[K]["schema"];
};
const configSchema = v.strictObject(shape);

/** The settings, with the upstreams resolved (one from --upstream, or the config file's list). */
export type Config = Readonly<v.InferOutput<typeof configSchema> & Fleet & CommandLineKeys>;

/** Keys given as flags, which any user of this machine can read in `ps`: the banner points to safer ways. */
interface CommandLineKeys {
  keysOnCommandLine: readonly string[];
}

/** A bad setting, named the way the user wrote it (flag or env var). */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join("\n  ")}`);
    this.name = "ConfigError";
  }
}

export type ParseResult = { kind: "config"; config: Config } | { kind: "help"; text: string } | { kind: "version" };

function fromEnv(env: NodeJS.ProcessEnv): Source {
  const out: Source = {};
  for (const name of optionNames) {
    const value = env[envName(name)];
    if (value !== undefined && value !== "") out[name] = { value, origin: envName(name) };
  }
  return out;
}

/** On/off settings, which may be given as a bare flag (--capture-content) as well as with a value. */
const switches = new Set(
  optionNames.filter((n) => v.safeParse(OPTIONS[n].schema, "true").output === true).map((n) => `--${flagName(n)}`),
);

/** A bare switch, at the end or before the next flag, means "true". */
function withSwitchValues(argv: string[]): string[] {
  return argv.map((arg, i) => {
    const next = argv[i + 1];
    return switches.has(arg) && (next === undefined || next.startsWith("--")) ? `${arg}=true` : arg;
  });
}

function fromArgv(argv: string[]): { source: Source; help: boolean; version: boolean } {
  argv = withSwitchValues(argv);
  const options = Object.fromEntries(optionNames.map((n) => [flagName(n), { type: "string" as const }]));
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: argv,
      options: { ...options, help: { type: "boolean", short: "h" }, version: { type: "boolean" } },
      strict: true,
      allowPositionals: false,
    });
  } catch (err) {
    throw new ConfigError([(err as Error).message]);
  }
  const source: Source = {};
  for (const name of optionNames) {
    const value = parsed.values[flagName(name)];
    if (typeof value === "string") source[name] = { value, origin: `--${flagName(name)}` };
  }
  return { source, help: parsed.values.help === true, version: parsed.values.version === true };
}

function helpText(): string {
  const rows = optionNames.map((n) => {
    // An optional setting without a default shows none (not "default undefined").
    const def = v.safeParse(OPTIONS[n].schema, undefined);
    const shown = def.success && def.output !== undefined ? `, default ${JSON.stringify(def.output)}` : "";
    return `  --${flagName(n)} <value>\n      ${OPTIONS[n].help}\n      env ${envName(n)}${shown}`;
  });
  return [
    "llama-sidecar: a measuring proxy in front of llama-server",
    "",
    "usage: llama-sidecar [options]",
    "       llama-sidecar claude [claude's own arguments]   run Claude Code set up for this sidecar's model",
    "       llama-sidecar env <client> [options]            print settings for claude, cline, continue, the SDKs",
    "       llama-sidecar statusline [options]              Claude Code's statusLine command",
    "",
    ...rows,
    "  -h, --help      show this help",
    "  --version       print the version",
    "",
    "Flags override env vars. Standard OTEL_* variables configure OpenTelemetry",
    "(e.g. OTEL_EXPORTER_OTLP_ENDPOINT turns on OTLP trace export).",
  ].join("\n");
}

/** The config file named by --config (or its env var), with its settings as a source below env vars and flags. */
function fileSource(given: Source): { file?: ConfigFile; path?: string; source: Source } {
  const path = given.config?.value;
  if (path === undefined) return { source: {} };
  let file: ConfigFile;
  try {
    file = readConfigFile(path);
  } catch (err) {
    if (Array.isArray(err)) throw new ConfigError(err as string[]);
    throw err;
  }
  const source: Source = {};
  for (const [k, value] of Object.entries(file.settings)) {
    // A key file named in a config file is found beside it, as an upstream's apiKeyFile is.
    const where = KEY_FILES.has(k) && value !== "" ? resolve(dirname(path), value) : value;
    source[k as OptionName] = { value: where, origin: `${path}: ${k}` };
  }
  return { file, path, source };
}

/** Every problem in the settings at once, each named the way the user gave it. */
function settingProblems(issues: readonly v.BaseIssue<unknown>[], merged: Source): string[] {
  return issues.map((issue) => problem(issue.path?.[0]?.key as OptionName, issue.message, merged));
}

function problem(key: OptionName, message: string, merged: Source): string {
  const origin = merged[key]?.origin ?? String(key);
  // A key is never echoed, not even a wrong one.
  const value = merged[key]?.value;
  const shown = SECRETS.has(key) ? "(hidden)" : JSON.stringify(value === undefined ? value : shownUrl(value));
  return `${origin}=${shown}: ${message}`;
}

/** A key and the file holding it are one setting given twice: which one to use is the user's to say. */
function givenTwice(merged: Source): string[] {
  return KEY_PAIRS.filter(([key, file]) => merged[key] !== undefined && merged[file] !== undefined).map(([, file]) =>
    problem(file, "give the key or the file, not both", merged),
  );
}

function fleetOf(settings: Settings, merged: Source, file: ReturnType<typeof fileSource>): Fleet {
  try {
    return resolveFleet(settings, merged, file);
  } catch (err) {
    if (Array.isArray(err)) throw new ConfigError(err as string[]);
    throw err;
  }
}

type Settings = v.InferOutput<typeof configSchema>;

/** Flags win over env vars, env vars over the config file; every bad value is reported at once, by its name. */
export function parseConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): ParseResult {
  const args = fromArgv(argv);
  if (args.help) return { kind: "help", text: helpText() };
  if (args.version) return { kind: "version" };
  const given: Source = { ...fromEnv(env), ...args.source };
  const file = fileSource(given);
  const merged: Source = { ...file.source, ...given };
  const raw: Record<string, string> = Object.fromEntries(Object.entries(merged).map(([k, v]) => [k, v.value]));
  raw.dataDir ??= defaultDataDir(env);
  const result = v.safeParse(configSchema, raw);
  const problems = [
    ...(file.file?.problems ?? []),
    ...(result.success ? [] : settingProblems(result.issues, merged)),
    ...givenTwice(merged),
  ];
  if (!result.success || problems.length > 0) throw new ConfigError(problems);
  const settings = withKeyFiles(result.output, merged);
  const keysOnCommandLine = [...SECRETS].filter((k) => args.source[k] !== undefined).map((k) => `--${flagName(k)}`);
  const config = { ...settings, ...fleetOf(settings, merged, file), keysOnCommandLine };
  return { kind: "config", config: Object.freeze(config) };
}

const SECRETS: ReadonlySet<OptionName> = new Set(["apiKey", "upstreamApiKey"]);
const KEY_PAIRS = [
  ["apiKey", "apiKeyFile"],
  ["upstreamApiKey", "upstreamApiKeyFile"],
] as const;
const KEY_FILES: ReadonlySet<string> = new Set(["apiKeyFile", "upstreamApiKeyFile"]);

/** Reads keys given as files (mounted secrets) into the config; an unreadable or empty file is a bad setting. */
function withKeyFiles(config: Settings, merged: Source): Settings {
  const out = { ...config };
  const problems: string[] = [];
  for (const [key, file] of KEY_PAIRS) {
    const path = config[file];
    if (path === undefined) continue;
    const origin = merged[file]?.origin ?? file;
    try {
      const value = (readFileSync(path, "utf8").split(/\r?\n/)[0] ?? "").trim();
      if (value.length < 8)
        problems.push(`${origin}=${JSON.stringify(path)}: the key in it must be at least 8 characters`);
      else out[key] = value;
    } catch (err) {
      problems.push(
        `${origin}=${JSON.stringify(path)}: cannot read it (${(err as NodeJS.ErrnoException).code ?? err})`,
      );
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return out;
}

/** The upstream requests without a model go to, and that a stats file from before upstream lists migrates to. */
export function primaryUpstream(config: Config): string {
  return config.defaultUpstream ?? config.upstreams[0]?.name ?? "default";
}
