// The clients `llama-sidecar env` prints settings for (env-command.ts has what it prints).
export const ENV_CLIENTS = ["claude", "claude-settings", "cline", "continue", "openai", "anthropic"] as const;
export type EnvClient = (typeof ENV_CLIENTS)[number];
