// Anthropic Messages on the wire: the message object, its usage, its stop reasons, its errors and the event
// sequence of a streamed message. The translation and the local answers both write through it.
import { anthropicErrorType } from "../errors.js";
import type { JsonObject } from "./json.js";
import { sseFrame } from "./sse-frame.js";

export interface AnthropicUsage {
  input_tokens: number;
  output_tokens: number;
  cache_read_input_tokens: number;
  cache_creation_input_tokens: number;
}

export const NO_USAGE: Readonly<AnthropicUsage> = Object.freeze({
  input_tokens: 0,
  output_tokens: 0,
  cache_read_input_tokens: 0,
  cache_creation_input_tokens: 0,
});

export interface MessageFields {
  id: string;
  model: unknown;
  content: JsonObject[];
  stopReason: string | null;
  usage: AnthropicUsage;
}

/** A Messages API `message` object, as a whole answer or as the one `message_start` carries. */
export function message(fields: MessageFields): JsonObject {
  return {
    id: fields.id,
    type: "message",
    role: "assistant",
    model: fields.model,
    content: fields.content,
    stop_reason: fields.stopReason,
    stop_sequence: null,
    usage: fields.usage,
  };
}

/** An error body in Anthropic's shape, its type chosen by the HTTP status (errors.ts owns the mapping). */
export function errorBody(status: number, text: string): JsonObject {
  return { type: "error", error: { type: anthropicErrorType(status), message: text } };
}

export const events = {
  messageStart: (msg: JsonObject) => sseFrame("message_start", { type: "message_start", message: msg }),
  ping: () => sseFrame("ping", { type: "ping" }),
  blockStart: (index: number, block: JsonObject) =>
    sseFrame("content_block_start", { type: "content_block_start", index, content_block: block }),
  blockDelta: (index: number, delta: JsonObject) =>
    sseFrame("content_block_delta", { type: "content_block_delta", index, delta }),
  blockStop: (index: number) => sseFrame("content_block_stop", { type: "content_block_stop", index }),
  messageDelta: (stopReason: string, usage: Partial<AnthropicUsage>) =>
    sseFrame("message_delta", {
      type: "message_delta",
      delta: { stop_reason: stopReason, stop_sequence: null },
      usage,
    }),
  messageStop: () => sseFrame("message_stop", { type: "message_stop" }),
  error: (body: JsonObject) => sseFrame("error", body),
};

/** A finished message of text blocks as the whole event sequence a streamed answer would have sent. */
export function messageEvents(fields: MessageFields & { content: { type: "text"; text: string }[] }): string {
  const { stopReason, content } = fields;
  let out = events.messageStart(message({ ...fields, content: [], stopReason: null }));
  content.forEach((block, index) => {
    out += events.blockStart(index, { type: "text", text: "" });
    out += events.blockDelta(index, { type: "text_delta", text: block.text });
    out += events.blockStop(index);
  });
  out += events.messageDelta(stopReason ?? "end_turn", { output_tokens: fields.usage.output_tokens });
  return out + events.messageStop();
}
