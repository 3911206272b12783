// OpenAI chat completion (whole or streamed) -> Anthropic Messages response, with the exact SSE event sequence.
import { type AnthropicUsage, errorBody, events, message as messageObject, NO_USAGE } from "../wire/anthropic.js";
import { finiteOrZero, type JsonObject, objectOrEmpty, stringOrEmpty } from "../wire/json.js";

function stopReason(finish: string | undefined | null): string {
  switch (finish) {
    case "length":
      return "max_tokens";
    case "tool_calls":
    case "function_call":
      return "tool_use";
    default:
      return "end_turn";
  }
}

/** OpenAI usage counts cached tokens inside prompt_tokens; Anthropic's input_tokens excludes them. */
function anthropicUsage(usage: unknown): AnthropicUsage {
  const u = objectOrEmpty(usage);
  const cached = finiteOrZero(objectOrEmpty(u.prompt_tokens_details).cached_tokens);
  return {
    input_tokens: Math.max(0, finiteOrZero(u.prompt_tokens) - cached),
    output_tokens: finiteOrZero(u.completion_tokens),
    cache_read_input_tokens: cached,
    cache_creation_input_tokens: 0,
  };
}

function parseArguments(args: unknown): JsonObject {
  try {
    const v = JSON.parse(stringOrEmpty(args) || "{}");
    return objectOrEmpty(v);
  } catch {
    return {};
  }
}

function messageId(openaiId: unknown): string {
  const id = stringOrEmpty(openaiId).replace(/^chatcmpl-/, "");
  return `msg_${id || Date.now().toString(36)}`;
}

export function openaiToAnthropic(completion: JsonObject, requestModel: unknown): JsonObject {
  const choice = objectOrEmpty((Array.isArray(completion.choices) ? completion.choices : [])[0]);
  const message = objectOrEmpty(choice.message);
  const content: JsonObject[] = [];
  if (stringOrEmpty(message.reasoning_content))
    content.push({ type: "thinking", thinking: stringOrEmpty(message.reasoning_content), signature: "" });
  if (stringOrEmpty(message.content)) content.push({ type: "text", text: stringOrEmpty(message.content) });
  for (const raw of Array.isArray(message.tool_calls) ? message.tool_calls : []) {
    const call = objectOrEmpty(raw);
    const fn = objectOrEmpty(call.function);
    content.push({
      type: "tool_use",
      id: stringOrEmpty(call.id),
      name: stringOrEmpty(fn.name),
      input: parseArguments(fn.arguments),
    });
  }
  return messageObject({
    id: messageId(completion.id),
    model: stringOrEmpty(completion.model) || requestModel,
    content,
    stopReason: stopReason(stringOrEmpty(choice.finish_reason)),
    usage: anthropicUsage(completion.usage),
  });
}

/** An OpenAI-shaped (or any) error body as an Anthropic error body, keeping the upstream's message. */
export function anthropicError(status: number, body: unknown): JsonObject {
  const e = objectOrEmpty(objectOrEmpty(body).error);
  return errorBody(status, stringOrEmpty(e.message) || (typeof body === "string" ? body : JSON.stringify(body)));
}

type BlockKind = "thinking" | "text" | "tool_use";

/**
 * Turns OpenAI chat.completion.chunk objects into Anthropic stream events, in the order Anthropic sends them:
 * message_start, ping, then per block content_block_start / _delta... / _stop, message_delta, message_stop.
 */
export class AnthropicStreamWriter {
  private started = false;
  private index = -1;
  private open: { kind: BlockKind; toolIndex?: number } | undefined;
  private finish: string | undefined;
  private usage: AnthropicUsage | undefined;
  private ended = false;

  constructor(private readonly requestModel: unknown) {}

  private start(chunk: JsonObject): string {
    this.started = true;
    const message = messageObject({
      id: messageId(chunk.id),
      model: stringOrEmpty(chunk.model) || this.requestModel,
      content: [],
      stopReason: null,
      usage: { ...NO_USAGE },
    });
    return events.messageStart(message) + events.ping();
  }

  private close(): string {
    if (!this.open) return "";
    this.open = undefined;
    return events.blockStop(this.index);
  }

  private openBlock(kind: BlockKind, block: JsonObject, toolIndex?: number): string {
    const out = this.close();
    this.index++;
    this.open = { kind, toolIndex };
    return out + events.blockStart(this.index, block);
  }

  private delta(delta: JsonObject): string {
    return events.blockDelta(this.index, delta);
  }

  private toolCalls(calls: unknown[]): string {
    let out = "";
    for (const raw of calls) {
      const call = objectOrEmpty(raw);
      const fn = objectOrEmpty(call.function);
      const toolIndex = finiteOrZero(call.index);
      if (this.open?.kind !== "tool_use" || this.open.toolIndex !== toolIndex) {
        out += this.openBlock(
          "tool_use",
          { type: "tool_use", id: stringOrEmpty(call.id), name: stringOrEmpty(fn.name), input: {} },
          toolIndex,
        );
      }
      if (stringOrEmpty(fn.arguments))
        out += this.delta({ type: "input_json_delta", partial_json: stringOrEmpty(fn.arguments) });
    }
    return out;
  }

  /** Events for one upstream chunk (possibly none). */
  chunk(chunk: JsonObject): string {
    let out = this.started ? "" : this.start(chunk);
    if (chunk.usage) this.usage = anthropicUsage(chunk.usage);
    for (const raw of Array.isArray(chunk.choices) ? chunk.choices : []) {
      const choice = objectOrEmpty(raw);
      const d = objectOrEmpty(choice.delta);
      if (stringOrEmpty(d.reasoning_content)) {
        if (this.open?.kind !== "thinking")
          out += this.openBlock("thinking", { type: "thinking", thinking: "", signature: "" });
        out += this.delta({ type: "thinking_delta", thinking: stringOrEmpty(d.reasoning_content) });
      }
      if (stringOrEmpty(d.content)) {
        if (this.open?.kind !== "text") out += this.openBlock("text", { type: "text", text: "" });
        out += this.delta({ type: "text_delta", text: stringOrEmpty(d.content) });
      }
      if (Array.isArray(d.tool_calls)) out += this.toolCalls(d.tool_calls);
      if (choice.finish_reason) this.finish = stringOrEmpty(choice.finish_reason);
    }
    return out;
  }

  /** The closing events, once the upstream stream is done. */
  end(): string {
    if (this.ended) return "";
    this.ended = true;
    let out = this.started ? "" : this.start({});
    out += this.close();
    const usage = this.usage ?? anthropicUsage({});
    out += events.messageDelta(stopReason(this.finish), usage);
    return out + events.messageStop();
  }

  /** An upstream error reported mid-stream, as Anthropic's error event. */
  error(body: unknown, status = 500): string {
    this.ended = true;
    return events.error(anthropicError(status, body));
  }
}
