// The upstreams a sidecar serves: several llama-servers (or llama-swap, or a router-mode llama-server), each named,
// the models each serves, aliases from client model names to local ones, and where background calls go.
import * as v from "valibot";

/** An upstream's name: a bounded label value and a key in the stats file. */
const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,39}$/;

/**
 * A user and password in the URL would be shown wherever the URL is (the banner, /api/stats) and never sent: the
 * key for a llama-server started with --api-key has a setting of its own.
 */
const NO_CREDENTIALS =
  "must not hold a user or password (it would be shown in the banner and /api/stats); give a llama-server key with --upstream-api-key or --upstream-api-key-file (apiKey or apiKeyFile in a config file)";

/** Whether text is an absolute http:// or https:// URL (as `new URL` reads it). */
function isHttpUrl(text: string): boolean {
  const url = URL.canParse(text) ? new URL(text) : undefined;
  return url !== undefined && (url.protocol === "http:" || url.protocol === "https:");
}

export const httpUrl = v.pipe(
  v.string("must be an http:// or https:// URL"),
  v.check(isHttpUrl, "must be an http:// or https:// URL"),
  v.check((u) => {
    const url = URL.canParse(u) ? new URL(u) : undefined;
    return !url || (url.username === "" && url.password === "");
  }, NO_CREDENTIALS),
  v.transform((u) => u.replace(/\/+$/, "")),
);

/** A URL as it may be shown: whatever stands before an @ in its authority (a user, a password, a token) masked. */
export function shownUrl(text: string): string {
  return text.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#@]*@/i, "$1***@");
}

/** A model name or a pattern with `*` (any run of characters): "qwen3-coder", "claude-haiku-*", "*". */
const PATTERN_TEXT = "must be a model name or pattern of 1 to 200 characters";
const modelPattern = v.pipe(v.string(), v.minLength(1, PATTERN_TEXT), v.maxLength(200, PATTERN_TEXT));

/** A GPU as nvidia-smi numbers it, as a number or as text: 0, "1". */
const gpuIndex = v.pipe(
  v.union([v.number(), v.string()], "must be a GPU index such as 0"),
  v.transform(String),
  v.regex(/^\d+$/, "must be a GPU index such as 0"),
);

export const upstreamEntrySchema = v.strictObject({
  name: v.pipe(
    v.string(),
    v.regex(NAME, "must be 1-40 letters, digits, '.', '_' or '-', starting with a letter or digit"),
  ),
  url: httpUrl,
  apiKey: v.optional(v.pipe(v.string(), v.minLength(8, "must be at least 8 characters"))),
  apiKeyFile: v.optional(v.pipe(v.string(), v.minLength(1, "must name a file"))),
  /** Where its GPU is read when it is not this machine's: a DCGM exporter's or macmon's URL. */
  gpuSource: v.optional(httpUrl),
  /** The GPUs (indices, as nvidia-smi numbers them) its llama-server runs on; omitted: all of its source's. */
  gpus: v.optional(v.pipe(v.array(gpuIndex), v.minLength(1, "list at least one GPU, or leave gpus out to use all"))),
  /** Omitted: whatever the upstream's /v1/models lists, re-read whenever it comes online. */
  models: v.optional(
    v.pipe(v.array(modelPattern), v.minLength(1, "list at least one model, or leave models out to use /v1/models")),
  ),
});

export const fleetFileSchema = v.strictObject({
  upstreams: v.optional(v.pipe(v.array(upstreamEntrySchema), v.minLength(1, "name at least one upstream"))),
  /** Client model name (or pattern) -> local model name; the first that matches wins, in the file's order. */
  aliases: v.optional(v.record(modelPattern, v.pipe(v.string(), v.minLength(1, "must name a model")))),
  /** The upstream a request goes to when its model is served by none (or names none). */
  default: v.optional(v.string()),
  /** The upstream background calls with policy "route" go to. */
  background: v.optional(v.string()),
});

export type FleetFile = v.InferOutput<typeof fleetFileSchema>;

/** One upstream, as the sidecar serves it. */
export interface UpstreamSpec {
  readonly name: string;
  readonly url: string;
  readonly apiKey?: string;
  /** Names and patterns it serves; undefined: what its /v1/models lists. */
  readonly models?: readonly string[];
  /** Where its GPU is read (a URL); undefined: this machine's GPU tools. */
  readonly gpuSource?: string;
  /** The GPUs it runs on, by index; undefined: every GPU its source reports. */
  readonly gpus?: readonly string[];
}

export interface Alias {
  readonly pattern: string;
  readonly model: string;
}

/** The upstreams part of the config, resolved. */
export interface Fleet {
  readonly upstreams: readonly UpstreamSpec[];
  readonly aliases: readonly Alias[];
  /** Name of the upstream for requests whose model no upstream serves; undefined: those get a 404. */
  readonly defaultUpstream?: string;
  /** Name of the upstream for background calls with policy "route". */
  readonly backgroundUpstream?: string;
}

/** Does a model name match a name or `*` pattern? Case-sensitive, as llama-server's own model names are. */
export function matchesModel(pattern: string, model: string): boolean {
  if (!pattern.includes("*")) return pattern === model;
  const parts = pattern.split("*");
  const first = parts[0] ?? "";
  const last = parts.at(-1) ?? "";
  if (!model.startsWith(first) || model.length < first.length + last.length || !model.endsWith(last)) return false;
  let at = first.length;
  for (const part of parts.slice(1, -1)) {
    const found = model.indexOf(part, at);
    if (found < 0 || found + part.length > model.length - last.length) return false;
    at = found + part.length;
  }
  return true;
}

/** Problems found across entries, each with the path it concerns. */
export function crossCheck(fleet: Fleet): { path: (string | number)[]; message: string }[] {
  const problems: { path: (string | number)[]; message: string }[] = [];
  const names = fleet.upstreams.map((u) => u.name);
  names.forEach((name, i) => {
    if (names.indexOf(name) !== i)
      problems.push({ path: ["upstreams", i, "name"], message: `"${name}" is used twice` });
  });
  for (const [key, value] of [
    ["default", fleet.defaultUpstream],
    ["background", fleet.backgroundUpstream],
  ] as const) {
    if (value !== undefined && !names.includes(value))
      problems.push({ path: [key], message: `no upstream is named "${value}" (there are: ${names.join(", ")})` });
  }
  // Where every upstream lists its models, an alias to a model none serves is a mistake found now, not per request.
  const listed = fleet.upstreams.every((u) => u.models !== undefined);
  if (listed && fleet.defaultUpstream === undefined) {
    for (const alias of fleet.aliases) {
      if (!fleet.upstreams.some((u) => u.models?.some((p) => matchesModel(p, alias.model))))
        problems.push({ path: ["aliases", alias.pattern], message: `no upstream serves "${alias.model}"` });
    }
  }
  return problems;
}
