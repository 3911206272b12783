// Records what real clients send (Claude Code in a terminal, -p and stream-json; the OpenAI and Anthropic SDKs) into
// test/fixtures/client-requests/, prompts and texts replaced by placeholders. The tests replay them against a real
// llama-server, straight and through the sidecar. Claude Code talks to a scripted stand-in for Anthropic's API
// (test/support/canned-anthropic.ts), so a turn can ask for a tool the tiny random model never would.
// Run: node --import tsx scripts/record-client-requests.ts   (needs tmux; Claude Code from devDependencies)
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { markOnboardingDone } from "../src/clients/claude-config.js";
import { claudeSetup } from "../src/clients/claude-env.js";
import { type RecordedRequest, startCannedAnthropic } from "../test/support/canned-anthropic.js";
import { startTerminal } from "../test/support/terminal.js";

const ROOT = new URL("../", import.meta.url).pathname;
const OUT = join(ROOT, "test/fixtures/client-requests");
const CLAUDE = join(ROOT, "node_modules/.bin/claude");
const CLAUDE_VERSION = "2.1.197";
const run = promisify(execFile);
const versionOf = (pkg: string) =>
  (createRequire(import.meta.url)(`${pkg}/package.json`) as { version: string }).version;

/** Keys whose string values are someone's words (prompts, tool descriptions, file contents): never kept. */
const PROSE = new Set(["text", "description", "content", "system", "thinking", "signature", "data", "prompt"]);

/**
 * The same value with every prose string a placeholder, and every string in a tool call's input or in the body's
 * metadata (paths, ids). Keys, types, roles, tool names and schemas stay as sent.
 */
export function placeholders(value: unknown, key = "", inside = false, root = true): unknown {
  if (typeof value === "string") return inside || PROSE.has(key) ? `[${key || "value"}]` : value;
  if (Array.isArray(value)) return value.map((v) => placeholders(v, key, inside, false));
  if (!value || typeof value !== "object") return value;
  const out: Record<string, unknown> = {};
  const toolUse = (value as { type?: unknown }).type === "tool_use";
  for (const [k, v] of Object.entries(value)) {
    out[k] = placeholders(v, k, inside || (root && k === "metadata") || (toolUse && k === "input"), false);
  }
  return out;
}

/** One client's recorded requests (test/support/client-requests.ts reads them). */
interface FixtureFile {
  client: string;
  version: string;
  how: string;
  requests: RecordedRequest[];
}

function save(name: string, client: string, version: string, how: string, requests: RecordedRequest[]): void {
  const file: FixtureFile = {
    client,
    version,
    how,
    requests: requests.map((r) => ({ ...r, body: placeholders(r.body) })),
  };
  writeFileSync(join(OUT, `${name}.json`), `${JSON.stringify(file, null, 2)}\n`);
  console.log(`${name}.json: ${requests.length} requests (${[...new Set(requests.map((r) => r.phase))].join(", ")})`);
}

/** Claude Code's environment as `llama-sidecar claude` would set it, pointed at `base`, in a private HOME. */
function claudeEnv(base: string, home: string): Record<string, string> {
  const setup = {
    version: "0",
    upstream: { state: "online", model: "tiny", nCtx: 65536, slots: 1 },
    keyRequired: false,
  };
  const { env } = claudeSetup(setup, base, undefined, {});
  markOnboardingDone({ HOME: home });
  return { ...env, HOME: home, PATH: process.env.PATH ?? "", TERM: "xterm-256color", LANG: "C.UTF-8" };
}

async function recordClaude(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), "claude-record-work-"));
  writeFileSync(join(work, "notes.txt"), "hello\n");
  const api = await startCannedAnthropic(join(work, "notes.txt"));
  const env = claudeEnv(api.url, mkdtempSync(join(tmpdir(), "claude-record-home-")));
  const next = (phase: string) => api.setPhase(phase);

  next("terminal: start");
  const term = await startTerminal([CLAUDE], { env, cwd: work });
  await term.waitFor(/trust this folder/);
  await term.press("Enter");
  await term.waitFor(/for shortcuts/);
  next("terminal: a prompt that runs a tool");
  await term.type("Read notes.txt and tell me what it says");
  await term.press("Enter");
  await term.waitFor(/The file says hello/);
  next("terminal: /compact");
  await term.type("/compact");
  await term.press("Enter");
  await term.waitFor(/Compacted/i, 120_000);
  await term.type("/exit");
  await term.press("Enter");
  await term.close();

  next("terminal: a resumed session (claude -c)");
  const again = await startTerminal([CLAUDE, "-c"], { env, cwd: work });
  await again.waitFor(/for shortcuts/);
  await again.type("And now?");
  await again.press("Enter");
  await again.waitFor(/Hello from the recording/);
  await again.close();
  const terminal = api.requests.splice(0);
  save("claude-code-terminal", "Claude Code", CLAUDE_VERSION, "claude in tmux, typed at", terminal);

  next("-p");
  await run(CLAUDE, ["-p", "Say hi"], { env, cwd: work });
  save("claude-code-print", "Claude Code", CLAUDE_VERSION, "claude -p", api.requests.splice(0));

  // The Agent SDK runs the CLI this way: messages in and out as JSON lines.
  next("stream-json (the Agent SDK's mode)");
  const line = JSON.stringify({ type: "user", message: { role: "user", content: "Say hi" } });
  const sdk = execFile(CLAUDE, ["-p", "--input-format", "stream-json", "--output-format", "stream-json", "--verbose"], {
    env,
    cwd: work,
  });
  sdk.stdin?.end(`${line}\n`);
  await new Promise((r) => sdk.on("exit", r));
  save(
    "claude-code-stream-json",
    "Claude Code",
    CLAUDE_VERSION,
    "claude -p --input-format stream-json (as the Agent SDK runs it)",
    api.requests.splice(0),
  );
  await api.close();
}

async function recordSdks(): Promise<void> {
  const api = await startCannedAnthropic("");
  const tool = {
    name: "get_weather",
    description: "Weather for a city",
    input_schema: { type: "object" as const, properties: { city: { type: "string" } }, required: ["city"] },
  };
  const anthropic = new Anthropic({ baseURL: api.url, apiKey: "local", maxRetries: 0 });
  api.setPhase("messages.create");
  await anthropic.messages.create({
    model: "tiny",
    max_tokens: 16,
    system: "Be brief.",
    messages: [{ role: "user", content: "Weather in Paris?" }],
    tools: [tool],
  });
  api.setPhase("messages.stream");
  await anthropic.messages
    .stream({
      model: "tiny",
      max_tokens: 16,
      messages: [{ role: "user", content: [{ type: "text", text: "Hi" }] }],
      temperature: 0.2,
    })
    .finalMessage();
  api.setPhase("messages.countTokens");
  await anthropic.messages.countTokens({ model: "tiny", messages: [{ role: "user", content: "Hi" }], tools: [tool] });
  save(
    "anthropic-sdk",
    "@anthropic-ai/sdk",
    versionOf("@anthropic-ai/sdk"),
    "the official Anthropic SDK",
    api.requests.splice(0),
  );

  const openai = new OpenAI({ baseURL: `${api.url}/v1`, apiKey: "local", maxRetries: 0 });
  const fn = {
    type: "function" as const,
    function: {
      name: "get_weather",
      description: "Weather for a city",
      parameters: { type: "object", properties: { city: { type: "string" } } },
    },
  };
  const calls: [string, () => Promise<unknown>][] = [
    [
      "chat.completions.create, streamed, with tools",
      async () =>
        openai.chat.completions.create({
          model: "tiny",
          max_tokens: 16,
          stream: true,
          stream_options: { include_usage: true },
          tools: [fn],
          messages: [
            { role: "system", content: "Be brief." },
            { role: "user", content: "Weather in Paris?" },
          ],
        }),
    ],
    [
      "chat.completions.create, a tool result",
      async () =>
        openai.chat.completions.create({
          model: "tiny",
          max_completion_tokens: 16,
          messages: [
            { role: "user", content: "Weather in Paris?" },
            {
              role: "assistant",
              content: null,
              tool_calls: [
                { id: "call_1", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } },
              ],
            },
            { role: "tool", tool_call_id: "call_1", content: "sunny" },
          ],
        }),
    ],
    [
      "completions.create",
      async () => openai.completions.create({ model: "tiny", prompt: "Once upon", max_tokens: 16 }),
    ],
    [
      "responses.create",
      async () => openai.responses.create({ model: "tiny", input: "Say hi", max_output_tokens: 16 }),
    ],
  ];
  for (const [phase, call] of calls) {
    api.setPhase(phase);
    await call().catch(() => {}); // the stand-in speaks only Anthropic's API: the request is what is kept
  }
  save("openai-sdk", "openai", versionOf("openai"), "the official OpenAI SDK", api.requests.splice(0));
  await api.close();
}

mkdirSync(OUT, { recursive: true });
await recordSdks();
await recordClaude();
