// The variables that fit Claude Code to the local server: each value from what the sidecar knows, the user's own kept.
import { describe, expect, it } from "vitest";
import { claudeSetup, compactAt, maxOutputFor } from "../../../src/clients/claude-env.js";
import type { SetupView } from "../../../src/wire/setup-view.js";

const setup = (nCtx?: number, model: string | undefined = "qwen3-coder"): SetupView => ({
  version: "0",
  upstream: { state: "online", model, nCtx, slots: 1 },
  keyRequired: false,
});

describe("claudeSetup", () => {
  it("points Claude Code at the sidecar with a window of the slot's context, compacting ahead where there is room", () => {
    const { env, lines } = claudeSetup(setup(131072), "http://127.0.0.1:9090", undefined, {});
    expect(env).toEqual({
      ANTHROPIC_BASE_URL: "http://127.0.0.1:9090",
      ANTHROPIC_AUTH_TOKEN: "local",
      CLAUDE_CODE_ATTRIBUTION_HEADER: "0",
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
      ANTHROPIC_MODEL: "qwen3-coder",
      ANTHROPIC_DEFAULT_OPUS_MODEL: "qwen3-coder",
      ANTHROPIC_DEFAULT_SONNET_MODEL: "qwen3-coder",
      ANTHROPIC_DEFAULT_HAIKU_MODEL: "qwen3-coder",
      CLAUDE_CODE_MAX_CONTEXT_TOKENS: "131072",
      CLAUDE_CODE_MAX_OUTPUT_TOKENS: "32000",
      CLAUDE_CODE_AUTO_COMPACT_WINDOW: "131072",
      CLAUDE_CODE_ENABLE_TELEMETRY: "1",
      OTEL_LOGS_EXPORTER: "otlp",
      OTEL_METRICS_EXPORTER: "otlp",
      OTEL_TRACES_EXPORTER: "otlp",
      CLAUDE_CODE_ENHANCED_TELEMETRY_BETA: "1",
      CLAUDE_CODE_PROPAGATE_TRACEPARENT: "1",
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf",
      OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:9090/otlp",
      OTEL_LOGS_EXPORT_INTERVAL: "1000",
      OTEL_TRACES_EXPORT_INTERVAL: "1000",
      OTEL_METRIC_EXPORT_INTERVAL: "10000",
    });
    // 131072 - min(32000, 20000) - 13000 = 98072: about 96k.
    expect(lines[0]).toBe(
      "context 128k per slot (llama-server's n_ctx), not 200k: Claude Code compacts at about 96k tokens; replies up to 32000 tokens",
    );
    expect(lines).toHaveLength(3);
  });

  it("sends Claude Code's own telemetry to the sidecar with its key, unless the user exports it elsewhere", () => {
    const keyed = claudeSetup(setup(32768), "http://h:1", "sk-local-key", {});
    expect(keyed.env.OTEL_EXPORTER_OTLP_ENDPOINT).toBe("http://h:1/otlp");
    expect(keyed.env.OTEL_EXPORTER_OTLP_HEADERS).toBe("x-api-key=sk-local-key");
    const theirs = claudeSetup(setup(32768), "http://h:1", "sk-local-key", { OTEL_LOGS_EXPORTER: "console" });
    expect(Object.keys(theirs.env).filter((k) => k.startsWith("OTEL_") || k.includes("TELEMETRY"))).toEqual([]);
    expect(theirs.lines).toContain(
      "your own telemetry settings (OTEL_LOGS_EXPORTER) are kept: to see tools and waits in the sidecar's session reports too, add http://h:1/otlp as a second endpoint (README: Both sides of a session)",
    );
  });

  it("leaves compaction to the overflow error where the window has no room to compact ahead", () => {
    const { env, lines } = claudeSetup(setup(32768), "http://h:1", "sk-local-key", {});
    expect(env.CLAUDE_CODE_AUTO_COMPACT_WINDOW).toBeUndefined();
    expect(env.CLAUDE_CODE_MAX_CONTEXT_TOKENS).toBe("32768");
    expect(env.CLAUDE_CODE_MAX_OUTPUT_TOKENS).toBe("8192");
    expect(env.ANTHROPIC_AUTH_TOKEN).toBe("sk-local-key");
    expect(env.ANTHROPIC_API_KEY).toBeUndefined();
    expect(lines[0]).toMatch(
      /^context 32k per slot .*compacts when a prompt no longer fits \(the sidecar says "prompt is too long"/,
    );
  });

  it("keeps every variable the user set, and says so", () => {
    const user = { CLAUDE_CODE_MAX_OUTPUT_TOKENS: "100", ANTHROPIC_MODEL: "mine" };
    const { env, kept, lines } = claudeSetup(setup(65536), "http://h:1", undefined, user);
    expect(env.CLAUDE_CODE_MAX_OUTPUT_TOKENS).toBeUndefined();
    expect(env.ANTHROPIC_MODEL).toBeUndefined();
    expect(kept).toEqual(["ANTHROPIC_MODEL", "CLAUDE_CODE_MAX_OUTPUT_TOKENS"]);
    expect(lines.at(-1)).toBe("kept your own ANTHROPIC_MODEL, CLAUDE_CODE_MAX_OUTPUT_TOKENS");
  });

  it("keeps a connection whole: the user's base URL with their key, or the sidecar's with its own", () => {
    // A key for Anthropic's API in the user's profile must not go to the sidecar (and on to llama-server).
    const profile = { ANTHROPIC_API_KEY: "sk-ant-real", ANTHROPIC_AUTH_TOKEN: "tok" };
    const local = claudeSetup(setup(65536), "http://h:1", undefined, profile);
    // The sidecar's key goes as a token: Claude Code asks about an API key in a terminal, and a No sticks.
    expect(local.env.ANTHROPIC_AUTH_TOKEN).toBe("local");
    expect(local.drop).toEqual(["ANTHROPIC_API_KEY"]);
    expect(local.lines).toContain(
      "your ANTHROPIC_API_KEY and ANTHROPIC_AUTH_TOKEN stay out of it: the sidecar gets its own key",
    );
    const old = claudeSetup(setup(65536), "http://h:1", undefined, { ANTHROPIC_API_KEY: "local" });
    expect(old.drop).toEqual(["ANTHROPIC_API_KEY"]);
    expect(old.lines).toContain("your ANTHROPIC_API_KEY stays out of it: the sidecar gets its own key");
    const elsewhere = claudeSetup(setup(65536), "http://h:1", undefined, {
      ...profile,
      ANTHROPIC_BASE_URL: "https://x",
    });
    expect(elsewhere.env.ANTHROPIC_BASE_URL).toBeUndefined();
    expect(elsewhere.env.ANTHROPIC_API_KEY).toBeUndefined();
    expect(elsewhere.env.ANTHROPIC_AUTH_TOKEN).toBeUndefined();
    expect(elsewhere.drop).toEqual([]);
    expect(elsewhere.lines).toContain("your ANTHROPIC_BASE_URL is kept: Claude Code will not go through this sidecar");
  });

  it("renames a local model called claude-*: Claude Code would take it for its own and assume 200k", () => {
    expect(claudeSetup(setup(65536, "claude-distill"), "http://h:1", undefined, {}).env.ANTHROPIC_MODEL).toBe(
      "local-claude-distill",
    );
  });

  it("names a model served from a file by the file's name", () => {
    const { env, lines } = claudeSetup(
      setup(65536, "/models/Qwen3-Coder-30B-Q4_K_M.gguf"),
      "http://h:1",
      undefined,
      {},
    );
    expect(env.ANTHROPIC_MODEL).toBe("Qwen3-Coder-30B-Q4_K_M");
    // The launcher's own line names it as Claude Code will show it, not by its path.
    expect(lines[1]).toMatch(/^model Qwen3-Coder-30B-Q4_K_M for every tier;/);
  });

  it("sets no window or model it does not know", () => {
    const unknown: SetupView = { version: "0", upstream: { state: "loading" }, keyRequired: false };
    const { env, lines } = claudeSetup(unknown, "http://h:1", undefined, {});
    expect(Object.keys(env).sort()).toEqual([
      "ANTHROPIC_AUTH_TOKEN",
      "ANTHROPIC_BASE_URL",
      "CLAUDE_CODE_ATTRIBUTION_HEADER",
      "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC",
      "CLAUDE_CODE_ENABLE_TELEMETRY",
      "CLAUDE_CODE_ENHANCED_TELEMETRY_BETA",
      "CLAUDE_CODE_PROPAGATE_TRACEPARENT",
      "OTEL_EXPORTER_OTLP_ENDPOINT",
      "OTEL_EXPORTER_OTLP_PROTOCOL",
      "OTEL_LOGS_EXPORTER",
      "OTEL_LOGS_EXPORT_INTERVAL",
      "OTEL_METRICS_EXPORTER",
      "OTEL_METRIC_EXPORT_INTERVAL",
      "OTEL_TRACES_EXPORTER",
      "OTEL_TRACES_EXPORT_INTERVAL",
    ]);
    expect(lines[0]).toBe("llama-server's context size is not known yet: Claude Code keeps its own defaults for it");
  });

  it("sizes replies to a quarter of the context, in whole k, within 1k and 32,000", () => {
    expect(maxOutputFor(4096)).toBe(1024);
    expect(maxOutputFor(32768)).toBe(8192);
    expect(maxOutputFor(50000)).toBe(12288);
    expect(maxOutputFor(1_000_000)).toBe(32000);
    expect(compactAt(131072, 32000)).toBe(98072);
  });
});
