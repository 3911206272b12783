// Reads the config file (--config, YAML or JSON): any setting by its config name, plus the upstreams, aliases and
// where background calls go. Every problem is reported with the file and the path inside it.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import * as v from "valibot";
import type { parse } from "yaml";
import { type OptionName, optionNames } from "./options.js";
import { type FleetFile, fleetFileSchema } from "./upstreams.js";

export interface ConfigFile {
  /** Settings given by their config names, as text (the way flags and env vars give them). */
  settings: Partial<Record<OptionName, string>>;
  /** The upstreams part; undefined when it has problems. */
  fleet?: FleetFile;
  /** What is wrong in it, each with the file and the path inside it. */
  problems: string[];
}

const FLEET_KEYS = new Set(Object.keys(fleetFileSchema.entries));

/** "upstreams[1].url", "aliases[\"claude-*\"]". */
export function pathText(path: readonly PropertyKey[]): string {
  return path
    .map((p, i) => {
      if (typeof p === "number") return `[${p}]`;
      const key = String(p);
      return /^[A-Za-z_]\w*$/.test(key) ? `${i === 0 ? "" : "."}${key}` : `[${JSON.stringify(key)}]`;
    })
    .join("");
}

/** A setting's value as a flag would give it: lists comma-joined. */
function asText(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (Array.isArray(value) && value.every((v) => typeof v === "string")) return value.join(",");
  return undefined;
}

function readText(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    throw [`${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? err})`];
  }
}

function parseText(path: string, text: string): Record<string, unknown> {
  let raw: unknown;
  // yaml is loaded only when there is a file to read: most sidecars run on flags and never hold it in memory.
  const parseYaml = (createRequire(import.meta.url)("yaml") as { parse: typeof parse }).parse;
  try {
    raw = parseYaml(text, { prettyErrors: true });
  } catch (err) {
    throw [`${path}: not YAML or JSON: ${(err as Error).message.split("\n")[0]}`];
  }
  if (raw === null || raw === undefined) return {};
  if (typeof raw !== "object" || Array.isArray(raw)) throw [`${path}: must hold a mapping of settings`];
  return raw as Record<string, unknown>;
}

const known = new Set<string>(optionNames);

/** Reads and checks the file; one it cannot read or parse at all throws its problem. */
export function readConfigFile(path: string): ConfigFile {
  const raw = parseText(path, readText(path));
  const problems: string[] = [];
  const settings: Partial<Record<OptionName, string>> = {};
  const fleetRaw: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (FLEET_KEYS.has(key)) fleetRaw[key] = value;
    else if (key === "config") problems.push(`${path}: config: a config file cannot name another`);
    else if (!known.has(key)) problems.push(`${path}: ${key}: not a setting (see llama-sidecar --help)`);
    else {
      const text = asText(value);
      if (text === undefined) problems.push(`${path}: ${key}: must be a single value`);
      else settings[key as OptionName] = text;
    }
  }
  const fleet = v.safeParse(fleetFileSchema, fleetRaw);
  if (!fleet.success) problems.push(...issues(path, fleet.issues));
  return { settings, fleet: fleet.success ? fleet.output : undefined, problems };
}

/** Each issue with the file and the path inside it; a key the schema does not know is said as such. */
function issues(path: string, list: readonly v.BaseIssue<unknown>[]): string[] {
  return list.map((issue) => {
    const keys = (issue.path ?? []).map((p) => p.key as PropertyKey);
    // A strict object's stray key is an issue "expected never" at that key's path.
    const stray = issue.type === "strict_object" && issue.expected === "never";
    const message = stray ? "not a known key" : issue.message;
    return `${path}: ${pathText(keys)}: ${message}`;
  });
}
