// Prefill progress for streams whose answers carry no progress reports (llama-server's Anthropic endpoint sends
// none, and /slots does not answer while a slot prefills): once a prefill has run a while, the prompt's exact
// token count is asked for (llama-server tokenizes on its HTTP threads, beside the prefill), and the progress is
// estimated from the time since and llama-server's measured prefill speed. Short prefills never ask.
import type { JsonObject } from "../wire/json.js";
import type { Exchange } from "./exchange.js";

/** A prefill still running after this long gets an estimate; one that ends sooner costs nothing. */
export const ESTIMATE_AFTER_MS = 1000;

export interface EstimateDeps {
  /** The prompt's exact token count, from llama-server's own template and tokenizer. */
  countPrompt(body: JsonObject): Promise<number>;
  prefillTps(): number | undefined;
}

const prefilling = (ex: Exchange) =>
  ex.dispatchedAt !== undefined && ex.obs.firstContentAt === undefined && !ex.cancel.aborted;

/** Watches a stream that reports no progress of its own; returns what stops watching (at the request's end). */
export function estimatePrefill(deps: EstimateDeps, ex: Exchange, body: JsonObject): () => void {
  if (ex.progressAsked || ex.route.dialect !== "anthropic-messages" || body.stream !== true) return () => {};
  let ended = false;
  const timer = setTimeout(() => {
    // A translated request asks for reports after this was armed: it has its own.
    if (!prefilling(ex) || ex.progressAsked) return;
    deps.countPrompt(body).then(
      (total) => {
        if (!ended) ex.estimate = { total, prefillTps: deps.prefillTps() };
      },
      () => {}, // an estimate is a nicety: without a count the views show the phase and its time
    );
  }, ESTIMATE_AFTER_MS);
  timer.unref();
  return () => {
    ended = true;
    clearTimeout(timer);
  };
}
