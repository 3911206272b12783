// Finds a program on PATH the way a shell does, so the launcher can say how to install one that is missing.
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";

export function findProgram(name: string, env: NodeJS.ProcessEnv): string | undefined {
  if (name.includes("/")) return executable(name) ? name : undefined;
  for (const dir of (env.PATH ?? "").split(delimiter)) {
    const path = join(dir || ".", name);
    if (executable(path)) return path;
  }
  return undefined;
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
