// Finds the real neighbour programs the tests use; a missing one fails loudly, naming the package to install.
import { execFileSync } from "node:child_process";

const PACKAGES: Record<string, string> = {
  promtool: "prometheus",
  prometheus: "prometheus",
  amtool: "prometheus-alertmanager",
  chromium: "chromium",
  "docker-compose": "docker-compose",
};

export function toolPath(name: string): string {
  try {
    return execFileSync("bash", ["-c", `command -v ${name}`], { encoding: "utf8" }).trim();
  } catch {
    const pkg = PACKAGES[name] ?? name;
    throw new Error(`${name} is not installed: run 'apt-get install -y ${pkg}' (or 'npm test', which installs it)`);
  }
}

/** Runs `promtool check metrics` on a scrape; returns its complaints (empty when clean). */
export function promtoolCheckMetrics(text: string): string {
  try {
    return execFileSync(toolPath("promtool"), ["check", "metrics"], {
      input: text,
      encoding: "utf8",
      stdio: ["pipe", "pipe", "pipe"],
    }).trim();
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    return `${e.stdout ?? ""}${e.stderr ?? ""}`.trim() || String(err);
  }
}
