// Copies the upstream body to the client as it arrives, honouring backpressure, with a side tap.
import type { ServerResponse } from "node:http";
import type { Readable } from "node:stream";

export type RelayEnd = { kind: "end" } | { kind: "upstream_error"; error: Error } | { kind: "client_abort" };

/**
 * Plain 'data' listeners rather than a Transform in a pipeline: the tap sees each chunk once, and an
 * upstream failure leaves the response open so the caller can still send an SSE error event.
 * `transform` sees every chunk and returns what to write (translation), or nothing to write yet.
 */
export function relay(
  body: Readable,
  res: ServerResponse,
  transform?: (chunk: Buffer) => Buffer | string | undefined,
): Promise<RelayEnd> {
  return new Promise((resolve) => {
    let settled = false;
    const settle = (end: RelayEnd) => {
      if (settled) return;
      settled = true;
      body.off("data", onData);
      body.off("end", onEnd);
      body.off("error", onError);
      res.off("drain", onDrain);
      res.off("close", onClose);
      resolve(end);
    };
    const onData = (chunk: Buffer) => {
      const out = transform ? transform(chunk) : chunk;
      if (out?.length && !res.write(out)) body.pause();
    };
    const onDrain = () => body.resume();
    const onEnd = () => settle({ kind: "end" });
    const onError = (error: Error) => settle({ kind: "upstream_error", error });
    const onClose = () => settle({ kind: "client_abort" });
    body.on("data", onData);
    body.on("end", onEnd);
    body.on("error", onError);
    res.on("drain", onDrain);
    res.on("close", onClose);
  });
}
