// Claude Code in a terminal, as a person uses it: `llama-sidecar claude` in tmux with a fresh HOME, a prompt typed,
// the answer and the status line read off the screen. A real llama-server serves the model by its file's path (no
// --alias), as many people start it. No first-run setup or key prompt may stand in the way, also for a HOME that
// once said No to a key.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RecordRow } from "../../src/record/request-record.js";
import { freePort, type LlamaServer, startLlamaServer } from "../support/llama-server.js";
import { startTestSidecar, type TestSidecar } from "../support/sidecar.js";
import { startTerminal, type Terminal } from "../support/terminal.js";
import { until } from "../support/until.js";

const ROOT = new URL("../../", import.meta.url).pathname;
const REAL_CLAUDE = join(ROOT, "node_modules/.bin/claude");
/** tsx by URL: the launcher runs in the session's own folder, where the bare name would not resolve. */
const TSX = import.meta.resolve("tsx");
/** What would stand in a person's way: Claude Code's first-run setup, its key question, a stored No. */
const IN_THE_WAY = /Detected a custom API key|Unable to connect to Anthropic|Not logged in|Choose the text style/;

let llama: LlamaServer;
let sidecar: TestSidecar;
let port: number;

beforeAll(async () => {
  llama = await startLlamaServer({ ctx: 8192, alias: null });
  port = await freePort();
  sidecar = await startTestSidecar(llama.url, ["--port", String(port)]);
});
afterAll(async () => {
  await sidecar?.close();
  await llama?.stop();
});

/**
 * `llama-sidecar claude` in a terminal of its own. Claude Code's own system prompt and tools are 59,000 tokens in
 * the tiny model's tokenizer, more than its 32k: a short system prompt and no tools keep a turn quick, and short
 * replies keep the random model from writing for minutes (the user's variable, which the launcher keeps).
 */
async function claudeInTerminal(home: string, env: Record<string, string> = {}): Promise<Terminal> {
  const cwd = mkdtempSync(join(tmpdir(), "claude-terminal-work-"));
  const args = ["claude", "--system-prompt", "Be brief.", "--tools", ""];
  return startTerminal([process.execPath, "--import", TSX, join(ROOT, "src/cli.ts"), ...args], {
    cwd,
    env: {
      HOME: home,
      PATH: `${join(ROOT, "node_modules/.bin")}:${process.env.PATH}`,
      TERM: "xterm-256color",
      LANG: "C.UTF-8",
      LLAMA_SIDECAR_PORT: String(port),
      LLAMA_SIDECAR_CLAUDE: REAL_CLAUDE,
      CLAUDE_CODE_MAX_OUTPUT_TOKENS: "24",
      ...env,
    },
  });
}

/** Answers the folder-trust question (Claude Code's own, for every new folder), then types a prompt. */
async function askInTerminal(term: Terminal, prompt: string): Promise<void> {
  const first = await term.waitFor(/trust this folder|^❯\s*$/m, 90_000);
  expect(first).not.toMatch(IN_THE_WAY);
  if (/trust this folder/.test(first)) {
    await term.press("Enter");
    await term.waitFor(/^❯\s*$/m); // the empty input line
  }
  expect(await term.screen()).not.toMatch(IN_THE_WAY);
  await term.type(prompt);
  await term.press("Enter");
}

/** Claude Code starts, a turn runs and the status line catches up: generous, for a busy machine. */
const TERMINAL_TEST_MS = 300_000;

/** The record of the typed turn (Claude Code also probes the server with HEAD / at start). */
async function typedTurn(): Promise<RecordRow> {
  let turn: RecordRow | undefined;
  await until(
    "the typed turn's record",
    () => {
      turn = sidecar.records.find((r) => r.route === "/v1/messages" && !r.background);
      return turn !== undefined;
    },
    120_000,
  );
  return turn as RecordRow;
}

/** The turn reached the model: its text, or Claude Code's own word that the reply hit the output limit. */
const ANSWERED = /^● \S|output token maximum/m;

describe("llama-sidecar claude in a terminal", () => {
  it("on a fresh HOME: a typed prompt is answered, and the status line names the model as Claude Code does", {
    timeout: TERMINAL_TEST_MS,
  }, async () => {
    const home = mkdtempSync(join(tmpdir(), "claude-terminal-home-"));
    const term = await claudeInTerminal(home);
    try {
      sidecar.clearRecords();
      await askInTerminal(term, "Say hi");
      expect((await typedTurn()).status).toBe(200);
      const screen = await term.waitFor(ANSWERED, 60_000);
      expect(screen).not.toMatch(/API Error: 4\d\d/);
      // The launcher said the short name, and so does the status line (llama-server serves it by its path).
      expect(await term.history()).toContain("llama-sidecar: model tiny-random-v2 for every tier");
      const line = await term.waitFor(/^\s*tiny-random-v2 · ctx [▓░]{8} /m, 60_000);
      expect(line).not.toMatch(/\.gguf/);
    } finally {
      await term.close();
    }
  });

  it("on a HOME that once said No to ANTHROPIC_API_KEY=local, with that variable still set: no prompt, the turn goes through", {
    timeout: TERMINAL_TEST_MS,
  }, async () => {
    const home = mkdtempSync(join(tmpdir(), "claude-terminal-home-"));
    // What Claude Code 2.1.197 stores after "2. No (recommended)" is taken for the key "local".
    const state = { hasCompletedOnboarding: true, customApiKeyResponses: { approved: [], rejected: ["local"] } };
    writeFileSync(join(home, ".claude.json"), JSON.stringify(state));
    const term = await claudeInTerminal(home, { ANTHROPIC_API_KEY: "local" });
    try {
      sidecar.clearRecords();
      await askInTerminal(term, "Say hi");
      expect((await typedTurn()).status).toBe(200);
      const screen = await term.waitFor(ANSWERED, 60_000);
      expect(screen).not.toMatch(IN_THE_WAY);
      expect(await term.history()).toContain("llama-sidecar: your ANTHROPIC_API_KEY stays out of it");
    } finally {
      await term.close();
    }
  });
});
