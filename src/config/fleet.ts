// Resolves the upstreams: the config file's list, or one llama-server from --upstream (and --background-upstream),
// so the rest of the sidecar sees one shape either way.
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type { ConfigFile } from "./file.js";
import { pathText } from "./file.js";
import type { Source } from "./options.js";
import { type Alias, crossCheck, type Fleet, type FleetFile, type UpstreamSpec } from "./upstreams.js";

/** The name the one upstream of --upstream gets (and that a stats file from before upstream lists migrates to). */
export const DEFAULT_UPSTREAM = "default";
/** The name the upstream of --background-upstream gets. */
export const BACKGROUND_UPSTREAM = "background";

interface Settings {
  upstream: string;
  upstreamApiKey?: string;
  backgroundUpstream?: string;
  gpuSource?: string;
  backgroundTitle: string;
  backgroundTopic: string;
  backgroundQuota: string;
  backgroundHaiku: string;
}

function readKey(file: string, base: string, at: string, problems: string[]): string | undefined {
  try {
    const key = (readFileSync(resolve(base, file), "utf8").split(/\r?\n/)[0] ?? "").trim();
    if (key.length >= 8) return key;
    problems.push(`${at}: the key in it must be at least 8 characters`);
  } catch (err) {
    problems.push(`${at}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? err})`);
  }
  return undefined;
}

function listed(s: Settings, file: NonNullable<FleetFile["upstreams"]>, path: string, problems: string[]) {
  return file.map((u, i): UpstreamSpec => {
    const at = `${path}: ${pathText(["upstreams", i, "apiKeyFile"])}`;
    if (u.apiKey !== undefined && u.apiKeyFile !== undefined)
      problems.push(`${at}: give the key or the file, not both`);
    const fromFile = u.apiKeyFile === undefined ? undefined : readKey(u.apiKeyFile, dirname(path), at, problems);
    return {
      name: u.name,
      url: u.url,
      apiKey: u.apiKey ?? fromFile ?? s.upstreamApiKey,
      models: u.models,
      gpuSource: u.gpuSource ?? s.gpuSource,
      gpus: u.gpus,
    };
  });
}

function fromFlags(s: Settings): UpstreamSpec[] {
  const gpuSource = s.gpuSource;
  const one: UpstreamSpec[] = [{ name: DEFAULT_UPSTREAM, url: s.upstream, apiKey: s.upstreamApiKey, gpuSource }];
  if (s.backgroundUpstream)
    one.push({ name: BACKGROUND_UPSTREAM, url: s.backgroundUpstream, apiKey: s.upstreamApiKey, gpuSource });
  return one;
}

function conflicts(given: Source, fleet: FleetFile): string[] {
  const problems: string[] = [];
  if (fleet.upstreams && given.upstream)
    problems.push(`${given.upstream.origin}: give one upstream here or the config file's upstreams, not both`);
  if (fleet.background && given.backgroundUpstream)
    problems.push(`${given.backgroundUpstream.origin}: give it here or background: in the config file, not both`);
  return problems;
}

function routeNeedsBackground(s: Settings, fleet: Fleet, given: Source): string[] {
  if (fleet.backgroundUpstream !== undefined) return [];
  const routed = (["backgroundTitle", "backgroundTopic", "backgroundQuota", "backgroundHaiku"] as const).find(
    (k) => s[k] === "route",
  );
  if (routed === undefined) return [];
  const origin = given[routed]?.origin ?? routed;
  return [
    `${origin}="route": policy 'route' needs a background upstream (--background-upstream, or background: <name> in the config file)`,
  ];
}

/** The upstreams the settings name; throws the list of problems. */
export function resolveFleet(s: Settings, given: Source, file: { file?: ConfigFile; path?: string }): Fleet {
  const spec = file.file?.fleet ?? {};
  const path = file.path ?? "config";
  const problems = conflicts(given, spec);
  const aliases: Alias[] = Object.entries(spec.aliases ?? {}).map(([pattern, model]) => ({ pattern, model }));
  const fleet: Fleet = spec.upstreams
    ? {
        upstreams: listed(s, spec.upstreams, path, problems),
        aliases,
        defaultUpstream: spec.default,
        backgroundUpstream: spec.background,
      }
    : {
        upstreams: fromFlags(s),
        aliases,
        defaultUpstream: spec.default ?? DEFAULT_UPSTREAM,
        backgroundUpstream: s.backgroundUpstream ? BACKGROUND_UPSTREAM : spec.background,
      };
  for (const p of crossCheck(fleet)) problems.push(`${path}: ${pathText(p.path)}: ${p.message}`);
  problems.push(...routeNeedsBackground(s, fleet, given));
  if (problems.length > 0) throw problems;
  return fleet;
}
