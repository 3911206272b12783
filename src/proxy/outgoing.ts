// What goes to llama-server for a request: the prompt adapted (billing header, progress asked for), and the
// upstream, path and body it goes to (translated for a server without the Anthropic API).
import { mayCarryHeader, normalizeAnthropic, normalizeOpenai } from "../claude/billing-header.js";
import type { Telemetry } from "../telemetry/telemetry.js";
import { anthropicToOpenai } from "../translate/to-openai.js";
import { type Upstream, upstreamPath } from "../upstream/client.js";
import type { MessagesSupport } from "../upstream/messages-support.js";
import type { SidecarContext } from "../wire/context.js";
import type { JsonObject } from "../wire/json.js";
import type { Exchange } from "./exchange.js";
import { askProgress, shouldAskProgress } from "./prompt-progress.js";

export interface TranslationState {
  mode: "auto" | "always" | "never";
  /**
   * Which llama-servers lack /v1/messages, per server (the background one may be an older build than the main
   * one), as the sidecar's own probe found: requests to them are translated.
   */
  support: MessagesSupport;
}

/** What choosing and adapting the outgoing request needs of the app. */
export interface OutgoingDeps {
  telemetry: Telemetry;
  normalizeBillingHeader: boolean;
  /** Ask llama-server for prefill progress on streams, stripped from what clients get (--prompt-progress). */
  promptProgress: boolean;
  translation: TranslationState;
}

/** What goes to llama-server: possibly a rewritten body, to another path or upstream. */
export interface Outgoing {
  upstream: Upstream;
  path: string;
  body: Buffer;
  translate: boolean;
}

export function adaptPrompt(deps: OutgoingDeps, ex: Exchange, raw: Buffer, json: JsonObject | undefined): Buffer {
  if (!json || !deps.normalizeBillingHeader || !mayCarryHeader(raw)) return raw;
  const changed = ex.route.dialect === "anthropic-messages" ? normalizeAnthropic(json) : normalizeOpenai(json);
  if (changed === 0) return raw;
  ex.tags.normalized = true;
  deps.telemetry.state.normalizations.inc(changed);
  return Buffer.from(JSON.stringify(json));
}

/** A stream the sidecar wants prefill progress for: asked for in the body, stripped again in the relay. */
export function adaptProgress(deps: OutgoingDeps, ex: Exchange, body: Buffer, json: JsonObject | undefined): Buffer {
  if (!json || !deps.promptProgress || !shouldAskProgress(ex.route.dialect, json)) return body;
  ex.progressAsked = true;
  return askProgress(body);
}

function shouldTranslate(deps: OutgoingDeps, ex: Exchange, upstream: Upstream): boolean {
  if (ex.route.dialect !== "anthropic-messages") return false;
  const t = deps.translation;
  return t.mode === "always" || (t.mode === "auto" && t.support.lacks(upstream));
}

/** The request as it goes to `upstream` (the one the fleet chose for it). */
export function outgoing(
  deps: OutgoingDeps,
  ex: Exchange,
  ctx: SidecarContext,
  upstream: Upstream,
  body: Buffer,
  json: JsonObject | undefined,
): Outgoing {
  if (json && shouldTranslate(deps, ex, upstream)) {
    ex.tags.translated = true;
    const path = upstreamPath(upstream.url, "/v1/chat/completions");
    const chat = anthropicToOpenai(json);
    if (deps.promptProgress && chat.stream === true) {
      chat.return_progress = true;
      ex.progressAsked = true;
    }
    return { upstream, path, body: Buffer.from(JSON.stringify(chat)), translate: true };
  }
  return { upstream, path: upstreamPath(upstream.url, ctx.url), body, translate: false };
}
