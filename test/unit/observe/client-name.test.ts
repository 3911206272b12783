import { describe, expect, it } from "vitest";
import { identifyClient } from "../../../src/observe/client-name.js";

describe("identifyClient", () => {
  it.each([
    [{ "user-agent": "claude-cli/2.0.14 (external, cli)" }, "claude-code"],
    [{ "user-agent": "OpenAI/JS 4.0", "x-title": "Cline" }, "cline"],
    [{ "user-agent": "OpenAI/JS 4.0", "http-referer": "https://cline.bot" }, "cline"],
    [{ "user-agent": "Cursor/1.0" }, "cursor"],
    [{ "user-agent": "curl/8.0" }, "other"],
    [{}, "other"],
  ])("%j -> %s", (headers, want) => {
    expect(identifyClient(headers)).toBe(want);
  });
});
