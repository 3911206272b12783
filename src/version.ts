// The package version, read once from package.json (works from src/ under tsx and from dist/).
import { readFileSync } from "node:fs";

function read(): string {
  for (const rel of ["../package.json", "../../package.json"]) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), "utf8"));
      if (pkg.name === "llama-sidecar") return String(pkg.version);
    } catch {
      // try the next location
    }
  }
  return "0.0.0";
}

export const VERSION = read();
