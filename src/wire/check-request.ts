// Checks a model request's JSON against its API's shape; a malformed one is the client's error (400), named by
// the field, caught before it reaches llama-server.
import type { z } from "zod";
import { SidecarError } from "../errors.js";
import type { Dialect } from "./dialect.js";
import {
  anthropicCountTokensRequest,
  anthropicMessagesRequest,
  llamaCompletionRequest,
  openaiChatRequest,
  openaiCompletionRequest,
  openaiEmbeddingsRequest,
  openaiResponsesRequest,
} from "./request-schemas.js";

export type RequestKind = Dialect | "anthropic-count-tokens";

const SCHEMAS: Record<RequestKind, z.ZodType> = {
  "openai-chat": openaiChatRequest,
  "openai-completion": openaiCompletionRequest,
  "openai-embeddings": openaiEmbeddingsRequest,
  "openai-responses": openaiResponsesRequest,
  "llama-completion": llamaCompletionRequest,
  "anthropic-messages": anthropicMessagesRequest,
  "anthropic-count-tokens": anthropicCountTokensRequest,
};

/** `messages[3].content[0].type`: the path as a person writes it. */
function pathText(path: readonly PropertyKey[]): string {
  let out = "";
  for (const p of path) out += typeof p === "number" ? `[${p}]` : `${out ? "." : ""}${String(p)}`;
  return out || "body";
}

/** Throws a 400 naming the first field that is not what the API says it must be. */
export function checkRequest(kind: RequestKind, body: unknown): void {
  const result = SCHEMAS[kind].safeParse(body);
  if (result.success) return;
  const issue = result.error.issues[0];
  const where = issue ? pathText(issue.path) : "body";
  throw new SidecarError("bad_request", `invalid request: ${where}: ${issue?.message ?? "malformed"}`);
}
