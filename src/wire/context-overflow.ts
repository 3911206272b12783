// llama-server's refusal of a prompt longer than the slot's context, read as a typed value once, where it arrives.
import { asFiniteNumber, asObject, type JsonObject } from "./json.js";

export interface ContextOverflow {
  promptTokens: number;
  nCtx: number;
}

/** llama-server's refusal: {"error":{"type":"exceed_context_size_error","n_prompt_tokens":N,"n_ctx":M,...}}. */
export function contextOverflow(body: JsonObject | undefined): ContextOverflow | undefined {
  const e = asObject(body?.error);
  if (e?.type !== "exceed_context_size_error") return undefined;
  const promptTokens = asFiniteNumber(e.n_prompt_tokens);
  const nCtx = asFiniteNumber(e.n_ctx);
  return promptTokens === undefined || nCtx === undefined ? undefined : { promptTokens, nCtx };
}
