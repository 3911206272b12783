// Header hygiene between client and llama-server: hop-by-hop headers never cross the proxy.
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http";

type Headers = IncomingHttpHeaders | Record<string, string | string[] | undefined>;

const HOP_BY_HOP: ReadonlySet<string> = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

/**
 * Not sent on to llama-server: undici sets host and a fresh content-length, and observation reads the body as it
 * passes, which a compressed body would not allow.
 */
const NOT_FORWARDED: ReadonlySet<string> = new Set(["host", "content-length", "accept-encoding"]);

/**
 * Hop-by-hop headers, including any the Connection header names (RFC 9110 §7.6.1). Nearly every request's
 * Connection names only keep-alive or close, so the shared set serves, and no set is built per request.
 */
function hopByHop(headers: Headers): ReadonlySet<string> {
  const connection = headers.connection;
  if (connection === undefined) return HOP_BY_HOP;
  let names: Set<string> | undefined;
  for (const token of (Array.isArray(connection) ? connection.join(",") : connection).split(",")) {
    const name = token.trim().toLowerCase();
    if (!name || HOP_BY_HOP.has(name) || name === "close") continue;
    names ??= new Set(HOP_BY_HOP);
    names.add(name);
  }
  return names ?? HOP_BY_HOP;
}

/** Headers to send to llama-server: no hop-by-hop, no host (undici sets it), a fresh content-length. */
export function upstreamRequestHeaders(
  incoming: IncomingHttpHeaders,
  bodyLength: number | undefined,
): Record<string, string | string[]> {
  const drop = hopByHop(incoming);
  const out: Record<string, string | string[]> = {};
  for (const name in incoming) {
    const value = incoming[name];
    if (value === undefined || drop.has(name) || NOT_FORWARDED.has(name)) continue;
    out[name] = value;
  }
  if (bodyLength !== undefined) out["content-length"] = String(bodyLength);
  return out;
}

/**
 * Headers to send back to the client from llama-server's response. Its CORS headers never pass: llama-server
 * reflects any Origin (with credentials), which would let any web page read the answers; the sidecar's guard
 * answers CORS itself.
 */
export function clientResponseHeaders(upstream: Record<string, string | string[] | undefined>): OutgoingHttpHeaders {
  const drop = hopByHop(upstream);
  const out: OutgoingHttpHeaders = {};
  for (const name in upstream) {
    const value = upstream[name];
    if (value === undefined || drop.has(name) || name.startsWith("access-control-")) continue;
    out[name] = value;
  }
  return out;
}

/**
 * Credentials on the way to llama-server: its own key (--upstream-api-key) replaces whatever the client sent; the
 * sidecar's key, when it has one, is the client's key for the sidecar and never goes further.
 */
export function authorizeUpstream(
  headers: Record<string, string | string[]>,
  upstreamKey: string | undefined,
  clientKeyIsOurs: boolean,
): void {
  if (upstreamKey !== undefined || clientKeyIsOurs) {
    delete headers.authorization;
    delete headers["x-api-key"];
    delete headers["api-key"];
  }
  // A browser's cookies for this host are a credential too; with a key of its own the sidecar passes none on.
  if (clientKeyIsOurs) delete headers.cookie;
  if (upstreamKey !== undefined) headers.authorization = `Bearer ${upstreamKey}`;
}
