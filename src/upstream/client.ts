// The connection pool to llama-server: keep-alive, and timeouts long enough for multi-minute prefills.
import { Agent, type Dispatcher, request } from "undici";
import { VERSION } from "../version.js";

/** Marks the sidecar's own calls (health, props, metrics, probes) in llama-server's view, apart from clients'. */
export const OWN_USER_AGENT = `llama-sidecar/${VERSION}`;

export interface Upstream {
  /** Base URL without trailing slash, e.g. http://127.0.0.1:8080 */
  url: URL;
  dispatcher: Dispatcher;
  /** The key llama-server was started with (--api-key), sent on every call to it. */
  apiKey?: string;
  close(): Promise<void>;
}

export function createUpstream(base: string, timeoutSeconds: number, apiKey?: string): Upstream {
  const url = new URL(base);
  const timeout = timeoutSeconds * 1000;
  const dispatcher = new Agent({
    keepAliveTimeout: 30_000,
    keepAliveMaxTimeout: 600_000,
    // llama-server sends no headers for a non-streamed request until generation ends,
    // and no bytes during a streamed prefill: both can take many minutes on a large prompt.
    headersTimeout: timeout,
    bodyTimeout: timeout,
    connectTimeout: 10_000,
  });
  return { url, dispatcher, apiKey, close: () => dispatcher.close() };
}

/** The upstream path for a request: the base URL's path prefix joined with the client's path and query. */
export function upstreamPath(upstream: URL, pathAndQuery: string): string {
  const prefix = upstream.pathname.replace(/\/+$/, "");
  return `${prefix}${pathAndQuery}`;
}

export interface UpstreamReply {
  status: number;
  text: string;
  headers: Record<string, unknown>;
}

/** One small call of the sidecar's own to llama-server (health, props, metrics, tokenize): the whole body read. */
export async function callUpstream(
  upstream: Upstream,
  path: string,
  opts: { timeoutMs?: number; json?: unknown } = {},
): Promise<UpstreamReply> {
  const timeout = opts.timeoutMs;
  const headers: Record<string, string> = { "user-agent": OWN_USER_AGENT };
  if (upstream.apiKey !== undefined) headers.authorization = `Bearer ${upstream.apiKey}`;
  if (opts.json !== undefined) headers["content-type"] = "application/json";
  const res = await request(new URL(upstreamPath(upstream.url, path), upstream.url.origin), {
    dispatcher: upstream.dispatcher,
    // Without a timeout of its own, the call gets the pool's (--upstream-timeout).
    ...(timeout === undefined
      ? {}
      : { headersTimeout: timeout, bodyTimeout: timeout, signal: AbortSignal.timeout(timeout) }),
    headers,
    ...(opts.json === undefined ? {} : { method: "POST" as const, body: JSON.stringify(opts.json) }),
  });
  return { status: res.statusCode, text: await res.body.text(), headers: res.headers };
}
