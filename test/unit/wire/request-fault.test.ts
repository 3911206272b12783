// llama-server's parsers answer a malformed message or tool with a 500: those, and only those, are the client's.
import { describe, expect, it } from "vitest";
import { requestFault, upstreamErrorMessage } from "../../../src/wire/request-fault.js";

const openai = (message: string) => ({ error: { code: 500, message, type: "server_error" } });

describe("requestFault", () => {
  it("names llama-server's parse failures of the request, in either error shape", () => {
    const missing = 'Failed to parse messages: Missing \'role\' in message: {"content":"s"}';
    expect(requestFault(500, openai(missing))).toBe(missing);
    expect(requestFault(500, openai("Failed to parse tools: Missing tool type: true"))).toMatch(/^Failed to parse/);
    expect(requestFault(500, openai("Failed to parse tool call arguments as JSON: [json.exception]"))).toBeDefined();
    const anthropic = { type: "error", error: { type: "api_error", message: "'messages' is required" } };
    expect(requestFault(500, anthropic)).toBe("'messages' is required");
  });

  it("leaves the server's own faults and other statuses alone", () => {
    expect(requestFault(500, openai("Failed to decode the batch"))).toBeUndefined();
    expect(requestFault(400, openai("Failed to parse messages: x"))).toBeUndefined();
    expect(requestFault(500, undefined)).toBeUndefined();
    expect(requestFault(500, { error: "Failed to parse messages: x" })).toBeUndefined();
    expect(upstreamErrorMessage({ error: { message: 5 } })).toBeUndefined();
  });
});
