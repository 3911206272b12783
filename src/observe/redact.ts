// Error messages reduced to their kind before they are kept: llama-server (and JSON.parse) quote the request
// back in their errors, sometimes without quotes ("cannot tokenize <the prompt>"), and the sidecar keeps no prompt
// text unless asked (--capture-content).

import { REQUEST_PARSE_ERRORS } from "../wire/request-fault.js";

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

/**
 * The shapes llama-server's (and the sidecar's own context-overflow) messages take that hold counts and field names
 * but nothing of the request: kept as far as the shape goes. Any other upstream message is free text that may
 * echo the prompt, kept as its error type alone.
 */
const KNOWN_KINDS: readonly RegExp[] = [
  /^request \(\d+ tokens\) exceeds the available context size \(\d+ tokens\)/,
  /^the request exceeds the available context size/,
  /^prompt is too long: \d+ tokens > \d+ maximum/,
  /^This model's maximum context length is \d+ tokens\. However, your messages resulted in \d+ tokens/,
  /^Loading model/,
  /^Invalid API Key/,
];

/** The part of a message that is one of the known shapes, if it is one. */
function knownKind(message: string): string | undefined {
  // llama-server's parse failures of the request (wire/request-fault.ts), as far as their fixed opening goes.
  const parse = REQUEST_PARSE_ERRORS.find((p) => message.startsWith(p));
  if (parse) return parse.replace(/:$/, "");
  for (const kind of KNOWN_KINDS) {
    const m = kind.exec(message);
    if (m) return m[0];
  }
  return undefined;
}

/** Where quoted or structured content starts: a JSON object or array, a string in any quotes. */
const RISKY = /[{"`]|\[(?=[{"\d\s\]])|'([^']*)'|'/g;

/**
 * The first line of a message, cut where quoted or structured content starts; a bracketed tag
 * ("[json.exception.parse_error.101]") and a quoted field name ('role') stay, any other quoted text goes.
 * "Missing 'role' in message: {"content":"…"}" becomes "Missing 'role' in message".
 */
export function errorKind(message: string): string {
  const known = knownKind(message);
  if (known) return known;
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

/** An error an upstream sent: a known shape as far as it goes, else "llama-server <its error type>". */
export function upstreamErrorKind(message: string | undefined, type: string | undefined): string {
  const known = message === undefined ? undefined : knownKind(message);
  if (known) return known;
  const t = type && /^[a-z_]{1,40}$/i.test(type) ? type : "error";
  return `llama-server ${t} (its text is kept only with --capture-content)`;
}
