// The small closed sets a request record is made of: how it ended, what kind of background call it was and what
// the policy did with it, why its cache missed, why its generation slowed. Typed once, low in the house.

/** rejected: the sidecar answered itself (bad request, too large) and nothing reached llama-server. */
export type Outcome = "ok" | "upstream_error" | "client_abort" | "rejected" | "local";

/** Claude Code's background calls, by what they ask for. */
export type BackgroundClass = "title" | "topic" | "quota" | "haiku";

/** What the sidecar does with a class of background call: send it on, send it to the background server, answer it. */
export type BackgroundPolicy = "forward" | "route" | "local";

/** The causes a cache miss is put down to: a fixed set, so they are bounded metric labels (forensics/explain.ts). */
export const MISS_CAUSES = [
  "billing_header",
  "system_changed",
  "tools_changed",
  "history_edited",
  "history_truncated",
  "thinking_changed",
  "cache_disabled",
  "model_changed",
  "server_restarted",
  "context_overflow",
  "different_slot",
  "other_conversation",
  "unknown",
] as const;

export type MissCause = (typeof MISS_CAUSES)[number];

/** The causes a slowdown is put down to (forensics/speed.ts). */
export const SLOWDOWN_CAUSES = [
  "deeper_context",
  "more_decoding",
  "server_restarted",
  "spec_acceptance_fell",
  "gpu_throttled",
  "gpu_shared",
  "memory_pressure",
  "gpu_side",
] as const;

export type SlowdownCause = (typeof SLOWDOWN_CAUSES)[number];
