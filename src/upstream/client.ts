// The connection pool to llama-server: keep-alive, and timeouts long enough for multi-minute prefills.
import type { Dispatcher } from "undici";
import { Cancellation } from "../cancellation.js";
import { Agent } from "../undici-agent.js";
import { VERSION } from "../version.js";
import { dispatchUpstream } from "./response.js";

/** Marks the sidecar's own calls (health, props, metrics, probes) in llama-server's view, apart from clients'. */
const OWN_USER_AGENT = `llama-sidecar/${VERSION}`;

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

/**
 * One small call of the sidecar's own to llama-server (health, props, metrics, tokenize): the whole body read.
 * It goes through the same dispatch as every forwarded request, so there is one way to call llama-server.
 */
export async function callUpstream(
  upstream: Upstream,
  path: string,
  opts: { timeoutMs?: number; json?: unknown } = {},
): Promise<UpstreamReply> {
  const headers: Record<string, string> = { "user-agent": OWN_USER_AGENT };
  if (upstream.apiKey !== undefined) headers.authorization = `Bearer ${upstream.apiKey}`;
  const body = opts.json === undefined ? undefined : Buffer.from(JSON.stringify(opts.json));
  if (body) headers["content-type"] = "application/json";
  // Without a timeout of its own, the call gets the pool's (--upstream-timeout).
  const cancel = new Cancellation();
  let stage: "headers" | "body" = "headers";
  const timer = opts.timeoutMs === undefined ? undefined : setTimeout(() => cancel.abort(), opts.timeoutMs);
  try {
    const res = await dispatchUpstream(upstream.dispatcher, {
      origin: upstream.url.origin,
      path: upstreamPath(upstream.url, path),
      method: body ? "POST" : "GET",
      headers,
      body,
      cancel,
    });
    stage = "body";
    return { status: res.statusCode, text: await res.body.text(), headers: res.headers };
  } catch (err) {
    if (!cancel.aborted) throw err;
    // Named like undici's own timeouts, which the errors module maps to upstream_timeout.
    const code = stage === "headers" ? "UND_ERR_HEADERS_TIMEOUT" : "UND_ERR_BODY_TIMEOUT";
    throw Object.assign(new Error(`no answer within ${opts.timeoutMs} ms`, { cause: err }), { code });
  } finally {
    clearTimeout(timer);
  }
}
