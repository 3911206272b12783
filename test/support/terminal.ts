// A program in a real terminal (tmux, on a server of its own): typed at, and read off the screen, as a person would.
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { promisify } from "node:util";
import { shellQuote } from "../../src/clients/shell-quote.js";
import { until } from "./until.js";

const run = promisify(execFile);

export interface TerminalOptions {
  /** The program's whole environment (nothing else leaks in from the test's own). */
  env: Record<string, string>;
  cwd: string;
  cols?: number;
  rows?: number;
}

export interface Terminal {
  /** What the screen shows now, one string, trailing blank lines cut. */
  screen(): Promise<string>;
  /** The scrollback and the screen: all the terminal showed (a dead pane scrolls its last screen up). */
  history(): Promise<string>;
  /** Waits until the screen shows `pattern`; fails with the screen as it was. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Types text as keys, literally. */
  type(text: string): Promise<void>;
  /** Presses named keys: Enter, Escape, C-c, ... */
  press(...keys: string[]): Promise<void>;
  /** Whether the program has exited (the pane stays, to be read). */
  exited(): Promise<boolean>;
  close(): Promise<void>;
}

/** Starts `command` in a terminal of cols x rows; the pane stays after the program exits, so its last screen reads. */
export async function startTerminal(command: string[], opts: TerminalOptions): Promise<Terminal> {
  const socket = `sidecar-test-${randomUUID().slice(0, 8)}`;
  const tmux = (...args: string[]) => run("tmux", ["-L", socket, "-f", "/dev/null", ...args], { encoding: "utf8" });
  const env = Object.entries(opts.env).map(([k, v]) => `${k}=${v}`);
  // remain-on-exit before the program starts: one that exits at once still leaves its last screen.
  await tmux(
    "start-server",
    ";",
    "set-option",
    "-g",
    "remain-on-exit",
    "on",
    ";",
    "new-session",
    "-d",
    "-s",
    "main",
    "-x",
    String(opts.cols ?? 120),
    "-y",
    String(opts.rows ?? 40),
    "-c",
    opts.cwd,
    // One shell command line: tmux joins its arguments with spaces, quoting lost.
    ["env", "-i", ...env, ...command].map(shellQuote).join(" "),
  );
  const capture = async (...args: string[]) =>
    (await tmux("capture-pane", "-p", "-t", "main", ...args)).stdout.replace(/\s+$/, "");
  const screen = () => capture();
  let last = "";
  return {
    screen,
    history: () => capture("-S", "-"),
    async waitFor(pattern, timeoutMs = 60_000) {
      try {
        await until(
          `the screen to show ${pattern}`,
          async () => {
            last = await screen();
            return pattern.test(last);
          },
          timeoutMs,
          200,
        );
      } catch (err) {
        throw new Error(`${(err as Error).message}; the screen:\n${last}`);
      }
      return last;
    },
    async type(text) {
      await tmux("send-keys", "-t", "main", "-l", text);
    },
    async press(...keys) {
      await tmux("send-keys", "-t", "main", ...keys);
    },
    async exited() {
      return (await tmux("display-message", "-p", "-t", "main", "#{pane_dead}")).stdout.trim() === "1";
    },
    async close() {
      await tmux("kill-server").catch(() => {});
    },
  };
}
