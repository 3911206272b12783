import { describe, expect, it } from "vitest";
import {
  NORMALIZED_HEADER,
  normalizeAnthropic,
  normalizeOpenai,
  normalizeText,
} from "../../../src/claude/billing-header.js";

const header = (cch: string) => `x-anthropic-billing-header: cc_version=2.1.101.e51; cc_entrypoint=cli; cch=${cch};`;

describe("billing header normalization", () => {
  it("replaces the whole header value, whatever the cch length, and keeps the prompt after it", () => {
    for (const cch of ["a5145", "0", "abcdef0123456789"]) {
      expect(normalizeText(`${header(cch)}You are Claude Code.`)).toBe(`${NORMALIZED_HEADER}You are Claude Code.`);
    }
    expect(normalizeText(`${header("x")}\nYou are Claude Code.`)).toBe(`${NORMALIZED_HEADER}\nYou are Claude Code.`);
  });

  it("leaves prompts without the header alone", () => {
    expect(normalizeText("You are helpful. x-anthropic-billing-header: cch=1;")).toBeUndefined();
  });

  it("normalizes Anthropic system strings and text blocks, and OpenAI system and developer messages", () => {
    const a = {
      system: [
        { type: "text", text: header("11111") },
        { type: "text", text: "Rules." },
      ],
    };
    expect(normalizeAnthropic(a)).toBe(1);
    expect(a.system[0]?.text).toBe(NORMALIZED_HEADER);
    const s = { system: `${header("22")}Rules.` };
    expect(normalizeAnthropic(s)).toBe(1);
    const o = {
      messages: [
        { role: "system", content: `${header("333")}Rules.` },
        { role: "developer", content: [{ type: "text", text: header("4") }] },
        { role: "user", content: header("5") },
      ],
    };
    expect(normalizeOpenai(o)).toBe(2);
    expect(o.messages[2]?.content).toBe(header("5")); // user text is never touched
  });
});
