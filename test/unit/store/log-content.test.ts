// Captured bodies as the log keeps them: keys' shapes and the settings' patterns redacted, capped at a character.
import { describe, expect, it } from "vitest";
import { capped, pack, REDACTED, redactor, unpack } from "../../../src/store/log-content.js";

describe("captured content", () => {
  it("redacts keys' and tokens' shapes, the sidecar's own keys and the settings' patterns", () => {
    const redact = redactor(["ticket-\\d+"], ["my-own-sidecar-key", "short"]);
    const text = [
      "anthropic sk-ant-api03-abcdefghijklmnopqrstuvwxyz012345",
      "openai sk-proj-abcdefghijklmnopqrstuvwxyz",
      "github ghp_abcdefghijklmnopqrstuvwxyz0123",
      "aws AKIAABCDEFGHIJKLMNOP",
      "header Authorization: Bearer abcdefghijklmnopqrstuvwx.yz",
      "ours my-own-sidecar-key, ticket-4711, and a short word",
    ].join("\n");
    const out = redact(text);
    for (const secret of [
      "sk-ant-api03",
      "sk-proj",
      "ghp_",
      "AKIA",
      "abcdefghijklmnopqrstuvwx.yz",
      "my-own-sidecar-key",
      "ticket-4711",
    ]) {
      expect(out).not.toContain(secret);
    }
    expect(out.split(REDACTED)).toHaveLength(8);
    expect(out).toContain("a short word"); // a secret under 8 characters is no key, and not looked for
  });

  it("caps at a whole character with a note of what was left out, and packs and unpacks exactly", () => {
    const text = `${"é".repeat(10)}tail`;
    const cut = capped(text, 7); // 3 whole é (6 bytes) fit, the 4th would be cut in two
    expect(cut).toBe(`ééé\n[… 18 bytes left out]`);
    expect(capped("short", 100)).toBe("short");
    expect(unpack(pack(text))).toBe(text);
    expect(pack(undefined)).toBeNull();
    expect(unpack(null)).toBeUndefined();
  });
});
