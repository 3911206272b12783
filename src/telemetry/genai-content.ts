// A captured request and answer in OpenTelemetry's GenAI content shape (gen_ai.input.messages,
// gen_ai.output.messages, gen_ai.system_instructions), so Langfuse, Datadog and Phoenix show a conversation.
import type { Dialect } from "../wire/dialect.js";
import { asObject, type JsonObject } from "../wire/json.js";

/** A part of a message: text, a tool call or a tool's answer (the registry's shapes); anything else by its type. */
type Part =
  | { type: "text"; content: string }
  | { type: "tool_call"; id?: string; name: string; arguments?: unknown }
  | { type: "tool_call_response"; id?: string; response: unknown }
  | { type: string; [k: string]: unknown };

interface Message {
  role: string;
  parts: Part[];
  finish_reason?: string;
}

const text = (content: unknown): Part[] => (typeof content === "string" ? [{ type: "text", content }] : []);

/** Anthropic's content blocks (and OpenAI's content parts) as parts. */
function blocks(content: unknown): Part[] {
  if (!Array.isArray(content)) return text(content);
  return content.flatMap((raw): Part[] => {
    const b = asObject(raw);
    if (!b) return [];
    if (b.type === "text") return text(b.text);
    if (b.type === "tool_use")
      return [{ type: "tool_call", id: b.id as string, name: String(b.name), arguments: b.input }];
    if (b.type === "tool_result") {
      const response = Array.isArray(b.content) ? blocks(b.content) : b.content;
      return [{ type: "tool_call_response", id: b.tool_use_id as string, response }];
    }
    if (b.type === "thinking") return [{ type: "reasoning", content: b.thinking }];
    return [{ type: String(b.type) }]; // an image or a document: its kind, never its bytes
  });
}

function openaiMessage(m: JsonObject): Message {
  const role = String(m.role);
  if (role === "tool")
    return { role, parts: [{ type: "tool_call_response", id: m.tool_call_id as string, response: m.content }] };
  const calls = (Array.isArray(m.tool_calls) ? m.tool_calls : []).map((raw): Part => {
    const c = asObject(raw) ?? {};
    const f = asObject(c.function) ?? {};
    return { type: "tool_call", id: c.id as string, name: String(f.name), arguments: f.arguments };
  });
  return { role, parts: [...blocks(m.content), ...calls] };
}

/** The request's messages; Anthropic's system prompt is apart (systemInstructions). */
export function inputMessages(dialect: Dialect, body: JsonObject): Message[] {
  const messages = Array.isArray(body.messages) ? body.messages.map(asObject).filter((m) => m !== undefined) : [];
  if (dialect === "anthropic-messages")
    return messages.map((m) => ({ role: String(m.role), parts: blocks(m.content) }));
  if (messages.length > 0) return messages.map(openaiMessage);
  if (typeof body.prompt === "string") return [{ role: "user", parts: text(body.prompt) }];
  if (Array.isArray(body.input))
    return body.input
      .map(asObject)
      .filter((m) => m !== undefined)
      .map(openaiMessage);
  return typeof body.input === "string" ? [{ role: "user", parts: text(body.input) }] : [];
}

export function systemInstructions(dialect: Dialect, body: JsonObject): Part[] | undefined {
  const system = dialect === "anthropic-messages" ? body.system : body.instructions;
  const parts = blocks(system);
  return parts.length > 0 ? parts : undefined;
}

export function outputMessages(completion: string, finishReason: string | undefined): Message[] {
  return [{ role: "assistant", parts: text(completion), finish_reason: finishReason }];
}

/**
 * JSON of at most `limit` characters that still parses: the oldest messages are left out first (the latest turn is
 * what a reader looks for), then the last one's text is cut.
 */
export function cappedJson(messages: readonly unknown[], limit: number): string {
  let from = 0;
  let json = JSON.stringify(messages);
  while (json.length > limit && from < messages.length - 1) json = JSON.stringify(messages.slice(++from));
  if (json.length <= limit) return json;
  // Escaping can double the text's length: half the limit, less the wrapper, always fits.
  const cut = json.slice(0, Math.max(0, Math.floor(limit / 2) - 64));
  return JSON.stringify([{ role: "truncated", parts: [{ type: "text", content: cut }] }]);
}
