// What one request taught us: filled in as the response streams past, then read once into its record (record/).
import type { ContextOverflow } from "../wire/context-overflow.js";
import { upstreamErrorKind } from "./redact.js";
import { ValueCheck } from "./upstream-values.js";

/** llama-server's `timings` object (server_slot_stats::to_json). */
export interface LlamaTimings {
  cache_n?: number;
  prompt_n?: number;
  prompt_ms?: number;
  prompt_per_second?: number;
  predicted_n?: number;
  predicted_ms?: number;
  predicted_per_token_ms?: number;
  predicted_per_second?: number;
  /** Tokens the draft model proposed, and those the model kept (speculative decoding; absent without a draft). */
  draft_n?: number;
  draft_n_accepted?: number;
}

/** Token counts as an answer's usage gives them, in the glossary's names: prefill + cached = prompt. */
export interface Usage {
  prefill?: number;
  cached?: number;
  generated?: number;
}

/** Mutable state while the response passes; every time is performance.now() milliseconds. */
export class Observation {
  firstContentAt?: number;
  lastContentAt?: number;
  contentEvents = 0;
  usage: Usage = {};
  timings?: LlamaTimings;
  finishReason?: string;
  responseModel?: string;
  /** The answer's own id (chatcmpl-…, msg_…), for the span. */
  responseId?: string;
  /** What went wrong, as it may be kept: the sidecar's own words, or an upstream error's kind. */
  errorMessage?: string;
  /** An upstream error's own text, which may quote the prompt: kept only with --capture-content. */
  errorText?: string;
  /** llama-server refused the prompt as longer than the slot's context, in an answer relayed as it was. */
  overflow?: ContextOverflow;
  /** Generated text, kept only when the user turned on --capture-content; goes to the span, nowhere else. */
  captured?: string;
  /** llama-server's numbers are checked here as they are read; the bad ones never reach a record. */
  readonly check = new ValueCheck();

  constructor(readonly receivedAt: number) {}

  /** An error llama-server sent: its text kept apart, its kind what the record shows. */
  upstreamError(message: string | undefined, type: string | undefined): void {
    this.errorText = message;
    this.errorMessage = upstreamErrorKind(message, type);
  }

  capture(text: unknown): void {
    if (this.captured === undefined || typeof text !== "string" || !text) return;
    if (this.captured.length < CAPTURE_LIMIT) this.captured += text.slice(0, CAPTURE_LIMIT - this.captured.length);
  }

  content(at: number): void {
    if (this.firstContentAt === undefined) this.firstContentAt = at;
    this.lastContentAt = at;
    this.contentEvents++;
  }

  setUsage(u: Usage): void {
    // Later reports (final chunk) override earlier partial ones (message_start's output_tokens: 0).
    for (const [k, v] of Object.entries(u) as [keyof Usage, number | undefined][]) {
      if (typeof v === "number" && Number.isFinite(v)) this.usage[k] = v;
    }
  }
}

/** Characters of prompt or completion text a span may carry when capture is on. */
export const CAPTURE_LIMIT = 32 * 1024;
