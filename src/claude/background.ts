// Recognises Claude Code's background calls (titles, topic checks, quota probes, other Haiku-class work),
// and answers the ones the policy keeps local with a minimal valid Anthropic message.
import { blockText } from "../translate/to-openai.js";

export type BackgroundClass = "title" | "topic" | "quota" | "haiku";
export type BackgroundPolicy = "forward" | "route" | "local";

type Json = Record<string, unknown>;

const TITLE =
  /\b(?:\d+\s*-\s*\d+\s*word title|title for (?:this|the following) conversation|generate a (?:concise|short)[^.]{0,60}\btitle|sentence-case title|summarize this coding conversation in under \d+ characters)/i;
const TOPIC = /new conversation topic|isNewTopic/i;
const HAIKU = /haiku/i;

/**
 * Claude Code's title and topic prompts are short instructions; an agent's own system prompt runs to many
 * thousands of characters, and may well mention titles (of pull requests, say).
 */
const BACKGROUND_PROMPT_MAX_CHARS = 4000;

/**
 * The class of a background call, or undefined for interactive work. A request with tools is an agent's turn,
 * never a title, topic check or quota probe, whatever its prompt says: answering it here would end the turn.
 */
export function classifyBackground(body: Json): BackgroundClass | undefined {
  // A Haiku-model subagent with tools (Explore, say) is an agent's turn too.
  if (Array.isArray(body.tools) && body.tools.length > 0) return undefined;
  const system = blockText(body.system);
  if (system.length <= BACKGROUND_PROMPT_MAX_CHARS) {
    if (TOPIC.test(system)) return "topic";
    if (TITLE.test(system)) return "title";
  }
  // Quota probes ask for one token of a one-message prompt, only to read the rate-limit headers.
  const messages = Array.isArray(body.messages) ? body.messages : [];
  if (body.max_tokens === 1 && messages.length === 1) return "quota";
  if (typeof body.model === "string" && HAIKU.test(body.model)) return "haiku";
  return undefined;
}

function firstUserText(body: Json): string {
  for (const m of Array.isArray(body.messages) ? body.messages : []) {
    const msg = (m ?? {}) as Json;
    if (msg.role !== "user") continue;
    const text = blockText(msg.content);
    if (text) return text;
  }
  return "";
}

/** A short sentence-case title from the first words of the conversation (never logged or recorded). */
function titleFrom(body: Json): string {
  const words = firstUserText(body)
    .replace(/<[^>]+>/g, " ")
    .replace(/[^\p{L}\p{N}\s'-]/gu, " ")
    .split(/\s+/)
    .filter(Boolean)
    .slice(0, 6);
  if (words.length === 0) return "New session";
  const title = words.join(" ").toLowerCase();
  return title.charAt(0).toUpperCase() + title.slice(1);
}

/** The text a locally answered call gets. */
export function localText(cls: BackgroundClass, body: Json): string {
  switch (cls) {
    case "title": {
      // Newer Claude Code asks for {"title": ...}; older versions for the title alone, "and nothing else".
      // The prompt's own words decide, not the conversation's (which may well mention JSON).
      const wantsJson = /\bjson\b/i.test(blockText(body.system));
      return wantsJson ? JSON.stringify({ title: titleFrom(body) }) : titleFrom(body);
    }
    case "topic":
      return JSON.stringify({ isNewTopic: false, title: null });
    case "quota":
      return "ok";
    case "haiku":
      return "";
  }
}

function localMessage(body: Json, text: string): Json {
  return {
    id: `msg_local_${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`,
    type: "message",
    role: "assistant",
    model: typeof body.model === "string" ? body.model : "local",
    content: text ? [{ type: "text", text }] : [],
    stop_reason: "end_turn",
    stop_sequence: null,
    usage: { input_tokens: 0, output_tokens: 0, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 },
  };
}

const sse = (event: string, data: Json) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;

/** A complete local answer: a JSON message, or the full Anthropic event sequence when streamed. */
export function localAnswer(cls: BackgroundClass, body: Json): { contentType: string; body: string } {
  const message = localMessage(body, localText(cls, body));
  if (body.stream !== true) return { contentType: "application/json", body: JSON.stringify(message) };
  const text = (message.content as Json[])[0]?.text as string | undefined;
  const events = [
    sse("message_start", { type: "message_start", message: { ...message, content: [], stop_reason: null } }),
  ];
  if (text !== undefined) {
    events.push(
      sse("content_block_start", { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } }),
      sse("content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "text_delta", text } }),
      sse("content_block_stop", { type: "content_block_stop", index: 0 }),
    );
  }
  events.push(
    sse("message_delta", {
      type: "message_delta",
      delta: { stop_reason: "end_turn", stop_sequence: null },
      usage: { output_tokens: 0 },
    }),
    sse("message_stop", { type: "message_stop" }),
  );
  return { contentType: "text/event-stream", body: events.join("") };
}
