// `llama-sidecar env <client>`: ready-to-paste settings for each client, with the sidecar's real base URL, model
// name and context length. Each output is one document a machine can read too (shell, JSON or YAML).
import type { SetupView } from "../wire/setup-view.js";
import { ONBOARDING_HINT } from "./claude-config.js";
import { claudeSetup } from "./claude-env.js";
import type { EnvClient } from "./env-names.js";
import { shellQuote } from "./shell-quote.js";

export interface EnvInput {
  setup: SetupView;
  base: string;
  key?: string;
}

const exports = (vars: Record<string, string>) =>
  Object.entries(vars)
    .map(([k, v]) => `export ${k}=${shellQuote(v)}`)
    .join("\n");
/** A YAML scalar: JSON's double-quoted strings are YAML too. */
const y = (v: string | number) => (typeof v === "number" ? String(v) : JSON.stringify(v));

function claudeVars(i: EnvInput): Record<string, string> {
  return claudeSetup(i.setup, i.base, i.key, {}).env;
}

const model = (i: EnvInput) => i.setup.upstream.model ?? "local";

/** The settings for one client, as the text to paste. */
export function envFor(client: EnvClient, i: EnvInput): string {
  const key = i.key ?? "local";
  const nCtx = i.setup.upstream.nCtx;
  switch (client) {
    case "claude":
      return [
        "# Claude Code (or run: llama-sidecar claude, which also does the next line's step for you)",
        `# ${ONBOARDING_HINT}`,
        exports(claudeVars(i)),
      ].join("\n");
    case "claude-settings":
      // ~/.claude/settings.json (or a project's .claude/settings.json): the same variables under "env".
      return JSON.stringify({ env: claudeVars(i) }, null, 2);
    case "cline":
      // Cline's "OpenAI Compatible" provider, field by field as its settings name them.
      return JSON.stringify(
        {
          apiProvider: "openai",
          openAiBaseUrl: `${i.base}/v1`,
          openAiApiKey: key,
          openAiModelId: model(i),
          openAiModelInfo: { contextWindow: nCtx ?? null, maxTokens: nCtx ? Math.floor(nCtx / 4) : null },
        },
        null,
        2,
      );
    case "continue":
      // A model entry for Continue's config.yaml.
      return [
        "models:",
        `  - name: ${y(`${model(i)} (llama-sidecar)`)}`,
        "    provider: openai",
        `    model: ${y(model(i))}`,
        `    apiBase: ${y(`${i.base}/v1`)}`,
        `    apiKey: ${y(key)}`,
        ...(nCtx ? ["    defaultCompletionOptions:", `      contextLength: ${nCtx}`] : []),
        "    roles: [chat, edit, apply]",
      ].join("\n");
    case "openai":
      return `# The official OpenAI SDKs read these\n${exports({ OPENAI_BASE_URL: `${i.base}/v1`, OPENAI_API_KEY: key, OPENAI_MODEL: model(i) })}`;
    case "anthropic":
      return `# The official Anthropic SDKs read these\n${exports({ ANTHROPIC_BASE_URL: i.base, ANTHROPIC_API_KEY: key, ANTHROPIC_MODEL: model(i) })}`;
  }
}
