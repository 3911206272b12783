// The shape of each model API's request, checked before it reaches llama-server: the fields these schemas know
// must have the right types (a malformed one gets a 400 naming it, in the client's protocol, instead of
// llama-server's 500), and every other field passes through untouched. The request's own bytes are what is sent;
// nothing here rewrites it.
import { z } from "zod";

const int = z.number().int();
const nonNegative = z.number().nonnegative();
const stringList = z.array(z.string());

/**
 * Sampling and length settings both OpenAI-style APIs and llama-server's own share. Each may be null, which
 * llama-server reads as "the default" (SDKs send null for an unset option); top_k of 0 or less means "off".
 */
const sampling = {
  model: z.string().nullable().optional(),
  stream: z.boolean().nullable().optional(),
  temperature: nonNegative.nullable().optional(),
  top_p: z.number().min(0).max(1).nullable().optional(),
  top_k: int.nullable().optional(),
  seed: int.nullable().optional(),
};

/** llama-server takes -1 for "until the context is full", as its own n_predict. */
const tokenLimit = int.min(-1);

const openaiLimits = {
  max_tokens: tokenLimit.nullable().optional(),
  max_completion_tokens: tokenLimit.nullable().optional(),
  n: int.positive().nullable().optional(),
  stop: z.union([z.string(), stringList]).nullable().optional(),
};

/** A JSON object, as tool parameters and tool inputs are. */
const object = z.looseObject({});

/**
 * A content part: its type must be named; what else it holds depends on the type, but a field that several kinds
 * share always has the same type (llama-server answers 500 when it does not).
 */
const part = z
  .looseObject({
    type: z.string(),
    text: z.string().optional(),
    id: z.string().optional(),
    name: z.string().optional(),
    input: object.optional(),
    tool_use_id: z.string().optional(),
  })
  .refine((p) => p.type !== "text" || typeof p.text === "string", {
    message: "a text part needs its text (a string)",
    path: ["text"],
  });

/**
 * Tool-call arguments are JSON in a string (llama-server parses them, and answers 500 when they are not JSON), or
 * the object itself, which llama-server also takes.
 */
const jsonText = z.string().refine((s) => {
  try {
    JSON.parse(s);
    return true;
  } catch {
    return false;
  }
}, "must be JSON text (an object's JSON, as a string)");

const openaiToolCall = z.looseObject({
  id: z.string().optional(),
  type: z.literal("function"),
  function: z.looseObject({ name: z.string(), arguments: z.union([jsonText, z.looseObject({})]) }),
});

const openaiMessage = z.looseObject({
  role: z.enum(["system", "developer", "user", "assistant", "tool", "function"]),
  content: z
    .union([z.string(), z.array(part)])
    .nullable()
    .optional(),
  name: z.string().optional(),
  tool_calls: z.array(openaiToolCall).nullable().optional(),
  tool_call_id: z.string().optional(),
});

const openaiTool = z.looseObject({
  type: z.literal("function"),
  function: z.looseObject({ name: z.string(), description: z.string().optional(), parameters: object.optional() }),
});

export const openaiChatRequest = z.looseObject({
  ...sampling,
  ...openaiLimits,
  messages: z.array(openaiMessage),
  tools: z.array(openaiTool).nullable().optional(),
});

/** llama-server's multimodal prompt: text with media markers, and the media. */
const multimodalPrompt = z.looseObject({ prompt_string: z.string() });

/** A prompt as text, token ids or llama-server's multimodal object, one or several. */
const promptValue = z.union([
  z.string(),
  multimodalPrompt,
  z.array(z.union([z.string(), int, multimodalPrompt, z.array(z.union([int, z.string()]))])),
]);

export const openaiCompletionRequest = z.looseObject({
  ...sampling,
  ...openaiLimits,
  prompt: promptValue,
});

export const openaiEmbeddingsRequest = z.looseObject({
  model: z.string().optional(),
  input: promptValue.optional(),
  content: promptValue.optional(), // llama-server's own name for the input
});

export const openaiResponsesRequest = z.looseObject({
  ...sampling,
  input: z.union([z.string(), z.array(object)]),
  max_output_tokens: tokenLimit.nullable().optional(),
  tools: z.array(z.looseObject({ type: z.string() })).optional(),
});

export const llamaCompletionRequest = z.looseObject({
  ...sampling,
  n_predict: int.min(-2).nullable().optional(),
  prompt: promptValue.optional(),
  stop: stringList.nullable().optional(),
});

const anthropicContent = z.union([z.string(), z.array(part)]);

const anthropicMessage = z.looseObject({
  role: z.enum(["user", "assistant"]),
  content: anthropicContent,
});

/** Client tools have a name and an input schema; server tools (web search) a type and a name. */
const anthropicTool = z.looseObject({
  name: z.string(),
  description: z.string().optional(),
  input_schema: object.optional(),
});

const anthropicCommon = {
  model: z.string().optional(),
  messages: z.array(anthropicMessage),
  system: z.union([z.string(), z.array(part)]).optional(),
  tools: z.array(anthropicTool).optional(),
  tool_choice: z.looseObject({ type: z.string() }).optional(),
  thinking: z.looseObject({ type: z.string() }).optional(),
};

export const anthropicMessagesRequest = z.looseObject({
  ...anthropicCommon,
  max_tokens: tokenLimit.optional(),
  stream: z.boolean().optional(),
  temperature: nonNegative.optional(),
  top_p: z.number().min(0).max(1).optional(),
  top_k: int.nonnegative().optional(),
  stop_sequences: stringList.optional(),
  metadata: object.optional(),
});

export const anthropicCountTokensRequest = z.looseObject(anthropicCommon);
