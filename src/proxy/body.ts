// Reads a request body up to a limit (413 past it) and, for model calls, the few fields we record.
import { isUtf8 } from "node:buffer";
import type { IncomingMessage } from "node:http";
import { SidecarError } from "../errors.js";
import { asFiniteNumber, type JsonObject } from "../wire/json.js";
import type { ModelRequest } from "../wire/model-request.js";

/**
 * The whole request body, up to a limit (413 past it). Read through events rather than an async iterator:
 * the iterator and its promise per chunk cost about 8 µs per request, on the path every request takes.
 * A body with a Content-Length is complete at its last byte; a chunked one at 'end'.
 */
export function readRequestBody(req: IncomingMessage, limitBytes: number): Promise<Buffer> {
  const tooLarge = () =>
    new SidecarError(
      "payload_too_large",
      `request body exceeds the sidecar's limit of ${limitBytes} bytes (raise --max-body-mb)`,
    );
  const declared = Number(req.headers["content-length"]);
  // Stop reading: answering early is fine, Node drains or closes the rest.
  if (Number.isFinite(declared) && declared > limitBytes) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    const stop = (err?: Error) => {
      req.off("data", onData).off("end", onEnd).off("error", onError).off("close", onClose);
      if (err) reject(err);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limitBytes) return stop(tooLarge());
      parts.push(chunk);
      // Every declared byte is here: the parser framed the body by its length, so nothing more can follow.
      // Going on now, not at 'end' (two process.nextTick hops of stream machinery later), halves the time the
      // body takes to read: every request pays it before it is sent on.
      if (size === declared) onEnd();
    };
    const onEnd = () => {
      stop();
      resolve(parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, size));
    };
    const onClose = () => stop(new SidecarError("client_closed", "client disconnected while sending its request"));
    // A stream error here is the client's connection failing mid-body: its doing, not the sidecar's.
    const onError = (err: Error) =>
      stop(
        new SidecarError("client_closed", "the client's connection failed while sending its request", { cause: err }),
      );
    req.on("data", onData).on("end", onEnd).on("error", onError).on("close", onClose);
  });
}

/**
 * Parses a model call's JSON body; a body that is not UTF-8, not JSON, or not a JSON object is the client's
 * error, caught before llama-server (which answers 500 to invalid UTF-8 and to unpaired surrogate escapes).
 */
export function parseJsonBody(body: Buffer): JsonObject {
  if (!isUtf8(body)) throw new SidecarError("bad_request", "request body is not valid UTF-8");
  const text = body.toString("utf8");
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new SidecarError("bad_request", `request body is not valid JSON: ${(err as Error).message}`);
  }
  if (!json || typeof json !== "object" || Array.isArray(json)) {
    throw new SidecarError("bad_request", "request body must be a JSON object");
  }
  // JSON.parse reads 1e999 as Infinity; llama-server's parser refuses it with a 500. Only a long exponent can.
  if (LONG_EXPONENT.test(text) && !finite(json)) {
    throw new SidecarError("bad_request", "request body holds a number too large for a double (such as 1e999)");
  }
  // Only a body with a surrogate escape can hold an unpaired one: the rest skip the walk.
  if (SURROGATE_ESCAPE.test(text) && !wellFormed(json)) {
    throw new SidecarError(
      "bad_request",
      "request body holds a string with an unpaired UTF-16 surrogate (\\uD800-\\uDFFF)",
    );
  }
  return json as JsonObject;
}

const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F]/;
const LONG_EXPONENT = /\d[eE]\+?\d{3}/;

/** Every number in a parsed JSON value is finite. */
function finite(v: unknown): boolean {
  if (typeof v === "number") return Number.isFinite(v);
  if (Array.isArray(v)) return v.every(finite);
  if (v && typeof v === "object") return Object.values(v).every(finite);
  return true;
}

/** Every string (keys too) in a parsed JSON value is well-formed Unicode. */
function wellFormed(v: unknown): boolean {
  if (typeof v === "string") return v.isWellFormed();
  if (Array.isArray(v)) return v.every(wellFormed);
  if (v && typeof v === "object") {
    return Object.entries(v).every(([k, x]) => k.isWellFormed() && wellFormed(x));
  }
  return true;
}

export function modelRequest(b: JsonObject): ModelRequest {
  return {
    model: typeof b.model === "string" ? b.model : undefined,
    stream: b.stream === true,
    maxTokens: asFiniteNumber(b.max_tokens) ?? asFiniteNumber(b.max_completion_tokens) ?? asFiniteNumber(b.n_predict),
    temperature: asFiniteNumber(b.temperature),
  };
}
