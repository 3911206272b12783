// `llama-sidecar claude`, `env` and `statusline` against a real llama-server: the launcher's plumbing with a
// stand-in for the claude binary (arguments, variables, exit status, signals, a sidecar started for the session),
// and the real Claude Code CLI (npm @anthropic-ai/claude-code, -p mode, a private HOME) launched through it.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Anthropic from "@anthropic-ai/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, type LlamaServer, startLlamaServer } from "../support/llama-server.js";
import { startTestSidecar, type TestSidecar } from "../support/sidecar.js";
import { ATTR } from "../support/spans.js";

const ROOT = new URL("../../", import.meta.url).pathname;
const FAKE_CLAUDE = join(ROOT, "test/fixtures/fake-claude.mjs");
const REAL_CLAUDE = join(ROOT, "node_modules/.bin/claude");
/** What Claude Code 2.1.197 wrote on its status line command's stdin, recorded (paths made generic). */
const STATUSLINE_INPUT = JSON.parse(
  readFileSync(join(ROOT, "test/fixtures/claude-statusline-input.json"), "utf8"),
) as object;
/** tsx by URL: the launcher runs from other folders, where the bare name would not resolve. */
const TSX = import.meta.resolve("tsx");

let llama: LlamaServer;
let sidecar: TestSidecar;
let port: number;

beforeAll(async () => {
  llama = await startLlamaServer({ parallel: 1, ctx: 8192 });
  port = await freePort();
  sidecar = await startTestSidecar(llama.url, ["--port", String(port)]);
});
afterAll(async () => {
  await sidecar?.close();
  await llama?.stop();
});

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `llama-sidecar <args>` (src/cli.ts through tsx) with only the variables given, a private HOME and PATH. */
function cli(args: string[], env: NodeJS.ProcessEnv = {}, stdin?: string, cwd = ROOT): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      ["--import", TSX, join(ROOT, "src/cli.ts"), ...args],
      {
        cwd,
        timeout: 230_000, // under a real turn's test timeout: a busy 2-core box takes minutes for a 2k reply
        env: {
          PATH: `${join(ROOT, "node_modules/.bin")}:${process.env.PATH}`,
          HOME: mkdtempSync(join(tmpdir(), "claude-home-")),
          LLAMA_SIDECAR_PORT: String(port),
          ...env,
        },
      },
      (err, stdout, stderr) => {
        const e = err as (Error & { code?: number; signal?: NodeJS.Signals }) | null;
        resolve({
          code: e ? (typeof e.code === "number" ? e.code : null) : 0,
          signal: e?.signal ?? null,
          stdout,
          stderr,
        });
      },
    );
    child.stdin?.end(stdin ?? "");
  });
}

interface FakeSaw {
  args: string[];
  env: Record<string, string>;
  setup: { upstream: { model: string; nCtx: number } } | null;
}
const saw = (r: Run) => JSON.parse(r.stdout.trim().split("\n").at(-1) ?? "{}") as FakeSaw;

describe("llama-sidecar claude (the launcher's plumbing)", () => {
  it("sets Claude Code up for the server's context and model, says why, and adds the status line", async () => {
    const r = await cli(["claude", "-p", "hello", "--verbose"], { LLAMA_SIDECAR_CLAUDE: FAKE_CLAUDE });
    expect(r.code).toBe(0);
    const { args, env } = saw(r);
    expect(env).toMatchObject({
      ANTHROPIC_BASE_URL: `http://127.0.0.1:${port}`,
      ANTHROPIC_MODEL: "tiny",
      ANTHROPIC_DEFAULT_HAIKU_MODEL: "tiny",
      CLAUDE_CODE_MAX_CONTEXT_TOKENS: "8192",
      CLAUDE_CODE_MAX_OUTPUT_TOKENS: "2048",
      CLAUDE_CODE_ATTRIBUTION_HEADER: "0",
      // Claude Code's own telemetry to the sidecar's receiver: events, metrics and traces, with traceparent.
      CLAUDE_CODE_ENABLE_TELEMETRY: "1",
      OTEL_LOGS_EXPORTER: "otlp",
      OTEL_METRICS_EXPORTER: "otlp",
      OTEL_TRACES_EXPORTER: "otlp",
      CLAUDE_CODE_ENHANCED_TELEMETRY_BETA: "1",
      CLAUDE_CODE_PROPAGATE_TRACEPARENT: "1",
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf",
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}/otlp`,
    });
    // No key set: none sent with the telemetry either.
    expect(env.OTEL_EXPORTER_OTLP_HEADERS).toBeUndefined();
    // The key as a token: Claude Code asks nothing about it in a terminal, where an API key gets a question.
    expect(env.ANTHROPIC_AUTH_TOKEN).toBe("local");
    expect(env.ANTHROPIC_API_KEY).toBeUndefined();
    // 8k leaves no room to compact ahead: Claude Code compacts on the sidecar's "prompt is too long".
    expect(env.CLAUDE_CODE_AUTO_COMPACT_WINDOW).toBeUndefined();
    expect(args.slice(2)).toEqual(["-p", "hello", "--verbose"]);
    expect(args[0]).toBe("--settings");
    const statusLine = (JSON.parse(args[1] ?? "{}") as { statusLine: { type: string; command: string } }).statusLine;
    expect(statusLine.type).toBe("command");
    // Re-run while a long prompt prefills, when Claude Code itself has nothing to redraw.
    expect(statusLine).toMatchObject({ refreshInterval: 2 });
    expect(statusLine.command).toMatch(/'statusline' '--port' '\d+'$/);
    expect(r.stderr.split("\n").filter((l) => l.startsWith("llama-sidecar: "))).toEqual([
      'llama-sidecar: context 8k per slot (llama-server\'s n_ctx), not 200k: Claude Code compacts when a prompt no longer fits (the sidecar says "prompt is too long"; 8k leaves no room to compact ahead); replies up to 2k tokens',
      "llama-sidecar: model tiny for every tier; billing line off, so the prompt's prefix stays cacheable; no traffic to Anthropic",
      "llama-sidecar: Claude Code's own telemetry (tools, prompts' times, its view of each call; never prompt text) goes to the sidecar, for session reports",
      expect.stringMatching(
        /^llama-sidecar: marked Claude Code's first-run setup done in \/tmp\/claude-home-\w+\/\.claude\.json/,
      ),
    ]);
  });

  it("leaves the user's own variables and settings alone", async () => {
    const r = await cli(["claude", "--settings", "{}", "-p", "x"], {
      LLAMA_SIDECAR_CLAUDE: FAKE_CLAUDE,
      CLAUDE_CODE_MAX_OUTPUT_TOKENS: "100",
      ANTHROPIC_MODEL: "mine",
      OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318",
    });
    const { args, env } = saw(r);
    expect(env.CLAUDE_CODE_MAX_OUTPUT_TOKENS).toBe("100");
    // Their collector keeps their telemetry: the sidecar adds none of its own settings, and says how to join.
    expect(env.OTEL_EXPORTER_OTLP_ENDPOINT).toBe("http://collector:4318");
    expect(env.CLAUDE_CODE_ENABLE_TELEMETRY).toBeUndefined();
    expect(r.stderr).toMatch(
      /your own telemetry settings \(OTEL_EXPORTER_OTLP_ENDPOINT\) are kept: .*\/otlp as a second endpoint/,
    );
    expect(env.ANTHROPIC_MODEL).toBe("mine");
    expect(args).toEqual(["--settings", "{}", "-p", "x"]);
    expect(r.stderr).toContain("llama-sidecar: kept your own ANTHROPIC_MODEL, CLAUDE_CODE_MAX_OUTPUT_TOKENS");
  });

  it("exits with Claude Code's status, and of its signal", async () => {
    expect((await cli(["claude"], { LLAMA_SIDECAR_CLAUDE: FAKE_CLAUDE, FAKE_CLAUDE_EXIT: "3" })).code).toBe(3);
    const killed = await cli(["claude"], { LLAMA_SIDECAR_CLAUDE: FAKE_CLAUDE, FAKE_CLAUDE_SIGNAL: "SIGTERM" });
    expect(killed.signal).toBe("SIGTERM");
  });

  it("starts a sidecar for the session when none answers, and stops it after", async () => {
    const own = await freePort();
    const dataDir = mkdtempSync(join(tmpdir(), "launcher-data-"));
    const r = await cli(["claude"], {
      LLAMA_SIDECAR_CLAUDE: FAKE_CLAUDE,
      LLAMA_SIDECAR_PORT: String(own),
      LLAMA_SIDECAR_UPSTREAM: llama.url,
      LLAMA_SIDECAR_DATA_DIR: dataDir,
    });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`llama-sidecar: started a sidecar for this session on http://127.0.0.1:${own}`);
    expect(saw(r).setup?.upstream).toMatchObject({ model: "tiny", nCtx: 8192 });
    await expect(fetch(`http://127.0.0.1:${own}/api/setup`)).rejects.toThrow();
  });

  it("says so, and stops the sidecar it started, when the claude it was given cannot run", async () => {
    const own = await freePort();
    const r = await cli(["claude"], {
      LLAMA_SIDECAR_CLAUDE: "/no/such/claude",
      LLAMA_SIDECAR_PORT: String(own),
      LLAMA_SIDECAR_UPSTREAM: llama.url,
      LLAMA_SIDECAR_DATA_DIR: mkdtempSync(join(tmpdir(), "launcher-data-")),
    });
    expect(r.code).toBe(127);
    expect(r.stderr).toContain("llama-sidecar: could not run /no/such/claude: spawn /no/such/claude ENOENT");
    await expect(fetch(`http://127.0.0.1:${own}/api/setup`)).rejects.toThrow();
  });

  it("says how to install Claude Code when it is missing", async () => {
    const r = await cli(["claude"], { PATH: "/nonexistent", LLAMA_SIDECAR_CLAUDE: "" });
    expect(r.code).toBe(127);
    expect(r.stderr).toContain("Claude Code is not installed: npm install -g @anthropic-ai/claude-code");
  });
});

describe("the real Claude Code CLI through llama-sidecar claude", () => {
  // Claude Code's own system prompt and tools are 59,000 tokens in the tiny model's tokenizer: a short system
  // prompt and no tools keep a turn within the 8k test server.
  const small = ["--system-prompt", "Be brief.", "--tools", "", "--output-format", "json"];

  // A turn lets the random model write up to the launcher's 2k-token reply: about a minute on a busy 2-core box.
  const REAL_TURN_MS = 240_000;

  it("reaches the sidecar with its session id and the variables the server's context calls for", {
    timeout: REAL_TURN_MS,
  }, async () => {
    sidecar.clearRecords();
    const before = sidecar.spans().length;
    const r = await cli(["claude", "-p", "Say hi", ...small], { LLAMA_SIDECAR_CLAUDE: REAL_CLAUDE });
    const result = JSON.parse(r.stdout) as { session_id: string; type: string };
    expect(result.type).toBe("result");
    const records = await sidecar.waitForRecords(1);
    const turn = records.find((x) => x.route === "/v1/messages" && !x.background);
    expect(turn?.session).toBe(result.session_id);
    const span = sidecar
      .spans()
      .slice(before)
      .find((s) => s.attributes[ATTR.GEN_AI_REQUEST_MAX_TOKENS] !== undefined);
    expect(span?.attributes[ATTR.GEN_AI_REQUEST_MODEL]).toBe("tiny");
    expect(span?.attributes[ATTR.GEN_AI_REQUEST_MAX_TOKENS]).toBe(2048);

    // The status line for that session, fed the JSON Claude Code gives it (recorded from 2.1.197, under a terminal:
    // it runs the status line only there, not in -p), with this session's id.
    // The launcher named the model "tiny" for Claude Code, which passes that name on.
    const named = { ...STATUSLINE_INPUT, model: { id: "tiny", display_name: "tiny" } };
    const input = JSON.stringify({ ...named, session_id: result.session_id });
    const line = await cli(["statusline", "--port", String(port)], {}, input);
    expect(line.code).toBe(0);
    expect(line.stdout.trim()).toMatch(
      /^tiny · ctx [▓░]{8} [\d.]+k?\/8\.2k \(\d+%\) · cache \d+% · TTFT .+ · \d+ tok\/s$/,
    );
  });

  it("keeps the user's own flags and variables", { timeout: REAL_TURN_MS }, async () => {
    const before = sidecar.spans().length;
    await cli(["claude", "-p", "Say hi", "--model", "my-name", ...small], {
      LLAMA_SIDECAR_CLAUDE: REAL_CLAUDE,
      CLAUDE_CODE_MAX_OUTPUT_TOKENS: "64",
    });
    await sidecar.waitForRecords(1);
    const span = sidecar
      .spans()
      .slice(before)
      .find((s) => s.attributes[ATTR.GEN_AI_REQUEST_MAX_TOKENS] !== undefined);
    expect(span?.attributes[ATTR.GEN_AI_REQUEST_MODEL]).toBe("my-name");
    expect(span?.attributes[ATTR.GEN_AI_REQUEST_MAX_TOKENS]).toBe(64);
  });

  it('compacts, then stops with Claude Code\'s own "Prompt is too long", when a turn outgrows the context', {
    timeout: REAL_TURN_MS,
  }, async () => {
    // Short replies keep the turns quick; the user's variable wins over the launcher's.
    const env = { LLAMA_SIDECAR_CLAUDE: REAL_CLAUDE, CLAUDE_CODE_MAX_OUTPUT_TOKENS: "256" };
    const home = mkdtempSync(join(tmpdir(), "claude-home-"));
    const cwd = mkdtempSync(join(tmpdir(), "claude-work-"));
    const first = JSON.parse(
      (await cli(["claude", "-p", "Say hi", ...small], { ...env, HOME: home }, undefined, cwd)).stdout,
    ) as {
      session_id: string;
    };
    sidecar.clearRecords();
    const long = Array.from({ length: 1800 }, (_, i) => `w${i}`).join(" "); // about 9,000 tokens: over the 8k slot
    const r = await cli(["claude", "-c", "-p", long, ...small], { ...env, HOME: home }, undefined, cwd);
    const result = JSON.parse(r.stdout) as { result: string; terminal_reason: string; session_id: string };
    expect(result.session_id).toBe(first.session_id);
    expect(result).toMatchObject({ result: "Prompt is too long", terminal_reason: "prompt_too_long" });
    const records = await sidecar.waitForRecords(2);
    // Refused, then Claude Code's compaction (a summarising request that succeeds), then the retry; how the random
    // model's summary and replies run varies, but the run ends in a few requests: no loop.
    const kinds = records.map((x) => (x.missCause === "context_overflow" ? "refused" : x.outcome));
    const refusedAt = kinds.indexOf("refused");
    expect(refusedAt).toBeGreaterThanOrEqual(0);
    expect(kinds[refusedAt + 1]).toBe("ok");
    expect(kinds.length).toBeLessThanOrEqual(8);
  });
});

describe("llama-sidecar statusline during a turn", () => {
  it("shows the session's turn prefilling while it runs", async () => {
    const session = "statusline-live";
    const long = Array.from({ length: 1300 }, (_, i) => `p${i}`).join(" "); // about 6,500 tokens: seconds of prefill
    const turn = fetch(`${sidecar.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-claude-code-session-id": session },
      body: JSON.stringify({ model: "tiny", max_tokens: 4, stream: true, messages: [{ role: "user", content: long }] }),
    }).then((r) => r.text());
    let ended = false;
    void turn.finally(() => {
      ended = true;
    });
    const input = JSON.stringify({
      ...STATUSLINE_INPUT,
      model: { id: "tiny", display_name: "tiny" },
      session_id: session,
    });
    const seen: string[] = [];
    while (!ended) seen.push((await cli(["statusline", "--port", String(port)], {}, input)).stdout.trim());
    await turn;
    expect(seen.some((l) => / · prefill \d+%/.test(l))).toBe(true);
    expect((await cli(["statusline", "--port", String(port)], {}, input)).stdout).toMatch(/^tiny · ctx /);
  });
});

describe("llama-sidecar statusline without a sidecar", () => {
  it("prints a short line, never a trace, and succeeds", async () => {
    const nobody = await freePort();
    const r = await cli(["statusline", "--port", String(nobody)], {}, '{"session_id":"x"}');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`llama-sidecar: not answering at http://127.0.0.1:${nobody} (ECONNREFUSED)\n`);
  });
});

describe("max_tokens that cannot fit beside the prompt", () => {
  // A prefill of most of the 8k slot: over a minute on a busy 2-core box.
  it("is lowered to what fits in the slot, said in a header and on the span, and llama-server gets that", {
    timeout: 240_000,
  }, async () => {
    const before = sidecar.spans().length;
    // (The SDK refuses a non-streamed request this large; the sidecar treats both alike.)
    const response = await fetch(`${sidecar.url}/v1/messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        model: "tiny",
        max_tokens: 32000, // Claude Code's default for a model it does not know
        system: "Be brief.",
        messages: [{ role: "user", content: "Say hi. ".repeat(1100) }], // most of the 8k slot: a short reply
      }),
    });
    const data = (await response.json()) as { usage: { input_tokens: number; cache_read_input_tokens?: number } };
    const prompt = data.usage.input_tokens + (data.usage.cache_read_input_tokens ?? 0);
    expect(response.headers.get("x-llama-sidecar-max-tokens")).toBe(`${8192 - prompt} (asked 32000)`);
    await sidecar.waitForRecords(1);
    const span = sidecar
      .spans()
      .slice(before)
      .find((x) => x.attributes[ATTR.MAX_TOKENS_ASKED] !== undefined);
    expect(span?.attributes[ATTR.MAX_TOKENS_ASKED]).toBe(32000);
    const slots = (await (await fetch(`${llama.url}/slots`)).json()) as { params: { n_predict: number } }[];
    expect(slots[0]?.params.n_predict).toBe(8192 - prompt);
  });

  it("leaves a request alone whose max_tokens fits", async () => {
    const client = new Anthropic({ baseURL: sidecar.url, apiKey: "local" });
    const { response } = await client.messages
      .create({ model: "tiny", max_tokens: 16, messages: [{ role: "user", content: "Say hi." }] })
      .withResponse();
    expect(response.headers.get("x-llama-sidecar-max-tokens")).toBeNull();
  });
});

describe("llama-sidecar env", () => {
  it("prints settings with the running sidecar's URL, model and context", async () => {
    const r = await cli(["env", "cline"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      openAiBaseUrl: `http://127.0.0.1:${port}/v1`,
      openAiModelId: "tiny",
      openAiModelInfo: { contextWindow: 8192 },
    });
  });

  it("names the clients it knows when given another", async () => {
    const r = await cli(["env", "emacs"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("env needs one of claude, claude-settings, cline, continue, openai, anthropic");
  });
});
