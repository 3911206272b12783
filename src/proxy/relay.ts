// Copies llama-server's response body to the client as it arrives, honouring backpressure, with a side tap.
import type { ServerResponse } from "node:http";
import type { Cancellation } from "../cancellation.js";
import type { UpstreamBody } from "../upstream/response.js";

export type RelayEnd = { kind: "end" } | { kind: "upstream_error"; error: Error } | { kind: "client_abort" };

export interface RelayOptions {
  /** Sees every chunk and returns what to write (translation), or nothing to write yet. */
  transform?: (chunk: Buffer) => Buffer | string | undefined;
  /** Sees every chunk after it was written, so watching it never delays it. */
  observe?: (chunk: Buffer) => void;
  /** What to write last, once llama-server's body has ended (the translator's closing events). */
  tail?: () => string;
}

/**
 * Each chunk is written the moment undici parses it. The client's response ends in the same turn as
 * llama-server's, so the last chunk and the chunked-encoding terminator leave in one write, not two (one
 * wake-up of the client less per request). An upstream failure leaves the response open so the caller can
 * still send an SSE error event. A client that goes away is seen through the request's cancellation, the one
 * place that turns the response's close into an abort.
 */
export function relay(
  body: UpstreamBody,
  res: ServerResponse,
  cancel: Cancellation,
  opts: RelayOptions = {},
): Promise<RelayEnd> {
  const { transform, observe, tail } = opts;
  return new Promise((resolve) => {
    let settled = false;
    let stopWatching = () => {};
    const settle = (end: RelayEnd) => {
      if (settled) return;
      settled = true;
      res.off("drain", onDrain);
      stopWatching();
      resolve(end);
    };
    const onDrain = () => body.resume();
    res.on("drain", onDrain);
    // A client already gone settles at once, before a single chunk is written.
    stopWatching = cancel.onAbort(() => settle({ kind: "client_abort" }));
    body.read({
      data: (chunk) => {
        if (settled) return;
        const out = transform ? transform(chunk) : chunk;
        if (out?.length && !res.write(out)) body.pause();
        observe?.(chunk);
      },
      end: () => {
        if (!settled) {
          const last = tail?.();
          if (!res.destroyed) res.end(last);
        }
        settle({ kind: "end" });
      },
      error: (error) => settle({ kind: "upstream_error", error }),
    });
  });
}
