// Header hygiene between client and llama-server: hop-by-hop headers never cross the proxy.
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http";

const HOP_BY_HOP = new Set([
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

/** Hop-by-hop headers, including any the Connection header names (RFC 9110 §7.6.1). */
function hopByHop(headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>): Set<string> {
  const names = new Set(HOP_BY_HOP);
  const connection = headers.connection;
  const listed = Array.isArray(connection) ? connection.join(",") : (connection ?? "");
  for (const token of listed.split(",")) {
    const name = token.trim().toLowerCase();
    if (name) names.add(name);
  }
  return names;
}

/** Headers to send to llama-server: no hop-by-hop, no host (undici sets it), a fresh content-length. */
export function upstreamRequestHeaders(
  incoming: IncomingHttpHeaders,
  bodyLength: number | undefined,
): Record<string, string | string[]> {
  const drop = hopByHop(incoming);
  drop.add("host");
  drop.add("content-length");
  // Observation reads the body as it passes; a compressed body cannot be read on the side.
  drop.add("accept-encoding");
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined || drop.has(name)) continue;
    out[name] = value;
  }
  if (bodyLength !== undefined) out["content-length"] = String(bodyLength);
  return out;
}

/** Headers to send back to the client from llama-server's response. */
export function clientResponseHeaders(upstream: Record<string, string | string[] | undefined>): OutgoingHttpHeaders {
  const drop = hopByHop(upstream);
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(upstream)) {
    if (value === undefined || drop.has(name)) continue;
    out[name] = value;
  }
  return out;
}
