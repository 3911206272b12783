// One place for the sidecar's own errors: fixed codes, their HTTP statuses, and how each client protocol renders them.

/** Whose error shape a client reads: OpenAI's, Anthropic's, or an OTLP exporter's (google.rpc.Status). */
export type Protocol = "openai" | "anthropic" | "otlp";

interface ErrorSpec {
  status: number;
  /** OpenAI `error.type`. */
  openai: string;
  /** Anthropic `error.type`. */
  anthropic: string;
}

const SPECS = {
  bad_request: { status: 400, openai: "invalid_request_error", anthropic: "invalid_request_error" },
  invalid_api_key: { status: 401, openai: "invalid_request_error", anthropic: "authentication_error" },
  forbidden: { status: 403, openai: "permission_error", anthropic: "permission_error" },
  payload_too_large: { status: 413, openai: "invalid_request_error", anthropic: "request_too_large" },
  unsupported_media_type: { status: 415, openai: "invalid_request_error", anthropic: "invalid_request_error" },
  not_found: { status: 404, openai: "not_found_error", anthropic: "not_found_error" },
  // OpenAI's own answer to an unknown model: 404, invalid_request_error, code model_not_found.
  model_not_found: { status: 404, openai: "invalid_request_error", anthropic: "not_found_error" },
  method_not_allowed: { status: 405, openai: "invalid_request_error", anthropic: "invalid_request_error" },
  upstream_unreachable: { status: 502, openai: "upstream_unreachable", anthropic: "api_error" },
  upstream_loading: { status: 503, openai: "unavailable_error", anthropic: "overloaded_error" },
  upstream_timeout: { status: 504, openai: "timeout_error", anthropic: "timeout_error" },
  upstream_error: { status: 502, openai: "upstream_error", anthropic: "api_error" },
  overloaded: { status: 429, openai: "rate_limit_error", anthropic: "overloaded_error" },
  client_closed: { status: 499, openai: "client_closed", anthropic: "api_error" },
  internal: { status: 500, openai: "server_error", anthropic: "api_error" },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof SPECS;

/** The gRPC status code OTLP/HTTP's Status body carries for each HTTP status (2, UNKNOWN, for any other). */
const GRPC_CODES: Record<number, number> = {
  400: 3,
  401: 16,
  403: 7,
  404: 5,
  405: 12,
  413: 8,
  415: 3,
  429: 8,
  499: 1,
  500: 13,
  502: 14,
  503: 14,
  504: 4,
};

export class SidecarError extends Error {
  readonly status: number;
  /** Why, within the code, as a bounded label value (the queue's "queue_full" or "wait"): never parsed from text. */
  readonly reason?: string;
  /** The message is llama-server's own, which may quote the prompt: the record keeps its kind alone. */
  readonly fromUpstream?: { type?: string };
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown; reason?: string; fromUpstream?: { type?: string } },
  ) {
    super(message, options);
    this.name = "SidecarError";
    this.status = SPECS[code].status;
    this.reason = options?.reason;
    this.fromUpstream = options?.fromUpstream;
  }
}

/** The JSON body of an error response in the client's own protocol. */
export function errorBody(err: SidecarError, protocol: Protocol): object {
  const spec = SPECS[err.code];
  if (protocol === "otlp") return { code: GRPC_CODES[spec.status] ?? 2, message: err.message };
  if (protocol === "anthropic") {
    return { type: "error", error: { type: spec.anthropic, message: err.message } };
  }
  return { error: { message: err.message, type: spec.openai, code: err.code } };
}

/**
 * Anthropic's error type for an HTTP status, for errors that arrive as a status (llama-server's): Anthropic's API
 * answers 400 invalid_request_error, 401 authentication_error, 403 permission_error, 404 not_found_error,
 * 413 request_too_large, 429 rate_limit_error, 529 overloaded_error and 500 api_error.
 */
export function anthropicErrorType(status: number): string {
  switch (status) {
    case 400:
    case 422:
      return "invalid_request_error";
    case 401:
      return "authentication_error";
    case 403:
      return "permission_error";
    case 404:
      return "not_found_error";
    case 413:
      return "request_too_large";
    case 429:
      return "rate_limit_error";
    case 503:
    case 529:
      return "overloaded_error";
    default:
      return "api_error";
  }
}

/** Maps an undici / socket failure talking to llama-server onto a sidecar error. */
export function fromUpstreamFailure(err: unknown, upstream: string): SidecarError {
  const code = (err as { code?: string })?.code ?? "";
  const cause = { cause: err };
  switch (code) {
    case "ECONNREFUSED":
    case "ENOTFOUND":
    case "EAI_AGAIN":
    case "EHOSTUNREACH":
    case "ENETUNREACH":
    case "UND_ERR_CONNECT_TIMEOUT":
      return new SidecarError("upstream_unreachable", `llama-server at ${upstream} is unreachable (${code})`, cause);
    case "UND_ERR_HEADERS_TIMEOUT":
    case "UND_ERR_BODY_TIMEOUT":
      return new SidecarError("upstream_timeout", `llama-server at ${upstream} timed out (${code})`, cause);
    default:
      return new SidecarError(
        "upstream_error",
        `llama-server at ${upstream} failed: ${(err as Error)?.message ?? String(err)}${code ? ` (${code})` : ""}`,
        cause,
      );
  }
}
