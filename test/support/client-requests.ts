// The requests real clients sent (test/fixtures/client-requests/, recorded by scripts/record-client-requests.ts or
// written from a client's source), ready to replay: each with a name that says who sent it and when.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

export interface ClientRequest {
  /** "Claude Code 2.1.197 (claude in tmux, typed at): terminal: /compact #4" */
  name: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: unknown;
}

interface FixtureFile {
  client: string;
  version: string;
  how: string;
  requests: { method: string; path: string; headers: Record<string, string>; body?: unknown; phase: string }[];
}

const DIR = new URL("../fixtures/client-requests/", import.meta.url).pathname;

/** Every token limit a request can carry, by its API's name for it. */
const LIMITS = ["max_tokens", "max_completion_tokens", "max_output_tokens", "n_predict"];

/**
 * The same body asking for at most `n` tokens: what is replayed against the tiny model, which would otherwise write
 * until Claude Code's 16k. Only a limit the client sent is changed, and it stays a number.
 */
export function withShortReply(body: unknown, n = 4): unknown {
  if (!body || typeof body !== "object" || Array.isArray(body)) return body;
  const out: Record<string, unknown> = { ...body };
  for (const k of LIMITS) if (typeof out[k] === "number") out[k] = n;
  return out;
}

export function clientRequests(): ClientRequest[] {
  const out: ClientRequest[] = [];
  for (const file of readdirSync(DIR)
    .filter((f) => f.endsWith(".json"))
    .sort()) {
    const f = JSON.parse(readFileSync(join(DIR, file), "utf8")) as FixtureFile;
    f.requests.forEach((r, i) => {
      const name = `${f.client} ${f.version} (${f.how}): ${r.phase} #${i}`;
      out.push({ name, method: r.method, path: r.path, headers: r.headers, body: r.body });
    });
  }
  return out;
}
