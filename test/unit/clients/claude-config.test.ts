// The launcher marks Claude Code's first-run setup done (it waits on Anthropic's servers), keeping the rest of the file.
import { mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { claudeStatePath, markOnboardingDone } from "../../../src/clients/claude-config.js";

const home = () => mkdtempSync(join(tmpdir(), "claude-config-"));
const read = (path: string) => JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;

describe("markOnboardingDone", () => {
  it("writes the flag into a new ~/.claude.json, readable by its owner only, and says so", () => {
    const HOME = home();
    expect(markOnboardingDone({ HOME })).toMatch(/^marked Claude Code's first-run setup done in .*\.claude\.json/);
    const path = join(HOME, ".claude.json");
    expect(read(path)).toEqual({ hasCompletedOnboarding: true });
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it("keeps everything else in an existing file, and does nothing once the flag is set", () => {
    const HOME = home();
    const path = join(HOME, ".claude.json");
    const mine = {
      projects: { "/w": { hasTrustDialogAccepted: true } },
      customApiKeyResponses: { rejected: ["local"] },
    };
    writeFileSync(path, JSON.stringify(mine), { mode: 0o644 });
    markOnboardingDone({ HOME });
    expect(read(path)).toEqual({ ...mine, hasCompletedOnboarding: true });
    expect(statSync(path).mode & 0o777).toBe(0o644);
    expect(markOnboardingDone({ HOME })).toBeUndefined();
  });

  it("leaves a file it cannot read alone, and says what to do", () => {
    const HOME = home();
    writeFileSync(join(HOME, ".claude.json"), "{ not json");
    expect(markOnboardingDone({ HOME })).toMatch(
      /^could not read .*\(not a JSON object\).*"hasCompletedOnboarding": true/,
    );
    expect(readFileSync(join(HOME, ".claude.json"), "utf8")).toBe("{ not json");
  });

  it("finds the file where Claude Code does: CLAUDE_CONFIG_DIR, and its older .config.json", () => {
    const HOME = home();
    const dir = join(HOME, "cc");
    expect(claudeStatePath({ HOME, CLAUDE_CONFIG_DIR: dir })).toBe(join(dir, ".claude.json"));
    mkdirSync(dir);
    writeFileSync(join(dir, ".config.json"), "{}");
    expect(claudeStatePath({ HOME, CLAUDE_CONFIG_DIR: dir })).toBe(join(dir, ".config.json"));
    expect(claudeStatePath({ HOME })).toBe(join(HOME, ".claude.json"));
  });
});
