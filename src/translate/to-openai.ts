// Anthropic Messages request -> OpenAI chat completions request, for upstreams without /v1/messages.
import { SidecarError } from "../errors.js";

type Json = Record<string, unknown>;

const obj = (v: unknown): Json => (v && typeof v === "object" && !Array.isArray(v) ? (v as Json) : {});
const str = (v: unknown): string => (typeof v === "string" ? v : "");

interface OpenaiMessage {
  role: "system" | "user" | "assistant" | "tool";
  content?: string | Json[] | null;
  tool_calls?: Json[];
  tool_call_id?: string;
  reasoning_content?: string;
}

/** Text of a string or of the text blocks in an array, joined by blank lines. */
export function blockText(content: unknown): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content
    .map((b) => obj(b))
    .filter((b) => b.type === "text")
    .map((b) => str(b.text))
    .join("\n\n");
}

/** What cannot be said to an OpenAI-style llama-server is refused, never dropped: the model would miss it. */
function untranslatable(what: string): SidecarError {
  return new SidecarError(
    "bad_request",
    `${what} cannot be translated for a llama-server without /v1/messages (start it with --jinja on a recent build)`,
  );
}

function imagePart(block: Json): Json {
  const source = obj(block.source);
  if (source.type === "base64")
    return { type: "image_url", image_url: { url: `data:${str(source.media_type)};base64,${str(source.data)}` } };
  if (source.type === "url") return { type: "image_url", image_url: { url: str(source.url) } };
  throw untranslatable(`an image with a ${str(source.type) || "missing"} source`);
}

/** A document's text: plain-text and content-block documents translate; PDFs and URLs do not. */
function documentPart(block: Json): Json {
  const source = obj(block.source);
  const title = str(block.title);
  const text = source.type === "text" ? str(source.data) : source.type === "content" ? blockText(source.content) : "";
  if (source.type !== "text" && source.type !== "content") {
    throw untranslatable(`a document with a ${str(source.type) || "missing"} source (${str(source.media_type)})`);
  }
  return { type: "text", text: title ? `${title}\n\n${text}` : text };
}

/** One block of a user turn as an OpenAI content part. */
function userPart(b: Json): Json {
  switch (b.type) {
    case "text":
      return { type: "text", text: str(b.text) };
    case "image":
      return imagePart(b);
    case "document":
      return documentPart(b);
    default:
      throw untranslatable(`a "${str(b.type)}" block`);
  }
}

function contentOf(parts: Json[]): string | Json[] {
  return parts.every((p) => p.type === "text") ? parts.map((p) => str(p.text)).join("\n\n") : parts;
}

function userMessages(content: unknown): OpenaiMessage[] {
  if (typeof content === "string") return [{ role: "user", content }];
  const out: OpenaiMessage[] = [];
  const parts: Json[] = [];
  // Images a tool returned (a screenshot read from disk): a tool message carries only text, so they follow it.
  const toolImages: Json[] = [];
  for (const raw of Array.isArray(content) ? content : []) {
    const b = obj(raw);
    if (b.type !== "tool_result") {
      parts.push(userPart(b));
      continue;
    }
    // Tool results answer the previous assistant turn, so they come before this turn's own text.
    const blocks = typeof b.content === "string" ? [{ type: "text", text: b.content }] : b.content;
    const resultParts = (Array.isArray(blocks) ? blocks : []).map((x) => userPart(obj(x)));
    const text = resultParts.flatMap((p) => (p.type === "text" ? [str(p.text)] : [])).join("\n\n");
    toolImages.push(...resultParts.filter((p) => p.type !== "text"));
    out.push({ role: "tool", tool_call_id: str(b.tool_use_id), content: b.is_error ? `Error: ${text}` : text });
  }
  const turn = [...toolImages, ...parts];
  if (turn.length > 0) out.push({ role: "user", content: contentOf(turn) });
  return out;
}

function assistantMessage(content: unknown): OpenaiMessage {
  if (typeof content === "string") return { role: "assistant", content };
  const text: string[] = [];
  const reasoning: string[] = [];
  const toolCalls: Json[] = [];
  for (const raw of Array.isArray(content) ? content : []) {
    const b = obj(raw);
    if (b.type === "text") text.push(str(b.text));
    else if (b.type === "thinking") reasoning.push(str(b.thinking));
    else if (b.type === "tool_use") {
      toolCalls.push({
        id: str(b.id),
        type: "function",
        function: { name: str(b.name), arguments: JSON.stringify(b.input ?? {}) },
      });
    }
  }
  const msg: OpenaiMessage = { role: "assistant", content: text.length ? text.join("\n\n") : null };
  if (reasoning.length) msg.reasoning_content = reasoning.join("\n\n");
  if (toolCalls.length) msg.tool_calls = toolCalls;
  return msg;
}

function toolChoice(choice: unknown): unknown {
  const c = obj(choice);
  switch (c.type) {
    case "any":
      return "required";
    case "none":
      return "none";
    case "tool":
      return { type: "function", function: { name: str(c.name) } };
    case "auto":
      return "auto";
    default:
      return undefined;
  }
}

export function anthropicToOpenai(body: Json): Json {
  const messages: OpenaiMessage[] = [];
  const system = blockText(body.system);
  if (system) messages.push({ role: "system", content: system });
  for (const raw of Array.isArray(body.messages) ? body.messages : []) {
    const m = obj(raw);
    if (m.role === "assistant") messages.push(assistantMessage(m.content));
    else messages.push(...userMessages(m.content));
  }
  const out: Json = { model: body.model, messages };
  if (body.max_tokens !== undefined) out.max_tokens = body.max_tokens;
  for (const k of ["temperature", "top_p", "top_k"]) if (body[k] !== undefined) out[k] = body[k];
  if (Array.isArray(body.stop_sequences) && body.stop_sequences.length) out.stop = body.stop_sequences;
  if (Array.isArray(body.tools) && body.tools.length) {
    out.tools = body.tools.map((t) => {
      const tool = obj(t);
      return {
        type: "function",
        function: { name: tool.name, description: tool.description, parameters: tool.input_schema ?? {} },
      };
    });
  }
  const choice = toolChoice(body.tool_choice);
  if (choice !== undefined) out.tool_choice = choice;
  if (obj(body.tool_choice).disable_parallel_tool_use === true) out.parallel_tool_calls = false;
  if (obj(body.thinking).type === "enabled") out.reasoning_format = "deepseek";
  if (body.stream === true) {
    out.stream = true;
    out.stream_options = { include_usage: true };
  }
  return out;
}
