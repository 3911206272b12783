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
 * No token is shorter than a byte, and few prompts run under 4 bytes a token: a body whose bytes / 16 plus
 * max_tokens stays inside the context cannot overflow it, and is not counted (most requests, at no cost).
 */
const BYTES_PER_TOKEN_AT_MOST = 16;

/** The body to send: as it came, or with max_tokens lowered (the exchange then says from what). */
export async function fitMaxTokens(deps: FitDeps, ex: Exchange, json: JsonObject, body: Buffer): Promise<Buffer> {
  const nCtx = deps.nCtx();
  const asked = json.max_tokens;
  if (ex.route.dialect !== "anthropic-messages" || !nCtx || typeof asked !== "number") return body;
  if (asked + body.length / BYTES_PER_TOKEN_AT_MOST <= nCtx) return body;
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
