// Runs the real CLI as a child process (so it can be SIGKILLed), and reads its /api/stats.
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";

export interface CliProcess {
  proc: ChildProcess;
  output(): string;
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Runs `src/cli.ts` through tsx, or another entry (`command`: an installed bin) when given. */
export function startCli(args: string[], env: NodeJS.ProcessEnv = {}, command?: string[]): CliProcess {
  const [file, ...pre] = command ?? [process.execPath, "--import", "tsx", "src/cli.ts"];
  const proc = spawn(file as string, [...pre, ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  proc.stdout?.on("data", (b) => {
    out += b;
  });
  proc.stderr?.on("data", (b) => {
    out += b;
  });
  return {
    proc,
    output: () => out,
    async waitFor(pattern, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (!pattern.test(out)) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}; output:\n${out}`);
        if (proc.exitCode !== null) throw new Error(`exited ${proc.exitCode} before ${pattern}; output:\n${out}`);
        await new Promise((r) => setTimeout(r, 25));
      }
      return out;
    },
    async stop(signal = "SIGTERM") {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
      proc.kill(signal);
      const [code] = await once(proc, "exit");
      return code as number | null;
    },
  };
}

export interface ApiStats {
  since: string;
  summary: string;
  upstream: {
    state: string;
    restarts: { count: number };
    lifetime: { counters: Record<string, number> };
    scrape: { ok: boolean; newFormat: boolean | null };
  };
  sidecar: { totals: { requests: number; prompt: number; cached: number; generated: number } };
}

export async function apiStats(url: string): Promise<ApiStats> {
  return (await (await fetch(`${url}/api/stats`)).json()) as ApiStats;
}
