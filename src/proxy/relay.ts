// Copies llama-server's response body to the client as it arrives, honouring backpressure, with a side tap.
import type { ServerResponse } from "node:http";
import type { Cancellation } from "../cancellation.js";
import type { UpstreamBody } from "../upstream/response.js";
import type { SseFramer } from "./sse-framing.js";

/**
 * How a relay ended. At "end" the client's response is still open: `last` is what ends it, written by whoever
 * records the request, once its record is on disk, so a client never sees an answer end that a crash could lose.
 */
export type RelayEnd =
  | { kind: "end"; last: Buffer | string | undefined }
  | { kind: "upstream_error"; error: Error }
  | { kind: "client_abort" };

export interface RelayOptions {
  /** Sees every chunk and returns what to write (translation), or nothing to write yet. */
  transform?: (chunk: Buffer) => Buffer | string | undefined;
  /** Sees every chunk after it was written, so watching it never delays it. */
  observe?: (chunk: Buffer) => void;
  /** What to write last, once llama-server's body has ended (the translator's closing events). */
  tail?: () => string;
  /** Forward whole SSE events only, holding an unfinished one's bytes until its end arrives. */
  framer?: SseFramer;
  /** Runs once the relay is over, however it ended: what the options started (a timer) stops here. */
  finished?: () => void;
}

function joined(a: Buffer | undefined, b: string | undefined): Buffer | string | undefined {
  if (!a) return b;
  return b ? Buffer.concat([a, Buffer.from(b)]) : a;
}

/**
 * Each chunk is written the moment undici parses it (whole events of it, with a framer). The response is left
 * open (and corked) at the end, its last bytes handed back, so the last chunk (llama-server's `[DONE]`, when it came
 * with the body's end) and the chunked-encoding terminator leave in one write once the request is recorded. An
 * upstream failure leaves the response open so the caller can still send an SSE error event, which a framer
 * guarantees starts at an event boundary. A client that goes away is seen through the request's cancellation, the
 * one place that turns the response's close into an abort.
 */
export function relay(
  body: UpstreamBody,
  res: ServerResponse,
  cancel: Cancellation,
  opts: RelayOptions = {},
): Promise<RelayEnd> {
  const { transform, observe, tail, framer, finished } = opts;
  return new Promise((resolve) => {
    let settled = false;
    let stopWatching = () => {};
    const settle = (end: RelayEnd) => {
      if (settled) return;
      settled = true;
      res.off("drain", onDrain);
      stopWatching();
      finished?.();
      resolve(end);
    };
    const onDrain = () => body.resume();
    res.on("drain", onDrain);
    // A client already gone settles at once, before a single chunk is written.
    stopWatching = cancel.onAbort(() => settle({ kind: "client_abort" }));
    body.read({
      data: (chunk) => {
        if (settled) return;
        const out = transform ? transform(chunk) : framer ? framer.push(chunk) : chunk;
        if (out?.length && !res.write(out)) body.pause();
        observe?.(chunk);
      },
      end: () => {
        // What this turn wrote (llama-server's last event came with its end) waits in the socket for the rest: the
        // response's end() uncorks it, so the last event and the terminator leave in one write, after the record.
        if (!settled && !res.destroyed) res.cork();
        settle({ kind: "end", last: settled ? undefined : joined(framer?.rest(), tail?.()) });
      },
      error: (error) => settle({ kind: "upstream_error", error }),
    });
  });
}
