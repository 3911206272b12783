// Reads a request body up to a limit (413 past it) and, for model calls, the few fields we record.
import type { IncomingMessage } from "node:http";
import { SidecarError } from "../errors.js";

export async function readRequestBody(req: IncomingMessage, limitBytes: number): Promise<Buffer> {
  const declared = Number(req.headers["content-length"]);
  const tooLarge = () =>
    new SidecarError(
      "payload_too_large",
      `request body exceeds the sidecar's limit of ${limitBytes} bytes (raise --max-body-mb)`,
    );
  if (Number.isFinite(declared) && declared > limitBytes) {
    // Stop reading: answering early is fine, Node drains or closes the rest.
    throw tooLarge();
  }
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limitBytes) throw tooLarge();
    parts.push(chunk as Buffer);
  }
  return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, size);
}

/** The request fields that name and parameterise a model call. */
export interface ModelRequest {
  model?: string;
  stream: boolean;
  maxTokens?: number;
  temperature?: number;
}

type Json = Record<string, unknown>;

/** Parses a model call's JSON body; a body that is not a JSON object is the client's error, caught before llama-server. */
export function parseJsonBody(body: Buffer): Json {
  let json: unknown;
  try {
    json = JSON.parse(body.toString("utf8"));
  } catch (err) {
    throw new SidecarError("bad_request", `request body is not valid JSON: ${(err as Error).message}`);
  }
  if (!json || typeof json !== "object" || Array.isArray(json)) {
    throw new SidecarError("bad_request", "request body must be a JSON object");
  }
  return json as Json;
}

export function modelRequest(b: Json): ModelRequest {
  const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : undefined);
  return {
    model: typeof b.model === "string" ? b.model : undefined,
    stream: b.stream === true,
    maxTokens: num(b.max_tokens) ?? num(b.max_completion_tokens) ?? num(b.n_predict),
    temperature: num(b.temperature),
  };
}
