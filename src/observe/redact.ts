// Error messages reduced to their kind before they are kept: llama-server (and JSON.parse) quote the request
// back in their errors, and the sidecar keeps no prompt text unless asked (--capture-content).

const MAX_KIND_LENGTH = 200;

/** Names of request fields that errors quote ('role' in "Missing 'role' in message"): they say what, not who. */
const FIELD_NAMES = new Set([
  "role",
  "content",
  "messages",
  "message",
  "model",
  "tools",
  "tool_calls",
  "tool_choice",
  "type",
  "name",
  "text",
  "prompt",
  "input",
  "system",
  "max_tokens",
  "stream",
  "function",
  "arguments",
]);

/** Where quoted or structured content starts: a JSON object or array, a string in any quotes. */
const RISKY = /[{"`]|\[(?=[{"\d\s\]])|'([^']*)'|'/g;

/**
 * The first line of a message, cut where quoted or structured content starts; a bracketed tag
 * ("[json.exception.parse_error.101]") and a quoted field name ('role') stay, any other quoted text goes.
 * "Missing 'role' in message: {"content":"…"}" becomes "Missing 'role' in message".
 */
export function errorKind(message: string): string {
  const first = message.split(/\r?\n/, 1)[0] ?? "";
  let cut = first.length;
  for (const m of first.matchAll(RISKY)) {
    if (m[1] !== undefined && FIELD_NAMES.has(m[1])) continue;
    cut = m.index;
    break;
  }
  const kept = first.slice(0, cut).replace(/[\s:;,.(-]+$/, "");
  return kept.length > MAX_KIND_LENGTH ? `${kept.slice(0, MAX_KIND_LENGTH)}…` : kept || "error";
}
