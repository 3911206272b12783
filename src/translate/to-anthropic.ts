// OpenAI chat completion (whole or streamed) -> Anthropic Messages response, with the exact SSE event sequence.
type Json = Record<string, unknown>;

const obj = (v: unknown): Json => (v && typeof v === "object" && !Array.isArray(v) ? (v as Json) : {});
const str = (v: unknown): string => (typeof v === "string" ? v : "");
const num = (v: unknown): number => (typeof v === "number" && Number.isFinite(v) ? v : 0);

export function stopReason(finish: string | undefined | null): string {
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

export interface AnthropicUsage {
  input_tokens: number;
  output_tokens: number;
  cache_read_input_tokens: number;
  cache_creation_input_tokens: number;
}

/** OpenAI usage counts cached tokens inside prompt_tokens; Anthropic's input_tokens excludes them. */
export function anthropicUsage(usage: unknown): AnthropicUsage {
  const u = obj(usage);
  const cached = num(obj(u.prompt_tokens_details).cached_tokens);
  return {
    input_tokens: Math.max(0, num(u.prompt_tokens) - cached),
    output_tokens: num(u.completion_tokens),
    cache_read_input_tokens: cached,
    cache_creation_input_tokens: 0,
  };
}

function parseArguments(args: unknown): Json {
  try {
    const v = JSON.parse(str(args) || "{}");
    return obj(v);
  } catch {
    return {};
  }
}

export function messageId(openaiId: unknown): string {
  const id = str(openaiId).replace(/^chatcmpl-/, "");
  return `msg_${id || Date.now().toString(36)}`;
}

export function openaiToAnthropic(completion: Json, requestModel: unknown): Json {
  const choice = obj((Array.isArray(completion.choices) ? completion.choices : [])[0]);
  const message = obj(choice.message);
  const content: Json[] = [];
  if (str(message.reasoning_content))
    content.push({ type: "thinking", thinking: str(message.reasoning_content), signature: "" });
  if (str(message.content)) content.push({ type: "text", text: str(message.content) });
  for (const raw of Array.isArray(message.tool_calls) ? message.tool_calls : []) {
    const call = obj(raw);
    const fn = obj(call.function);
    content.push({ type: "tool_use", id: str(call.id), name: str(fn.name), input: parseArguments(fn.arguments) });
  }
  return {
    id: messageId(completion.id),
    type: "message",
    role: "assistant",
    model: str(completion.model) || requestModel,
    content,
    stop_reason: stopReason(str(choice.finish_reason)),
    stop_sequence: null,
    usage: anthropicUsage(completion.usage),
  };
}

/** An OpenAI-shaped (or any) error body as an Anthropic error body, keeping the upstream's message. */
export function anthropicError(status: number, body: unknown): Json {
  const e = obj(obj(body).error);
  const message = str(e.message) || (typeof body === "string" ? body : JSON.stringify(body));
  const type =
    status === 400 || status === 422
      ? "invalid_request_error"
      : status === 401
        ? "authentication_error"
        : status === 404
          ? "not_found_error"
          : status === 413
            ? "request_too_large"
            : status === 429
              ? "rate_limit_error"
              : status === 503 || status === 529
                ? "overloaded_error"
                : "api_error";
  return { type: "error", error: { type, message } };
}

function sse(event: string, data: Json): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
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

  private start(chunk: Json): string {
    this.started = true;
    const message = {
      id: messageId(chunk.id),
      type: "message",
      role: "assistant",
      model: str(chunk.model) || this.requestModel,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { input_tokens: 0, output_tokens: 0, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 },
    };
    return sse("message_start", { type: "message_start", message }) + sse("ping", { type: "ping" });
  }

  private close(): string {
    if (!this.open) return "";
    this.open = undefined;
    return sse("content_block_stop", { type: "content_block_stop", index: this.index });
  }

  private openBlock(kind: BlockKind, block: Json, toolIndex?: number): string {
    const out = this.close();
    this.index++;
    this.open = { kind, toolIndex };
    return out + sse("content_block_start", { type: "content_block_start", index: this.index, content_block: block });
  }

  private delta(delta: Json): string {
    return sse("content_block_delta", { type: "content_block_delta", index: this.index, delta });
  }

  private toolCalls(calls: unknown[]): string {
    let out = "";
    for (const raw of calls) {
      const call = obj(raw);
      const fn = obj(call.function);
      const toolIndex = num(call.index);
      if (this.open?.kind !== "tool_use" || this.open.toolIndex !== toolIndex) {
        out += this.openBlock(
          "tool_use",
          { type: "tool_use", id: str(call.id), name: str(fn.name), input: {} },
          toolIndex,
        );
      }
      if (str(fn.arguments)) out += this.delta({ type: "input_json_delta", partial_json: str(fn.arguments) });
    }
    return out;
  }

  /** Events for one upstream chunk (possibly none). */
  chunk(chunk: Json): string {
    let out = this.started ? "" : this.start(chunk);
    if (chunk.usage) this.usage = anthropicUsage(chunk.usage);
    for (const raw of Array.isArray(chunk.choices) ? chunk.choices : []) {
      const choice = obj(raw);
      const d = obj(choice.delta);
      if (str(d.reasoning_content)) {
        if (this.open?.kind !== "thinking")
          out += this.openBlock("thinking", { type: "thinking", thinking: "", signature: "" });
        out += this.delta({ type: "thinking_delta", thinking: str(d.reasoning_content) });
      }
      if (str(d.content)) {
        if (this.open?.kind !== "text") out += this.openBlock("text", { type: "text", text: "" });
        out += this.delta({ type: "text_delta", text: str(d.content) });
      }
      if (Array.isArray(d.tool_calls)) out += this.toolCalls(d.tool_calls);
      if (choice.finish_reason) this.finish = str(choice.finish_reason);
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
    out += sse("message_delta", {
      type: "message_delta",
      delta: { stop_reason: stopReason(this.finish), stop_sequence: null },
      usage,
    });
    return out + sse("message_stop", { type: "message_stop" });
  }

  /** An upstream error reported mid-stream, as Anthropic's error event. */
  error(body: unknown, status = 500): string {
    this.ended = true;
    return sse("error", anthropicError(status, body));
  }
}
