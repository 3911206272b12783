// Which of llama-server's 500 answers are the client's malformed request, not the server's fault: its request
// parsers throw a generic error (500) for a message, tool or tool call of the wrong shape. The sidecar checks
// nothing of its own there (what llama-server takes must pass untouched); it tells the client its request was
// refused, with llama-server's own words, as the 400 the client's protocol has for that.
import { asObject } from "./json.js";

/**
 * How llama-server's request parsers begin their errors (llama.cpp common/chat.cpp common_chat_msgs_parse_oaicompat
 * and common_chat_tools_parse_oaicompat; tools/server server_chat_convert_anthropic_to_oai and the tool-call
 * arguments parse). A fault in the server itself never begins so.
 */
export const REQUEST_PARSE_ERRORS = [
  "Failed to parse messages:",
  "Failed to parse tools:",
  "Failed to parse tool call arguments",
  "'messages' is required",
];

/** llama-server's error message, from its OpenAI-shaped or Anthropic-shaped error body. */
export function upstreamErrorMessage(json: Record<string, unknown> | undefined): string | undefined {
  const message = asObject(json?.error)?.message;
  return typeof message === "string" ? message : undefined;
}

/** The message of a 500 that says the client's request was malformed; nothing for any other answer. */
export function requestFault(status: number, json: Record<string, unknown> | undefined): string | undefined {
  if (status !== 500) return undefined;
  const message = upstreamErrorMessage(json);
  return message && REQUEST_PARSE_ERRORS.some((p) => message.startsWith(p)) ? message : undefined;
}
