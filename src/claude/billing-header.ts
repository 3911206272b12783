// Makes Claude Code's per-request billing header constant, so llama-server's prefix cache survives each turn.
import type { JsonObject } from "../wire/json.js";

//
// Claude Code starts the system prompt with a line such as
//   x-anthropic-billing-header: cc_version=2.1.101.e51; cc_entrypoint=cli; cch=a5145;You are Claude Code, ...
// and some fields change on every request. The prompt's tokens then diverge a few dozen tokens in, and
// llama-server re-processes the whole prompt every turn (a minute of prefill on a long session).
// Recent llama-server builds fix cch= on /v1/messages only, and only when it is exactly five characters;
// this replaces the whole value, on both the Anthropic and the OpenAI paths.

const HEADER = "x-anthropic-billing-header:";
/** The header name and its `key=value;` fields, up to the prompt text that follows on the same line. */
const HEADER_FIELDS = /^x-anthropic-billing-header:(?:[ \t]*[\w.-]+=[^;\n]*;?)+/;
export const NORMALIZED_HEADER = `${HEADER} cch=llama-sidecar;`;

export function normalizeText(text: string): string | undefined {
  if (!text.startsWith(HEADER)) return undefined;
  const replaced = text.replace(HEADER_FIELDS, NORMALIZED_HEADER);
  return replaced === text ? undefined : replaced;
}

/** Normalizes a string or an array of text blocks in place; returns how many texts changed. */
function normalizeContent(holder: JsonObject, key: string): number {
  const value = holder[key];
  if (typeof value === "string") {
    const next = normalizeText(value);
    if (next === undefined) return 0;
    holder[key] = next;
    return 1;
  }
  if (!Array.isArray(value)) return 0;
  let changed = 0;
  for (const block of value) {
    if (block && typeof block === "object" && typeof (block as JsonObject).text === "string") {
      changed += normalizeContent(block as JsonObject, "text");
    }
  }
  return changed;
}

/** Anthropic Messages: the top-level `system` (string or text blocks). */
export function normalizeAnthropic(body: JsonObject): number {
  return normalizeContent(body, "system");
}

/** OpenAI chat: system and developer messages (string or content parts). */
export function normalizeOpenai(body: JsonObject): number {
  if (!Array.isArray(body.messages)) return 0;
  let changed = 0;
  for (const m of body.messages) {
    const msg = m as JsonObject;
    if (msg && (msg.role === "system" || msg.role === "developer")) changed += normalizeContent(msg, "content");
  }
  return changed;
}

/** The header as bytes, made once: Buffer.includes would otherwise convert the string on every request. */
const HEADER_BYTES = Buffer.from(HEADER);

/** Cheap test on the raw body before any parsing: most requests carry no header at all. */
export function mayCarryHeader(raw: Buffer): boolean {
  return raw.includes(HEADER_BYTES);
}
