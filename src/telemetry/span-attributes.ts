// The names of every span attribute the sidecar sets: OpenTelemetry's HTTP and GenAI semantic-convention names
// where they exist, llama.cpp's own under one prefix. Spans and tests read them from here, never as literals.

/** llama.cpp-specific span attributes live under this one prefix. */
const LLAMA_ATTR = "llamacpp";

export const ATTR = {
  // HTTP and server (semantic conventions)
  HTTP_REQUEST_METHOD: "http.request.method",
  HTTP_ROUTE: "http.route",
  HTTP_RESPONSE_STATUS_CODE: "http.response.status_code",
  SERVER_ADDRESS: "server.address",
  SERVER_PORT: "server.port",
  ERROR_TYPE: "error.type",
  // GenAI (semantic conventions)
  GEN_AI_OPERATION_NAME: "gen_ai.operation.name",
  GEN_AI_PROVIDER_NAME: "gen_ai.provider.name",
  GEN_AI_REQUEST_MODEL: "gen_ai.request.model",
  GEN_AI_REQUEST_MAX_TOKENS: "gen_ai.request.max_tokens",
  GEN_AI_REQUEST_TEMPERATURE: "gen_ai.request.temperature",
  GEN_AI_RESPONSE_MODEL: "gen_ai.response.model",
  GEN_AI_RESPONSE_ID: "gen_ai.response.id",
  /** Seconds, streams only. */
  GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: "gen_ai.response.time_to_first_chunk",
  /** The session: Claude Code's session id, a prompt_cache_key, or the conversation the fingerprints found. */
  GEN_AI_CONVERSATION_ID: "gen_ai.conversation.id",
  /** --capture-content only: JSON in the registry's message shape. */
  GEN_AI_INPUT_MESSAGES: "gen_ai.input.messages",
  GEN_AI_OUTPUT_MESSAGES: "gen_ai.output.messages",
  GEN_AI_SYSTEM_INSTRUCTIONS: "gen_ai.system_instructions",
  GEN_AI_RESPONSE_FINISH_REASONS: "gen_ai.response.finish_reasons",
  GEN_AI_USAGE_INPUT_TOKENS: "gen_ai.usage.input_tokens",
  GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: "gen_ai.usage.cache_read.input_tokens",
  GEN_AI_USAGE_OUTPUT_TOKENS: "gen_ai.usage.output_tokens",
  // llama.cpp and the sidecar
  CLIENT: `${LLAMA_ATTR}.client`,
  STREAM: `${LLAMA_ATTR}.stream`,
  OUTCOME: `${LLAMA_ATTR}.outcome`,
  PREFILL_TOKENS: `${LLAMA_ATTR}.prefill.tokens`,
  TTFT_MS: `${LLAMA_ATTR}.ttft_ms`,
  DURATION_MS: `${LLAMA_ATTR}.duration_ms`,
  PREFILL_MS: `${LLAMA_ATTR}.prefill.ms`,
  PREFILL_TOKENS_PER_SECOND: `${LLAMA_ATTR}.prefill.tokens_per_second`,
  DECODE_TOKENS_PER_SECOND: `${LLAMA_ATTR}.decode.tokens_per_second`,
  DECODE_MS_PER_TOKEN: `${LLAMA_ATTR}.decode.ms_per_token`,
  QUEUE_WAIT_MS: `${LLAMA_ATTR}.queue.wait_ms`,
  PROXY_OVERHEAD_MS: `${LLAMA_ATTR}.proxy.overhead_ms`,
  SLOT_WAIT_MS: `${LLAMA_ATTR}.slot.wait_ms`,
  BACKGROUND_CLASS: `${LLAMA_ATTR}.background.class`,
  BACKGROUND_POLICY: `${LLAMA_ATTR}.background.policy`,
  PROMPT_NORMALIZED: `${LLAMA_ATTR}.prompt.normalized`,
  TRANSLATED: `${LLAMA_ATTR}.translated`,
  TIMINGS_DERIVED: `${LLAMA_ATTR}.timings.derived`,
  UPSTREAM_INVALID_FIELDS: `${LLAMA_ATTR}.upstream.invalid_fields`,
  CACHE_EXPECTED_TOKENS: `${LLAMA_ATTR}.cache.expected_tokens`,
  CACHE_LOST_TOKENS: `${LLAMA_ATTR}.cache.lost_tokens`,
  CACHE_MISS_CAUSE: `${LLAMA_ATTR}.cache.miss_cause`,
  CACHE_MISS_LOCATION: `${LLAMA_ATTR}.cache.miss_location`,
  MAX_TOKENS_ASKED: `${LLAMA_ATTR}.request.max_tokens_asked`,
  /** The upstream's configured name (its URL is server.address and server.port). */
  UPSTREAM: `${LLAMA_ATTR}.upstream`,
  /** The local model an alias mapped the requested model to. */
  ALIASED_TO: `${LLAMA_ATTR}.request.aliased_to`,
  /** The router model that served the request, on a llama-server in router mode. */
  UPSTREAM_MODEL: `${LLAMA_ATTR}.upstream.model`,
  /** Time waited for a router's model to load, apart from the queue wait and the prefill. */
  MODEL_LOAD_MS: `${LLAMA_ATTR}.model_load_ms`,
  /** Upstreams tried first, which failed before answering. */
  FAILED_OVER: `${LLAMA_ATTR}.upstream.failed_over`,
  SPEED_SLOWDOWN_CAUSE: `${LLAMA_ATTR}.speed.slowdown_cause`,
  SPEED_SLOWDOWN_DETAIL: `${LLAMA_ATTR}.speed.slowdown_detail`,
  SPEED_USUAL_TPS: `${LLAMA_ATTR}.speed.usual_tokens_per_second`,
} as const;
