// A stand-in for Anthropic's Messages API that keeps every request it gets and answers from a short script: a
// client's real request bodies are recorded this way, with a tool turn the tiny random model would never ask for.
import { once } from "node:events";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";

export interface RecordedRequest {
  method: string;
  /** The request target as sent, query included (Claude Code adds ?beta=true). */
  path: string;
  headers: Record<string, string>;
  body: unknown;
  /** What the recording was doing when this came in. */
  phase: string;
}

export interface CannedAnthropic {
  url: string;
  requests: RecordedRequest[];
  /** Requests from now on are recorded under this phase. */
  setPhase(phase: string): void;
  close(): Promise<void>;
}

/** Headers that say who is asking (keys, cookies) or how the bytes travel: never kept. */
const DROPPED = new Set(["host", "content-length", "connection", "authorization", "x-api-key", "api-key", "cookie"]);

type Block = { type: "text"; text: string } | { type: "tool_use"; id: string; name: string; input: object };

interface Message {
  role?: string;
  content?: unknown;
}

/**
 * The script: a tool result is answered in words; a prompt naming `readPath`'s file asks for a Read of it; a prompt
 * holding the `bash` command asks for Bash to run it.
 */
function reply(body: { messages?: Message[]; tools?: { name?: string }[] }, readPath: string, bash?: string): Block[] {
  // Claude Code in a terminal puts role "system" entries (its reminders) after the user's turn.
  const last = body.messages?.filter((m) => m.role !== "system").at(-1);
  const parts = Array.isArray(last?.content) ? (last.content as { type?: string; text?: string }[]) : [];
  if (parts.some((p) => p.type === "tool_result")) return [{ type: "text", text: "The file says hello." }];
  const asked = JSON.stringify(last?.content ?? "");
  const file = readPath.split("/").at(-1) ?? "";
  if (bash && body.tools?.some((t) => t.name === "Bash") && asked.includes(bash))
    return [
      { type: "tool_use", id: `toolu_${Date.now()}`, name: "Bash", input: { command: bash, description: "Run it" } },
    ];
  if (body.tools?.some((t) => t.name === "Read") && file && asked.includes(file))
    return [{ type: "tool_use", id: `toolu_${Date.now()}`, name: "Read", input: { file_path: readPath } }];
  return [{ type: "text", text: "Hello from the recording." }];
}

const usage = { input_tokens: 100, output_tokens: 5, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 };

function message(content: Block[]) {
  const stop = content.some((b) => b.type === "tool_use") ? "tool_use" : "end_turn";
  return {
    id: `msg_${Date.now()}`,
    type: "message",
    role: "assistant",
    model: "tiny",
    content,
    stop_reason: stop,
    stop_sequence: null,
    usage,
  };
}

function stream(res: ServerResponse, content: Block[]): void {
  const send = (event: string, data: object) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  res.writeHead(200, { "content-type": "text/event-stream" });
  const whole = message(content);
  send("message_start", { type: "message_start", message: { ...whole, content: [], stop_reason: null } });
  content.forEach((block, index) => {
    const start = block.type === "text" ? { type: "text", text: "" } : { ...block, input: {} };
    send("content_block_start", { type: "content_block_start", index, content_block: start });
    const delta =
      block.type === "text"
        ? { type: "text_delta", text: block.text }
        : { type: "input_json_delta", partial_json: JSON.stringify(block.input) };
    send("content_block_delta", { type: "content_block_delta", index, delta });
    send("content_block_stop", { type: "content_block_stop", index });
  });
  send("message_delta", {
    type: "message_delta",
    delta: { stop_reason: whole.stop_reason, stop_sequence: null },
    usage: { output_tokens: 5 },
  });
  send("message_stop", { type: "message_stop" });
  res.end();
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString("utf8");
  try {
    return text ? JSON.parse(text) : undefined;
  } catch {
    return text;
  }
}

export async function startCannedAnthropic(readPath: string, opts: { bash?: string } = {}): Promise<CannedAnthropic> {
  const requests: RecordedRequest[] = [];
  let phase = "start";
  const server = createServer(async (req, res) => {
    const body = await readBody(req);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (!DROPPED.has(k) && typeof v === "string") headers[k] = v;
    const path = req.url ?? "/";
    requests.push({ method: req.method ?? "GET", path, headers, body, phase });
    const json = (status: number, value: object) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(value));
    };
    const route = path.split("?")[0];
    if (req.method === "POST" && route === "/v1/messages/count_tokens") return json(200, { input_tokens: 100 });
    if (req.method !== "POST" || route !== "/v1/messages")
      return json(404, { type: "error", error: { type: "not_found_error", message: `no ${route} here` } });
    const b = (body ?? {}) as { stream?: boolean; messages?: Message[] };
    const content = reply(b, readPath, opts.bash);
    if (b.stream) return stream(res, content);
    return json(200, message(content));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    setPhase: (p) => {
      phase = p;
    },
    close: () => new Promise((r) => server.close(() => r())),
  };
}
