// Reads usage, timings, finish reasons and the first generated content out of each API's responses.
import { contextOverflow } from "../wire/context-overflow.js";
import type { Dialect } from "../wire/dialect.js";
import { asObject, asString, type JsonObject } from "../wire/json.js";
import type { LlamaTimings, Observation, Usage } from "./observation.js";
import type { SseEvent } from "./sse.js";
import type { CheckedField, ValueCheck } from "./upstream-values.js";

const nonEmpty = (v: unknown): boolean => (typeof v === "string" ? v.length > 0 : Array.isArray(v) && v.length > 0);

/** Usage where the prompt count includes the cached part (OpenAI chat and completions, the Responses API). */
function promptWithCached(
  check: ValueCheck,
  prompt: unknown,
  cached: unknown,
  output: unknown,
  names: [CheckedField, CheckedField, CheckedField],
): Usage {
  const [promptName, cachedName, outputName] = names;
  const p = check.tokens(promptName, prompt);
  const c = check.within(cachedName, check.tokens(cachedName, cached), p);
  return {
    prefill: p !== undefined ? p - (c ?? 0) : undefined,
    cached: c,
    generated: check.tokens(outputName, output),
  };
}

/** OpenAI usage: prompt_tokens includes the cached part. */
function openaiUsage(check: ValueCheck, u: JsonObject | undefined): Usage | undefined {
  if (!u) return undefined;
  const cached = asObject(u.prompt_tokens_details)?.cached_tokens;
  return promptWithCached(check, u.prompt_tokens, cached, u.completion_tokens, [
    "usage.prompt_tokens",
    "usage.cached_tokens",
    "usage.completion_tokens",
  ]);
}

/** Anthropic usage: input_tokens excludes cache reads. */
function anthropicUsage(check: ValueCheck, u: JsonObject | undefined): Usage | undefined {
  if (!u) return undefined;
  return {
    prefill: check.tokens("usage.input_tokens", u.input_tokens),
    cached: check.tokens("usage.cache_read_input_tokens", u.cache_read_input_tokens),
    generated: check.tokens("usage.output_tokens", u.output_tokens),
  };
}

/** llama-server's timings, each number checked: a bad one is left out (and reported), never counted. */
function readTimings(check: ValueCheck, t: JsonObject): LlamaTimings {
  const prompt = check.tokens("timings.prompt_n", t.prompt_n);
  return {
    prompt_n: prompt,
    cache_n: check.tokens("timings.cache_n", t.cache_n),
    predicted_n: check.tokens("timings.predicted_n", t.predicted_n),
    prompt_ms: check.ms("timings.prompt_ms", t.prompt_ms),
    predicted_ms: check.ms("timings.predicted_ms", t.predicted_ms),
    predicted_per_token_ms: check.ms("timings.predicted_per_token_ms", t.predicted_per_token_ms),
    prompt_per_second: check.rate("timings.prompt_per_second", t.prompt_per_second),
    predicted_per_second: check.rate("timings.predicted_per_second", t.predicted_per_second),
    draft_n: check.tokens("timings.draft_n", t.draft_n),
    draft_n_accepted: check.tokens("timings.draft_n_accepted", t.draft_n_accepted),
  };
}

function common(obs: Observation, body: JsonObject): void {
  const t = asObject(body.timings);
  if (t) obs.timings = readTimings(obs.check, t);
  const model = asString(body.model);
  if (model) obs.responseModel = model;
  obs.responseId ??= asString(body.id);
  const err = asObject(body.error);
  if (!err) return;
  obs.upstreamError(asString(err.message) ?? JSON.stringify(err), asString(err.type));
  obs.overflow = contextOverflow(body);
}

/** Did this OpenAI choice carry generated content (text, reasoning or a tool call)? */
function choiceHasContent(obs: Observation, choice: JsonObject, chat: boolean): boolean {
  if (!chat) {
    obs.capture(choice.text);
    return nonEmpty(choice.text);
  }
  const delta = asObject(choice.delta) ?? asObject(choice.message) ?? {};
  obs.capture(delta.content);
  return nonEmpty(delta.content) || nonEmpty(delta.reasoning_content) || nonEmpty(delta.tool_calls);
}

function readOpenai(obs: Observation, body: JsonObject, chat: boolean): boolean {
  common(obs, body);
  const usage = openaiUsage(obs.check, asObject(body.usage));
  if (usage) obs.setUsage(usage);
  let content = false;
  for (const c of Array.isArray(body.choices) ? body.choices : []) {
    const choice = asObject(c);
    if (!choice) continue;
    const reason = asString(choice.finish_reason);
    if (reason) obs.finishReason = reason;
    if (choiceHasContent(obs, choice, chat)) content = true;
  }
  return content;
}

/** Embeddings: the input is prompt work for llama-server (its prompt_tokens_total counts it); nothing is generated. */
function readEmbeddings(obs: Observation, body: JsonObject): boolean {
  common(obs, body);
  const prompt = obs.check.tokens("usage.prompt_tokens", asObject(body.usage)?.prompt_tokens);
  if (prompt !== undefined) obs.setUsage({ prefill: prompt, cached: undefined, generated: undefined });
  return false;
}

/** Responses API usage: input_tokens includes the cached part, as in chat completions. */
function responsesUsage(check: ValueCheck, u: JsonObject | undefined): Usage | undefined {
  if (!u) return undefined;
  const cached = asObject(u.input_tokens_details)?.cached_tokens;
  return promptWithCached(check, u.input_tokens, cached, u.output_tokens, [
    "usage.input_tokens",
    "usage.cached_tokens",
    "usage.output_tokens",
  ]);
}

/** Deltas of generated text, reasoning or tool-call arguments in a Responses API stream. */
const RESPONSES_CONTENT = new Set([
  "response.output_text.delta",
  "response.reasoning_text.delta",
  "response.function_call_arguments.delta",
]);
/** The events that end a response, carrying the whole response (usage, model) and, from llama-server, timings. */
const RESPONSES_END = new Set(["response.completed", "response.incomplete", "response.failed"]);

/** A whole response object (non-streamed, or inside the stream's last event). */
function readResponse(obs: Observation, response: JsonObject): boolean {
  const model = asString(response.model);
  if (model) obs.responseModel = model;
  obs.responseId ??= asString(response.id);
  const usage = responsesUsage(obs.check, asObject(response.usage));
  if (usage) obs.setUsage(usage);
  const reason = asString(asObject(response.incomplete_details)?.reason) ?? asString(response.status);
  if (reason) obs.finishReason = reason;
  const err = asObject(response.error);
  if (err) obs.upstreamError(asString(err.message) ?? JSON.stringify(err), asString(err.type) ?? asString(err.code));
  return Array.isArray(response.output) && response.output.length > 0;
}

function readResponses(obs: Observation, type: string | undefined, body: JsonObject): boolean {
  const kind = type ?? asString(body.type);
  if (kind && RESPONSES_CONTENT.has(kind)) {
    obs.capture(body.delta);
    return nonEmpty(body.delta);
  }
  if (kind && RESPONSES_END.has(kind)) {
    common(obs, body); // llama-server puts its timings beside the response
    readResponse(obs, asObject(body.response) ?? {});
    return false;
  }
  if (kind === "error") {
    const err = asObject(body.error);
    obs.upstreamError(asString(body.message) ?? asString(err?.message), asString(body.code) ?? asString(err?.type));
    return false;
  }
  if (body.object === "response") {
    common(obs, body);
    return readResponse(obs, body);
  }
  return false;
}

function readLlama(obs: Observation, body: JsonObject): boolean {
  common(obs, body);
  if (body.stop === true) {
    obs.setUsage(
      promptWithCached(obs.check, body.tokens_evaluated, body.tokens_cached, body.tokens_predicted, [
        "usage.tokens_evaluated",
        "usage.tokens_cached",
        "usage.tokens_predicted",
      ]),
    );
    obs.finishReason = asString(body.stop_type) ?? obs.finishReason;
  }
  obs.capture(body.content);
  return nonEmpty(body.content);
}

function readAnthropic(obs: Observation, type: string | undefined, body: JsonObject): boolean {
  switch (type ?? asString(body.type)) {
    case "message_start": {
      const message = asObject(body.message) ?? {};
      obs.responseModel = asString(message.model) ?? obs.responseModel;
      obs.responseId ??= asString(message.id);
      const usage = anthropicUsage(obs.check, asObject(message.usage));
      if (usage) obs.setUsage({ ...usage, generated: undefined });
      return false;
    }
    case "message_delta": {
      obs.finishReason = asString(asObject(body.delta)?.stop_reason) ?? obs.finishReason;
      const usage = anthropicUsage(obs.check, asObject(body.usage));
      if (usage) obs.setUsage(usage);
      return false;
    }
    case "content_block_delta": {
      const delta = asObject(body.delta) ?? {};
      obs.capture(delta.text ?? delta.partial_json);
      return nonEmpty(delta.text) || nonEmpty(delta.thinking) || nonEmpty(delta.partial_json);
    }
    case "message": {
      // A whole non-streamed message.
      common(obs, body);
      obs.finishReason = asString(body.stop_reason) ?? obs.finishReason;
      const usage = anthropicUsage(obs.check, asObject(body.usage));
      if (usage) obs.setUsage(usage);
      for (const block of Array.isArray(body.content) ? body.content : []) obs.capture(asObject(block)?.text);
      return Array.isArray(body.content) && body.content.length > 0;
    }
    case "error": {
      const err = asObject(body.error);
      obs.upstreamError(asString(err?.message), asString(err?.type));
      return false;
    }
    default:
      return false;
  }
}

/** Reads one parsed body (an SSE event's data or a whole JSON response); true if it carried generated content. */
export function readBody(dialect: Dialect, obs: Observation, body: JsonObject, eventType?: string): boolean {
  switch (dialect) {
    case "openai-chat":
      return readOpenai(obs, body, true);
    case "openai-completion":
      return readOpenai(obs, body, false);
    case "openai-embeddings":
      return readEmbeddings(obs, body);
    case "openai-responses":
      return readResponses(obs, eventType, body);
    case "llama-completion":
      return readLlama(obs, body);
    case "anthropic-messages":
      return readAnthropic(obs, eventType, body);
  }
}

// After the first content, most events are plain deltas: count them without parsing, and parse
// only the ones that can carry what we still need (usage, timings, finish reason, errors).
const OPENAI_TAIL = /"(?:usage|timings|error)"|"finish_reason":\s*"/;
const LLAMA_TAIL = /"stop":\s*true|"timings"|"error"/;
const ANTHROPIC_TAIL = new Set(["message_start", "message_delta", "error"]);
const RESPONSES_TAIL = new Set([...RESPONSES_END, "error"]);

export function mustParse(dialect: Dialect, event: SseEvent, seenContent: boolean, capturing = false): boolean {
  if (!seenContent || capturing) return true;
  if (event.data === "[DONE]") return false;
  switch (dialect) {
    case "anthropic-messages":
      return ANTHROPIC_TAIL.has(event.event ?? "");
    case "openai-responses":
      return RESPONSES_TAIL.has(event.event ?? "");
    case "llama-completion":
      return LLAMA_TAIL.test(event.data);
    default:
      return OPENAI_TAIL.test(event.data);
  }
}

/** Whether an event we did not parse is a content delta (for counting and the last-content time). */
export function isContentEvent(dialect: Dialect, event: SseEvent): boolean {
  if (dialect === "anthropic-messages") return event.event === "content_block_delta";
  if (dialect === "openai-responses") return RESPONSES_CONTENT.has(event.event ?? "");
  return event.data !== "[DONE]";
}
