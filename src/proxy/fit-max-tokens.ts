// An Anthropic request whose max_tokens cannot fit beside its prompt in the slot's context gets max_tokens lowered
// to what fits, said in a response header and on the span: Claude Code assumes a 200k window and asks for 32,000.
// A prompt that does not fit at all goes on unchanged, for llama-server's refusal (then "prompt is too long").
import type { JsonObject } from "../wire/json.js";
import type { Exchange } from "./exchange.js";

export const CLAMP_HEADER = "x-llama-sidecar-max-tokens";

export interface FitDeps {
  /** The prompt's exact token count, from llama-server. */
  countPrompt(body: JsonObject): Promise<number>;
  /** llama-server's per-slot context size, when known. */
  nCtx(): number | undefined;
}

/**
 * A body's tokens are fewer than half its bytes: JSON keys, quotes and escapes add bytes no token stands for, and
 * text runs 3 to 4 bytes a token (code and English) or more (UTF-8 scripts). A body whose bytes / 2 plus max_tokens
 * stays inside the context cannot overflow it and is not counted.
 */
const BYTES_PER_TOKEN_AT_LEAST = 2;

/** The body to send: as it came, or with max_tokens lowered (the exchange then says from what). */
export async function fitMaxTokens(deps: FitDeps, ex: Exchange, json: JsonObject, body: Buffer): Promise<Buffer> {
  const nCtx = deps.nCtx();
  const asked = json.max_tokens;
  // A call routed to the background llama-server has another context and tokenizer.
  if (ex.route.dialect !== "anthropic-messages" || ex.tags.backgroundPolicy === "route") return body;
  if (!nCtx || typeof asked !== "number") return body;
  if (asked + body.length / BYTES_PER_TOKEN_AT_LEAST <= nCtx) return body;
  let prompt: number;
  try {
    prompt = await deps.countPrompt(json);
  } catch {
    return body; // without a count, llama-server decides as it would without the sidecar
  }
  if (prompt >= nCtx || prompt + asked <= nCtx) return body;
  json.max_tokens = nCtx - prompt;
  ex.tags.maxTokensAsked = asked;
  return Buffer.from(JSON.stringify(json));
}
