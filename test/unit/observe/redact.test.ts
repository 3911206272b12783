// Error messages kept as their kind: llama-server's known shapes as far as they go, any other upstream text as its
// error type alone, the sidecar's own messages cut before quoted content.
import { describe, expect, it } from "vitest";
import { errorKind, upstreamErrorKind } from "../../../src/observe/redact.js";

describe("upstreamErrorKind", () => {
  it("keeps llama-server's known shapes, counts and field names, nothing after them", () => {
    expect(
      upstreamErrorKind(
        'Failed to parse messages: Missing \'role\' in message: {"content":"PIN 4242"}',
        "server_error",
      ),
    ).toBe("Failed to parse messages");
    const overflow = "request (9000 tokens) exceeds the available context size (8192 tokens), try increasing it";
    expect(upstreamErrorKind(overflow, "exceed_context_size_error")).toBe(
      "request (9000 tokens) exceeds the available context size (8192 tokens)",
    );
    expect(upstreamErrorKind("prompt is too long: 9000 tokens > 8192 maximum", undefined)).toBe(
      "prompt is too long: 9000 tokens > 8192 maximum",
    );
  });

  it("keeps free text of no known shape as the error's type alone: it may repeat the prompt unquoted", () => {
    expect(upstreamErrorKind("cannot tokenize ECHOPLAIN my PIN is 4242", "invalid_request_error")).toBe(
      "llama-server invalid_request_error (its text is kept only with --capture-content)",
    );
    expect(upstreamErrorKind("boom", "not a type: PIN 4242")).toBe(
      "llama-server error (its text is kept only with --capture-content)",
    );
    expect(upstreamErrorKind(undefined, undefined)).toMatch(/^llama-server error/);
  });
});

describe("errorKind", () => {
  it("cuts the sidecar's own messages where quoted content starts, keeping a quoted field name", () => {
    expect(errorKind('Missing \'role\' in message: {"content":"x"}')).toBe("Missing 'role' in message");
    expect(errorKind('no upstream serves model "secret"')).toBe("no upstream serves model");
    // A known shape is kept whole, its apostrophe included: the cache verdict reads the overflow's sizes from it.
    const openai =
      "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens. Please reduce the length of the messages.";
    expect(errorKind(openai)).toBe(
      "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens",
    );
  });
});
