// Recognises Claude Code's background calls (titles, topic checks, quota probes, other Haiku-class work),
// and answers the ones the policy keeps local with a minimal valid Anthropic message.
import { blockText } from "../translate/to-openai.js";
import { type MessageFields, message, messageEvents, NO_USAGE } from "../wire/anthropic.js";
import type { JsonObject } from "../wire/json.js";
import type { BackgroundClass } from "../wire/request-kinds.js";

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
export function classifyBackground(body: JsonObject): BackgroundClass | undefined {
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

function firstUserText(body: JsonObject): string {
  for (const m of Array.isArray(body.messages) ? body.messages : []) {
    const msg = (m ?? {}) as JsonObject;
    if (msg.role !== "user") continue;
    const text = blockText(msg.content);
    if (text) return text;
  }
  return "";
}

/** A short sentence-case title from the first words of the conversation (never logged or recorded). */
function titleFrom(body: JsonObject): string {
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
function localText(cls: BackgroundClass, body: JsonObject): string {
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

function localFields(body: JsonObject, text: string): MessageFields & { content: { type: "text"; text: string }[] } {
  return {
    id: `msg_local_${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`,
    model: typeof body.model === "string" ? body.model : "local",
    content: text ? [{ type: "text", text }] : [],
    stopReason: "end_turn",
    usage: { ...NO_USAGE },
  };
}

/** A complete local answer: a JSON message, or the full Anthropic event sequence when streamed. */
export function localAnswer(cls: BackgroundClass, body: JsonObject): { contentType: string; body: string } {
  const fields = localFields(body, localText(cls, body));
  if (body.stream !== true) return { contentType: "application/json", body: JSON.stringify(message(fields)) };
  return { contentType: "text/event-stream", body: messageEvents(fields) };
}
