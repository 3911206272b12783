// Server-sent events as the sidecar writes them: one frame format for translated streams, local answers and
// in-band errors.
import { errorBody, type Protocol, type SidecarError } from "../errors.js";

/** One SSE event: an optional `event:` line, one `data:` line of JSON, and the blank line that ends it. */
export function sseFrame(event: string | undefined, data: unknown): string {
  const json = JSON.stringify(data);
  return event === undefined ? `data: ${json}\n\n` : `event: ${event}\ndata: ${json}\n\n`;
}

/** An error as one SSE event, for when the response headers (and maybe data) are already out. */
export function errorEvent(err: SidecarError, protocol: Protocol): string {
  return sseFrame(protocol === "anthropic" ? "error" : undefined, errorBody(err, protocol));
}
