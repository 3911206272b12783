// Settings parsed as the CLI parses them, for unit tests: the config, or the problems a bad one is refused with.
import { ConfigError, parseConfig } from "../../src/config/load.js";

export function config(argv: string[], env: NodeJS.ProcessEnv = {}) {
  const r = parseConfig(argv, env);
  if (r.kind !== "config") throw new Error(r.kind);
  return r.config;
}

export function problems(argv: string[], env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfig(argv, env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error("expected a ConfigError");
}
