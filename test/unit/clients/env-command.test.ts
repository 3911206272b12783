// Each client's settings parse as what they claim to be and carry the sidecar's URL, key, model and context.
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { envFor } from "../../../src/clients/env-command.js";
import { ENV_CLIENTS } from "../../../src/clients/env-names.js";
import type { SetupView } from "../../../src/wire/setup-view.js";

const input = {
  setup: {
    version: "0",
    upstream: { state: "online", model: "qwen3-coder", nCtx: 65536, slots: 1 },
    keyRequired: true,
  } satisfies SetupView,
  base: "http://127.0.0.1:9090",
  key: "it's-a-key",
};

/** `export NAME='value'` lines, as a shell reads them (single quotes, an inner quote as '\''). */
function shellVars(text: string): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const line of text.split("\n")) {
    if (line.startsWith("#") || line === "") continue;
    const m = /^export ([A-Z_]+)=((?:'[^']*'|\\')+)$/.exec(line);
    if (!m) throw new Error(`not an export line: ${line}`);
    vars[m[1] as string] = (m[2] as string).replace(/'\\''/g, "'").replace(/^'|'$/g, "");
  }
  return vars;
}

describe("env", () => {
  it("prints Claude Code's variables as shell exports, a quote in a value kept", () => {
    const vars = shellVars(envFor("claude", input));
    expect(vars).toMatchObject({
      ANTHROPIC_BASE_URL: "http://127.0.0.1:9090",
      ANTHROPIC_AUTH_TOKEN: "it's-a-key",
      ANTHROPIC_MODEL: "qwen3-coder",
      CLAUDE_CODE_MAX_CONTEXT_TOKENS: "65536",
      CLAUDE_CODE_AUTO_COMPACT_WINDOW: "65536",
    });
  });

  it("prints the same for settings.json, under env", () => {
    const json = JSON.parse(envFor("claude-settings", input)) as { env: Record<string, string> };
    expect(json.env).toEqual(shellVars(envFor("claude", input)));
  });

  it("prints Cline's OpenAI-compatible provider settings", () => {
    expect(JSON.parse(envFor("cline", input))).toEqual({
      apiProvider: "openai",
      openAiBaseUrl: "http://127.0.0.1:9090/v1",
      openAiApiKey: "it's-a-key",
      openAiModelId: "qwen3-coder",
      openAiModelInfo: { contextWindow: 65536, maxTokens: 16384 },
    });
  });

  it("prints a model entry for Continue's config.yaml", () => {
    expect(parseYaml(envFor("continue", input))).toEqual({
      models: [
        {
          name: "qwen3-coder (llama-sidecar)",
          provider: "openai",
          model: "qwen3-coder",
          apiBase: "http://127.0.0.1:9090/v1",
          apiKey: "it's-a-key",
          defaultCompletionOptions: { contextLength: 65536 },
          roles: ["chat", "edit", "apply"],
        },
      ],
    });
  });

  it("prints the SDKs' own variables", () => {
    expect(shellVars(envFor("openai", input))).toEqual({
      OPENAI_BASE_URL: "http://127.0.0.1:9090/v1",
      OPENAI_API_KEY: "it's-a-key",
      OPENAI_MODEL: "qwen3-coder",
    });
    expect(shellVars(envFor("anthropic", input))).toEqual({
      ANTHROPIC_BASE_URL: "http://127.0.0.1:9090",
      ANTHROPIC_API_KEY: "it's-a-key",
      ANTHROPIC_MODEL: "qwen3-coder",
    });
  });

  it("has an output for every client it lists", () => {
    for (const client of ENV_CLIENTS) expect(envFor(client, input).length).toBeGreaterThan(20);
  });
});
