// Anthropic Messages request -> OpenAI chat completions request, for upstreams without /v1/messages.
import { SidecarError } from "../errors.js";
import { type JsonObject, objectOrEmpty, stringOrEmpty } from "../wire/json.js";

interface OpenaiMessage {
  /** user, assistant, tool, system; any other role a client sent, kept as it was. */
  role: string;
  content?: string | JsonObject[] | null;
  tool_calls?: JsonObject[];
  tool_call_id?: string;
  reasoning_content?: string;
}

/** Text of a string or of the text blocks in an array, joined by blank lines. */
export function blockText(content: unknown): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content
    .map((b) => objectOrEmpty(b))
    .filter((b) => b.type === "text")
    .map((b) => stringOrEmpty(b.text))
    .join("\n\n");
}

/**
 * What an OpenAI-style llama-server cannot read is never dropped unseen. Sent by the user in the newest turn, it
 * is refused with a 400 that says so. In a tool's result or an earlier turn it becomes a note the model reads:
 * refusing there would refuse every later turn of the session, /compact included.
 */
type Untranslatable = "refuse" | "note";

const HOW = "a llama-server without /v1/messages cannot read it";

function untranslatable(what: string, how: Untranslatable): JsonObject {
  if (how === "refuse") {
    throw new SidecarError(
      "bad_request",
      `${what} cannot be translated: ${HOW} (start it with --jinja on a recent build)`,
    );
  }
  return { type: "text", text: `[${what} left out: ${HOW}]` };
}

function imagePart(block: JsonObject, how: Untranslatable): JsonObject {
  const source = objectOrEmpty(block.source);
  if (source.type === "base64")
    return {
      type: "image_url",
      image_url: { url: `data:${stringOrEmpty(source.media_type)};base64,${stringOrEmpty(source.data)}` },
    };
  if (source.type === "url") return { type: "image_url", image_url: { url: stringOrEmpty(source.url) } };
  return untranslatable(`an image with a ${stringOrEmpty(source.type) || "missing"} source`, how);
}

/** A document's text: plain-text and content-block documents translate; PDFs and URLs do not. */
function documentPart(block: JsonObject, how: Untranslatable): JsonObject {
  const source = objectOrEmpty(block.source);
  const title = stringOrEmpty(block.title);
  if (source.type !== "text" && source.type !== "content") {
    const kind = stringOrEmpty(source.media_type) || stringOrEmpty(source.type) || "unknown";
    return untranslatable(`a document${title ? ` "${title}"` : ""} (${kind})`, how);
  }
  const text = source.type === "text" ? stringOrEmpty(source.data) : blockText(source.content);
  return { type: "text", text: title ? `${title}\n\n${text}` : text };
}

/** One block of a user turn as an OpenAI content part. */
function userPart(b: JsonObject, how: Untranslatable): JsonObject {
  switch (b.type) {
    case "text":
      return { type: "text", text: stringOrEmpty(b.text) };
    case "image":
      return imagePart(b, how);
    case "document":
      return documentPart(b, how);
    case "search_result": {
      const head = [stringOrEmpty(b.title), stringOrEmpty(b.source)].filter(Boolean).join("\n");
      return { type: "text", text: [head, blockText(b.content)].filter(Boolean).join("\n\n") };
    }
    case "tool_reference": // tool search found this tool; every tool is in `tools` already
      return { type: "text", text: `[tool ${stringOrEmpty(b.tool_name)} is available]` };
    default:
      return untranslatable(`a "${stringOrEmpty(b.type)}" block`, how);
  }
}

function contentOf(parts: JsonObject[]): string | JsonObject[] {
  return parts.every((p) => p.type === "text") ? parts.map((p) => stringOrEmpty(p.text)).join("\n\n") : parts;
}

function userMessages(content: unknown, newest: boolean): OpenaiMessage[] {
  if (typeof content === "string") return [{ role: "user", content }];
  const out: OpenaiMessage[] = [];
  const parts: JsonObject[] = [];
  // Images a tool returned (a screenshot read from disk): a tool message carries only text, so they follow it.
  const toolImages: JsonObject[] = [];
  for (const raw of Array.isArray(content) ? content : []) {
    const b = objectOrEmpty(raw);
    if (b.type !== "tool_result") {
      parts.push(userPart(b, newest ? "refuse" : "note"));
      continue;
    }
    // Tool results answer the previous assistant turn, so they come before this turn's own text.
    const blocks = typeof b.content === "string" ? [{ type: "text", text: b.content }] : b.content;
    const resultParts = (Array.isArray(blocks) ? blocks : []).map((x) => userPart(objectOrEmpty(x), "note"));
    const text = resultParts.flatMap((p) => (p.type === "text" ? [stringOrEmpty(p.text)] : [])).join("\n\n");
    toolImages.push(...resultParts.filter((p) => p.type !== "text"));
    out.push({
      role: "tool",
      tool_call_id: stringOrEmpty(b.tool_use_id),
      content: b.is_error ? `Error: ${text}` : text,
    });
  }
  const turn = [...toolImages, ...parts];
  if (turn.length > 0) out.push({ role: "user", content: contentOf(turn) });
  return out;
}

function assistantMessage(content: unknown): OpenaiMessage {
  if (typeof content === "string") return { role: "assistant", content };
  const text: string[] = [];
  const reasoning: string[] = [];
  const toolCalls: JsonObject[] = [];
  for (const raw of Array.isArray(content) ? content : []) {
    const b = objectOrEmpty(raw);
    if (b.type === "text") text.push(stringOrEmpty(b.text));
    else if (b.type === "thinking") reasoning.push(stringOrEmpty(b.thinking));
    else if (b.type === "tool_use") {
      toolCalls.push({
        id: stringOrEmpty(b.id),
        type: "function",
        function: { name: stringOrEmpty(b.name), arguments: JSON.stringify(b.input ?? {}) },
      });
    }
  }
  const msg: OpenaiMessage = { role: "assistant", content: text.length ? text.join("\n\n") : null };
  if (reasoning.length) msg.reasoning_content = reasoning.join("\n\n");
  if (toolCalls.length) msg.tool_calls = toolCalls;
  return msg;
}

function toolChoice(choice: unknown): unknown {
  const c = objectOrEmpty(choice);
  switch (c.type) {
    case "any":
      return "required";
    case "none":
      return "none";
    case "tool":
      return { type: "function", function: { name: stringOrEmpty(c.name) } };
    case "auto":
      return "auto";
    default:
      return undefined;
  }
}

export function anthropicToOpenai(body: JsonObject): JsonObject {
  const messages: OpenaiMessage[] = [];
  const system = blockText(body.system);
  if (system) messages.push({ role: "system", content: system });
  const turns = Array.isArray(body.messages) ? body.messages : [];
  turns.forEach((raw, i) => {
    const m = objectOrEmpty(raw);
    if (m.role === "assistant") messages.push(assistantMessage(m.content));
    // Claude Code's reminders come as role "system" among the turns; llama-server keeps such a role as it is.
    else if (typeof m.role === "string" && m.role !== "user")
      messages.push({ role: m.role, content: blockText(m.content) });
    else messages.push(...userMessages(m.content, i === turns.length - 1));
  });
  const out: JsonObject = { model: body.model, messages };
  if (body.max_tokens !== undefined) out.max_tokens = body.max_tokens;
  for (const k of ["temperature", "top_p", "top_k"]) if (body[k] !== undefined) out[k] = body[k];
  if (Array.isArray(body.stop_sequences) && body.stop_sequences.length) out.stop = body.stop_sequences;
  if (Array.isArray(body.tools) && body.tools.length) {
    out.tools = body.tools.map((t) => {
      const tool = objectOrEmpty(t);
      return {
        type: "function",
        function: { name: tool.name, description: tool.description, parameters: tool.input_schema ?? {} },
      };
    });
  }
  const choice = toolChoice(body.tool_choice);
  if (choice !== undefined) out.tool_choice = choice;
  if (objectOrEmpty(body.tool_choice).disable_parallel_tool_use === true) out.parallel_tool_calls = false;
  if (objectOrEmpty(body.thinking).type === "enabled") out.reasoning_format = "deepseek";
  if (body.stream === true) {
    out.stream = true;
    out.stream_options = { include_usage: true };
  }
  return out;
}
